"""Change detection around a center's cycle (SPEC 7): look at the sheet's modification stamp,
decide with domain/change_policy.py whether the cycle must read in full, and remember each full
read — in memory for `serve`, and in `state_dir/change/` so a one-shot `run` knows it next time.

The record is a cache, not the worker's memory: deleting it costs one full read, never a wrong
result (the sheet stays the only state that matters). Files are replaced whole (written aside,
renamed over), so a reader never sees half of one.

A backend offers `change_stamp()`: a local workbook one `stat`, Google Sheets one Drive
`files.get`. A backend that cannot tell (Drive API not enabled, scope not granted) answers None
and says why once per process; every cycle of that center is then a full read, as before.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..adapters.ports import SheetBackend
from ..config import CenterConfig, Config
from ..domain import change_policy
from ..domain.change_policy import FullRead
from ..logs import event_record
from ..monitor_state import replace_file_text, state_file_name

log = logging.getLogger("automation.changes")


@dataclass
class Look:
    """One cycle's look at a center: the stamp, and why a full read is needed ("" for none)."""

    stamp: dict[str, Any] | None
    reason: str
    record: FullRead | None
    compare_tabs: bool = True  # a full cycle reads the generated tabs: the day's first (SPEC 7)

    @property
    def idle(self) -> bool:
        return self.reason == ""


def config_digest(center: CenterConfig, config: Config) -> str:
    """What the rules and messages of a center depend on besides the sheet: a change of any of it
    (a ladder, a recipient, the language) must be applied at the next cycle, so it reads in full."""
    parts = (center, str(config.timezone),  # a ZoneInfo prints as its key
             config.language, config.escalation, config.review_window_days, config.schedule, config.mail)
    return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()[:32]


def schedule_of(config: Config) -> change_policy.Schedule:
    s = config.schedule
    return change_policy.Schedule(s.daily_digest_at, s.weekly_review_day, s.weekly_review_at, s.full_read_minutes)


class ChangeTracker:
    """The records of the last full reads, one per center."""

    def __init__(self, directory: Path, *, keep_in_memory: bool):
        self.directory = Path(directory) / "change"
        self.keep_in_memory = keep_in_memory
        self._memory: dict[str, FullRead] = {}
        self._lock = threading.Lock()
        self._warned_unwritable = False

    def path_for(self, center: str) -> Path:
        return self.directory / state_file_name(center)

    # --- a cycle's look ----------------------------------------------------------------------
    def look(self, center: CenterConfig, config: Config, backend: SheetBackend, now: dt.datetime) -> Look:
        """Take the stamp and decide. Raises the backend's AutomationError when the sheet's
        service is unreachable (the cycle fails as a full read would)."""
        stamp = backend.change_stamp()
        record = self._load(center.name)
        sheet, digest, local = sheet_identity(center), config_digest(center, config), now.astimezone(config.timezone)
        reason = change_policy.full_read_reason(record, sheet=sheet, config=digest, stamp=stamp, now=local,
                                                schedule=schedule_of(config))
        checked = change_policy.tabs_checked_today(record, sheet=sheet, config=digest, now=local)
        return Look(stamp, reason, record, compare_tabs=not checked)

    def remember(self, center: CenterConfig, config: Config, look: Look, now: dt.datetime, *,
                 wrote: bool, pending: bool, rows: int) -> None:
        """A full read finished: the stamp taken before it is what the next look compares with,
        and the day whose generated tabs were read (when this cycle read them) is kept."""
        local = now.astimezone(config.timezone)
        extra = {}
        if look.compare_tabs:
            extra[change_policy.TABS_CHECKED] = local.date().isoformat()
        elif look.record is not None and change_policy.TABS_CHECKED in look.record.extra:
            extra[change_policy.TABS_CHECKED] = look.record.extra[change_policy.TABS_CHECKED]
        record = FullRead(sheet=sheet_identity(center), config=config_digest(center, config), stamp=look.stamp,
                          at=local.isoformat(), wrote=wrote, pending=pending, rows=rows, extra=extra)
        with self._lock:
            if self.keep_in_memory:
                self._memory[center.name] = record
        self._write(center.name, record)

    def forget(self, center: str) -> None:
        """The cycle failed or was skipped: the next one reads in full."""
        with self._lock:
            self._memory.pop(center, None)
        try:
            self.path_for(center).unlink()
        except OSError:
            pass

    # --- storage -----------------------------------------------------------------------------
    def _load(self, center: str) -> FullRead | None:
        with self._lock:
            if center in self._memory:
                return self._memory[center]
        try:
            data = json.loads(self.path_for(center).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("center") != center:
            return None
        return FullRead.from_json(data.get("full_read"))

    def _write(self, center: str, record: FullRead) -> None:
        error = replace_file_text(self.path_for(center),
                                  json.dumps({"center": center, "full_read": record.as_json()}, ensure_ascii=False))
        if error is not None:
            if not self._warned_unwritable:
                self._warned_unwritable = True
                event_record(log, logging.WARNING, "change_state_unwritable",
                             f"無法寫入 {self.directory}（{error.strerror or type(error).__name__}）；"
                             f"運行不受影響，但每次運行都會完整讀取試算表。請檢查 state_dir 設定和權限",
                             state_dir=str(self.directory))


def sheet_identity(center: CenterConfig) -> str:
    if center.backend == "google":
        return f"google:{center.spreadsheet}"
    return f"local:{center.path}"
