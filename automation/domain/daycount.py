"""Counting days for the ladder (SPEC 3): calendar days, or mainland-China working days.

`age(D, x)` is the number of days after D up to and including x: calendar days by default; on
the workday basis, the working days among them (statutory holidays skipped, adjusted working
weekends counted), from the maintained `chinesecalendar` package.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from ..errors import ConfigError


class CalendarDays:
    basis = "calendar"

    def age(self, start: np.ndarray, end: np.ndarray | int) -> np.ndarray:
        return np.asarray(end, dtype=np.int64) - np.asarray(start, dtype=np.int64)

    def last_day_within(self, start: np.ndarray, days: np.ndarray | int) -> np.ndarray:
        """The last date x with age(start, x) <= days: the last day before the next escalation."""
        return np.asarray(start, dtype=np.int64) + np.asarray(days, dtype=np.int64)


class WorkingDays:
    """Working days of the mainland China calendar, precomputed over the years the sheet needs.

    A cumulative count of working days per calendar day turns age() into two array look-ups.
    """

    basis = "workday"

    def __init__(self, first: int, last: int, today: int | None = None):
        import chinese_calendar  # imported here: only the workday basis needs it

        # A margin after `last` so due dates past today (up to the longest window) resolve.
        first_date = dt.date.fromordinal(first)
        last_date = dt.date.fromordinal(last) + dt.timedelta(days=60)
        today_year = dt.date.fromordinal(today if today is not None else last).year
        self.first = dt.date(first_date.year, 1, 1).toordinal()
        self.last = dt.date(last_date.year, 12, 31).toordinal()
        flags = np.zeros(self.last - self.first + 1, dtype=np.int64)
        self.estimated_years: list[int] = []
        for year in range(first_date.year, last_date.year + 1):
            start = dt.date(year, 1, 1).toordinal()
            days = [dt.date.fromordinal(o) for o in range(start, dt.date(year, 12, 31).toordinal() + 1)]
            try:
                chinese_calendar.is_workday(days[0])
            except NotImplementedError:
                if year == today_year:
                    raise ConfigError(
                        f"escalation.day_basis = \"workday\"：chinesecalendar 套件（{_version()}）沒有 {year} 年的"
                        f"法定節假日安排。請升級套件（pip install -U chinesecalendar）後重試，"
                        f"或暫時改用 day_basis = \"calendar\""
                    ) from None
                # A year other than today's that the package does not cover (a due date running
                # into next year before its holidays are published, or ancient history): Monday
                # to Friday stand in for it.
                self.estimated_years.append(year)
                workday = [d.weekday() < 5 for d in days]
            else:
                workday = [chinese_calendar.is_workday(d) for d in days]
            flags[start - self.first:start - self.first + len(days)] = workday
        self.cumulative = np.cumsum(flags)

    def _count(self, ordinals) -> np.ndarray:
        return self.cumulative[np.asarray(ordinals, dtype=np.int64) - self.first]

    def age(self, start: np.ndarray, end: np.ndarray | int) -> np.ndarray:
        start = np.asarray(start, dtype=np.int64)
        end = np.broadcast_to(np.asarray(end, dtype=np.int64), start.shape)
        return self._count(end) - self._count(start)

    def last_day_within(self, start: np.ndarray, days: np.ndarray | int) -> np.ndarray:
        start = np.asarray(start, dtype=np.int64)
        target = self._count(start) + np.broadcast_to(np.asarray(days, dtype=np.int64), start.shape)
        # The first day whose count exceeds the target is the next escalation; the day before is due.
        next_escalation = np.searchsorted(self.cumulative, target, side="right") + self.first
        return next_escalation - 1


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("chinesecalendar")
    except Exception:  # pragma: no cover - metadata missing
        return "?"


def day_counter(basis: str, first: int, last: int, today: int | None = None):
    """The counter for `basis`, covering ordinals first..last (and a margin after)."""
    if basis == "workday":
        return WorkingDays(first, last, today)
    return CalendarDays()
