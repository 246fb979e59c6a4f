"""Building `spreadsheets.batchUpdate` requests: pure functions, no I/O.

Values are written as `userEnteredValue.stringValue / numberValue / boolValue`, never as
`formulaValue`, so staff text that starts with `=` stays inert text (SPEC 4.1). Dates are
written as ISO text, which reads back equal to what the worker compares (`domain.cells.comparable`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from typing import Any, Callable, Iterable

import numpy as np

from ...presentation.tab_formats import column_letters  # noqa: F401  (callers import it from here)

# Google refuses a request body over 10 MB (10485760 bytes); stay clear of it.
MAX_BODY_BYTES = 9_000_000
# Rectangles of cells are cut into blocks of at most this many rows and (about) bytes, so a
# body can always be split between blocks under MAX_BODY_BYTES.
BLOCK_ROWS = 2000
BLOCK_BYTES = 1_000_000
VALUE_FIELDS = "userEnteredValue"
BOLD = {"userEnteredFormat": {"textFormat": {"bold": True}}}
BOLD_FIELDS = "userEnteredFormat.textFormat.bold"


def cell_data(value: Any) -> dict:
    """A CellData whose userEnteredValue is `value` as a plain value; {} clears the cell."""
    if type(value) is str:  # nearly every cell: the same result as the general path at the end
        return {"userEnteredValue": {"stringValue": value}} if value else {}
    if value is None:
        return {}
    if isinstance(value, (bool, np.bool_)):
        return {"userEnteredValue": {"boolValue": bool(value)}}
    if isinstance(value, (int, np.integer)):
        return {"userEnteredValue": {"numberValue": int(value)}}
    if isinstance(value, (float, np.floating)):
        if math.isnan(value) or math.isinf(value):
            return {}
        return {"userEnteredValue": {"numberValue": float(value)}}
    if isinstance(value, (dt.datetime, dt.date)):
        return {"userEnteredValue": {"stringValue": value.isoformat()}}
    text = str(value)
    if text == "":
        return {}
    return {"userEnteredValue": {"stringValue": text}}


def quote_title(title: str) -> str:
    """A sheet title as an A1 range prefix, always quoted (valid for every title)."""
    return "'" + title.replace("'", "''") + "'"


_CELLS = re.compile(r"^\$?([A-Za-z]+)\$?(\d+)(?::\$?([A-Za-z]+)\$?(\d+))?$")


def range_extent(a1: str) -> tuple[int, int] | None:
    """(last row, last column), 1-based, of a returned A1 range such as `'運行日誌'!A1:D1000` or
    `運行日誌!A1:D1000` (Google quotes titles only when it must: accept both)."""
    cells = a1.rsplit("!", 1)[-1]
    match = _CELLS.match(cells)
    if not match:
        return None
    letters, row = (match.group(3), match.group(4)) if match.group(3) else (match.group(1), match.group(2))
    column = 0
    for ch in letters.upper():
        column = column * 26 + ord(ch) - 64
    return int(row), column


# --- requests ---------------------------------------------------------------------------------

def row_data(row: list[Any]) -> dict:
    return {"values": [cell_data(v) for v in row]}


def blocks(rows: list[dict], block_rows: int = BLOCK_ROWS, block_bytes: int = BLOCK_BYTES) -> list[tuple[int, int]]:
    """Cut RowData into [start, end) blocks of at most `block_rows` rows and about `block_bytes`."""
    out = []
    start = size = 0
    for index, row in enumerate(rows):
        length = len(encode(row))
        if index > start and (index - start >= block_rows or size + length > block_bytes):
            out.append((start, index))
            start, size = index, 0
        size += length
    if rows:
        out.append((start, len(rows)))
    return out


def update_block(sheet_id: int, row0: int, col0: int, rows: list[list[Any]], fields: str = VALUE_FIELDS) -> dict:
    """updateCells of a rectangle starting at 0-based (row0, col0)."""
    return {"updateCells": {
        "start": {"sheetId": sheet_id, "rowIndex": row0, "columnIndex": col0},
        "rows": [row_data(row) for row in rows],
        "fields": fields,
    }}


def header_cells(sheet_id: int, col0: int, texts: list[str]) -> dict:
    """Header texts in bold on row 1, starting at 0-based column `col0`."""
    return {"updateCells": {
        "start": {"sheetId": sheet_id, "rowIndex": 0, "columnIndex": col0},
        "rows": [{"values": [{**cell_data(text), **BOLD} for text in texts]}],
        "fields": f"{VALUE_FIELDS},{BOLD_FIELDS}",
    }}


def marker_request(key: str, metadata_id: int, value: str, *, exists: bool) -> dict:
    """Set the spreadsheet's write marker (developer metadata `key`) to `value`."""
    if exists:
        return {"updateDeveloperMetadata": {
            "dataFilters": [{"developerMetadataLookup": {"metadataId": metadata_id}}],
            "developerMetadata": {"metadataValue": value}, "fields": "metadataValue"}}
    return {"createDeveloperMetadata": {"developerMetadata": {
        "metadataId": metadata_id, "metadataKey": key, "metadataValue": value,
        "location": {"spreadsheet": True}, "visibility": "DOCUMENT"}}}


