"""The summary tabs of SPEC 4.1, built from an evaluation (see rules.evaluate)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..vocabulary import Vocabulary
from .dates import NO_DATE, as_date, iso_week, monday_of
from .privacy import mask_phone

FOLLOW_UP_DAYS = 14


def oldest_first(rows: pd.DataFrame) -> pd.DataFrame:
    """Oldest reception first; rows without a readable date last, then in sheet order."""
    key = np.where(rows["received"].to_numpy() == NO_DATE, np.iinfo(np.int64).max, rows["received"].to_numpy())
    order = np.lexsort((rows.index.to_numpy(), key))
    return rows.iloc[order]


def due_first(rows: pd.DataFrame) -> pd.DataFrame:
    """The queue tabs' order (SPEC 4.1): rows without a 處理時限 (資料不全, manager level) first,
    then by 處理時限, earliest first; then oldest first, then in sheet order."""
    due = rows["due"].to_numpy()
    received = rows["received"].to_numpy()
    received_key = np.where(received == NO_DATE, np.iinfo(np.int64).max, received)
    order = np.lexsort((rows.index.to_numpy(), received_key, np.where(due == NO_DATE, -1, due)))
    return rows.iloc[order]


def supervisor_queue(evaluation: pd.DataFrame) -> pd.DataFrame:
    mask = (evaluation["is_open"] & (evaluation["role"] == "supervisor")) | (evaluation["status_key"] == "incomplete")
    return oldest_first(evaluation[mask])


def manager_queue(evaluation: pd.DataFrame) -> pd.DataFrame:
    return oldest_first(evaluation[evaluation["is_open"] & (evaluation["status_key"] == "escalated_manager")])


def pending_review(evaluation: pd.DataFrame, today: int, window_days: int) -> pd.DataFrame:
    received = evaluation["received"]
    mask = (received >= today - window_days) & (received < today) & (received != NO_DATE)
    mask &= evaluation["supervisor_review"] == ""
    return oldest_first(evaluation[mask])


def never_reviewed_count(evaluation: pd.DataFrame, today: int, window_days: int) -> int:
    received = evaluation["received"]
    mask = (received != NO_DATE) & (received < today - window_days) & (evaluation["supervisor_review"] == "")
    return int(mask.sum())


def follow_up(evaluation: pd.DataFrame, today: int) -> pd.DataFrame:
    completed = evaluation["completed"]
    mask = (completed != NO_DATE) & (completed >= today - FOLLOW_UP_DAYS + 1) & (completed <= today)
    mask &= (evaluation["status_key"] == "completed") & (evaluation["satisfaction_text"] == "")
    rows = evaluation[mask]
    order = np.lexsort((rows.index.to_numpy(), rows["completed"].to_numpy()))
    return rows.iloc[order]


def _columns(rows: pd.DataFrame, keys: tuple[str, ...]):
    """The rows' values of `keys`, row by row (plain lists: cheaper than itertuples)."""
    return zip(*(rows[key].tolist() for key in keys)) if len(rows) else iter(())


_QUEUE_KEYS = ("record_id", "received", "room", "owner_name", "phone", "category", "matter", "department",
               "status", "due", "age", "system_note")
ReceivedTimes = dict  # sheet row → (hour, minute) staff gave with 接待日期


def queue_rows(rows: pd.DataFrame, vocabulary: Vocabulary, times: ReceivedTimes | None = None,
               with_due: bool = True) -> list[list[Any]]:
    """Queue tab rows: dates as dates (with the time of day staff gave), numbers as numbers,
    phones masked, the record's sheet row last (its 記錄編號 links there)."""
    categories = {key: vocabulary.label("categories", key) for key in set(rows["category"].tolist())}
    times = times or {}
    out = []
    for sheet_row, (record_id, received, room, owner_name, phone, category, matter, department, status, due, age,
                    note) in zip(rows.index.tolist(), _columns(rows, _QUEUE_KEYS)):
        due_cell = [as_date(due)] if with_due else []
        out.append([record_id, as_date(received, times.get(sheet_row)), room, owner_name, mask_phone(phone),
                    categories[category], matter, department, status, *due_cell, int(age) if age >= 0 else "",
                    note, int(sheet_row)])
    return out


