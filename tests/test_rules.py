"""The rules of SPEC 3, table-driven, each case naming its section or procedure clause."""

import datetime as dt

import pytest

from automation.config import EscalationConfig, Ladder
from automation.domain.dates import NO_DATE
from automation.errors import ConfigError
from automation.vocabulary import Vocabulary

from .rules_support import complaints_stricter, day, evaluate

# SPEC 3.3 worked examples: calendar basis, default ladder, today = 2026-03-10.
WORKED_EXAMPLES = [
    ({"received_at": "2026-03-10"}, "處理中", "客戶接待員", "2026-03-12", ""),
    ({"received_at": "2026-03-08", "department": "工程部"}, "已轉部門", "客戶接待員", "2026-03-10", ""),
    ({"received_at": "2026-03-07", "department": "工程部"}, "已升級主管", "客服主管", "2026-03-14", ""),
    ({"received_at": "2026-03-03"}, "已升級主管", "客服主管", "2026-03-10", ""),
    ({"received_at": "2026-03-02"}, "已升級經理", "經理", "", ""),
    ({"received_at": "2026-03-01", "completed_at": "2026-03-03"}, "已完成", "客戶接待員", "", ""),
    ({"received_at": "2026-03-01", "completed_at": "2026-03-04"}, "已完成", "客服主管", "", ""),
    ({"received_at": "2026-02-20", "unresolvable_reason": "業委會未批准"}, "無法處理", "經理", "", ""),
    ({"received_at": "2026-03-09", "unresolvable_reason": "無法聯繫"}, "處理中", "客戶接待員", "2026-03-11",
     "無法處理原因只能由經理在升級後填寫（3.3.3），事項仍未關閉"),
    ({"received_at": "2026-03-09", "result": "已修復"}, "處理中", "客戶接待員", "2026-03-11",
     "已填處理結果，請填寫完成日期"),
    ({"received_at": None}, "資料不全", "客服主管", "", "接待日期缺失"),
]


@pytest.mark.parametrize("cells,status,owner,due,note", WORKED_EXAMPLES)
def test_spec_3_3_worked_examples(cells, status, owner, due, note):
    row = evaluate(cells).iloc[0]
    assert (row.status, row.owner, row.due_date, row.system_note) == (status, owner, due, note)


@pytest.mark.parametrize(
    "received,today,status,due",
    [
        # 4.6/4.7: the 2nd day is still the receptionist's; the 3rd escalates.
        ("2026-03-08", "2026-03-10", "處理中", "2026-03-10"),
        ("2026-03-08", "2026-03-11", "已升級主管", "2026-03-15"),
        # 4.8: the 7th day is still the supervisor's; the 8th goes to the manager.
        ("2026-03-03", "2026-03-10", "已升級主管", "2026-03-10"),
        ("2026-03-03", "2026-03-11", "已升級經理", ""),
        # Month end, leap-free February, and the year end.
        ("2026-02-27", "2026-03-01", "處理中", "2026-03-01"),
        ("2026-02-27", "2026-03-02", "已升級主管", "2026-03-06"),
        ("2026-12-30", "2027-01-01", "處理中", "2027-01-01"),
        ("2026-12-30", "2027-01-02", "已升級主管", "2027-01-06"),
        ("2026-12-31", "2027-01-07", "已升級主管", "2027-01-07"),
        ("2026-12-31", "2027-01-08", "已升級經理", ""),
    ],
)
def test_ladder_edges_on_the_calendar_basis(received, today, status, due):
    """SPEC 3.1: age <= 2 receptionist, 2 < age <= 7 supervisor, age > 7 manager."""
    row = evaluate({"received_at": received}, today=today).iloc[0]
    assert (row.status, row.due_date) == (status, due)


def test_received_time_does_not_matter_only_its_date():
    """SPEC 3: D is the calendar date of 接待日期, so 23:59 and 00:00 of one day are alike."""
    frame = evaluate({"received_at": dt.datetime(2026, 3, 8, 23, 59)}, {"received_at": "2026-03-08 00:00"})
    assert frame["status"].tolist() == ["處理中", "處理中"]
    assert frame["due_date"].tolist() == ["2026-03-10", "2026-03-10"]


WORKDAY = EscalationConfig(day_basis="workday")


