"""A write that keeps the main tab's XML (adapters/workbook_splice.py) leaves the same workbook
as loading and saving the whole of it with openpyxl.

The same cycles run on two copies of each workbook, one written with the main tab's XML kept,
one by openpyxl alone; the two files are then compared cell by cell (value, number format,
font, fill, alignment, lock), and tab by tab (merged cells, conditional formats and their
styles, drop-downs, widths, frozen panes, filters). The workbooks: one as staff keep it (formats,
staff tabs with a chart, a comment, a drop-down) upgraded with `init`; one as Excel writes it
(shared strings, a date style); and the same resaved by LibreOffice where it is installed.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pytest

from automation.adapters import workbook_splice
from automation.adapters.workbook import WorkbookBackend
from tests.workbooks import MAIN_HANT, SHUFFLED_HANT, build_workbook, count_openpyxl_loads, run_at, run_cli, write_config


def staff_workbook(folder: Path, capsys) -> Path:
    """As staff keep it, upgraded by `init` (drop-downs, the overdue rule) and after a first
    cycle (worker columns added: the whole workbook is loaded for that)."""
    from tests.test_workbook_e2e import mixed_rows

    path = build_workbook(folder / "錦繡花園.xlsx", SHUFFLED_HANT, mixed_rows())
    config = write_config(folder)
    assert run_cli(capsys, "init", "--config", config)[0] == 0
    assert run_at(capsys, config, "2026-03-10T09:00")[0] == 0
    return path


def excel_workbook(folder: Path, capsys) -> Path:
    """As Excel writes it: shared strings, date styles, worker columns there but empty."""
    from bench import data, xlsx

    sheet = data.generate(300, dt.date(2026, 3, 10))
    return xlsx.write_workbook(folder / "錦繡花園.xlsx", data.VOCABULARY.main_tab_title, sheet.values)


def libreoffice_workbook(folder: Path, capsys) -> Path:
    """The staff workbook after a first cycle, opened and saved again in LibreOffice."""
    if shutil.which("soffice") is None:
        pytest.skip("LibreOffice (soffice) is not installed: the workbook it saves cannot be made")
    source = staff_workbook(folder / "source", capsys)
    subprocess.run(["soffice", "--headless", "--convert-to", "xlsx", "--outdir", str(folder), str(source)],
                   check=True, capture_output=True, timeout=180)
    return folder / source.name


def edit_staff_cells(path: Path) -> None:
    """Staff close one reception and retype another's matter, saved as an office program saves."""
    from bench import xlsx

    header = [str(cell.value) for cell in next(openpyxl.load_workbook(path, read_only=True)[MAIN_HANT].rows)]
    xlsx.patch_cells(path, MAIN_HANT, {
        3: {header.index("完成日期") + 1: dt.date(2026, 3, 10), header.index("處理結果") + 1: "已修復"},
        4: {header.index("事由") + 1: "電梯&<困人>"},
    })


def next_cycle(folder: Path, workbook: Path, capsys, splice: bool, monkeypatch) -> Path:
    """The next day's cycle after a staff edit: worker cells, every tab, log rows."""
    monkeypatch.setattr(WorkbookBackend, "splice_main", splice)
    edit_staff_cells(workbook)
    loads = count_openpyxl_loads(monkeypatch)
    splits = []
    real = workbook_splice.without_cells
    monkeypatch.setattr(workbook_splice, "without_cells", lambda *args: splits.append(1) or real(*args))
    code, out, err = run_at(capsys, write_config(folder), "2026-03-11T09:00")
    assert code == 0, err
    assert len(loads) == 1 and len(splits) == (1 if splice else 0)  # loaded once, by the way asked
    return workbook


