"""SPEC 3.4, 4.1: queues, reviews, follow-up, 週報, the event log — from an evaluation."""

import datetime as dt

import pytest

from automation.domain import events, summaries
from automation.domain.privacy import mask_phone

from .rules_support import HANT, day, evaluate

TODAY = "2026-03-10"


@pytest.mark.parametrize(
    "phone,masked",
    [("13812345678", "138****5678"), ("138-1234-5678", "138****5678"), ("+86 138 1234 5678", "138****5678"),
     ("0755-88881234", "075*****1234"), ("88881234", "888*1234"), ("12345", "***45"), ("", ""), ("無", "****")],
)
def test_phones_are_masked_first_3_last_4(phone, masked):
    assert mask_phone(phone) == masked


def test_supervisor_queue_holds_its_open_rows_and_incomplete_rows_due_first():
    """SPEC 4.1: ordered by 處理時限, rows without one (資料不全) first, then oldest first; dates
    are dates, numbers numbers; 系統提示 and the sheet row come last."""
    frame = evaluate(
        {"received_at": "2026-03-05 14:30", "phone": "13812345678"},  # supervisor level, due 03-12
        {"received_at": "2026-03-01"},  # manager
        {"received_at": "2026-03-04"},  # supervisor, older: due 03-11
        {"received_at": None},  # incomplete, no date: last of the rows without a due date
        {"received_at": "2026-03-09", "room": None},  # incomplete
        {"received_at": "2026-03-05", "completed_at": "2026-03-06"},  # closed
        today=TODAY,
    )
    tabs = summaries.build_tabs(frame, day(TODAY), HANT, 30, {2: (14, 30)})
    queue = tabs["supervisor_queue"]
    assert queue[0] == HANT.layout("queue")
    assert [r[0] for r in queue[1:]] == ["R20260309-001", "R20260310-001", "R20260304-001", "R20260305-001"]
    row = queue[4]
    assert row[1] == dt.datetime(2026, 3, 5, 14, 30) and row[9] == dt.date(2026, 3, 12)
    assert row[4] == "138****5678"
    assert row[10] == 5  # days open
    assert row[12] == 2  # its sheet row
    assert queue[1][9] == "" and queue[1][11] == "房號缺失" and queue[1][12] == 6
    manager = tabs["manager_queue"]
    assert manager[0] == HANT.layout("manager_queue") and "處理時限" not in manager[0]
    assert [r[0] for r in manager[1:]] == ["R20260301-001"]


def test_pending_review_window_and_never_reviewed_count():
    """SPEC 3.4: received in the last 30 days before today, 主管審核 blank; older ones counted."""
    frame = evaluate(
        {"received_at": "2026-03-10"},  # today: not yet
        {"received_at": "2026-03-09"},
        {"received_at": "2026-03-08", "supervisor_review": "已閱"},
        {"received_at": "2026-02-08"},  # 30 days back: listed
        {"received_at": "2026-02-07", "completed_at": "2026-02-08"},  # older: counted only
        today=TODAY,
    )
    pending = summaries.pending_review(frame, day(TODAY), 30)
    assert pending["record_id"].tolist() == ["R20260208-001", "R20260309-001"]
    assert summaries.never_reviewed_count(frame, day(TODAY), 30) == 1


def test_follow_up_lists_finished_in_the_last_14_days_without_an_answer():
    """Guide 4: follow up finished services; 完成日期 from today-13 to today."""
    frame = evaluate(
        {"received_at": "2026-02-20", "completed_at": "2026-02-25"},  # today-13: listed
        {"received_at": "2026-02-20", "completed_at": "2026-02-24"},  # today-14: not
        {"received_at": "2026-03-09", "completed_at": "2026-03-10"},
        {"received_at": "2026-03-09", "completed_at": "2026-03-09", "satisfaction": "滿意"},
        today=TODAY,
    )
    rows = summaries.build_tabs(frame, day(TODAY), HANT, 30)["follow_up"]
    assert [r[0] for r in rows[1:]] == ["R20260220-001", "R20260309-001"]
    assert rows[1][8] == dt.date(2026, 2, 25) and rows[1][10] == 13 and rows[1][11] == 2


