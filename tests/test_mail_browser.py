"""The demo's mails in a real browser (headless Chromium) at a phone's width (390 px) and a desk's
(1024 px): no record id, date, phone or number breaks across lines, no text column is narrower
than 6 characters, nothing scrolls sideways, records read as cards on the phone, and the
supervisor digest's first screen shows its action section (SPEC 4.2). The quarterly review is
laid out in both languages, a Simplified one with a 無法處理 item and its reason."""

from __future__ import annotations

from pathlib import Path

import pytest

import openpyxl

from automation.application.demo import run_demo
from tests.mail_browser import DESK, PHONE, PHONE_SCREEN_HEIGHT, chromium, mail_html, measure, screenshot
from tests.messages_support import at, reception, run, write_config, write_workbook

pytestmark = pytest.mark.skipif(chromium() is None, reason="Chromium is not installed (/usr/bin/chromium): "
                                "the mails cannot be laid out in a browser on this machine")


@pytest.fixture(scope="module")
def demo_mails(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("demo")
    assert run_demo(folder / "demo") == 0
    mails = {}
    for path in sorted((folder / "demo" / "outbox").glob("*.eml")):
        kind = path.stem.split("-")[2]  # supervisor, manager, weekly, emergency, complaint, quarterly
        mails.setdefault(kind, path)
    assert {"supervisor", "manager", "weekly", "emergency", "complaint", "quarterly"} <= set(mails), mails
    return mails


@pytest.fixture(scope="module")
def simplified_review(tmp_path_factory) -> Path:
    """A quarterly review in Simplified Chinese, with a problem listing ids and an item closed as
    無法處理 with a long reason (its own table in the mail)."""
    folder = tmp_path_factory.mktemp("hans")
    rows = [reception(f"2026-0{month}-{day:02d}", "楼道灯不亮", room="3-1-1201", completed=f"2026-0{month}-{day + 1:02d}")
            for month, day in ((7, 2), (8, 10), (9, 3))]
    rows.append(reception("2026-07-06", "要求物业赔偿车辆被树枝砸坏的维修费用", "投訴", room="8-1-1801", department="秩序部"))
    workbook = write_workbook(folder / "center.xlsx", rows)
    book = openpyxl.load_workbook(workbook)
    sheet = book.active
    sheet.cell(1, sheet.max_column + 1, "無法處理原因")
    sheet.cell(5, sheet.max_column, "树木属市政绿化，赔偿须由业主向保险公司及市政部门申请，物业已协助提供监控录像")
    book.save(workbook)
    config = write_config(folder, workbook, language="zh-Hans")
    assert run(config, at("2026-10-05 09:00")).code == 0
    return sorted((folder / "outbox").glob("*quarterly*.eml"))[0]


@pytest.mark.parametrize("width", [PHONE, DESK])
@pytest.mark.parametrize("kind", ["supervisor", "manager", "weekly", "emergency", "complaint", "quarterly"])
def test_nothing_that_must_stay_whole_wraps_and_no_text_column_is_squeezed(demo_mails, kind, width, tmp_path):
    figures = measure(mail_html(demo_mails[kind]), width, tmp_path)
    assert figures["width"] == width
    assert figures["wrapped"] == []  # ids, dates, phones, numbers on one line each
    assert figures["squeezed"] == []  # no text column under 6 characters that wraps
    assert figures["scrollWidth"] <= width  # nothing scrolls sideways
    if kind in ("supervisor", "manager", "weekly"):
        assert figures["cards"] == (["block"] if width == PHONE else ["table-row"])


@pytest.mark.parametrize("width", [PHONE, DESK])
@pytest.mark.parametrize("language", ["zh-Hant", "zh-Hans"])
def test_the_quarterly_review_reads_on_a_phone_in_both_languages(demo_mails, simplified_review, language, width,
                                                                tmp_path):
    """Problems, figures and the chart's numbers: ids never break, no column squeezed, and no
    header over a column of figures wraps (the quarters head them, not long figure names)."""
    page = mail_html(demo_mails["quarterly"] if language == "zh-Hant" else simplified_review)
    assert f'lang="{language}"' in page
    assert language == "zh-Hant" or "无法处理的事项及原因" in page
    figures = measure(page, width, tmp_path)
    assert figures["wrapped"] == [] and figures["squeezed"] == [] and figures["headers"] == []
    assert figures["scrollWidth"] <= width


def test_the_digests_first_phone_screen_shows_its_action_section(demo_mails, tmp_path):
    figures = measure(mail_html(demo_mails["supervisor"]), PHONE, tmp_path)
    assert figures["actionHeadingBottom"] is not None and figures["actionHeadingBottom"] < PHONE_SCREEN_HEIGHT / 2
    figures = measure(mail_html(demo_mails["supervisor"]), DESK, tmp_path)
    assert figures["actionHeadingBottom"] < PHONE_SCREEN_HEIGHT / 2


def test_screenshots_of_the_digest_are_taken_at_both_widths(demo_mails, tmp_path):
    page = mail_html(demo_mails["supervisor"])
    for width in (PHONE, DESK):
        shot = screenshot(page, width, PHONE_SCREEN_HEIGHT, tmp_path / f"digest-{width}.png")
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
