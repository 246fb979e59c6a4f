"""Reading a local workbook's values with calamine, a reader written in Rust.

openpyxl builds a Python object, with its style, for every cell: parsing a 100,000-row log takes
it half a minute and over a gigabyte. calamine returns the values only, in a fraction of that.
openpyxl stays the writer, and a workbook is loaded with it only when a cycle writes
(workbook.py).

The values come out as openpyxl gives them (the cycle and its tests were built on those):
- an empty cell is None (calamine gives ""; a cell holding "" is None in openpyxl too);
- a whole number is an int (calamine gives every number as a float);
- a date cell is a datetime, midnight for a date alone (calamine gives a date);
- a formula is its text, "=" first, shared formulas translated to their cell (calamine gives the
  value last computed), and an error cell its code such as "#N/A" (calamine gives ""): both
  found in the sheet's XML, searched as bytes, never parsed whole;
- trailing rows and columns without a value are not there (openpyxl pads to cells that only
  carry a format: a difference in shape, not in any value).
The same search gives what `blocked_rows` needs of the main tab: which cells hold a formula,
whether the tab is protected; calamine gives the merged ranges.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any, Iterable
from xml.etree import ElementTree

import python_calamine

from ..presentation.tab_formats import column_index
from . import workbook_file

# Integers from this size on are written by spreadsheet programs in exponent form ("1E+16"),
# which openpyxl reads as a float.
_EXACT_INTEGERS = 10 ** 15
# How a formula element and an error cell start in a worksheet's XML (searched as bytes).
_SPECIAL_MARKS = (b"<f>", b"<f ", b"<f/", b' t="e"')
_CELL_START = b"<c "
_PROTECTED = re.compile(rb'<sheetProtection\b[^>]*\bsheet="(?:1|true)"')
_AUTO_FILTER = re.compile(rb"<autoFilter\b[^>]*\bref=\"[^\"]+\"")
_COORDINATE = re.compile(r"([A-Z]{1,3})(\d+)$")


@dataclass
class SheetRead:
    """One tab as read: its values (row 1 first), and what a write to it must know."""

    rows: list[list[Any]]
    formulas: set[tuple[int, int]] = field(default_factory=set)  # (row, column), 1-based
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)  # min_row, min_col, max_row, max_col
    protected: bool = False
    filtered: bool = False  # the tab has a filter (the worker's generated tabs do)


class WorkbookValues:
    """A workbook package opened for its values (from its bytes, as read once)."""

    def __init__(self, data: bytes):
        # Only an Office Open XML workbook (.xlsx, .xlsm) is one the writer can write: calamine
        # would read an old .xls or an .ods as well, which then could never be written.
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            types = archive.read("[Content_Types].xml") if "[Content_Types].xml" in archive.namelist() else b""
            self._parts = workbook_file.sheet_parts(archive)  # tab title → worksheet part
        if b"sheet.main+xml" not in types and b"macroEnabled.main+xml" not in types:
            raise ValueError("not an Office Open XML workbook")
        self._package = data
        self._book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        self.titles: list[str] = list(self._book.sheet_names)

    def filtered(self, title: str) -> bool:
        """The tab has a filter (the worker's generated tabs do), found without reading its cells."""
        part = self._parts.get(title)
        if part is None:
            return False
        with zipfile.ZipFile(io.BytesIO(self._package)) as archive:
            return bool(_AUTO_FILTER.search(archive.read(part)))

    def read(self, titles: Iterable[str]) -> dict[str, SheetRead]:
        """The tabs named (those the workbook has)."""
        wanted = [title for title in dict.fromkeys(titles) if title in self.titles]
        parts = self._parts
        with zipfile.ZipFile(io.BytesIO(self._package)) as archive:
            return {title: self._sheet(title, archive.read(parts[title]) if title in parts else b"") for title in wanted}

    def _sheet(self, title: str, xml: bytes) -> SheetRead:
        sheet = self._book.get_sheet_by_name(title)
        rows = [_plain_row(row) for row in sheet.to_python(skip_empty_area=False)]
        read = SheetRead(rows, protected=bool(_PROTECTED.search(xml)), filtered=bool(_AUTO_FILTER.search(xml)))
        read.merged = [(top + 1, left + 1, bottom + 1, right + 1)
                       for (top, left), (bottom, right) in sheet.merged_cell_ranges or ()]
        _put_formulas_and_errors(read, xml)
        return read


def _plain_row(row: list[Any]) -> list[Any]:
    return [value if type(value) is str and value else _plain(value) for value in row]


def _plain(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        return None  # "" (an empty cell)
    if kind is float:
        return int(value) if value.is_integer() and -_EXACT_INTEGERS < value < _EXACT_INTEGERS else value
    if kind is dt.date:
        return dt.datetime.combine(value, dt.time())
    return value


def _put_formulas_and_errors(read: SheetRead, xml: bytes) -> None:
    """Formula cells as their text and error cells as their code, as openpyxl reads them."""
    shared: dict[str, Any] = {}  # a shared formula's id → its translator (from its first cell)
    searched_to = 0
    for position in _special_positions(xml):
        if position < searched_to:
            continue  # inside a cell already taken
        start = xml.rfind(_CELL_START, 0, position)
        end = _cell_end(xml, start)
        if start < 0 or end < 0:
            continue
        searched_to = end
        try:
            cell = ElementTree.fromstring(xml[start:end])
        except ElementTree.ParseError:
            continue
        coordinate = cell.get("r", "")
        place = _COORDINATE.match(coordinate)
        if place is None:
            continue
        row, column = int(place.group(2)), column_index(place.group(1)) + 1
        formula = cell.find("f")
        if formula is not None:
            value = _formula_text(formula, coordinate, shared)
            read.formulas.add((row, column))
        elif cell.get("t") == "e":
            value = cell.findtext("v") or None
        else:
            continue
        _put(read.rows, row, column, value)


def _special_positions(xml: bytes) -> list[int]:
    """Where formula elements and error cells are, in document order (a search in C: the
    sheet has none in most logs)."""
    positions = []
    for mark in _SPECIAL_MARKS:
        at = xml.find(mark)
        while at >= 0:
            positions.append(at)
            at = xml.find(mark, at + 1)
    return sorted(positions)


def _cell_end(xml: bytes, start: int) -> int:
    """Where the cell element starting at `start` ends (past its closing tag)."""
    if start < 0:
        return -1
    head_end = xml.find(b">", start)
    if head_end < 0:
        return -1
    if xml[head_end - 1:head_end] == b"/":
        return head_end + 1
    close = xml.find(b"</c>", head_end)
    return close + 4 if close >= 0 else -1


def _formula_text(formula, coordinate: str, shared: dict[str, Any]) -> str:
    text = "=" + (formula.text or "")
    if formula.get("t") == "shared":
        index = formula.get("si")
        if index in shared:
            return shared[index].translate_formula(coordinate)
        if text != "=":
            # openpyxl's own translator, so a shared formula reads as openpyxl reads it; only a
            # workbook with shared formulas (Excel's fill-down) imports openpyxl here.
            from openpyxl.formula.translate import Translator
            shared[index] = Translator(text, coordinate)
    return text


def _put(rows: list[list[Any]], row: int, column: int, value: Any) -> None:
    while len(rows) < row:
        rows.append([None] * (len(rows[0]) if rows else 0))
    cells = rows[row - 1]
    if len(cells) < column:
        width = column
        for each in rows:
            each.extend([None] * (width - len(each)))
    cells[column - 1] = value

