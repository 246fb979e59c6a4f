"""When each message of SPEC 4.2 is due, driven by the clock through the real `run` path.

Every test writes a real .xlsx workbook and a config file, runs `commands.run_once` at chosen clock
times (Asia/Shanghai; 2026-03-09 is a Monday, ISO week 2026-W11), and reads the .eml files the
outbox transport wrote and the event log the worker appended.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from automation.application import one_center
from automation.adapters.outbox import OutboxTransport
from automation.adapters.workbook import WorkbookBackend
from automation.config import load_config
from automation.errors import WorkbookLockedError

from tests.messages_support import (
    CENTER, MANAGER, SUPERVISOR, Outbox, append_rows, at, html_of, log_events, log_rows, reception, run,
    set_cell, subjects, text_of, write_config, write_workbook,
)

SUPERVISOR_DIGEST = f"[{CENTER}] 客服主管每日隊列 "
MANAGER_DIGEST = f"[{CENTER}] 經理隊列 "
WEEKLY = f"[{CENTER}] 上週接待記錄審核 "
# 2026-03-09 lies after the first Monday of 2026-Q1: a first run then also sends 2025-Q4's
# quarterly review, to the supervisor and the manager (SPEC 4.2).
QUARTERLY_Q4 = [f"[{CENTER}] 季度復審 2025-Q4"] * 2


class Center:
    """A workbook, its config and its outbox in a folder of their own."""

    def __init__(self, folder: Path, rows: list[dict], **config):
        self.workbook = write_workbook(folder / "data" / "center.xlsx", rows)
        self.config = write_config(folder, self.workbook, **config)
        self.outbox = Outbox(folder / "outbox")

    def run(self, when: str, expect_code: int = 0) -> list[str]:
        """Run at `when`; the subjects of the messages this run sent."""
        result = run(self.config, at(when))
        assert result.code == expect_code, result.err
        return subjects(self.outbox.new())


BASIC_ROWS = [
    reception("2026-03-08", "樓道燈不亮"),  # receptionist level on 03-09
    reception("2026-02-20", "電梯按鍵失靈"),  # manager level: the manager queue is not empty
    reception("2026-03-08", "保潔人員態度差", "投訴"),  # open complaint
    reception("2026-03-04", "垃圾房異味", "投訴", result="已改善", completed="2026-03-05"),  # closed history
    reception("2026-03-07", "配電房冒煙", "緊急"),  # open emergency
]


@pytest.fixture
def center(tmp_path):
    return Center(tmp_path, BASIC_ROWS)


def only(prefix: str, sent: list[str]) -> list[str]:
    return [subject for subject in sent if subject.startswith(prefix)]


# ----- daily digests ------------------------------------------------------------------------


def test_daily_digests_go_at_the_first_run_at_or_after_the_hour_and_once_a_day(center):
    early = center.run("2026-03-09 08:29")
    assert not only(SUPERVISOR_DIGEST, early) and not only(MANAGER_DIGEST, early)

    assert only(SUPERVISOR_DIGEST, center.run("2026-03-09 08:30")) == [SUPERVISOR_DIGEST + "2026-03-09"]
    assert center.run("2026-03-09 08:35") == []  # a second run the same day
    assert not only(SUPERVISOR_DIGEST, center.run("2026-03-09 23:59"))

    assert center.run("2026-03-10 08:29") == []
    assert center.run("2026-03-10 08:31") == sorted([MANAGER_DIGEST + "2026-03-10", SUPERVISOR_DIGEST + "2026-03-10"])


def test_a_missed_morning_is_caught_up_later_that_day_but_not_the_next(center):
    # The worker was down all of 03-09 until 16:00, then all of 03-10.
    sent = center.run("2026-03-09 16:00")
    assert only(SUPERVISOR_DIGEST, sent) == [SUPERVISOR_DIGEST + "2026-03-09"]
    sent = center.run("2026-03-11 09:10")
    assert only(SUPERVISOR_DIGEST, sent) == [SUPERVISOR_DIGEST + "2026-03-11"]
    assert only(MANAGER_DIGEST, sent) == [MANAGER_DIGEST + "2026-03-11"]


def test_manager_digest_only_when_the_manager_queue_is_not_empty(tmp_path):
    quiet = Center(tmp_path, [reception("2026-03-08"), reception("2026-03-05", "門禁卡失效")])
    sent = quiet.run("2026-03-09 08:30")
    assert only(SUPERVISOR_DIGEST, sent) and not only(MANAGER_DIGEST, sent)

    # A week later the 03-05 row is at manager level: from then on the manager hears of it daily.
    sent = quiet.run("2026-03-13 08:30")
    assert only(MANAGER_DIGEST, sent) == [MANAGER_DIGEST + "2026-03-13"]
    [digest] = [m for m in quiet.outbox.all() if str(m["Subject"]).startswith(MANAGER_DIGEST)]
    assert digest["To"].addresses[0].addr_spec == MANAGER
    assert "門禁卡失效" in text_of(digest) and "經理隊列" in text_of(digest)


def test_digest_hour_comes_from_the_config(tmp_path):
    custom = Center(tmp_path, BASIC_ROWS, schedule='daily_digest_at = "07:15"')
    assert not only(SUPERVISOR_DIGEST, custom.run("2026-03-10 07:14"))
    assert only(SUPERVISOR_DIGEST, custom.run("2026-03-10 07:15"))


# ----- weekly review ------------------------------------------------------------------------


def test_weekly_review_on_monday_at_the_review_time_for_last_week(center):
    assert not only(WEEKLY, center.run("2026-03-09 08:59"))
    assert only(WEEKLY, center.run("2026-03-09 09:00")) == [WEEKLY + "2026-W10"]
    assert not only(WEEKLY, center.run("2026-03-09 09:05"))
    assert not only(WEEKLY, center.run("2026-03-12 10:00"))  # later that week: already sent
    assert only(WEEKLY, center.run("2026-03-16 09:00")) == [WEEKLY + "2026-W11"]


def test_worker_down_on_monday_sends_the_review_on_tuesday(center):
    assert only(WEEKLY, center.run("2026-03-10 07:00")) == [WEEKLY + "2026-W10"]
    assert not only(WEEKLY, center.run("2026-03-10 09:00"))


def test_first_start_on_a_friday_sends_that_weeks_review(center):
    assert only(WEEKLY, center.run("2026-03-13 15:00")) == [WEEKLY + "2026-W10"]


def test_a_week_the_worker_was_down_through_is_not_caught_up(center):
    assert only(WEEKLY, center.run("2026-03-02 10:00")) == [WEEKLY + "2026-W09"]
    # Down from 03-02 to 03-17: the review due in the week of 03-09 (of W10) is never sent.
    assert only(WEEKLY, center.run("2026-03-17 10:00")) == [WEEKLY + "2026-W11"]
    all_weekly = only(WEEKLY, subjects(center.outbox.all()))
    assert all_weekly == [WEEKLY + "2026-W09", WEEKLY + "2026-W11"]


def test_review_day_and_time_come_from_the_config(tmp_path):
    custom = Center(tmp_path, BASIC_ROWS, schedule='weekly_review_day = "wednesday"\nweekly_review_at = "14:00"')
    assert not only(WEEKLY, custom.run("2026-03-09 10:00"))
    assert not only(WEEKLY, custom.run("2026-03-11 13:59"))
    assert only(WEEKLY, custom.run("2026-03-11 14:00")) == [WEEKLY + "2026-W10"]


# ----- sent once: re-runs, restarts, other machines ----------------------------------------


def test_a_rerun_and_a_run_from_another_machine_send_nothing_twice(center, tmp_path):
    first = center.run("2026-03-09 09:30")
    # 2 digests, the weekly review, a complaint, an emergency and the quarterly review to two people
    assert len(first) == 8
    assert center.run("2026-03-09 09:30") == []

    # Another machine: its own config file and outbox, the same workbook.
    other = write_config(tmp_path / "elsewhere", center.workbook)
    other_outbox = Outbox(tmp_path / "elsewhere" / "outbox")
    result = run(other, at("2026-03-09 09:40"))
    assert result.code == 0, result.err
    assert other_outbox.all() == []


def test_message_ids_are_derived_from_center_kind_period_and_recipient(center, tmp_path):
    center.run("2026-03-09 09:30")
    ids = sorted((str(m["Subject"]), str(m["Message-ID"])) for m in center.outbox.all())
    by_subject = dict(ids)
    assert by_subject[SUPERVISOR_DIGEST + "2026-03-09"].startswith("<supervisor_digest.2026-03-09.supervisor.")
    assert by_subject[WEEKLY + "2026-W10"].startswith("<weekly_review.2026-W10.manager.")
    assert all(value.endswith("@example.com>") for _, value in ids)
    emergency = sorted(value for subject, value in ids if "緊急" in subject)
    assert [value.split(".")[:3] for value in emergency] == [
        ["<emergency", "R20260307-001", "manager"], ["<emergency", "R20260307-001", "supervisor"]]

    # The same messages composed on another machine carry the same ids (a repeat is recognisable).
    twin = Center(tmp_path / "twin", BASIC_ROWS)
    twin.run("2026-03-09 09:30")
    assert sorted((str(m["Subject"]), str(m["Message-ID"])) for m in twin.outbox.all()) == ids


def test_the_event_log_records_every_message_sent_with_its_message_id(center):
    center.run("2026-03-09 09:30")
    sent_rows = log_events(center.workbook, "郵件已發送")
    for message in center.outbox.all():
        rows = [row for row in sent_rows if str(message["Message-ID"]) in row[3]]
        assert rows, message["Subject"]
        assert all(message["To"].addresses[0].addr_spec in row[3] for row in rows)
        assert all("138" not in row[3] for row in rows)  # no owner phone in the log


# ----- alerts -------------------------------------------------------------------------------


def test_alerts_for_open_rows_only_and_never_for_closed_history(center):
    sent = center.run("2026-03-09 07:00")  # before any digest
    assert sent == [*QUARTERLY_Q4, f"[{CENTER}] 投訴 R20260308-002", f"[{CENTER}] 緊急 R20260307-001",
                    f"[{CENTER}] 緊急 R20260307-001"]
    recipients = sorted(m["To"].addresses[0].addr_spec for m in center.outbox.all() if "緊急" in str(m["Subject"]))
    assert recipients == [MANAGER, SUPERVISOR]
    [complaint] = [m for m in center.outbox.all() if "投訴" in str(m["Subject"])]
    assert complaint["To"].addresses[0].addr_spec == SUPERVISOR


def test_closed_history_that_reopens_raises_no_alert(center):
    center.run("2026-03-09 07:00")
    set_cell(center.workbook, 5, "完成日期", None)  # the complaint closed when first seen reopens
    assert center.run("2026-03-09 07:10") == []
    assert "重新打開" in [row[1] for row in log_rows(center.workbook)]
    # Its status now reads open, as if it had been open all along: the log still remembers.
    assert center.run("2026-03-09 07:20") == []
    assert not only(f"[{CENTER}] 投訴", center.run("2026-03-10 07:00"))


def test_an_alert_sent_is_never_sent_again_even_if_the_row_reopens(center):
    center.run("2026-03-09 07:00")
    set_cell(center.workbook, 4, "完成日期", "2026-03-09")
    assert center.run("2026-03-09 07:10") == []
    set_cell(center.workbook, 4, "完成日期", None)
    assert center.run("2026-03-09 07:20") == []


def test_a_row_typed_later_or_recategorised_alerts_at_the_next_run(center):
    center.run("2026-03-09 07:00")
    append_rows(center.workbook, [reception("2026-03-09", "業主家中老人摔倒", "緊急")])
    set_cell(center.workbook, 2, "類別", "投訴")  # the open 報修 row turns out to be a complaint
    sent = center.run("2026-03-09 07:05")
    assert sent == [f"[{CENTER}] 投訴 R20260308-001", f"[{CENTER}] 緊急 R20260309-001", f"[{CENTER}] 緊急 R20260309-001"]


def test_more_than_five_alerts_for_one_recipient_go_as_one_message(tmp_path):
    rows = [reception(f"2026-03-0{day}", f"投訴事項{day}", "投訴") for day in range(1, 8)]
    many = Center(tmp_path, rows)
    sent = many.run("2026-03-09 07:00")
    assert sent == [*QUARTERLY_Q4, f"[{CENTER}] 投訴 7 項"]
    [batch] = [m for m in many.outbox.all() if "投訴" in str(m["Subject"])]
    body = text_of(batch)
    ids = [f"R2026030{day}-001" for day in range(1, 8)]
    assert all(record_id in body for record_id in ids)
    assert body.index(ids[0]) < body.index(ids[-1])  # oldest first
    # Recorded per record id, so each row is known to be alerted.
    logged = sorted(row[2] for row in log_events(many.workbook, "郵件已發送") if row[2])
    assert logged == ids

    append_rows(many.workbook, [reception("2026-03-09", "新投訴", "投訴")])
    assert many.run("2026-03-09 07:10") == [f"[{CENTER}] 投訴 R20260309-001"]


def test_exactly_five_alerts_go_one_by_one(tmp_path):
    rows = [reception(f"2026-03-0{day}", f"緊急{day}", "緊急") for day in range(4, 9)]
    five = Center(tmp_path, rows)
    sent = [subject for subject in five.run("2026-03-09 07:00") if subject not in QUARTERLY_Q4]
    assert len(sent) == 10 and all("項" not in subject for subject in sent)


# ----- digest content -----------------------------------------------------------------------


def test_supervisor_digest_sections(tmp_path):
    rows = [
        reception("2026-03-07", "今天到期的事項"),  # receptionist level, due 03-09: escalates tomorrow
        reception("2026-03-05", "已升級主管的事項"),  # supervisor level
        reception("2026-03-06", "噪音投訴", "投訴"),  # open complaint
        reception("2026-03-06", "缺房號", room=None),  # 資料不全
        reception("2026-03-01", "回訪不滿", result="已修", completed="2026-03-02", satisfaction="不滿意"),
        reception("2026-01-05", "很久以前", result="已修", completed="2026-01-05"),  # never reviewed
    ]
    office = Center(tmp_path, rows)
    office.run("2026-03-09 08:30")
    [digest] = [m for m in office.outbox.all() if str(m["Subject"]).startswith(SUPERVISOR_DIGEST)]
    text = text_of(digest)

    def section(title: str, mark: str = "【") -> str:
        start = text.index(f"{mark}{title}")
        end = min((at for at in (text.find("【", start + 1), text.find("〔", start + 1)) if at > 0), default=None)
        return text[start:end]

    # First, what needs action today; each row once in the whole digest.
    assert text.index("【今天要處理】") < text.index("【主管隊列】")
    assert "R20260307-001" in section("時限今天或已過：明天升級主管", "〔")
    assert "R20260306-001" in section("時限最近的投訴", "〔")
    row_lines = [line.split()[0][1:] for line in text.splitlines() if line.startswith("・R2026")]
    assert sorted(row_lines) == sorted(set(row_lines))
    assert "R20260305-001" in section("主管隊列") and "R20260306-002" in section("主管隊列")
    assert "房號缺失" in section("主管隊列")  # why a 資料不全 row is there
    assert "R20260306-001" not in section("未完成的投訴") and "其中 1 項已在上方列出" in section("未完成的投訴")
    assert "R20260306-002" not in section("資料不全") and "其中 1 項已在上方列出" in section("資料不全")
    assert "R20260301-001" in section("回訪不滿意") and "已修" in section("回訪不滿意")
    assert "另有 1 條超過 30 天的記錄從未經主管審核" in section("待主管審核")
    assert "R20260105-001" not in text
    assert CENTER in text and CENTER in html_of(digest)

    # Next day: R20260307-001 has escalated since the last digest (shown beside it in the
    # queue); R20260305-001 had not.
    office.run("2026-03-10 08:30")
    [digest] = [m for m in office.outbox.all() if str(m["Subject"]) == SUPERVISOR_DIGEST + "2026-03-10"]
    text = text_of(digest)
    queue = section("主管隊列")
    line = queue[queue.index("・R20260307-001"):].split("\n・")[0]
    assert "升級主管（2026-03-10" in line
    assert "升級主管（" not in queue[queue.index("・R20260305-001"):].split("\n・")[0]


def test_the_action_section_lists_what_goes_to_the_manager_and_the_supervisor_tomorrow(tmp_path):
    rows = [
        reception("2026-03-02", "明天到經理"),  # supervisor level, due 03-09
        reception("2026-03-07", "明天到主管"),  # receptionist level, due 03-09
        reception("2026-03-09", "火警", "緊急", handling="已啟動應急預案，通知消防"),
        reception("2026-03-08", "噪音投訴", "投訴"),
        reception("2026-03-05", "一般事項"),  # supervisor level, due 03-12: not today's
    ]
    office = Center(tmp_path, rows)
    office.run("2026-03-09 08:30")
    [digest] = [m for m in office.outbox.all() if str(m["Subject"]).startswith(SUPERVISOR_DIGEST)]
    text, html = text_of(digest), html_of(digest)
    action = text[text.index("【今天要處理】"):text.index("【其餘各節】")]
    for title, record_id in (("未完成的緊急事項", "R20260309-001"), ("時限今天或已過：明天升級經理", "R20260302-001"),
                             ("時限今天或已過：明天升級主管", "R20260307-001"), ("時限最近的投訴", "R20260308-001")):
        group = action[action.index(f"〔{title}"):]
        assert group.split("〔")[1].count("・R") >= 1 and record_id in group.split("〔")[1], title
    assert "R20260305-001" not in action
    assert html.index('class="action"') < html.index("<h2>主管隊列")


def test_a_section_lists_fifty_rows_oldest_first_and_says_where_the_rest_are(tmp_path):
    rows = [reception(f"2026-02-{day:02d}", f"第{day}號", result="已修", completed=f"2026-02-{day:02d}")
            for day in range(10, 28) for _ in range(3)]  # 54 rows pending review, 3 a day
    office = Center(tmp_path, rows)
    office.run("2026-03-09 08:30")
    [digest] = [m for m in office.outbox.all() if str(m["Subject"]).startswith(SUPERVISOR_DIGEST)]
    text, html = text_of(digest), html_of(digest)
    assert "【待主管審核】54 項" in text
    listed = [line for line in text.splitlines() if line.startswith("・R2026")]
    assert len(listed) == 50
    assert listed[0].startswith("・R20260210-001") and listed[-1].startswith("・R20260226-002")
    assert "另有 4 項未列出，全部見「待審核」分頁。" in text
    assert "另有 4 項未列出，全部見「待審核」分頁。" in html
    assert html.count("<tr><td class=\"rid\"><b class=\"nb\">R2026") == 50


def test_weekly_review_lists_last_weeks_rows_lacking_manager_review_and_carries_a_chart(center):
    append_rows(center.workbook, [reception("2026-03-03", "已審的", manager_review="已閱")])
    center.run("2026-03-09 09:00")
    [review] = [m for m in center.outbox.all() if str(m["Subject"]).startswith(WEEKLY)]
    text = text_of(review)
    lacking = text[text.index("【上週未經經理審核的記錄】"):]
    assert "R20260308-001" in lacking and "R20260307-001" in lacking and "R20260304-001" in lacking
    assert "R20260303-001" not in lacking  # reviewed
    assert "R20260220-001" not in lacking  # not last week
    assert "【上週數字 2026-W10】" in text and "接待數 | 5" in text
    assert "2026-W03 | " in text and "2026-W10 | 5 | 1 | " in text  # the 8 weeks ending last week

    [image] = [part for part in review.walk() if part.get_content_type() == "image/png"]
    png = image.get_content()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    cid = image["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html_of(review)


def test_the_weekly_chart_plots_the_backlog_and_its_figures_are_beneath(center):
    center.run("2026-03-09 09:00")
    [review] = [m for m in center.outbox.all() if str(m["Subject"]).startswith(WEEKLY)]
    text = text_of(review)
    trend = text[text.index("【近 8 週趨勢】"):]
    assert trend.splitlines()[1] == "週次 | 接待數 | 完成數 | 升級主管數 | 未完成數"


def test_a_new_centers_first_weekly_review_says_there_is_no_history_yet(tmp_path):
    office = Center(tmp_path, [reception("2026-03-09", "新中心第一條記錄")])
    office.run("2026-03-09 09:00")
    [review] = [m for m in office.outbox.all() if str(m["Subject"]).startswith(WEEKLY)]
    text = text_of(review)
    assert "2026-01-12 至 2026-03-08 的 8 週內沒有接待記錄" in text and "尚無歷史" in text
    assert "接待數 | 0" not in text and "【近 8 週趨勢】" not in text
    assert not [part for part in review.walk() if part.get_content_type() == "image/png"]


def test_an_alert_carries_time_room_owner_category_matter_department_and_handling(tmp_path):
    rows = [reception("2026-03-09 07:45", "12 樓消防通道冒煙", "緊急", department="工程部",
                      handling="已啟動應急預案，通知消防"),
            reception("2026-03-09", "噪音投訴", "投訴")]
    office = Center(tmp_path, rows)
    office.run("2026-03-09 08:00")
    [emergency] = [m for m in office.outbox.all() if str(m["Subject"]) == f"[{CENTER}] 緊急 R20260309-001"
                   and SUPERVISOR in str(m["To"])]
    text = text_of(emergency)
    for line in ("接待日期：2026-03-09 07:45", "房號：3-1-1201", "業主姓名：陳志明", "聯系電話：138****5678",
                 "類別：緊急", "事由：12 樓消防通道冒煙", "責任部門：工程部", "處理情況：已啟動應急預案，通知消防"):
        assert line in text, line
    assert "13812345678" not in text and "13812345678" not in html_of(emergency)
    [complaint] = [m for m in office.outbox.all() if str(m["Subject"]) == f"[{CENTER}] 投訴 R20260309-002"]
    text = text_of(complaint)
    assert "責任部門：—" in text and "處理情況：—" in text  # named, so the reader knows none is written yet


def test_dry_run_prints_the_messages_and_sends_nothing(center):
    before = center.workbook.read_bytes()
    result = run(center.config, at("2026-03-09 09:30"), dry_run=True)
    assert result.code == 0
    assert f"郵件：{SUPERVISOR}「{SUPERVISOR_DIGEST}2026-03-09」" in result.out
    assert f"郵件：{MANAGER}「{WEEKLY}2026-W10」" in result.out
    assert f"郵件：{MANAGER}「[{CENTER}] 緊急 R20260307-001」" in result.out
    assert center.outbox.all() == []
    assert center.workbook.read_bytes() == before


def test_simplified_chinese_subjects_and_words(tmp_path):
    office = Center(tmp_path, BASIC_ROWS, language="zh-Hans")
    sent = office.run("2026-03-09 09:30")
    assert sent == sorted([
        f"[{CENTER}] 客服主管每日队列 2026-03-09",
        f"[{CENTER}] 经理队列 2026-03-09",
        f"[{CENTER}] 上周接待记录审核 2026-W10",
        f"[{CENTER}] 投诉 R20260308-002",
        f"[{CENTER}] 紧急 R20260307-001",
        f"[{CENTER}] 紧急 R20260307-001",
        *[f"[{CENTER}] 季度复审 2025-Q4"] * 2,
    ])
    [digest] = [m for m in office.outbox.all() if "客服主管每日队列" in str(m["Subject"])]
    assert "【主管队列】" in text_of(digest) and 'lang="zh-Hans"' in html_of(digest)
    assert log_events(office.workbook, "邮件已发送")
    assert office.run("2026-03-09 09:40") == []


# ----- emergencies are never held back ------------------------------------------------------


class SavedByAnotherProgramMeanwhile(WorkbookBackend):
    """The real workbook backend, while someone saves the workbook in an office program between
    the worker's read and its write: the worker's write is refused (it would overwrite theirs)."""

    def write(self, plan):
        stat = self.path.stat()
        os.utime(self.path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        super().write(plan)


def test_emergency_alerts_go_out_even_when_the_sheet_write_fails_once_thanks_to_the_journal(center):
    """SPEC 4.2: an emergency goes out although the write failed; its record waits in the local
    journal, so the next run (still failing) does not send it again, and the first write that
    goes through copies it into 運行日誌 with the time it was sent."""
    config = load_config(center.config)
    [center_config] = config.centers
    outbox = OutboxTransport(config.mail.outbox_dir)
    for minute, expected in (("07:00", [f"[{CENTER}] 緊急 R20260307-001"] * 2), ("07:05", [])):
        backend = SavedByAnotherProgramMeanwhile(center_config.path, center_config.name)
        with pytest.raises(WorkbookLockedError):
            one_center.run_center(center_config, config, at(f"2026-03-09 {minute}"), backend, outbox)
        assert subjects(center.outbox.new()) == expected  # the complaint waits for the write
        assert log_rows(center.workbook) == []

    assert center.run("2026-03-09 07:10") == [*QUARTERLY_Q4, f"[{CENTER}] 投訴 R20260308-002"]
    alerts = [row for row in log_rows(center.workbook) if row[1] == "郵件已發送" and "緊急" in row[3]]
    assert [(row[0], row[2]) for row in alerts] == [("2026-03-09 07:00:00", "R20260307-001")] * 2
    assert center.run("2026-03-09 07:15") == []
