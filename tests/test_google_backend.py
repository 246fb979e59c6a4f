"""The Google Sheets backend end to end: the real CLI, the real gspread client and the real
google-auth service-account token flow, against the local Sheets API stand-in (tests/standin/).

Mirrors the key cases of test_workbook_e2e.py on a Google sheet, then what only Google has:
request economy (exact counts per cycle kind, printed with -s), errors of credentials and
sharing, retries within a time budget (on an injected clock: nothing really waits).
Live edits and the 10 MB split are in test_google_live_edits.py / test_google_limits.py.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest

from automation.adapters.google import http as google_http
from automation.config import load_config
from automation.application.all_centers import CycleRunner, state_dir_of
from tests.google_support import (
    FakeRetryClock, count_requests, google_config, log_rows, make_sheet, records, staff_cells, tab_rows,
)
from tests.test_workbook_e2e import WORKED_EXAMPLES, mixed_rows
from tests.workbooks import MAIN_HANT, SHUFFLED_HANT, row, run_at, run_cli
from tests.google_support import retry_clock  # noqa: F401  (autouse: retries on a fake clock)

NOW = "2026-03-10T09:00"
GENERATED_HANT = ["主管隊列", "經理隊列", "待審核", "待回訪", "週報", "季度復審", "運行日誌"]
WORKER_HANT = ["記錄編號", "當前負責人", "狀態", "處理時限", "系統提示"]



@pytest.fixture
def center(sheets_standin, service_account, tmp_path):
    """A sheet with the mixed sample rows, and a config pointing at it."""
    def make(rows=None, headers=SHUFFLED_HANT, **options):
        sid = make_sheet(sheets_standin, service_account.email, headers, mixed_rows() if rows is None else rows,
                         **options)
        return sid, google_config(tmp_path, sheets_standin.base_url, service_account.path, sid)
    return make


def no_error(err: str) -> bool:
    """stderr holds no error."""
    return "錯誤" not in err


# --- the same behaviour as the local workbook ------------------------------------------------

def test_spec_3_3_worked_examples_on_google(sheets_standin, center, capsys):
    """SPEC 3.3: the worked-example table, read back from the Google sheet after one run."""
    rows = [row(received, 事由=f"例{n}", **cells) for n, (received, cells, *_) in enumerate(WORKED_EXAMPLES, 1)]
    sid, config = center(rows)
    code, out, err = run_at(capsys, config, NOW)
    assert code == 0 and no_error(err), err
    got = records(sheets_standin, sid)
    assert len(got) == len(WORKED_EXAMPLES)
    for n, (record, (_, _, status, role, due, note)) in enumerate(zip(got, WORKED_EXAMPLES), 1):
        assert record["事由"] == f"例{n}"
        assert (record["狀態"], record["處理時限"], record["系統提示"]) == (status, due, note), f"例{n}"
        assert record["當前負責人"].startswith(role), f"例{n}"
    assert got[2]["當前負責人"] == "客服主管（王敏）" and got[4]["當前負責人"] == "經理（李強）"
    # 資料不全 (no 處理時限) first, then the earliest 處理時限 (SPEC 4.1).
    assert [r[0] for r in tab_rows(sheets_standin, sid, "主管隊列")[1:]] == [
        got[10]["記錄編號"], got[3]["記錄編號"], got[2]["記錄編號"]]
    assert [r[0] for r in tab_rows(sheets_standin, sid, "經理隊列")[1:]] == [got[4]["記錄編號"]]


def test_spec_2_2_only_worker_cells_and_generated_tabs_are_written(sheets_standin, center, capsys):
    """SPEC 2.2: worker columns are added at the right end and the generated tabs after staff's
    tabs; every staff cell (value, format, validation) and staff tab stays as it was; every
    value the worker writes is a plain value (stringValue / numberValue), never a formula."""
    sid, config = center()
    before = staff_cells(sheets_standin, sid)
    code, out, err = run_at(capsys, config, NOW)
    assert code == 0 and no_error(err), err
    assert staff_cells(sheets_standin, sid) == before
    assert sheets_standin.sheet_titles(sid) == [MAIN_HANT, "值班表", *GENERATED_HANT]
    assert sheets_standin.get_values(sid, MAIN_HANT)[0] == SHUFFLED_HANT + WORKER_HANT
    written = [req.body for req in sheets_standin.requests_of("spreadsheets.batchUpdate")]
    assert "formulaValue" not in json.dumps(written, ensure_ascii=False)
    assert "寫入" in out and "錦繡花園服務中心" in out


def test_spec_2_1_dates_as_google_keeps_them(sheets_standin, center, capsys):
    """SPEC 2.1 on Google: date cells (serial numbers with a date format), date-time cells, bare
    serial numbers and text dates are all read as 接待日期 / 完成日期."""
    sid, config = center()
    assert run_at(capsys, config, NOW)[0] == 0
    got = {r["事由"]: r for r in records(sheets_standin, sid)}
    assert [got[m]["記錄編號"] for m in ("樓道燈不亮", "電梯異響", "車位被佔", "物業費發票", "外牆滲水")] == [
        "R20260310-001", "R20260308-001", "R20260307-001", "R20260303-001", "R20260302-001"]
    assert [r["狀態"] for r in got.values()] == [
        "處理中", "已轉部門", "已升級主管", "已升級主管", "已升級經理", "已完成", "已完成"]


def test_spec_4_1_idle_rerun_writes_nothing_and_logs_nothing(sheets_standin, center, capsys):
    """SPEC 4.1: a second run with nothing new sends no write at all: it reads (layout, values),
    because the first one wrote (SPEC 7); the third only asks Drive: 0 Sheets requests."""
    sid, config = center()
    assert run_at(capsys, config, NOW)[0] == 0
    first_log = log_rows(sheets_standin, sid)
    with count_requests(sheets_standin, "rerun after a write: full read") as tally:
        code, out, err = run_at(capsys, config, "2026-03-10T17:45")
    assert code == 0 and no_error(err), err
    assert tally.by_kind == {"drive.files.get": 1, "spreadsheets.get": 1, "values.batchGet": 1}
    assert log_rows(sheets_standin, sid) == first_log
    assert "寫入 0 個儲存格" in out and "日誌" not in out
    with count_requests(sheets_standin, "idle one-shot run") as idle:
        code, out, err = run_at(capsys, config, "2026-03-10T17:50")
    assert code == 0 and no_error(err), err
    assert idle.by_kind == {"drive.files.get": 1}
    assert log_rows(sheets_standin, sid) == first_log


def test_spec_2_2_staff_edit_of_a_worker_cell_is_overwritten(sheets_standin, center, capsys):
    sid, config = center()
    run_at(capsys, config, NOW)
    status_column = chr(ord("A") + SHUFFLED_HANT.__len__() + 2)  # 狀態 is the 3rd worker column
    sheets_standin.set_cell(sid, MAIN_HANT, f"{status_column}2", "已完成")
    before = staff_cells(sheets_standin, sid)
    with count_requests(sheets_standin, "one cell to fix") as tally:
        assert run_at(capsys, config, "2026-03-10T09:05")[0] == 0
    assert records(sheets_standin, sid)[0]["狀態"] == "處理中"
    assert staff_cells(sheets_standin, sid) == before
    assert tally.by_kind == {"drive.files.get": 1, "spreadsheets.get": 1, "values.batchGet": 2,
                             "spreadsheets.batchUpdate": 1}
    update = sheets_standin.requests_of("spreadsheets.batchUpdate")[-1].body["requests"]
    cells = {(r["updateCells"]["start"]["rowIndex"], r["updateCells"]["start"]["columnIndex"]): r["updateCells"]["rows"]
             for r in update if "updateCells" in r}
    status = SHUFFLED_HANT.__len__() + 2
    assert cells[(1, status)] == [{"values": [{"userEnteredValue": {"stringValue": "處理中"}}]}]
    assert all(row == 1 and column >= len(SHUFFLED_HANT) for row, column in cells)  # that row's worker cells only


def test_spec_2_2_ids_follow_rows_through_insert_and_sort_between_runs(sheets_standin, center, capsys):
    """SPEC 2.2: ids stay with their rows when staff insert a row and sort between runs."""
    sid, config = center([row("2026-03-09", 事由=f"事項{n}", 房號=f"1-{n:03d}") for n in range(1, 5)])
    run_at(capsys, config, NOW)
    ids = {r["事由"]: r["記錄編號"] for r in records(sheets_standin, sid)}
    assert ids == {f"事項{n}": f"R20260309-00{n}" for n in range(1, 5)}
    sheets_standin.sort_rows(sid, MAIN_HANT, "房號", descending=True)
    inserted = [None] * len(SHUFFLED_HANT)
    for key, value in row("2026-03-09", 事由="插入的事項", 房號="9-999").items():
        inserted[SHUFFLED_HANT.index(key)] = value
    sheets_standin.insert_rows(sid, MAIN_HANT, 2, [inserted])
    assert run_at(capsys, config, "2026-03-10T10:00")[0] == 0
    after = records(sheets_standin, sid)
    assert {r["事由"]: r["記錄編號"] for r in after} == {**ids, "插入的事項": "R20260309-005"}
    assert [r["事由"] for r in after] == ["事項4", "插入的事項", "事項3", "事項2", "事項1"]


def test_spec_3_2_copied_row_with_its_id_is_renumbered(sheets_standin, center, capsys):
    """SPEC 3.2: a row copied with its id: the later row gets a new id and a note."""
    sid, config = center([row("2026-03-09", 事由="原始")])
    run_at(capsys, config, NOW)
    original = sheets_standin.get_values(sid, MAIN_HANT, "A2:W2", render="UNFORMATTED_VALUE")[0]
    copied = list(original)
    copied[SHUFFLED_HANT.index("事由")] = "複製後改寫"
    sheets_standin.set_values(sid, MAIN_HANT, "A3", [copied])
    assert run_at(capsys, config, "2026-03-10T10:00")[0] == 0
    first, second = records(sheets_standin, sid)
    assert (first["記錄編號"], first["系統提示"]) == ("R20260309-001", None)
    assert second["記錄編號"] == "R20260309-002" and "記錄編號重複，已重新編號" in second["系統提示"]


def test_spec_4_1_formula_looking_text_is_written_as_text(sheets_standin, center, capsys):
    """SPEC 4.1: staff text starting with '=' is copied to the queues as stringValue: it stays
    inert text, it is not evaluated."""
    matter = '=HYPERLINK("http://example.com","點我")'
    sid, config = center([row("2026-03-05", 事由=matter, 責任部門="=1+1"), row("2026-03-09", 事由="=SUM(1,2)")])
    assert run_at(capsys, config, NOW)[0] == 0
    queue = tab_rows(sheets_standin, sid, "主管隊列")
    assert matter in queue[1] and "=1+1" in queue[1]
    column = queue[0].index("事由")
    cell = sheets_standin.cell_data(sid, "主管隊列", f"{chr(65 + column)}2")
    assert cell["userEnteredValue"] == {"stringValue": matter}
    review = tab_rows(sheets_standin, sid, "待審核")
    assert ["=SUM(1,2)"] == [c for r in review[1:] for c in r if c == "=SUM(1,2)"]


def test_spec_4_1_phones_masked_outside_the_main_tab(sheets_standin, center, capsys):
    sid, config = center()
    run_at(capsys, config, NOW)
    for title in GENERATED_HANT:
        text = str(tab_rows(sheets_standin, sid, title))
        assert "13812345678" not in text and "13987654321" not in text, title
    assert "138****5678" in str(tab_rows(sheets_standin, sid, "主管隊列"))


def test_spec_5_dry_run_reads_only(sheets_standin, center, capsys):
    sid, config = center()
    before = sheets_standin.get_values(sid, MAIN_HANT)
    with count_requests(sheets_standin, "dry run") as tally:
        code, out, err = run_at(capsys, config, NOW, "--dry-run")
    assert code == 0 and "試運行" in out and "R20260310-001" in out
    assert tally.by_kind == {"spreadsheets.get": 1, "values.batchGet": 1}
    assert sheets_standin.get_values(sid, MAIN_HANT) == before


def test_spec_5_1_language_switch_renames_tabs_and_keeps_id_memory(sheets_standin, service_account, tmp_path,
                                                                   capsys):
    """SPEC 5.1 / 2.2: after `language` is switched, the generated tabs kept under the old
    spelling are read as the worker's memory and renamed with the next write, not duplicated."""
    sid = make_sheet(sheets_standin, service_account.email, SHUFFLED_HANT,
                     [row("2026-03-09", 事由=f"事項{n}") for n in (1, 2)])
    hant = google_config(tmp_path, sheets_standin.base_url, service_account.path, sid)
    run_at(capsys, hant, NOW)
    sheets_standin.delete_rows(sid, MAIN_HANT, 2)  # R20260309-002
    sheets_standin.append_rows(sid, MAIN_HANT, [[{"房號": "1-101", "事由": "新事項", "接待日期": "2026-03-09",
                                                 "業主姓名": "王"}.get(h) for h in SHUFFLED_HANT]])
    hans = google_config(tmp_path, sheets_standin.base_url, service_account.path, sid, language="zh-Hans",
                         file_name="hans.toml")
    code, out, err = run_at(capsys, hans, "2026-03-10T10:00")
    assert code == 0 and no_error(err), err
    assert [r["记录编号"] for r in records(sheets_standin, sid)] == ["R20260309-001", "R20260309-003"]  # respelled
    titles = sheets_standin.sheet_titles(sid)
    assert "运行日志" in titles and "運行日誌" not in titles and "周报" in titles and "週報" not in titles


