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


# --- SPEC 6: Excel's own calendar, serials below 61 included -------------------------------

def test_serials_follow_excels_calendar_below_61_too():
    """Serial 1 is 1900-01-01 and 59 is 1900-02-28 in Excel; 60 is Excel's 1900-02-29, a day that
    never was (unreadable, so it is noted); from 61 on (1900-03-01) the usual epoch holds."""
    expected = {1: dt.date(1900, 1, 1), 2: dt.date(1900, 1, 2), 31: dt.date(1900, 1, 31),
                59: dt.date(1900, 2, 28), 61: dt.date(1900, 3, 1), 62: dt.date(1900, 3, 2),
                36526: dt.date(2000, 1, 1), 46353: dt.date(2026, 11, 27)}
    for serial, day in expected.items():
        assert parse_date_cell(serial) == day.toordinal(), serial
        assert parse_date_cell(serial + 0.75) == day.toordinal(), serial  # a time of day
    assert parse_date_cell(60) is None and parse_date_cell(60.5) is None
    column = parse_dates(pd.Series([*expected, 60, 59.9], dtype=object))
    assert column.ordinal.tolist() == [d.toordinal() for d in expected.values()] + [NO_DATE, expected[59].toordinal()]
    assert column.readable.tolist() == [True] * len(expected) + [False, True]


def test_serials_agree_with_openpyxl_reading_excel_date_cells():
    """openpyxl converts Excel's date cells with Excel's calendar; a bare serial reads the same."""
    from openpyxl.utils.datetime import from_excel

    serials = [s for s in range(1, 400) if s != 60]
    column = parse_dates(pd.Series(serials, dtype=object))
    assert column.ordinal.tolist() == [from_excel(s).date().toordinal() for s in serials]
