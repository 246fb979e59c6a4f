"""End to end on real .xlsx workbooks: the CLI as a user runs it, results read back from the file.

Workbooks are built with openpyxl the way staff keep them (columns shuffled, columns of their
own, tabs of their own with formatting, Traditional or Simplified headers, date cells, serial
numbers and text dates). Most runs call `automation.cli.main` in this process; real child
processes are used where the process boundary matters (the kill test, `demo`).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pytest
from openpyxl.chart import BarChart, Reference

from automation import cli
from tests.workbooks import (
    HANT, MAIN_HANS, MAIN_HANT, SHUFFLED_HANS, SHUFFLED_HANT, add_picture, build_workbook, leftovers, log_rows,
    pictures, records, row, run_at, run_cli, sheet_xml, staff_fingerprint, tab_rows, tiny_png, write_config,
)

PROJECT = Path(__file__).resolve().parent.parent
NOW = "2026-03-10T09:00"
GENERATED_HANT = ["主管隊列", "經理隊列", "待審核", "待回訪", "週報", "季度復審", "運行日誌"]
GENERATED_HANS = ["主管队列", "经理队列", "待审核", "待回访", "周报", "季度复审", "运行日志"]
WORKER_HANT = ["記錄編號", "當前負責人", "狀態", "處理時限", "系統提示"]
WORKER_HANS = ["记录编号", "当前负责人", "状态", "处理时限", "系统提示"]


def serial(day: str) -> int:
    """The spreadsheet serial number of a date (days since 1899-12-30)."""
    return (dt.date.fromisoformat(day) - dt.date(1899, 12, 30)).days


def mixed_rows() -> list[dict]:
    """Receptions as staff type them: date cells, datetime cells, serial numbers, text dates."""
    return [
        row(dt.datetime(2026, 3, 10, 8, 15), 事由="樓道燈不亮", 樓棟="1棟", 接待渠道="上門", 類別="報修"),
        row(dt.date(2026, 3, 8), 事由="電梯異響", 責任部門="工程部", 接待人="張麗", 房號=1201),
        row(serial("2026-03-07"), 事由="車位被佔", 責任部門="秩序維護部", **{"備註（前臺自用）": "業主很急"}),
        row("2026/03/03 14:30", 事由="物業費發票", 類別="諮詢", 聯系電話=13987654321),
        row("2026年3月2日", 事由="外牆滲水", 類別="報修", 樓棟="2棟"),
        row("2026.03.01", 事由="門禁卡補辦", 完成日期=dt.date(2026, 3, 3), 處理結果="已補辦", 回訪滿意度="滿意"),
        row(str(serial("2026-03-01")), 事由="快遞櫃故障", 完成日期="2026-03-04", 處理結果="已修復"),
    ]


def make_center(tmp_path: Path, rows: list[dict] | None = None, headers: list[str] = SHUFFLED_HANT, **config):
    workbook = build_workbook(tmp_path / "錦繡花園.xlsx", headers, mixed_rows() if rows is None else rows)
    return workbook, write_config(tmp_path, **config)


def by_matter(path: Path) -> dict[str, dict]:
    """The main tab's rows keyed by 事由 (each test gives its rows distinct 事由)."""
    return {r["事由"]: r for r in records(path)}


# --- SPEC 2.2: staff data stays exactly as staff left it ------------------------------------

def test_spec_2_2_run_changes_no_staff_cell_and_keeps_staff_tabs(tmp_path, capsys):
    """SPEC 2.2: the worker writes only the 5 worker columns (added at the right end) and the
    generated tabs; every staff cell keeps its value and formatting (number format, font, fill,
    border, alignment), column widths, row heights, merged cells, comments, conditional formats
    and charts of staff's own tabs."""
    workbook, config = make_center(tmp_path)
    book = openpyxl.load_workbook(workbook)
    roster = book["值班表"]
    chart = BarChart()
    chart.add_data(Reference(roster, min_col=3, min_row=2, max_row=4))
    roster.add_chart(chart, "F2")
    book.save(workbook)
    before = staff_fingerprint(workbook)

    code, out, err = run_at(capsys, config, NOW)

    assert (code, err) == (0, "")
    assert staff_fingerprint(workbook) == before
    book = openpyxl.load_workbook(workbook)
    assert book.sheetnames == [MAIN_HANT, "值班表", "常用電話", *GENERATED_HANT]
    header = [c.value for c in book[MAIN_HANT][1]]
    assert header == SHUFFLED_HANT + WORKER_HANT
    assert len(book["值班表"]._charts) == 1
    assert book["值班表"]["C5"].value == "=SUM(C2:C4)"  # staff's own formula stays a formula
    rows = records(workbook)
    assert all(r["記錄編號"].startswith("R202603") for r in rows)
    assert "寫入" in out and "錦繡花園服務中心" in out