# --- request economy (issue 4 point 2) -------------------------------------------------------

def test_request_counts_per_cycle_kind(sheets_standin, service_account, tmp_path, capsys):
    """Exact requests per cycle (token requests are not Sheets requests). Every cycle first asks
    Drive for modifiedTime (1 Drive request, SPEC 7). One-shot run with changes and messages
    2+2+2 Sheets (the worker lease is written before the first message goes out and given up
    with their record: +1, see adapters/google/lease.py); the run after it reads again (it
    wrote) 2, then idle 0; under `serve` (the backend kept) the first cycle 2+1 (its lease
    written once), the next reads again 1, idle 0, with changes 1+2, and 1 to give the lease
    up at the end."""
    sid = make_sheet(sheets_standin, service_account.email, SHUFFLED_HANT, mixed_rows())
    config_path = google_config(tmp_path, sheets_standin.base_url, service_account.path, sid)
    with count_requests(sheets_standin, "one-shot run: changes + messages") as first:
        assert run_at(capsys, config_path, NOW)[0] == 0
    assert first.by_kind == {"drive.files.get": 1, "spreadsheets.get": 1, "values.batchGet": 2,
                             "spreadsheets.batchUpdate": 3}
    with count_requests(sheets_standin, "one-shot run: after a write") as after_write:
        assert run_at(capsys, config_path, "2026-03-10T09:05")[0] == 0
    assert after_write.by_kind == {"drive.files.get": 1, "spreadsheets.get": 1, "values.batchGet": 1}
    with count_requests(sheets_standin, "one-shot run: idle") as idle_run:
        assert run_at(capsys, config_path, "2026-03-10T09:06")[0] == 0
    assert idle_run.by_kind == {"drive.files.get": 1}

    config = load_config(config_path)
    shutil.rmtree(state_dir_of(config))  # state lost: serve's first cycle reads in full
    runner = CycleRunner(config, command="serve", keep=True)
    try:
        now = dt.datetime(2026, 3, 10, 9, 10, tzinfo=config.timezone)
        with count_requests(sheets_standin, "serve, first cycle (layout fetched)") as serve_first:
            outcome, = runner.run_cycle(now)
        with count_requests(sheets_standin, "serve, after its write") as serve_after:
            runner.run_cycle(now + dt.timedelta(minutes=4))
        with count_requests(sheets_standin, "serve, idle cycle") as serve_idle:
            outcome2, = runner.run_cycle(now + dt.timedelta(minutes=5))
        sheets_standin.set_values(sid, MAIN_HANT, "A9", [[{"房號": "2-202", "事由": "新來訪", "接待日期": "2026-03-10",
                                                          "業主姓名": "趙"}.get(h) for h in SHUFFLED_HANT]])
        with count_requests(sheets_standin, "serve, cycle with changes") as serve_changes:
            outcome3, = runner.run_cycle(now + dt.timedelta(minutes=10))
        with count_requests(sheets_standin, "serve, idle again") as serve_idle2:
            outcome4, = runner.run_cycle(now + dt.timedelta(minutes=15))
    finally:
        with count_requests(sheets_standin, "serve stops: lease given up") as stopping:
            runner.close()
    assert all(o.exit_code == 0 for o in (outcome, outcome2, outcome3, outcome4))
    assert serve_first.by_kind == {"drive.files.get": 1, "spreadsheets.get": 1, "values.batchGet": 1,
                                   "spreadsheets.batchUpdate": 1}
    assert outcome.api_requests == 3 and outcome.drive_requests == 1
    assert serve_after.by_kind == {"drive.files.get": 1, "values.batchGet": 1}
    assert serve_idle.by_kind == {"drive.files.get": 1} and outcome2.api_requests == 0 and outcome2.result.idle
    assert serve_changes.by_kind == {"drive.files.get": 1, "values.batchGet": 2, "spreadsheets.batchUpdate": 1}
    assert outcome3.api_requests == 3
    assert serve_idle2.by_kind == {"drive.files.get": 1, "values.batchGet": 1}  # after its write
    assert stopping.by_kind == {"spreadsheets.batchUpdate": 1}
    assert records(sheets_standin, sid)[-1]["記錄編號"] == "R20260310-002"


