"""`init` on a Google spreadsheet (SPEC 5, 2.2; issue 4 point 5).

Makes sure the spreadsheet has the main tab with every header (missing ones added at the right
end, right of any column holding a value), the generated tabs, a frozen header row, drop-downs
for 接待渠道 / 類別 / 回訪滿意度, date validation for the date columns, a conditional format that
highlights overdue open rows, and the access of SPEC 2.2 as protected ranges:
無法處理原因 and 經理審核 editable only by the manager, 主管審核 by the supervisor and the manager
(their configured Google accounts), plus the service account; the worker columns and the
generated tabs protected warning-only.

Idempotent: what is already as wanted is left alone, and a second `init` sends nothing and
returns no change. The protections and the rule it made are recognised as its own by their
description / a marker inside the formula, so staff's own protections and rules are never
touched. Cell values are never changed, except header cells it adds. It reads the layout, the
main tab's values and the validation of its first data row (3 requests), then sends one
`spreadsheets.batchUpdate` when something is to change.
"""

from __future__ import annotations

from typing import Any

from gspread.exceptions import APIError

from ...domain.init_plan import DATE_RULE, InitPlan, Layout, SheetFacts, plan_init
from ...presentation import tab_formats
from ...vocabulary import Vocabulary
from . import batch
from .http import CredentialsRefused, GoogleUnreachable
from .layout import SheetLayout, Tab
from .session import SpreadsheetSession, WriteBatch

# How the worker's protections and rule are recognised (either spelling: `language` may change).
PREFIXES = ("【接待記錄自動化】", "【接待记录自动化】")
OVERDUE_MARK = tab_formats.OVERDUE_MARK
OVERDUE_COLOR = {"red": 0.988, "green": 0.859, "blue": 0.851}

WORDS = {
    "zh-Hant": {
        "prefix": PREFIXES[0], "manager_only": "僅經理可編輯", "supervisor_and_manager": "僅客服主管與經理可編輯",
        "worker_column": "由程式填寫，請勿手改", "generated_tab": "由程式生成，請勿手改",
        "manager": "經理", "supervisor": "客服主管",
    },
    "zh-Hans": {
        "prefix": PREFIXES[1], "manager_only": "仅经理可编辑", "supervisor_and_manager": "仅客服主管与经理可编辑",
        "worker_column": "由程序填写，请勿手改", "generated_tab": "由程序生成，请勿手改",
        "manager": "经理", "supervisor": "客服主管",
    },
}


def initialize(session: SpreadsheetSession, layout: Layout, service_account: str) -> list[str]:
    """Create or upgrade the spreadsheet (`service_account`: the worker's own Google account,
    which every protection keeps as an editor); returns the changes in words."""
    try:
        return _initialize(session, layout, service_account)
    except (APIError, PermissionError, GoogleUnreachable, CredentialsRefused) as error:
        raise session.translator.translate(error, writing=True) from None
    finally:
        session.forget_layout()  # protections and rules changed: read the layout afresh next time


def _language(layout: Layout) -> str:
    return "zh-Hans" if layout.main_title == Vocabulary("zh-Hans").main_tab_title else "zh-Hant"


def _initialize(session: SpreadsheetSession, layout: Layout, service_account: str) -> list[str]:
    language = _language(layout)
    sheet = session.fetch_layout()
    main = next((sheet.tabs[t] for t in layout.main_titles if t in sheet.tabs), None)
    plan = plan_init(layout, _facts(session, sheet, main), date_rules=True)
    work = WriteBatch()
    requests = work.phases[0]
    main_id = _main_tab_requests(plan, layout, sheet, main, work)
    overdue_changes: list[str] = []
    _overdue_rule(requests, overdue_changes, main, main_id, plan.positions, Vocabulary(language))
    tabs = _generated_tab_requests(plan, layout, sheet, work)
    changes = [*plan.main_changes, *overdue_changes, *plan.tab_changes]
    _protection_requests(requests, changes, layout, WORDS[language], plan, main_id, tabs, service_account, sheet)
    if requests:
        session.send(sheet, work)
    return changes