def worker_cell_requests(sheet_id: int, cells: dict[tuple[int, int], Any], block_rows: int = BLOCK_ROWS,
                         block_bytes: int = BLOCK_BYTES) -> list[dict]:
    """updateCells requests writing exactly `cells` ({(sheet row, sheet column) 1-based: value}).

    Per row, changed cells in adjacent columns form a run; runs over the same columns in
    consecutive rows form one rectangle (a first run over a sheet becomes a handful of requests,
    not one per cell). Rectangles are cut into blocks (see `blocks`), so a body can be split."""
    by_row: dict[int, list[int]] = {}
    for row, column in cells:
        by_row.setdefault(row, []).append(column)
    runs: dict[tuple[int, int], list[int]] = {}
    for row, columns in by_row.items():
        columns.sort()
        start = previous = columns[0]
        for column in columns[1:] + [None]:
            if column is not None and column == previous + 1:
                previous = column
                continue
            runs.setdefault((start, previous), []).append(row)
            if column is not None:
                start = previous = column
    requests = []
    for (first, last), rows in sorted(runs.items(), key=lambda item: (min(item[1]), item[0])):
        rows.sort()
        consecutive = [[rows[0]]]
        for row in rows[1:]:
            if row == consecutive[-1][-1] + 1:
                consecutive[-1].append(row)
            else:
                consecutive.append([row])
        for group in consecutive:
            data = [row_data([cells[(r, c)] for c in range(first, last + 1)]) for r in group]
            for start, end in blocks(data, block_rows, block_bytes):
                requests.append({"updateCells": {
                    "start": {"sheetId": sheet_id, "rowIndex": group[start] - 1, "columnIndex": first - 1},
                    "rows": data[start:end], "fields": VALUE_FIELDS}})
    return requests


def add_sheet(sheet_id: int, title: str, rows: int, columns: int, frozen_rows: int = 1, index: int | None = None) -> dict:
    properties: dict[str, Any] = {"sheetId": sheet_id, "title": title, "gridProperties": {
        "rowCount": max(rows, frozen_rows + 1), "columnCount": max(columns, 1), "frozenRowCount": frozen_rows}}
    if index is not None:
        properties["index"] = index
    return {"addSheet": {"properties": properties}}


def append_dimension(sheet_id: int, dimension: str, length: int) -> dict:
    return {"appendDimension": {"sheetId": sheet_id, "dimension": dimension, "length": length}}


def bold_row(sheet_id: int, columns: int) -> dict:
    """The header row in bold (generated tabs, as the workbook backend makes them)."""
    return {"repeatCell": {"range": {"sheetId": sheet_id, "startRowIndex": 0, "endRowIndex": 1,
                                     "startColumnIndex": 0, "endColumnIndex": max(columns, 1)},
                           "cell": BOLD, "fields": BOLD_FIELDS}}