# --- errors a user can cause (SPEC 5 exit codes) ---------------------------------------------

def test_missing_required_header_exits_3_and_writes_nothing(sheets_standin, center, capsys):
    sid, config = center(headers=[h for h in SHUFFLED_HANT if h != "房號"])
    before = sheets_standin.get_values(sid, MAIN_HANT)
    code, out, err = run_at(capsys, config, NOW)
    assert code == 3 and "「房號」" in err and f"分頁「{MAIN_HANT}」" in err
    assert not sheets_standin.requests_of("spreadsheets.batchUpdate")
    assert sheets_standin.get_values(sid, MAIN_HANT) == before


def test_missing_main_tab_exits_3(sheets_standin, center, capsys):
    sid, config = center(title="Sheet1")
    code, out, err = run_at(capsys, config, NOW)
    assert code == 3 and f"沒有分頁「{MAIN_HANT}」" in err
    assert not sheets_standin.requests_of("spreadsheets.batchUpdate")


def test_not_shared_exits_3_naming_the_service_account(sheets_standin, service_account, tmp_path, capsys):
    sid = make_sheet(sheets_standin, None, SHUFFLED_HANT, mixed_rows())
    config = google_config(tmp_path, sheets_standin.base_url, service_account.path, sid)
    code, out, err = run_at(capsys, config, NOW)
    assert code == 3
    assert service_account.email in err and "共用" in err