def _facts(session: SpreadsheetSession, sheet: SheetLayout, main: Tab | None) -> SheetFacts:
    """What init needs to know of the spreadsheet: its tabs, and of the main tab its header
    row, the rightmost column holding a value, frozen rows and the worker's validations."""
    if main is None:
        return SheetFacts(tuple(sheet.tabs))
    answer = session.call(lambda: session.http.values_batch_get(
        session.key, [batch.quote_title(main.title)], params={"valueRenderOption": "UNFORMATTED_VALUE"}))
    values = answer.get("valueRanges", [{}])[0].get("values", [])
    last_used = max((i + 1 for row in values for i, v in enumerate(row) if v not in ("", None)), default=0)
    validations = _first_row_validations(session, main) if main.rows >= 2 else []
    rules = {position: rule for position, rule in enumerate(map(_worker_rule, validations)) if rule is not None}
    return SheetFacts(tuple(sheet.tabs), tuple(values[0] if values else ()), last_used, main.frozen_rows, rules)


def _worker_rule(validation: Any) -> tuple[str, ...] | None:
    """A cell's data validation as init_plan compares it: ("choice", *options) or DATE_RULE
    when it is exactly as init sets it, else None (init sets it again)."""
    if not isinstance(validation, dict):
        return None
    condition = validation.get("condition", {})
    if condition.get("type") == "ONE_OF_LIST":
        options = [str(value.get("userEnteredValue", "")) for value in condition.get("values", [])]
        return ("choice", *options) if _same_rule(validation, _choice_rule(options)) else None
    return DATE_RULE if _same_rule(validation, _date_rule()) else None


def _main_tab_requests(plan: InitPlan, layout: Layout, sheet: SheetLayout, main: Tab | None, work: WriteBatch) -> int:
    """The main tab (added when missing), its new headers, frozen row and validations; returns
    its sheetId."""
    requests = work.phases[0]
    if main is None:
        main_id = sheet.new_sheet_id(work.sheet_ids)
        requests.append(batch.add_sheet(main_id, plan.main_title, 1000, max(26, len(layout.headers)), index=0))
        requests.append(batch.header_cells(main_id, 0, layout.headers))
    else:
        main_id = main.sheet_id
        if plan.width > main.columns:
            requests.append(batch.append_dimension(main_id, "COLUMNS", plan.width - main.columns))
        if plan.new_headers:
            requests.append(batch.header_cells(main_id, plan.new_headers[0][0], [text for _, text in plan.new_headers]))
    if plan.freeze_header and main is not None:
        requests.append({"updateSheetProperties": {"properties": {"sheetId": main_id, "gridProperties": {
            "frozenRowCount": 1}}, "fields": "gridProperties.frozenRowCount"}})
    for rule in plan.rules:
        wanted = _choice_rule(list(rule.options)) if rule.options is not None else _date_rule()
        requests.append({"setDataValidation": {"range": {
            "sheetId": main_id, "startRowIndex": 1, "startColumnIndex": rule.position,
            "endColumnIndex": rule.position + 1}, "rule": wanted}})
    return main_id


def _generated_tab_requests(plan: InitPlan, layout: Layout, sheet: SheetLayout, work: WriteBatch) -> dict[str, int]:
    """Renamed and new generated tabs; returns every generated tab's title → sheetId."""
    requests = work.phases[0]
    tabs = {title: sheet.tabs[title].sheet_id for title in layout.tabs if title in sheet.tabs}
    for old_title, title in plan.renames:
        requests.append(batch.rename_sheet(sheet.tabs[old_title].sheet_id, title))
        # Its header row too, in the new language (the event log is kept, not rewritten).
        requests.append(batch.header_cells(sheet.tabs[old_title].sheet_id, 0, layout.tabs[title]))
        tabs[title] = sheet.tabs[old_title].sheet_id
    for title, header in plan.new_tabs:
        sheet_id = sheet.new_sheet_id(work.sheet_ids)
        requests.append(batch.add_sheet(sheet_id, title, 100, max(len(header), 1)))
        requests.append(batch.header_cells(sheet_id, 0, header))
        tabs[title] = sheet_id
    return {title: tabs[title] for title in layout.tabs if title in tabs}


