"""SPEC 4.1 "Presentation": the generated tabs as people read and print them, on a real .xlsx
(cell types, widths, wrapping, filter, print setup, links, highlight rules, the chart in the
package) and as batchUpdate requests on the Sheets API stand-in."""

from __future__ import annotations

import datetime as dt
import zipfile

import openpyxl
import pytest

from automation.domain import events
from automation.presentation import tab_formats
from tests.google_support import google_config, make_sheet, tab_rows as google_tab_rows
from tests.google_support import retry_clock  # noqa: F401  (autouse: retries on a fake clock)
from tests.test_workbook_e2e import make_center, mixed_rows
from tests.workbooks import HANT, MAIN_HANT, SHUFFLED_HANT, row, run_at, run_cli

NOW = "2026-03-10T09:00"


def flagged_rows() -> list[dict]:
    """The sample rows, a complaint due today (supervisor level) and an emergency."""
    return [*mixed_rows(),
            row("2026-03-03", 事由="保潔人員態度差，要求道歉並說明今後如何改進服務質量", 類別="投訴", 聯系電話="13812345678"),
            row("2026-03-09 20:40", 事由="地下室配電房冒煙", 類別="緊急", 處理情況="已啟動應急預案，通知消防")]


@pytest.fixture
def written(tmp_path, capsys):
    workbook, config = make_center(tmp_path, rows=flagged_rows())
    assert run_cli(capsys, "init", "--config", config)[0] == 0
    assert run_at(capsys, config, NOW)[0] == 0
    return workbook, openpyxl.load_workbook(workbook)


def column_of(sheet, header: str) -> int:
    return next(cell.column for cell in sheet[1] if cell.value == header)


def test_queue_cells_are_typed_fitted_wrapped_and_filtered(written):
    _, book = written
    sheet = book["主管隊列"]
    header = [c.value for c in sheet[1]]
    assert header == HANT.layout("queue") and header[-2:] == ["系統提示", "行號"]
    received, due, days = column_of(sheet, "接待日期"), column_of(sheet, "處理時限"), column_of(sheet, "已開天數")
    data = list(sheet.iter_rows(min_row=2))
    assert data, "the supervisor queue holds rows"
    dated = [r[received - 1] for r in data if r[received - 1].value is not None]
    assert all(c.is_date for c in dated)
    assert {c.number_format for c in dated} == {"yyyy-mm-dd", "yyyy-mm-dd hh:mm"}  # a time where staff gave one
    assert any(r[due - 1].is_date and r[due - 1].number_format == "yyyy-mm-dd" for r in data)
    assert all(r[days - 1].data_type == "n" for r in data if r[days - 1].value is not None)
    width = {c.value: sheet.column_dimensions[c.column_letter].width for c in sheet[1]}
    assert width["事由"] >= 30 and width["系統提示"] >= 30 and width["記錄編號"] >= 14 and width["接待日期"] >= 16
    matter = column_of(sheet, "事由")
    assert all(r[matter - 1].alignment.wrap_text for r in data)
    assert all(c.font.b for c in sheet[1])
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == f"A1:M{sheet.max_row}"
    # Numbers sit under their header: both take the column's alignment.
    assert sheet.cell(1, days).alignment.horizontal == data[0][days - 1].alignment.horizontal


def test_every_tab_prints_landscape_fitted_to_width_with_the_header_repeated(written):
    _, book = written
    for title in ("主管隊列", "經理隊列", "待審核", "待回訪", "週報", "季度復審", "運行日誌"):
        sheet = book[title]
        assert sheet.page_setup.orientation == "landscape", title
        assert (sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight) == (1, 0), title
        assert sheet.sheet_properties.pageSetUpPr.fitToPage, title
        assert sheet.print_title_rows == "$1:$1", title
        assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref, title


def test_record_ids_link_to_their_main_tab_row_as_plain_text(written):
    workbook, book = written
    main = book[MAIN_HANT]
    ids = {cell.value: cell.row for cell in main[chr(64 + column_of(main, "記錄編號"))][1:]}
    for title in ("主管隊列", "經理隊列", "待回訪"):
        sheet = book[title]
        rows = list(sheet.iter_rows(min_row=2))
        assert rows, title
        for cells in rows:
            link, sheet_row = cells[0], cells[-1].value
            assert link.data_type == "s" and not str(link.value).startswith("=")
            assert link.hyperlink.location == f"'{MAIN_HANT}'!A{sheet_row}"
            assert ids[link.value] == sheet_row
    assert "HYPERLINK" not in zipfile.ZipFile(workbook).read("xl/worksheets/sheet2.xml").decode()