def test_read_only_sharing_exits_3_when_writing(sheets_standin, service_account, tmp_path, capsys):
    sid = make_sheet(sheets_standin, None, SHUFFLED_HANT, mixed_rows())
    sheets_standin.share(sid, service_account.email, "reader")
    config = google_config(tmp_path, sheets_standin.base_url, service_account.path, sid)
    code, out, err = run_at(capsys, config, NOW)
    assert code == 3 and service_account.email in err and "編輯者" in err


def test_unknown_spreadsheet_exits_3(sheets_standin, service_account, tmp_path, capsys):
    config = google_config(tmp_path, sheets_standin.base_url, service_account.path, "1NoSuchSheetXXXXXXXXXXXX")
    code, out, err = run_at(capsys, config, NOW)
    assert code == 3 and "找不到試算表 1NoSuchSheetXXXXXXXXXXXX" in err and "spreadsheet" in err


def test_spreadsheet_may_be_given_as_its_url(sheets_standin, service_account, tmp_path, capsys):
    sid = make_sheet(sheets_standin, service_account.email, SHUFFLED_HANT, mixed_rows())
    url = f"https://docs.google.com/spreadsheets/d/{sid}/edit#gid=0"
    config = google_config(tmp_path, sheets_standin.base_url, service_account.path, url)
    assert run_at(capsys, config, NOW)[0] == 0
    assert records(sheets_standin, sid)[0]["記錄編號"] == "R20260310-001"


