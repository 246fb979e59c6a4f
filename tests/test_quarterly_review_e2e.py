"""The quarterly review end to end (SPEC 4.1 季度復審 tab, 4.2 its mail, 5 status and --dry-run).

Real .xlsx workbooks and config files, `run` through the application's own entry point at chosen
clock times (Asia/Shanghai), the outbox transport's .eml files and the workbook's event log read
back. 2026-Q4 begins on Thursday 10-01, so its first review day is Monday 10-05; 2027-Q1's is
Monday 01-04. Delivery over SMTP (server down, retried, never twice) is in test_messages_smtp.py.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
from xml.etree import ElementTree

import openpyxl
import pytest

from automation import cli
from tests.messages_support import (
    CENTER, MANAGER, SUPERVISOR, Outbox, at, html_of, log_events, reception, run, subjects, text_of, write_config,
    write_workbook,
)

QUARTERLY = f"[{CENTER}] 季度復審 "
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
CHART = "http://schemas.openxmlformats.org/drawingml/2006/chart"

ROWS = [
    # 2026-Q2
    reception("2026-05-06", "電梯異響", department="工程部", completed="2026-05-07", satisfaction="滿意"),
    reception("2026-06-30", "垃圾清運不及時", "投訴", completed="2026-07-01", satisfaction="不滿意"),
    # 2026-Q3: room 3-1-1201 comes three times; one item left with the manager
    reception("2026-07-02", "樓道燈不亮", room="3-1-1201", completed="2026-07-02", supervisor_review="王"),
    reception("2026-08-10", "樓道燈又不亮", room="3-1-1201", completed="2026-08-11"),
    reception("2026-09-30", "樓道燈還是不亮", "投訴", room="3-1-1201", completed="2026-10-01"),
    reception("2026-08-03", "外牆滲水", room="8-1-1801", department="工程部"),
]


class Center:
    def __init__(self, folder, rows=ROWS, **config):
        self.workbook = write_workbook(folder / "data" / "center.xlsx", rows)
        self.config = write_config(folder, self.workbook, **config)
        self.outbox = Outbox(folder / "outbox")

    def run(self, when: str) -> list[str]:
        result = run(self.config, at(when))
        assert result.code == 0, result.err
        return subjects(self.outbox.new())

    def quarterly(self, when: str) -> list[str]:
        return [subject for subject in self.run(when) if "季度" in subject]


@pytest.fixture
def center(tmp_path):
    return Center(tmp_path)


# ----- when it goes ---------------------------------------------------------------------------

def test_goes_at_the_first_review_day_and_hour_of_the_quarter_to_supervisor_and_manager(center):
    assert center.quarterly("2026-10-01 09:00") == []  # 2026-Q4 has begun, its first Monday not yet
    assert center.quarterly("2026-10-05 08:59") == []
    assert center.quarterly("2026-10-05 09:00") == [QUARTERLY + "2026-Q3"] * 2
    reviews = [m for m in center.outbox.all() if str(m["Subject"]).startswith(QUARTERLY)]
    assert sorted(m["To"].addresses[0].addr_spec for m in reviews) == [MANAGER, SUPERVISOR]
    # Never twice: the same hour, later that day, later in the quarter.
    assert center.quarterly("2026-10-05 09:00") == []
    assert center.quarterly("2026-10-05 17:00") == []
    assert center.quarterly("2026-12-31 23:59") == []
    assert center.quarterly("2027-01-04 09:00") == [QUARTERLY + "2026-Q4"] * 2


def test_a_worker_down_on_the_review_day_sends_it_later_that_quarter(center):
    assert center.quarterly("2026-10-08 10:00") == [QUARTERLY + "2026-Q3"] * 2


def test_a_worker_first_started_mid_quarter_sends_the_previous_quarters_review(center):
    assert center.quarterly("2026-11-20 14:00") == [QUARTERLY + "2026-Q3"] * 2


def test_a_quarter_the_worker_was_down_through_is_not_caught_up(center):
    assert center.quarterly("2026-10-05 09:00") == [QUARTERLY + "2026-Q3"] * 2
    # Down from 2026-10-05 to 2027-04-06: 2026-Q4's review (due in 2027-Q1) is never sent.
    assert center.quarterly("2027-04-06 10:00") == [QUARTERLY + "2027-Q1"] * 2
    sent = [s for s in subjects(center.outbox.all()) if s.startswith(QUARTERLY)]
    assert sorted(set(sent)) == [QUARTERLY + "2026-Q3", QUARTERLY + "2027-Q1"]


def test_the_review_day_and_hour_follow_the_weekly_settings(tmp_path):
    custom = Center(tmp_path, schedule='weekly_review_day = "wednesday"\nweekly_review_at = "14:00"')
    assert custom.quarterly("2026-10-05 09:00") == []
    assert custom.quarterly("2026-10-07 13:59") == []
    assert custom.quarterly("2026-10-07 14:00") == [QUARTERLY + "2026-Q3"] * 2


def test_a_restart_or_another_machine_does_not_send_it_again(center, tmp_path):
    assert center.quarterly("2026-10-05 09:00") == [QUARTERLY + "2026-Q3"] * 2
    other = write_config(tmp_path / "elsewhere", center.workbook)
    result = run(other, at("2026-10-05 09:30"))
    assert result.code == 0, result.err
    assert Outbox(tmp_path / "elsewhere" / "outbox").all() == []
    # The event log holds one record per recipient, by Message-ID (period 2026-Q3).
    logged = [row[3] for row in log_events(center.workbook, "郵件已發送") if "季度復審" in row[3]]
    assert len(logged) == 2 and all("<quarterly_review.2026-Q3." in detail for detail in logged)


# ----- what it says -------------------------------------------------------------------------

def test_the_mail_puts_the_problems_first_then_the_figures_then_the_chart(center):
    center.run("2026-10-05 09:00")
    [review] = [m for m in center.outbox.all()
                if str(m["Subject"]) == QUARTERLY + "2026-Q3" and m["To"].addresses[0].addr_spec == SUPERVISOR]
    text, page = text_of(review), html_of(review)
    for body in (text, page):
        assert body.index("2026-Q3 發現的問題") < body.index("季度數字") < body.index("近 4 季趨勢")
    assert "房號 3-1-1201 多次接待" in text and "R20260702-001、R20260810-001、R20260930-001" in text
    assert "升級經理超過 30 天仍未完成" in text and "R20260803-001" in text
    assert "接待數 | 2 | 4 | +2" in text  # 2026-Q2 beside 2026-Q3, with the change
    assert "投訴數 | 1 | 1 | 0" in text
    [image] = [part for part in review.walk() if part.get_content_type() == "image/png"]
    assert f'src="cid:{image["Content-ID"].strip("<>")}"' in page
    assert "138****5678" not in text and "13812345678" not in text + page  # no owner phones at all


def test_the_tab_one_column_per_quarter_then_the_problems(center):
    center.run("2026-10-05 09:00")
    rows = [list(row) for row in openpyxl.load_workbook(center.workbook)["季度復審"].iter_rows(values_only=True)]
    assert rows[0][:9] == ["項目", "2026-Q1", "較上季", "2026-Q2", "較上季", "2026-Q3", "較上季", "2026-Q4（本季）", "較上季"]
    by_name = {row[0]: row[1:9] for row in rows[1:] if row and row[0]}
    assert by_name["接待數"] == [0, 0, 2, 2, 4, 2, 0, -4]  # numbers, not text
    assert by_name["至今未完成數"][4] == 1
    assert by_name["前臺完成率(%)"][4] == 75.0
    assert by_name["完成天數：平均（日曆日）"][2] == 1.0
    problems = rows.index(["2026-Q3 發現的問題", *[None] * (len(rows[0]) - 1)])
    listed = [row[0] for row in rows[problems + 2:] if row[0]]
    assert listed == ["房號 3-1-1201 多次接待", "升級經理超過 30 天仍未完成"]


def tab_charts(workbook, title: str) -> list[list[str]]:
    """The references of each chart drawn on tab `title`, read from the saved package: the
    workbook names the tab's part, the part its drawing, the drawing its charts."""
    package = zipfile.ZipFile(workbook)

    def related(part: str) -> dict[str, tuple[str, str]]:
        """Relationship id → (type's last word, target part) of `part`."""
        folder, name = posixpath.split(part)
        rels = f"{folder}/_rels/{name}.rels"
        if rels not in package.namelist():
            return {}
        out = {}
        for rel in ElementTree.fromstring(package.read(rels)):
            target = rel.get("Target")
            path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
            out[rel.get("Id")] = (rel.get("Type").rsplit("/", 1)[-1], path)
        return out

    book = ElementTree.fromstring(package.read("xl/workbook.xml"))
    [rid] = [sheet.get(f"{{{RELATIONSHIPS}}}id") for sheet in book.iter(f"{{{MAIN}}}sheet") if sheet.get("name") == title]
    sheet = related("xl/workbook.xml")[rid][1]
    charts = []
    for kind, drawing in related(sheet).values():
        for chart_kind, chart in (related(drawing).values() if kind == "drawing" else ()):
            if chart_kind == "chart":
                formulas = ElementTree.fromstring(package.read(chart)).iter(f"{{{CHART}}}f")
                charts.append([formula.text for formula in formulas])
    return charts


