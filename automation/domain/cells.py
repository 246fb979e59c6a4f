"""Cells as the worker compares them, and the identity of a row that has no record id yet.

Both backends and the cycle use these: a cell read from a workbook (a datetime, an int) and the
same cell read from Google Sheets (text) compare equal; a row without an id is known by a digest
of its staff cells (`ANCHOR_KEYS`), so a write lands on the row it was computed for even when
staff inserted rows meanwhile."""

from __future__ import annotations

import datetime as dt
import hashlib
from itertools import zip_longest
from typing import Any

import numpy as np
import pandas as pd


def comparable(value: Any) -> str:
    """A cell as text for "did it change" comparisons across backends."""
    if type(value) is str:
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return str(value)


def _comparable_row(row: list[Any]) -> list[str]:
    cells = [v if type(v) is str else comparable(v) for v in row]
    while cells and cells[-1] == "":
        cells.pop()
    return cells


def comparable_rows(rows: list[list[Any]]) -> list[list[str]]:
    out = [_comparable_row(row) for row in rows]
    while out and not out[-1]:
        out.pop()
    return out


def same_content(a: list[list[Any]], b: list[list[Any]]) -> bool:
    """`comparable_rows(a) == comparable_rows(b)`, row by row, stopping at the first difference."""
    return all(_comparable_row(x) == _comparable_row(y) for x, y in zip_longest(a, b, fillvalue=()))


ANCHOR_KEYS = ("received_at", "room", "matter", "owner_name", "phone")


def row_anchors(frame: pd.DataFrame) -> np.ndarray:
    """What identifies each row that has no id yet: a digest of its staff cells."""
    columns = [[v if type(v) is str else comparable(v) for v in frame[key].tolist()] for key in ANCHOR_KEYS]
    sha1 = hashlib.sha1
    out = np.empty(len(frame), dtype=object)
    out[:] = ["#" + sha1("\x1f".join(values).encode("utf-8")).hexdigest()[:16] for values in zip(*columns)]
    return out


def tab_cell_key(value: Any) -> str:
    """A generated tab's cell as compared across backends: a date as the spreadsheet serial number
    both read it back as (a workbook gives a datetime, Google a number), numbers rounded."""
    if type(value) is str:
        return value
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, dt.datetime):
        number = value.toordinal() - SERIAL_EPOCH + (value.hour * 3600 + value.minute * 60 + value.second) / 86400
    elif isinstance(value, dt.date):
        number = value.toordinal() - SERIAL_EPOCH
    elif isinstance(value, (int, float, np.integer, np.floating)):
        number = float(value)
    else:
        return str(value)
    number = round(float(number), 6)
    return str(int(number)) if number.is_integer() else repr(number)


SERIAL_EPOCH = dt.date(1899, 12, 30).toordinal()


def tab_digest(content: list[list[Any]], version: str) -> str:
    """What the worker writes in a generated tab, as a short digest (SPEC 7): its values as built
    (dates, numbers, text) and the version of how tabs are formatted. Kept with the sheet beside
    the tab, it tells a later cycle whether the tab needs writing without reading it back."""
    return hashlib.sha256(f"{version}\x1f{content!r}".encode("utf-8")).hexdigest()[:24]


def same_tab_content(a: list[list[Any]], b: list[list[Any]]) -> bool:
    """Equal once every cell is a `tab_cell_key`, trailing blanks ignored."""
    def keys(row):
        cells = [tab_cell_key(v) for v in row]
        while cells and cells[-1] == "":
            cells.pop()
        return cells
    return all(keys(x) == keys(y) for x, y in zip_longest(a, b, fillvalue=()))