def picture(path: Path) -> dict:
    """What staff and the worker see of a workbook, tab by tab."""
    book = openpyxl.load_workbook(path, rich_text=True)
    seen = {"titles": book.sheetnames, "names": sorted(book.defined_names)}
    for sheet in book.worksheets:
        cells = {}
        for (row, column), cell in sorted(sheet._cells.items()):
            if cell.value is None and not cell.has_style:
                continue
            cells[cell.coordinate] = (str(cell.value) if cell.value is not None else None, cell.number_format,
                                      cell.font.b, cell.font.color.rgb if cell.font.color else None,
                                      cell.fill.fgColor.rgb, cell.alignment.horizontal, cell.alignment.wrap_text,
                                      cell.protection.locked, cell.border.left.style if cell.border.left else None)
        seen[sheet.title] = {
            "cells": cells,
            "merged": sorted(str(span) for span in sheet.merged_cells.ranges),
            "conditional": sorted((str(ranges.sqref), tuple(rule.formula or ()), rule.type,
                                   rule.dxf.fill.fgColor.rgb if rule.dxf and rule.dxf.fill else None,
                                   rule.dxf.font.b if rule.dxf and rule.dxf.font else None)
                                  for ranges in sheet.conditional_formatting for rule in ranges.rules),
            "validations": sorted((str(v.sqref), v.formula1) for v in sheet.data_validations.dataValidation),
            "widths": {key: dim.width for key, dim in sheet.column_dimensions.items() if dim.width},
            "frozen": sheet.freeze_panes,
            "filter": sheet.auto_filter.ref,
        }
    return seen


@pytest.mark.parametrize("make", [staff_workbook, excel_workbook, libreoffice_workbook])
def test_keeping_the_main_tab_xml_writes_what_openpyxl_writes(tmp_path, capsys, monkeypatch, make):
    made = make(tmp_path / "made", capsys)
    results = {}
    for splice in (True, False):
        folder = tmp_path / ("spliced" if splice else "openpyxl")
        folder.mkdir()
        shutil.copy(made, folder / "錦繡花園.xlsx")
        results[splice] = picture(next_cycle(folder, folder / "錦繡花園.xlsx", capsys, splice, monkeypatch))
    spliced, whole = results[True], results[False]
    assert spliced["titles"] == whole["titles"]
    for title in whole["titles"]:
        assert spliced[title] == whole[title], title
    assert spliced == whole
    main = spliced[MAIN_HANT]["cells"]
    assert any(value == "電梯&<困人>" for value, *_ in main.values())


def test_cells_go_in_place_keeping_their_format_and_order():
    xml = (b'<worksheet><sheetData><row r="1" spans="1:3"><c r="A1" s="2" t="s"><v>0</v></c>'
           b'<c r="C1" s="4"><v>1</v></c></row><row r="3"/><row r="5"><c r="B5" s="7"/></row>'
           b"</sheetData></worksheet>")
    out = workbook_splice.put_cells(xml, [(1, 2, "新 & <舊>"), (1, 3, ""), (3, 1, "x"), (4, 2, "y"), (5, 2, None),
                                          (6, 28, "z")])
    assert out == (
        b'<worksheet><sheetData><row r="1"><c r="A1" s="2" t="s"><v>0</v></c>'
        b'<c r="B1" t="inlineStr"><is><t xml:space="preserve">\xe6\x96\xb0 &amp; &lt;\xe8\x88\x8a&gt;</t></is></c>'
        b'<c r="C1" s="4"/></row>'
        b'<row r="3"><c r="A3" t="inlineStr"><is><t xml:space="preserve">x</t></is></c></row>'
        b'<row r="4"><c r="B4" t="inlineStr"><is><t xml:space="preserve">y</t></is></c></row>'
        b'<row r="5"><c r="B5" s="7"/></row>'
        b'<row r="6"><c r="AB6" t="inlineStr"><is><t xml:space="preserve">z</t></is></c></row>'
        b"</sheetData></worksheet>")


def test_a_main_tab_with_relationships_is_written_by_openpyxl_whole(tmp_path):
    path = build_workbook(tmp_path / "log.xlsx", SHUFFLED_HANT, [])
    book = openpyxl.load_workbook(path)
    from openpyxl.comments import Comment
    book[MAIN_HANT]["A1"].comment = Comment("staff's note", "staff")
    book.save(path)
    data = path.read_bytes()
    assert workbook_splice.main_part(data, MAIN_HANT) is None
    with zipfile.ZipFile(path) as archive:
        assert any("comments" in name for name in archive.namelist())