def test_spec_2_1_every_accepted_date_form_is_read(tmp_path, capsys):
    """SPEC 2.1: real date cells, datetime cells, serial numbers (as numbers and as text) and the
    text forms 2026/03/03 14:30, 2026年3月2日, 2026.03.01 are all read as 接待日期 / 完成日期."""
    workbook, config = make_center(tmp_path)
    assert run_at(capsys, config, NOW)[0] == 0
    rows = by_matter(workbook)
    assert [rows[m]["記錄編號"] for m in ("樓道燈不亮", "電梯異響", "車位被佔", "物業費發票", "外牆滲水")] == [
        "R20260310-001", "R20260308-001", "R20260307-001", "R20260303-001", "R20260302-001"]
    assert {r["記錄編號"] for m, r in rows.items() if m in ("門禁卡補辦", "快遞櫃故障")} == {
        "R20260301-001", "R20260301-002"}
    assert [rows[m]["狀態"] for m in rows] == [
        "處理中", "已轉部門", "已升級主管", "已升級主管", "已升級經理", "已完成", "已完成"]
    assert all(not r["系統提示"] for r in rows.values())


def test_spec_2_2_staff_edit_of_a_worker_column_is_overwritten(tmp_path, capsys):
    """SPEC 2.2: a staff edit to a worker column is overwritten on the next run; the staff
    columns around it are not touched."""
    workbook, config = make_center(tmp_path)
    run_at(capsys, config, NOW)
    book = openpyxl.load_workbook(workbook)
    sheet = book[MAIN_HANT]
    status_column = [c.value for c in sheet[1]].index("狀態") + 1
    sheet.cell(row=2, column=status_column, value="已完成")
    book.save(workbook)
    before = staff_fingerprint(workbook)
    assert run_at(capsys, config, "2026-03-10T09:05")[0] == 0
    assert records(workbook)[0]["狀態"] == "處理中"
    assert staff_fingerprint(workbook) == before


# --- SPEC 4.1: an idle re-run is a no-op ----------------------------------------------------

def test_spec_4_1_idle_rerun_leaves_file_bytes_and_log_unchanged(tmp_path, capsys):
    """SPEC 4.1: a tab whose content did not change is not rewritten; the log only records
    changes. A second run with nothing new leaves the file byte-identical (not even re-saved)."""
    workbook, config = make_center(tmp_path)
    assert run_at(capsys, config, NOW)[0] == 0
    first = workbook.read_bytes()
    first_log = log_rows(workbook)
    mtime = workbook.stat().st_mtime_ns

    code, out, err = run_at(capsys, config, "2026-03-10T17:45")

    assert (code, err) == (0, "")
    assert workbook.read_bytes() == first
    assert workbook.stat().st_mtime_ns == mtime
    assert log_rows(workbook) == first_log
    assert "寫入 0 個儲存格" in out and "日誌" not in out
    assert leftovers(tmp_path) == []


def test_spec_4_1_first_run_logs_one_id_event_and_only_late_escalations(tmp_path, capsys):
    """SPEC 4.1: ids assigned are one event per run; at first sight only open rows already past
    the receptionist window log their escalation, closed history logs nothing."""
    workbook, config = make_center(tmp_path)
    run_at(capsys, config, NOW)
    # Messages due at the first run are recorded too (SPEC 4.2); here only the row events count.
    log = [r for r in log_rows(workbook) if r[1] not in ("郵件已發送", "郵件發送失敗")]
    events = [r[1] for r in log]
    assert events.count("分配記錄編號") == 1
    assert log[0][3].startswith("7 個：")
    assert sorted(events[1:]) == ["升級主管", "升級主管", "升級經理"]
    assert all(r[0] == "2026-03-10 09:00:00" for r in log)
    assert "13812345678" not in str(log) and "陳先生" not in str(log)  # no owner data in the log


def test_spec_4_1_next_day_logs_escalation_once(tmp_path, capsys):
    """SPEC 4.1 / 4.7: a row crossing the receptionist window between runs logs one escalation,
    and a later run does not log it again."""
    workbook, config = make_center(tmp_path, rows=[row("2026-03-10", 事由="漏水")])
    run_at(capsys, config, NOW)
    run_at(capsys, config, "2026-03-13T09:00")
    run_at(capsys, config, "2026-03-13T10:00")
    escalations = [r for r in log_rows(workbook) if r[1] == "升級主管"]
    assert escalations == [["2026-03-13 09:00:00", "升級主管", "R20260310-001",
                            "客服主管（王敏）；處理時限 2026-03-17"]]


# --- SPEC 2.2: ids stay with their rows, are never reused -----------------------------------

