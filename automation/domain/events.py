"""The event log (運行日誌, SPEC 4.1): what changed between runs, and what it remembers.

The log is the worker's memory besides the worker columns: ids issued (one event per run, with
the ranges issued, so a deleted row's id is never issued again) and messages sent.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from ..vocabulary import LANGUAGES, Vocabulary
from .dates import iso
from .rules import OPEN_LEVEL_OF_STATUS, issued_sequences

_RANGE = re.compile(r"R(\d{8})-(\d{3,})(?:～(\d{3,}))?")
MAX_DETAIL_CHARS = 1000  # SPEC 4.1: a detail fits one screen; a longer list goes on several rows
ESCALATION_EVENT = {1: "escalated_supervisor", 2: "escalated_manager"}
RECORD_ID_IN_TEXT = re.compile(r"R\d{8}-\d{3,}")  # a record id inside a log row's text


def event_labels(event: str) -> set[str]:
    """An event's 事件 text in either spelling (a log outlives a switch of `language`)."""
    return {Vocabulary(language).label("events", event) for language in LANGUAGES}


def status_events(evaluation: pd.DataFrame, vocabulary: Vocabulary) -> list[tuple[str, str, str]]:
    """(event key, record id, detail) for every change since the previous run wrote its status.

    At a row's first sight, only an open row already past the receptionist window logs its
    escalation; closed history logs nothing (SPEC 4.1)."""
    due_header = vocabulary.header("due_date")
    completed_header = vocabulary.header("completed_at")
    events = []
    # Only rows whose status changed can make an event: on an idle cycle, none.
    changed = (evaluation["previous_status"] != evaluation["status_key"]).to_numpy()
    if not changed.any():
        return events
    rows = evaluation.loc[changed, ["previous_status", "status_key", "record_id", "status", "owner", "due_date", "completed"]]
    for before, now, record_id, status, owner, due_date, completed in zip(*(rows[c].tolist() for c in rows.columns)):
        previous_level = OPEN_LEVEL_OF_STATUS.get(before, 0)
        if now in OPEN_LEVEL_OF_STATUS:
            if before in ("completed", "unresolvable"):
                events.append(("reopened", record_id, status))
            elif OPEN_LEVEL_OF_STATUS[now] > previous_level:
                detail = f"{owner}；{due_header} {due_date}" if due_date else owner
                events.append((ESCALATION_EVENT[OPEN_LEVEL_OF_STATUS[now]], record_id, detail))
        elif now == "completed" and before and before not in ("completed", "unresolvable"):
            events.append(("closed_completed", record_id, f"{owner}；{completed_header} {iso(completed)}"))
        elif now == "unresolvable" and before and before not in ("completed", "unresolvable"):
            events.append(("closed_unresolvable", record_id, owner))
    return events


def describe_new_ids(record_ids: list[str]) -> str:
    """'3 個：R20261127-001～002；R20261126-004' — ranges per date, newest dates first."""
    return "\n".join(describe_new_id_rows(record_ids, limit=None))


def describe_new_id_rows(record_ids: list[str], limit: int | None = MAX_DETAIL_CHARS,
                         vocabulary: Vocabulary | None = None) -> list[str]:
    """The details of the ids-assigned event: the count, then the ranges per date, newest dates
    first, cut between ranges into details of at most `limit` characters (one log row each)."""
    by_day: dict[str, list[int]] = {}
    for record_id in record_ids:
        # Ids the worker just issued: always R + 8 digits + "-" + the sequence.
        by_day.setdefault(record_id[1:9], []).append(int(record_id[10:]))
    ranges = []
    for day in sorted(by_day, reverse=True):
        seqs = sorted(by_day[day])
        start = previous = seqs[0]
        for seq in seqs[1:] + [None]:
            if seq is not None and seq == previous + 1:
                previous = seq
                continue
            ranges.append(f"R{day}-{start:03d}" + (f"～{previous:03d}" if previous != start else ""))
            if seq is not None:
                start = previous = seq
    words = vocabulary or Vocabulary()
    continued = words.label("log", "continued")
    details = [words.label("log", "ids_count", count=len(record_ids))]
    for text in ranges:
        joined = details[-1] + ("" if details[-1].endswith("：") else "；") + text
        if limit is not None and len(joined) > limit:
            details.append(f"{continued}{text}")
        else:
            details[-1] = joined
    return details


def issued_from_log(log_rows: list[list[Any]]) -> dict[str, int]:
    """The highest sequence per date the log shows was ever issued (ids column and id ranges)."""
    highest: dict[str, int] = {}
    for row in log_rows:
        for cell in row[2:4]:
            for day, first, last in _RANGE.findall(str(cell or "")):
                seq = int(last or first)
                if seq > highest.get(day, 0):
                    highest[day] = seq
    return highest


def log_row(now_text: str, vocabulary: Vocabulary, event: str, record_id: str = "", detail: str = "") -> list[str]:
    return [now_text, vocabulary.label("events", event), record_id, detail]


def cycle_log_rows(evaluation: pd.DataFrame, now_text: str, vocabulary: Vocabulary) -> list[list[str]]:
    rows = [log_row(now_text, vocabulary, event, record_id, detail)
            for event, record_id, detail in status_events(evaluation, vocabulary)]
    new_ids = evaluation.loc[evaluation["id_is_new"], "record_id"].tolist()
    if new_ids:
        details = describe_new_id_rows(new_ids, vocabulary=vocabulary)
        rows[:0] = [log_row(now_text, vocabulary, "ids_assigned", "", detail) for detail in details]
    return rows


__all__ = ["cycle_log_rows", "issued_from_log", "issued_sequences", "log_row", "status_events"]
