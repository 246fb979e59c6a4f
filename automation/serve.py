"""`serve`: a cycle over every center every `interval_minutes`, until stopped (SPEC 5).

- The first cycle runs at once; then the `schedule` library decides when the next is due.
- A failing center is logged and the others go on; a failing cycle is logged and the loop goes on.
- SIGTERM / SIGINT stop it between cycles: a cycle under way lets the centers it started finish
  their writes and leaves the others for the next start; leases are released; exit 0.
- SIGHUP, or any change to the config file, reloads the config. A broken new config is logged
  and the last good one keeps running.
- Digests and reviews are due-driven (SPEC 4.2), so stopping or restarting at any time loses
  nothing: the next cycle sends what is due.

Time comes from a `Clock`. The `schedule` library reads `datetime.datetime.now()` itself, so it
is driven through subclasses (`ClockedScheduler`, `ClockedJob`) that ask our clock instead; the
library still keeps the job list, the units (`every(n).minutes`) and `run_pending`. Production
uses `SystemClock`; tests pass `--fake-clock START` (hidden) to get a `FakeClock`, where sleeping
jumps the clock forward at once, so several "5-minute" cycles run in well under a second.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import select
import signal
import socket
import threading
from pathlib import Path
from typing import Callable, Protocol

import schedule

from .config import Config, load_config
from .application.all_centers import CycleRunner, Shard, centers_of
from .errors import AutomationError
from .logs import event_record, register_secret

log = logging.getLogger("automation.serve")

# How often (in the clock's seconds) the loop wakes between cycles to look at the config file
# and at signals. Small enough that an edited config is picked up quickly; the file is tiny.
CONFIG_CHECK_SECONDS = 10.0


class Wakeable(Protocol):
    def wait(self, timeout: float) -> bool:
        """Return after `timeout` seconds, or earlier when woken."""


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current moment, timezone-aware."""

    def sleep(self, seconds: float, wake: Wakeable) -> None:
        """Wait `seconds`, or less if `wake` is set."""


class SystemClock:
    def __init__(self, timezone: dt.tzinfo):
        self.timezone = timezone

    def now(self) -> dt.datetime:
        return dt.datetime.now(self.timezone)

    def sleep(self, seconds: float, wake: Wakeable) -> None:
        wake.wait(max(0.0, seconds))


class FakeClock:
    """A clock for tests: starts at `start`, and sleeping moves it forward instantly.

    Each sleep also pauses for `real_pause` real seconds, so that a test watching the process
    (waiting for log lines, sending signals) is not outrun by thousands of cycles."""

    def __init__(self, start: dt.datetime, real_pause: float = 0.01):
        self._now = start
        self.real_pause = real_pause
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def sleep(self, seconds: float, wake: Wakeable) -> None:
        with self._lock:
            self._now += dt.timedelta(seconds=max(0.0, seconds))
        wake.wait(self.real_pause)


class ClockedJob(schedule.Job):
    """A schedule.Job whose notion of "now" is the scheduler's clock.

    Only plain intervals are supported (`every(n).seconds/minutes/hours`); `at()`, `until()` and
    `to()` are not used by the worker and are not honoured here."""

    def __init__(self, interval: int, scheduler: "ClockedScheduler"):
        super().__init__(interval, scheduler)
        self.clock = scheduler.clock

    @property
    def should_run(self) -> bool:
        return self.next_run is not None and self.clock.now() >= self.next_run

    def do(self, job_func: Callable, *args, **kwargs) -> "ClockedJob":
        """As schedule.Job.do, scheduling the first run by our clock."""
        self.job_func = functools.partial(job_func, *args, **kwargs)
        functools.update_wrapper(self.job_func, job_func)
        self.schedule_next_run()
        self.scheduler.jobs.append(self)
        return self

    def run(self):
        try:
            return self.job_func()
        finally:
            # Rescheduled even if the job raised, so a failing cycle cannot end the loop.
            self.last_run = self.clock.now()
            self.schedule_next_run()

    def schedule_next_run(self) -> None:
        if self.unit not in ("seconds", "minutes", "hours"):
            raise schedule.ScheduleValueError(f"ClockedJob supports seconds, minutes and hours, not {self.unit!r}")
        self.next_run = self.clock.now() + dt.timedelta(**{self.unit: self.interval})