def union(title: str, row: int) -> str:
    return "(" + ",".join(f"'{title}'!${column}${row}" for column in "BDFH") + ")"


def test_the_tab_has_a_native_chart_of_the_quarters_drawn_from_its_figures(center):
    """Received, finished at the front desk, reached the supervisor, still open: one series per
    row, over the quarters' columns (not their change columns), named by the row's first cell."""
    center.run("2026-10-05 09:00")
    rows = [list(row) for row in openpyxl.load_workbook(center.workbook)["季度復審"].iter_rows(values_only=True)]
    wanted = [[row[0] for row in rows].index(name) + 1 for name in ("接待數", "前臺完成數", "升級主管數", "至今未完成數")]
    [chart] = tab_charts(center.workbook, "季度復審")
    expected = []
    for row in wanted:
        expected += [f"'季度復審'!$A${row}", union("季度復審", 1), union("季度復審", row)]
    assert chart == expected
    # The next quarter: the tab is rewritten with the quarters moved on, still with one chart.
    center.run("2027-01-04 09:00")
    book = openpyxl.load_workbook(center.workbook)
    assert book["季度復審"]["H1"].value == "2027-Q1（本季）"
    assert tab_charts(center.workbook, "季度復審") == [expected]
    assert len(tab_charts(center.workbook, "週報")) == 1


