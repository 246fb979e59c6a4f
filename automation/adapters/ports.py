"""The interface every sheet backend keeps (local workbook, Google Sheets)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ..domain.records import Snapshot, WritePlan


@dataclass(frozen=True)
class TabNames:
    """The titles a cycle reads: the main tab (any accepted spelling) and the generated tabs."""

    main: tuple[str, ...]
    summaries: tuple[str, ...]
    log: str


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


class SheetBackend(Protocol):
    def describe(self) -> str: ...

    def read(self, names: TabNames) -> Snapshot:
        """Read everything a cycle needs. SheetUnusableError when the main tab is missing or the
        file cannot be read; BackendUnavailableError / WorkbookLockedError when it cannot be
        reached now."""

    def write(self, plan: WritePlan) -> None:
        """Apply the plan as one unit: all of it or, on failure, none of it."""

    def ensure_writable(self) -> None:
        """Raise WorkbookLockedError / BackendUnavailableError if a write would be refused now."""

    def append_log(self, title: str, header: list[str], rows: list[list[Any]]) -> None:
        """Append event-log rows (the record of messages sent, after a cycle's writes)."""

    def initialize(self, layout: Layout) -> list[str]:
        """Create or upgrade the spreadsheet; returns what was changed, in words. Idempotent."""
