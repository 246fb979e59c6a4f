"""Google's 10 MB request limit (SPEC 6, issue 4 point 2): a first cycle on a big sheet writes
more than one `spreadsheets.batchUpdate` may carry. The write is split into bodies under the
limit, each leaving the sheet consistent — worker cells first, summary tabs next, log rows
last — so that a cycle interrupted between them is completed by the next one.

The stand-in enforces the real limit (10485760 bytes per body, 400 beyond).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from automation import wiring
from automation.application import one_center
from automation.adapters.google import GoogleSheetsBackend
from automation.adapters.google import http as google_http
from automation.config import load_config
from tests.google_support import FakeRetryClock, count_requests, google_config, log_rows, make_sheet, records, tab_rows
from tests.standin.sheets_api import MAX_BODY_BYTES
from tests.test_workbook_e2e import mixed_rows
from tests.workbooks import MAIN_HANT, SHUFFLED_HANT, row, run_at
from tests.google_support import retry_clock  # noqa: F401  (autouse: retries on a fake clock)

NOW = "2026-03-10T09:00"
LONG_MATTER = "業主反映樓上漏水，天花板有水漬，需工程部上門查看並協調樓上住戶。" * 30



def sheet_of(kind: str, body: dict) -> int | None:
    if kind == "addSheet":
        return body["properties"]["sheetId"]
    if kind in ("appendCells", "appendDimension"):
        return body["sheetId"]
    if kind == "updateCells":
        return (body.get("start") or body.get("range"))["sheetId"]
    if kind in ("repeatCell", "updateDimensionProperties"):
        return body["range"]["sheetId"]
    if kind == "setBasicFilter":
        return body["filter"]["range"]["sheetId"]
    if kind == "updateSheetProperties":
        return body["properties"]["sheetId"]
    if kind == "addConditionalFormatRule":
        return body["rule"]["ranges"][0]["sheetId"]
    if kind == "deleteConditionalFormatRule":
        return body["sheetId"]
    if kind == "addChart":
        return body["chart"]["position"]["overlayPosition"]["anchorCell"]["sheetId"]
    return None


def phase_of(requests: list[dict], log_id: int, main_id: int = 0) -> set[str]:
    """Which parts of a cycle's write a body holds (the write marker and the worker lease aside):
    worker cells (the main tab), summary tabs, or the event log."""
    phases = set()
    for request in requests:
        kind, body = next(iter(request.items()))
        if kind.endswith("DeveloperMetadata"):
            continue
        sheet = sheet_of(kind, body)
        phases.add("worker" if sheet == main_id else "log" if sheet == log_id else "tabs")
    return phases


def bodies_by_phase(standin, sid) -> list[set[str]]:
    log_id = standin.sheet_properties(sid, "運行日誌")["sheetId"]
    writes = standin.requests_of("spreadsheets.batchUpdate")[:-1]  # the last: the messages' record
    phases = [phase_of(w.body["requests"], log_id) for w in writes]
    return [p for p in phases if p]  # a body holding the lease alone (taken before the messages) is none


def test_first_run_over_10_mb_is_split_under_the_limit_in_order(sheets_standin, service_account, tmp_path, capsys):
    """5,000 receptions with long texts: the queues alone are ~30 MB. Every body stays under
    Google's limit, worker cells go first, summary tabs next, log rows last, and the result is
    complete: a second run has nothing to write."""
    rows = [row(dt.date(2026, 2, 20) + dt.timedelta(days=i % 18), 事由=f"{i}：{LONG_MATTER}",
                房號=f"{i % 30}-{i % 1000:03d}", 完成日期=dt.date(2026, 3, 9) if i % 10 else None) for i in range(5000)]
    sid = make_sheet(sheets_standin, service_account.email, SHUFFLED_HANT, rows, row_count=5001)
    config = google_config(tmp_path, sheets_standin.base_url, service_account.path, sid)
    with count_requests(sheets_standin, "first run over 10 MB") as tally:
        code, out, err = run_at(capsys, config, NOW)
    assert code == 0 and "錯誤" not in err, err
    writes = sheets_standin.requests_of("spreadsheets.batchUpdate")
    assert all(w.status == 200 and w.bytes_in < MAX_BODY_BYTES for w in writes)
    cycle_writes = writes[:-1]  # the last one records the messages sent (append_log)
    assert sum(w.bytes_in for w in cycle_writes) > MAX_BODY_BYTES  # one body would have been refused
    order = bodies_by_phase(sheets_standin, sid)
    assert order[0] == {"worker"} and order[-1] == {"log"} and all(p == {"tabs"} for p in order[1:-1])
    assert tally.by_kind["spreadsheets.batchUpdate"] == len(writes) >= 4
    got = records(sheets_standin, sid)
    assert len(got) == 5000 and all(r["記錄編號"] for r in got)

    with count_requests(sheets_standin, "second run: nothing left to write") as second:
        assert run_at(capsys, config, "2026-03-10T09:05")[0] == 0
    assert second.by_kind == {"drive.files.get": 1, "spreadsheets.get": 1, "values.batchGet": 1}  # it wrote


@pytest.fixture
def small_limit_center(sheets_standin, service_account, tmp_path):
    """A center whose backend is built with a small body limit, to split an ordinary write."""
    rows = [*mixed_rows(), *(row("2026-03-09", 事由=f"事項{n}", 房號=f"2-{n:03d}") for n in range(40))]
    sid = make_sheet(sheets_standin, service_account.email, SHUFFLED_HANT, rows)
    config = load_config(google_config(tmp_path, sheets_standin.base_url, service_account.path, sid))
    center = config.centers[0]

    def cycle(now: str, limit: int = 12_000):
        backend = GoogleSheetsBackend.from_config(center, config, max_body_bytes=limit)
        moment = dt.datetime.fromisoformat(now).replace(tzinfo=config.timezone)
        return one_center.run_center(center, config, moment, backend, wiring.transport_for(config))

    return sid, cycle


def test_split_bodies_each_hold_one_part_in_order(sheets_standin, small_limit_center):
    sid, cycle = small_limit_center
    cycle(NOW)
    writes = sheets_standin.requests_of("spreadsheets.batchUpdate")[:-1]
    assert all(w.bytes_in <= 12_000 for w in writes)
    order = bodies_by_phase(sheets_standin, sid)
    worker = [p for p in order if p == {"worker"}]
    assert len(worker) >= 2 and order[:len(worker)] == worker  # worker cells first, in several bodies
    assert order[-1] == {"log"} and {"tabs"} in order
    assert all(len(p) == 1 for p in order)


def test_a_cycle_interrupted_between_bodies_is_completed_by_the_next(sheets_standin, small_limit_center, retry_clock):
    """The first body (worker cells) is applied, then Google stays down: the cycle fails (4)
    leaving consistent worker cells; the next cycle writes the summary tabs and log rows, and
    the sheet ends as an uninterrupted run leaves it."""
    from automation.errors import BackendUnavailableError

    sid, cycle = small_limit_center
    seen = {"writes": 0}

    def outage(method: str, path: str) -> None:
        if path.endswith(":batchUpdate"):
            seen["writes"] += 1
            if seen["writes"] == 2:
                sheets_standin.inject_fault(503, count=10_000, kinds="spreadsheets.batchUpdate")

    sheets_standin.before_request = outage
    with pytest.raises(BackendUnavailableError):
        cycle(NOW)
    sheets_standin.before_request = None
    sheets_standin.clear_faults()
    half = records(sheets_standin, sid)
    with_ids = [r for r in half if r.get("記錄編號")]
    assert 0 < len(with_ids) < len(half)  # the first body's rows, each row whole
    assert all(r.get("狀態") and r.get("當前負責人") for r in with_ids)
    assert "主管隊列" not in sheets_standin.sheet_titles(sid)

    cycle("2026-03-10T09:05", limit=10_000_000)
    got = records(sheets_standin, sid)
    assert all(r["記錄編號"] and r["狀態"] for r in got)
    assert [r[0] for r in tab_rows(sheets_standin, sid, "主管隊列")[1:]] == [
        r["記錄編號"] for r in sorted((r for r in got if r["狀態"] == "已升級主管"),
                                    key=lambda r: r["記錄編號"][1:9])]
    assert log_rows(sheets_standin, sid)
    before = sheets_standin.stats.snapshot()["by_kind"].get("spreadsheets.batchUpdate", 0)
    cycle("2026-03-10T09:10", limit=10_000_000)
    assert sheets_standin.stats.snapshot()["by_kind"]["spreadsheets.batchUpdate"] == before  # nothing left


def test_worker_values_never_become_formulas_in_any_body(sheets_standin, small_limit_center):
    sid, cycle = small_limit_center
    cycle(NOW)
    bodies = json.dumps([w.body for w in sheets_standin.requests_of("spreadsheets.batchUpdate")], ensure_ascii=False)
    assert "formulaValue" not in bodies