@pytest.mark.parametrize(
    "received,today,status,due",
    [
        # National Day 2026: Oct 1–7 off, Oct 10 (Saturday) a working day.
        ("2026-09-30", "2026-10-07", "處理中", "2026-10-09"),  # no working day has passed yet
        ("2026-09-30", "2026-10-09", "處理中", "2026-10-09"),  # Oct 8, 9: two working days
        ("2026-09-30", "2026-10-10", "已升級主管", "2026-10-15"),  # the adjusted Saturday counts
        ("2026-09-30", "2026-10-16", "已升級經理", ""),  # the 8th working day
        ("2026-09-30", "2026-10-19", "已升級經理", ""),
        # An ordinary weekend: received Friday, the weekend does not count.
        ("2026-11-20", "2026-11-24", "處理中", "2026-11-24"),
        ("2026-11-20", "2026-11-25", "已升級主管", "2026-12-01"),
    ],
)
def test_workday_basis_over_holidays(received, today, status, due):
    """SPEC 3 day_basis = "workday": statutory holidays skipped, adjusted working weekends counted."""
    row = evaluate({"received_at": received}, today=today, escalation=WORKDAY).iloc[0]
    assert (row.status, row.due_date) == (status, due)


def test_workday_basis_names_the_year_it_cannot_count():
    with pytest.raises(ConfigError) as caught:
        evaluate({"received_at": "2026-12-30"}, today="2027-01-05", escalation=WORKDAY)
    assert "2027" in str(caught.value) and "day_basis" in str(caught.value)


def test_per_category_ladder_override():
    """SPEC 3.1: [escalation.categories."投訴"] supervisor_after_days = 1, manager_after_days = 3."""
    frame = evaluate(
        {"received_at": "2026-03-08", "category": "投訴"},
        {"received_at": "2026-03-08", "category": "投诉"},  # Simplified spelling reads the same
        {"received_at": "2026-03-08", "category": "報修"},
        {"received_at": "2026-03-06", "category": "投訴"},
        escalation=complaints_stricter(),
    )
    assert frame["status"].tolist() == ["已升級主管", "已升級主管", "處理中", "已升級經理"]
    assert frame["due_date"].tolist() == ["2026-03-11", "2026-03-11", "2026-03-10", ""]


def test_closed_owner_is_the_role_whose_window_holds_the_closing_date():
    """SPEC 3.1 and clauses 4.6–4.8: the role that records the result."""
    frame = evaluate(
        {"received_at": "2026-02-20", "completed_at": "2026-02-22"},
        {"received_at": "2026-02-20", "completed_at": "2026-02-27"},
        {"received_at": "2026-02-20", "completed_at": "2026-02-28"},
    )
    assert frame["owner"].tolist() == ["客戶接待員", "客服主管", "經理"]
    assert set(frame["status"]) == {"已完成"}


@pytest.mark.parametrize(
    "cells,status,note",
    [
        ({"completed_at": "昨天"}, "處理中", "完成日期無法識別：昨天"),
        ({"completed_at": "2026-03-07"}, "處理中", "完成日期早於接待日期"),
        ({"completed_at": "2026-03-11"}, "處理中", "完成日期晚於今天"),
        ({"received_at": "2026-03-11"}, "資料不全", "接待日期晚於今天"),
        # SPEC 6: dates before 1990 are unlikely, as future dates are (a serial typed as a number).
        ({"received_at": 59}, "資料不全", "接待日期早於 1990 年，可能有誤"),
        ({"received_at": "1900-01-01"}, "資料不全", "接待日期早於 1990 年，可能有誤"),
        ({"completed_at": "1989-12-31"}, "處理中", "完成日期早於 1990 年，可能有誤"),
        ({"received_at": 60}, "資料不全", "接待日期無法識別：60"),  # Excel's 1900-02-29 never was
        ({"received_at": "上週二"}, "資料不全", "接待日期無法識別：上週二"),
        ({"room": None}, "資料不全", "房號缺失"),
        ({"matter": "  "}, "資料不全", "事由缺失"),
        ({"owner_name": None}, "資料不全", "業主姓名或聯系電話缺失"),
        ({"owner_name": None, "phone": "13812345678"}, "處理中", ""),
        ({"channel": "微信"}, "處理中", "接待渠道「微信」不在選項中"),
        ({"category": "雜項"}, "處理中", "類別「雜項」不在選項中，按其他處理"),
        ({"satisfaction": "還行"}, "處理中", "回訪滿意度「還行」不在選項中"),
        ({"category": "咨詢"}, "處理中", ""),  # variant spelling accepted (SPEC 2.1)
        ({"room": None, "completed_at": "2026-03-09"}, "已完成", "房號缺失"),  # finished stays finished
    ],
)
def test_spec_3_2_notes(cells, status, note):
    row = evaluate({"received_at": "2026-03-08", **cells}).iloc[0]
    assert (row.status, row.system_note) == (status, note)