def test_spec_2_2_ids_follow_rows_through_insert_and_sort(tmp_path, capsys):
    """SPEC 2.2: an id is assigned once and stays with its row when staff insert a row in the
    middle or sort the sheet between runs; the new row gets the next id of its date."""
    workbook, config = make_center(tmp_path, rows=[
        row("2026-03-09", 事由=f"事項{n}", 房號=f"1-{n:03d}") for n in range(1, 5)])
    run_at(capsys, config, NOW)
    ids = {r["事由"]: r["記錄編號"] for r in records(workbook)}
    assert ids == {f"事項{n}": f"R20260309-00{n}" for n in range(1, 5)}

    book = openpyxl.load_workbook(workbook)
    sheet = book[MAIN_HANT]
    header = [c.value for c in sheet[1]]
    # Sort by room descending, as staff would with the office program's sort.
    data = [[c.value for c in r] for r in sheet.iter_rows(min_row=2)]
    data.sort(key=lambda values: values[header.index("房號")], reverse=True)
    for offset, values in enumerate(data):
        for column, value in enumerate(values, start=1):
            sheet.cell(row=2 + offset, column=column, value=value)
    sheet.insert_rows(3)
    for key, value in row("2026-03-09", 事由="插入的事項", 房號="9-999").items():
        sheet.cell(row=3, column=header.index(key) + 1, value=value)
    book.save(workbook)

    assert run_at(capsys, config, "2026-03-10T10:00")[0] == 0
    after = {r["事由"]: r["記錄編號"] for r in records(workbook)}
    assert after == {**ids, "插入的事項": "R20260309-005"}
    assert [r["事由"] for r in records(workbook)] == ["事項4", "插入的事項", "事項3", "事項2", "事項1"]


def test_spec_3_2_copied_row_with_its_id_gets_a_new_id_and_a_note(tmp_path, capsys):
    """SPEC 3.2: a row copied with its 記錄編號 keeps the id on the first copy; the later row gets
    a new id and a note in 系統提示; the original row is untouched."""
    workbook, config = make_center(tmp_path, rows=[row("2026-03-09", 事由="原始")])
    run_at(capsys, config, NOW)
    book = openpyxl.load_workbook(workbook)
    sheet = book[MAIN_HANT]
    for cell in sheet[2]:
        sheet.cell(row=3, column=cell.column, value=cell.value)
    sheet.cell(row=3, column=[c.value for c in sheet[1]].index("事由") + 1, value="複製後改寫")
    book.save(workbook)

    run_at(capsys, config, "2026-03-10T10:00")
    original, copy = records(workbook)
    assert (original["記錄編號"], original["系統提示"]) == ("R20260309-001", None)
    assert copy["記錄編號"] == "R20260309-002"
    assert "記錄編號重複，已重新編號" in copy["系統提示"]
    id_events = [r for r in log_rows(workbook) if r[1] == "分配記錄編號"]
    assert id_events[-1][3] == "1 個：R20260309-002"


def test_spec_2_2_deleted_rows_id_is_never_reissued(tmp_path, capsys):
    """SPEC 2.2 / 4.1: ids are never reused. After staff delete the row holding the highest id of
    a date, a new row of that date gets the next id, because the log's id-assignment event
    recorded the range issued."""
    workbook, config = make_center(tmp_path, rows=[
        row("2026-03-09", 事由=f"事項{n}") for n in range(1, 4)])
    run_at(capsys, config, NOW)
    assert [r[3] for r in log_rows(workbook) if r[1] == "分配記錄編號"] == ["3 個：R20260309-001～003"]
    book = openpyxl.load_workbook(workbook)
    book[MAIN_HANT].delete_rows(4)  # 事項3, R20260309-003
    header = [c.value for c in book[MAIN_HANT][1]]
    for key, value in row("2026-03-09", 事由="新事項").items():
        book[MAIN_HANT].cell(row=4, column=header.index(key) + 1, value=value)
    book.save(workbook)

    run_at(capsys, config, "2026-03-10T10:00")
    assert [r["記錄編號"] for r in records(workbook)] == ["R20260309-001", "R20260309-002", "R20260309-004"]


def test_spec_2_2_unreadable_or_future_date_takes_the_run_date_for_its_id(tmp_path, capsys):
    """SPEC 2.2 / 3.2: a row whose 接待日期 cannot be read, or lies in the future, gets an id of the
    run's date and is 資料不全 with a note naming the problem; a blank row in between is ignored."""
    workbook, config = make_center(tmp_path, rows=[
        row("上週二下午", 事由="看不懂的日期"), {}, row("2026-04-01", 事由="未來日期")])
    run_at(capsys, config, NOW)
    rows = records(workbook)
    assert [r["記錄編號"] for r in rows] == ["R20260310-001", "R20260310-002"]
    assert [r["狀態"] for r in rows] == ["資料不全", "資料不全"]
    assert rows[0]["系統提示"] == "接待日期無法識別：上週二下午"
    assert rows[1]["系統提示"] == "接待日期晚於今天"
    assert all(r["當前負責人"].startswith("客服主管") for r in rows)


# --- SPEC 4.1: staff text is written as plain values ----------------------------------------