def _protection_requests(requests: list, changes: list, layout: Layout, words: dict, plan: InitPlan, main_id: int,
                         tabs: dict[str, int], service_account: str, sheet: SheetLayout) -> None:
    """The access of SPEC 2.2 as protected ranges, recognised as the worker's own by their
    description (staff's own protections are never touched)."""
    wanted = _wanted_protections(layout, words, plan.positions, plan.header_of, main_id, tabs, service_account)
    existing = [p for tab in sheet.tabs.values() for p in tab.protected
                if str(p.get("description", "")).startswith(PREFIXES)]
    matched: set[int] = set()
    for want, change, note in wanted:
        found = next((p for p in existing if _range_key(p.get("range", {})) == _range_key(want["range"])
                      and p["protectedRangeId"] not in matched), None)
        if found is not None:
            matched.add(found["protectedRangeId"])
            if _same_protection(found, want):
                continue
            requests.append({"updateProtectedRange": {
                "protectedRange": {**want, "protectedRangeId": found["protectedRangeId"]},
                "fields": "description,warningOnly,editors"}})
        else:
            requests.append({"addProtectedRange": {"protectedRange": want}})
        changes.append(change)
        if note:
            changes.append(note)
    for stale in existing:
        if stale["protectedRangeId"] not in matched:
            requests.append({"deleteProtectedRange": {"protectedRangeId": stale["protectedRangeId"]}})
            changes.append(f"移除過時的保護範圍「{stale.get('description', '')}」")


def _first_row_validations(session: SpreadsheetSession, main) -> list[Any]:
    """The data validation of each cell of row 2 (what a column's drop-down looks like)."""
    answer = session.call(lambda: session.http.fetch_sheet_metadata(session.key, params={
        "ranges": [f"{batch.quote_title(main.title)}!2:2"],
        "fields": "sheets(data(rowData(values(dataValidation))))"}))
    try:
        cells = answer["sheets"][0]["data"][0]["rowData"][0]["values"]
    except (KeyError, IndexError):
        return []
    return [cell.get("dataValidation") for cell in cells]


def _choice_rule(options: list[str]) -> dict:
    return {"condition": {"type": "ONE_OF_LIST", "values": [{"userEnteredValue": o} for o in options]},
            "showCustomUi": True}


def _date_rule() -> dict:
    return {"condition": {"type": "DATE_IS_VALID"}}


def _same_rule(current: Any, wanted: dict) -> bool:
    if not isinstance(current, dict):
        return False
    return (current.get("condition") == wanted["condition"] and bool(current.get("strict")) == bool(wanted.get("strict"))
            and bool(current.get("showCustomUi")) == bool(wanted.get("showCustomUi")))


def _overdue_formula(positions: dict[str, int]) -> str | None:
    if "due_date" not in positions or "status" not in positions:
        return None
    return "=" + tab_formats.main_tab_overdue_formula(positions["due_date"], positions["status"])


