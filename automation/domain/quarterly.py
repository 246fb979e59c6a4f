"""The quarterly review of the procedure (SPEC 4.3; 復審規定 1–3 of the seed).

Every quarter the 客服主管 leads a review of how the procedure was carried out and what problems
show. This module computes, from an evaluation (see rules.evaluate), the figures of each calendar
quarter (counted by 接待日期) and the problems found in the quarter under review, each problem
with the record ids behind it. Pure: the day `today` is passed in; every figure is computed over
whole columns (group-bys and masks), never by a Python loop over rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .dates import NO_DATE

SHOWN_QUARTERS = 4  # the tab and the status show the last 4 quarters, the current one included

# Problem thresholds (SPEC 4.3).
ROOM_RECEPTIONS = 3
ROOM_COMPLAINTS = 2
PAIR_RISE = 0.5
PAIR_MINIMUM = 5
DEPARTMENT_MINIMUM = 5
DEPARTMENT_ESCALATED_SHARE = 0.3
MANAGER_OVERDUE_DAYS = 30

_EPOCH = dt.date(1970, 1, 1).toordinal()

# How a figure's change against the previous quarter reads: counts and days as a difference,
# percentages as a difference in points.
COUNT, PERCENT, DAYS = "count", "percent", "days"


@dataclass(frozen=True, order=True)
class Quarter:
    """A calendar quarter: `2026-Q3` is July to September 2026."""

    year: int
    number: int  # 1..4

    @classmethod
    def of_day(cls, ordinal: int) -> "Quarter":
        day = dt.date.fromordinal(int(ordinal))
        return cls(day.year, (day.month - 1) // 3 + 1)

    @classmethod
    def from_index(cls, index: int) -> "Quarter":
        return cls(int(index) // 4, int(index) % 4 + 1)

    @property
    def index(self) -> int:
        """Quarters counted from year 0: consecutive quarters differ by 1."""
        return self.year * 4 + self.number - 1

    @property
    def label(self) -> str:
        return f"{self.year}-Q{self.number}"

    @property
    def first_day(self) -> int:
        return dt.date(self.year, 3 * self.number - 2, 1).toordinal()

    @property
    def last_day(self) -> int:
        return self.next().first_day - 1

    def next(self) -> "Quarter":
        return Quarter.from_index(self.index + 1)

    def previous(self) -> "Quarter":
        return Quarter.from_index(self.index - 1)

    def first_weekday(self, weekday: int) -> int:
        """The quarter's first day that falls on `weekday` (0 = Monday)."""
        first = self.first_day
        return first + (weekday - dt.date.fromordinal(first).weekday()) % 7


def quarter_indexes(ordinals: np.ndarray) -> np.ndarray:
    """`Quarter.index` of each day ordinal, -1 for NO_DATE; over the whole column at once."""
    ordinals = np.asarray(ordinals, dtype=np.int64)
    known = ordinals != NO_DATE
    days = np.where(known, ordinals - _EPOCH, 0).astype("datetime64[D]")
    months = days.astype("datetime64[M]").astype(np.int64)  # months since 1970-01
    index = (1970 * 12 + months) // 3
    return np.where(known, index, -1)


# ----- figures --------------------------------------------------------------------------------

@dataclass(frozen=True)
class QuarterlyFigures:
    """The figures of consecutive quarters, oldest first.

    `values` has one row per figure key (in display order) and one column per quarter label;
    `change` the difference against the previous quarter (NaN where either side is undefined);
    `kinds` says how each figure reads (COUNT, PERCENT or DAYS). `reasons` lists, by quarter
    label, the (record id, reason) of the items closed as 無法處理."""

    quarters: tuple[Quarter, ...]
    values: pd.DataFrame
    change: pd.DataFrame
    kinds: dict[str, str]
    reasons: dict[str, tuple[tuple[str, str], ...]]

    def value(self, key: str, quarter: Quarter):
        """A figure as a plain number (int for counts), or None when undefined (no rows)."""
        return _plain(self.values.at[key, quarter.label], self.kinds[key])

    def delta(self, key: str, quarter: Quarter):
        return _plain(self.change.at[key, quarter.label], self.kinds[key])