def test_queues_highlight_due_and_flagged_rows_with_rules(written):
    _, book = written
    rules = [rule for cf in book["主管隊列"].conditional_formatting for rule in cf.rules]
    formulas = [rule.formula[0] for rule in rules]
    assert any("TODAY()" in f and "緊急" in f for f in formulas)  # both at once (LibreOffice applies one)
    assert any("TODAY()" in f and "緊急" not in f for f in formulas)
    assert any("投訴" in f and "TODAY()" not in f for f in formulas)
    assert all(tab_formats.RULE_MARK in f for f in formulas)
    manager = book["經理隊列"]
    assert "處理時限" not in [c.value for c in manager[1]]  # no deadline at manager level (SPEC 3.1)
    assert [rule.formula[0] for cf in manager.conditional_formatting for rule in cf.rules if "TODAY" in rule.formula[0]] == []


def test_weekly_report_has_numbers_under_headers_and_a_native_chart(written):
    workbook, book = written
    sheet = book["週報"]
    assert [c.value for c in sheet[1]] == HANT.layout("weekly")
    assert all(sheet.cell(r, 2).data_type == "n" for r in range(2, 10))
    assert sheet.auto_filter.ref == "A1:L9"  # the 8-week table, not the sections below it
    label_width = sheet.column_dimensions["A"].width
    labels = [sheet.cell(r, 1).value for r in range(2, sheet.max_row + 1) if sheet.cell(r, 1).value]
    assert all(tab_formats.text_width(str(v)) <= label_width or sheet.cell(1, 1).alignment.wrap_text for v in labels)
    assert len(sheet._charts) == 1
    names = zipfile.ZipFile(workbook).namelist()
    assert any(name.startswith("xl/charts/chart") for name in names)


def test_quarterly_figures_sit_under_their_quarter_and_problem_text_is_not_pushed_right(written):
    _, book = written
    sheet = book["季度復審"]
    quarters = [cell for cell in sheet[1][1:] if cell.value]
    figures = [sheet.cell(2, cell.column) for cell in quarters]
    assert all(isinstance(cell.value, (int, float)) for cell in figures)
    # A figure takes its quarter header's alignment (no number under the next header), and the
    # same column's text (a problem's 說明, wrapped) is centred, not right-aligned.
    assert {cell.alignment.horizontal for cell in quarters + figures} == {"center"}


def test_event_log_is_fitted_and_wrapped(written):
    _, book = written
    log = book["運行日誌"]
    assert log.column_dimensions["D"].width >= 60 and log.column_dimensions["A"].width >= 19
    assert log.freeze_panes == "A2" and all(c.font.b for c in log[1])
    assert all(r[3].alignment.wrap_text for r in log.iter_rows(min_row=2))


def test_main_tab_gets_overdue_highlighting_from_init_once(written, capsys, tmp_path):
    workbook, book = written
    main = book[MAIN_HANT]
    ours = [rule for cf in main.conditional_formatting for rule in cf.rules
            if tab_formats.OVERDUE_MARK in rule.formula[0]]
    assert len(ours) == 1 and "TODAY()" in ours[0].formula[0]
    before = workbook.read_bytes()
    code, out, _ = run_cli(capsys, "init", "--config", tmp_path / "config.toml")
    assert code == 0 and workbook.read_bytes() == before


def test_ids_assigned_over_years_split_into_details_of_at_most_1000_characters():
    start = dt.date(2023, 1, 1)
    ids = [f"R{(start + dt.timedelta(days=d)).strftime('%Y%m%d')}-{n:03d}" for d in range(0, 1200, 2) for n in (1, 2, 4)]
    details = events.describe_new_id_rows(ids)
    assert len(details) > 5 and all(len(d) <= 1000 for d in details)
    assert details[0].startswith(f"{len(ids)} 個：") and details[1].startswith("（續）")
    log = [["t", "分配記錄編號", "", detail] for detail in details]
    highest = events.issued_from_log(log)
    assert len(highest) == 600 and set(highest.values()) == {4}


# --- Google Sheets ----------------------------------------------------------------------------

def batch_requests(standin) -> list[dict]:
    return [r for w in standin.requests_of("spreadsheets.batchUpdate") for r in w.body["requests"]]


