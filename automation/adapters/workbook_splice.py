"""A write that keeps the main tab's XML as it is but for the worker cells (part surgery).

openpyxl re-serialises every cell of a workbook it saves, and must first build an object for
every cell it loads: at 100,000 rows, loading and saving the main tab is nearly all of a cycle
that writes (about a minute of CPU). The main tab is the one large part, and a cycle changes
only its worker cells there. So, where the main tab allows it, openpyxl loads the workbook with
the main tab's cells left out (and those of the generated tabs the cycle rebuilds anyway),
writes the generated tabs and the event log as always, and the main tab's own XML goes back
into what it saved with the worker cells changed in place; every other byte of it is kept.

Why the main tab's XML stays right in the package openpyxl saved:
- cell formats: openpyxl keeps the workbook's formats (`cellXfs`) and conditional-format styles
  (`dxfs`) in their order and only appends, so the main tab's style indices mean the same;
- text: openpyxl writes text inline, so the workbook's shared-string table is put back as it
  was, for the main tab alone;
- relationships: only a main tab without any (no pictures, comments, tables or links to files
  on it) goes this way.
Otherwise, and for a cycle that adds headers or writes anything but text, the whole workbook is
loaded as before (workbook.py). The same refusals and checks apply to both ways.
"""

from __future__ import annotations

import bisect
import io
import re
import zipfile
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from ..presentation.tab_formats import column_index, column_letters
from . import workbook_file

SHARED_STRINGS = "xl/sharedStrings.xml"
_SHARED_STRINGS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
_SHARED_STRINGS_RELATION = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"
_SHEET_DATA = re.compile(rb"<sheetData\s*/>|<sheetData\b[^>]*>.*?</sheetData>", re.S)
_ROW = re.compile(rb'<row\b[^>]*?\br="(\d+)"[^>]*?(/?)>')
_CELL = re.compile(rb'<c\b[^>]*?\br="([A-Z]{1,3})\d+"[^>]*?(?:/>|>.*?</c>)', re.S)
_STYLE = re.compile(rb'\bs="(\d+)"')
_SPANS = re.compile(rb'\sspans="[^"]*"')
# Characters XML 1.0 cannot hold (openpyxl refuses them too).
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


@dataclass
class MainPart:
    """The main tab's part in the package: its name, XML, and the shared strings it refers to."""

    name: str
    xml: bytes
    shared_strings: bytes | None


class SplitBook:
    """A workbook to write as two pieces: openpyxl's workbook without the main tab's cells, and
    the main tab's XML. Saved (by workbook_file.write_workbook) as one package."""

    def __init__(self, book, main_title: str, part: MainPart):
        self.book, self.main_title, self.part = book, main_title, part

    @property
    def worksheets(self):
        return self.book.worksheets

    def put_cells(self, cells) -> None:
        self.part.xml = put_cells(self.part.xml, cells)

    def save(self, handle) -> None:
        saved = io.BytesIO()
        self.book.save(saved)
        handle.write(spliced(saved.getvalue(), self.main_title, self.part))


