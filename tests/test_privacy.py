"""SPEC 6: phones are masked wherever they appear outside the main tab, not only in the phone
column: in 事由, in names, in notes that quote a cell, in mails, and in the run's output and logs."""

from __future__ import annotations

import re

import openpyxl
import pandas as pd
import pytest

from automation import logs
from automation.domain.privacy import mask_phones, mask_phones_in_text
from tests.messages_support import (
    Outbox, at, html_of, log_rows, main_rows, reception, run, text_of, write_config, write_workbook,
)


@pytest.mark.parametrize("text,masked", [
    ("請回電13812345678", "請回電138****5678"),
    ("業主 +86 138 1234 5678 下午在家", "業主 138****5678 下午在家"),
    ("86-139-1234-5678", "139****5678"),
    ("8613712345678", "137****5678"),
    ("座機 010-12345678，或 (021)1234-5678", "座機 010****5678，或 021****5678"),
    ("0755 1234567", "075****4567"),
])
def test_phones_inside_text_keep_the_first_3_and_last_4_digits(text, masked):
    assert mask_phones_in_text(text) == masked


@pytest.mark.parametrize("text", [
    "R20260309-001", "2026-03-10 09:00", "2026-03-10T09:00:00+08:00", "房號 3-1-1201", "金額 12345678 元",
    "<emergency.R20260309-001.supervisor.0a1b2c3d4e5f@example.com>", "1381234567890", "12:30-13:45", "12345678901",
])
def test_what_is_not_a_phone_is_left_alone(text):
    assert mask_phones_in_text(text) == text


def test_a_column_is_masked_at_once_and_other_cells_kept():
    column = pd.Series(["漏水 13812345678", "", None, 20260310, "噪音"], dtype=object)
    assert mask_phones(column).tolist() == ["漏水 138****5678", "", None, 20260310, "噪音"]
    untouched = pd.Series(["噪音", "漏水"], dtype=object)
    assert mask_phones(untouched) is untouched  # nothing to mask: no copy


PHONES = ("13912345678", "13698765432", "13511112222", "01087654321")


def full_phones_in(text: str) -> list[str]:
    """The test's phones found whole in `text`, whatever separators were put between digits."""
    digits = re.sub(r"[\s\-+()]", "", text)
    return [phone for phone in PHONES if phone in digits]


def test_phones_typed_anywhere_stay_in_the_main_tab_only(tmp_path):
    workbook = write_workbook(tmp_path / "reception.xlsx", [
        reception("2026-03-06", "業主請回電 139-1234-5678，電梯困人", "緊急"),  # in 主管隊列
        reception("2026-03-08", "鄰居裝修噪音", "投訴", name="陳先生 136 9876 5432"),
        reception("139 1234 5678", "水管漏水", "報修"),  # a phone typed into 接待日期: quoted by its note
        reception("2026-03-02", "停車位被佔 010-87654321", "報修", result="已協調，135-1111-2222 車主已挪車"),
    ])
    config = write_config(tmp_path, workbook)
    stdout_err = run(config, at("2026-03-09 09:30"))
    dry = run(config, at("2026-03-10 09:30"), dry_run=True)
    assert stdout_err.code == 0 and dry.code == 0

    # The main tab keeps what staff typed; its note quotes the date cell masked.
    rows = main_rows(workbook)
    assert rows[0]["事由"] == "業主請回電 139-1234-5678，電梯困人"
    assert rows[2]["系統提示"] == "接待日期無法識別：139****5678"

    book = openpyxl.load_workbook(workbook)
    outside = [str(value) for sheet in book.worksheets[1:] for row in sheet.iter_rows(values_only=True)
               for value in row if value is not None]
    assert any("139****5678" in text for text in outside)  # the 事由 is there, masked
    assert [text for text in outside if full_phones_in(text)] == []
    mails = Outbox(tmp_path / "outbox").all()
    assert mails and any("139****5678" in text_of(mail) for mail in mails)
    for mail in mails:
        assert full_phones_in(text_of(mail)) == [] and full_phones_in(html_of(mail)) == []
        assert full_phones_in(str(mail["Subject"])) == []
    for output in (stdout_err.out, stdout_err.err, dry.out, dry.err):
        assert full_phones_in(output) == []
    assert [row for row in log_rows(workbook) if full_phones_in(" ".join(map(str, row)))] == []


def test_the_logs_mask_phones_in_any_message():
    assert logs.redact("第 4 行：接待日期無法識別：139 1234 5678") == "第 4 行：接待日期無法識別：139****5678"