@pytest.mark.parametrize("content, expected", [
    (None, "不存在"),
    ("{not json", "不是有效的 JSON"),
    (json.dumps({"type": "authorized_user", "client_id": "x"}), "不是服務帳號金鑰"),
    (json.dumps({"type": "service_account", "client_email": "a@b.iam.gserviceaccount.com",
                 "token_uri": "http://127.0.0.1:1/token"}), "缺少 private_key"),
    (json.dumps({"type": "service_account", "client_email": "a@b.iam.gserviceaccount.com", "private_key": "nope",
                 "token_uri": "http://127.0.0.1:1/token"}), "private_key 無法讀取"),
])
def test_bad_key_file_exits_2_naming_the_config_key_and_path(sheets_standin, tmp_path, capsys, content, expected):
    sid = make_sheet(sheets_standin, None, SHUFFLED_HANT, mixed_rows())
    key_file = tmp_path / "key.json"
    if content is not None:
        key_file.write_text(content, encoding="utf-8")
    config = google_config(tmp_path, sheets_standin.base_url, key_file, sid)
    code, out, err = run_at(capsys, config, NOW)
    assert code == 2
    assert "centers[1]（錦繡花園服務中心）.credentials" in err and str(key_file) in err and expected in err
    assert "PRIVATE KEY" not in err and "nope" not in err