class ClockedScheduler(schedule.Scheduler):
    """schedule.Scheduler with an injected clock (the library's own reads the system time)."""

    def __init__(self, clock: Clock):
        super().__init__()
        self.clock = clock

    def every(self, interval: int = 1) -> ClockedJob:
        return ClockedJob(interval, self)

    @property
    def idle_seconds(self) -> float | None:
        if not self.next_run:
            return None
        return (self.next_run - self.clock.now()).total_seconds()


class Flag:
    """A yes/no a signal handler may set: a plain attribute, no lock.

    (threading.Event.set() takes the event's internal lock; a signal arriving while the main
    thread holds that lock, say inside Event.clear(), would deadlock the process.) Worker
    threads read it through `is_set()`, like an Event."""

    def __init__(self):
        self._set = False

    def set(self) -> None:
        self._set = True

    def clear(self) -> None:
        self._set = False

    def is_set(self) -> bool:
        return self._set


class Waker:
    """Ends a sleep early from a signal handler without taking a lock: the handler writes a byte
    into a socket pair the sleep waits on with select()."""

    def __init__(self):
        self._receiver, self._sender = socket.socketpair()
        self._receiver.setblocking(False)
        self._sender.setblocking(False)

    def set(self) -> None:
        try:
            self._sender.send(b"\0")
        except OSError:  # the buffer is full: a wake-up is pending anyway
            pass

    def clear(self) -> None:
        try:
            while self._receiver.recv(4096):
                pass
        except OSError:  # nothing (more) to read
            pass

    def wait(self, timeout: float) -> bool:
        ready, _, _ = select.select([self._receiver], [], [], max(0.0, timeout))
        self.clear()
        return bool(ready)

    def close(self) -> None:
        self._receiver.close()
        self._sender.close()


