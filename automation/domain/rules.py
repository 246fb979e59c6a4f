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
from typing import Any

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
# What evaluate() returns: one row per reception (index = sheet row number). Summaries, messages,
# events and `status` read these columns by name; a column is added here first.
EVALUATION_COLUMNS = {
    # The worker columns, as they are to be written (SPEC 2.2, 3).
    "record_id": "記錄編號: the row's kept id, or a new one",
    "owner": "當前負責人: the role (and person) who owns the row now",
    "status": "狀態 as written, in the configured language",
    "due_date": "處理時限 as written (ISO date, or blank)",
    "system_note": "系統提示 as written: the row's notes, `；`-separated",
    # Facts about the row, for summaries, events and messages.
    "status_key": "the status as a key (in_progress, escalated_manager, completed, …)",
    "previous_status": "the status key the sheet held before this evaluation ('' if none)",
    "role": "the owner as a key: receptionist, supervisor or manager",
    "is_open": "not closed (neither completed nor unresolvable)",
    "level_reached": "0 front desk, 1 supervisor, 2 manager: the highest level the row reached",
    "id_is_new": "the record id was issued by this evaluation",
    "received": "接待日期 as a day ordinal (NO_DATE when blank or unreadable)",
    "received_ok": "接待日期 readable and not in the future",
    "completed": "完成日期 as a day ordinal when valid (NO_DATE otherwise)",
    "age": "days since reception, by the configured day basis (-1 without a valid date)",
    "age_at_close": "days from reception to completion (-1 when not closed with valid dates)",
    "due": "處理時限 as a day ordinal (NO_DATE when none)",
    "to_supervisor": "the days after which the row's category goes to the supervisor",
    "category": "類別 as a key ('other' when unknown or blank)",
    "satisfaction": "回訪滿意度 as a key ('' when blank or unknown)",
    "channel": "接待渠道 as a key ('' when blank or unknown)",
    "missing_required": "a required field is blank or 接待日期 unusable (資料不全 while open)",
    "manager_from": "for an open row at manager level, the day it reached the manager (NO_DATE otherwise)",
    # Staff cells as text, for tabs and messages.
    "satisfaction_text": "回訪滿意度 as typed",
    "room": "房號", "owner_name": "業主姓名", "phone": "聯系電話 (unmasked: mask it outside the main tab)",
    "matter": "事由", "department": "責任部門", "result": "處理結果", "recorded_by": "接待人",
    "handling": "處理情況 (what was done so far: an alert carries it)",
    "received_time": "接待日期's time of day as HH:MM, or '' (open rows only: what an alert shows)",
    "supervisor_review": "主管審核", "manager_review": "經理審核",
    "unresolvable_reason": "無法處理原因",
}


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
    count = len(current)
    match = ID_PATTERN.match
    well_formed = np.fromiter((bool(record_id) and match(record_id) is not None for record_id in current),
                              dtype=bool, count=count)
    # New ids continue above every sequence in use, so they never equal an id on the sheet: a
    # well-formed id is kept exactly when it is the first row holding it.
    repeated = pd.Series(current, dtype=object).duplicated(keep="first").to_numpy() if count else np.zeros(0, dtype=bool)
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


@dataclass
class _Cells:
    """The rows the rules read (those with a staff cell filled): each column's cells as text,
    which are filled, and the two dates parsed."""

    frame: pd.DataFrame
    texts: dict[str, np.ndarray]
    filled: dict[str, np.ndarray]
    received: ParsedDates
    completed: ParsedDates


@dataclass
class _Words:
    """What the typed words mean: category (and its ladder), channel, satisfaction."""

    category: np.ndarray
    unknown_category: np.ndarray
    channel: np.ndarray  # key, or None when blank or unknown
    unknown_channel: np.ndarray
    satisfaction: np.ndarray
    unknown_satisfaction: np.ndarray
    to_supervisor: np.ndarray  # days after which the row goes to the supervisor (its category's)
    to_manager: np.ndarray


@dataclass
class _Timing:
    """Where each row stands in time on `today`."""

    received_ok: np.ndarray  # readable, neither in the future nor unlikely early
    received_future: np.ndarray
    received_early: np.ndarray  # before EARLIEST_LIKELY: as unlikely as a future date
    received_day: np.ndarray  # the received day, or today where there is none to count from
    counter: Any
    age: np.ndarray
    level_now: np.ndarray  # 0 front desk, 1 supervisor, 2 manager, by age


@dataclass
class _Closing:
    """Whether and how each row is closed (SPEC 3.2, 4.6–4.8)."""

    completed_valid: np.ndarray
    completed_future: np.ndarray
    completed_before: np.ndarray
    completed_early: np.ndarray
    age_at_close: np.ndarray
    unresolvable: np.ndarray
    missing_contact: np.ndarray
    missing_required: np.ndarray
    closed: np.ndarray
    incomplete: np.ndarray
    open_ok: np.ndarray