def test_spec_4_1_formula_looking_text_stays_inert_in_summary_tabs(tmp_path, capsys):
    """SPEC 4.1: text copied from staff cells is written as plain values, never formulas: a 事由
    or 責任部門 starting with '=' is a text cell in the queues (no <f> element in the sheet XML),
    and the staff cell itself stays text."""
    matter = '=HYPERLINK("http://example.com","點我")'
    workbook, config = make_center(tmp_path, rows=[
        row("2026-03-05", 事由=matter, 責任部門="=1+1"),
        row("2026-03-09", 事由="=SUM(1,2)")])
    assert run_at(capsys, config, NOW)[0] == 0

    book = openpyxl.load_workbook(workbook)
    queue = book["主管隊列"]
    cells = {cell.value: cell for r in queue.iter_rows(min_row=2) for cell in r if cell.value is not None}
    assert cells[matter].data_type == "s" and cells["=1+1"].data_type == "s"
    review = {c.value: c for r in book["待審核"].iter_rows(min_row=2) for c in r if c.value is not None}
    assert review["=SUM(1,2)"].data_type == "s"
    for title in ("主管隊列", "待審核", MAIN_HANT):
        xml = sheet_xml(workbook, title)
        assert "<f>" not in xml and "<f " not in xml, title
    staff_cell = book[MAIN_HANT].cell(row=2, column=SHUFFLED_HANT.index("事由") + 1)
    assert (staff_cell.value, staff_cell.data_type) == (matter, "s")


def test_spec_4_1_phones_masked_outside_the_main_tab(tmp_path, capsys):
    """SPEC 4.1 / guide 2: phones are masked (138****5678) in every generated tab; the main tab
    keeps the staff's number as typed."""
    workbook, config = make_center(tmp_path)
    run_at(capsys, config, NOW)
    book = openpyxl.load_workbook(workbook)
    for title in GENERATED_HANT:
        text = " ".join(str(v) for r in book[title].iter_rows(values_only=True) for v in r if v is not None)
        assert "13812345678" not in text and "13987654321" not in text, title
    assert "138****5678" in str(tab_rows(workbook, "主管隊列"))
    assert records(workbook)[0]["聯系電話"] == "13812345678"


# --- SPEC 3.3: the worked examples, end to end ----------------------------------------------

WORKED_EXAMPLES = [
    # (接待日期 cell, other cells, 狀態, role, 處理時限, note)
    ("2026-03-10", {}, "處理中", "客戶接待員", "2026-03-12", None),
    (dt.date(2026, 3, 8), {"責任部門": "工程部"}, "已轉部門", "客戶接待員", "2026-03-10", None),
    (serial("2026-03-07"), {"責任部門": "工程部"}, "已升級主管", "客服主管", "2026-03-14", None),
    ("2026/03/03", {}, "已升級主管", "客服主管", "2026-03-10", None),
    ("2026年3月2日", {}, "已升級經理", "經理", None, None),
    ("2026.03.01", {"完成日期": "2026-03-03"}, "已完成", "客戶接待員", None, None),
    (dt.datetime(2026, 3, 1, 10, 30), {"完成日期": dt.date(2026, 3, 4)}, "已完成", "客服主管", None, None),
    ("2026-02-20", {"無法處理原因": "需業委會表決"}, "無法處理", "經理", None, None),
    ("2026-03-09", {"無法處理原因": "業主不配合"}, "處理中", "客戶接待員", "2026-03-11",
     "無法處理原因只能由經理在升級後填寫（3.3.3），事項仍未關閉"),
    ("2026-03-09", {"處理結果": "已修復"}, "處理中", "客戶接待員", "2026-03-11", "已填處理結果，請填寫完成日期"),
    (None, {}, "資料不全", "客服主管", None, "接待日期缺失"),
]


def test_spec_3_3_worked_examples_end_to_end(tmp_path, capsys):
    """SPEC 3.3: the worked-example table (calendar basis, default ladder, today 2026-03-10),
    read back from the workbook after `run --now 2026-03-10T09:00`."""
    rows = [row(received, 事由=f"例{n}", **cells) for n, (received, cells, *_) in enumerate(WORKED_EXAMPLES, 1)]
    workbook, config = make_center(tmp_path, rows=rows)
    code, out, err = run_at(capsys, config, NOW)
    assert (code, err) == (0, "")
    got = records(workbook)
    assert len(got) == len(WORKED_EXAMPLES)
    for n, (record, (_, _, status, role, due, note)) in enumerate(zip(got, WORKED_EXAMPLES), 1):
        assert record["事由"] == f"例{n}"
        assert (record["狀態"], record["處理時限"], record["系統提示"]) == (status, due, note), f"例{n}"
        assert record["當前負責人"].startswith(role), f"例{n}"
    # The supervisor and manager carry the configured names in brackets.
    assert got[2]["當前負責人"] == "客服主管（王敏）" and got[4]["當前負責人"] == "經理（李強）"
    # The queues hold what the statuses say: rows without a 處理時限 (資料不全) first, then the
    # earliest 處理時限 first (SPEC 4.1).
    assert [r[0] for r in tab_rows(workbook, "主管隊列")[1:]] == [
        got[10]["記錄編號"], got[3]["記錄編號"], got[2]["記錄編號"]]
    assert [r[0] for r in tab_rows(workbook, "經理隊列")[1:]] == [got[4]["記錄編號"]]