def _plain(value, kind: str):
    if value is None or pd.isna(value):
        return None
    if kind == COUNT:
        return int(value)
    return round(float(value), 1)


def _percent(part: pd.Series, whole: pd.Series) -> pd.Series:
    return (100.0 * part / whole.where(whole > 0)).round(1)


def _equals_each(values: pd.Series, keys) -> dict[str, np.ndarray]:
    """`values == key` for each key, the column's distinct values found once (object columns
    compare slowly element by element; their integer codes do not)."""
    codes, distinct = pd.factorize(values)
    position = {value: number for number, value in enumerate(distinct.tolist())}
    return {key: codes == position.get(key, -2) for key in keys}


# The evaluation's columns the figures read.
_FIGURE_COLUMNS = ["status_key", "level_reached", "category", "channel", "is_open", "satisfaction",
                   "supervisor_review", "manager_review", "age_at_close", "record_id", "unresolvable_reason"]


def _row_flags(rows: pd.DataFrame, categories: tuple[str, ...], channels: tuple[str, ...]) -> pd.DataFrame:
    """0/1 per row and figure counted: summed by quarter, these are the count figures."""
    status = _equals_each(rows["status_key"], ("completed", "unresolvable"))
    category = _equals_each(rows["category"], categories)
    channel = _equals_each(rows["channel"], channels)
    satisfaction = _equals_each(rows["satisfaction"], ("", "satisfied", "fair", "unsatisfied"))
    level = rows["level_reached"].to_numpy()
    is_open = rows["is_open"].to_numpy()
    finished = status["completed"]
    front = finished & (level == 0)
    complaint = category.get("complaint", np.zeros(len(rows), dtype=bool))
    emergency = category.get("emergency", np.zeros(len(rows), dtype=bool))
    answered = ~satisfaction[""]
    return pd.DataFrame({
        "received": np.ones(len(rows), dtype=np.int64),
        **{f"category:{key}": category[key] for key in categories},
        **{f"channel:{key}": channel[key] for key in channels},
        "channel:unspecified": ~np.logical_or.reduce([channel[key] for key in channels]) if channels else True,
        "front_finished": front,
        "reached_supervisor": level >= 1,
        "reached_manager": level == 2,
        "unresolvable": status["unresolvable"],
        "still_open": is_open,
        "finished": finished,
        "complaints": complaint,
        "complaints_front": complaint & front,
        "emergencies": emergency,
        "emergencies_open": emergency & is_open,
        "lacking_supervisor_review": _equals_each(rows["supervisor_review"], ("",))[""],
        "lacking_manager_review": _equals_each(rows["manager_review"], ("",))[""],
        "finished_answered": finished & answered,
        "answered": answered,
        "content": satisfaction["satisfied"] | satisfaction["fair"],
        "unsatisfied": satisfaction["unsatisfied"],
    }, index=rows.index).astype(np.int64)


