"""SPEC 2.1: dates as real date cells, serial numbers, or the text forms, optionally with a time."""

import datetime as dt

import pandas as pd
import pytest

from automation.domain.dates import NO_DATE, parse_date_cell, parse_dates

NOV_27 = dt.date(2026, 11, 27).toordinal()


@pytest.mark.parametrize(
    "cell",
    [
        dt.datetime(2026, 11, 27, 14, 30),
        dt.date(2026, 11, 27),
        46353,  # spreadsheet serial number
        46353.6041666667,  # serial with a time of day
        "46353",
        "2026-11-27",
        "2026/11/27",
        "2026.11.27",
        "2026年11月27日",
        "2026-11-27 14:30",
        "2026/11/27 14:30:05",
        "2026年11月27日 14:30",
        "2026年11月27日14:30",
        "2026-11-27T14:30",
        " 2026-11-27 ",
        "2026-11-27　",  # full-width space
        "2026-1-5".replace("1-5", "11-27"),
    ],
)
def test_accepted_forms_read_as_the_same_day(cell):
    assert parse_date_cell(cell) == NOV_27


@pytest.mark.parametrize(
    "cell",
    ["上週二", "2026-13-01", "2026-02-30", "11/27/2026", "27.11.2026", "2026-11-27 25:00", True, 0, -5, "abc", "2026-11"],
)
def test_unreadable_forms(cell):
    assert parse_date_cell(cell) is None


def test_a_column_separates_blank_readable_and_unreadable():
    parsed = parse_dates(pd.Series([None, "", "  ", "2026-11-27", "明天", 46353.0, float("nan")], dtype=object))
    assert parsed.blank.tolist() == [True, True, True, False, False, False, True]
    assert parsed.readable.tolist() == [False, False, False, True, False, True, False]
    assert parsed.unreadable.tolist() == [False, False, False, False, True, False, False]
    assert parsed.ordinal.tolist() == [NO_DATE, NO_DATE, NO_DATE, NOV_27, NO_DATE, NOV_27, NO_DATE]


def test_time_near_midnight_keeps_its_calendar_date():
    """A reception at 23:59 belongs to that day; 00:01 to the next (dates are local, SPEC 3)."""
    assert parse_date_cell("2026-12-31 23:59") == dt.date(2026, 12, 31).toordinal()
    assert parse_date_cell("2027-01-01 00:01") == dt.date(2027, 1, 1).toordinal()