# --- SPEC 5.1: Simplified Chinese ------------------------------------------------------------

def test_spec_5_1_zh_hans_writes_simplified_names(tmp_path, capsys):
    """SPEC 5.1: with language = "zh-Hans" the worker writes Simplified tab names, worker headers,
    statuses and notes, on a sheet whose headers are in Simplified."""
    rows = [row("2026-03-10", 事由="漏水"), row("2026-03-03", 事由="噪音", 類別="投訴"),
            row("2026-03-09", 事由="门禁", 處理結果="已处理")]
    workbook = build_workbook(tmp_path / "锦绣.xlsx", SHUFFLED_HANS, rows, main_title=MAIN_HANS)
    config = write_config(tmp_path, [{"name": "锦绣花园服务中心", "path": "锦绣.xlsx"}], language="zh-Hans")
    code, out, err = run_at(capsys, config, NOW)
    assert (code, err) == (0, "")
    book = openpyxl.load_workbook(workbook)
    assert book.sheetnames == [MAIN_HANS, "值班表", "常用電話", *GENERATED_HANS]
    assert [c.value for c in book[MAIN_HANS][1]] == SHUFFLED_HANS + WORKER_HANS
    got = records(workbook)
    assert [r["状态"] for r in got] == ["处理中", "已升级主管", "处理中"]
    assert [r["当前负责人"] for r in got] == ["客户接待员", "客服主管（王敏）", "客户接待员"]
    assert got[2]["系统提示"] == "已填处理结果，请填写完成日期"
    assert tab_rows(workbook, "主管队列")[0][:3] == ["记录编号", "接待日期", "房号"]
    assert log_rows(workbook, "运行日志")[0][1] == "分配记录编号"


def test_spec_5_1_reading_accepts_either_spelling(tmp_path, capsys):
    """SPEC 2 / 5.1: reading accepts either spelling whatever the setting: a zh-Hant config runs on
    a Simplified sheet and a zh-Hans config on a Traditional one; statuses written in the other
    spelling are read back as the same status, so switching the language logs no new escalation."""
    rows = [row("2026-03-03", 事由="噪音")]
    hans_book = build_workbook(tmp_path / "hans.xlsx", SHUFFLED_HANS, rows, main_title=MAIN_HANS)
    hant_config = write_config(tmp_path, [{"name": "甲中心", "path": "hans.xlsx"}], name="hant.toml")
    assert run_at(capsys, hant_config, NOW)[0] == 0
    got = records(hans_book, MAIN_HANS)[0]
    assert (got["狀態"], got["記錄編號"]) == ("已升級主管", "R20260303-001")

    hant_book = build_workbook(tmp_path / "hant.xlsx", SHUFFLED_HANT, rows)
    hans_config = write_config(tmp_path, [{"name": "乙中心", "path": "hant.xlsx"}], language="zh-Hans",
                               name="hans.toml")
    assert run_at(capsys, hans_config, NOW)[0] == 0
    assert records(hant_book)[0]["状态"] == "已升级主管"

    back_config = write_config(tmp_path, [{"name": "乙中心", "path": "hant.xlsx"}], name="back.toml")
    assert run_at(capsys, back_config, "2026-03-10T10:00")[0] == 0
    # The worker's own header is respelled with the config (no mix of the two, SPEC 5.1).
    assert records(hant_book)[0]["狀態"] == "已升級主管"
    escalations = [r for title in ("運行日誌", "运行日志") for r in log_rows(hant_book, title)
                   if r[1] in ("升級主管", "升级主管")]
    assert len(escalations) == 1


def test_spec_5_1_language_switch_keeps_id_memory(tmp_path, capsys):
    """SPEC 2.2 / 5.1: ids are never reused, also after the config's language is switched (and
    `init` run again): the generated tabs are renamed to the new spelling, not duplicated, so
    the event log written so far still counts as the worker's memory."""
    workbook, hant_config = make_center(tmp_path, rows=[row("2026-03-09", 事由=f"事項{n}") for n in (1, 2)])
    run_at(capsys, hant_config, NOW)
    book = openpyxl.load_workbook(workbook)
    book[MAIN_HANT].delete_rows(3)  # R20260309-002
    book.save(workbook)
    hans_config = write_config(tmp_path, language="zh-Hans", name="hans.toml")
    code, out, err = run_cli(capsys, "init", "--config", hans_config)  # an admin upgrading the sheet
    assert (code, err) == (0, "")
    assert "分页「運行日誌」改名为「运行日志」" in out  # said in the configured language
    run_at(capsys, hans_config, "2026-03-10T10:00")
    assert openpyxl.load_workbook(workbook).sheetnames == [MAIN_HANT, "值班表", "常用電話", *GENERATED_HANS]
    book = openpyxl.load_workbook(workbook)
    header = [c.value for c in book[MAIN_HANT][1]]
    for key, value in row("2026-03-09", 事由="新事項").items():
        book[MAIN_HANT].cell(row=3, column=header.index(key) + 1, value=value)
    book.save(workbook)

    run_at(capsys, hans_config, "2026-03-10T11:00")
    assert [r["记录编号"] for r in records(workbook)] == ["R20260309-001", "R20260309-003"]


