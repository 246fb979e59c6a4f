"""Building real `.xlsx` workbooks and configs the way staff and admins make them, and reading
the worker's results back (for the end-to-end tests in test_workbook_e2e.py / test_cli_errors.py).

Nothing here imitates the worker: workbooks are written with openpyxl as an office program
would, the CLI is the real `automation.cli.main`, and results are read back from the file.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path
from typing import Any, Iterable

import openpyxl
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from automation import cli
from automation.adapters import workbook_read
from automation.vocabulary import Vocabulary

HANT = Vocabulary("zh-Hant")
HANS = Vocabulary("zh-Hans")
MAIN_HANT = HANT.main_tab_title
MAIN_HANS = HANS.main_tab_title

# Every header the worker may write, in either spelling: the columns that are not staff's.
WORKER_HEADERS = frozenset(h for c in HANT.worker_columns for h in c.headers.values())
GENERATED_TITLES = frozenset(
    title for key in HANT.generated_tab_keys for title in HANT.tab_titles(key)
)

# Staff's own extra columns, and the full set of staff headers in a shuffled order (columns are
# found by header text, not position: SPEC 2).
EXTRA_HEADERS = ["樓棟", "備註（前臺自用）"]
SHUFFLED_HANT = ["房號", "備註（前臺自用）", "事由", "接待日期", "業主姓名", "類別", "聯系電話", "責任部門",
                 "樓棟", "接待渠道", "處理情況", "處理結果", "完成日期", "無法處理原因", "主管審核",
                 "經理審核", "回訪滿意度", "接待人"]
SHUFFLED_HANS = ["事由", "房号", "接待日期", "联系电话", "业主姓名", "类别", "责任部门", "接待渠道",
                 "处理情况", "处理结果", "完成日期", "无法处理原因", "主管审核", "经理审核", "回访满意度",
                 "接待人"]

STAFF_FONT = Font(name="標楷體", size=12, italic=True, color="FF1F4E79")
STAFF_FILL = PatternFill("solid", fgColor="FFFFF2CC")
STAFF_BORDER = Border(bottom=Side(style="thin", color="FF999999"))
HEADER_FONT = Font(name="微軟正黑體", bold=True, size=11, color="FFFFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="FF2F5597")


def row(received: Any = "2026-03-10", **cells: Any) -> dict[str, Any]:
    """A complete reception keyed by zh-Hant header; keyword names are the headers themselves."""
    base = {"接待日期": received, "業主姓名": "陳先生", "聯系電話": "13812345678", "房號": "1-101",
            "事由": "廚房水管漏水"}
    base.update(cells)
    return {k: v for k, v in base.items() if v is not None}


def build_workbook(path: Path, headers: list[str], rows: Iterable[dict[str, Any]], *,
                   main_title: str = MAIN_HANT, styled: bool = True, staff_tabs: bool = True,
                   worker_ids: dict[int, str] | None = None) -> Path:
    """A workbook as staff keep it: headers in `headers` order, one row per dict (keys are
    header texts; a zh-Hant key also fills its zh-Hans header), formatted cells, and staff tabs
    of their own. Date/datetime values become real date cells with a date number format."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = main_title
    translate = _hant_to_header(headers)
    for column, header in enumerate(headers, start=1):
        cell = sheet.cell(row=1, column=column, value=header)
        if styled:
            cell.font, cell.fill = HEADER_FONT, HEADER_FILL
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for offset, values in enumerate(rows):
        for key, value in values.items():
            header = translate.get(key, key)
            if header not in headers:  # the sheet lacks that column: the cell is not there
                continue
            column = headers.index(header) + 1
            cell = sheet.cell(row=2 + offset, column=column)
            cell.value = value
            if isinstance(value, str) and value.startswith("="):
                cell.data_type = "s"  # staff typed text that looks like a formula
            if isinstance(value, dt.datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
            elif isinstance(value, dt.date):
                cell.number_format = "yyyy/m/d"
            if styled:
                cell.font, cell.fill, cell.border = STAFF_FONT, STAFF_FILL, STAFF_BORDER
    if styled:
        for column in range(1, len(headers) + 1):
            sheet.column_dimensions[get_column_letter(column)].width = 9 + column * 1.5
        sheet.row_dimensions[1].height = 30
        sheet.freeze_panes = "B2"
    if staff_tabs:
        add_staff_tabs(book)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def add_staff_tabs(book) -> None:
    """Tabs of staff's own: a duty roster with merged, formatted cells, a formula, a comment,
    conditional formatting, a drop-down and a hidden column, and a small phone list."""
    from openpyxl.comments import Comment
    from openpyxl.formatting.rule import CellIsRule

    roster = book.create_sheet("值班表")
    roster["A1"] = "三月值班表"
    roster.merge_cells("A1:D1")
    roster["A1"].font = Font(size=16, bold=True, color="FFC00000")
    roster["A1"].alignment = Alignment(horizontal="center")
    for index, (day, person, hours) in enumerate(
        [(dt.date(2026, 3, 9), "張麗", 8), (dt.date(2026, 3, 10), "劉洋", 7.5), (dt.date(2026, 3, 11), "張麗", 8)],
        start=2,
    ):
        roster.cell(row=index, column=1, value=day).number_format = "m月d日"
        roster.cell(row=index, column=2, value=person).fill = PatternFill("solid", fgColor="FFE2EFDA")
        roster.cell(row=index, column=3, value=hours).number_format = "0.0"
    roster["C5"] = "=SUM(C2:C4)"
    roster["B2"].comment = Comment("夜班改早班", "張麗")
    roster.column_dimensions["A"].width = 14.5
    roster.column_dimensions["B"].width = 11.25
    roster.conditional_formatting.add(
        "C2:C4", CellIsRule(operator="lessThan", formula=["8"], fill=PatternFill("solid", fgColor="FFFFC7CE")))
    on_duty = DataValidation(type="list", formula1='"張麗,劉洋"', allow_blank=True)
    on_duty.add("B2:B40")
    roster.add_data_validation(on_duty)
    roster.column_dimensions["E"].hidden = True
    phones = book.create_sheet("常用電話")
    phones.append(["單位", "電話"])
    phones.append(["工程部", "0755-8888 1234"])
    phones.append(["物業費", 86001234])
    phones["B3"].number_format = "0"


def _hant_to_header(headers: list[str]) -> dict[str, str]:
    """zh-Hant header → the spelling present in `headers` (so rows can be written once)."""
    out = {}
    for column in HANT.columns:
        for spelling in (*column.headers.values(), *column.aliases):
            if spelling in headers:
                out[column.headers["zh-Hant"]] = spelling
                break
    return out


def write_config(folder: Path, centers: list[dict[str, str]] | None = None, *, language: str = "zh-Hant",
                 escalation: str = "", extra: str = "", name: str = "config.toml") -> Path:
    """A config file as an admin writes it; centers are {name, path} with the path relative to it."""
    centers = centers or [{"name": "錦繡花園服務中心", "path": "錦繡花園.xlsx"}]
    lines = ['timezone = "Asia/Shanghai"', f'language = "{language}"', "", "[escalation]",
             escalation or "supervisor_after_days = 2\nmanager_after_days = 7", "",
             "[mail]", 'transport = "outbox"', 'outbox_dir = "outbox"', "", extra]
    for center in centers:
        lines += ["[[centers]]", f'name = "{center["name"]}"', 'backend = "local"', f'path = "{center["path"]}"',
                  'supervisor = { name = "王敏", email = "supervisor@example.com" }',
                  'manager = { name = "李強", email = "manager@example.com" }', ""]
    path = folder / name
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


# The notice every `run --now <a test date>` prints (SPEC 5: --now far from the real clock without
# --dry-run), tested in test_cli_errors.py; left out of the stderr other tests look at.
NOW_NOTICE = re.compile(r"^警告：--now .*(?:本機時鐘|本机时钟).*\n", re.M)


def without_now_notice(err: str) -> str:
    return NOW_NOTICE.sub("", err)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """`python -m automation …` in this process; returns (exit code, stdout, stderr without the
    --now notice)."""
    capsys.readouterr()
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as stop:  # argparse usage errors
        code = stop.code
    captured = capsys.readouterr()
    return code, captured.out, without_now_notice(captured.err)


def run_at(capsys, config: Path, now: str, *more: str) -> tuple[int, str, str]:
    return run_cli(capsys, "run", "--config", config, "--now", now, *more)


# --- reading results back -------------------------------------------------------------------

def records(path: Path, title: str | None = None) -> list[dict[str, Any]]:
    """The main tab's data rows as {header: value} (None for empty), sheet order."""
    book = openpyxl.load_workbook(path)
    sheet = book[title] if title else book[_main_title(book)]
    values = list(sheet.iter_rows(values_only=True))
    header = [str(h).strip() if h is not None else "" for h in values[0]]
    return [dict(zip(header, r)) for r in values[1:] if any(v is not None for v in r)]


def _main_title(book) -> str:
    return next(t for t in (MAIN_HANT, MAIN_HANS) if t in book.sheetnames)


def tab_rows(path: Path, title: str) -> list[list[Any]]:
    """A tab's rows (header included), trailing empty cells dropped."""
    sheet = openpyxl.load_workbook(path)[title]
    out = []
    for values in sheet.iter_rows(values_only=True):
        cells = list(values)
        while cells and cells[-1] is None:
            cells.pop()
        out.append(cells)
    return out


def log_rows(path: Path, title: str = "運行日誌") -> list[list[Any]]:
    book = openpyxl.load_workbook(path)
    if title not in book.sheetnames:
        return []
    return [list(r) for r in book[title].iter_rows(min_row=2, values_only=True)]


def staff_fingerprint(path: Path) -> dict[str, Any]:
    """Everything staff own in a workbook: every cell outside the worker columns and generated tabs
    (value, type, number format, font, fill, border, alignment, protection, comment), column
    widths, row heights, merged ranges, freeze panes, conditional formats and validations of
    their tabs, drop-downs of tabs other than the main one. Two fingerprints are equal when staff
    data is exactly as staff left it."""
    book = openpyxl.load_workbook(path, rich_text=True)  # rich text: runs of mixed formatting count too
    out: dict[str, Any] = {"tabs": [t for t in book.sheetnames if t not in GENERATED_TITLES]}
    for sheet in book.worksheets:
        if sheet.title in GENERATED_TITLES:
            continue
        worker_columns = {
            cell.column for cell in sheet[1] if isinstance(cell.value, str) and cell.value.strip() in WORKER_HEADERS
        } if sheet.title in (MAIN_HANT, MAIN_HANS) else set()
        cells = {}
        for (row_number, column), cell in sorted(sheet._cells.items()):
            if column in worker_columns:
                continue
            if cell.value is None and not cell.has_style:
                continue
            cells[cell.coordinate] = (
                cell.value, cell.data_type, cell.number_format, repr(cell.font), repr(cell.fill),
                repr(cell.border), repr(cell.alignment), repr(cell.protection),
                cell.comment.text if cell.comment else None,
            )
        widths = {}
        for dimension in sheet.column_dimensions.values():
            for column in range(dimension.min or 0, (dimension.max or 0) + 1):
                if column and column not in worker_columns:
                    widths[column] = (dimension.width, dimension.hidden)
        out[sheet.title] = {
            "cells": cells,
            "widths": widths,
            "heights": {k: v.height for k, v in sheet.row_dimensions.items() if v.height},
            "merged": sorted(str(r) for r in sheet.merged_cells.ranges),
            "freeze": sheet.freeze_panes,
            # The worker's own overdue rule on the main tab (added by init, recognised by its
            # mark) is not staff's: staff's rules must stay as they were.
            "conditional": sorted(
                (str(cf.sqref), repr(rule.formula), rule.operator) for cf in sheet.conditional_formatting
                for rule in cf.rules if "reception-worker:" not in repr(rule.formula)
            ),
            # The main tab's drop-downs are init's to add (SPEC 5); other tabs' are staff's own.
            "validations": [] if sheet.title in (MAIN_HANT, MAIN_HANS) else sorted(
                (str(dv.sqref), dv.type, dv.formula1) for dv in sheet.data_validations.dataValidation
            ),
        }
    return out


def sheet_xml(path: Path, title: str) -> str:
    """The raw XML of one tab inside the .xlsx zip."""
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in ("xl/workbook.xml", "xl/_rels/workbook.xml.rels")}
        return archive.read(_sheet_part(parts, title)).decode("utf-8")