def test_google_tabs_get_the_same_presentation_and_keep_it_without_resending(sheets_standin, service_account,
                                                                            tmp_path, capsys):
    sid = make_sheet(sheets_standin, service_account.email, SHUFFLED_HANT, flagged_rows())
    config = google_config(tmp_path, sheets_standin.base_url, service_account.path, sid)
    assert run_at(capsys, config, NOW)[0] == 0
    assert not sheets_standin.unsupported_requests
    sent = batch_requests(sheets_standin)
    kinds = [next(iter(r)) for r in sent]
    metadata = sheets_standin.metadata(sid)
    sheets = {s["properties"]["title"]: s for s in metadata["sheets"]}
    main_id = sheets[MAIN_HANT]["properties"]["sheetId"]
    for title in ("主管隊列", "經理隊列", "待審核", "待回訪", "週報", "季度復審", "運行日誌"):
        assert "basicFilter" in sheets[title], title
        assert sheets[title]["properties"]["gridProperties"]["frozenRowCount"] == 1, title
    assert len(sheets["週報"].get("charts", [])) == 1 and len(sheets["季度復審"].get("charts", [])) == 1
    assert kinds.count("addChart") == 2
    chart = sheets["週報"]["charts"][0]["spec"]["basicChart"]
    assert len(chart["series"]) == 4 and chart["headerCount"] == 1
    assert_quarters_chart(sheets["季度復審"], google_tab_rows(sheets_standin, sid, "季度復審"))
    queue_id = sheets["主管隊列"]["properties"]["sheetId"]
    rules = [_formula(r) for r in sheets["主管隊列"].get("conditionalFormats", [])]
    assert any("TODAY()" in f for f in rules) and any("投訴" in f for f in rules)
    # Dates are date cells, each record id links to its row of the main tab.
    cells = [cell for r in sent if "updateCells" in r and r["updateCells"].get("range", {}).get("sheetId") == queue_id
             for data in r["updateCells"]["rows"] for cell in data.get("values", [])]
    assert any(c.get("userEnteredFormat", {}).get("numberFormat", {}).get("pattern") == "yyyy-mm-dd hh:mm" for c in cells)
    links = [c["userEnteredFormat"]["textFormat"]["link"]["uri"] for c in cells
             if "link" in c.get("userEnteredFormat", {}).get("textFormat", {})]
    queue = google_tab_rows(sheets_standin, sid, "主管隊列")
    assert links == [f"#gid={main_id}&range=A{r[-1]}" for r in queue[1:]]
    assert all("formulaValue" not in c.get("userEnteredValue", {}) for c in cells)
    assert isinstance(queue[1][1], (int, float))  # a date cell reads back as a serial number

    # The next day: content changes, the formats that are as wanted are not sent again.
    sheets_standin.reset_log()
    assert run_at(capsys, config, "2026-03-11T09:00")[0] == 0
    again = [next(iter(r)) for r in batch_requests(sheets_standin)]
    assert "addChart" not in again and "addConditionalFormatRule" not in again
    assert "deleteConditionalFormatRule" not in again
    # And an idle re-run writes nothing.
    sheets_standin.reset_log()
    assert run_at(capsys, config, "2026-03-11T09:05")[0] == 0
    assert sheets_standin.requests_of("spreadsheets.batchUpdate") == []


def assert_quarters_chart(sheet: dict, rows: list[list]) -> None:
    """季度復審's chart: the quarters across (row 0, the value column of each: not its change), one
    series per figure row, each range set reaching back to column A, which names the series."""
    chart = sheet["charts"][0]["spec"]["basicChart"]
    sheet_id = sheet["properties"]["sheetId"]

    def sources(row: int) -> list[tuple]:
        return [(s.get("sheetId", 0), s["startRowIndex"], s["endRowIndex"], s["startColumnIndex"], s["endColumnIndex"])
                for s in row["sourceRange"]["sources"]]

    def over(row: int) -> list[tuple]:
        return [(sheet_id, row, row + 1, 0, 2), (sheet_id, row, row + 1, 3, 4), (sheet_id, row, row + 1, 5, 6),
                (sheet_id, row, row + 1, 7, 8)]

    assert chart["headerCount"] == 1
    assert sources(chart["domains"][0]["domain"]) == over(0)
    assert [str(rows[0][c]) for c in (1, 3, 5, 7)] == ["2025-Q2", "2025-Q3", "2025-Q4", "2026-Q1（本季）"]
    first_cells = [row[0] if row else "" for row in rows]
    wanted = [first_cells.index(name) for name in ("接待數", "前臺完成數", "升級主管數", "至今未完成數")]
    assert [sources(series["series"]) for series in chart["series"]] == [over(row) for row in wanted]


def _formula(rule: dict) -> str:
    return rule["booleanRule"]["condition"]["values"][0]["userEnteredValue"]


def test_a_tab_written_before_tabs_were_formatted_is_rewritten_once(written, capsys, tmp_path):
    """A tab without the worker's filter (an older version wrote it) is rewritten with its
    formats at the next run, though its content did not change; then left alone."""
    workbook, book = written
    plain = book["週報"]
    plain.auto_filter.ref = None
    plain.page_setup.orientation = "portrait"
    book.save(workbook)
    config = tmp_path / "config.toml"
    assert run_at(capsys, config, "2026-03-10T09:05")[0] == 0
    again = openpyxl.load_workbook(workbook)["週報"]
    assert again.auto_filter.ref == "A1:L9" and again.page_setup.orientation == "landscape"
    settled = workbook.read_bytes()
    assert run_at(capsys, config, "2026-03-10T09:10")[0] == 0
    assert workbook.read_bytes() == settled


@pytest.mark.parametrize("index, letters", [(0, "A"), (25, "Z"), (26, "AA"), (701, "ZZ"), (702, "AAA"), (16383, "XFD")])
def test_column_letters_and_index_undo_each_other(index, letters):
    assert tab_formats.column_letters(index) == letters
    assert tab_formats.column_index(letters) == index
