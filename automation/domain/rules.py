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
from .dates import EARLIEST_LIKELY, NO_DATE, ParsedDates, iso, is_blank, parse_dates, time_of_day_text
from .daycount import day_counter
from .privacy import mask_phones_in_text

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
DATE_KEYS = ("received_at", "completed_at")


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


def cell_texts(values) -> np.ndarray:
    """Cells as trimmed text ("" for blank), as an object array; whole numbers print without ".0".

    The hot loop of a cycle (it runs over nearly every cell of the sheet). A column of text
    (the usual case) is hashed into its distinct strings in C, each trimmed once; any other
    column goes cell by cell through `_cell_text`, never looked up by value, since 1, 1.0 and
    True are equal as keys but not as text."""
    array = _object_array(values)
    try:
        codes, distinct = pd.factorize(array)
    except TypeError:  # an unhashable cell value
        return _texts_one_by_one(array)
    distinct = distinct.tolist()
    if all(type(value) is str for value in distinct) and _only_none_or_nan(array, codes):
        texts = np.empty(len(distinct) + 1, dtype=object)
        texts[:-1] = [value.strip() for value in distinct]
        texts[-1] = ""  # code -1: an empty cell
        return texts[codes]
    return _texts_one_by_one(array)


def _object_array(values) -> np.ndarray:
    if isinstance(values, (pd.Series, pd.Index)):
        return values.to_numpy(dtype=object)
    if isinstance(values, np.ndarray) and values.dtype == object:
        return values
    array = np.empty(len(values), dtype=object)
    array[:] = list(values)
    return array


def _only_none_or_nan(array: np.ndarray, codes: np.ndarray) -> bool:
    """Whether every cell factorize took as missing is None or a float NaN (what backends give),
    not some other null (pd.NaT, pd.NA) whose text would not be blank."""
    missing = codes < 0
    if not missing.any():
        return True
    values = array[missing]
    others = values[~np.equal(values, None)]
    return all(type(value) is float and value != value for value in others.tolist())


def _texts_one_by_one(array: np.ndarray) -> np.ndarray:
    items = array.tolist()
    cache: dict[str, str] = {}
    out = np.empty(len(items), dtype=object)
    texts = []
    for value in items:
        if type(value) is str:
            text = cache.get(value)
            if text is None:
                text = cache[value] = value.strip()
        elif value is None:
            text = ""
        else:
            text = _cell_text(value)
        texts.append(text)
    out[:] = texts
    return out


def text_of(values: pd.Series) -> pd.Series:
    """Cells as trimmed text ("" for blank); numbers that are whole print without ".0"."""
    return pd.Series(cell_texts(values), index=values.index, dtype=object)


def texts_where(values, mask: np.ndarray) -> np.ndarray:
    """`cell_texts(values)` at the positions of `mask`, "" elsewhere (text needed for a few rows)."""
    array = _object_array(values)
    out = np.full(len(array), "", dtype=object)
    positions = np.flatnonzero(mask)
    if len(positions):
        out[positions] = [_cell_text(value) for value in array[positions].tolist()]
    return out


def map_distinct(values: np.ndarray, function) -> np.ndarray:
    """`function` applied to each distinct value once (values: cell texts, keys, or None)."""
    array = _object_array(values)
    try:
        codes, distinct = pd.factorize(array)
    except TypeError:
        codes = None
    if codes is not None and not (codes < 0).any():
        results = np.empty(len(distinct), dtype=object)
        results[:] = [function(value) for value in distinct.tolist()]
        return results[codes]
    items = array.tolist()
    lookup = {value: function(value) for value in set(items)}
    out = np.empty(len(items), dtype=object)
    out[:] = [lookup[value] for value in items]
    return out