@dataclass
class _Standing:
    """Each row's status, owner role, the level it reached and its due day."""

    status: np.ndarray
    role: np.ndarray
    level_reached: np.ndarray
    due: np.ndarray


def evaluate(
    sheet: pd.DataFrame,
    today: int,
    escalation: EscalationConfig,
    vocabulary: Vocabulary,
    people: People = People(),
    already_issued: dict[str, int] | None = None,
) -> pd.DataFrame:
    """Apply SPEC 3 to every non-blank row. `today` is a day ordinal in the center's timezone.

    The result's index is the sheet row number; its columns are EVALUATION_COLUMNS: the five
    worker values as they are to be written and the facts summaries, events and messages need.

    Vectorised over the whole sheet: per-row Python work is limited to what each distinct value
    needs (a category, a status word, a date typed as text is read once) and to the rows that
    need it (notes, new ids).
    """
    cells = _read_cells(sheet, vocabulary)
    words = _read_words(cells, vocabulary, escalation)
    timing = _timing(cells, words, today, escalation)
    closing = _closing(cells, timing, words, today)
    standing = _standing(cells, words, timing, closing)

    # Record ids (SPEC 2.2): unreadable or future dates take today's date.
    id_dates = np.where(timing.received_ok, cells.received.ordinal, today)
    record_ids, id_is_new, id_duplicate = assign_record_ids(
        pd.Series(cells.texts["record_id"], dtype=object), id_dates, already_issued or {})

    # What the previous run wrote, read back: the state events are computed against.
    previous_status = map_distinct(cells.texts["status"], lambda text: vocabulary.parse("statuses", text) or "")
    reopened = ((previous_status == "completed") | (previous_status == "unresolvable")) & ~closing.closed
    return _evaluation_frame(cells, words, timing, closing, standing, {
        "record_id": record_ids.to_numpy(),
        "owner": map_distinct(standing.role, lambda key: _owner_label(vocabulary, key, people)),
        "status": map_distinct(standing.status, lambda key: vocabulary.label("statuses", key)),
        "system_note": _row_notes(vocabulary, cells, words, timing, closing, id_duplicate, reopened),
        "previous_status": previous_status,
        "id_is_new": id_is_new,
    })


def _read_cells(sheet: pd.DataFrame, vocabulary: Vocabulary) -> _Cells:
    """The text of every column the rules read (the worker's own owner / due date are only
    written), the rows with a staff cell filled; the two date columns are parsed instead, their
    text kept only where it is unreadable."""
    read_keys = [column.key for column in vocabulary.staff_columns if column.key not in DATE_KEYS] + [
        "record_id", "status", "system_note"]
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
        dates = {key: ParsedDates(parsed.ordinal[keep], parsed.blank[keep], parsed.readable[keep])
                 for key, parsed in all_dates.items()}
    for key, parsed in dates.items():
        texts[key] = texts_where(sheet[key], parsed.unreadable)
    return _Cells(sheet, texts, filled, dates["received_at"], dates["completed_at"])


def _read_words(cells: _Cells, vocabulary: Vocabulary, escalation: EscalationConfig) -> _Words:
    """Categories and their ladders (SPEC 3.1 and the per-category overrides), channels and
    satisfaction, each distinct word looked up once."""
    texts, filled = cells.texts, cells.filled
    category_word = map_distinct(texts["category"], lambda text: vocabulary.parse("categories", text))
    category = map_distinct(category_word, lambda key: key or "other")
    channel = map_distinct(texts["channel"], lambda text: vocabulary.parse("channels", text))
    satisfaction = map_distinct(texts["satisfaction"], lambda text: vocabulary.parse("satisfaction", text) or "")
    return _Words(
        category=category,
        unknown_category=filled["category"] & _is_none(category_word),
        channel=channel,
        unknown_channel=filled["channel"] & _is_none(channel),
        satisfaction=satisfaction,
        unknown_satisfaction=filled["satisfaction"] & np.asarray(satisfaction == "", dtype=bool),
        to_supervisor=map_distinct(category, lambda key: escalation.ladder_for(key).supervisor_after_days).astype(np.int64),
        to_manager=map_distinct(category, lambda key: escalation.ladder_for(key).manager_after_days).astype(np.int64),
    )


def _level_at(age_days: np.ndarray, words: _Words) -> np.ndarray:
    """The level a row of this age is at: 0 front desk, 1 supervisor, 2 manager."""
    return np.where(age_days <= words.to_supervisor, 0, np.where(age_days <= words.to_manager, 1, 2))


