"""A local cache for monitoring: when each center last had a successful cycle, and its last error.

SPEC 2.2: the worker keeps no state of its own outside the spreadsheet. Everything the rules and
messages need lives in the sheet. This cache is not such state: nothing the worker does depends
on it, and deleting it loses nothing (the next cycle writes it again). It exists because "when
did the worker last succeed" cannot be read from the sheet without writing it there every cycle,
and SPEC 4.1 forbids that (an idle cycle rewrites nothing and logs nothing).

`run` and `serve` write one small JSON file per center into the state folder (`state_dir` in the
config, default `state/` beside the config file); `status` reads them. Each file is replaced
whole (written aside, renamed over), so a reader never sees half a file. No owner data is kept:
counts, times, and error texts redacted like log lines.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import socket
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .logs import event_record, redact

log = logging.getLogger("automation.state")


@dataclass
class CenterState:
    center: str
    last_success: str = ""  # ISO time of the last cycle that ended with exit 0
    last_attempt: str = ""  # ISO time of the last cycle, whatever its outcome
    last_exit_code: int = 0
    last_error: str = ""  # the error of the last failed cycle (kept after a later success)
    last_error_at: str = ""
    last_skipped: str = ""  # why the last cycle skipped the center (another worker held it)
    last_skipped_at: str = ""
    summary: dict[str, Any] = field(default_factory=dict)  # counts of the last successful cycle
    host: str = ""
    pid: int = 0
    command: str = ""
    interval_minutes: int = 0

    @staticmethod
    def parse_time(text: str) -> dt.datetime | None:
        try:
            return dt.datetime.fromisoformat(text) if text else None
        except ValueError:
            return None


def state_file_name(center: str) -> str:
    """A file name any file system accepts, stable for a center name."""
    return "center-" + hashlib.sha256(center.encode("utf-8")).hexdigest()[:16] + ".json"


class StateStore:
    """The folder of per-center state files. Failures to write are logged once and ignored:
    monitoring must never stop the work it monitors."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._warned = False

    def path_for(self, center: str) -> Path:
        return self.directory / state_file_name(center)

    def load(self, center: str) -> CenterState | None:
        try:
            data = json.loads(self.path_for(center).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("center") != center:
            return None
        known = {name for name in CenterState.__dataclass_fields__}
        return CenterState(**{key: value for key, value in data.items() if key in known})

    def record(self, center: str, at: dt.datetime, *, exit_code: int, error: str = "", skipped: str = "",
               summary: dict[str, Any] | None = None, command: str = "", interval_minutes: int = 0) -> None:
        """Note a cycle's outcome. `skipped`: the center was not handled because another worker
        holds it; that is not a failure of this worker and leaves last_success alone."""
        with self._lock:
            state = self.load(center) or CenterState(center)
            stamp = at.isoformat(timespec="seconds")
            state.host, state.pid, state.command = socket.gethostname(), os.getpid(), command
            state.interval_minutes = interval_minutes
            if skipped:
                state.last_skipped, state.last_skipped_at = redact(skipped), stamp
            else:
                state.last_attempt, state.last_exit_code = stamp, exit_code
                if exit_code == 0:
                    state.last_success = stamp
                    state.summary = dict(summary or {})
                if error:
                    state.last_error, state.last_error_at = redact(error), stamp
            self._write(state)

    def _write(self, state: CenterState) -> None:
        error = replace_file_text(self.path_for(state.center), json.dumps(asdict(state), ensure_ascii=False, indent=1))
        if error is not None:
            if not self._warned:
                self._warned = True
                event_record(log, logging.WARNING, "state_unwritable",
                             f"無法寫入監控狀態文件夾 {self.directory}（{error.strerror or type(error).__name__}）；"
                             f"運行不受影響，但 status 看不到最近的運行。請檢查 state_dir 設定和權限",
                             state_dir=str(self.directory))


def replace_file_text(target: Path, text: str) -> OSError | None:
    """Write `text` aside and rename it over `target` (readers see the old or the new file, never
    half of one); the OSError when that failed, with nothing left behind. Threads and processes
    each write their own temporary file."""
    temp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, target)
    except OSError as error:
        try:
            temp.unlink()
        except OSError:
            pass
        return error
    return None