def staff_rows(filled: dict[str, np.ndarray], vocabulary: Vocabulary, index: pd.Index) -> np.ndarray:
    """True for rows with at least one staff cell filled; other rows are ignored (SPEC 2.1)."""
    any_filled = np.zeros(len(index), dtype=bool)
    for column in vocabulary.staff_columns:
        any_filled |= filled[column.key]
    return any_filled


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
    n = len(current)
    match = ID_PATTERN.match
    well_formed = np.fromiter((bool(record_id) and match(record_id) is not None for record_id in current),
                              dtype=bool, count=n)
    # New ids continue above every sequence in use, so they never equal an id on the sheet: a
    # well-formed id is kept exactly when it is the first row holding it.
    repeated = pd.Series(current, dtype=object).duplicated(keep="first").to_numpy() if n else np.zeros(0, dtype=bool)
    duplicate = well_formed & repeated
    is_new = ~(well_formed & ~repeated)
    ids = list(current)
    positions = np.flatnonzero(is_new).tolist()
    if positions:
        day_names: dict[int, str] = {}
        for position in positions:
            ordinal = int(id_dates[position])
            if ordinal not in day_names:
                day_names[ordinal] = dt.date.fromordinal(ordinal).strftime("%Y%m%d")
        wanted_days = set(day_names.values())
        highest = {day: seq for day, seq in already_issued.items() if day in wanted_days}
        for record_id in np.asarray(current, dtype=object)[well_formed].tolist():
            found = match(record_id)
            day = found.group(1)
            if day in wanted_days:
                seq = int(found.group(2))
                if seq > highest.get(day, 0):
                    highest[day] = seq
        for position in positions:
            day = day_names[int(id_dates[position])]
            highest[day] = highest.get(day, 0) + 1
            ids[position] = f"R{day}-{highest[day]:03d}"
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

    Vectorised over the whole sheet: per-row Python work is limited to what each distinct value
    needs (a category, a status word, a date typed as text is read once) and to the rows that
    need it (notes, new ids).
    """
    # Text of every column the rules read (the worker's own owner / due date are only written).
    # The two date columns are parsed instead; their text is needed only where it is unreadable.
    read_keys = [c.key for c in vocabulary.staff_columns if c.key not in DATE_KEYS] + ["record_id", "status", "system_note"]
    all_texts = {key: cell_texts(sheet[key]) for key in read_keys}
    all_dates = {key: parse_dates(sheet[key]) for key in DATE_KEYS}
    all_filled = {key: np.asarray(values != "", dtype=bool) for key, values in all_texts.items()}
    all_filled.update({key: ~parsed.blank for key, parsed in all_dates.items()})
    keep = staff_rows(all_filled, vocabulary, sheet.index)
    if keep.all():
        texts, filled, dates = all_texts, all_filled, all_dates
    else:
        sheet = sheet.loc[keep]
        texts = {key: values[keep] for key, values in all_texts.items()}
        filled = {key: values[keep] for key, values in all_filled.items()}
        dates = {key: ParsedDates(p.ordinal[keep], p.blank[keep], p.readable[keep]) for key, p in all_dates.items()}
    n = len(sheet)
    received, completed = dates["received_at"], dates["completed_at"]
    for key, parsed in dates.items():
        texts[key] = texts_where(sheet[key], parsed.unreadable)
    D, C = received.ordinal, completed.ordinal
    received_future = received.readable & (D > today)
    received_early = received.readable & (D < EARLIEST_LIKELY)  # unlikely, as a future date is
    received_ok = received.readable & ~received_future & ~received_early

    # Categories and their ladders (SPEC 3.1 and the per-category overrides).
    category_word = map_distinct(texts["category"], lambda t: vocabulary.parse("categories", t))
    category = map_distinct(category_word, lambda key: key or "other")
    unknown_category = filled["category"] & _is_none(category_word)
    unknown_channel = filled["channel"] & _is_none(map_distinct(texts["channel"], lambda t: vocabulary.parse("channels", t)))
    satisfaction = map_distinct(texts["satisfaction"], lambda t: vocabulary.parse("satisfaction", t) or "")
    unknown_satisfaction = filled["satisfaction"] & np.asarray(satisfaction == "", dtype=bool)
    to_supervisor = map_distinct(category, lambda key: escalation.ladder_for(key).supervisor_after_days).astype(np.int64)
    to_manager = map_distinct(category, lambda key: escalation.ladder_for(key).manager_after_days).astype(np.int64)

    known = np.concatenate([D[received_ok], C[completed.readable], [today]])
    counter = day_counter(escalation.day_basis, int(known.min()), int(max(known.max(), today)), today)
    safe_D = np.where(received_ok, D, today)
    age = np.where(received_ok, counter.age(safe_D, today), -1)

    def level_at(age_days: np.ndarray) -> np.ndarray:
        return np.where(age_days <= to_supervisor, 0, np.where(age_days <= to_manager, 1, 2))

    level_now = level_at(age)

    # Closing (SPEC 3.2, 4.6–4.8).
    completed_future = completed.readable & (C > today)
    completed_early = completed.readable & (C < EARLIEST_LIKELY)
    completed_before = completed.readable & received.readable & (C < D) & ~completed_early
    completed_valid = completed.readable & ~completed_future & ~completed_before & ~completed_early
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
    record_ids, id_is_new, id_duplicate = assign_record_ids(
        pd.Series(texts["record_id"], dtype=object), id_dates, already_issued or {})

    # What the previous run wrote, read back: the state events are computed against.
    previous_status = map_distinct(texts["status"], lambda t: vocabulary.parse("statuses", t) or "")
    previous_notes = texts["system_note"]
    is_open = ~closed
    reopened = ((previous_status == "completed") | (previous_status == "unresolvable")) & is_open

    notes = _notes(
        vocabulary=vocabulary, n=n, received=received, completed=completed,
        received_future=received_future, filled=filled, missing_contact=missing_contact,
        completed_future=completed_future, completed_before=completed_before,
        unlikely=(received_early, completed_early),
        reason_too_early=reason & ~closed,
        unknown_channel=unknown_channel, unknown_category=unknown_category,
        unknown_satisfaction=unknown_satisfaction, texts=texts,
        duplicate=id_duplicate, reopened=reopened, is_open=is_open, previous_notes=previous_notes,
    )

    status_labels = map_distinct(status, lambda key: vocabulary.label("statuses", key))
    owner_labels = map_distinct(role, lambda key: _owner_label(vocabulary, key, people))
    due_text = _iso_texts(due)

    def text_column(values: np.ndarray) -> pd.Series:
        # Object columns, not pandas' inferred "str": cheap to build and to turn back into lists.
        return pd.Series(values, index=sheet.index, dtype=object, copy=False)

    return pd.DataFrame(
        {
            "record_id": text_column(record_ids.to_numpy()),
            "owner": text_column(owner_labels),
            "status": text_column(status_labels),
            "due_date": text_column(due_text),
            "system_note": text_column(notes),
            "status_key": text_column(status),
            "previous_status": text_column(previous_status),
            "role": text_column(role),
            "is_open": is_open,
            "level_reached": level_reached,
            "id_is_new": id_is_new,
            "received": np.where(received_ok | received_future | received_early, D, NO_DATE),
            "received_ok": received_ok,
            "completed": np.where(completed_valid, C, NO_DATE),
            "age": age,
            "age_at_close": age_at_close,
            "due": due,
            "to_supervisor": to_supervisor,
            "category": text_column(category),
            "satisfaction": text_column(satisfaction),
            "satisfaction_text": text_column(texts["satisfaction"]),
            "room": text_column(texts["room"]),
            "owner_name": text_column(texts["owner_name"]),
            "phone": text_column(texts["phone"]),
            "matter": text_column(texts["matter"]),
            "department": text_column(texts["department"]),
            "result": text_column(texts["result"]),
            "handling": text_column(texts["handling"]),
            # The time of day of 接待日期, for what an alert shows: open rows only (the few an
            # alert or digest can show), so a sheet of years of history costs nothing more.
            "received_time": text_column(_times_of_day(sheet["received_at"], is_open)),
            "recorded_by": text_column(texts["recorded_by"]),
            "supervisor_review": text_column(texts["supervisor_review"]),
            "manager_review": text_column(texts["manager_review"]),
        },
        index=sheet.index,
    )


def _times_of_day(cells: pd.Series, wanted: np.ndarray) -> np.ndarray:
    times = np.full(len(cells), "", dtype=object)
    if wanted.any():
        times[wanted] = [time_of_day_text(value) for value in cells.to_numpy()[wanted].tolist()]
    return times


def _is_none(values: np.ndarray) -> np.ndarray:
    return np.fromiter((value is None for value in values.tolist()), dtype=bool, count=len(values))


def _iso_texts(ordinals: np.ndarray) -> np.ndarray:
    """`iso()` of each day ordinal, each distinct day formatted once."""
    distinct, inverse = np.unique(ordinals, return_inverse=True)
    labels = np.array([iso(day) for day in distinct.tolist()], dtype=object)
    return labels[inverse.reshape(-1)] if len(ordinals) else np.empty(0, dtype=object)


def _owner_label(vocabulary: Vocabulary, role: str, people: People) -> str:
    label = vocabulary.label("roles", role)
    person = getattr(people, role, None)
    return f"{label}（{person.name}）" if person and person.name else label


def _notes(*, vocabulary, n, received: ParsedDates, completed: ParsedDates, received_future,
           filled, missing_contact, completed_future, completed_before, unlikely,
           reason_too_early, unknown_channel, unknown_category, unknown_satisfaction, texts,
           duplicate, reopened, is_open, previous_notes) -> np.ndarray:
    """系統提示 of each row: its notes in a fixed order, `；`-separated. Only rows with a
    note are visited (on a sheet kept well, a small share)."""
    parts: dict[int, list[str]] = {}

    def add(mask: np.ndarray, key: str, values: np.ndarray | None = None):
        positions = np.flatnonzero(mask).tolist()
        if not positions:
            return
        if values is None:
            label = vocabulary.label("notes", key)
            for position in positions:
                parts.setdefault(position, []).append(label)
        else:
            for position in positions:
                # A quoted cell may hold a phone (typed into 接待日期): notes travel to tabs and mails.
                quoted = mask_phones_in_text(values[position])
                parts.setdefault(position, []).append(vocabulary.label("notes", key, value=quoted))

    received_text = texts["received_at"]
    completed_text = texts["completed_at"]
    add(received.blank, "received_missing")
    add(received.unreadable, "received_unreadable", received_text)
    add(received_future, "received_future")
    add(unlikely[0], "received_unlikely")
    add(~filled["room"], "room_missing")
    add(~filled["matter"], "matter_missing")
    add(missing_contact, "contact_missing")
    add(filled["result"] & completed.blank, "completed_missing")
    add(completed.unreadable, "completed_unreadable", completed_text)
    add(completed_before, "completed_before")
    add(completed_future, "completed_future")
    add(unlikely[1], "completed_unlikely")
    add(reason_too_early, "manager_only_closes")
    add(unknown_channel, "unknown_channel", texts["channel"])
    add(unknown_category, "unknown_category", texts["category"])
    add(unknown_satisfaction, "unknown_satisfaction", texts["satisfaction"])
    previous = previous_notes.tolist()
    for key, fresh in (("duplicate_id", duplicate), ("reopened", reopened)):
        label = vocabulary.label("notes", key)
        carried = np.zeros(n, dtype=bool)
        carried[[position for position, note in enumerate(previous) if note and label in note]] = True
        add(fresh | (carried & is_open), key)
    notes = np.full(n, "", dtype=object)
    for position, row_notes in parts.items():
        notes[position] = NOTE_SEPARATOR.join(row_notes)
    return notes