def test_revoked_key_exits_2_credentials_rejected(sheets_standin, service_account, center, capsys):
    sid, config = center()
    sheets_standin.revoke_key(service_account.key_id)
    code, out, err = run_at(capsys, config, NOW)
    assert code == 2 and "credentials rejected" in err and service_account.email in err
    assert "ya29." not in err and "PRIVATE KEY" not in err
    assert not sheets_standin.requests_of("spreadsheets.get")


def test_bad_api_endpoint_exits_2(sheets_standin, service_account, tmp_path, capsys):
    config = google_config(tmp_path, "ftp://example/v4", service_account.path, "1AbcdefghijklmnopXYZ")
    code, out, err = run_at(capsys, config, NOW)
    assert code == 2 and "api_endpoint" in err


# --- faults: timeouts, retries within a budget (issue 4 point 4) ------------------------------

def test_a_few_429s_then_success(sheets_standin, center, capsys, retry_clock):
    """Quota refusals are retried with growing pauses; the run then succeeds."""
    sid, config = center()
    sheets_standin.inject_fault(429, count=3)
    code, out, err = run_at(capsys, config, NOW)
    assert code == 0 and no_error(err), err
    assert records(sheets_standin, sid)[0]["記錄編號"] == "R20260310-001"
    assert retry_clock.sleeps == [0.75, 1.5, 3.0]  # 1, 2, 4 s scaled by the (fixed) jitter 0.75
    assert sheets_standin.stats.statuses[429] == 3


def test_503_storm_beyond_the_budget_exits_4_and_writes_nothing(sheets_standin, center, capsys, retry_clock):
    sid, config = center()
    before = sheets_standin.get_values(sid, MAIN_HANT)
    sheets_standin.inject_fault(503, count=1000)
    code, out, err = run_at(capsys, config, NOW)
    assert code == 4 and "HTTP 503" in err and "下次運行重試" in err
    assert sum(retry_clock.sleeps) <= 60 and len(retry_clock.sleeps) >= 5
    sheets_standin.clear_faults()
    assert sheets_standin.get_values(sid, MAIN_HANT) == before


def test_token_endpoint_down_exits_4(sheets_standin, center, capsys, retry_clock):
    sid, config = center()
    sheets_standin.inject_fault(503, count=1000, kinds="token")
    code, out, err = run_at(capsys, config, NOW)
    assert code == 4 and "權杖端點" in err
    assert sum(retry_clock.sleeps) <= 60
    assert not sheets_standin.requests_of("spreadsheets.get")


def test_a_write_applied_but_answered_503_is_not_applied_twice(sheets_standin, center, capsys):
    """A batchUpdate that Google applied but answered with an error (a 5xx, a lost response) is
    recognised by its marker: the log rows are not appended a second time."""
    sid, config = center()
    sheets_standin.inject_fault(503, count=1, kinds="spreadsheets.batchUpdate", after_apply=True)
    code, out, err = run_at(capsys, config, NOW)
    assert code == 0 and no_error(err), err
    log = log_rows(sheets_standin, sid)
    assert [r[1] for r in log].count("分配記錄編號") == 1
    assert len(log) == len({tuple(r) for r in log})
    # The marker check cost one layout read; the write itself was sent once.
    assert len(sheets_standin.requests_of("spreadsheets.get")) == 2


def test_a_write_lost_with_a_503_before_applying_is_sent_again(sheets_standin, center, capsys):
    sid, config = center()
    sheets_standin.inject_fault(503, count=1, kinds="spreadsheets.batchUpdate")
    code, out, err = run_at(capsys, config, NOW)
    assert code == 0 and no_error(err), err
    assert [r[1] for r in log_rows(sheets_standin, sid)].count("分配記錄編號") == 1
    assert records(sheets_standin, sid)[0]["記錄編號"] == "R20260310-001"