def test_incomplete_rows_wait_in_the_supervisor_queue_with_no_due_date():
    row = evaluate({"received_at": "2026-03-01", "room": None}).iloc[0]
    assert (row.status, row.owner, row.due_date) == ("資料不全", "客服主管", "")


def test_unresolvable_reason_closes_only_at_manager_level():
    """Clause 3.3.3 / 4.8: only the manager closes, after escalation."""
    frame = evaluate(
        {"received_at": "2026-03-03", "unresolvable_reason": "無法處理"},  # supervisor level
        {"received_at": "2026-03-02", "unresolvable_reason": "無法處理"},  # manager level
    )
    assert frame["status"].tolist() == ["已升級主管", "無法處理"]
    assert "3.3.3" in frame["system_note"].iloc[0]
    assert frame["system_note"].iloc[1] == ""


def test_reopened_row_takes_the_ladder_status_of_its_age_and_keeps_its_note():
    """SPEC 3.2: 完成日期 cleared on a finished row reopens it."""
    first = evaluate({"received_at": "2026-03-01", "status": "已完成", "record_id": "R20260301-001"}).iloc[0]
    assert (first.status, first.status_key, first.previous_status) == ("已升級經理", "escalated_manager", "completed")
    assert first.system_note == "完成日期已清除，事項重新打開"
    later = evaluate({"received_at": "2026-03-01", "status": first.status, "record_id": first.record_id,
                      "system_note": first.system_note}).iloc[0]
    assert later.system_note == first.system_note


def test_record_ids_by_received_date_and_sequence():
    """SPEC 2.2: R + YYYYMMDD + 3-digit sequence within that date, assigned once."""
    frame = evaluate(
        {"received_at": "2026-03-08"},
        {"received_at": "2026-03-08", "record_id": "R20260308-005"},
        {"received_at": "2026-03-08"},
        {"received_at": "明天"},  # unreadable: the date of this run
        {"received_at": "2026-04-01"},  # in the future: the date of this run
        {"received_at": "2026-03-09"},
    )
    assert frame["record_id"].tolist() == [
        "R20260308-006", "R20260308-005", "R20260308-007", "R20260310-001", "R20260310-002", "R20260309-001"]
    assert frame["id_is_new"].tolist() == [True, False, True, True, True, True]


def test_duplicate_id_later_row_is_renumbered_with_a_note():
    frame = evaluate(
        {"received_at": "2026-03-08", "record_id": "R20260308-001"},
        {"received_at": "2026-03-08", "record_id": "R20260308-001"},
    )
    assert frame["record_id"].tolist() == ["R20260308-001", "R20260308-002"]
    assert frame["system_note"].tolist() == ["", "記錄編號重複，已重新編號"]


def test_ids_recorded_in_the_log_are_never_reissued():
    """A deleted row's id stays used: sequences continue after the highest ever issued."""
    row = evaluate({"received_at": "2026-03-08"}, issued={"20260308": 4}).iloc[0]
    assert row.record_id == "R20260308-005"


def test_blank_rows_are_ignored():
    frame = evaluate({"received_at": "2026-03-08"}, {"owner_name": None, "room": None, "matter": None})
    assert len(frame) == 1


def test_simplified_language_writes_simplified_words():
    hans = Vocabulary("zh-Hans")
    frame = evaluate({"received_at": "2026-03-03"}, {"received_at": "2026-03-10", "department": "工程部"},
                     {"received_at": None}, vocabulary=hans)
    assert frame["status"].tolist() == ["已升级主管", "已转部门", "资料不全"]
    assert frame["owner"].tolist() == ["客服主管", "客户接待员", "客服主管"]
    assert frame["system_note"].tolist()[2] == "接待日期缺失"


def test_serial_numbers_and_date_cells_are_dates():
    frame = evaluate({"received_at": 46089.0}, {"received_at": dt.date(2026, 3, 8)})  # 46089 = 2026-03-08
    assert frame["received"].tolist() == [day("2026-03-08")] * 2
    assert set(frame["status"]) == {"處理中"}


def test_received_in_future_has_no_ladder():
    row = evaluate({"received_at": "2026-03-12"}).iloc[0]
    assert (row.status, row.due, row.age) == ("資料不全", NO_DATE, -1)


def test_ladder_config_must_keep_manager_after_supervisor():
    from automation.config import parse_config
    from pathlib import Path

    with pytest.raises(ConfigError) as caught:
        parse_config({"escalation": {"supervisor_after_days": 3, "manager_after_days": 3},
                      "centers": []}, Path("/x/config.toml"))
    assert "escalation.manager_after_days" in str(caught.value)
    assert Ladder(2, 7) == EscalationConfig().default