# --- SPEC 3: the workday basis --------------------------------------------------------------

def test_spec_3_workday_basis_over_2026_national_day(tmp_path, capsys):
    """SPEC 3 (day_basis = "workday"): ages count mainland-China working days, so the 2026 National
    Day holiday (10-01..10-07) does not count and the adjusted working Saturday 10-10 does."""
    rows = [
        row("2026-09-30", 事由="假前報修"),
        row("2026-09-29", 事由="假前轉部門", 責任部門="工程部"),
        row("2026-09-30", 事由="假後完成", 完成日期="2026-10-08"),
        row("2026-10-03", 事由="假中來訪"),
    ]
    workbook, config = make_center(tmp_path, rows=rows, escalation=(
        "supervisor_after_days = 2\nmanager_after_days = 7\nday_basis = \"workday\""))
    assert run_at(capsys, config, "2026-10-08T09:00")[0] == 0
    got = by_matter(workbook)
    assert (got["假前報修"]["狀態"], got["假前報修"]["處理時限"]) == ("處理中", "2026-10-09")
    assert (got["假前轉部門"]["狀態"], got["假前轉部門"]["處理時限"]) == ("已轉部門", "2026-10-08")
    assert (got["假後完成"]["狀態"], got["假後完成"]["當前負責人"]) == ("已完成", "客戶接待員")
    assert (got["假中來訪"]["狀態"], got["假中來訪"]["處理時限"]) == ("處理中", "2026-10-09")

    assert run_at(capsys, config, "2026-10-10T09:00")[0] == 0  # the adjusted working Saturday
    got = by_matter(workbook)
    assert (got["假前報修"]["狀態"], got["假前報修"]["處理時限"]) == ("已升級主管", "2026-10-15")
    assert (got["假中來訪"]["狀態"], got["假中來訪"]["處理時限"]) == ("已升級主管", "2026-10-15")
    escalated = sorted(r[2] for r in log_rows(workbook) if r[1] == "升級主管")
    assert escalated == sorted([got["假前報修"]["記錄編號"], got["假前轉部門"]["記錄編號"], got["假中來訪"]["記錄編號"]])


# --- SPEC 5: run --dry-run, init ------------------------------------------------------------

def test_spec_5_dry_run_writes_nothing_and_prints_the_changes(tmp_path, capsys):
    """SPEC 5: `run --dry-run` writes and sends nothing (the file stays byte-identical, no outbox)
    and prints what it would change: worker headers, cells, tabs, log rows."""
    workbook, config = make_center(tmp_path)
    before = workbook.read_bytes()
    code, out, err = run_at(capsys, config, NOW, "--dry-run")
    assert (code, err) == (0, "")
    assert workbook.read_bytes() == before
    assert not (tmp_path / "outbox").exists() or not any((tmp_path / "outbox").iterdir())
    assert "試運行" in out
    assert "新增表頭" in out and "記錄編號" in out
    assert "R20260310-001" in out and "重寫分頁「主管隊列」" in out and "日誌：分配記錄編號" in out
    assert "13812345678" not in out and "陳先生" not in out  # no owner data on the console


def test_spec_5_init_adds_columns_and_tabs_keeps_staff_data_and_is_idempotent(tmp_path, capsys):
    """SPEC 5 `init`: adds the missing worker headers at the right end and the generated tabs,
    never removes or changes staff data; a second `init` changes nothing (file byte-identical)."""
    workbook, config = make_center(tmp_path)
    before = staff_fingerprint(workbook)
    code, out, err = run_cli(capsys, "init", "--config", config)
    assert (code, err) == (0, "")
    assert "新增表頭「記錄編號」" in out and "新增分頁「運行日誌」" in out
    book = openpyxl.load_workbook(workbook)
    assert book.sheetnames == [MAIN_HANT, "值班表", "常用電話", *GENERATED_HANT]
    assert [c.value for c in book[MAIN_HANT][1]] == SHUFFLED_HANT + WORKER_HANT
    # Staff had frozen the header row and the first column: init keeps that (the header is frozen).
    assert staff_fingerprint(workbook) == before
    settled = workbook.read_bytes()
    code, out, err = run_cli(capsys, "init", "--config", config)
    assert (code, err) == (0, "")
    assert "已是最新" in out
    assert workbook.read_bytes() == settled


