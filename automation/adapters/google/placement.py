"""Where the cycle's worker cells land now (live edits: see backend.py's docstring).

A write is placed by the row's identity, never by the row number remembered from the read: its
記錄編號 at read time, or the digest of its staff cells (`domain.cells.row_anchors`). A fresh read
of the header and the id (and anchor) columns just before the write finds where each row and
column is now; a row that vanished or whose anchor became ambiguous is left for the next cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from ...domain import rules
from ...domain.cells import ANCHOR_KEYS, row_anchors
from ...domain.records import WritePlan
from ...vocabulary import Vocabulary, normalize_text
from . import batch
from .session import SpreadsheetSession

READ_PARAMS = {"valueRenderOption": "UNFORMATTED_VALUE", "dateTimeRenderOption": "SERIAL_NUMBER"}


@dataclass
class ReadState:
    """The main tab as the last read saw it: the basis of the write's anchors. Its data rows
    column by column (one list per header position, each `count` long)."""

    title: str
    header: list[Any]
    columns: list[list[Any]]
    count: int


@dataclass
class Fresh:
    header: list[Any]
    positions: dict[str, int]
    columns: dict[str, list[Any]]  # key → cells from row 1 down
    column_count: int
    header_unchanged: bool


class Placement:
    """Where each row of the read is now, by its anchor (see the module docstring).

    A row is found under its 記錄編號 when it had one, else under the digest of its staff
    cells. When several rows share an anchor (a copied row with its id, identical rows), the
    k-th of them at read time is the k-th now — provided their number did not change."""

    def __init__(self, state: ReadState, read_positions: dict[str, int], fresh: Fresh, digests: bool):

        # Only the id and anchor columns place a row: copying the others would cost a pass over
        # every cell of the sheet.
        wanted = ("record_id", *ANCHOR_KEYS) if digests else ("record_id",)
        self.read_index = _anchor_index(
            {k: state.columns[p] if p < len(state.columns) else [] for k, p in read_positions.items() if k in wanted},
            digests, count=state.count if read_positions else 0)
        self.fresh_index = _anchor_index({k: v[1:] for k, v in fresh.columns.items()}, digests)

    def row_of(self, anchor: str, read_row: int) -> int | None:
        before = self.read_index.get(anchor)
        now = self.fresh_index.get(anchor)
        if not before or not now or len(before) != len(now) or read_row not in before:
            return None
        return now[before.index(read_row)]


def _anchor_index(columns: dict[str, list[Any]], digests: bool, count: int | None = None) -> dict[str, list[int]]:
    """anchor → the sheet rows (2-based: the first data row is 2) holding it, in order; `count`
    rows (default: as many as the longest column)."""

    if count is None:
        count = max((len(v) for v in columns.values()), default=0)
    index: dict[str, list[int]] = {}
    if count == 0:
        return index
    padded = {key: list(columns.get(key, [])) + [None] * (count - len(columns.get(key, []))) for key in
              (("record_id", *ANCHOR_KEYS) if digests else ("record_id",))}
    ids = rules.text_of(pd.Series(padded["record_id"], dtype=object)).tolist()
    for offset, value in enumerate(ids):
        if value:
            index.setdefault(value, []).append(offset + 2)
    if digests:
        frame = pd.DataFrame({key: padded[key] for key in ANCHOR_KEYS}, dtype=object)
        for offset, value in enumerate(row_anchors(frame)):
            index.setdefault(value, []).append(offset + 2)
    return index


def _trimmed(header: list[Any]) -> list[str]:
    out = [normalize_text(v) for v in header]
    while out and not out[-1]:
        out.pop()
    return out


def fresh_columns(session: SpreadsheetSession, title: str, keys: list[str], read_positions: dict[str, int],
                  state: ReadState) -> Fresh:
    """The header row and the id (and anchor) columns as they are now: one batchGet, or two
    when columns were inserted, deleted or moved since the read. Google's errors are left
    raw here: a 400 (the tab renamed meanwhile) makes the caller fetch the layout again."""
    vocabulary = Vocabulary()
    positions = {k: read_positions[k] for k in keys if k in read_positions}
    quoted = batch.quote_title(title)
    for attempt in (1, 2):
        ranges = [f"{quoted}!1:1"] + [f"{quoted}!{batch.column_letters(p)}:{batch.column_letters(p)}"
                                       for p in positions.values()]
        answer = session.http.values_batch_get(session.key, ranges, params=dict(READ_PARAMS, majorDimension="COLUMNS"))
        value_ranges = answer.get("valueRanges", [])
        header = [None if not column or column[0] == "" else column[0] for column in value_ranges[0].get("values", [])]
        fresh_positions = vocabulary.match_headers(header)
        moved = any(fresh_positions.get(k) != p for k, p in positions.items())
        if moved and attempt == 1:
            positions = {k: fresh_positions[k] for k in keys if k in fresh_positions}
            continue
        columns = {}
        if not moved:  # still moving on a second look: place nothing this cycle
            for key, value_range in zip(positions, value_ranges[1:]):
                values = value_range.get("values", [])
                columns[key] = [None if v == "" else v for v in (values[0] if values else [])]
        extent = batch.range_extent(value_ranges[0].get("range", ""))
        return Fresh(header=header, positions=fresh_positions, columns=columns,
                      column_count=extent[1] if extent else len(header),
                      header_unchanged=_trimmed(header) == _trimmed(state.header))
    raise AssertionError("unreachable")


def place_cells(plan: WritePlan, state: ReadState, read_positions: dict[str, int], fresh: Fresh,
                digests: bool) -> tuple[dict[tuple[int, int], Any], dict[int, str], int]:
    """(cells by (row, column) as they are now, new headers by column, writes left for the
    next cycle). Rows are found by anchor, columns by header; a staff column is never written."""
    vocabulary = Vocabulary()
    placement = Placement(state, read_positions, fresh, digests)

    # Columns: by header. New worker headers go where the plan put them, unless the
    # columns changed meanwhile (then they wait for the next cycle, with their cells).
    column_key = {position + 1: key for key, position in read_positions.items()}
    new_header_keys = {}
    for column, text in plan.new_headers:
        key = next(iter(vocabulary.match_headers([text])), None)
        if key is None:
            continue
        column_key[column] = key
        new_header_keys[key] = (column, text)
    worker_keys = {c.key for c in vocabulary.worker_columns}
    target_column: dict[int, int] = {}  # read-time column → column now; worker columns only
    for column, key in column_key.items():
        if key not in worker_keys:
            continue  # a staff column is never written, whatever a plan says
        if key in fresh.positions:
            target_column[column] = fresh.positions[key] + 1
        elif key in new_header_keys and fresh.header_unchanged:
            target_column[column] = column

    cells: dict[tuple[int, int], Any] = {}
    skipped = 0
    for write in plan.cells:
        column = target_column.get(write.column)
        row = placement.row_of(write.anchor, write.row)
        if column is None or row is None:
            skipped += 1
            continue
        cells[(row, column)] = write.value
    # A new worker header, or one respelled in place (language switched: SPEC 5.1).
    headers = {column: text for key, (column, text) in new_header_keys.items()
               if fresh.header_unchanged and (key not in fresh.positions or fresh.positions[key] + 1 == column)}
    return cells, headers, skipped
