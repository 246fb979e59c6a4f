"""The ports: every interface the application reaches an adapter through, declared in one place.

- `SheetBackend`: where a center's log lives (local workbook, Google Sheets);
- `Transport`: how a message leaves (outbox folder, SMTP);
- `SheetLock` / `Lease`: one worker at a time per sheet (lock file, Google developer metadata).

Each is a base class the implementations inherit: the methods every implementation must provide
raise NotImplementedError here, and the ones some implementations have nothing to do for are
no-ops, so callers call every method directly and never probe for one. The lock's own data
(`Holder`, `LockOwner`, `SheetHeldError`) lives beside its shared logic in locks.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..domain.init_plan import Layout
from ..domain.records import Snapshot, WritePlan


@dataclass(frozen=True)
class TabNames:
    """The titles a cycle reads: the main tab (any accepted spelling) and the generated tabs."""

    main: tuple[str, ...]
    summaries: tuple[str, ...]
    log: str


class SheetBackend:
    """A center's spreadsheet, as the cycle reads and writes it."""

    request_count: int | None = None  # API requests made so far, for backends that count them
    drive_request_count: int | None = None  # Drive requests (Google's change signal), likewise

    def describe(self) -> str:
        """What this is, in words (for `init` output and errors)."""
        raise NotImplementedError

    def read(self, names: TabNames, *, compare_tabs: bool = True) -> Snapshot:
        """Read everything a cycle needs: the main tab, the event log and, with `compare_tabs`,
        every generated tab; without it (SPEC 7) only the generated tabs of which the sheet keeps
        no digest, the others being known by their digests. SheetUnusableError when the main
        tab is missing or the file cannot be read; BackendUnavailableError / WorkbookLockedError
        when it cannot be reached now."""
        raise NotImplementedError

    def write(self, plan: WritePlan) -> None:
        """Apply the plan as one unit: all of it or, on failure, none of it."""
        raise NotImplementedError

    def ensure_writable(self) -> None:
        """Raise WorkbookLockedError / BackendUnavailableError if a write would be refused now."""

    def blocked_rows(self, main_tab: str, cells: list) -> dict[int, str]:
        """Sheet rows among `cells` (CellWrite) whose worker cells cannot be written, with why
        ("merged", "protected", "formula"); the cycle leaves them out and names them (SPEC 6)."""
        return {}

    def append_log(self, title: str, header: list[str], rows: list[list[Any]]) -> None:
        """Append event-log rows (the record of messages sent, after a cycle's writes)."""
        raise NotImplementedError

    def initialize(self, layout: Layout) -> list[str]:
        """Create or upgrade the spreadsheet; returns what was changed, in words. Idempotent."""
        raise NotImplementedError

    def change_stamp(self) -> dict | None:
        """SPEC 7: a cheap stamp that moves whenever the sheet changes (a local file's `stat`,
        Drive's modifiedTime), compared by domain/change_policy.py. None: cannot tell now, so
        the cycle reads in full."""
        return None

    def cycle_finished(self) -> None:
        """The cycle is over: let go of what only it needed (a kept backend under `serve` lives
        on, one per center, so rows held from one cycle to the next add up over a fleet)."""

    def worker_lock(self) -> "SheetLock | None":
        """The sheet's own lease, when the backend keeps one in the sheet (Google Sheets); None
        lets locks.lock_for choose (a lock file beside a local workbook)."""
        return None


class Transport:
    """Where messages go. `open` and `close` bracket a batch (one SMTP connection for all)."""

    def describe(self) -> str:
        raise NotImplementedError

    def open(self) -> None:
        """Get ready to send; DeliveryError when that is impossible now."""

    def send(self, email_message) -> Any:
        """Deliver one message (an `email.message.EmailMessage`); DeliveryError when refused."""
        raise NotImplementedError

    def send_reporting(self, email_message) -> list[str]:
        """Deliver one message as `send` does and say what the other end answered, a line per
        step (`test-mail`); DeliveryError when refused."""
        where = self.send(email_message)
        return [f"{self.describe()}：{where}" if where else self.describe()]

    def close(self) -> None:
        """Let go of whatever `open` took."""


class Lease:
    """A sheet held by this worker (see locks.py)."""

    holder: "Holder"  # noqa: F821 - locks.Holder
    active: bool = True

    def refresh(self) -> None:
        """Push the expiry forward; LeaseLostError when another worker holds the sheet now."""
        raise NotImplementedError

    def release(self) -> None:
        """Give the sheet up (only if the lease is still ours)."""
        raise NotImplementedError

    def hold(self) -> None:
        """Make sure the lease is written now. A lease written lazily, riding on the cycle's own
        writes (Google Sheets), is written here before the first message goes out; a lease taken
        at once (a lock file) has nothing to do."""

    def rebind(self, backend: SheetBackend) -> None:
        """Keep holding through `backend`, rebuilt for the same sheet (config reloaded)."""


class SheetLock:
    """What a backend offers so that one worker at a time writes its sheet."""

    # (previous holder, why it was stale) when the last `acquire` took over a dead worker's lease
    last_takeover: "tuple[Holder, str] | None" = None  # noqa: F821 - locks.Holder

    def describe(self) -> str:
        """What is locked, in words (for messages)."""
        raise NotImplementedError

    def acquire(self, owner) -> Lease:
        """Take the lease for `owner` (a locks.LockOwner), or raise SheetHeldError naming the
        holder."""
        raise NotImplementedError