def _fingerprint(path: Path) -> str:
    """The config file's content digest ("" when it cannot be read): a change of content, not a
    change of modification time, is what triggers a reload."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


class Server:
    """The serve loop. `run()` returns the exit code (0 after a stop signal)."""

    def __init__(self, config: Config, clock: Clock, *, shard: Shard | None = None):
        self.config = config
        self.config_path = Path(config.source)
        self.clock = clock
        self.shard = shard
        # Set from signal handlers, hence lock-free (see Flag and Waker).
        self.stop = Flag()
        self.reload_requested = Flag()
        self.wake = Waker()
        self.runner = CycleRunner(config, command="serve", shard=shard, keep=True, stop=self.stop)
        self.scheduler = ClockedScheduler(clock)
        self.job: ClockedJob | None = None
        self.cycles = 0
        self._good_fingerprint = _fingerprint(self.config_path)
        self._bad_fingerprint = ""
        self._settling_fingerprint = ""  # a new content seen once: judged when seen again unchanged

    # --- signals -------------------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop_signal)
        signal.signal(signal.SIGINT, self._on_stop_signal)
        if hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, self._on_reload_signal)

    def _on_stop_signal(self, signum, frame) -> None:
        # Only flags: the cycle under way finishes the centers it started (their writes), then
        # the loop ends. Logging happens in the loop, not in the handler.
        self.stop.set()
        self.wake.set()

    def _on_reload_signal(self, signum, frame) -> None:
        self.reload_requested.set()
        self.wake.set()

    # --- the loop ------------------------------------------------------------------------------
    def run(self) -> int:
        interval = self.config.schedule.interval_minutes
        event_record(log, logging.INFO, "serve_started",
                     f"開始運行：{self._describe_centers(self.config)}，每 {interval} 分鐘一輪，"
                     f"同時處理 {self.config.schedule.workers} 個服務中心；設定檔 {self.config_path}",
                     interval_minutes=interval, workers=self.config.schedule.workers,
                     shard=str(self.shard) if self.shard else "", config=str(self.config_path))
        try:
            self.job = self.scheduler.every(interval).minutes.do(self.cycle)
            self.job.run()  # the first cycle at once, then every interval
            while not self.stop.is_set():
                self.reload_if_changed()
                self.scheduler.run_pending()
                if self.stop.is_set():
                    break
                idle = self.scheduler.idle_seconds
                pause = CONFIG_CHECK_SECONDS if idle is None else min(max(idle, 0.0), CONFIG_CHECK_SECONDS)
                self.wake.clear()
                if self.stop.is_set():
                    break
                self.clock.sleep(pause, self.wake)
        finally:
            self.runner.close()
            self.wake.close()
        event_record(log, logging.INFO, "serve_stopped", f"已停止（共運行 {self.cycles} 輪），鎖已釋放", cycles=self.cycles)
        return 0

    def cycle(self) -> None:
        """One cycle over every center; whatever goes wrong is logged and the loop goes on."""
        if self.stop.is_set():
            return
        self.cycles += 1
        try:
            self.runner.run_cycle(self.clock.now())
        except Exception as error:  # a bug in the cycle itself (centers are guarded one by one)
            event_record(log, logging.ERROR, "cycle_failed",
                         f"第 {self.cycles} 輪運行失敗（內部錯誤 {type(error).__name__}），下一輪照常進行",
                         exc_info=True, cycle=self.cycles)

    # --- config reload -------------------------------------------------------------------------
    def reload_if_changed(self) -> None:
        """Reload the config when its content changed. A changed content is loaded only once it
        is the same at two checks in a row, so an editor still writing the file is not mistaken
        for a broken config; SIGHUP reloads at once."""
        forced = self.reload_requested.is_set()
        self.reload_requested.clear()
        fingerprint = _fingerprint(self.config_path)
        if not forced and fingerprint in (self._good_fingerprint, self._bad_fingerprint):
            self._settling_fingerprint = ""
            return
        if not forced and fingerprint != self._settling_fingerprint:
            self._settling_fingerprint = fingerprint
            return
        self._settling_fingerprint = ""
        try:
            config = load_config(self.config_path)
        except AutomationError as error:
            if fingerprint != self._bad_fingerprint or forced:
                event_record(log, logging.ERROR, "config_rejected",
                             f"新設定有誤，繼續使用上一份有效設定：{error}", config=str(self.config_path))
            self._bad_fingerprint = fingerprint
            return
        self._bad_fingerprint = ""
        self._good_fingerprint = fingerprint
        if config == self.config:
            return
        register_secret(_password_of(config))
        old_interval = self.config.schedule.interval_minutes
        self.config = config
        self.runner.replace_config(config)
        interval = config.schedule.interval_minutes
        if interval != old_interval and self.job is not None:
            self.scheduler.cancel_job(self.job)
            self.job = self.scheduler.every(interval).minutes.do(self.cycle)
        event_record(log, logging.INFO, "config_reloaded",
                     f"設定已重新載入：{self._describe_centers(config)}，每 {interval} 分鐘一輪",
                     interval_minutes=interval, centers=len(centers_of(config, self.shard)))

    def _describe_centers(self, config: Config) -> str:
        mine = len(centers_of(config, self.shard))
        if self.shard is None:
            return f"{mine} 個服務中心"
        return f"本機分片 {self.shard}：{mine} 個服務中心（共 {len(config.centers)} 個）"


def _password_of(config: Config) -> str | None:
    import os

    return os.environ.get(config.mail.password_env) if config.mail.password_env else None


def serve(config: Config, *, shard: Shard | None = None, fake_clock_start: dt.datetime | None = None) -> int:
    """Run until SIGTERM/SIGINT; returns 0 after a clean stop."""
    clock: Clock = FakeClock(fake_clock_start) if fake_clock_start is not None else SystemClock(config.timezone)
    server = Server(config, clock, shard=shard)
    server.install_signal_handlers()
    register_secret(_password_of(config))
    return server.run()
