"""`init` decided once for every backend (SPEC 5): what a spreadsheet lacks and how each change
is worded. Pure: a backend gathers the facts (`SheetFacts`), `plan_init` decides, the backend
applies the plan in its own terms (openpyxl cells, Sheets API requests).

It decides: the main tab (created when missing), the worker and staff headers it lacks (added
right of every column holding a value, so no staff cell is ever under a worker header), the
frozen header row, the drop-downs (and date validation, where the backend offers it), the
generated tabs it lacks, and the renaming of a generated tab kept under the other language's
spelling (after `language` is switched, the event log written so far stays the worker's memory).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..vocabulary import Vocabulary, normalize_text

DATE_RULE = ("date",)  # a column's date validation, as SheetFacts.rules holds it


@dataclass(frozen=True)
class Layout:
    """What `init` makes sure a spreadsheet has (SPEC 5 `init`)."""

    main_title: str
    main_titles: tuple[str, ...]  # accepted spellings of an existing main tab
    headers: list[str]  # every column of the main tab, in the configured language
    header_keys: list[str]
    tabs: dict[str, list[str]]  # generated tab title → header row
    choices: dict[str, list[str]] = field(default_factory=dict)  # column key → drop-down options
    date_keys: tuple[str, ...] = ()
    worker_keys: tuple[str, ...] = ()
    access: dict[str, str] = field(default_factory=dict)  # column key → "manager" | "supervisor"
    editors: dict[str, list[str]] = field(default_factory=dict)  # "manager"/"supervisor" → accounts
    language: str = "zh-Hant"  # of the changes' words (what `init` prints, SPEC 5.1)


@dataclass(frozen=True)
class SheetFacts:
    """What a backend found in the spreadsheet before `init`."""

    tabs: tuple[str, ...]  # every tab's title
    main_header: tuple[object, ...] = ()  # the header row of the main tab found (if any), as cells
    last_used_column: int = 0  # the rightmost column (1-based) holding a value in any row of it
    frozen_rows: int = 0
    # 0-based column → the worker's own validation found there: ("choice", *options) or DATE_RULE
    rules: dict[int, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class ColumnRule:
    """A validation to set on a column of the main tab, from row 2 down."""

    key: str
    position: int  # 0-based column
    options: tuple[str, ...] | None  # drop-down options; None: a valid date


@dataclass
class InitPlan:
    main_title: str  # the main tab, as found or as created
    create_main: bool
    new_headers: list[tuple[int, str]]  # (0-based column, header text) to write in row 1
    positions: dict[str, int]  # column key → 0-based column, once the headers are added
    header_of: dict[str, str]  # column key → its header as the sheet spells it
    width: int  # columns the main tab uses once the headers are added
    freeze_header: bool
    rules: list[ColumnRule]
    renames: list[tuple[str, str]]  # (title now, configured title) of generated tabs
    new_tabs: list[tuple[str, list[str]]]  # (title, header row)
    main_changes: list[str]  # in words, for the user
    tab_changes: list[str]

    @property
    def changes(self) -> list[str]:
        return [*self.main_changes, *self.tab_changes]


def plan_init(layout: Layout, facts: SheetFacts, *, date_rules: bool) -> InitPlan:
    """What `init` changes, and how each change is said. `date_rules`: the backend can validate
    dates (Google Sheets does; a local workbook gets none)."""
    main_title = next((title for title in layout.main_titles if title in facts.tabs), None)
    plan = InitPlan(main_title or layout.main_title, main_title is None, [], {}, {}, 0, False, [], [], [], [], [])
    if plan.create_main:
        plan.main_changes.append(_words(layout, "init_tab", tab=layout.main_title))
        plan.new_headers = list(enumerate(layout.headers))
        plan.positions = {key: position for position, key in enumerate(layout.header_keys)}
        header = list(layout.headers)
    else:
        header = _add_missing_headers(layout, facts, plan)
    plan.width = max(len(header), facts.last_used_column)
    if plan.create_main:
        plan.freeze_header = True  # part of the new tab: no change of its own to report
    elif facts.frozen_rows < 1:  # staff who froze more (the header and a column) keep it
        plan.freeze_header = True
        plan.main_changes.append(_words(layout, "init_frozen"))
    plan.header_of = _sheet_spelling(layout, plan.positions, header)
    _plan_rules(layout, facts, plan, date_rules)
    _plan_tabs(layout, facts, plan)
    return plan


def _words(layout: Layout, key: str, **values: object) -> str:
    return Vocabulary(layout.language).label("output", key, **values)


def _add_missing_headers(layout: Layout, facts: SheetFacts, plan: InitPlan) -> list[str]:
    """The headers the main tab lacks, right of every column holding a value in any row: staff
    may type in a column they gave no header, and a worker header there would make the worker
    overwrite their cells. Returns the header row once they are added."""
    header = [normalize_text(cell) for cell in facts.main_header]
    while header and not header[-1]:
        header.pop()
    plan.positions = Vocabulary().match_headers(header)
    column = max(len(header), facts.last_used_column)
    for key, text in zip(layout.header_keys, layout.headers):
        if key in plan.positions:
            continue
        plan.positions[key] = column
        header += [""] * (column - len(header)) + [text]
        plan.new_headers.append((column, text))
        plan.main_changes.append(_words(layout, "init_header", tab=plan.main_title, header=text))
        column += 1
    return header


def _sheet_spelling(layout: Layout, positions: dict[str, int], header: list[str]) -> dict[str, str]:
    """Columns are named as the sheet spells them (a sheet keeps its headers' spelling)."""
    spelled = {}
    for key, text in zip(layout.header_keys, layout.headers):
        position = positions.get(key)
        found = header[position] if position is not None and position < len(header) else ""
        spelled[key] = found or text
    return spelled


def _plan_rules(layout: Layout, facts: SheetFacts, plan: InitPlan, date_rules: bool) -> None:
    wanted = [(key, ("choice", *options), "init_dropdown") for key, options in layout.choices.items()]
    if date_rules:
        wanted += [(key, DATE_RULE, "init_date_rule") for key in layout.date_keys]
    for key, rule, what in wanted:
        position = plan.positions.get(key)
        if position is None or facts.rules.get(position) == rule:
            continue
        plan.rules.append(ColumnRule(key, position, tuple(rule[1:]) if rule[0] == "choice" else None))
        plan.main_changes.append(_words(layout, what, header=plan.header_of[key]))


def other_spelling(title: str, present) -> str | None:
    """The tab among `present` holding generated tab `title` under the other language's spelling
    (None when `title` is there itself, or not at all)."""
    if title in present:
        return None
    vocabulary = Vocabulary()
    for key in vocabulary.generated_tab_keys:
        spellings = vocabulary.tab_titles(key)
        if title in spellings:
            return next((spelling for spelling in spellings if spelling != title and spelling in present), None)
    return None


def _plan_tabs(layout: Layout, facts: SheetFacts, plan: InitPlan) -> None:
    """Each generated tab: there, kept under the other spelling (renamed), or added."""
    present = set(facts.tabs)
    for title, header in layout.tabs.items():
        if title in present:
            continue
        other = other_spelling(title, present)
        if other is not None:
            plan.renames.append((other, title))
            present.discard(other)
            plan.tab_changes.append(_words(layout, "init_renamed", old=other, new=title))
        else:
            plan.new_tabs.append((title, header))
            plan.tab_changes.append(_words(layout, "init_tab", tab=title))