def leftovers(folder: Path, expected: Iterable[str] = ()) -> list[str]:
    """Files in `folder` nobody asked for: what a write left behind (temp files of an atomic save,
    anything hidden). Folders and the `expected` names are not listed."""
    expected = set(expected)
    return sorted(p.name for p in folder.iterdir()
                  if p.is_file() and p.name not in expected and (p.name.startswith(".") or p.suffix != ".xlsx")
                  and p.suffix != ".toml")


def tiny_png() -> bytes:
    """A valid 2×2 PNG (a red square), built by hand so no imaging library is needed."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    pixels = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b""))


def add_picture(path: Path, title: str, png: bytes) -> None:
    """Paste a picture into tab `title` the way an office program stores it (a drawing part
    anchored to cells, the image under xl/media/), editing the .xlsx zip directly: openpyxl
    cannot add pictures without Pillow."""
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    sheet_part = _sheet_part(parts, title)
    rels_part = sheet_part.replace("worksheets/", "worksheets/_rels/") + ".rels"
    drawing_ns = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    parts["xl/media/staff_photo1.png"] = png
    parts["xl/drawings/staff_drawing1.xml"] = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<xdr:wsDr xmlns:xdr="http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing" '
        'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main">'
        '<xdr:twoCellAnchor editAs="oneCell"><xdr:from><xdr:col>3</xdr:col><xdr:colOff>0</xdr:colOff>'
        '<xdr:row>1</xdr:row><xdr:rowOff>0</xdr:rowOff></xdr:from><xdr:to><xdr:col>5</xdr:col>'
        '<xdr:colOff>0</xdr:colOff><xdr:row>6</xdr:row><xdr:rowOff>0</xdr:rowOff></xdr:to>'
        '<xdr:pic><xdr:nvPicPr><xdr:cNvPr id="2" name="現場照片"/><xdr:cNvPicPr/></xdr:nvPicPr>'
        f'<xdr:blipFill><a:blip xmlns:r="{drawing_ns}" r:embed="rIdPhoto1"/><a:stretch><a:fillRect/></a:stretch>'
        '</xdr:blipFill><xdr:spPr><a:prstGeom prst="rect"><a:avLst/></a:prstGeom></xdr:spPr></xdr:pic>'
        '<xdr:clientData/></xdr:twoCellAnchor></xdr:wsDr>'
    ).encode("utf-8")
    parts["xl/drawings/_rels/staff_drawing1.xml.rels"] = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rIdPhoto1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/image" '
        'Target="../media/staff_photo1.png"/></Relationships>'
    ).encode("utf-8")
    drawing_rel = ('<Relationship Id="rIdStaffDrawing1" '
                   'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/drawing" '
                   'Target="../drawings/staff_drawing1.xml"/>')
    if rels_part in parts:
        parts[rels_part] = parts[rels_part].replace(b"</Relationships>", drawing_rel.encode() + b"</Relationships>")
    else:
        parts[rels_part] = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                            + drawing_rel + "</Relationships>").encode("utf-8")
    parts[sheet_part] = parts[sheet_part].replace(
        b"</worksheet>", f'<drawing xmlns:r="{drawing_ns}" r:id="rIdStaffDrawing1"/></worksheet>'.encode())
    types = parts["[Content_Types].xml"].decode("utf-8")
    if 'Extension="png"' not in types:
        types = types.replace("<Override ", '<Default Extension="png" ContentType="image/png"/><Override ', 1)
    types = types.replace("</Types>", '<Override PartName="/xl/drawings/staff_drawing1.xml" '
                          'ContentType="application/vnd.openxmlformats-officedocument.drawing+xml"/></Types>')
    parts["[Content_Types].xml"] = types.encode("utf-8")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)


def pictures(path: Path) -> list[bytes]:
    """The images stored in a workbook (xl/media), as bytes."""
    with zipfile.ZipFile(path) as archive:
        return [archive.read(n) for n in archive.namelist() if n.startswith("xl/media/")]


def _sheet_part(parts: dict[str, bytes], title: str) -> str:
    """The zip member holding tab `title` (found through workbook.xml and its relationships)."""
    workbook = parts["xl/workbook.xml"].decode("utf-8")
    rels = parts["xl/_rels/workbook.xml.rels"].decode("utf-8")
    sheet = next(tag for tag in re.findall(r"<sheet [^>]*>", workbook) if f'name="{title}"' in tag)
    rel_id = re.search(r'r:id="([^"]+)"', sheet).group(1)
    relation = next(tag for tag in re.findall(r"<Relationship [^>]*>", rels) if f'Id="{rel_id}"' in tag)
    target = re.search(r'Target="([^"]+)"', relation).group(1).lstrip("/")
    return target if target.startswith("xl/") else "xl/" + target


def count_openpyxl_loads(monkeypatch) -> list[int]:
    """Counts the times any code loads a workbook with openpyxl (observed, not replaced)."""
    calls: list[int] = []
    real = openpyxl.load_workbook

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(openpyxl, "load_workbook", counting)
    return calls


def count_workbook_parses(monkeypatch) -> list[int]:
    """Counts the times any code parses a workbook: loads it with openpyxl or opens it for its
    values (observed, not replaced)."""
    calls = count_openpyxl_loads(monkeypatch)
    real = workbook_read.WorkbookValues.__init__

    def counting(self, *args, **kwargs):
        calls.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(workbook_read.WorkbookValues, "__init__", counting)
    return calls