def main_part(data: bytes, main_title: str) -> MainPart | None:
    """The main tab's part, when a write can keep it (else None: load the whole workbook)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = set(archive.namelist())
        parts = workbook_file.sheet_parts(archive)
        name = parts.get(main_title)
        if name is None or name not in names or _relations_of(name) in names:
            return None
        rels = archive.read("xl/_rels/workbook.xml.rels") if "xl/_rels/workbook.xml.rels" in names else b""
        if _SHARED_STRINGS_RELATION.encode() in rels and not re.search(rb'Target="/?(?:xl/)?sharedStrings\.xml"', rels):
            return None  # a shared-string table under another name
        xml = archive.read(name)
        strings = archive.read(SHARED_STRINGS) if SHARED_STRINGS in names else None
    if not _SHEET_DATA.search(xml) or b' r:id="' in xml:
        return None  # a prefixed or unusual worksheet, or one linking to other parts: load it all
    return MainPart(name, xml, strings)


def can_write(cells) -> bool:
    """The worker cells can be written into the XML as they are: text, or empty."""
    return all(value is None or (isinstance(value, str) and not _ILLEGAL.search(value)) for _, _, value, *_ in cells)


def without_cells(data: bytes, part_names) -> bytes:
    """The package with the cells of the named worksheet parts left out (everything else kept)."""
    emptied = set(part_names)
    out = io.BytesIO()
    # Stored, not compressed: it is only read back by openpyxl, in memory.
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename in emptied:
                content = _SHEET_DATA.sub(b"<sheetData/>", content, count=1)
            target.writestr(info.filename, content)
    return out.getvalue()


def put_cells(xml: bytes, cells) -> bytes:
    """The worksheet XML with `cells` (row, column, value, …) written: text as inline strings,
    None or "" as an empty cell; each cell keeps its format. Rows and cells are kept in order."""
    by_row: dict[int, dict[int, Any]] = {}
    for row, column, value, *_ in cells:
        by_row.setdefault(row, {})[column] = value
    if not by_row:
        return xml
    data = _SHEET_DATA.search(xml)
    if data.group(0).endswith(b"/>"):
        xml = xml[:data.start()] + b"<sheetData></sheetData>" + xml[data.end():]
        data = _SHEET_DATA.search(xml)
    rows = {int(match.group(1)): match for match in _ROW.finditer(xml, data.start(), data.end())}
    pieces, position = [], 0
    numbers = sorted(rows)
    end_of_data = data.end() - len(b"</sheetData>")
    for number in sorted(by_row):
        match = rows.get(number)
        if match is None:  # a row without cells in the file: inserted before the next one
            after = bisect.bisect_right(numbers, number)
            following = rows[numbers[after]].start() if after < len(numbers) else end_of_data
            pieces += [xml[position:following], _new_row(number, by_row[number])]
            position = following
            continue
        row_end = match.end() if match.group(2) == b"/" else xml.index(b"</row>", match.end()) + len(b"</row>")
        pieces += [xml[position:match.start()], _changed_row(xml[match.start():row_end], number, by_row[number])]
        position = row_end
    pieces.append(xml[position:])
    return b"".join(pieces)


def _changed_row(row_xml: bytes, number: int, values: dict[int, Any]) -> bytes:
    head_end = row_xml.index(b">") + 1
    head = _SPANS.sub(b"", row_xml[:head_end])  # the cells it spans change: the hint goes
    if head.endswith(b"/>"):
        head, body = head[:-2].rstrip() + b">", b""
    else:
        body = row_xml[head_end:-len(b"</row>")]
    cells = [(column_index(match.group(1).decode()) + 1, match.start(), match.end()) for match in _CELL.finditer(body)]
    pieces, position = [], 0
    todo = sorted(values.items())
    for column, start, end in cells:
        while todo and todo[0][0] < column:
            pieces += [body[position:start], _cell(number, *todo.pop(0), style=None)]
            position = start
        if todo and todo[0][0] == column:
            style = _STYLE.search(body, start, body.index(b">", start))
            pieces += [body[position:start], _cell(number, *todo.pop(0), style=style.group(1) if style else None)]
            position = end
    pieces.append(body[position:])
    pieces += [_cell(number, column, value, style=None) for column, value in todo]
    return head + b"".join(pieces) + b"</row>"


def _new_row(number: int, values: dict[int, Any]) -> bytes:
    cells = b"".join(_cell(number, column, value, style=None) for column, value in sorted(values.items()))
    return b'<row r="%d">' % number + cells + b"</row>"


def _cell(row: int, column: int, value: Any, style: bytes | None) -> bytes:
    reference = f"{column_letters(column - 1)}{row}".encode()
    styled = b' s="' + style + b'"' if style else b""
    if value is None or value == "":
        return b'<c r="' + reference + b'"' + styled + b"/>" if style else b""
    text = escape(value).encode("utf-8")
    return (b'<c r="' + reference + b'"' + styled + b' t="inlineStr"><is><t xml:space="preserve">' + text
            + b"</t></is></c>")


def spliced(saved: bytes, main_title: str, part: MainPart) -> bytes:
    """The package openpyxl saved, with the main tab's XML put back (and the shared strings it
    refers to, with their relationship and content type)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(saved)) as source:
        names = source.namelist()
        name = workbook_file.sheet_parts(source)[main_title]
        if _relations_of(name) in names:
            raise ValueError("the main tab gained relationships in the saved workbook")
        add_strings = part.shared_strings is not None and SHARED_STRINGS not in names
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
            for info in source.infolist():
                content = source.read(info.filename)
                if info.filename == name:  # the large part: compressed fast
                    target.writestr(info, part.xml, compresslevel=1)
                    continue
                elif add_strings and info.filename == "[Content_Types].xml":
                    content = _with_shared_strings_type(content)
                elif add_strings and info.filename == "xl/_rels/workbook.xml.rels":
                    content = _with_shared_strings_relation(content)
                target.writestr(info, content)
            if add_strings:
                target.writestr(SHARED_STRINGS, part.shared_strings)
    return out.getvalue()


def _with_shared_strings_type(types: bytes) -> bytes:
    if f"/{SHARED_STRINGS}".encode() in types:
        return types
    override = f'<Override PartName="/{SHARED_STRINGS}" ContentType="{_SHARED_STRINGS_TYPE}"/>'.encode()
    return types.replace(b"</Types>", override + b"</Types>", 1)


def _with_shared_strings_relation(rels: bytes) -> bytes:
    if _SHARED_STRINGS_RELATION.encode() in rels:
        return rels
    taken = set(re.findall(rb'Id="([^"]+)"', rels))
    number = 1
    while b"rIdStrings%d" % number in taken:
        number += 1
    relation = (b'<Relationship Id="rIdStrings%d" Type="' % number + _SHARED_STRINGS_RELATION.encode()
                + b'" Target="sharedStrings.xml"/>')
    return rels.replace(b"</Relationships>", relation + b"</Relationships>", 1)


def _relations_of(part: str) -> str:
    folder, _, name = part.rpartition("/")
    return f"{folder}/_rels/{name}.rels"

