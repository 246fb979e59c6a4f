"""The procedure's rules (SPEC 3): record ids, the escalation ladder, statuses, notes.

`evaluate()` takes the main tab as a DataFrame (one column per key of `sheet_templates/
main_tab.toml`, raw cell values, index = sheet row number) and the date `today`, and returns
one row per reception with the worker columns to write and the facts the summaries need.
Pure: no I/O, no clock of its own.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..config import EscalationConfig, Person
from ..vocabulary import Vocabulary, normalize_text
from .dates import NO_DATE, ParsedDates, iso, is_blank, parse_dates
from .daycount import day_counter

ID_PATTERN = re.compile(r"^R(\d{8})-(\d{3,})$")
NOTE_SEPARATOR = "；"
ROLES = ("receptionist", "supervisor", "manager")
OPEN_LEVEL_OF_STATUS = {
    "in_progress": 0,
    "transferred": 0,
    "escalated_supervisor": 1,
    "escalated_manager": 2,
}
CLOSED_STATUSES = ("completed", "unresolvable")
# Notes kept while the row stays open: they describe what happened to the row, which a later
# run can no longer see (the duplicate is renumbered, the old status overwritten).
STICKY_NOTES = ("duplicate_id", "reopened")


@dataclass(frozen=True)
class People:
    supervisor: Person | None = None
    manager: Person | None = None


def _cell_text(value: object) -> str:
    if is_blank(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return normalize_text(value)


def text_of(values: pd.Series) -> pd.Series:
    """Cells as trimmed text ("" for blank); numbers that are whole print without ".0".

    Text cells repeat a lot (categories, departments, statuses): each distinct string is
    trimmed once. Other values are not cached, since 1, 1.0 and True would share a key."""
    cache: dict[str, str] = {}
    out = []
    append = out.append
    for value in values.tolist():
        if type(value) is str:
            text = cache.get(value)
            if text is None:
                text = cache[value] = value.strip()
            append(text)
        elif value is None:
            append("")
        else:
            append(_cell_text(value))
    return pd.Series(out, index=values.index, dtype=object)


def staff_rows(texts: dict[str, pd.Series], vocabulary: Vocabulary, index: pd.Index) -> np.ndarray:
    """True for rows with at least one staff cell filled; other rows are ignored (SPEC 2.1)."""
    filled = np.zeros(len(index), dtype=bool)
    for column in vocabulary.staff_columns:
        filled |= (texts[column.key] != "").to_numpy()
    return filled


def issued_sequences(record_ids) -> dict[str, int]:
    """The highest sequence per date among well-formed ids."""
    highest: dict[str, int] = {}
    for record_id in record_ids:
        match = ID_PATTERN.match(normalize_text(record_id))
        if match:
            day, seq = match.group(1), int(match.group(2))
            if seq > highest.get(day, 0):
                highest[day] = seq
    return highest


def assign_record_ids(
    existing: pd.Series, id_dates: np.ndarray, already_issued: dict[str, int]
) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Keep each row's well-formed, first-seen id; give the others new ones (SPEC 2.2).

    `existing` holds the id cells as text. Returns (ids, is_new, was_duplicate). New ids
    continue after the highest sequence ever issued for that date — on the sheet or recorded in
    the event log — so none is reused.
    """
    current = existing.tolist()
    day_names: dict[int, str] = {}
    highest = dict(already_issued)
    for day, seq in issued_sequences(current).items():
        highest[day] = max(seq, highest.get(day, 0))
    seen: set[str] = set()
    ids: list[str] = []
    is_new = np.zeros(len(current), dtype=bool)
    duplicate = np.zeros(len(current), dtype=bool)
    for position, record_id in enumerate(current):
        if ID_PATTERN.match(record_id) and record_id not in seen:
            seen.add(record_id)
            ids.append(record_id)
            continue
        duplicate[position] = record_id in seen
        ordinal = int(id_dates[position])
        day = day_names.get(ordinal)
        if day is None:
            day = day_names[ordinal] = dt.date.fromordinal(ordinal).strftime("%Y%m%d")
        highest[day] = highest.get(day, 0) + 1
        new_id = f"R{day}-{highest[day]:03d}"
        seen.add(new_id)
        ids.append(new_id)
        is_new[position] = True
    return pd.Series(ids, index=existing.index, dtype=object), is_new, duplicate


