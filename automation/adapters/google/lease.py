"""One worker per Google spreadsheet (issue 5): the sheet's lease, kept in its developer metadata.

The record is spreadsheet-level developer metadata `reception-worker.lease` (visibility DOCUMENT,
so workers under different service accounts see each other) whose value is `Holder.to_json()`:
host, process id, command, since, expiry, a random token, machine and boot ids. No owner data.
Whether a found record still stands is `locks.lease_is_stale` (expired; or, on the holder's own
machine, its process gone or the machine restarted), as for a local workbook. A given-up record
is not deleted but marked released (expiry RELEASED, a fresh random token): see below why.

Compare-and-swap. Google has no conditional write, but a `batchUpdate` is applied atomically and
`createDeveloperMetadata` with a `metadataId` that already exists is refused. The record lives at
one fixed id (`LEASE_ID`), and every change of it is a swap from the value last seen:

    deleteDeveloperMetadata(LEASE_ID, value = seen), createDeveloperMetadata(LEASE_ID, new value)

When the record no longer holds `seen`, the delete matches nothing, the create is refused, and
so is the whole batch (Google answers 400). Every batchUpdate of a cycle carries such a swap at
its front, based on the record as it was when the cycle read the sheet, so its writes are applied
only if no other worker wrote since: a worker that lost its lease (hung past its expiry, taken
over) cannot write, not even once. Because the record is never deleted and each new value is
unique (a new expiry, or a released record's fresh token), a value never comes back, so a swap
cannot succeed on a record that changed and changed back. When a batch is refused, the backend
reads the layout again (it does so for any 400) and the lease, finding the record changed,
raises SheetHeldError / LeaseLostError naming the other worker (exit 4: skipped this time).
(The alternative of `updateDeveloperMetadata` filtered on the value, "an empty reply means
lost", would notice only after the write went through, and needs a read-back after creating.)

When it is written (the request economy of issue 4 holds):
- `serve` (LockOwner.keeps) holds a live record: written once, after its first good cycle (or by
  that cycle's write), for KEPT_LEASE_INTERVALS intervals; every cycle that writes refreshes it
  inside its own batch; an idle cycle refreshes it only when less than
  REFRESH_WHEN_LEFT_INTERVALS intervals are left (every 4th idle cycle at a steady pace: 1.25
  requests per idle cycle on average instead of 1). Stopping marks it released (1 request).
- `run` / `init` hold no live record between batches: each batch swaps the record straight to a
  released one of theirs (a fenced write at no extra request). Only from the first message to
  the batch recording it is a live record held (+1 request in a one-shot cycle that sends
  messages; see application/holding_transport.py), so a second worker cannot send them too.
- Checking costs nothing extra: the layout read (`spreadsheets.get`) returns the record.

Assumption about Google (checked on the stand-in only): within one batchUpdate, a metadataId
freed by `deleteDeveloperMetadata` can be created again by a later request. Should Google refuse
that shape (a swap refused while the record it deletes is still on the sheet, unchanged: so the
delete did match, and only the re-creation can be what was refused), the backend carries on
without a lease for the rest of the process — every write goes through, warned once per
process (session.py) — rather than fail the center at every write.

Clocks: the expiry is written in UTC by the holder's clock and judged by the reader's; keep the
machines' clocks in sync (NTP), as for a workbook on a shared folder.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, replace
from typing import Callable, Protocol

from ...errors import AutomationError
from ...logs import event_record
from .. import locks
from ..locks import Holder, LeaseLostError, LockOwner, SheetHeldError, lease_is_stale
from ..ports import Lease, SheetLock
from . import batch
from .layout import LEASE_ID, LEASE_KEY, LeaseRecord, SheetLayout

KEPT_LEASE_INTERVALS = 6
REFRESH_WHEN_LEFT_INTERVALS = 2.5
# The expiry of a released record: long past on every clock, however far off.
RELEASED = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)

# The lease's notion of now (UTC). Never the cycle's `--now`, which may be any date. Tests replace
# it, as they replace http.DEFAULT_RETRY, to move time without waiting.
DEFAULT_CLOCK: Callable[[], dt.datetime] = locks.utc_now

log = logging.getLogger("automation.google")


class LeasedSheet(Protocol):
    """What the lease needs of the spreadsheet it guards (backend.GoogleSheetsBackend)."""

    center: str
    key: str
    timezone: dt.tzinfo | None
    lease_interval: dt.timedelta
    lease_horizon: dt.timedelta  # full_read_minutes: idle cycles (SPEC 7) leave the lease alone

    def clock(self) -> dt.datetime: ...

    def fetch_layout_for_lease(self) -> SheetLayout: ...

    def attach_lease(self, lease: "GoogleLease") -> None: ...

    def detach_lease(self, lease: "GoogleLease") -> None: ...

    def send_lease(self, *, live: bool) -> None: ...


def released(holder: Holder) -> Holder:
    """The record of a lease given up: who last had the sheet, expired for everyone, and unique
    (a fresh token) so that no later swap can mistake it for an earlier one."""
    return replace(holder, expires=RELEASED, token=uuid.uuid4().hex)


def is_released(holder: Holder) -> bool:
    return holder.expires <= RELEASED


# --- requests (pure) ---------------------------------------------------------------------------

def delete_request(record: LeaseRecord) -> dict:
    """Delete the record only if it still holds exactly this value."""
    return {"deleteDeveloperMetadata": {"dataFilter": {"developerMetadataLookup": {
        "metadataId": record.metadata_id, "metadataKey": LEASE_KEY, "metadataValue": record.value}}}}


def create_request(value: str) -> dict:
    return {"createDeveloperMetadata": {"developerMetadata": {
        "metadataId": LEASE_ID, "metadataKey": LEASE_KEY, "metadataValue": value,
        "location": {"spreadsheet": True}, "visibility": "DOCUMENT"}}}


def swap_requests(seen: LeaseRecord | None, value: str) -> list[dict]:
    """Replace the record `seen` (None: there is none) by one holding `value` — or have the whole
    batch refused when the record is no longer `seen` (see the module docstring)."""
    return ([delete_request(seen)] if seen is not None else []) + [create_request(value)]


@dataclass(frozen=True)
class Fence:
    """The lease requests at the front of one batchUpdate body, and the record once applied."""

    requests: list[dict]
    holder: Holder  # ours, as written (live) — or as it stays when the record is released
    record_after: LeaseRecord
    live: bool

    def encoded(self) -> list[bytes]:
        return [batch.encode(r) for r in self.requests]

    @property
    def replaces_a_record(self) -> bool:
        """Deletes a record and creates its id again (not a first record)."""
        return bool(self.requests) and "deleteDeveloperMetadata" in self.requests[0]

    def expects(self, found: LeaseRecord | None) -> bool:
        """The record its delete names is `found`: a batch carrying this fence, refused while
        that record is still on the sheet unchanged, was not refused for another worker's
        write but for the swap's shape (see the module docstring)."""
        return self.replaces_a_record and found is not None and delete_request(found) == self.requests[0]


