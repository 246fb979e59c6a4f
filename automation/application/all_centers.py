"""One cycle over many centers, for `run` (once) and `serve` (every interval).

Centers are independent (SPEC 5: one center's failure does not stop the others), so they are
handled concurrently by a bounded pool of threads (`[schedule] workers`); the work is mostly
waiting on the network (Google Sheets, SMTP), which threads overlap well. Around each center:

- the sheet's lease (automation/adapters/locks.py), so two workers never both write one sheet;
- one log line for the operator (rows read, changed cells, escalations, messages, seconds, API
  requests when the backend counts them), and a warning per row whose 系統提示 newly appeared;
- the monitoring cache `status` reads (automation/monitor_state.py);
- change detection (SPEC 7, application/change_state.py): a cycle first looks at the sheet's
  modification stamp; when nothing changed and no moment passed it stops there — no lease, no
  read, no write, 0 Sheets requests.

`--shard I/N` keeps the centers whose name hashes to I of N, so N machines split a company's
centers between them; the hash (SHA-256 of the name) is stable across runs and machines.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .. import wiring
from ..adapters import locks
from ..config import CenterConfig, Config, state_directory
from ..errors import AutomationError, ConfigError
from ..logs import event_record
from ..monitor_state import StateStore
from ..domain.records import CenterResult
from .change_state import ChangeTracker, Look
from .holding_transport import HoldingTransport

log = logging.getLogger("automation.cycle")

MAX_NOTES_LOGGED = 20  # per center per cycle; a first run over years of history would flood
HEALTHY_INTERVALS = 3  # a lease lives, and `status` tolerates, this many intervals without a cycle


@dataclass(frozen=True)
class Shard:
    """This machine's part of the centers: number `index` (1-based) of `count`."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> "Shard":
        try:
            index_text, count_text = text.split("/")
            shard = cls(int(index_text), int(count_text))
        except ValueError:
            raise ConfigError(f"--shard {text!r} 應寫成 I/N，例如 1/3（三台機器中的第一台）") from None
        if not (shard.count >= 1 and 1 <= shard.index <= shard.count):
            raise ConfigError(f"--shard {text!r}：I 必須在 1 到 N 之間，例如 1/3、2/3、3/3")
        return shard

    def includes(self, center_name: str) -> bool:
        digest = hashlib.sha256(center_name.encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def centers_of(config: Config, shard: Shard | None) -> list[CenterConfig]:
    return [c for c in config.centers if shard is None or shard.includes(c.name)]


def state_dir_of(config: Config) -> Path:
    return state_directory(config)


@dataclass
class CenterOutcome:
    """What became of one center in one cycle."""

    center: CenterConfig
    exit_code: int = 0
    result: CenterResult | None = None
    error: str = ""  # the user-visible error, as `run` prints it after "錯誤："
    internal: bool = False  # a bug, not something the user caused
    held: bool = False  # another worker holds the sheet: skipped
    not_started: bool = False  # stopping: the center waits for the next cycle
    api_requests: int | None = None
    drive_requests: int | None = None
    seconds: float = 0.0
    traceback: str = field(default="", repr=False)

    @property
    def succeeded(self) -> bool:
        return self.result is not None and self.exit_code == 0


def _difference(after: int | None, before: int | None) -> int | None:
    return after - before if before is not None and after is not None else None


class CycleRunner:
    """Runs cycles over a config's centers (this shard's).

    `keep=True` (serve): backends and leases live from one cycle to the next, so a backend can
    keep what it learnt about a spreadsheet (an idle cycle then costs one request) and a sheet
    stays ours while we run. `keep=False` (run): both are let go at the end of each center.
    `stop` (anything with `is_set()`): once set, centers not yet started are left for the next
    cycle; those under way finish their writes. `monotonic` only measures durations for the log."""

    def __init__(self, config: Config, *, command: str, shard: Shard | None = None, keep: bool = False,
                 stop: Any = None, monotonic: Callable[[], float] = time.monotonic):
        self.command = command
        self.shard = shard
        self.keep = keep
        self.stop = stop if stop is not None else threading.Event()
        self.monotonic = monotonic
        self._guard = threading.Lock()
        self._backends: dict[str, tuple[CenterConfig, Any]] = {}
        self._leases: dict[str, tuple[CenterConfig, Any]] = {}
        self._reported_holders: dict[str, str] = {}  # center → token of the other holder last logged
        self._warned_unlocked: set[str] = set()
        self.changes: ChangeTracker | None = None
        self.config = config
        self._apply(config)

    # --- configuration -------------------------------------------------------------------------
    def _apply(self, config: Config) -> None:
        self.config = config
        self.owner = locks.LockOwner.this_process(
            self.command, dt.timedelta(minutes=HEALTHY_INTERVALS * config.schedule.interval_minutes), keeps=self.keep)
        self.state = StateStore(state_dir_of(config))
        if self.changes is None or self.changes.directory.parent != state_dir_of(config):
            self.changes = ChangeTracker(state_dir_of(config), keep_in_memory=self.keep)

    def replace_config(self, config: Config) -> None:
        """Take a reloaded config: backends are rebuilt; leases of centers that left this shard
        or changed are released, the others kept."""
        wanted = {c.name: c for c in centers_of(config, self.shard)}
        with self._guard:
            self._backends.clear()
            for name, (center, lease) in list(self._leases.items()):
                if wanted.get(name) != center:
                    del self._leases[name]
                    self._release_quietly(lease)
        self._apply(config)

    def centers(self) -> list[CenterConfig]:
        return centers_of(self.config, self.shard)

    def close(self) -> None:
        """Release every lease (serve stopping)."""
        with self._guard:
            leases = [lease for _, lease in self._leases.values()]
            self._leases.clear()
        for lease in leases:
            self._release_quietly(lease)

    @staticmethod
    def _release_quietly(lease) -> None:
        try:
            lease.release()
        except OSError:
            pass  # an unreleased lease expires on its own

    # --- one cycle -----------------------------------------------------------------------------
    def run_cycle(self, now: dt.datetime, *, dry_run: bool = False,
                  on_outcome: Callable[[CenterOutcome], None] | None = None,
                  on_progress: Callable[[int, int, CenterOutcome], None] | None = None) -> list[CenterOutcome]:
        """Handle every center once. `on_outcome` is called in config order, each as soon as it
        and all before it are done; `on_progress(done, total, outcome)` in completion order."""
        config = self.config
        centers = self.centers()
        started = self.monotonic()
        outcomes: list[CenterOutcome] = []
        if centers:
            workers = max(1, min(config.schedule.workers, len(centers)))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="center") as pool:
                futures = [pool.submit(self._handle, config, center, now, dry_run) for center in centers]
                pending, emitted, done_count = set(futures), 0, 0
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        done_count += 1
                        if on_progress is not None:
                            on_progress(done_count, len(futures), future.result())
                    while emitted < len(futures) and futures[emitted].done():
                        if on_outcome is not None:
                            on_outcome(futures[emitted].result())
                        emitted += 1
                outcomes = [future.result() for future in futures]
        self._log_cycle(outcomes, self.monotonic() - started, now)
        return outcomes

    def _handle(self, config: Config, center: CenterConfig, now: dt.datetime, dry_run: bool) -> CenterOutcome:
        """One center; never raises (a bug in one center must not stop the others)."""
        if self.stop.is_set():
            return CenterOutcome(center, not_started=True)
        started = self.monotonic()
        outcome = CenterOutcome(center)
        backend = None
        requests_before = drive_before = None
        try:
            # A one-shot run looks at a workbook's stamp without opening it (nor importing what
            # opens it); a kept or Google backend gives the stamp itself.
            source = None if (self.keep or dry_run) else wiring.stamp_source_for(center)
            backend = self._backend(config, center) if source is None else None
            if backend is not None:
                requests_before, drive_before = backend.request_count, backend.drive_request_count
            # A dry run always reads: it is asked to show what a cycle would change.
            look = None if dry_run else self.changes.look(center, config, source or backend, now)
            if look is not None and look.idle:
                result = CenterResult(center.name, rows=look.record.rows, idle=True)
            else:
                backend = backend or self._backend(config, center)
                result = self._full_cycle(config, center, now, backend, dry_run, look)
            outcome.result, outcome.exit_code, outcome.error = result, result.exit_code, result.error
        except locks.SheetHeldError as error:
            outcome.exit_code, outcome.error, outcome.held = error.exit_code, str(error), True
            self._note_holder(center, error)
            with self._guard:  # another worker has the sheet: ask afresh next cycle
                self._leases.pop(center.name, None)
        except AutomationError as error:
            outcome.exit_code, outcome.error = error.exit_code, str(error)
        except Exception as error:  # a bug must not stop the other centers
            outcome.exit_code, outcome.internal = 1, True
            outcome.error = f"服務中心「{center.name}」運行失敗（內部錯誤 {type(error).__name__}）"
            outcome.traceback = traceback.format_exc()
            self._drop_backend(center.name)  # whatever the backend kept may be what broke
        if outcome.result is None and not dry_run:
            self.changes.forget(center.name)  # whatever happened, the next cycle reads in full
        if backend is not None:
            outcome.api_requests = _difference(backend.request_count, requests_before)
            outcome.drive_requests = _difference(backend.drive_request_count, drive_before)
        outcome.seconds = self.monotonic() - started
        self._report(config, outcome, now, dry_run)
        return outcome

    def _full_cycle(self, config: Config, center: CenterConfig, now: dt.datetime, backend,
                    dry_run: bool, look: Look | None) -> CenterResult:
        """Lease, read, rules, write, send; then remember the read (SPEC 7)."""
        from . import one_center  # pandas and the rules: not needed by a cycle that only looked

        transport = None if dry_run else wiring.transport_for(config)
        lease = None
        if not dry_run:
            lease = self._unless_unwritable(config, center, backend)
            # A lazily written lease (Google Sheets) is held before the first message goes out.
            transport = HoldingTransport(transport, lease)
        try:
            result = one_center.run_center(center, config, now, backend, transport, dry_run=dry_run,
                                           compare_tabs=look is None or look.compare_tabs)
            if self.keep and not dry_run:
                try:
                    lease.hold()  # serve: a lazily written lease is written once a cycle went well
                except locks.SheetHeldError:
                    raise
                except AutomationError:
                    pass  # the cycle's work is done; the next one writes the lease
        finally:
            backend.cycle_finished()
            if not self.keep:
                self._let_go(center.name)
        if look is not None:
            result.full_read_reason = look.reason
            self.changes.remember(center, config, look, now, rows=result.rows,
                                  wrote=bool(result.cells_written or result.tabs_written or result.log_rows),
                                  pending=bool(result.exit_code or result.messages_failed))
        return result

    def _backend(self, config: Config, center: CenterConfig):
        if not self.keep:
            return wiring.backend_for(center, config)
        with self._guard:
            cached = self._backends.get(center.name)
        if cached is not None and cached[0] == center:
            return cached[1]
        backend = wiring.backend_for(center, config)
        with self._guard:
            self._backends[center.name] = (center, backend)
        return backend

    def _drop_backend(self, name: str) -> None:
        with self._guard:
            self._backends.pop(name, None)

    # --- leases --------------------------------------------------------------------------------
    def _take_lease(self, config: Config, center: CenterConfig, backend):
        with self._guard:
            held = self._leases.get(center.name)
        if held is not None and held[0] == center:
            try:
                held[1].rebind(backend)  # the backend may have been rebuilt (config reloaded)
                held[1].refresh()
                return held[1]
            except locks.SheetHeldError:
                with self._guard:
                    self._leases.pop(center.name, None)
                event_record(log, logging.WARNING, "lease_lost",
                             f"服務中心「{center.name}」：本進程的鎖已被接管（超過有效期未刷新），"
                             f"改由其他程序處理", center=center.name)
                raise
        lock = locks.lock_for(center, backend, timezone=config.timezone)
        if isinstance(lock, locks.NoLock) and center.name not in self._warned_unlocked:
            self._warned_unlocked.add(center.name)
            # serve says it once per process; a cron `run` would repeat it every few minutes.
            event_record(log, logging.WARNING if self.keep else logging.INFO, "no_lock",
                         f"服務中心「{center.name}」：此後端暫不支持「一個試算表只由一個程序處理」的鎖；"
                         f"請勿讓兩台機器同時處理同一試算表", center=center.name)
        lease = lock.acquire(self.owner)
        takeover = lock.last_takeover
        if takeover:
            previous, why = takeover
            reasons = {"expired": "已過期", "process_ended": "其進程已結束", "machine_restarted": "其機器已重啟"}
            event_record(log, logging.INFO, "lease_takeover",
                         f"服務中心「{center.name}」：接管 {previous.describe(config.timezone)} 留下的鎖"
                         f"（{reasons.get(why, why)}）", center=center.name, previous_host=previous.host,
                         previous_pid=previous.pid, reason=why)
        self._reported_holders.pop(center.name, None)
        with self._guard:
            self._leases[center.name] = (center, lease)
        return lease

    def _unless_unwritable(self, config: Config, center: CenterConfig, backend):
        """The sheet's lease; a lease that holds nothing when its lock file cannot be written (a
        read-only folder, a full disk): the cycle still runs, so its 緊急 alerts go out, and its
        write fails naming the folder and the cause (SPEC 6)."""
        try:
            return self._take_lease(config, center, backend)
        except OSError as error:
            event_record(log, logging.WARNING, "lease_unwritable",
                         f"服務中心「{center.name}」：無法寫入鎖文件（{error.strerror or type(error).__name__}：{error.filename}）；"
                         f"本輪不加鎖運行", center=center.name)
            return locks.NoLock(center.name).acquire(self.owner)

    def _let_go(self, name: str) -> None:
        with self._guard:
            held = self._leases.pop(name, None)
        if held is not None:
            self._release_quietly(held[1])

    def _note_holder(self, center: CenterConfig, error: locks.SheetHeldError) -> None:
        """Log a foreign holder once, not every cycle (a standby serve would repeat it forever)."""
        token = error.holder.token if error.holder else ""
        first = self._reported_holders.get(center.name) != token
        self._reported_holders[center.name] = token
        if first:
            event_record(log, logging.WARNING, "center_held", str(error), center=center.name,
                         holder_host=error.holder.host if error.holder else "",
                         holder_pid=error.holder.pid if error.holder else 0)

    # --- reporting -----------------------------------------------------------------------------
    def _report(self, config: Config, outcome: CenterOutcome, now: dt.datetime, dry_run: bool) -> None:
        center = outcome.center.name
        result = outcome.result
        fields: dict[str, Any] = {"center": center, "exit_code": outcome.exit_code, "seconds": round(outcome.seconds, 3),
                                  "cycle_at": now.isoformat(timespec="seconds")}
        if dry_run:
            fields["dry_run"] = True
        if result is not None:
            fields.update(rows=result.rows, cells_written=result.cells_written, tabs_written=len(result.tabs_written),
                          escalations=result.escalations, messages_sent=result.messages_sent,
                          messages_failed=result.messages_failed, log_rows=result.log_rows)
        if outcome.api_requests is not None:
            fields["api_requests"] = outcome.api_requests
        if outcome.drive_requests:
            fields["drive_requests"] = outcome.drive_requests
        if result is not None and result.idle:
            fields["idle"] = True
        elif result is not None and result.full_read_reason:
            fields["full_read"] = result.full_read_reason
        if result is not None:
            message = center_line(outcome, dry_run)
            level = logging.INFO if outcome.exit_code == 0 else logging.WARNING
            if outcome.exit_code:
                message += f"；{result.error}"
                fields["error"] = result.error
        else:
            message = outcome.error if center in outcome.error else f"服務中心「{center}」：{outcome.error}"
            fields["error"] = outcome.error
            # A held sheet is not this worker's failure; who holds it was logged once, by
            # _note_holder: saying it again each cycle (at the default level) would repeat it.
            level = logging.DEBUG if outcome.held else logging.ERROR
            if outcome.held:
                fields["held"] = True
        if outcome.internal:
            message += "\n" + outcome.traceback.rstrip()
        event_record(log, level, "center_cycle", message, **fields)

        if result is not None and not dry_run and result.new_notes:
            for row, record_id, note in result.new_notes[:MAX_NOTES_LOGGED]:
                event_record(log, logging.WARNING, "row_note",
                             f"服務中心「{center}」第 {row} 行 {record_id}：{note}",
                             center=center, row=row, record_id=record_id, note=note)
            extra = len(result.new_notes) - MAX_NOTES_LOGGED
            if extra > 0:
                event_record(log, logging.WARNING, "row_note",
                             f"服務中心「{center}」：另有 {extra} 行出現新的系統提示（見主分頁「系統提示」欄）",
                             center=center, more_rows=extra)

        if result is not None and not dry_run:
            for (row, record_id, _), line in zip(result.skipped_rows, result.skipped_lines):
                event_record(log, logging.WARNING, "row_skipped", f"服務中心「{center}」{line}",
                             center=center, row=row, record_id=record_id)

        if dry_run or outcome.not_started:
            return
        summary = {key: fields[key] for key in ("rows", "cells_written", "escalations", "messages_sent",
                                                "messages_failed", "seconds", "api_requests", "drive_requests", "idle")
                   if key in fields}
        self.state.record(center, now, exit_code=outcome.exit_code,
                          error="" if outcome.held else (outcome.error if outcome.exit_code else ""),
                          skipped=outcome.error if outcome.held else "", summary=summary,
                          command=self.command, interval_minutes=config.schedule.interval_minutes)

    def _log_cycle(self, outcomes: list[CenterOutcome], seconds: float, now: dt.datetime) -> None:
        handled = [o for o in outcomes if not o.not_started]
        succeeded = sum(1 for o in handled if o.exit_code == 0)
        held = sum(1 for o in handled if o.held)
        failed = len(handled) - succeeded - held
        not_started = len(outcomes) - len(handled)
        requests = [o.api_requests for o in handled if o.api_requests is not None]
        drive = sum(o.drive_requests or 0 for o in handled)
        idle = sum(1 for o in handled if o.result is not None and o.result.idle)
        parts = [f"{len(handled)} 個服務中心", f"成功 {succeeded}"]
        if held:
            parts.append(f"由其他程序處理而跳過 {held}")
        if failed:
            parts.append(f"失敗 {failed}")
        if not_started:
            parts.append(f"因停止未開始 {not_started}（下次運行處理）")
        if idle:
            parts.append(f"無變更未讀取 {idle}")
        if requests:
            parts.append(f"API 請求 {sum(requests)} 次")
        if drive:
            parts.append(f"Drive 請求 {drive} 次")
        fields: dict[str, Any] = {"centers": len(handled), "succeeded": succeeded, "failed": failed, "held": held,
                                  "not_started": not_started, "seconds": round(seconds, 3),
                                  "cycle_at": now.isoformat(timespec="seconds")}
        if requests:
            fields["api_requests"] = sum(requests)
        fields.update(drive_requests=drive, idle=idle)
        event_record(log, logging.INFO, "cycle_done", "本輪完成：" + "，".join(parts) + f"（用時 {seconds:.1f} 秒）",
                     **fields)


