"""Safe under live edits (issue 4 point 3): staff insert, delete, sort and type while the worker
runs. The stand-in's `before_request` hook makes the edit between the worker's read and its
write (just before the fresh read that precedes the write), through the real CLI.

What must hold: every worker cell lands on the row it was computed for, wherever that row went;
a row that vanished, or that cannot be told apart any more, is left alone this cycle and handled
by the next one; staff cells are never written.
"""

from __future__ import annotations

from typing import Callable

import pytest

from automation.adapters.google import http as google_http
from tests.google_support import FakeRetryClock, google_config, make_sheet, records
from tests.workbooks import MAIN_HANT, SHUFFLED_HANT, row, run_at
from tests.google_support import retry_clock  # noqa: F401  (autouse: retries on a fake clock)

NOW = "2026-03-10T09:00"



def staff_row(**cells) -> list:
    """A main-tab row in SHUFFLED_HANT column order (worker columns left blank)."""
    values = row("2026-03-09", **cells)
    return [values.get(header) for header in SHUFFLED_HANT]


def between_read_and_write(standin, edit: Callable[[], None]) -> list[bool]:
    """Run `edit` once, before the stand-in handles the worker's second values:batchGet of a
    cycle (the fresh read just before the write); returns a flag list that says it ran."""
    seen = {"batch_gets": 0}
    done: list[bool] = []

    def hook(method: str, path: str) -> None:
        if path.endswith("/values:batchGet"):
            seen["batch_gets"] += 1
            if seen["batch_gets"] == 2 and not done:
                edit()
                done.append(True)

    standin.before_request = hook
    standin.live_edits_done = done  # checked after each test: the edit really happened
    return done


@pytest.fixture(autouse=True)
def edit_really_happened(sheets_standin):
    yield
    done = getattr(sheets_standin, "live_edits_done", None)
    assert done is None or done == [True], "the live edit hook never ran"


@pytest.fixture
def four_rows(sheets_standin, service_account, tmp_path):
    rows = [row("2026-03-09", 事由=f"事項{n}", 房號=f"1-{n:03d}") for n in range(1, 5)]
    sid = make_sheet(sheets_standin, service_account.email, SHUFFLED_HANT, rows)
    return sid, google_config(tmp_path, sheets_standin.base_url, service_account.path, sid)


def ids_by_matter(standin, sid) -> dict:
    return {r["事由"]: r.get("記錄編號") for r in records(standin, sid)}


def assert_consistent(standin, sid) -> None:
    """Each row's worker cells belong to it: its id is of its own received date and sequence."""
    for record in records(standin, sid):
        matter, record_id = record["事由"], record.get("記錄編號")
        if record_id and matter.startswith("事項"):
            assert record_id == f"R20260309-00{matter[2:]}", record


def test_row_inserted_above_during_the_first_run(sheets_standin, four_rows, capsys):
    sid, config = four_rows
    ran = between_read_and_write(sheets_standin, lambda: sheets_standin.insert_rows(
        sid, MAIN_HANT, 1, [staff_row(事由="插隊的事項", 房號="9-999")]))
    code, out, err = run_at(capsys, config, NOW)
    assert code == 0 and ran
    got = ids_by_matter(sheets_standin, sid)
    assert got == {"插隊的事項": None, "事項1": "R20260309-001", "事項2": "R20260309-002",
                   "事項3": "R20260309-003", "事項4": "R20260309-004"}
    assert records(sheets_standin, sid)[0].get("狀態") is None  # the newcomer: next cycle's
    sheets_standin.before_request = None
    assert run_at(capsys, config, "2026-03-10T09:05")[0] == 0
    assert ids_by_matter(sheets_standin, sid)["插隊的事項"] == "R20260309-005"
    assert_consistent(sheets_standin, sid)


def test_row_deleted_during_the_run_is_left_alone(sheets_standin, four_rows, capsys):
    sid, config = four_rows
    between_read_and_write(sheets_standin, lambda: sheets_standin.delete_rows(sid, MAIN_HANT, 2))  # 事項2
    assert run_at(capsys, config, NOW)[0] == 0
    assert ids_by_matter(sheets_standin, sid) == {"事項1": "R20260309-001", "事項3": "R20260309-003",
                                                  "事項4": "R20260309-004"}
    # No stray cells below the last row (the deleted row's writes were not shifted down).
    values = sheets_standin.get_values(sid, MAIN_HANT)
    assert len(values) == 4


def test_sort_during_the_run(sheets_standin, four_rows, capsys):
    sid, config = four_rows
    between_read_and_write(sheets_standin, lambda: sheets_standin.sort_rows(sid, MAIN_HANT, "房號", descending=True))
    assert run_at(capsys, config, NOW)[0] == 0
    assert [r["事由"] for r in records(sheets_standin, sid)] == ["事項4", "事項3", "事項2", "事項1"]
    assert_consistent(sheets_standin, sid)
    assert all(r["狀態"] == "處理中" for r in records(sheets_standin, sid))