def evaluate(
    sheet: pd.DataFrame,
    today: int,
    escalation: EscalationConfig,
    vocabulary: Vocabulary,
    people: People = People(),
    already_issued: dict[str, int] | None = None,
) -> pd.DataFrame:
    """Apply SPEC 3 to every non-blank row. `today` is a day ordinal in the center's timezone.

    The result's index is the sheet row number; columns: the five worker values as they are to
    be written (record_id, owner, status, due_date, system_note) and facts for summaries and
    events (status_key, role, level_reached, received, completed, age, category, …).
    """
    all_texts = {key: text_of(sheet[key]) for key in sheet.columns}
    keep = staff_rows(all_texts, vocabulary, sheet.index)
    sheet = sheet.loc[keep]
    texts = {key: series[keep] for key, series in all_texts.items()}
    n = len(sheet)
    received = parse_dates(sheet["received_at"])
    completed = parse_dates(sheet["completed_at"])
    D, C = received.ordinal, completed.ordinal
    received_ok = received.readable & (D <= today)
    received_future = received.readable & (D > today)

    filled = {key: (series != "").to_numpy() for key, series in texts.items()}

    # Categories and their ladders (SPEC 3.1 and the per-category overrides).
    category = texts["category"].map(lambda t: vocabulary.parse("categories", t) or "other" if t else "other")
    unknown_category = filled["category"] & texts["category"].map(lambda t: vocabulary.parse("categories", t) is None).to_numpy()
    unknown_channel = filled["channel"] & texts["channel"].map(lambda t: vocabulary.parse("channels", t) is None).to_numpy()
    satisfaction = texts["satisfaction"].map(lambda t: vocabulary.parse("satisfaction", t) or "")
    unknown_satisfaction = filled["satisfaction"] & (satisfaction == "").to_numpy()
    ladders = [escalation.ladder_for(key) for key in category.tolist()]
    to_supervisor = np.fromiter((l.supervisor_after_days for l in ladders), dtype=np.int64, count=n)
    to_manager = np.fromiter((l.manager_after_days for l in ladders), dtype=np.int64, count=n)

    known = np.concatenate([D[received_ok], C[completed.readable], [today]])
    counter = day_counter(escalation.day_basis, int(known.min()), int(max(known.max(), today)), today)
    safe_D = np.where(received_ok, D, today)
    age = np.where(received_ok, counter.age(safe_D, today), -1)

    def level_at(age_days: np.ndarray) -> np.ndarray:
        return np.where(age_days <= to_supervisor, 0, np.where(age_days <= to_manager, 1, 2))

    level_now = level_at(age)

    # Closing (SPEC 3.2, 4.6–4.8).
    completed_future = completed.readable & (C > today)
    completed_before = completed.readable & received.readable & (C < D)
    completed_valid = completed.readable & ~completed_future & ~completed_before
    safe_C = np.where(completed_valid & received_ok, C, safe_D)
    age_at_close = np.where(completed_valid & received_ok, counter.age(safe_D, safe_C), -1)
    reason = filled["unresolvable_reason"]
    closed_unresolvable = ~completed_valid & reason & received_ok & (level_now == 2)

    missing_contact = ~filled["owner_name"] & ~filled["phone"]
    missing_required = ~received_ok | ~filled["room"] | ~filled["matter"] | missing_contact
    closed = completed_valid | closed_unresolvable
    incomplete = ~closed & missing_required
    open_ok = ~closed & ~missing_required

    # Status and owner role.
    status = np.empty(n, dtype=object)
    role = np.empty(n, dtype=object)
    level_reached = np.zeros(n, dtype=np.int64)
    close_level = np.where(received_ok, level_at(age_at_close), 1)
    status[completed_valid] = "completed"
    role[completed_valid] = np.array(ROLES, dtype=object)[close_level[completed_valid]]
    level_reached[completed_valid] = close_level[completed_valid]
    status[closed_unresolvable] = "unresolvable"
    role[closed_unresolvable] = "manager"
    level_reached[closed_unresolvable] = 2
    status[incomplete] = "incomplete"
    role[incomplete] = "supervisor"
    open_status = np.where(
        level_now == 0,
        np.where(filled["department"], "transferred", "in_progress"),
        np.where(level_now == 1, "escalated_supervisor", "escalated_manager"),
    )
    status[open_ok] = open_status[open_ok]
    role[open_ok] = np.array(ROLES, dtype=object)[level_now[open_ok]]
    level_reached[open_ok] = level_now[open_ok]
    level_reached[incomplete] = np.where(received_ok[incomplete], level_now[incomplete], 0)

    due = np.full(n, NO_DATE, dtype=np.int64)
    window = np.where(level_now == 0, to_supervisor, to_manager)
    due_open = open_ok & (level_now < 2)
    if due_open.any():
        due[due_open] = counter.last_day_within(safe_D[due_open], window[due_open])

    # Record ids (SPEC 2.2): unreadable or future dates take today's date.
    id_dates = np.where(received_ok, D, today)
    record_ids, id_is_new, id_duplicate = assign_record_ids(texts["record_id"], id_dates, already_issued or {})

    # What the previous run wrote, read back: the state events are computed against.
    previous_status = texts["status"].map(lambda t: vocabulary.parse("statuses", t) or "")
    previous_notes = texts["system_note"]
    is_open = ~closed
    reopened = previous_status.isin(CLOSED_STATUSES).to_numpy() & is_open

    notes = _notes(
        vocabulary=vocabulary, n=n, sheet=sheet, received=received, completed=completed,
        received_future=received_future, filled=filled, missing_contact=missing_contact,
        completed_future=completed_future, completed_before=completed_before,
        completed_valid=completed_valid, reason_too_early=reason & ~closed,
        unknown_channel=unknown_channel, unknown_category=unknown_category,
        unknown_satisfaction=unknown_satisfaction, texts=texts,
        duplicate=id_duplicate, reopened=reopened, is_open=is_open, previous_notes=previous_notes,
    )

    status_labels = np.array([vocabulary.label("statuses", s) for s in status], dtype=object)
    owner_labels = np.array([_owner_label(vocabulary, r, people) for r in role], dtype=object)
    due_text = np.array([iso(d) for d in due], dtype=object)

    return pd.DataFrame(
        {
            "record_id": record_ids.to_numpy(),
            "owner": owner_labels,
            "status": status_labels,
            "due_date": due_text,
            "system_note": notes,
            "status_key": status,
            "previous_status": previous_status.to_numpy(),
            "role": role,
            "is_open": is_open,
            "level_reached": level_reached,
            "id_is_new": id_is_new,
            "received": np.where(received_ok | received_future, D, NO_DATE),
            "received_ok": received_ok,
            "completed": np.where(completed_valid, C, NO_DATE),
            "age": age,
            "age_at_close": age_at_close,
            "due": due,
            "to_supervisor": to_supervisor,
            "category": category.to_numpy(),
            "satisfaction": satisfaction.to_numpy(),
            "satisfaction_text": texts["satisfaction"].to_numpy(),
            "room": texts["room"].to_numpy(),
            "owner_name": texts["owner_name"].to_numpy(),
            "phone": texts["phone"].to_numpy(),
            "matter": texts["matter"].to_numpy(),
            "department": texts["department"].to_numpy(),
            "result": texts["result"].to_numpy(),
            "recorded_by": texts["recorded_by"].to_numpy(),
            "supervisor_review": texts["supervisor_review"].to_numpy(),
            "manager_review": texts["manager_review"].to_numpy(),
        },
        index=sheet.index,
    )