def test_spec_5_init_never_puts_a_header_over_a_staff_column_without_header(tmp_path, capsys):
    """SPEC 2.2 / 5 `init`: worker columns go to the right of every column staff use, including a
    column where staff typed data without a header, so no staff cell is ever overwritten."""
    rows = [row("2026-03-09", 事由="漏水")]
    workbook = build_workbook(tmp_path / "錦繡花園.xlsx", SHUFFLED_HANT, rows)
    book = openpyxl.load_workbook(workbook)
    book[MAIN_HANT].cell(row=2, column=len(SHUFFLED_HANT) + 1, value="沒有表頭的備註")
    book.save(workbook)
    config = write_config(tmp_path)
    before = staff_fingerprint(workbook)
    assert run_cli(capsys, "init", "--config", config)[0] == 0
    assert run_at(capsys, config, NOW)[0] == 0
    assert staff_fingerprint(workbook) == before
    sheet = openpyxl.load_workbook(workbook)[MAIN_HANT]
    assert sheet.cell(row=2, column=len(SHUFFLED_HANT) + 1).value == "沒有表頭的備註"
    assert records(workbook)[0]["記錄編號"] == "R20260309-001"


def test_spec_5_init_freezes_the_header_row_keeping_frozen_columns(tmp_path, capsys):
    """SPEC 5 `init`: the header row is frozen; columns staff froze stay frozen."""
    workbook, config = make_center(tmp_path)
    book = openpyxl.load_workbook(workbook)
    book[MAIN_HANT].freeze_panes = "C1"
    book.save(workbook)
    assert run_cli(capsys, "init", "--config", config)[0] == 0
    assert openpyxl.load_workbook(workbook)[MAIN_HANT].freeze_panes == "C2"


def test_spec_5_init_creates_a_missing_workbook_that_run_accepts(tmp_path, capsys):
    """SPEC 5 `init`: creates the workbook with the main tab, every header and the generated
    tabs, readable by whoever could read a new file there; `run` on it then succeeds."""
    config = write_config(tmp_path, [{"name": "新中心", "path": "sub/新中心.xlsx"}])
    code, out, err = run_cli(capsys, "init", "--config", config)
    assert (code, err) == (0, "")
    workbook = tmp_path / "sub" / "新中心.xlsx"
    book = openpyxl.load_workbook(workbook)
    assert book.sheetnames == [MAIN_HANT, *GENERATED_HANT]
    assert [c.value for c in book[MAIN_HANT][1]] == [c.headers["zh-Hant"] for c in HANT.columns]
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(workbook.stat().st_mode) == 0o666 & ~umask  # like any new file, not private
    assert run_at(capsys, config, NOW)[0] == 0


# --- SPEC 6: the write is atomic ------------------------------------------------------------

def test_spec_6_normal_run_leaves_no_temp_files_and_keeps_file_mode(tmp_path, capsys):
    """SPEC 6: a workbook is written aside and renamed over the original; after a normal run no
    temp file is left, and the workbook keeps the permissions it had (a rename must not turn a
    shared workbook into a private one)."""
    workbook, config = make_center(tmp_path)
    os.chmod(workbook, 0o664)
    assert run_at(capsys, config, NOW)[0] == 0
    assert leftovers(tmp_path) == []
    assert stat.S_IMODE(workbook.stat().st_mode) == 0o664
    assert run_at(capsys, config, "2026-03-11T09:00")[0] == 0
    assert stat.S_IMODE(workbook.stat().st_mode) == 0o664


def recent_rows(count: int) -> list[dict]:
    start = dt.date(2026, 3, 1)
    return [row(start + dt.timedelta(days=n % 10), 事由=f"第{n}項報修", 房號=f"{n % 30}-{n:04d}",
                責任部門="工程部" if n % 3 else None) for n in range(count)]


def worker_ids(path: Path) -> list[str] | None:
    """The 記錄編號 column read back (None when the worker columns are not there yet)."""
    book = openpyxl.load_workbook(path, read_only=True)
    rows = list(book[MAIN_HANT].iter_rows(values_only=True))
    book.close()
    if "記錄編號" not in rows[0]:
        return None
    column = rows[0].index("記錄編號")
    return [r[column] for r in rows[1:]]