def test_weekly_report_counts_a_cohort_by_received_week():
    """SPEC 4.1 週報: one row per ISO week for the last 8 weeks, current week included."""
    frame = evaluate(
        {"received_at": "2026-03-02", "completed_at": "2026-03-03", "satisfaction": "滿意"},  # W10 front desk
        {"received_at": "2026-03-02", "completed_at": "2026-03-06", "satisfaction": "不滿意"},  # supervisor
        {"received_at": "2026-03-03", "category": "投訴"},  # open, supervisor level
        {"received_at": "2026-03-09"},  # W11
        today=TODAY,
    )
    report = summaries.weekly_report(frame, day(TODAY), HANT, 30)
    assert report[0] == HANT.layout("weekly")
    weeks = report[1:9]
    assert [w[0] for w in weeks] == ["2026-W04", "2026-W05", "2026-W06", "2026-W07", "2026-W08", "2026-W09", "2026-W10", "2026-W11"]
    w10 = weeks[6]
    # received, finished, front desk, %, → supervisor, → manager, unresolvable, open, mean days, complaints, satisfaction %
    assert w10[1:] == [3, 2, 1, 33.3, 2, 0, 0, 1, 2.5, 1, 50.0]
    assert weeks[7][1:3] == [1, 0] and weeks[7][4] == 0.0 and weeks[0][4] == ""
    by_category = report.index([f"上週按類別 2026-W10"])
    assert report[by_category + 1][0] == "類別"
    complaint_line = next(r for r in report[by_category + 2:] if r and r[0] == "投訴")
    assert complaint_line[1] == 1


def test_events_first_sight_logs_only_open_rows_past_the_receptionist_window():
    """SPEC 4.1: at first sight, closed history logs nothing; ids counted in one event."""
    frame = evaluate(
        {"received_at": "2026-03-10"},
        {"received_at": "2026-03-05"},
        {"received_at": "2026-03-01"},
        {"received_at": "2026-02-01", "completed_at": "2026-02-20"},
        today=TODAY,
    )
    rows = events.cycle_log_rows(frame, "2026-03-10 09:00:00", HANT)
    assert [r[1] for r in rows] == ["分配記錄編號", "升級主管", "升級經理"]
    assert rows[0][3].startswith("4 個：")
    assert rows[1][2] == "R20260305-001"


def test_events_between_runs_escalation_closing_and_reopening():
    before = {"record_id": "R20260308-001", "received_at": "2026-03-08"}
    escalated = evaluate({**before, "status": "處理中"}, today="2026-03-11")
    assert [r[1] for r in events.cycle_log_rows(escalated, "t", HANT)] == ["升級主管"]
    closed = evaluate({**before, "status": "已升級主管", "completed_at": "2026-03-11"}, today="2026-03-11")
    assert [r[1:3] for r in events.cycle_log_rows(closed, "t", HANT)] == [["已完成", "R20260308-001"]]
    reopened = evaluate({**before, "status": "已完成"}, today="2026-03-11")
    assert [r[1] for r in events.cycle_log_rows(reopened, "t", HANT)] == ["重新打開"]
    idle = evaluate({**before, "status": "已升級主管"}, today="2026-03-11")
    assert events.cycle_log_rows(idle, "t", HANT) == []


def test_issued_ids_are_read_back_from_the_log():
    detail = events.describe_new_ids(["R20260308-001", "R20260308-002", "R20260308-004", "R20260309-001"])
    assert detail == "4 個：R20260309-001；R20260308-001～002；R20260308-004"
    log = [["t", "分配記錄編號", "", detail], ["t", "升級主管", "R20260301-009", "x"]]
    assert events.issued_from_log(log) == {"20260308": 4, "20260309": 1, "20260301": 9}