def _overdue_rule(requests: list, changes: list, main, main_id: int, positions: dict[str, int],
                  vocabulary: Vocabulary) -> None:
    """Highlight rows whose 處理時限 has passed while the item is still open."""
    formula = _overdue_formula(positions)
    if formula is None:
        return
    rule = {"ranges": [{"sheetId": main_id, "startRowIndex": 1}],
            "booleanRule": {"condition": {"type": "CUSTOM_FORMULA", "values": [{"userEnteredValue": formula}]},
                            "format": {"backgroundColor": OVERDUE_COLOR}}}
    rules = main.conditional if main is not None else []
    for index, current in enumerate(rules):
        values = current.get("booleanRule", {}).get("condition", {}).get("values", [{}])
        text = str((values or [{}])[0].get("userEnteredValue", ""))
        if OVERDUE_MARK not in text:
            continue
        ranges = current.get("ranges", [])
        if text == formula and len(ranges) == 1 and ranges[0].get("sheetId", 0) == main_id \
                and ranges[0].get("startRowIndex", 0) == 1 and not ranges[0].get("startColumnIndex"):
            return
        requests.append({"updateConditionalFormatRule": {"index": index, "sheetId": main_id, "rule": rule}})
        changes.append("更新逾期高亮（處理時限已過且未關閉的行）")
        return
    requests.append({"addConditionalFormatRule": {"index": 0, "rule": rule}})
    changes.append("加上逾期高亮（處理時限已過且未關閉的行）")


def _wanted_protections(layout: Layout, words: dict, positions: dict[str, int], header_of: dict[str, str],
                        main_id: int, tabs: dict[str, int], service_account: str) -> list[tuple[dict, str, str | None]]:
    """(protected range as wanted, the change in words, a note to add) for each protection."""
    wanted = []
    for key, role in layout.access.items():
        if key not in positions:
            continue
        text = header_of[key]
        accounts = list(dict.fromkeys([*layout.editors.get(role, []), service_account]))
        rule = words["manager_only"] if role == "manager" else words["supervisor_and_manager"]
        people = [words["manager"]] if role == "manager" else [words["supervisor"], words["manager"]]
        missing = None
        if len(accounts) == 1:
            missing = (f"  注意：未設定{'、'.join(people)}的 Google 帳號（centers[].{role}.google），"
                       f"「{text}」目前只有試算表擁有者與服務帳號可編輯")
        wanted.append(({"range": _column_range(main_id, positions[key]), "description": f"{words['prefix']}{text}：{rule}",
                        "warningOnly": False, "editors": {"users": accounts}},
                       f"「{text}」設為{rule}（{'、'.join(accounts)}）", missing))
    for key in layout.worker_keys:
        if key not in positions:
            continue
        text = header_of[key]
        wanted.append(({"range": _column_range(main_id, positions[key]),
                        "description": f"{words['prefix']}{text}：{words['worker_column']}", "warningOnly": True},
                       f"工作欄「{text}」設為編輯前警告", None))
    for title, sheet_id in tabs.items():
        wanted.append(({"range": {"sheetId": sheet_id}, "description": f"{words['prefix']}{words['generated_tab']}",
                        "warningOnly": True}, f"分頁「{title}」設為編輯前警告", None))
    return wanted


def _column_range(sheet_id: int, position: int) -> dict:
    return {"sheetId": sheet_id, "startColumnIndex": position, "endColumnIndex": position + 1}


def _range_key(grid_range: dict) -> tuple:
    """What identifies a column or tab protection: sheet and columns. Google omits a sheetId and
    start indices of 0 (protocol-buffer JSON leaves out defaults); row bounds are not compared,
    in case Google reports an open-ended range bounded by the grid."""
    return (grid_range.get("sheetId", 0), grid_range.get("startColumnIndex", 0), grid_range.get("endColumnIndex"))


def _same_protection(found: dict, want: dict) -> bool:
    """Ours and as wanted: same description and kind; every wanted editor can edit. Editors
    someone added by hand are left (Google also lists the owner among them)."""
    if found.get("description") != want["description"] or bool(found.get("warningOnly")) != want["warningOnly"]:
        return False
    if want["warningOnly"]:
        return True
    editors = found.get("editors", {})
    return set(want["editors"]["users"]) <= set(editors.get("users", [])) and not editors.get("domainUsersCanEdit")