def test_insert_delete_and_sort_on_a_sheet_with_ids(sheets_standin, four_rows, capsys):
    """Rows with ids (a later cycle): the writes follow 記錄編號 through all three edits."""
    sid, config = four_rows
    assert run_at(capsys, config, NOW)[0] == 0
    completed = SHUFFLED_HANT.index("完成日期")
    for n in (1, 3):  # two items finished: their status changes next run
        sheets_standin.set_cell(sid, MAIN_HANT, f"{chr(65 + completed)}{n + 1}", "2026-03-10")

    def edits():
        sheets_standin.sort_rows(sid, MAIN_HANT, "房號", descending=True)
        sheets_standin.insert_rows(sid, MAIN_HANT, 1, [staff_row(事由="新來的", 房號="0-000")])
        sheets_standin.delete_rows(sid, MAIN_HANT, 2)  # 事項4 (first after the newcomer)

    between_read_and_write(sheets_standin, edits)
    assert run_at(capsys, config, "2026-03-10T10:00")[0] == 0
    got = {r["事由"]: r for r in records(sheets_standin, sid)}
    assert set(got) == {"新來的", "事項3", "事項2", "事項1"}
    assert got["事項1"]["狀態"] == "已完成" and got["事項3"]["狀態"] == "已完成"
    assert got["事項2"]["狀態"] == "處理中"
    assert got["新來的"].get("記錄編號") is None
    assert_consistent(sheets_standin, sid)


def test_staff_edit_between_read_and_write_is_never_overwritten(sheets_standin, four_rows, capsys):
    """A staff cell typed while the worker runs keeps the staff's value; the worker's cells of
    that row (computed from what it read) are corrected by the next cycle."""
    sid, config = four_rows
    result = SHUFFLED_HANT.index("處理結果")
    completed = SHUFFLED_HANT.index("完成日期")

    def staff_types():
        sheets_standin.set_cell(sid, MAIN_HANT, f"{chr(65 + result)}2", "已修好")
        sheets_standin.set_cell(sid, MAIN_HANT, f"{chr(65 + completed)}2", "2026-03-10")

    between_read_and_write(sheets_standin, staff_types)
    assert run_at(capsys, config, NOW)[0] == 0
    first = records(sheets_standin, sid)[0]
    assert (first["處理結果"], first["完成日期"]) == ("已修好", "2026-03-10")
    assert first["狀態"] == "處理中"  # as read; fixed next cycle
    sheets_standin.before_request = None
    assert run_at(capsys, config, "2026-03-10T09:05")[0] == 0
    first = records(sheets_standin, sid)[0]
    assert (first["處理結果"], first["完成日期"], first["狀態"]) == ("已修好", "2026-03-10", "已完成")


def test_a_row_without_id_whose_staff_cells_changed_waits_for_the_next_cycle(sheets_standin, four_rows, capsys):
    """A row identified by its staff cells (no id yet) that staff edit meanwhile cannot be told
    apart for sure: it is skipped this cycle and gets its id next time."""
    sid, config = four_rows
    matter = SHUFFLED_HANT.index("事由")
    between_read_and_write(sheets_standin, lambda: sheets_standin.set_cell(
        sid, MAIN_HANT, f"{chr(65 + matter)}3", "事項2（改）"))
    assert run_at(capsys, config, NOW)[0] == 0
    got = ids_by_matter(sheets_standin, sid)
    assert got["事項2（改）"] is None and got["事項1"] == "R20260309-001" and got["事項4"] == "R20260309-004"
    sheets_standin.before_request = None
    assert run_at(capsys, config, "2026-03-10T09:05")[0] == 0
    assert ids_by_matter(sheets_standin, sid)["事項2（改）"] == "R20260309-005"  # 002 was issued: never reused


def test_identical_rows_keep_their_order_through_an_insert(sheets_standin, service_account, tmp_path, capsys):
    """Two identical rows (no id yet) are told apart by their order: the first read is the first
    now, as long as their number did not change."""
    rows = [row("2026-03-09", 事由="重複", 房號="1-001"), row("2026-03-09", 事由="重複", 房號="1-001"),
            row("2026-03-09", 事由="其他", 房號="1-002")]
    sid = make_sheet(sheets_standin, service_account.email, SHUFFLED_HANT, rows)
    config = google_config(tmp_path, sheets_standin.base_url, service_account.path, sid)
    between_read_and_write(sheets_standin, lambda: sheets_standin.insert_rows(
        sid, MAIN_HANT, 2, [staff_row(事由="中間插入", 房號="5-555")]))
    assert run_at(capsys, config, NOW)[0] == 0
    assert [(r["事由"], r.get("記錄編號")) for r in records(sheets_standin, sid)] == [
        ("重複", "R20260309-001"), ("中間插入", None), ("重複", "R20260309-002"), ("其他", "R20260309-003")]


def test_column_inserted_during_the_run(sheets_standin, four_rows, capsys):
    """Columns are placed by header: a column staff insert at the left meanwhile moves the
    worker's writes with it (a second fresh read finds the id column where it is now)."""
    sid, config = four_rows
    assert run_at(capsys, config, NOW)[0] == 0
    completed = SHUFFLED_HANT.index("完成日期")
    sheets_standin.set_cell(sid, MAIN_HANT, f"{chr(65 + completed)}2", "2026-03-10")

    def insert_column():
        sheets_standin.insert_columns(sid, MAIN_HANT, 0)
        sheets_standin.set_cell(sid, MAIN_HANT, "A1", "序號")

    between_read_and_write(sheets_standin, insert_column)
    assert run_at(capsys, config, "2026-03-10T10:00")[0] == 0
    got = records(sheets_standin, sid)
    assert list(got[0])[0] == "序號"
    assert [r["狀態"] for r in got] == ["已完成", "處理中", "處理中", "處理中"]
    assert_consistent(sheets_standin, sid)
    assert len(sheets_standin.requests_of("values.batchGet")) == 4 + 1  # run 1: 2; run 2: read + 2 fresh