def _owner_label(vocabulary: Vocabulary, role: str, people: People) -> str:
    label = vocabulary.label("roles", role)
    person = getattr(people, role, None)
    return f"{label}（{person.name}）" if person and person.name else label


def _notes(*, vocabulary, n, sheet, received: ParsedDates, completed: ParsedDates, received_future,
           filled, missing_contact, completed_future, completed_before, completed_valid,
           reason_too_early, unknown_channel, unknown_category, unknown_satisfaction, texts,
           duplicate, reopened, is_open, previous_notes) -> np.ndarray:
    parts: list[list[str]] = [[] for _ in range(n)]

    def add(mask: np.ndarray, key: str, values: pd.Series | None = None):
        for position in np.flatnonzero(mask):
            if values is None:
                parts[position].append(vocabulary.label("notes", key))
            else:
                parts[position].append(vocabulary.label("notes", key, value=values.iloc[position]))

    received_text = texts["received_at"]
    completed_text = texts["completed_at"]
    add(received.blank, "received_missing")
    add(received.unreadable, "received_unreadable", received_text)
    add(received_future, "received_future")
    add(~filled["room"], "room_missing")
    add(~filled["matter"], "matter_missing")
    add(missing_contact, "contact_missing")
    add(filled["result"] & completed.blank, "completed_missing")
    add(completed.unreadable, "completed_unreadable", completed_text)
    add(completed_before, "completed_before")
    add(completed_future, "completed_future")
    add(reason_too_early, "manager_only_closes")
    add(unknown_channel, "unknown_channel", texts["channel"])
    add(unknown_category, "unknown_category", texts["category"])
    add(unknown_satisfaction, "unknown_satisfaction", texts["satisfaction"])
    for key, fresh in (("duplicate_id", duplicate), ("reopened", reopened)):
        label = vocabulary.label("notes", key)
        carried = np.fromiter((label in note for note in previous_notes.tolist()), dtype=bool, count=n)
        add(fresh | (carried & is_open), key)
    return np.array([NOTE_SEPARATOR.join(p) for p in parts], dtype=object)