KILL_ATTEMPTS = 14  # each costs about one cycle; together they stay within a few seconds


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork to kill a cycle at a chosen moment")
def test_spec_6_killed_run_leaves_old_or_new_workbook(tmp_path, capsys):
    """SPEC 6: no run, however it ends, leaves a workbook half-written. A cycle in a child process
    killed with SIGKILL at random moments (14 tries: half anywhere in a cycle, half
    once the write has begun) always leaves a workbook that opens and is either the untouched original or the
    complete new version; the next normal run completes the work and removes the temp files the
    killed runs left beside it."""
    original = build_workbook(tmp_path / "original.xlsx", SHUFFLED_HANT, recent_rows(150), staff_tabs=False)
    workbook = tmp_path / "錦繡花園.xlsx"
    config = write_config(tmp_path)
    shutil.copyfile(original, workbook)
    started = time.monotonic()  # only to spread the kill moments over a cycle, never asserted
    assert run_at(capsys, config, NOW)[0] == 0
    cycle_seconds = time.monotonic() - started
    complete = worker_ids(workbook)
    assert len(complete) == 150 and all(complete)

    randomness = random.Random(20260310)
    outcomes = []
    for attempt in range(KILL_ATTEMPTS):
        shutil.copyfile(original, workbook)
        pid = os.fork()
        if pid == 0:  # the child runs one cycle and never returns into pytest
            code = 70
            try:
                sys.stdout = sys.stderr = open(os.devnull, "w")
                code = cli.main(["run", "--config", str(config), "--now", NOW])
            finally:
                os._exit(code)
        finished = False
        if attempt % 2:  # a moment anywhere in the cycle
            time.sleep(randomness.uniform(0, cycle_seconds * 1.1))
        else:  # a moment inside the write: once the temp file beside the workbook shows up
            while not any(tmp_path.glob("*.writing")):
                finished = os.waitpid(pid, os.WNOHANG) != (0, 0)
                if finished:
                    break
                time.sleep(0.001)
            time.sleep(randomness.uniform(0, cycle_seconds / 4))
        if not finished:  # (a reaped child's pid must not be signalled: it may belong to another)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        if any(tmp_path.glob("*.writing")):
            outcomes.append("killed while writing")
        ids = worker_ids(workbook)  # the workbook always opens
        if ids is None:
            assert workbook.read_bytes() == original.read_bytes()
            outcomes.append("old")
        else:
            assert ids == complete
            outcomes.append("new")
    # A later normal run finishes the job whatever state the last kill left, and tidies up.
    assert run_at(capsys, config, "2026-03-10T09:05")[0] == 0
    assert worker_ids(workbook) == complete
    assert not any(tmp_path.glob("*.writing"))
    print(f"kill outcomes: {outcomes.count('old')} old, {outcomes.count('new')} new, "
          f"{outcomes.count('killed while writing')} killed while writing")


# --- demo ------------------------------------------------------------------------------------

def test_spec_5_demo_in_a_real_process_populates_every_tab(tmp_path):
    """SPEC 5 `demo` (what `make demo` runs): exits 0, and every tab of the workbook it makes has
    data rows under its header; a second `run` of the demo config is idle."""
    folder = tmp_path / "demo"
    done = subprocess.run([sys.executable, "-m", "automation", "demo", "--dir", str(folder)],
                          cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "錦繡花園服務中心" in done.stdout
    workbook = folder / "data" / "錦繡花園.xlsx"
    book = openpyxl.load_workbook(workbook)
    assert book.sheetnames == [MAIN_HANT, *GENERATED_HANT]
    for title in book.sheetnames:
        rows = [r for r in book[title].iter_rows(min_row=2, values_only=True) if any(v is not None for v in r)]
        assert rows, f"分頁「{title}」沒有資料行"
    assert leftovers(workbook.parent) == []


# --- SPEC 2.2: what openpyxl alone would lose -----------------------------------------------

def test_spec_2_2_rich_text_in_a_staff_cell_keeps_its_formatting(tmp_path, capsys):
    """SPEC 2.2: a staff cell with mixed formatting (one word in red bold) keeps it after a run,
    and the worker reads its text (the queue shows the whole 事由)."""
    from openpyxl.cell.rich_text import CellRichText, TextBlock
    from openpyxl.cell.text import InlineFont

    workbook, config = make_center(tmp_path, rows=[row("2026-03-05", 事由="漏水")])
    book = openpyxl.load_workbook(workbook, rich_text=True)
    cell = book[MAIN_HANT].cell(row=2, column=SHUFFLED_HANT.index("事由") + 1)
    cell.value = CellRichText(["廚房", TextBlock(InlineFont(b=True, color="FFFF0000"), "嚴重"), "漏水"])
    book.save(workbook)
    before = staff_fingerprint(workbook)
    assert run_at(capsys, config, NOW)[0] == 0
    assert staff_fingerprint(workbook) == before
    assert tab_rows(workbook, "主管隊列")[1][6] == "廚房嚴重漏水"


try:
    from PIL import Image as _pillow  # noqa: F401  (openpyxl keeps pictures only with Pillow)
    HAVE_PILLOW = True
except ImportError:
    HAVE_PILLOW = False


@pytest.mark.xfail(not HAVE_PILLOW, strict=True,
                   reason="openpyxl drops pictures when Pillow is not installed: Pillow belongs in requirements.txt")
def test_spec_2_2_pictures_staff_pasted_survive_a_run(tmp_path, capsys):
    """SPEC 2.2: a picture staff pasted into a tab of their own is still in the workbook after
    the worker saved it — also when the cycle saves twice (its writes, then the record of the
    digests it sent, which the default rows make due at 09:00)."""
    workbook, config = make_center(tmp_path)
    photo = tiny_png()
    add_picture(workbook, "常用電話", photo)
    assert pictures(workbook) == [photo] and openpyxl.load_workbook(workbook)  # a valid workbook
    assert run_at(capsys, config, NOW)[0] == 0
    assert len(pictures(workbook)) == 1
