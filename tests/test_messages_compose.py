"""The pure parts of the messages: the chart, the two renderings, ids and the log's memory."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from PIL import Image, ImageColor

from automation.domain import messages
from automation.domain.due import weekly_review_is_due_now
from automation.domain.records import OutgoingMessage
from automation.presentation import compose
from automation.presentation.chart import BAR_COLORS, Series, cjk_font, trend_chart, trend_figure
from automation.vocabulary import Vocabulary


WEEKS = [f"W{n}" for n in range(41, 49)]
BARS = [Series("接待數", "Received", (3, 0, 1, 4, 2, 5, 1, 2)), Series("完成數", "Finished", (2, 0, 1, 3, 2, 4, 1, 0)),
        Series("升級主管數", "Escalated", (1, 0, 0, 1, 0, 2, 0, 1))]
LINE = Series("未完成數", "Still open", (0, 0, 0, 1, 0, 1, 0, 2))


def test_chart_is_a_png_of_phone_width_drawn_in_the_series_colours():
    png = trend_chart(WEEKS, BARS, [LINE], title="近 8 週趨勢", latin_title="Last 8 weeks")
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size == (1200, 850)  # 480 × 340 CSS pixels at 2.5×
    colours = {colour for _, colour in image.getcolors(maxcolors=1 << 20)}
    assert {ImageColor.getrgb(colour) for colour in BAR_COLORS[:3]} <= colours


@pytest.mark.parametrize("font", [None, "cjk"])
def test_legend_is_inside_the_picture_and_names_every_series(font):
    family = cjk_font() if font else None
    if font and family is None:
        pytest.skip("no CJK-capable font installed (fonts-noto-cjk): the Chinese legend cannot be drawn")
    figure = trend_figure(WEEKS, BARS, [LINE], title="近 8 週趨勢", latin_title="Last 8 weeks", font=family)
    figure.canvas.draw()
    legend = figure.axes[0].get_legend()
    names = [text.get_text() for text in legend.get_texts()]
    if family:
        assert names == ["接待數", "完成數", "升級主管數", "未完成數"]
    else:  # no CJK font: Latin names, never empty boxes
        assert names == ["Received", "Finished", "Escalated", "Still open"]
    box, page = legend.get_window_extent(), figure.bbox
    assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1
    assert figure.axes[0].lines[0].get_ydata().tolist() == list(LINE.values)  # the backlog is plotted


def test_an_empty_chart_is_still_a_png():
    png = trend_chart(WEEKS, [Series("a", "a", (0,) * 8)], [])
    assert Image.open(io.BytesIO(png)).format == "PNG"


def test_staff_text_is_escaped_in_html_and_kept_in_text():
    row = compose.RowView("R20260309-001", "2026-03-09", "3-1-<1201>", 'O"Brien & 陳', "138****5678", "投訴",
                          "<img src=x onerror=alert(1)>\n漏水", "=HYPERLINK(\"x\")", "處理中")
    doc = compose.Document("zh-Hant", "[中心] 標題", "王敏 您好：", "說明", (
        compose.Section("主管隊列", (row,), 1, headers=("a", "b", "c", "d")),), none_text="（無）",
        count_label="{count} 項", footer="頁尾")
    html = compose.render_html(doc)
    text = compose.render_text(doc)
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt; 漏水" in html
    assert "3-1-&lt;1201&gt;" in html and "O&quot;Brien &amp; 陳" in html
    assert "<img src=x onerror=alert(1)> 漏水" in text  # one line, as typed
    assert "【主管隊列】1 項" in text


def test_message_ids_are_stable_and_read_back_from_either_spelling_of_the_log():
    first = messages.message_id("中心", "complaint", "R20260309-001", "supervisor", "A@Example.com", "example.com")
    again = messages.message_id("中心", "complaint", "R20260309-001", "supervisor", "a@example.com", "example.com")
    assert first == again and first.startswith("<complaint.R20260309-001.supervisor.")
    digest = messages.message_id("中心", "supervisor_digest", "2026-03-09", "supervisor", "a@example.com", "example.com")
    log = [
        ["2026-03-09 08:30:00", "邮件已发送", "R20260309-001", f"[中心] 投诉 R20260309-001 → a@example.com；Message-ID {first}"],
        [dt.datetime(2026, 3, 9, 8, 30, 1), "郵件已發送", None, f"x → a@example.com；Message-ID {digest}"],
        ["2026-03-09 08:30:00", "郵件發送失敗", None, "x；Message-ID <weekly_review.2026-W10.manager.00@example.com>；down"],
    ]
    state = messages.sent_state(log, Vocabulary("zh-Hant"))
    assert ("complaint", "supervisor", "R20260309-001") in state.alerted
    assert ("supervisor_digest", "2026-03-09", "supervisor") in state.sent
    assert state.last_sent_at[("supervisor_digest", "supervisor")] == "2026-03-09 08:30:01"
    assert state.failed_ids == {"<weekly_review.2026-W10.manager.00@example.com>"}
    assert messages.id_domain("Front Desk <desk@mail.example.org>") == "mail.example.org"
    assert messages.id_domain("nobody") == messages.FALLBACK_DOMAIN


def test_a_batched_alert_is_logged_once_per_record_id():
    message = OutgoingMessage("complaint", "2026-03-09-n7-abc", "中心", "supervisor", "王敏", "a@example.com",
                              "[中心] 投訴 7 項", "", "", "<complaint.2026-03-09-n7-abc.supervisor.0@x>",
                              tuple(f"R20260309-00{n}" for n in range(1, 8)))
    rows = messages.sent_log_rows(message, "2026-03-09 08:30:00", Vocabulary("zh-Hant"))
    assert [row[2] for row in rows] == list(message.record_ids)
    state = messages.sent_state(rows, Vocabulary("zh-Hant"))
    assert {("complaint", "supervisor", rid) for rid in message.record_ids} <= state.alerted


@pytest.mark.parametrize("moment, due", [
    ("2026-03-09 08:59", False),  # Monday before the time
    ("2026-03-09 09:00", True),
    ("2026-03-10 00:01", True),  # Tuesday: Monday was missed
    ("2026-03-15 23:59", True),  # Sunday, still that week
    ("2026-03-16 08:00", False),  # next Monday before the time
])
def test_weekly_review_window_is_from_review_time_to_the_end_of_the_iso_week(moment, due):
    now = dt.datetime.fromisoformat(moment)
    assert weekly_review_is_due_now(now, 0, dt.time(9, 0)) is due


def test_log_times_read_back_as_text_date_cells_or_spreadsheet_serials():
    serial = (dt.datetime(2026, 3, 9, 8, 30) - dt.datetime(1899, 12, 30)).total_seconds() / 86400
    assert messages.log_time_text(serial) == "2026-03-09 08:30:00"
    assert messages.log_time_text(dt.datetime(2026, 3, 9, 8, 30, 1)) == "2026-03-09 08:30:01"
    assert messages.log_time_text(" 2026-03-09 08:30:02 ") == "2026-03-09 08:30:02"


def test_ids_dates_and_phones_in_running_text_of_a_table_never_break():
    """A quarterly problem lists its ids in one text cell: each id stays whole on a phone."""
    table = compose.Table("問題", ("問題", "說明", "記錄編號"),
                          (("房號 2-1-0707 多次接待", "2026-04-01 起 3 次", "R20260401-001、R20260402-003 <b>"),),
                          text_from=1)
    page = compose.render_html(compose.Document("zh-Hant", "[中心] 季度復審", "您好：", "說明", (table,)))
    assert '<span class="nb">R20260401-001</span>、<span class="nb">R20260402-003</span> &lt;b&gt;' in page
    assert '<span class="nb">2026-04-01</span> 起' in page


def test_a_problems_id_list_in_fields_keeps_each_id_whole_and_a_legend_can_sit_in_the_rows():
    """The quarterly mail shows each problem as name / value lines (its ids in one value), and
    the chart's numbers with the quarters across: each figure's colour box before its name."""
    problem = compose.Fields("2026-Q3 發現的問題 1/1：房號 2-1-0707 多次接待",
                             (("說明", "3 次接待"), ("記錄編號", "R20260401-001、R20260402-003")))
    numbers = compose.Table("", ("項目", "2026-Q2", "2026-Q3"), (("接待數", "3", "5"), ("至今未完成數", "0", "1")),
                            row_swatches=("#0072b2", "#222222"))
    page = compose.render_html(compose.Document("zh-Hant", "[中心] 季度復審", "您好：", "說明", (problem, numbers)))
    assert '<td><span class="nb">R20260401-001</span>、<span class="nb">R20260402-003</span></td>' in page
    assert '<td class="name"><span class="key" style="' in page and "background:#0072b2" in page
    assert page.index("background:#0072b2") < page.index("接待數") < page.index("background:#222222")
