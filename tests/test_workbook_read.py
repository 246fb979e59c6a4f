"""The local workbook's fast reader (calamine) gives the cycle the values openpyxl gave it.

One crafted workbook holds every kind of cell staff leave in a log: dates, times, durations,
whole and fractional numbers, long digit strings typed as numbers, booleans, empty and blank
cells, rich text, formulas (shared ones included), error cells, merged cells, trailing rows and
columns with only a format. The Snapshot read through the backend is compared cell for cell
with the one openpyxl's reading gives (the backend's reader before calamine, kept here as the
reference); and a cycle that finds nothing to write never loads openpyxl.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
import pytest
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont
from openpyxl.styles import Font

from automation.adapters.workbook import WorkbookBackend
from automation.application.one_center import tab_names
from automation.domain.records import CellWrite
from automation.vocabulary import Vocabulary
from tests.workbooks import MAIN_HANT, SHUFFLED_HANT, build_workbook, count_openpyxl_loads, run_at, write_config

HANT = Vocabulary("zh-Hant")
NAMES = tab_names(HANT)
HEADERS = ["接待日期", "業主姓名", "聯系電話", "房號", "事由", "記錄編號", "當前負責人", "狀態", "處理時限", "系統提示"]
RICH = CellRichText([TextBlock(InlineFont(b=True), "電梯"), "異響"])

# (cell of the main tab, value written with openpyxl, number format or None, what the cycle reads)
CASES = [
    ("A2", dt.datetime(2026, 3, 9, 14, 30), "yyyy-mm-dd hh:mm", dt.datetime(2026, 3, 9, 14, 30)),
    ("A3", dt.date(2026, 3, 9), "yyyy-mm-dd", dt.datetime(2026, 3, 9)),
    ("A4", 46090, "yyyy-mm-dd", dt.datetime(2026, 3, 9)),
    ("A5", 59, "yyyy-mm-dd", dt.datetime(1900, 2, 28)),  # Excel's calendar below serial 61
    ("A6", 61, "yyyy-mm-dd", dt.datetime(1900, 3, 1)),
    ("A7", dt.time(9, 15), "hh:mm", dt.time(9, 15)),
    ("A8", 1.25, "[h]:mm", dt.timedelta(days=1, hours=6)),
    ("A9", 46090, None, 46090),  # a serial number without a date format
    ("A10", "2026/03/03 14:30", None, "2026/03/03 14:30"),
    ("B2", RICH, None, "電梯異響"),
    ("B3", " 王 ", None, " 王 "),
    ("B4", "", None, None),
    ("C2", 13812345678, None, 13812345678),  # a phone typed as a number: int, never "…678.0"
    ("C3", "013812345678", None, "013812345678"),
    ("C4", 5.5, None, 5.5),
    ("C5", -3, None, -3),
    ("C6", 1e20, None, 1e20),
    ("D2", True, None, True),
    ("D3", False, None, False),
    ("D4", 1201, None, 1201),
    ("E2", "=D4+1", None, "=D4+1"),  # a formula reads as its text
    ("E3", "#N/A", None, "#N/A"),  # an error cell as its code
    ("F2", "=B3", None, "=B3"),  # a formula in a worker cell
    ("J9", "最後一格", None, "最後一格"),
]


def crafted_workbook(path: Path) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = MAIN_HANT
    for column, header in enumerate(HEADERS, start=1):
        sheet.cell(row=1, column=column, value=header).font = Font(bold=True)
    for where, value, number_format, _ in CASES:
        sheet[where] = value
        if number_format:
            sheet[where].number_format = number_format
    sheet.merge_cells("G3:H4")  # worker cells merged
    sheet["G3"] = "合併"
    sheet["A14"].number_format = "yyyy-mm-dd"  # trailing rows and a column with only a format
    sheet["L2"].font = Font(italic=True)
    log = book.create_sheet(HANT.tab_title("event_log"))
    log.append(HANT.tab_layout("event_log"))
    log.append(["2026-03-09 09:00:00", "編號", "R20260309-001", "", 3])
    log["A4"].number_format = "yyyy-mm-dd"
    queue = book.create_sheet(HANT.tab_title("supervisor_queue"))
    queue.append(["記錄編號", "天數"])
    queue.append(["R20260309-001", 2])
    queue.auto_filter.ref = "A1:B2"
    book.create_sheet(HANT.tab_title("manager_queue")).append(["記錄編號"])  # no filter: left out
    book.save(path)
    return _with_shared_formula(path)


def _with_shared_formula(path: Path) -> Path:
    """Cells I2:I4 as Excel writes a formula filled down: one shared formula."""
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    xml = parts["xl/worksheets/sheet1.xml"].decode()
    shared = ['<c r="I2"><f t="shared" ref="I2:I4" si="0">D4*2</f><v>2402</v></c>',
              '<c r="I3"><f t="shared" si="0"/><v>0</v></c>', '<c r="I4"><f t="shared" si="0"/><v>0</v></c>']
    for row, cell in zip((2, 3, 4), shared):
        start = xml.index(f'<row r="{row}"')
        end = xml.index("</row>", start)
        cells = xml[start:end]
        # cells stay in column order: before J's (or at the end of the row)
        at = cells.find(f'<c r="J{row}"')
        at = len(cells) if at < 0 else at
        xml = xml[:start] + cells[:at] + cell + cells[at:] + xml[end:]
    parts["xl/worksheets/sheet1.xml"] = xml.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return path


def openpyxl_snapshot(path: Path) -> tuple[list, list, dict, list]:
    """What the backend read with openpyxl before calamine: values_only, rich text as text."""
    book = openpyxl.load_workbook(path, rich_text=True)

    def values(sheet, min_row=1):
        return [[str(v) if isinstance(v, CellRichText) else v for v in row]
                for row in sheet.iter_rows(min_row=min_row, values_only=True)]

    main = values(book[MAIN_HANT])
    tabs = {title: values(book[title]) for title in NAMES.summaries
            if title in book.sheetnames and book[title].auto_filter.ref}
    return main[0], main[1:], tabs, values(book[NAMES.log], min_row=2)


def cells(rows: list[list]) -> dict[tuple[int, int], object]:
    """Every cell holding a value, by (row, column): the shape of blank rows and columns aside."""
    return {(r, c): value for r, row in enumerate(rows) for c, value in enumerate(row) if value is not None}


@pytest.fixture(scope="module")
def crafted(tmp_path_factory):
    return crafted_workbook(tmp_path_factory.mktemp("read") / "log.xlsx")


@pytest.mark.parametrize("where, written, number_format, expected", CASES, ids=[case[0] for case in CASES])
def test_each_kind_of_cell_reads_as_openpyxl_read_it(crafted, where, written, number_format, expected):
    snapshot = WorkbookBackend(crafted, "中心").read(NAMES)
    column = openpyxl.utils.column_index_from_string(where.rstrip("0123456789")) - 1
    row = int(where.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")) - 2
    got = snapshot.rows[row][column]
    assert got == expected and type(got) is type(expected)
    header, rows, _, _ = openpyxl_snapshot(crafted)
    reference = rows[row][column]
    assert reference == got and type(reference) is type(got)


def test_the_whole_snapshot_matches_openpyxl_cell_for_cell(crafted):
    snapshot = WorkbookBackend(crafted, "中心").read(NAMES)
    header, rows, tabs, log_rows = openpyxl_snapshot(crafted)
    assert snapshot.header[:len(HEADERS)] == header[:len(HEADERS)] == HEADERS
    assert cells([snapshot.header]) == cells([header])
    assert cells(snapshot.rows) == cells(rows)
    assert len(snapshot.rows) == 9  # rows 2-10: row 14, with only a format, is not a row
    assert {title: cells(content) for title, content in snapshot.tabs.items()} == \
        {title: cells(content) for title, content in tabs.items()}
    assert list(snapshot.tabs) == [HANT.tab_title("supervisor_queue")]
    assert cells(snapshot.log_rows) == cells(log_rows)
    shared = [snapshot.rows[row][8] for row in range(3)]
    assert shared == ["=D4*2", "=D5*2", "=D6*2"] == [rows[row][8] for row in range(3)]


def test_blocked_rows_come_from_the_read_without_openpyxl(crafted, monkeypatch):
    loads = count_openpyxl_loads(monkeypatch)
    backend = WorkbookBackend(crafted, "中心")
    backend.read(NAMES)
    writes = [CellWrite(row, column, "x", "", "") for row in (2, 3, 4, 5) for column in (6, 7)]
    assert backend.blocked_rows(MAIN_HANT, writes) == {2: "formula", 3: "merged", 4: "merged"}
    assert loads == []


def test_a_cycle_with_nothing_to_write_never_loads_openpyxl(tmp_path, capsys, monkeypatch):
    from tests.test_workbook_e2e import mixed_rows

    build_workbook(tmp_path / "錦繡花園.xlsx", SHUFFLED_HANT, mixed_rows())
    config = write_config(tmp_path)
    assert run_at(capsys, config, "2026-03-10T09:00")[0] == 0  # the first cycle writes
    loads = count_openpyxl_loads(monkeypatch)
    code, out, err = run_at(capsys, config, "2026-03-10T09:05")  # read in full: the previous one wrote
    assert code == 0, err
    assert "無變更" not in out and loads == []


@pytest.mark.parametrize("kind", ["xls", "ods"])
def test_a_workbook_the_writer_could_not_write_is_refused_when_read(tmp_path, kind):
    """calamine reads an old .xls or an .ods too; openpyxl could never write them: refused at once."""
    import shutil
    import subprocess

    from automation.errors import SheetUnusableError

    if shutil.which("soffice") is None:
        pytest.skip("LibreOffice (soffice) is not installed: the .xls / .ods file cannot be made")
    source = crafted_workbook(tmp_path / "log.xlsx")
    subprocess.run(["soffice", "--headless", "--convert-to", kind, "--outdir", str(tmp_path / "out"), str(source)],
                   check=True, capture_output=True, timeout=180)
    converted = tmp_path / "out" / f"log.{kind}"
    with pytest.raises(SheetUnusableError, match=converted.name):
        WorkbookBackend(converted, "中心").read(NAMES)