def test_an_unchanged_rerun_writes_nothing_and_the_tab_changes_with_the_rows(center):
    center.run("2026-10-05 09:00")
    center.run("2026-10-05 09:05")  # the cycle after a write reads again; nothing to change
    before = center.workbook.read_bytes()
    out = io.StringIO()
    assert cli.run_once(cli.load_config(center.config), at("2026-10-05 09:10"), False, out=out) == 0
    assert center.workbook.read_bytes() == before
    assert "季度復審" not in out.getvalue()


def test_simplified_chinese(tmp_path):
    office = Center(tmp_path, language="zh-Hans")
    assert office.quarterly("2026-10-05 09:00") == [f"[{CENTER}] 季度复审 2026-Q3"] * 2
    book = openpyxl.load_workbook(office.workbook)
    assert "季度复审" in book.sheetnames and "季度復審" not in book.sheetnames
    rows = [row for row in book["季度复审"].iter_rows(values_only=True)]
    assert rows[0][0] == "项目" and rows[0][2] == "较上季"
    assert any(row[0] == "2026-Q3 发现的问题" for row in rows)
    [review] = [m for m in office.outbox.all() if "季度复审" in str(m["Subject"])][:1]
    assert "季度数字" in text_of(review) and 'lang="zh-Hans"' in html_of(review)
    [chart] = tab_charts(office.workbook, "季度复审")
    names = [row[0] for row in rows]
    assert chart[:3] == [f"'季度复审'!$A${names.index('接待数') + 1}", union("季度复审", 1),
                         union("季度复审", names.index("接待数") + 1)]
    assert len(chart) == 12


# ----- status and --dry-run -------------------------------------------------------------------

def test_status_and_dry_run_say_when_the_next_review_is_due(center, capsys):
    config = str(center.config)
    capsys.readouterr()
    cli.main(["status", "--config", config, "--now", "2026-10-02T10:00"])
    assert "下一次季度復審：2026-10-05 09:00（復審 2026-Q3）" in capsys.readouterr().out

    result = run(center.config, at("2026-10-05 09:30"), dry_run=True)
    assert f"郵件：{SUPERVISOR}「{QUARTERLY}2026-Q3」" in result.out
    assert f"郵件：{MANAGER}「{QUARTERLY}2026-Q3」" in result.out
    assert center.outbox.all() == []

    center.run("2026-10-05 09:30")
    capsys.readouterr()
    cli.main(["status", "--config", config, "--now", "2026-10-06T10:00"])
    assert "下一次季度復審：2027-01-04 09:00（復審 2026-Q4）" in capsys.readouterr().out
    result = run(center.config, at("2026-10-06 10:00"), dry_run=True)
    assert "下一次季度復審：2027-01-04 09:00（復審 2026-Q4）" in result.out