def quarterly_figures(evaluation: pd.DataFrame, today: int, categories: tuple[str, ...],
                      channels: tuple[str, ...], quarters: int = SHOWN_QUARTERS) -> QuarterlyFigures:
    """The figures of SPEC 4.3 for the `quarters` quarters ending with today's, with the change
    of each against the quarter before it (so one more quarter is computed than is returned)."""
    current = Quarter.of_day(today)
    computed = [Quarter.from_index(current.index - back) for back in range(quarters, -1, -1)]
    labels = [quarter.label for quarter in computed]
    indexes = pd.Index([quarter.index for quarter in computed])
    ev = evaluation
    quarter_of_row = quarter_indexes(ev["received"].to_numpy())
    in_range = (quarter_of_row >= indexes[0]) & (quarter_of_row <= indexes[-1])
    rows = ev.loc[in_range, _FIGURE_COLUMNS]
    group = quarter_of_row[in_range]

    flags = _row_flags(rows, categories, channels)
    finished, complaint = flags["finished"].astype(bool), flags["complaints"].astype(bool)
    counts = flags.groupby(group).sum().reindex(indexes, fill_value=0)

    days = rows["age_at_close"].where(finished).astype(float)
    by_quarter = days.groupby(group)
    complaint_days = days.where(complaint).groupby(group)
    table = pd.DataFrame(index=indexes)
    table["received"] = counts["received"]
    for key in (*(f"category:{k}" for k in categories), *(f"channel:{k}" for k in (*channels, "unspecified"))):
        table[key] = counts[key]
    table["front_finished"] = counts["front_finished"]
    table["front_finished_pct"] = _percent(counts["front_finished"], counts["received"])
    for key in ("reached_supervisor", "reached_manager", "unresolvable", "still_open"):
        table[key] = counts[key]
    table["days_mean"] = by_quarter.mean().reindex(indexes).round(1)
    table["days_median"] = by_quarter.median().reindex(indexes).round(1)
    table["days_p90"] = by_quarter.quantile(0.9).reindex(indexes).round(1)
    table["complaints"] = counts["complaints"]
    table["complaints_front_pct"] = _percent(counts["complaints_front"], counts["complaints"])
    table["complaints_days_mean"] = complaint_days.mean().reindex(indexes).round(1)
    table["emergencies"] = counts["emergencies"]
    table["emergencies_open"] = counts["emergencies_open"]
    for key in ("lacking_supervisor_review", "lacking_manager_review"):
        table[key] = counts[key]
        table[f"{key}_pct"] = _percent(counts[key], counts["received"])
    table["follow_up_pct"] = _percent(counts["finished_answered"], counts["finished"])
    table["satisfaction_pct"] = _percent(counts["content"], counts["answered"])
    table["unsatisfied"] = counts["unsatisfied"]
    table["incomplete_at_end"] = incomplete_at_end(ev, computed, today)

    values = table.T
    values.columns = labels
    change = values.diff(axis=1)
    kinds = {key: _kind_of(key) for key in values.index}
    shown = labels[1:]
    return QuarterlyFigures(
        quarters=tuple(computed[1:]), values=values[shown], change=change[shown], kinds=kinds,
        reasons=_unresolvable_reasons(rows, group, computed[1:]),
    )


def _kind_of(key: str) -> str:
    if key.endswith("_pct"):
        return PERCENT
    if key.startswith("days_") or key.endswith("_days_mean"):
        return DAYS
    return COUNT


def _unresolvable_reasons(rows: pd.DataFrame, group: np.ndarray, quarters) -> dict[str, tuple[tuple[str, str], ...]]:
    closed = (rows["status_key"] == "unresolvable").to_numpy()
    picked = rows.loc[closed, ["record_id", "unresolvable_reason"]]
    by_quarter = pd.Series(list(zip(picked["record_id"], picked["unresolvable_reason"])), index=group[closed],
                           dtype=object)
    return {quarter.label: tuple(by_quarter[by_quarter.index == quarter.index].tolist()) for quarter in quarters}


def first_seen(evaluation: pd.DataFrame) -> np.ndarray:
    """The day each row was first there: its 接待日期, or, when that cannot be read (or lies in
    the future), the date in its record id — the day of the first run that saw it."""
    ids = evaluation["record_id"].astype(str)
    id_days = pd.to_datetime(ids.str.slice(1, 9), format="%Y%m%d", errors="coerce")
    id_ordinals = np.where(id_days.isna(), NO_DATE,
                           (id_days.to_numpy().astype("datetime64[D]").astype(np.int64) + _EPOCH))
    received = evaluation["received"].to_numpy()
    return np.where(evaluation["received_ok"].to_numpy(), received, id_ordinals).astype(np.int64)


