"""One worker per sheet: a lease that says which process writes a center's sheet.

Two workers pointed at the same sheet (two machines, or `run` while `serve` is running) must never
both write it. Before a center's cycle writes, the worker takes the sheet's lease; a worker that
finds it held by someone else skips the center (exit 4, "locked by another program", SPEC 5) and
says who holds it: host, process id, command, since when.

`serve` keeps its leases for as long as it runs and refreshes them every cycle; `run` takes them
for one cycle. A lease expires when its holder dies:
- on the holder's own machine, at once: its process is gone (or the machine restarted since);
- from anywhere, when it was not refreshed for its time to live (`ttl`, three intervals by
  default): the holder stopped cycling — dead on another machine, or hung.

The interface (`SheetLock.acquire(owner) -> Lease`, `Lease.refresh()`, `Lease.release()`) is
backend-neutral; `LocalFileLock` implements it for a workbook with a lock file beside it. The
judgement of whether a found lease still stands (`lease_is_stale`) is a pure function so a Google
Sheets implementation (the lease kept in the spreadsheet's developer metadata) can share it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

from ..errors import WorkbookLockedError
from .ports import Lease, SheetBackend, SheetLock

LOCK_SUFFIX = ".worker-lock"
DEFAULT_TTL_INTERVALS = 3


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _read_first_line(path: str) -> str:
    try:
        with open(path, encoding="ascii") as handle:
            return handle.readline().strip()
    except OSError:
        return ""


def machine_identity() -> tuple[str, str, str]:
    """(host name, machine id, boot id). The ids are blank where the system does not offer them.

    The machine id tells two machines with the same host name apart; the boot id tells whether
    a lease was written before the machine last restarted (its process ids mean nothing now)."""
    return (
        socket.gethostname(),
        _read_first_line("/etc/machine-id") or _read_first_line("/var/lib/dbus/machine-id"),
        _read_first_line("/proc/sys/kernel/random/boot_id"),
    )


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class Holder:
    """Who holds a sheet's lease. Times are aware (UTC when written)."""

    host: str
    pid: int
    command: str  # "serve" or "run"
    since: dt.datetime
    expires: dt.datetime
    token: str
    machine_id: str = ""
    boot_id: str = ""

    def to_json(self) -> str:
        data = asdict(self)
        data["since"] = self.since.isoformat()
        data["expires"] = self.expires.isoformat()
        return json.dumps(data, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Holder | None":
        """The holder a lease record names, or None when the record is unreadable."""
        try:
            data = json.loads(text)
            return cls(
                host=str(data["host"]), pid=int(data["pid"]), command=str(data.get("command", "")),
                since=dt.datetime.fromisoformat(data["since"]), expires=dt.datetime.fromisoformat(data["expires"]),
                token=str(data["token"]), machine_id=str(data.get("machine_id", "")),
                boot_id=str(data.get("boot_id", "")),
            )
        except (ValueError, KeyError, TypeError):
            return None

    def describe(self, timezone: dt.tzinfo | None = None) -> str:
        since = self.since.astimezone(timezone) if timezone else self.since
        if not self.token:
            return f"一個未寫完的鎖記錄（{since:%Y-%m-%d %H:%M:%S}，建立它的程序中途被終止）"
        return f"{self.host} 上的進程 {self.pid}（{self.command or '未知命令'}，自 {since:%Y-%m-%d %H:%M:%S} 起）"


@dataclass(frozen=True)
class LockOwner:
    """The process asking for leases: who it is and how long its leases live unrefreshed."""

    command: str
    ttl: dt.timedelta
    host: str = ""
    pid: int = 0
    machine_id: str = ""
    boot_id: str = ""
    # Holds its leases from cycle to cycle (serve). A backend that writes its lease lazily (Google
    # Sheets) writes a kept one for good, and a one-shot one only while it is needed.
    keeps: bool = False

    @classmethod
    def this_process(cls, command: str, ttl: dt.timedelta, *, keeps: bool = False) -> "LockOwner":
        host, machine_id, boot_id = machine_identity()
        return cls(command=command, ttl=ttl, host=host, pid=os.getpid(), machine_id=machine_id, boot_id=boot_id,
                   keeps=keeps)

    def new_holder(self, now: dt.datetime) -> Holder:
        return Holder(host=self.host, pid=self.pid, command=self.command, since=now, expires=now + self.ttl,
                      token=uuid.uuid4().hex, machine_id=self.machine_id, boot_id=self.boot_id)


def lease_is_stale(holder: Holder, owner: LockOwner, now: dt.datetime,
                   alive: Callable[[int], bool] = process_alive) -> str:
    """Why a found lease no longer stands ("" when it does). Pure apart from `alive`.

    Expired: not refreshed within its time to live. On our machine: written before the last
    restart, or its process is gone. A lease from another machine is only ever judged by its
    expiry: its process ids mean nothing here."""
    if now > holder.expires:
        return "expired"
    same_machine = holder.host == owner.host and (
        not holder.machine_id or not owner.machine_id or holder.machine_id == owner.machine_id)
    if not same_machine:
        return ""
    if holder.boot_id and owner.boot_id and holder.boot_id != owner.boot_id:
        return "machine_restarted"
    if holder.pid != owner.pid and not alive(holder.pid):
        return "process_ended"
    return ""


class SheetHeldError(WorkbookLockedError):
    """The sheet's lease is held by another worker (exit 4): this center is skipped this time."""

    def __init__(self, message: str, holder: Holder | None):
        super().__init__(message)
        self.holder = holder


class LeaseLostError(SheetHeldError):
    """A lease this process held was taken over (it had expired): the center is skipped."""


def lock_path_for(workbook: Path) -> Path:
    """`.錦繡花園.xlsx.worker-lock` beside `錦繡花園.xlsx`: hidden, and next to what it guards."""
    workbook = Path(workbook)
    return workbook.with_name(f".{workbook.name}{LOCK_SUFFIX}")


# Without the folder guard a reader may catch a lock file between its creation and its content;
# such a record is treated as held for this long, then as the remnant of a crash.
UNGUARDED_DAMAGED_GRACE = dt.timedelta(seconds=30)


@contextlib.contextmanager
def _directory_guard(directory: Path) -> Iterator[bool]:
    """Serialise lease changes in one folder among this machine's processes (flock on the folder);
    yields whether the guard holds.

    The lock file itself is created with O_CREAT|O_EXCL, atomic everywhere. Under the guard every
    change (create and write, refresh, take over, remove) is whole before anyone else looks, so
    a record found empty or damaged there is the remnant of a process killed mid-write, and two
    processes cannot replace the same stale lease at once. flock is released by the kernel when
    its holder dies. Where flock is missing (Windows) or refused (some network file systems) the
    guard is skipped and O_EXCL alone decides."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield False
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            guarded = True
        except OSError:
            guarded = False
        yield guarded
    finally:
        os.close(fd)  # closing releases the flock


class LocalFileLock(SheetLock):
    """The lease of a local workbook: a small JSON file beside it.

    `.<workbook name>.worker-lock` holds host, pid, command, since, expiry and a random token.
    Created with O_CREAT|O_EXCL (atomic: of two creators one fails); refreshed by writing a new
    file aside and renaming it over; removed on release. A process that dies leaves the file
    behind; the next worker finds it stale (see `lease_is_stale`) and replaces it.
    """

    def __init__(self, workbook: Path, center: str, *, clock: Callable[[], dt.datetime] = utc_now,
                 alive: Callable[[int], bool] = process_alive, timezone: dt.tzinfo | None = None):
        self.workbook = Path(workbook)
        self.path = lock_path_for(self.workbook)
        self.center = center
        self.clock = clock
        self.alive = alive
        self.timezone = timezone
        self.last_takeover: tuple[Holder, str] | None = None  # (previous holder, why stale), for logs

    def describe(self) -> str:
        return f"工作簿 {self.workbook.name}"

    def read(self, guarded: bool = True) -> Holder | None:
        """The current holder, None when there is no lock file.

        An empty or damaged record reads as a holder of unknown identity that has already
        expired when `guarded` (it can only be a crash remnant, see _directory_guard), and
        otherwise expires UNGUARDED_DAMAGED_GRACE after the file was last written."""
        try:
            text = self.path.read_text(encoding="utf-8")
            modified = dt.datetime.fromtimestamp(self.path.stat().st_mtime, dt.timezone.utc)
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError):
            text, modified = "", self.clock()
        holder = Holder.from_json(text)
        if holder is None:
            grace = dt.timedelta(0) if guarded else UNGUARDED_DAMAGED_GRACE
            holder = Holder(host="?", pid=0, command="", since=modified, expires=modified + grace - dt.timedelta(microseconds=1),
                            token="")
        return holder

    def held_message(self, holder: Holder) -> str:
        expires = holder.expires.astimezone(self.timezone) if self.timezone else holder.expires
        return (
            f"服務中心「{self.center}」：{self.describe()} 正由 {holder.describe(self.timezone)}處理；"
            f"本次跳過此服務中心，以免兩個程序同時寫入。若該進程已不存在，鎖在 {expires:%Y-%m-%d %H:%M} 後失效"
            f"（鎖文件 {self.path.name}）"
        )

    def _create(self, holder: Holder) -> bool:
        """Create the lock file holding `holder`; False if it already exists."""
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(holder.to_json())
            handle.flush()
            os.fsync(handle.fileno())
        return True

    def _rewrite(self, holder: Holder) -> None:
        """Overwrite the lock file's record in place (under the guard nobody reads meanwhile;
        no temp file is left behind if the process is killed)."""
        with open(self.path, "r+", encoding="utf-8") as handle:
            handle.truncate(0)
            handle.write(holder.to_json())
            handle.flush()
            os.fsync(handle.fileno())

    def acquire(self, owner: LockOwner) -> "LocalLease":
        directory = self.path.parent
        if not directory.is_dir():
            # No folder, no workbook: let the backend report the missing workbook (exit 3).
            return LocalLease(self, owner, owner.new_holder(self.clock()), active=False)
        with _directory_guard(directory) as guarded:
            now = self.clock()
            mine = owner.new_holder(now)
            self.last_takeover = None
            if self._create(mine):
                return LocalLease(self, owner, mine)
            found = self.read(guarded)
            if found is None:  # removed between our attempt and the read
                if self._create(mine):
                    return LocalLease(self, owner, mine)
                found = self.read(guarded)
            why = lease_is_stale(found, owner, now, self.alive) if found else ""
            if found is not None and not why:
                raise SheetHeldError(self.held_message(found), found)
            try:
                self._rewrite(mine)
            except FileNotFoundError:  # removed meanwhile (unguarded): create, or lose the race
                if not self._create(mine):
                    other = self.read(guarded)
                    raise SheetHeldError(self.held_message(other) if other else self.describe(), other) from None
            self.last_takeover = (found, why) if found else None
            return LocalLease(self, owner, mine)


class LocalLease(Lease):
    """A held lease on a local workbook."""

    def __init__(self, lock: LocalFileLock, owner: LockOwner, holder: Holder, active: bool = True):
        self.lock = lock
        self.owner = owner
        self.holder = holder
        self.active = active

    def refresh(self) -> None:
        lock = self.lock
        if not self.active:
            # The folder did not exist when acquired; try for real now.
            fresh = lock.acquire(self.owner)
            self.holder, self.active = fresh.holder, fresh.active
            return
        with _directory_guard(lock.path.parent) as guarded:
            now = lock.clock()
            found = lock.read(guarded)
            if found is not None and found.token != self.holder.token:
                self.active = False
                raise LeaseLostError(lock.held_message(found), found)
            self.holder = replace(self.holder, expires=now + self.owner.ttl)
            if found is None:
                if not lock._create(self.holder):  # someone created one meanwhile
                    self.active = False
                    other = lock.read(guarded)
                    raise LeaseLostError(lock.held_message(other) if other else lock.describe(), other)
            else:
                lock._rewrite(self.holder)

    def release(self) -> None:
        if not self.active:
            return
        self.active = False
        lock = self.lock
        with _directory_guard(lock.path.parent) as guarded:
            found = lock.read(guarded)
            if found is not None and found.token == self.holder.token:
                with contextlib.suppress(FileNotFoundError):
                    lock.path.unlink()


class NoLock(SheetLock):
    """For a backend that offers no lease yet: nothing prevents two workers; says so once."""

    def __init__(self, what: str):
        self.what = what

    def describe(self) -> str:
        return self.what

    def acquire(self, owner: LockOwner) -> "NoLease":
        return NoLease(owner.new_holder(utc_now()))


class NoLease(Lease):

    def __init__(self, holder: Holder):
        self.holder = holder

    def refresh(self) -> None:
        pass

    def release(self) -> None:
        pass


def lock_for(center, backend: SheetBackend, *, timezone: dt.tzinfo | None = None) -> SheetLock:
    """The lease of a center's sheet: the backend's own (`backend.worker_lock()`, e.g. Google
    Sheets developer metadata), a lock file for a local workbook, or NoLock."""
    offered = backend.worker_lock()
    if offered is not None:
        return offered
    if center.backend == "local" and center.path is not None:
        return LocalFileLock(center.path, center.name, timezone=timezone)
    return NoLock(f"服務中心「{center.name}」的試算表")
