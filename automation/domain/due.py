"""When a message is due (SPEC 4.2): which messages a cycle owes, worked out from the rows as
they are now, what the event log says was sent, and the clock. Pure, and about timing only:
what a message says and how it looks is messages.py's (and presentation/'s).

The worker keeps no state of its own, so "due" is always "due and not yet sent": every message
has a kind, a period and a recipient role, and the log's 郵件已發送 rows say which (kind, period,
role) went out (messages.SentState).

- Supervisor daily digest: period = today; due at the first run at or after `daily_digest_at`.
- Manager daily digest: likewise, only when the manager queue is not empty.
- Weekly review: period = last ISO week; due at the first run at or after the review day and
  time of the current week (a week the worker was down through is not caught up).
- Alerts (緊急 to supervisor and manager, 投訴 to the supervisor): period = the record id; due
  while the row is open, was never closed before, and was not alerted to that role. More than
  BATCH_ABOVE due for one recipient go as one message for them all, its period naming the day,
  the count and a digest of the ids.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..config import ScheduleConfig
from . import summaries
from .dates import iso, iso_week, monday_of
from .events import RECORD_ID_IN_TEXT, event_labels
from .rules import CLOSED_STATUSES

ALERT_RECIPIENTS = {"emergency": ("supervisor", "manager"), "complaint": ("supervisor",)}
DIGEST_RECIPIENT = {"supervisor_digest": "supervisor", "manager_digest": "manager", "weekly_review": "manager"}
BATCH_ABOVE = 5  # more alerts than this of one kind for one recipient go as one message


@dataclass(frozen=True)
class DueMessage:
    """A message owed now: its kind, recipient role, period, and the rows it is about (alerts:
    the rows it stands for, oldest first; the manager digest: the manager queue)."""

    kind: str
    role: str
    period: str
    rows: pd.DataFrame | None = None
    batch: bool = False  # an alert standing for several rows


def due_now(evaluation: pd.DataFrame, log_rows: list[list[Any]], sent: set[tuple[str, str, str]],
            alerted: set[tuple[str, str, str]], now: dt.datetime, schedule: ScheduleConfig) -> list[DueMessage]:
    """The messages due at `now` (the center's local time) that the log does not show as sent,
    alerts first. `log_rows` is the event log including this cycle's own rows."""
    due: list[DueMessage] = []
    reopened = reopened_record_ids(log_rows)
    for kind, roles in ALERT_RECIPIENTS.items():
        for role in roles:
            due.extend(alerts_due(evaluation, kind, role, alerted, reopened, now.date()))
    if daily_digest_is_due_now(now, schedule.daily_digest_at):
        today = daily_digest_period(now)
        if not was_sent(sent, "supervisor_digest", today):
            due.append(DueMessage("supervisor_digest", "supervisor", today))
        manager_rows = summaries.manager_queue(evaluation)
        if len(manager_rows) and not was_sent(sent, "manager_digest", today):
            due.append(DueMessage("manager_digest", "manager", today, manager_rows))
    if weekly_review_is_due_now(now, schedule.weekly_review_day, schedule.weekly_review_at):
        week = reviewed_week(now)
        if not was_sent(sent, "weekly_review", week):
            due.append(DueMessage("weekly_review", "manager", week))
    return due


def alerts_due(evaluation: pd.DataFrame, kind: str, role: str, alerted: set[tuple[str, str, str]],
               reopened: set[str], today: dt.date) -> list[DueMessage]:
    """Alerts of `kind` due to `role`. A row that was closed when the worker last wrote its
    status, or that the log shows was ever reopened, was closed before any alert went out for
    it: history, which raises none — not at its reopening, nor at any later run."""
    was_closed = evaluation["previous_status"].isin(CLOSED_STATUSES) | evaluation["record_id"].isin(list(reopened))
    candidates = summaries.oldest_first(
        evaluation[evaluation["is_open"] & (evaluation["category"] == kind) & ~was_closed])
    not_alerted = np.fromiter(((kind, role, record_id) not in alerted for record_id in candidates["record_id"]),
                              dtype=bool, count=len(candidates))
    rows = candidates.loc[not_alerted]
    if rows.empty:
        return []  # the usual cycle: nothing due
    ids = rows["record_id"].tolist()
    if len(ids) > BATCH_ABOVE:
        return [DueMessage(kind, role, batch_period(today, ids), rows, batch=True)]
    return [DueMessage(kind, role, record_id, rows.iloc[[position]]) for position, record_id in enumerate(ids)]


def batch_period(today: dt.date, record_ids: list[str]) -> str:
    """The period of one alert standing for many rows: the day, the count, a digest of the ids."""
    digest = hashlib.sha256("\x1f".join(record_ids).encode("utf-8")).hexdigest()[:8]
    return f"{iso(today.toordinal())}-n{len(record_ids)}-{digest}"


def reopened_record_ids(log_rows: list[list[Any]]) -> set[str]:
    """Ids of rows the log shows were reopened (完成日期 cleared) at some time."""
    labels = event_labels("reopened")
    return {record_id for row in log_rows if len(row) >= 3 and str(row[1] or "").strip() in labels
            for record_id in RECORD_ID_IN_TEXT.findall(str(row[2] or ""))}


def was_sent(sent: set[tuple[str, str, str]], kind: str, period: str) -> bool:
    """Whether the log shows the digest or review `kind` of `period` as sent to its recipient."""
    return (kind, period, DIGEST_RECIPIENT[kind]) in sent


def daily_digest_period(now: dt.datetime) -> str:
    return iso(now.date().toordinal())


def daily_digest_is_due_now(now: dt.datetime, digest_at: dt.time) -> bool:
    """True from the digest hour to the end of the day."""
    return now.time() >= digest_at


def reviewed_week(now: dt.datetime) -> str:
    """The ISO week a weekly review sent in `now`'s week covers: the week before."""
    return iso_week(monday_of(now.date().toordinal()) - 7)


def weekly_review_is_due_now(now: dt.datetime, review_day: int, review_at: dt.time) -> bool:
    """True from the review day and time of `now`'s ISO week to the end of that week."""
    weekday = now.weekday()
    return weekday > review_day or (weekday == review_day and now.time() >= review_at)