def incomplete_at_end(evaluation: pd.DataFrame, quarters, today: int) -> list[int]:
    """Rows 資料不全 at the end of each quarter (today for the current one).

    The sheet keeps no history, so this is read from what it holds now: a row still lacking a
    required field was lacking it then too, if it was already there and not yet closed. A row
    fixed since is no longer counted."""
    rows = evaluation.loc[evaluation["missing_required"].to_numpy(),
                          ["record_id", "received", "received_ok", "completed", "status_key"]]
    seen = first_seen(rows)
    missing = seen != NO_DATE
    completed = rows["completed"].to_numpy()
    unresolvable = (rows["status_key"] == "unresolvable").to_numpy()
    counts = []
    for quarter in quarters:  # a handful of quarters, each a whole-column mask
        end = min(quarter.last_day, today)
        open_then = (completed == NO_DATE) | (completed > end)
        counts.append(int((missing & (seen <= end) & open_then & ~unresolvable).sum()))
    return counts


# ----- problems found -------------------------------------------------------------------------

@dataclass(frozen=True)
class Problem:
    """One problem found in the quarter under review.

    `kind`: room_repeat, pair_rise, department_escalation or manager_overdue; `subject` names
    what it is about (room, category and department, department); `figures` the numbers behind
    it; `record_ids` the rows, oldest first."""

    kind: str
    subject: tuple[str, ...]
    figures: dict
    record_ids: tuple[str, ...]


def _oldest_first(rows: pd.DataFrame) -> pd.DataFrame:
    """Oldest reception first, then in sheet order (numeric keys: no text comparisons)."""
    return rows.iloc[np.lexsort((rows.index.to_numpy(), rows["received"].to_numpy()))]


def _ids_oldest_first(rows: pd.DataFrame) -> pd.Series:
    return _oldest_first(rows)["record_id"]


def _grouped_ids(rows: pd.DataFrame, keys: list[str]) -> pd.Series:
    return _oldest_first(rows).groupby(keys, sort=True)["record_id"].agg(tuple)


def quarterly_problems(evaluation: pd.DataFrame, today: int, quarter: Quarter | None = None) -> list[Problem]:
    """The problems of SPEC 4.3 in `quarter` (default: the last complete quarter before today's)."""
    quarter = quarter or Quarter.of_day(today).previous()
    ev = evaluation
    quarter_of_row = quarter_indexes(ev["received"].to_numpy())
    columns = ["record_id", "received", "room", "category", "department", "level_reached"]
    now_rows = ev.loc[quarter_of_row == quarter.index, columns]
    before_rows = ev.loc[quarter_of_row == quarter.index - 1, columns]
    return [
        *room_problems(now_rows),
        *pair_problems(now_rows, before_rows),
        *department_problems(now_rows),
        *manager_overdue_problems(ev, today),
    ]


def room_problems(rows: pd.DataFrame) -> list[Problem]:
    """Rooms with ROOM_RECEPTIONS or more receptions, or ROOM_COMPLAINTS or more complaints."""
    rows = rows[rows["room"] != ""]
    complaint = (rows["category"] == "complaint").astype(np.int64)
    stats = pd.DataFrame({"receptions": 1, "complaints": complaint}, index=rows.index).groupby(rows["room"]).sum()
    flagged = stats[(stats["receptions"] >= ROOM_RECEPTIONS) | (stats["complaints"] >= ROOM_COMPLAINTS)]
    ids = _grouped_ids(rows[rows["room"].isin(flagged.index)], ["room"])
    return [Problem("room_repeat", (room,), {"receptions": int(r), "complaints": int(c)}, ids[room])
            for room, r, c in zip(flagged.index, flagged["receptions"], flagged["complaints"])]