def _timing(cells: _Cells, words: _Words, today: int, escalation: EscalationConfig) -> _Timing:
    received, completed = cells.received, cells.completed
    received_future = received.readable & (received.ordinal > today)
    received_early = received.readable & (received.ordinal < EARLIEST_LIKELY)  # unlikely, as a future date is
    received_ok = received.readable & ~received_future & ~received_early
    known = np.concatenate([received.ordinal[received_ok], completed.ordinal[completed.readable], [today]])
    counter = day_counter(escalation.day_basis, int(known.min()), int(max(known.max(), today)), today)
    received_day = np.where(received_ok, received.ordinal, today)
    age = np.where(received_ok, counter.age(received_day, today), -1)
    return _Timing(received_ok=received_ok, received_future=received_future, received_early=received_early,
                   received_day=received_day, counter=counter, age=age, level_now=_level_at(age, words))


def _closing(cells: _Cells, timing: _Timing, words: _Words, today: int) -> _Closing:
    """Closed by a valid 完成日期, or as unresolvable by the manager (a reason, at level 2);
    an open row missing what it needs is incomplete."""
    received, completed, filled = cells.received, cells.completed, cells.filled
    completed_future = completed.readable & (completed.ordinal > today)
    completed_early = completed.readable & (completed.ordinal < EARLIEST_LIKELY)
    completed_before = completed.readable & received.readable & (completed.ordinal < received.ordinal) & ~completed_early
    completed_valid = completed.readable & ~completed_future & ~completed_before & ~completed_early
    counted = completed_valid & timing.received_ok
    completed_day = np.where(counted, completed.ordinal, timing.received_day)
    age_at_close = np.where(counted, timing.counter.age(timing.received_day, completed_day), -1)
    unresolvable = ~completed_valid & filled["unresolvable_reason"] & timing.received_ok & (timing.level_now == 2)
    missing_contact = ~filled["owner_name"] & ~filled["phone"]
    missing_required = ~timing.received_ok | ~filled["room"] | ~filled["matter"] | missing_contact
    closed = completed_valid | unresolvable
    return _Closing(completed_valid=completed_valid, completed_future=completed_future,
                    completed_before=completed_before, completed_early=completed_early, age_at_close=age_at_close, unresolvable=unresolvable,
                    missing_contact=missing_contact, missing_required=missing_required, closed=closed, incomplete=~closed & missing_required,
                    open_ok=~closed & ~missing_required)


def _standing(cells: _Cells, words: _Words, timing: _Timing, closing: _Closing) -> _Standing:
    """Status, owner role and level reached (SPEC 3.1–3.3), and the due day of an open row."""
    count = len(cells.frame)
    level_now, roles = timing.level_now, np.array(ROLES, dtype=object)
    status = np.empty(count, dtype=object)
    role = np.empty(count, dtype=object)
    level_reached = np.zeros(count, dtype=np.int64)
    close_level = np.where(timing.received_ok, _level_at(closing.age_at_close, words), 1)
    done, unresolvable, incomplete, open_ok = (
        closing.completed_valid, closing.unresolvable, closing.incomplete, closing.open_ok)
    status[done], role[done], level_reached[done] = "completed", roles[close_level[done]], close_level[done]
    status[unresolvable], role[unresolvable], level_reached[unresolvable] = "unresolvable", "manager", 2
    status[incomplete], role[incomplete] = "incomplete", "supervisor"
    open_status = np.where(
        level_now == 0,
        np.where(cells.filled["department"], "transferred", "in_progress"),
        np.where(level_now == 1, "escalated_supervisor", "escalated_manager"),
    )
    status[open_ok], role[open_ok], level_reached[open_ok] = open_status[open_ok], roles[level_now[open_ok]], level_now[open_ok]
    level_reached[incomplete] = np.where(timing.received_ok[incomplete], level_now[incomplete], 0)

    due = np.full(count, NO_DATE, dtype=np.int64)
    window = np.where(level_now == 0, words.to_supervisor, words.to_manager)
    due_open = open_ok & (level_now < 2)
    if due_open.any():
        due[due_open] = timing.counter.last_day_within(timing.received_day[due_open], window[due_open])
    return _Standing(status, role, level_reached, due)


