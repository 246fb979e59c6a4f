"""The pure parts of the messages: the PNG chart, the two renderings, ids and the log's memory."""

from __future__ import annotations

import datetime as dt
import struct
import zlib

import pytest

from automation.domain import messages
from automation.domain.due import weekly_review_is_due_now
from automation.presentation import compose
from automation.presentation.chart import Canvas, grouped_bar_chart, nice_step
from automation.domain.records import OutgoingMessage
from automation.vocabulary import Vocabulary


def decode_png(data: bytes) -> tuple[int, int, bytes]:
    """(width, height, RGB rows) of an 8-bit truecolour PNG with filter 0 lines."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, {}
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        assert struct.unpack(">I", data[position + 8 + length:position + 12 + length])[0] == zlib.crc32(kind + body)
        chunks[kind] = chunks.get(kind, b"") + body
        position += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, colour, interlace) == (8, 2, 0) and b"IEND" in chunks
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = 1 + 3 * width
    assert len(raw) == height * stride and all(raw[y * stride] == 0 for y in range(height))
    return width, height, b"".join(raw[y * stride + 1:(y + 1) * stride] for y in range(height))


def test_canvas_png_round_trips_pixels():
    canvas = Canvas(4, 3)
    canvas.fill(1, 1, 3, 2, (10, 20, 30))
    width, height, pixels = decode_png(canvas.png())
    assert (width, height) == (4, 3)
    assert pixels[(1 * 4 + 1) * 3:(1 * 4 + 3) * 3] == bytes((10, 20, 30)) * 2
    assert pixels[:3] == b"\xff\xff\xff"


def test_bar_chart_draws_each_series_in_its_colour():
    png = grouped_bar_chart(["W01", "W02"], [[3, 0], [0, 5], [1, 1]])
    width, height, pixels = decode_png(png)
    colours = {pixels[i:i + 3] for i in range(0, len(pixels), 3)}
    assert {bytes((0, 114, 178)), bytes((0, 158, 115)), bytes((213, 94, 0))} <= colours
    assert (width, height) == (1280, 520)


def test_an_empty_chart_is_still_a_valid_png():
    decode_png(grouped_bar_chart(["W01"] * 8, [[0] * 8] * 3))


@pytest.mark.parametrize("highest, step", [(0, 1), (3, 1), (9, 5), (40, 10), (129, 50), (1000, 500)])
def test_grid_steps_are_round_numbers(highest, step):
    assert nice_step(highest) == step


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
