"""The quarterly review's figures, problems and timing (SPEC 4.3, 4.2), on crafted rows."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import numpy as np
import pytest

from automation.domain import quarterly as q
from automation.domain.quarterly import Quarter
from tests.rules_support import HANT, day, evaluate

TODAY = "2026-10-05"  # the first Monday of 2026-Q4: the review of 2026-Q3 falls due
Q2, Q3, Q4 = Quarter(2026, 2), Quarter(2026, 3), Quarter(2026, 4)
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")

# Two quarters of receptions (calendar basis, default ladder 2 / 7 days).
ROWS = [
    # 2026-Q2
    {"received_at": "2026-04-01", "category": "報修", "channel": "致電", "completed_at": "2026-04-02",
     "satisfaction": "滿意", "supervisor_review": "王", "manager_review": "李"},
    {"received_at": "2026-06-30 23:59", "category": "投訴", "channel": "上門", "completed_at": "2026-07-05",
     "satisfaction": "不滿意", "supervisor_review": "王", "manager_review": "李"},  # last minute of Q2
    {"received_at": "2026-05-10", "category": "緊急", "completed_at": "2026-05-10"},
    # 2026-Q3
    {"received_at": "2026-07-01", "category": "報修", "channel": "網上", "completed_at": "2026-07-03",
     "satisfaction": "基本滿意", "supervisor_review": "王", "manager_review": "李"},
    {"received_at": "2026-07-01", "category": "投訴", "channel": "致電", "completed_at": "2026-07-02"},
    {"received_at": "2026-08-01", "category": "投訴", "department": "工程部"},
    {"received_at": "2026-09-30 23:59", "category": "緊急"},  # last minute of Q3
    {"received_at": "2026-08-15", "unresolvable_reason": "業主不配合"},
    {"received_at": "2026-09-01", "category": "諮詢", "completed_at": "2026-09-20"},
    {"received_at": "2026-09-10", "room": ""},  # 資料不全
    # 2026-Q4
    {"received_at": "2026-10-01 00:00", "category": "報修"},
]


@pytest.fixture(scope="module")
def figures() -> q.QuarterlyFigures:
    ev = evaluate(*ROWS, today=TODAY)
    return q.quarterly_figures(ev, day(TODAY), HANT.keys("categories"), HANT.keys("channels"))


@pytest.mark.parametrize("key, in_q2, in_q3, change", [
    ("received", 3, 7, 4),
    ("category:repair", 1, 1, 0),
    ("category:complaint", 1, 2, 1),
    ("category:inquiry", 0, 1, 1),
    ("category:emergency", 1, 1, 0),
    ("category:other", 0, 2, 2),
    ("channel:phone", 1, 1, 0),
    ("channel:visit", 1, 0, -1),
    ("channel:online", 0, 1, 1),
    ("channel:unspecified", 1, 5, 4),
    ("front_finished", 2, 2, 0),
    ("front_finished_pct", 66.7, 28.6, -38.1),
    ("reached_supervisor", 1, 5, 4),
    ("reached_manager", 0, 4, 4),
    ("unresolvable", 0, 1, 1),
    ("still_open", 0, 3, 3),
    ("days_mean", 2.0, 7.3, 5.3),
    ("days_median", 1.0, 2.0, 1.0),
    ("days_p90", 4.2, 15.6, 11.4),
    ("complaints", 1, 2, 1),
    ("complaints_front_pct", 0.0, 50.0, 50.0),
    ("complaints_days_mean", 5.0, 1.0, -4.0),
    ("emergencies", 1, 1, 0),
    ("emergencies_open", 0, 1, 1),
    ("lacking_supervisor_review", 1, 6, 5),
    ("lacking_supervisor_review_pct", 33.3, 85.7, 52.4),
    ("lacking_manager_review", 1, 6, 5),
    ("lacking_manager_review_pct", 33.3, 85.7, 52.4),
    ("follow_up_pct", 66.7, 33.3, -33.4),
    ("satisfaction_pct", 50.0, 100.0, 50.0),
    ("unsatisfied", 1, 0, -1),
    ("incomplete_at_end", 0, 1, 1),
])
def test_each_figure_beside_the_previous_quarter(figures, key, in_q2, in_q3, change):
    assert figures.value(key, Q2) == in_q2
    assert figures.value(key, Q3) == in_q3
    assert figures.delta(key, Q3) == change


def test_four_quarters_shown_current_included_with_their_change(figures):
    assert [quarter.label for quarter in figures.quarters] == ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]
    assert figures.value("received", Q4) == 1  # 10-01 00:00 opens Q4
    assert figures.value("received", Quarter(2026, 1)) == 0
    assert figures.delta("received", Q4) == -6
    assert figures.value("days_mean", Q4) is None  # nothing finished yet: undefined, not 0
    assert figures.delta("days_mean", Q4) is None


def test_unresolvable_reasons_listed_by_quarter(figures):
    assert figures.reasons["2026-Q3"] == (("R20260815-001", "業主不配合"),)
    assert figures.reasons["2026-Q2"] == ()


def test_incomplete_at_end_counts_rows_first_seen_by_then_and_open_then():
    rows = [
        {"received_at": "2026-09-10", "room": ""},  # open, incomplete since Q3
        {"received_at": "2026-08-01", "matter": "", "completed_at": "2026-10-02"},  # closed in Q4
        {"received_at": "2026-08-01", "matter": "", "completed_at": "2026-09-02"},  # closed in Q3
        {"received_at": "看不懂", "record_id": "R20260920-001"},  # unreadable date, first seen in Q3
        {"received_at": "看不懂", "record_id": "R20261003-001"},  # first seen in Q4
    ]
    ev = evaluate(*rows, today=TODAY)
    counts = q.incomplete_at_end(ev, [Q2, Q3, Q4], day(TODAY))
    assert counts == [0, 3, 3]


@pytest.mark.parametrize("ordinal_text, label", [
    ("2026-03-31", "2026-Q1"), ("2026-04-01", "2026-Q2"), ("2026-06-30", "2026-Q2"),
    ("2026-07-01", "2026-Q3"), ("2026-12-31", "2026-Q4"), ("2027-01-01", "2027-Q1"),
    ("2024-02-29", "2024-Q1"), ("1999-12-31", "1999-Q4"),
])
def test_quarter_of_a_day_whole_column_and_one_by_one(ordinal_text, label):
    ordinal = day(ordinal_text)
    assert Quarter.of_day(ordinal).label == label
    index = q.quarter_indexes(np.array([ordinal, q.NO_DATE]))
    assert Quarter.from_index(index[0]).label == label and index[1] == -1


# ----- problems ---------------------------------------------------------------------------------

def _many(count: int, received: str, **cells) -> list[dict]:
    """`count` receptions on one day, each in its own room and finished that day unless told."""
    return [{"received_at": received, "room": f"{received}/{n}", "completed_at": received, **cells}
            for n in range(count)]


# Each case: the rule it is about, its rows, and what that rule finds (subject, ids).
PROBLEM_CASES = {
    "room with 3 receptions in the quarter": ("room_repeat",
        [*_many(3, "2026-07-02", room="3-301"), *_many(2, "2026-08-02", room="5-501"),
         *_many(1, "2026-06-30", room="5-501")],  # Q2: does not count
        [(("3-301",), ("R20260702-001", "R20260702-002", "R20260702-003"))],
    ),
    "room with 2 complaints": ("room_repeat",
        [*_many(2, "2026-07-02", room="6-601", category="投訴"), *_many(1, "2026-07-03", room="7-701", category="投訴")],
        [(("6-601",), ("R20260702-001", "R20260702-002"))],
    ),
    "pair rose by half, from 3 to 5": ("pair_rise",
        [*_many(3, "2026-05-01", category="報修", department="工程部"),
         *_many(5, "2026-08-01", category="報修", department="工程部")],
        [(("repair", "工程部"), tuple(f"R20260801-00{i}" for i in range(1, 6)))],
    ),
    "pair from none to 5, at the front desk": ("pair_rise",
        _many(5, "2026-09-01", category="建議"),
        [(("suggestion", ""), tuple(f"R20260901-00{i}" for i in range(1, 6)))],
    ),
    "pair rose by less than half, or too few": ("pair_rise",
        [*_many(4, "2026-05-01", category="報修", department="工程部"),
         *_many(5, "2026-08-01", category="報修", department="工程部"),
         *_many(4, "2026-08-02", category="諮詢")],
        [],
    ),
    "department with 2 of 5 reaching the supervisor": ("department_escalation",
        [*_many(3, "2026-07-06", department="保安部"),
         *_many(2, "2026-07-07", department="保安部", completed_at="2026-07-12")],
        [(("保安部",), ("R20260707-001", "R20260707-002"))],
    ),
    "department at exactly 30% of 10": ("department_escalation",
        [*_many(7, "2026-07-06", department="綠化部"),
         *_many(3, "2026-07-07", department="綠化部", completed_at="2026-07-20")],
        [(("綠化部",), ("R20260707-001", "R20260707-002", "R20260707-003"))],
    ),
    "department under the share, or under 5 items": ("department_escalation",
        [*_many(4, "2026-07-06", department="清潔部"),
         *_many(1, "2026-07-07", department="清潔部", completed_at="2026-07-12"),
         *_many(4, "2026-07-07", department="會所", completed_at="2026-07-20"),
         *_many(5, "2026-04-07", department="會所", completed_at="2026-04-20")],  # Q2 does not count
        [],
    ),
    "open at manager level for more than 30 days": ("manager_overdue",
        # The manager has an item from day 8: 08-27 → 09-04 (31 days before 10-05), 08-28 → 09-05 (30).
        [*_many(1, "2026-08-27", completed_at=None), *_many(1, "2026-08-28", completed_at=None),
         *_many(1, "2026-03-01", completed_at=None), *_many(1, "2026-03-02", completed_at="2026-09-01")],
        [((), ("R20260301-001", "R20260827-001"))],
    ),
}


@pytest.mark.parametrize("kind, rows, expected", PROBLEM_CASES.values(), ids=PROBLEM_CASES.keys())
def test_problem_rules(kind, rows, expected):
    ev = evaluate(*rows, today=TODAY)
    found = q.quarterly_problems(ev, day(TODAY))
    assert [(p.subject, p.record_ids) for p in found if p.kind == kind] == expected


def test_problem_figures_name_the_numbers_behind_them():
    rows = [*_many(3, "2026-05-01", category="報修", department="工程部", room="A"),
            *_many(5, "2026-08-01", category="報修", department="工程部", room="B", completed_at=None)]
    found = {p.kind: p for p in q.quarterly_problems(evaluate(*rows, today=TODAY), day(TODAY))}
    assert found["pair_rise"].figures == {"now": 5, "before": 3}
    assert found["room_repeat"].figures == {"receptions": 5, "complaints": 0}
    assert found["department_escalation"].figures == {"items": 5, "reached": 5, "pct": 100.0}
    assert found["manager_overdue"].figures == {"count": 5, "longest_days": day(TODAY) - day("2026-08-09")}


def test_workday_basis_places_the_manager_day_on_working_days():
    from automation.config import EscalationConfig

    # 2026-08-20 (Thu): its 7th working day after is 08-31 (Mon), so the manager has it from
    # 09-01, 34 days before 10-05 (on the calendar basis it would be from 08-28).
    ev = evaluate({"received_at": "2026-08-20"}, today=TODAY, escalation=EscalationConfig(day_basis="workday"))
    assert int(ev["manager_from"].iloc[0]) == day("2026-09-01")
    assert [p.kind for p in q.quarterly_problems(ev, day(TODAY))] == ["manager_overdue"]


# ----- timing of the mail -------------------------------------------------------------------------

def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@pytest.mark.parametrize("now, reviewed", [
    ("2026-10-01 09:00", None),  # Thursday: the quarter's first Monday is 10-05
    ("2026-10-05 08:59", None),  # before the hour
    ("2026-10-05 09:00", "2026-Q3"),  # at the first review day and hour
    ("2026-11-20 14:00", "2026-Q3"),  # later in the quarter (a worker down then, or first started)
    ("2026-12-31 23:59", "2026-Q3"),  # last minute of the quarter
    ("2027-01-01 00:00", None),  # the new quarter: Q3's review is not caught up any more
    ("2027-01-04 09:00", "2026-Q4"),
    ("2024-07-01 08:59", None),  # a quarter that begins on a Monday
    ("2024-07-01 09:00", "2024-Q2"),
])
def test_review_due_from_the_first_review_day_to_the_end_of_the_quarter(now, reviewed):
    found = q.quarter_due_for_review(_at(now), 0, dt.time(9, 0))
    assert (found.label if found else None) == reviewed


def test_review_day_and_hour_follow_the_weekly_settings():
    # Wednesday 14:00: 2026-Q4 begins on Thursday 10-01, so its first Wednesday is 10-07.
    assert q.quarter_due_for_review(_at("2026-10-07 13:59"), 2, dt.time(14, 0)) is None
    assert q.quarter_due_for_review(_at("2026-10-07 14:00"), 2, dt.time(14, 0)).label == "2026-Q3"


@pytest.mark.parametrize("now, sent, expected", [
    ("2026-10-01 10:00", set(), ("2026-10-05 09:00", "2026-Q3", False)),
    ("2026-10-06 10:00", set(), ("2026-10-05 09:00", "2026-Q3", True)),
    ("2026-10-06 10:00", {"2026-Q3"}, ("2027-01-04 09:00", "2026-Q4", False)),
    ("2024-06-30 10:00", {"2024-Q1"}, ("2024-07-01 09:00", "2024-Q2", False)),
])
def test_next_review(now, sent, expected):
    moment, quarter, due = q.next_review(_at(now), 0, dt.time(9, 0), sent)
    assert (moment.strftime("%Y-%m-%d %H:%M"), quarter.label, due) == expected


def test_tab_lists_a_problems_ids_one_per_cell_and_counts_beyond_a_hundred():
    from automation.domain.quarterly_report import ProblemLine, problem_rows

    ids = tuple(f"R20260801-{n:03d}" for n in range(1, 151))
    rows = problem_rows(ProblemLine("升級經理超過 30 天仍未完成", "150 項", ids), HANT, 7)
    assert rows[0][:3] == ["升級經理超過 30 天仍未完成", "150 項", "R20260801-001"]
    assert all(len(row) <= 9 and row[:2] in (["", ""], rows[0][:2]) for row in rows)
    cells = [cell for row in rows for cell in row[2:]]
    assert cells[:100] == list(ids[:100]) and cells[100:] == ["…等共 150 項"]