def rename_sheet(sheet_id: int, title: str) -> dict:
    return {"updateSheetProperties": {"properties": {"sheetId": sheet_id, "title": title}, "fields": "title"}}


def replace_tab_requests(sheet_id: int, content: list[list[Any]], grid_rows: int, grid_columns: int,
                         block_rows: int = BLOCK_ROWS, block_bytes: int = BLOCK_BYTES,
                         encode_row: Callable[[int, list[Any]], dict] | None = None,
                         fields: str = VALUE_FIELDS) -> list[dict]:
    """Rewrite a generated tab whole: grow its grid if the content needs it, then write the
    content over the whole grid, so what is left of the old content is cleared. `encode_row`
    (row index, padded row → RowData) may give cells formats as well, named in `fields`."""
    width = max((len(row) for row in content), default=1)
    requests = []
    if len(content) > grid_rows:
        requests.append(append_dimension(sheet_id, "ROWS", len(content) - grid_rows))
    if width > grid_columns:
        requests.append(append_dimension(sheet_id, "COLUMNS", width - grid_columns))
    encode = encode_row or (lambda index, row: row_data(row))
    data = [encode(index, list(row) + [None] * (width - len(row))) for index, row in enumerate(content)]
    cuts = blocks(data, block_rows, block_bytes) or [(0, 0)]
    for number, (start, end) in enumerate(cuts):
        grid_range: dict[str, Any] = {"sheetId": sheet_id, "startRowIndex": start}
        if number < len(cuts) - 1:
            grid_range["endRowIndex"] = end
        requests.append({"updateCells": {"range": grid_range, "rows": data[start:end], "fields": fields}})
    return requests


def append_rows_requests(sheet_id: int, rows: list[list[Any]], block_rows: int = BLOCK_ROWS,
                         block_bytes: int = BLOCK_BYTES, cell_formats: list[dict | None] | None = None) -> list[dict]:
    """appendCells: rows go below the last row holding data (the event log only grows).
    `cell_formats`: a userEnteredFormat per column (None: none), given to every appended cell."""
    if cell_formats is None:
        data = [row_data(row) for row in rows]
        fields = VALUE_FIELDS
    else:
        data = [{"values": [{**cell_data(value), **({"userEnteredFormat": form} if form else {})}
                            for value, form in zip(row, cell_formats)]} for row in rows]
        fields = f"{VALUE_FIELDS},userEnteredFormat"
    return [{"appendCells": {"sheetId": sheet_id, "rows": data[start:end], "fields": fields}}
            for start, end in blocks(data, block_rows, block_bytes)]


# --- bodies under the size limit ----------------------------------------------------------------

# json.dumps with options builds a new encoder on every call; requests are encoded by the thousand.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode(request: dict) -> bytes:
    """A request as it goes on the wire (UTF-8, not \\u-escaped: Chinese text counts 3 bytes)."""
    return _ENCODER.encode(request).encode("utf-8")


def body(parts: Iterable[bytes]) -> bytes:
    return b'{"requests":[' + b",".join(parts) + b"]}"


def split_bodies(phases: list[list[bytes]], limit: int = MAX_BODY_BYTES, reserve: int = 0) -> list[list[bytes]]:
    """Group encoded requests into bodies of at most `limit` bytes, keeping their order.

    Everything goes in one body when it fits (Google applies it atomically). Otherwise each
    phase (worker cells, summary tabs, log rows: SPEC 6) starts a new body, and a phase larger
    than the limit is cut between requests. `reserve` is room kept in every body for requests
    added to each (the write marker)."""
    overhead = len(body([])) + reserve
    total = sum(len(p) + 1 for phase in phases for p in phase)
    if total + overhead <= limit:
        merged = [p for phase in phases for p in phase]
        return [merged] if merged else []
    bodies: list[list[bytes]] = []
    for phase in phases:
        current: list[bytes] = []
        size = overhead
        for part in phase:
            if current and size + len(part) + 1 > limit:
                bodies.append(current)
                current, size = [], overhead
            current.append(part)
            size += len(part) + 1
        if current:
            bodies.append(current)
    return bodies
