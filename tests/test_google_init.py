"""`init` on a Google sheet (SPEC 5, 2.2; issue 4 point 5), through the real CLI.

Creates missing tabs and columns, freezes the header row, adds drop-downs and date validation,
highlights overdue rows, sets the access of SPEC 2.2 as protected ranges — and a second `init`
changes nothing. The access is then enforced: another account may not edit the manager's
columns (the stand-in enforces protected-range editors as Google does).
"""

from __future__ import annotations

import pytest

from automation.adapters.google import http as google_http
from tests.google_support import FakeRetryClock, google_config, make_sheet, records
from tests.standin.pytest_plugin import make_gspread_client
from tests.standin.service_account import make_service_account_file
from tests.workbooks import MAIN_HANT, SHUFFLED_HANT, row, run_at, run_cli
from tests.google_support import retry_clock  # noqa: F401  (autouse: retries on a fake clock)

MANAGER = "li.qiang@example.com"
SUPERVISOR = "wang.min@example.com"
GENERATED_HANT = ["主管隊列", "經理隊列", "待審核", "待回訪", "週報", "季度復審", "運行日誌"]
WORKER_HANT = ["記錄編號", "當前負責人", "狀態", "處理時限", "系統提示"]



def staff_values(standin, sid) -> list[list]:
    return [r[:len(SHUFFLED_HANT) + 1] for r in standin.get_values(sid, MAIN_HANT)]


@pytest.fixture
def sheet(sheets_standin, service_account, tmp_path):
    rows = [row("2026-03-09", 事由="漏水"), row("2026-03-01", 事由="噪音")]
    sid = make_sheet(sheets_standin, service_account.email, SHUFFLED_HANT, rows)
    # Staff typed a remark in the column right of the last header, without giving it a header.
    sheets_standin.set_cell(sid, MAIN_HANT, f"{chr(65 + len(SHUFFLED_HANT))}3", "自用備註")
    config = google_config(tmp_path, sheets_standin.base_url, service_account.path, sid,
                           manager_google=MANAGER, supervisor_google=SUPERVISOR)
    return sid, config


def test_init_sets_up_the_sheet_and_is_idempotent(sheets_standin, service_account, sheet, capsys):
    sid, config = sheet
    before = staff_values(sheets_standin, sid)
    code, out, err = run_cli(capsys, "init", "--config", config)
    assert code == 0 and "錯誤" not in err, err

    # Headers at the right end, right of the staff's headerless column; generated tabs.
    header = sheets_standin.get_values(sid, MAIN_HANT)[0]
    assert header == SHUFFLED_HANT + [""] + WORKER_HANT
    assert staff_values(sheets_standin, sid) == before
    assert sheets_standin.sheet_titles(sid) == [MAIN_HANT, "值班表", *GENERATED_HANT]
    assert sheets_standin.get_values(sid, "週報")[0][0] == "週次"
    for title in (MAIN_HANT, *GENERATED_HANT):
        assert sheets_standin.sheet_properties(sid, title)["gridProperties"].get("frozenRowCount") == 1, title

    # Drop-downs and date validation on the staff columns.
    def validation(header_text: str) -> dict:
        column = chr(65 + SHUFFLED_HANT.index(header_text))
        return sheets_standin.cell_data(sid, MAIN_HANT, f"{column}5")["dataValidation"]

    assert [v["userEnteredValue"] for v in validation("類別")["condition"]["values"]] == [
        "投訴", "報修", "諮詢", "建議", "緊急", "其他"]
    assert validation("接待渠道")["condition"]["type"] == "ONE_OF_LIST"
    assert validation("回訪滿意度")["condition"]["values"][0]["userEnteredValue"] == "滿意"
    assert validation("接待日期")["condition"]["type"] == "DATE_IS_VALID"
    assert validation("完成日期")["condition"]["type"] == "DATE_IS_VALID"

    # Overdue rows highlighted: 處理時限 passed and the item still open.
    rules = sheets_standin.metadata(sid)["sheets"][0]["conditionalFormats"]
    formula = rules[0]["booleanRule"]["condition"]["values"][0]["userEnteredValue"]
    due, status = (chr(65 + header.index(h)) for h in ("處理時限", "狀態"))
    assert f"DATEVALUE(${due}2)" in formula and "<TODAY()" in formula and f'${status}2<>"已完成"' in formula

    # Access (SPEC 2.2).
    protections = {p["description"]: p for p in sheets_standin.protected_ranges(sid)}
    manager_only = protections["【接待記錄自動化】經理審核：僅經理可編輯"]
    assert set(manager_only["editors"]["users"]) == {MANAGER, service_account.email}
    assert manager_only["range"]["startColumnIndex"] == SHUFFLED_HANT.index("經理審核")
    assert set(protections["【接待記錄自動化】無法處理原因：僅經理可編輯"]["editors"]["users"]) == {
        MANAGER, service_account.email}
    assert set(protections["【接待記錄自動化】主管審核：僅客服主管與經理可編輯"]["editors"]["users"]) == {
        SUPERVISOR, MANAGER, service_account.email}
    warned = [p for p in sheets_standin.protected_ranges(sid) if p.get("warningOnly")]
    assert len(warned) == len(WORKER_HANT) + len(GENERATED_HANT)
    assert "「經理審核」設為僅經理可編輯" in out and "凍結表頭行" in out and "新增分頁「運行日誌」" in out

    # Idempotent: a second init changes nothing and sends no write.
    writes = len(sheets_standin.requests_of("spreadsheets.batchUpdate"))
    code, out, err = run_cli(capsys, "init", "--config", config)
    assert code == 0 and "已是最新，無需修改" in out
    assert len(sheets_standin.requests_of("spreadsheets.batchUpdate")) == writes

    # The worker runs on the prepared sheet; the protections do not hold it back.
    code, out, err = run_at(capsys, config, "2026-03-10T09:00")
    assert code == 0 and "錯誤" not in err, err
    assert [r["記錄編號"] for r in records(sheets_standin, sid)] == ["R20260309-001", "R20260301-001"]


