"""Helpers for the operations tests (serve, status, locks, logs): real workbooks, real configs,
and the real worker in a child process (`python -m automation …`), watched through its log.

Waiting is always for a condition (a log record, a file), with a generous limit that only keeps a
broken build from hanging CI; no test asserts how long anything took.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Iterable

from tests.workbooks import build_workbook, row

ROOT = Path(__file__).resolve().parent.parent
STAFF_HEADERS = ["接待日期", "接待渠道", "業主姓名", "聯系電話", "房號", "事由", "類別", "責任部門", "處理結果",
                 "完成日期", "主管審核", "經理審核", "回訪滿意度"]
SAFETY_LIMIT = 60.0  # seconds; reached only when something is broken


def make_workbook(path: Path, rows: Iterable[dict[str, Any]] | None = None) -> Path:
    rows = list(rows) if rows is not None else [
        row("2026-03-09 10:00", 事由="電梯按鍵失靈", 房號="1-1201", 類別="報修"),
        row("2026-03-10 08:05", 事由="申請裝修出入證", 房號="2-0303", 類別="其他", 聯系電話="13987654321"),
    ]
    return build_workbook(path, STAFF_HEADERS, rows, staff_tabs=False)


def write_config(folder: Path, centers: list[tuple[str, str]], *, interval: int = 5, workers: int = 2,
                 mail: str = "", top: str = "", name: str = "config.toml") -> Path:
    """A config as an admin writes it. `centers`: (name, workbook path relative to the folder)."""
    lines = ['timezone = "Asia/Shanghai"', 'language = "zh-Hant"', top, "",
             "[schedule]", f"interval_minutes = {interval}", f"workers = {workers}", 'daily_digest_at = "08:30"', "",
             "[mail]", mail or 'transport = "outbox"\noutbox_dir = "outbox"', ""]
    for center_name, path in centers:
        lines += ["[[centers]]", f'name = "{center_name}"', 'backend = "local"', f'path = "{path}"',
                  'supervisor = { name = "王敏", email = "supervisor@example.com" }',
                  'manager = { name = "李強", email = "manager@example.com" }', ""]
    target = folder / name
    write_atomically(target, "\n".join(lines))
    return target


def write_atomically(path: Path, text: str) -> None:
    """Replace a file whole, so a running serve never reads it half-written."""
    temp = path.with_name(path.name + ".new")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


def cli_process(*argv: str, env: dict[str, str] | None = None, **popen) -> subprocess.Popen:
    """`python -m automation …` as its own process, in the repository folder."""
    return subprocess.Popen([sys.executable, "-m", "automation", *map(str, argv)], cwd=ROOT,
                            env={**os.environ, **(env or {})}, **popen)


def run_cli_process(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "automation", *map(str, argv)], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=SAFETY_LIMIT * 2)


class ServeProcess:
    """`serve --log-format json --fake-clock START` in a child process; its records collected.

        with ServeProcess(config, "2026-03-10T08:20+08:00") as serve:
            serve.wait_for(event="cycle_done", count=3)
            code = serve.stop()
    """

    def __init__(self, config: Path, fake_clock: str, *more: str, env: dict[str, str] | None = None):
        self.argv = ["serve", "--config", str(config), "--log-format", "json", "--fake-clock", fake_clock, *more]
        self.env = env
        self.lines: list[str] = []
        self.records: list[dict[str, Any]] = []
        self._queue: queue.Queue = queue.Queue()
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "ServeProcess":
        self.process = cli_process(*self.argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, encoding="utf-8")
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self) -> None:
        for line in self.process.stderr:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def _take(self, block_seconds: float) -> bool:
        """Move one line from the child into `records`; False when the child's stderr closed."""
        line = self._queue.get(timeout=block_seconds)
        if line is None:
            self._queue.put(None)
            return False
        self.lines.append(line)
        self.records.append(json.loads(line))  # every line must be one JSON object
        return True

    def wait_for(self, predicate: Callable[[dict], bool] | None = None, *, event: str | None = None,
                 count: int = 1) -> list[dict[str, Any]]:
        """Wait until `count` records match (event name and/or predicate); returns them."""

        def matching() -> list[dict[str, Any]]:
            return [r for r in self.records
                    if (event is None or r.get("event") == event) and (predicate is None or predicate(r))]

        while len(matching()) < count:
            try:
                if not self._take(SAFETY_LIMIT):
                    raise AssertionError(f"serve ended before {count}× {event or predicate}; log:\n" + "\n".join(self.lines))
            except queue.Empty:
                raise AssertionError(f"no {count}× {event or predicate} from serve; log:\n" + "\n".join(self.lines)) from None
        return matching()

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Send `signum`, collect the remaining records, return the exit code."""
        self.process.send_signal(signum)
        code = self.process.wait(timeout=SAFETY_LIMIT)
        while self._take(SAFETY_LIMIT):
            pass
        return code

    def of(self, event: str, **fields: Any) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("event") == event and all(r.get(k) == v for k, v in fields.items())]
