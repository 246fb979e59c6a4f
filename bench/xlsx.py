"""Local workbooks for the benchmark, written and edited the way an office program leaves them.

openpyxl (without lxml) needs about 37 s to write a 100,000-row log and a minute to load and save
one, which would spend the benchmark's ten minutes on setting up rather than measuring. So the
fixture is written here directly as SpreadsheetML, as Excel writes it (shared strings, dates as
serial numbers with a date style), and staff's edits between two cycles are patched into the
sheet's XML as a program saving only those rows would. openpyxl reads both like any workbook;
the worker under measurement is not involved in either.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from openpyxl.utils import get_column_letter

_EPOCH = dt.datetime(1899, 12, 30)

_CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>"""
_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"""
_WORKBOOK = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="{title}" sheetId="1" r:id="rId1"/></sheets></workbook>"""
_WORKBOOK_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/><Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"""
# Style 0: default; 1: header (bold); 2: date and time; 3: date.
_STYLES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm"/></numFmts><fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/><name val="Calibri"/></font></fonts><fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills><borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/><xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/><xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/><xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>"""
DATETIME_STYLE, DATE_STYLE = 2, 3


def _serial(value: dt.date) -> str:
    moment = value if isinstance(value, dt.datetime) else dt.datetime.combine(value, dt.time())
    delta = moment - _EPOCH
    serial = delta.days + delta.seconds / 86400
    return repr(serial) if serial % 1 else str(int(serial))


class _Strings:
    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.uses = 0

    def ref(self, text: str) -> int:
        self.uses += 1
        position = self.index.get(text)
        if position is None:
            position = self.index[text] = len(self.index)
        return position

    def xml(self) -> str:
        items = "".join(f'<si><t xml:space="preserve">{escape(text)}</t></si>' for text in self.index)
        return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                f'count="{self.uses}" uniqueCount="{len(self.index)}">{items}</sst>')


def _cell(reference: str, value: Any, strings: _Strings | None, style: int = 0) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return f'<c r="{reference}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, dt.datetime):
        return f'<c r="{reference}" s="{DATETIME_STYLE}"><v>{_serial(value)}</v></c>'
    if isinstance(value, dt.date):
        return f'<c r="{reference}" s="{DATE_STYLE}"><v>{_serial(value)}</v></c>'
    if isinstance(value, (int, float)):
        return f'<c r="{reference}"><v>{value!r}</v></c>'
    style_attribute = f' s="{style}"' if style else ""
    if strings is None:
        return f'<c r="{reference}" t="inlineStr"{style_attribute}><is><t xml:space="preserve">{escape(str(value))}</t></is></c>'
    return f'<c r="{reference}" t="s"{style_attribute}><v>{strings.ref(str(value))}</v></c>'


def write_workbook(path: Path, title: str, values: list[list[Any]]) -> Path:
    """One tab `title` holding `values` (row 1 is the header, in bold), frozen below the header."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    width = max((len(row) for row in values), default=0)
    letters = [get_column_letter(c + 1) for c in range(width)]
    strings = _Strings()
    parts = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
             '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" '
             'state="frozen"/></sheetView></sheetViews><sheetData>']
    for number, row in enumerate(values, start=1):
        style = 1 if number == 1 else 0
        cells = "".join(_cell(f"{letters[c]}{number}", value, strings, style) for c, value in enumerate(row))
        parts.append(f'<row r="{number}">{cells}</row>')
    parts.append("</sheetData></worksheet>")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK.format(title=escape(title)))
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        archive.writestr("xl/styles.xml", _STYLES)
        archive.writestr("xl/worksheets/sheet1.xml", "".join(parts))
        archive.writestr("xl/sharedStrings.xml", strings.xml())
    return path


_ROW = re.compile(r'<row r="(\d+)"[^>]*?(?:/>|>(.*?)</row>)', re.S)
_CELL = re.compile(r'<c r="([A-Z]+)\d+"[^>]*?(?:/>|>.*?</c>)', re.S)


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - 64
    return number


def patch_cells(path: Path, sheet_title: str, edits: dict[int, dict[int, Any]]) -> None:
    """Staff's edits, saved: {sheet row: {1-based column: value}} written into the tab's XML.

    Strings go in as inline strings and dates with a date style of their own, added to the
    workbook's styles, so nothing else in the file changes; the workbook is replaced whole."""
    path = Path(path)
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info.filename) for info in archive.infolist()}
        infos = archive.infolist()
    sheet_part = _sheet_part(members, sheet_title)
    styles = members["xl/styles.xml"].decode("utf-8")
    date_style = _add_date_style(styles)
    members["xl/styles.xml"] = date_style[0].encode("utf-8")
    text = members[sheet_part].decode("utf-8")
    pending = dict(edits)

    def replace_row(match: re.Match) -> str:
        number = int(match.group(1))
        cells_wanted = pending.pop(number, None)
        if cells_wanted is None:
            return match.group(0)
        cells = {_column_number(c.group(1)): c.group(0) for c in _CELL.finditer(match.group(2) or "")}
        for column, value in cells_wanted.items():
            reference = f"{get_column_letter(column)}{number}"
            if isinstance(value, dt.date):
                cells[column] = f'<c r="{reference}" s="{date_style[1]}"><v>{_serial(value)}</v></c>'
            else:
                cells[column] = _cell(reference, value, None)
        return f'<row r="{number}">' + "".join(cells[c] for c in sorted(cells)) + "</row>"

    text = _ROW.sub(replace_row, text)
    if pending:
        raise ValueError(f"rows not found in {sheet_title}: {sorted(pending)[:5]}")
    members[sheet_part] = text.encode("utf-8")
    temp = path.with_suffix(".patching")
    with zipfile.ZipFile(temp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for info in infos:
            archive.writestr(info.filename, members[info.filename])
    shutil.move(temp, path)


def _sheet_part(members: dict[str, bytes], title: str) -> str:
    workbook = members["xl/workbook.xml"].decode("utf-8")
    rels = members["xl/_rels/workbook.xml.rels"].decode("utf-8")
    match = re.search(r'<sheet [^>]*name="' + re.escape(escape(title, {'"': "&quot;"})) + r'"[^>]*r:id="([^"]+)"', workbook)
    if match is None:
        raise ValueError(f"no tab {title!r}")
    relation = re.search(r'<Relationship [^>]*Id="' + re.escape(match.group(1)) + r'"[^>]*Target="([^"]+)"', rels) \
        or re.search(r'<Relationship [^>]*Target="([^"]+)"[^>]*Id="' + re.escape(match.group(1)) + r'"', rels)
    target = relation.group(1)
    return target.lstrip("/") if target.startswith("/") else "xl/" + target


def _add_date_style(styles: str) -> tuple[str, int]:
    """The styles part with one more cell format (built-in date format 14); its index."""
    match = re.search(r'<cellXfs count="(\d+)">(.*?)</cellXfs>', styles, re.S)
    count = int(match.group(1))
    added = '<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    new = f'<cellXfs count="{count + 1}">{match.group(2)}{added}</cellXfs>'
    return styles[:match.start()] + new + styles[match.end():], count
