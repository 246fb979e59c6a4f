"""The demo's mails in a real browser (headless Chromium) at a phone's width (390 px) and a desk's
(1024 px): no record id, date, phone or number breaks across lines, no text column is narrower
than 6 characters, nothing scrolls sideways, records read as cards on the phone, and the
supervisor digest's first screen shows its action section (SPEC 4.2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from automation.application.demo import run_demo
from tests.mail_browser import DESK, PHONE, PHONE_SCREEN_HEIGHT, chromium, mail_html, measure, screenshot

pytestmark = pytest.mark.skipif(chromium() is None, reason="Chromium is not installed (/usr/bin/chromium): "
                                "the mails cannot be laid out in a browser on this machine")


@pytest.fixture(scope="module")
def demo_mails(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("demo")
    assert run_demo(folder / "demo") == 0
    mails = {}
    for path in sorted((folder / "demo" / "outbox").glob("*.eml")):
        kind = path.stem.split("-")[2]  # supervisor, manager, weekly, emergency, complaint
        mails.setdefault(kind, path)
    assert {"supervisor", "manager", "weekly", "emergency", "complaint"} <= set(mails), mails
    return mails


@pytest.mark.parametrize("width", [PHONE, DESK])
@pytest.mark.parametrize("kind", ["supervisor", "manager", "weekly", "emergency", "complaint"])
def test_nothing_that_must_stay_whole_wraps_and_no_text_column_is_squeezed(demo_mails, kind, width, tmp_path):
    figures = measure(mail_html(demo_mails[kind]), width, tmp_path)
    assert figures["width"] == width
    assert figures["wrapped"] == []  # ids, dates, phones, numbers on one line each
    assert figures["squeezed"] == []  # no text column under 6 characters that wraps
    assert figures["scrollWidth"] <= width  # nothing scrolls sideways
    if kind in ("supervisor", "manager", "weekly"):
        assert figures["cards"] == (["block"] if width == PHONE else ["table-row"])


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