def _row_notes(vocabulary: Vocabulary, cells: _Cells, words: _Words, timing: _Timing, closing: _Closing,
               duplicate: np.ndarray, reopened: np.ndarray) -> np.ndarray:
    """系統提示 of each row (see `_notes`)."""
    return _notes(
        vocabulary=vocabulary, count=len(cells.frame), received=cells.received, completed=cells.completed,
        received_future=timing.received_future, filled=cells.filled, missing_contact=closing.missing_contact,
        completed_future=closing.completed_future, completed_before=closing.completed_before,
        unlikely=(timing.received_early, closing.completed_early),
        reason_too_early=cells.filled["unresolvable_reason"] & ~closing.closed,
        unknown_channel=words.unknown_channel, unknown_category=words.unknown_category,
        unknown_satisfaction=words.unknown_satisfaction, texts=cells.texts,
        duplicate=duplicate, reopened=reopened, is_open=~closing.closed, previous_notes=cells.texts["system_note"],
    )


def _evaluation_frame(cells: _Cells, words: _Words, timing: _Timing, closing: _Closing, standing: _Standing,
                      labelled: dict[str, Any]) -> pd.DataFrame:
    """The result, its columns in EVALUATION_COLUMNS order: `labelled` (what needed the
    vocabulary), the facts of each step, then staff cells as text."""
    received_day, completed_day = cells.received.ordinal, cells.completed.ordinal
    computed = {
        **labelled,
        "due_date": _iso_texts(standing.due),
        "status_key": standing.status,
        "role": standing.role,
        "is_open": ~closing.closed,
        "level_reached": standing.level_reached,
        "received": np.where(timing.received_ok | timing.received_future | timing.received_early, received_day, NO_DATE),
        "received_ok": timing.received_ok,
        "completed": np.where(closing.completed_valid, completed_day, NO_DATE),
        "age": timing.age,
        "age_at_close": closing.age_at_close,
        "due": standing.due,
        "to_supervisor": words.to_supervisor,
        "category": words.category,
        "satisfaction": words.satisfaction,
        "channel": map_distinct(words.channel, lambda key: key or ""),
        "missing_required": closing.missing_required,
        "manager_from": _manager_from(words, timing, closing),
        "satisfaction_text": cells.texts["satisfaction"],
        # Open rows only (the few an alert or digest shows): years of history cost nothing more.
        "received_time": _times_of_day(cells.frame["received_at"], ~closing.closed),
    }
    index = cells.frame.index
    columns = {}
    for key in EVALUATION_COLUMNS:
        values = computed[key] if key in computed else cells.texts[key]
        if isinstance(values, np.ndarray) and values.dtype == object:
            # Object columns, not pandas' inferred "str": cheap to build and to turn back into lists.
            values = pd.Series(values, index=index, dtype=object, copy=False)
        columns[key] = values
    return pd.DataFrame(columns, index=index)


def _manager_from(words: _Words, timing: _Timing, closing: _Closing) -> np.ndarray:
    """The day each open row at manager level got there (the quarterly review, SPEC 4.3)."""
    since = np.full(len(timing.age), NO_DATE, dtype=np.int64)
    at_manager = closing.open_ok & (timing.level_now == 2)
    if at_manager.any():
        since[at_manager] = timing.counter.last_day_within(
            timing.received_day[at_manager], words.to_manager[at_manager]) + 1
    return since


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
    person = {"supervisor": people.supervisor, "manager": people.manager}.get(role)
    return f"{label}（{person.name}）" if person and person.name else label


def _notes(*, vocabulary, count, received: ParsedDates, completed: ParsedDates, received_future,
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

    add(received.blank, "received_missing")
    add(received.unreadable, "received_unreadable", texts["received_at"])
    add(received_future, "received_future")
    add(unlikely[0], "received_unlikely")
    add(~filled["room"], "room_missing")
    add(~filled["matter"], "matter_missing")
    add(missing_contact, "contact_missing")
    add(filled["result"] & completed.blank, "completed_missing")
    add(completed.unreadable, "completed_unreadable", texts["completed_at"])
    add(completed_before, "completed_before")
    add(completed_future, "completed_future")
    add(unlikely[1], "completed_unlikely")
    add(reason_too_early, "manager_only_closes")
    add(unknown_channel, "unknown_channel", texts["channel"])
    add(unknown_category, "unknown_category", texts["category"])
    add(unknown_satisfaction, "unknown_satisfaction", texts["satisfaction"])
    previous = previous_notes.tolist()
    for key, fresh in (("duplicate_id", duplicate), ("reopened", reopened)):
        add(fresh | (_carried(previous, vocabulary.label("notes", key)) & is_open), key)
    notes = np.full(count, "", dtype=object)
    for position, row_notes in parts.items():
        notes[position] = NOTE_SEPARATOR.join(row_notes)
    return notes


def _carried(previous_notes: list[str], label: str) -> np.ndarray:
    """The rows whose note, as the sheet holds it, already says `label` (STICKY_NOTES)."""
    carried = np.zeros(len(previous_notes), dtype=bool)
    carried[[position for position, note in enumerate(previous_notes) if note and label in note]] = True
    return carried