# --- the lock and its lease --------------------------------------------------------------------

class GoogleSheetLock(SheetLock):
    """`locks.SheetLock` of a Google spreadsheet (see the module docstring)."""

    def __init__(self, backend: LeasedSheet, *, alive: Callable[[int], bool] = locks.process_alive):
        self.backend = backend
        self.alive = alive
        self.last_takeover: tuple[Holder, str] | None = None  # (previous holder, why stale), for logs

    def describe(self) -> str:
        return f"Google 試算表 {self.backend.key}"

    def now(self) -> dt.datetime:
        return self.backend.clock()

    def held_message(self, holder: Holder) -> str:
        timezone = self.backend.timezone
        expires = holder.expires.astimezone(timezone) if timezone else holder.expires
        return (
            f"服務中心「{self.backend.center}」：{self.describe()} 正由 {holder.describe(timezone)}處理；"
            f"本次跳過此服務中心，以免兩個程序同時寫入。若該進程已不存在，鎖在 {expires:%Y-%m-%d %H:%M} 後失效"
            f"（鎖記錄在試算表的開發者中繼資料 {LEASE_KEY}）"
        )

    def changed_message(self, holder: Holder | None) -> str:
        who = f"另一個程序（{holder.describe(self.backend.timezone)}）" if holder is not None else "另一個程序"
        return (f"服務中心「{self.backend.center}」：本程序讀取 {self.describe()} 之後，{who}寫入了它；"
                f"本次跳過此服務中心（未寫入任何內容），下次運行重新讀取")

    def judge(self, record: LeaseRecord | None, owner: LockOwner, token: str | None) -> tuple[Holder | None, str]:
        """(the holder a record names, why it no longer stands). Why is "" when it stands and is
        someone else's; "mine" when it is our live record; "free" when there is none or it was
        released; "damaged" when it cannot be read (never half-written — Google applies it whole
        — so hand-made: replaced); else why it went stale (`lease_is_stale`)."""
        if record is None:
            return None, "free"
        holder = record.holder
        if holder is None or holder.since.tzinfo is None or holder.expires.tzinfo is None:
            return None, "damaged"
        if token and holder.token == token:
            return holder, "mine"
        if is_released(holder):
            return holder, "free"
        return holder, lease_is_stale(holder, owner, self.now(), self.alive)

    def acquire(self, owner: LockOwner) -> "GoogleLease":
        """Read the layout (the cycle's own layout read: `read()` reuses it) and judge the record;
        SheetHeldError when another worker holds the sheet. Nothing is written here: the record
        changes with the cycle's first batch, or by `hold()`."""
        layout = self.backend.fetch_layout_for_lease()
        self.last_takeover = None
        holder, why = self.judge(layout.lease, owner, token=None)
        if why == "":
            raise SheetHeldError(self.held_message(holder), holder)
        if holder is not None and why != "free":
            self.last_takeover = (holder, why)
        lease = GoogleLease(self, owner, layout.lease)
        self.backend.attach_lease(lease)
        return lease


