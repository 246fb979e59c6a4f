"""When a message is due (domain/due.py), from an evaluation, the log's record of what was sent
and the clock — no workbook, no rendering."""

from __future__ import annotations

import datetime as dt

from automation.config import ScheduleConfig
from automation.domain.due import BATCH_ABOVE, due_now, reviewed_week
from automation.vocabulary import Vocabulary

from .rules_support import evaluate

HANT = Vocabulary("zh-Hant")
TZ = dt.timezone(dt.timedelta(hours=8))
SCHEDULE = ScheduleConfig()  # digest 08:30, weekly review Monday 09:00
TUESDAY_MORNING = dt.datetime(2026, 3, 10, 7, 0, tzinfo=TZ)  # before the digest hour
TUESDAY_NOON = dt.datetime(2026, 3, 10, 12, 0, tzinfo=TZ)
REVIEW_SENT = ("weekly_review", "2026-W10", "manager")  # this week's review, sent on Monday


def owed(evaluation, now, *, sent=(REVIEW_SENT,), alerted=(), log_rows=()):
    return [(m.kind, m.role, m.period) for m in due_now(evaluation, list(log_rows), set(sent), set(alerted), now, SCHEDULE)]


def quiet_sheet():
    return evaluate({"received_at": "2026-03-09", "category": "諮詢"})


def test_nothing_is_due_before_the_digest_hour_on_a_quiet_sheet():
    assert owed(quiet_sheet(), TUESDAY_MORNING) == []


def test_the_supervisor_digest_is_due_from_its_hour_once_a_day():
    assert owed(quiet_sheet(), TUESDAY_NOON) == [("supervisor_digest", "supervisor", "2026-03-10")]
    assert owed(quiet_sheet(), TUESDAY_NOON, sent=[("supervisor_digest", "2026-03-10", "supervisor"), REVIEW_SENT]) == []


def test_the_manager_digest_is_due_only_with_rows_in_the_manager_queue():
    old = evaluate({"received_at": "2026-02-20", "category": "報修"}, today="2026-03-10")
    assert ("manager_digest", "manager", "2026-03-10") in owed(old, TUESDAY_NOON)
    assert not any(kind == "manager_digest" for kind, _, _ in owed(quiet_sheet(), TUESDAY_NOON))


def test_the_weekly_review_is_due_from_monday_nine_for_the_week_before():
    monday_early = dt.datetime(2026, 3, 9, 8, 59, tzinfo=TZ)
    monday_nine = dt.datetime(2026, 3, 9, 9, 0, tzinfo=TZ)
    sunday = dt.datetime(2026, 3, 15, 23, 0, tzinfo=TZ)
    week = reviewed_week(monday_nine)
    assert week == "2026-W10"
    assert ("weekly_review", "manager", week) not in owed(quiet_sheet(), monday_early, sent=())
    assert ("weekly_review", "manager", week) in owed(quiet_sheet(), monday_nine, sent=())
    assert ("weekly_review", "manager", week) in owed(quiet_sheet(), sunday, sent=())  # caught up within the week
    assert ("weekly_review", "manager", week) not in owed(quiet_sheet(), sunday, sent=[("weekly_review", week, "manager")])


def test_an_open_emergency_alerts_supervisor_and_manager_before_any_digest():
    evaluation = evaluate({"received_at": "2026-03-10", "category": "緊急"})
    record_id = evaluation["record_id"].iloc[0]
    assert owed(evaluation, TUESDAY_NOON) == [("emergency", "supervisor", record_id), ("emergency", "manager", record_id),
                                              ("supervisor_digest", "supervisor", "2026-03-10")]


def test_an_alert_already_sent_to_a_role_is_not_due_again_for_it():
    evaluation = evaluate({"received_at": "2026-03-10", "category": "緊急"})
    record_id = evaluation["record_id"].iloc[0]
    assert owed(evaluation, TUESDAY_MORNING, alerted=[("emergency", "supervisor", record_id)]) == [
        ("emergency", "manager", record_id)]


def test_a_complaint_alerts_the_supervisor_only():
    evaluation = evaluate({"received_at": "2026-03-10", "category": "投訴"})
    assert [(kind, role) for kind, role, _ in owed(evaluation, TUESDAY_MORNING)] == [("complaint", "supervisor")]


def test_history_raises_no_alert_closed_rows_nor_rows_the_log_shows_reopened():
    closed = evaluate({"received_at": "2026-03-10", "category": "緊急", "completed_at": "2026-03-10", "result": "已處理"})
    assert owed(closed, TUESDAY_MORNING) == []
    reopened = evaluate({"received_at": "2026-03-10", "category": "緊急", "record_id": "R20260310-001"})
    log = [["2026-03-10 08:00:00", HANT.label("events", "reopened"), "R20260310-001", ""]]
    assert owed(reopened, TUESDAY_MORNING, log_rows=log) == []
    was_closed = evaluate({"received_at": "2026-03-10", "category": "緊急", "status": HANT.label("statuses", "completed")})
    assert owed(was_closed, TUESDAY_MORNING) == []


def test_more_alerts_than_the_batch_limit_go_as_one_message_naming_them_all():
    rows = [{"received_at": "2026-03-10", "category": "投訴", "room": f"1-{n:03d}"} for n in range(BATCH_ABOVE + 1)]
    messages = due_now(evaluate(*rows), [], {REVIEW_SENT}, set(), TUESDAY_MORNING, SCHEDULE)
    assert len(messages) == 1 and messages[0].batch and len(messages[0].rows) == BATCH_ABOVE + 1
    assert messages[0].period.startswith(f"2026-03-10-n{BATCH_ABOVE + 1}-")
    exactly = due_now(evaluate(*rows[:BATCH_ABOVE]), [], {REVIEW_SENT}, set(), TUESDAY_MORNING, SCHEDULE)
    assert len(exactly) == BATCH_ABOVE and not any(message.batch for message in exactly)