_FOLLOW_UP_KEYS = ("record_id", "received", "room", "owner_name", "phone", "category", "matter", "department",
                   "completed", "result")


def follow_up_rows(rows: pd.DataFrame, vocabulary: Vocabulary, today: int,
                   times: ReceivedTimes | None = None) -> list[list[Any]]:
    categories = {key: vocabulary.label("categories", key) for key in set(rows["category"].tolist())}
    times = times or {}
    return [
        [record_id, as_date(received, times.get(sheet_row)), room, owner_name, mask_phone(phone),
         categories[category], matter, department, as_date(completed), result, int(today - completed), int(sheet_row)]
        for sheet_row, (record_id, received, room, owner_name, phone, category, matter, department, completed, result)
        in zip(rows.index.tolist(), _columns(rows, _FOLLOW_UP_KEYS))
    ]


def _percent(part: int, whole: int) -> Any:
    return round(100.0 * part / whole, 1) if whole else ""


def week_counts(rows: pd.DataFrame) -> list[Any]:
    """The figures of one 週報 line for the receptions in `rows` (a cohort by received date)."""
    status = rows["status_key"]
    finished = status == "completed"
    front = finished & (rows["level_reached"] == 0)
    answered = rows["satisfaction"] != ""
    content = rows["satisfaction"].isin(["satisfied", "fair"])
    mean_days = rows.loc[finished, "age_at_close"].mean() if finished.any() else None
    received = len(rows)
    return [
        received,
        int(finished.sum()),
        int(front.sum()),
        _percent(int(front.sum()), received),
        int((rows["level_reached"] >= 1).sum()),
        int((rows["level_reached"] == 2).sum()),
        int((status == "unresolvable").sum()),
        int(rows["is_open"].sum()),
        round(float(mean_days), 1) if mean_days is not None else "",
        int((rows["category"] == "complaint").sum()),
        _percent(int(content.sum()), int(answered.sum())),
    ]


def weekly_report(evaluation: pd.DataFrame, today: int, vocabulary: Vocabulary, window_days: int,
                  weeks: int = 8) -> list[list[Any]]:
    header = vocabulary.layout("weekly")
    received = evaluation["received"].to_numpy()
    this_monday = monday_of(today)
    out: list[list[Any]] = [header]
    for back in range(weeks - 1, -1, -1):
        start = this_monday - 7 * back
        cohort = evaluation[(received >= start) & (received < start + 7)]
        out.append([iso_week(start), *week_counts(cohort)])
    out.append([])
    out.append([vocabulary.label("weekly", "never_reviewed", days=window_days),
                never_reviewed_count(evaluation, today, window_days)])
    last_week = evaluation[(received >= this_monday - 7) & (received < this_monday)]
    week_name = iso_week(this_monday - 7)
    for title, column, labeller in (
        ("by_category", "category", lambda key: vocabulary.label("categories", key)),
        ("by_department", "department", lambda name: name or vocabulary.label("weekly", "unassigned")),
    ):
        out.append([])
        out.append([f"{vocabulary.label('weekly', title)} {week_name}"])
        out.append([vocabulary.label("weekly", column), *header[1:]])
        groups = vocabulary.keys("categories") if column == "category" else sorted(set(last_week[column]))
        for group in groups:
            members = last_week[last_week[column] == group]
            if len(members) or column == "category":
                out.append([labeller(group), *week_counts(members)])
    return out


def build_tabs(evaluation: pd.DataFrame, today: int, vocabulary: Vocabulary, window_days: int,
               times: ReceivedTimes | None = None) -> dict[str, list[list[Any]]]:
    """Every summary tab's full content (header first), by tab key."""
    queue_header = vocabulary.layout("queue")
    return {
        "supervisor_queue": [queue_header, *queue_rows(due_first(supervisor_queue(evaluation)), vocabulary, times)],
        "manager_queue": [vocabulary.layout("manager_queue"),
                          *queue_rows(manager_queue(evaluation), vocabulary, times, with_due=False)],
        "pending_review": [queue_header, *queue_rows(pending_review(evaluation, today, window_days), vocabulary, times)],
        "follow_up": [vocabulary.layout("follow_up"),
                      *follow_up_rows(follow_up(evaluation, today), vocabulary, today, times)],
        "weekly_report": weekly_report(evaluation, today, vocabulary, window_days),
    }