def center_line(outcome: CenterOutcome, dry_run: bool) -> str:
    """The operator's line for a center that ran (rows, cells, escalations, messages, time)."""
    result = outcome.result
    if result.idle:
        parts = ["自上次完整讀取後無變更，未讀取（只查看了修改時間）"]
    elif dry_run:
        parts = [f"試運行：讀取 {result.rows} 行", f"將修改 {result.cells_written} 個儲存格"]
    else:
        parts = [f"讀取 {result.rows} 行", f"修改 {result.cells_written} 個儲存格", f"升級 {result.escalations} 項",
                 f"發送郵件 {result.messages_sent} 封"]
        if result.messages_failed:
            parts.append(f"發送失敗 {result.messages_failed} 封")
        if result.tabs_written:
            parts.append(f"更新分頁 {len(result.tabs_written)} 個")
    parts.append(f"用時 {outcome.seconds:.2f} 秒")
    if outcome.api_requests is not None:
        parts.append(f"API 請求 {outcome.api_requests} 次")
    return f"{result.center}：" + "，".join(parts)


@contextlib.contextmanager
def center_lease(center: CenterConfig, backend, config: Config, *, command: str):
    """Hold a center's sheet lease for the block (one-off writers such as `init`);
    SheetHeldError (exit 4) when another worker holds it."""
    owner = locks.LockOwner.this_process(
        command, dt.timedelta(minutes=HEALTHY_INTERVALS * config.schedule.interval_minutes))
    lease = locks.lock_for(center, backend, timezone=config.timezone).acquire(owner)
    try:
        yield lease
    finally:
        CycleRunner._release_quietly(lease)
