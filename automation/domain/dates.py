"""Reading the dates staff type (SPEC 2.1) and counting days between them (SPEC 3).

Dates travel through the core as day ordinals (`datetime.date.toordinal()`) in int64 numpy
arrays, with `NO_DATE` where a cell is blank or unreadable, so the ladder is computed for the
whole sheet at once instead of row by row.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

NO_DATE = -1
# Excel's calendar: serial 1 is 1900-01-01 and serial 60 the 1900-02-29 that never was (kept from
# Lotus 1-2-3), so serials from 61 count from 1899-12-30 and those below 60 from 1899-12-31.
_EXCEL_EPOCH = dt.date(1899, 12, 30).toordinal()
_FAKE_LEAP_DAY = 60
_MAX_SERIAL = 2958465  # 9999-12-31
# Receptions before this are almost surely typing slips (a serial typed as a number, a year
# missing a digit): noted as unlikely, as dates after today are.
EARLIEST_LIKELY = dt.date(1990, 1, 1).toordinal()
_TEXT_DATE = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:(?:\s*[T\s]\s*|(?<=日))(\d{1,2})\s*[:：]\s*(\d{2})(?:\s*[:：]\s*(\d{2}))?)?$"
)
_SERIAL_TEXT = re.compile(r"^\d{4,7}(?:\.\d+)?$")


@dataclass(frozen=True)
class ParsedDates:
    """A column of date cells, read. `ordinal[i]` is NO_DATE unless `readable[i]`."""

    ordinal: np.ndarray  # int64
    blank: np.ndarray  # bool: the cell is empty
    readable: np.ndarray  # bool: the cell holds a date we understood

    @property
    def unreadable(self) -> np.ndarray:
        return ~self.blank & ~self.readable


def parse_date_cell(value: object) -> int | None:
    """The day ordinal a cell means, or None when it is not a date. Blank is the caller's business."""
    if isinstance(value, dt.datetime):
        return value.date().toordinal()
    if isinstance(value, dt.date):
        return value.toordinal()
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        return _from_serial(float(value))
    if isinstance(value, str):
        text = value.strip()
        match = _TEXT_DATE.match(text)
        if match:
            year, month, day, hour, minute, second = match.groups()
            try:
                if hour is not None:
                    dt.time(int(hour), int(minute), int(second or 0))
                return dt.date(int(year), int(month), int(day)).toordinal()
            except ValueError:
                return None
        if _SERIAL_TEXT.match(text):
            return _from_serial(float(text))
    return None


def time_of_day_text(value: object) -> str:
    """`HH:MM` when a 接待日期 cell gives a time of day (a date-time cell, a serial with a
    fraction, text such as `2026-11-27 14:30`), else ""."""
    if isinstance(value, dt.datetime):
        return value.strftime("%H:%M") if value.time() != dt.time(0) else ""
    if isinstance(value, bool) or isinstance(value, dt.date):
        return ""
    if isinstance(value, (int, float, np.integer, np.floating)):
        fraction = float(value) % 1
        if value != value or fraction == 0:
            return ""
        minutes = round(fraction * 24 * 60)
        return f"{minutes // 60 % 24:02d}:{minutes % 60:02d}"
    if isinstance(value, str):
        match = _TEXT_DATE.match(value.strip())
        if match and match.group(4) is not None:
            return f"{int(match.group(4)):02d}:{match.group(5)}"
    return ""


def _from_serial(serial: float) -> int | None:
    if not (1 <= serial <= _MAX_SERIAL) or serial != serial or int(serial) == _FAKE_LEAP_DAY:
        return None
    return _EXCEL_EPOCH + int(serial) + (1 if serial < _FAKE_LEAP_DAY else 0)


def is_blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and value != value:
        return True
    return isinstance(value, str) and not value.strip()


def parse_dates(values: pd.Series) -> ParsedDates:
    """Read a whole column. Serial numbers are converted together, date cells directly, and each
    distinct text once; anything else goes through `parse_date_cell`."""
    items = values.tolist() if isinstance(values, (pd.Series, np.ndarray)) else list(values)
    n = len(items)
    ordinals = np.full(n, NO_DATE, dtype=np.int64)
    blank = np.zeros(n, dtype=bool)
    readable = np.zeros(n, dtype=bool)
    serial_positions: list[int] = []
    serials: list[float] = []
    texts: dict[str, int | None] = {}
    datetime_type, date_type = dt.datetime, dt.date
    for position, value in enumerate(items):
        kind = type(value)
        if kind is float or kind is int:
            if value != value:  # NaN: an empty cell
                blank[position] = True
            else:
                serial_positions.append(position)
                serials.append(value)
            continue
        if value is None:
            blank[position] = True
            continue
        if kind is str:
            if value in texts:
                parsed = texts[value]
            elif not value.strip():
                parsed = texts[value] = None
            else:
                parsed = texts[value] = parse_date_cell(value)
            if parsed is None:
                if not value.strip():
                    blank[position] = True
                continue
        elif kind is datetime_type or kind is date_type:
            parsed = value.toordinal()
        else:
            if is_blank(value):
                blank[position] = True
                continue
            parsed = parse_date_cell(value)
            if parsed is None:
                continue
        ordinals[position] = parsed
        readable[position] = True
    if serials:
        days = np.floor(np.asarray(serials, dtype=np.float64))
        valid = (days >= 1) & (days <= _MAX_SERIAL) & (days != _FAKE_LEAP_DAY)
        where = np.asarray(serial_positions, dtype=np.int64)[valid]
        days = days[valid].astype(np.int64)
        ordinals[where] = _EXCEL_EPOCH + days + (days < _FAKE_LEAP_DAY)
        readable[where] = True
    return ParsedDates(ordinals, blank, readable)


def time_of_day(value: object) -> tuple[int, int] | None:
    """(hour, minute) a date cell gives besides its day, or None when it gives none (or midnight)."""
    hour = minute = 0
    if isinstance(value, dt.datetime):  # to the nearest minute: a serial's float may fall just short
        minutes = round(value.hour * 60 + value.minute + (value.second + value.microsecond / 1e6) / 60)
        hour, minute = divmod(minutes % 1440, 60)
    elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        if value != value:
            return None
        minutes = round((float(value) % 1) * 1440)
        hour, minute = divmod(minutes % 1440, 60)
    elif isinstance(value, str):
        match = _TEXT_DATE.match(value.strip())
        if match is None or match.group(4) is None:
            return None
        hour, minute = int(match.group(4)), int(match.group(5))
        if not (0 <= hour < 24 and 0 <= minute < 60):
            return None
    return (hour, minute) if (hour, minute) != (0, 0) else None


def as_date(ordinal: int, time: tuple[int, int] | None = None) -> dt.date | dt.datetime | str:
    """A day ordinal as a date cell's value (a datetime when a time of day is known); "" for none."""
    if ordinal == NO_DATE:
        return ""
    day = dt.date.fromordinal(int(ordinal))
    return dt.datetime(day.year, day.month, day.day, *time) if time else day


def iso(ordinal: int) -> str:
    return dt.date.fromordinal(int(ordinal)).isoformat() if ordinal != NO_DATE else ""


def iso_week(ordinal: int) -> str:
    year, week, _ = dt.date.fromordinal(int(ordinal)).isocalendar()
    return f"{year}-W{week:02d}"


def monday_of(ordinal: int) -> int:
    return int(ordinal) - dt.date.fromordinal(int(ordinal)).weekday()