def test_only_the_manager_may_edit_the_managers_columns(sheets_standin, service_account, sheet, capsys, tmp_path):
    """What makes "only the manager closes" (3.3.3) hold for real: after init, an account that
    may edit the spreadsheet may still not edit 經理審核 (Google refuses the write)."""
    sid, config = sheet
    assert run_cli(capsys, "init", "--config", config)[0] == 0
    staff_key = tmp_path / "staff.json"
    staff = make_service_account_file(staff_key, sheets_standin.token_uri, "frontdesk@standin-project.iam.gserviceaccount.com",
                                      standin=sheets_standin)
    sheets_standin.share(sid, staff["client_email"])
    worksheet = make_gspread_client(sheets_standin, staff_key).open_by_key(sid).worksheet(MAIN_HANT)
    column = chr(65 + SHUFFLED_HANT.index("經理審核"))
    import gspread

    with pytest.raises(gspread.exceptions.APIError) as refused:
        worksheet.update([["已審"]], f"{column}2")
    assert "protected" in str(refused.value)
    worksheet.update([["樓上已修"]], f"{chr(65 + SHUFFLED_HANT.index('處理結果'))}2")  # staff columns stay open


def test_init_creates_a_missing_main_tab_that_run_accepts(sheets_standin, service_account, tmp_path, capsys):
    sid = sheets_standin.create_spreadsheet("新中心", {"Sheet1": []}, [service_account.email])
    config = google_config(tmp_path, sheets_standin.base_url, service_account.path, sid)
    code, out, err = run_cli(capsys, "init", "--config", config)
    assert code == 0 and f"新增分頁「{MAIN_HANT}」" in out
    assert sheets_standin.sheet_titles(sid)[0] == MAIN_HANT
    assert "未設定經理的 Google 帳號" in out  # access without accounts: said once, at setup
    header = sheets_standin.get_values(sid, MAIN_HANT)[0]
    assert header[:3] == ["接待日期", "接待渠道", "業主姓名"] and header[-5:] == WORKER_HANT
    values = {"接待日期": "2026-03-10", "業主姓名": "陳先生", "房號": "1-101", "事由": "漏水"}
    sheets_standin.set_values(sid, MAIN_HANT, "A2", [[values.get(h) for h in header]])
    assert run_cli(capsys, "init", "--config", config)[1].strip().endswith("已是最新，無需修改")
    code, out, err = run_at(capsys, config, "2026-03-10T09:00")
    assert code == 0 and records(sheets_standin, sid)[0]["記錄編號"] == "R20260310-001"


def test_init_after_a_language_switch_renames_and_updates_its_own_settings(sheets_standin, service_account,
                                                                           sheet, tmp_path, capsys):
    sid, config = sheet
    assert run_cli(capsys, "init", "--config", config)[0] == 0
    hans = google_config(tmp_path, sheets_standin.base_url, service_account.path, sid, language="zh-Hans",
                         file_name="hans.toml", manager_google=MANAGER, supervisor_google=SUPERVISOR)
    code, out, err = run_cli(capsys, "init", "--config", hans)
    assert code == 0 and "分页「運行日誌」改名为「运行日志」" in out  # said in the configured language
    assert "运行日志" in sheets_standin.sheet_titles(sid) and "運行日誌" not in sheets_standin.sheet_titles(sid)
    descriptions = {p["description"] for p in sheets_standin.protected_ranges(sid)}
    assert "【接待记录自动化】經理審核：仅经理可编辑" in descriptions
    assert not any(d.startswith("【接待記錄自動化】") for d in descriptions)  # updated, not duplicated
    assert run_cli(capsys, "init", "--config", hans)[1].strip().endswith("已是最新，无需修改")
    # A run then respells the worker's own headers in place; staff headers stay as typed.
    assert run_at(capsys, hans, "2026-03-10T09:00")[0] == 0
    header = sheets_standin.get_values(sid, MAIN_HANT)[0]
    assert {"记录编号", "状态", "处理时限"} <= set(header) and not {"記錄編號", "狀態"} & set(header)
    assert "接待日期" in header and "類別" in header
    assert sheets_standin.get_values(sid, "运行日志")[0][:4] == ["时间", "事件", "记录编号", "详情"]


def test_init_on_an_unshared_sheet_exits_3(sheets_standin, service_account, tmp_path, capsys):
    sid = make_sheet(sheets_standin, None, SHUFFLED_HANT, [])
    config = google_config(tmp_path, sheets_standin.base_url, service_account.path, sid)
    code, out, err = run_cli(capsys, "init", "--config", config)
    assert code == 3 and service_account.email in err