def pair_problems(now_rows: pd.DataFrame, before_rows: pd.DataFrame) -> list[Problem]:
    """(category, 責任部門) pairs with PAIR_MINIMUM or more receptions that rose by PAIR_RISE or
    more over the previous quarter (from none counts as a rise)."""
    keys = ["category", "department"]
    now = now_rows.groupby(keys).size()
    before = before_rows.groupby(keys).size().reindex(now.index, fill_value=0)
    flagged = now[(now >= PAIR_MINIMUM) & (now >= (1 + PAIR_RISE) * before)]
    if flagged.empty:
        return []
    ids = _grouped_ids(now_rows, keys)
    return [Problem("pair_rise", pair, {"now": int(count), "before": int(before[pair])}, ids[pair])
            for pair, count in flagged.items()]


def department_problems(rows: pd.DataFrame) -> list[Problem]:
    """責任部門 with DEPARTMENT_MINIMUM or more items of which DEPARTMENT_ESCALATED_SHARE or more
    reached the supervisor; the ids listed are those that did."""
    rows = rows[rows["department"] != ""]
    reached = rows["level_reached"] >= 1
    stats = pd.DataFrame({"items": 1, "reached": reached.astype(np.int64)}, index=rows.index).groupby(rows["department"]).sum()
    flagged = stats[(stats["items"] >= DEPARTMENT_MINIMUM)
                    & (stats["reached"] >= DEPARTMENT_ESCALATED_SHARE * stats["items"])]
    if flagged.empty:
        return []
    ids = _grouped_ids(rows[reached & rows["department"].isin(flagged.index)], ["department"])
    return [Problem("department_escalation", (department,),
                    {"items": int(items), "reached": int(count), "pct": round(100.0 * count / items, 1)},
                    ids[department])
            for department, items, count in zip(flagged.index, flagged["items"], flagged["reached"])]


def manager_overdue_problems(evaluation: pd.DataFrame, today: int) -> list[Problem]:
    """Items still open that reached the manager more than MANAGER_OVERDUE_DAYS days ago."""
    since = evaluation["manager_from"].to_numpy()
    overdue = evaluation["is_open"].to_numpy() & (since != NO_DATE) & (since < today - MANAGER_OVERDUE_DAYS)
    rows = evaluation.loc[overdue, ["record_id", "received", "manager_from"]]
    if rows.empty:
        return []
    oldest = int(rows["manager_from"].min())
    return [Problem("manager_overdue", (), {"count": len(rows), "longest_days": today - oldest},
                    tuple(_ids_oldest_first(rows)))]


# ----- when the review mail is due ----------------------------------------------------------

def review_moment(quarter: Quarter, review_day: int, review_at: dt.time, tz) -> dt.datetime:
    """When the review of the quarter before `quarter` falls due: `review_at` on the quarter's
    first `review_day` (by default the first Monday of January, April, July, October)."""
    day = dt.date.fromordinal(quarter.first_weekday(review_day))
    return dt.datetime.combine(day, review_at, tzinfo=tz)


def quarter_due_for_review(now: dt.datetime, review_day: int, review_at: dt.time) -> Quarter | None:
    """The quarter whose review is due at `now` (local time): the previous quarter, from its
    review moment to the end of the current quarter; None before that moment. A worker down for
    a whole quarter therefore never sends the review that fell due in it."""
    current = Quarter.of_day(now.date().toordinal())
    if now >= review_moment(current, review_day, review_at, now.tzinfo):
        return current.previous()
    return None


def next_review(now: dt.datetime, review_day: int, review_at: dt.time, sent_quarters: set[str]) -> tuple[dt.datetime, Quarter, bool]:
    """(when, quarter reviewed, due now) of the next quarterly review at `now`: due now when this
    quarter's review moment has passed and its mail is not among `sent_quarters`."""
    current = Quarter.of_day(now.date().toordinal())
    moment = review_moment(current, review_day, review_at, now.tzinfo)
    reviewed = current.previous()
    if now < moment:
        return moment, reviewed, False
    if reviewed.label not in sent_quarters:
        return moment, reviewed, True
    following = current.next()
    return review_moment(following, review_day, review_at, now.tzinfo), current, False