class GoogleLease(Lease):
    """A lease on a Google spreadsheet.

    `base` is the record our next swap expects: as the cycle's layout read found it, or as our
    last applied batch left it. `seen` is the record the latest layout read found. When they
    differ and `seen` is not ours, another worker wrote after we read: we do not write."""

    def __init__(self, lock: GoogleSheetLock, owner: LockOwner, found: LeaseRecord | None):
        self.lock = lock
        self.owner = owner
        now = lock.now()
        self.holder = replace(owner.new_holder(now), expires=now + self.lifetime)
        self.base = self.seen = found
        self.on_sheet = False  # our live record is on the sheet (written and not given up)
        self.lost = False
        self.released = False

    # --- policy ----------------------------------------------------------------------------
    @property
    def keeps(self) -> bool:
        return self.owner.keeps

    @property
    def lifetime(self) -> dt.timedelta:
        """serve: KEPT_LEASE_INTERVALS intervals (refreshed rarely: see the module docstring);
        one-shot: the owner's ttl — its live record only exists while messages go out."""
        if self.keeps:
            backend = self.lock.backend
            return max(self.owner.ttl, KEPT_LEASE_INTERVALS * backend.lease_interval) + backend.lease_horizon
        return self.owner.ttl

    @property
    def refresh_margin(self) -> dt.timedelta:
        # An idle cycle (SPEC 7) does not refresh: the next full cycle may be full_read_minutes away.
        return REFRESH_WHEN_LEFT_INTERVALS * self.lock.backend.lease_interval + self.lock.backend.lease_horizon

    # --- what the backend calls ------------------------------------------------------------
    def observe(self, record: LeaseRecord | None) -> None:
        """A fresh layout read found this record."""
        self.seen = record

    def fence(self, *, live: bool, release_only: bool = False) -> Fence | None:
        """The swap at the front of one batch body: to our live record (`live`, refreshed) or to
        a released one. `release_only`: give our live record up, None when it is not ours.
        Raises SheetHeldError / LeaseLostError when another worker holds the sheet or wrote it
        since we read it."""
        seen = self.seen
        holder, why = self.lock.judge(seen, self.owner, self.holder.token)
        if release_only:
            if why != "mine":
                return None
            return self._fence(seen, live=False)
        if why != "mine" and (seen != self.base or why == ""):
            was_ours, self.on_sheet = self.on_sheet, False
            if why == "" and was_ours:
                self.lost = True
                raise LeaseLostError(self.lock.held_message(holder), holder)
            if why == "":
                raise SheetHeldError(self.lock.held_message(holder), holder)
            raise SheetHeldError(self.lock.changed_message(holder), holder)
        return self._fence(seen, live=live)

    def _fence(self, seen: LeaseRecord | None, *, live: bool) -> Fence:
        fresh = replace(self.holder, expires=self.lock.now() + self.lifetime)
        value = (fresh if live else released(fresh)).to_json()
        return Fence(swap_requests(seen, value), fresh, LeaseRecord(LEASE_ID, value), live)

    def applied(self, fence: Fence) -> None:
        """A body carrying `fence` was applied."""
        self.holder = fence.holder
        self.base = self.seen = fence.record_after
        self.on_sheet = fence.live

    def reserve_bytes(self) -> int:
        """Room a fence may take in a body (for splitting bodies under Google's size limit)."""
        sample = replace(self.holder, expires=self.holder.expires + dt.timedelta(days=1)).to_json()
        seen = [delete_request(self.seen)] if self.seen is not None else []
        return sum(len(batch.encode(r)) + 1 for r in [*seen, create_request(sample)]) + 64

    # --- locks.Lease -----------------------------------------------------------------------
    def hold(self) -> None:
        """Make sure our live record is on the sheet now and not near its expiry: nothing to
        send when it is (the usual case under serve), else one batchUpdate. LeaseLostError /
        SheetHeldError when another worker holds the sheet."""
        if self.lost:
            holder = self.seen.holder if self.seen is not None else None
            raise LeaseLostError(self.lock.held_message(holder) if holder else self.lock.describe(), holder)
        if self.released:
            return
        _, why = self.lock.judge(self.seen, self.owner, self.holder.token)
        if self.on_sheet and why == "mine" and self.holder.expires - self.lock.now() > self.refresh_margin:
            return
        self.lock.backend.send_lease(live=True)

    def refresh(self) -> None:
        """At the start of a later cycle (serve): refresh when expiry is near. A lease not yet
        written stays unwritten: the cycle's first batch, or the hold after it, writes it."""
        if self.lost or self.on_sheet:
            self.hold()

    def release(self) -> None:
        """Give the sheet up: our live record is marked released (only if it is still ours).
        Never raises for Google's failures: an unreleased record expires on its own."""
        if self.released:
            return
        self.released = True
        backend = self.lock.backend
        try:
            if self.on_sheet and not self.lost:
                backend.send_lease(live=False)
        except AutomationError as error:
            event_record(log, logging.WARNING, "lease_release_failed",
                         f"服務中心「{backend.center}」：未能釋放 {self.lock.describe()} 的鎖（{type(error).__name__}）；"
                         f"它在 {self.holder.expires.astimezone(backend.timezone):%Y-%m-%d %H:%M} 後自動失效",
                         center=backend.center)
        finally:
            self.on_sheet = False
            backend.detach_lease(self)

    def rebind(self, backend: LeasedSheet) -> None:
        """Serve rebuilt the center's backend (config reloaded): fence that one's writes."""
        if backend is self.lock.backend or self.released:
            return
        self.lock.backend.detach_lease(self)
        self.lock.backend = backend
        backend.attach_lease(self)
