"""Plain data passed between the core and the adapters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple


@dataclass(frozen=True)
class InlineImage:
    """An image shown inside the HTML part, referenced there as `cid:<cid>`."""

    cid: str
    data: bytes
    subtype: str = "png"


@dataclass(frozen=True)
class OutgoingMessage:
    """One message to one recipient, fully composed, transport-neutral.

    `message_id` is derived from center, kind, period and recipient, so a repeat is recognisable
    (SPEC 4.2). `kind` is one of: supervisor_digest, manager_digest, weekly_review, emergency,
    complaint.
    """

    kind: str
    period: str
    center: str
    recipient_role: str  # "supervisor" | "manager"
    to_name: str
    to_email: str
    subject: str
    text: str
    html: str
    message_id: str
    record_ids: tuple[str, ...] = ()
    images: tuple[InlineImage, ...] = ()


class CellWrite(NamedTuple):
    """A worker cell to write. `row` is the 1-based sheet row number at read time; `record_id`
    is the id the row carries after this cycle and `anchor` what identified the row at read time
    (its old id, or a fingerprint of its staff cells for a row that had none), so a backend that
    can see live edits may place the write by identity rather than position.

    A named tuple rather than a frozen dataclass: a first cycle on a big sheet makes millions of
    them, and a tuple is built in half the time and memory."""

    row: int
    column: int  # 1-based sheet column
    value: Any
    record_id: str
    anchor: str


@dataclass
class WritePlan:
    """Everything one cycle writes to one sheet, applied as one unit."""

    main_tab: str
    new_headers: list[tuple[int, str]] = field(default_factory=list)  # (1-based column, header)
    cells: list[CellWrite] = field(default_factory=list)
    tabs: dict[str, list[list[Any]]] = field(default_factory=dict)  # full content of changed tabs
    tab_formats: dict[str, Any] = field(default_factory=dict)  # title → presentation.TabFormat
    log_tab: str = ""
    log_header: list[str] = field(default_factory=list)
    log_rows: list[list[Any]] = field(default_factory=list)
    # SPEC 7: generated tab title → digest of its content, for every generated tab, kept with the
    # sheet in the same write as the tabs; None where the backend keeps no digests.
    tab_digests: dict[str, str] | None = None

    def is_empty(self) -> bool:
        return not (self.new_headers or self.cells or self.tabs or self.log_rows)


@dataclass
class Snapshot:
    """What a backend read of one spreadsheet: the main tab, the event log, and the generated
    tabs it was asked to read or has no digest of (SPEC 7).

    Cell values are raw: str, int, float, bool, datetime/date (local workbook) or serial
    numbers (Google), None for empty. `rows` start at sheet row 2."""

    main_tab: str
    header: list[Any]
    rows: list[list[Any]]
    tabs: dict[str, list[list[Any]]]  # generated tab title → its values, header included (the tabs read)
    log_rows: list[list[Any]]  # event log rows after its header
    # SPEC 7: generated tab title → the digest of what the worker last wrote there, for the tabs
    # that exist with the worker's formatting; None where the backend keeps no digests (then
    # every generated tab is read and compared).
    tab_digests: dict[str, str] | None = None
    # The same rows column by column (one list per header position, each as long as the rows),
    # when the backend read them so: a DataFrame is made of columns without transposing. Then
    # `rows` is left empty.
    columns: list[list[Any]] | None = None

    @property
    def row_count(self) -> int:
        if self.columns is None:
            return len(self.rows)
        return len(self.columns[0]) if self.columns else 0


@dataclass
class CenterResult:
    """What one cycle did for one center (the operator's log line, `run`'s summary, `status`)."""

    center: str
    exit_code: int = 0
    error: str = ""
    rows: int = 0
    cells_written: int = 0
    tabs_written: list[str] = field(default_factory=list)
    log_rows: int = 0
    escalations: int = 0
    messages_sent: int = 0
    messages_failed: int = 0
    seconds: float = 0.0
    dry_run_lines: list[str] = field(default_factory=list)
    # (sheet row, record id, note) for rows whose 系統提示 became a new non-blank text this cycle:
    # the operator's log names them once, when they appear, not at every idle re-run.
    new_notes: list[tuple[int, str, str]] = field(default_factory=list)
    # (sheet row, record id or "", reason) for rows left out because their worker cells cannot be written.
    skipped_rows: list[tuple[int, str, str]] = field(default_factory=list)
    skipped_lines: list[str] = field(default_factory=list)  # the same, as sentences naming each row
    # SPEC 7: nothing changed since the last full read and no moment passed: the cycle only
    # looked at the sheet's modification time (rows is the last full read's count).
    idle: bool = False
    full_read_reason: str = ""  # why a cycle read in full (change_policy's words), for the log
    # A dry run's messages, as they would go out (`run --dry-run --preview DIR` writes them).
    preview: list[OutgoingMessage] = field(default_factory=list)
    failure_reasons: list[str] = field(default_factory=list)  # why messages could not be sent, each once