def test_a_hanging_request_times_out_and_is_retried(sheets_standin, center, capsys, monkeypatch, retry_clock):
    """Every request has a read timeout; a hanging read is abandoned and tried again."""
    monkeypatch.setattr(google_http, "DEFAULT_RETRY", retry_clock.policy(read_timeout=0.3))
    sid, config = center()
    sheets_standin.inject_delay(3.0, count=1, kinds="values.batchGet")
    code, out, err = run_at(capsys, config, NOW)
    assert code == 0 and no_error(err), err
    assert len(retry_clock.sleeps) == 1
    assert records(sheets_standin, sid)[0]["記錄編號"] == "R20260310-001"


def test_one_center_unreachable_does_not_stop_the_other(sheets_standin, service_account, tmp_path, capsys):
    good = make_sheet(sheets_standin, service_account.email, SHUFFLED_HANT, mixed_rows())
    config = google_config(tmp_path, sheets_standin.base_url, service_account.path, good, centers=[
        {"name": "甲中心", "spreadsheet": good},
        {"name": "乙中心", "spreadsheet": "1AbcdefghijklmnopXYZ", "api_endpoint": "http://127.0.0.1:9"},
    ])
    code, out, err = run_at(capsys, config, NOW)
    assert code == 4 and "乙中心" in err and "甲中心：讀取 7 行" in out
    assert records(sheets_standin, good)[0]["記錄編號"] == "R20260310-001"


def test_request_count_is_exposed_by_the_backend(sheets_standin, center, capsys):
    from automation import wiring

    sid, config_path = center()
    config = load_config(config_path)
    backend = wiring.backend_for(config.centers[0], config)
    assert backend.request_count == 0
    assert backend.describe() == f"Google 試算表 {sid}"
    run_cli(capsys, "run", "--config", config_path, "--now", NOW)
    assert backend.request_count == 0  # another instance made those


# --- a Sheets service without developer metadata -------------------------------------------

METADATA_KINDS = {"createDeveloperMetadata", "updateDeveloperMetadata", "deleteDeveloperMetadata"}


def test_a_service_without_developer_metadata_still_gets_every_write(sheets_standin, center, capsys):
    """The write marker and the lease live in developer metadata. A Sheets service that refuses
    it (a more limited stand-in) still gets the whole procedure: the first write is sent again
    without them, a warning says the sheet cannot be locked, and later cycles send no metadata."""
    sheets_standin.disabled_request_kinds |= METADATA_KINDS
    rows = [row(received, 事由=f"例{n}", **cells) for n, (received, cells, *_) in enumerate(WORKED_EXAMPLES, 1)]
    sid, config = center(rows)
    code, out, err = run_at(capsys, config, NOW)
    assert code == 0, err
    got = records(sheets_standin, sid)
    assert [r["狀態"] for r in got] == [status for _, _, status, *_ in WORKED_EXAMPLES]
    assert log_rows(sheets_standin, sid), "the event log was written"
    assert sheets_standin.developer_metadata(sid) == []
    # The next cycles (a day later: escalations, a digest) write and record without refusals.
    refused = sum(sheets_standin.unsupported_requests.values())
    code, out, err = run_at(capsys, config, "2026-03-11T09:00")
    assert code == 0, err
    assert sum(sheets_standin.unsupported_requests.values()) <= refused + 1  # at most the lease probe
    assert [r["狀態"] for r in records(sheets_standin, sid)][1] == "已升級主管"
    assert any("郵件已發送" in str(r[1]) for r in log_rows(sheets_standin, sid))


def test_init_on_a_service_without_developer_metadata(sheets_standin, center, capsys):
    """`init` needs no developer metadata either; a second init changes nothing."""
    sheets_standin.disabled_request_kinds |= METADATA_KINDS
    sid, config = center()
    code, out, err = run_cli(capsys, "init", "--config", config)
    assert code == 0, err
    assert "記錄編號" in sheets_standin.get_values(sid, MAIN_HANT)[0]
    code, out, err = run_cli(capsys, "init", "--config", config)
    assert code == 0 and "無需修改" in out, out + err
