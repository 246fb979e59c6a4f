"""`make bench`: what one cycle costs, at every size up to Google's limit, against what users do today.

For sheets of 1,000 / 10,000 / 100,000 / 400,000 rows (the local workbook up to 100,000) it runs
cycles on each backend — the first on a sheet without ids, the one after it (it wrote, so it reads
again: SPEC 7), an idle one (nothing changed: one `stat` or one Drive request; locally also a whole
`python -m automation run` process timed, interpreter start included), one after 1% of the rows
changed (plus, on Google Sheets, the idle cycle as `serve` runs it) — each in a fresh process
(bench/child.py), and the two common ways of doing the same work with gspread on the same
stand-in: (a) get_all_records() then update_cell per changed cell; (b) gspread-dataframe's
get_as_dataframe() then set_with_dataframe() of the whole sheet. The Sheets stand-in
(tests/standin) runs in this process and adds 150 ms of latency to every request.

A peer whose cycle would pass a minute is not run at that size: its figures are computed from its
request count (requests x latency + the per-request cost measured where it did run) and marked
"est.". Results go to stdout and bench/RESULTS.md.

    python -m bench.run            # everything (about 7 minutes on 2 cores)
    python -m bench.run --quick    # 1,000 and 10,000 rows
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from . import data, xlsx

ROOT = Path(__file__).resolve().parent.parent
FULL_SIZES = (1_000, 10_000, 100_000, 400_000)
QUICK_SIZES = (1_000, 10_000)
LOCAL_MAX_ROWS = 100_000
GOOGLE_BODY_LIMIT = 10 * 1024 * 1024
NOW = dt.datetime(2026, 3, 10, 9, 0)  # a Tuesday: digests are due, the week's review too
TIMEZONE = "Asia/Shanghai"
CASES = ("first", "reread", "idle", "idle_serve", "changed")
CASE_NAMES = {"first": "首次（無編號）", "reread": "寫入後再讀（無變化）", "idle": "空閒", "idle_serve": "空閒（serve）",
              "changed": "1% 變動"}
PEERS = ("gspread_script", "gspread_dataframe")
PEER_NAMES = {"gspread_script": "gspread 腳本", "gspread_dataframe": "gspread-dataframe"}


@dataclasses.dataclass
class Result:
    who: str  # "ours" or a peer
    backend: str  # "google" or "local"
    rows: int
    case: str
    figures: dict[str, Any]
    estimated: bool = False
    note: str = ""


# --- the machine ----------------------------------------------------------------------------------
def machine() -> dict[str, str]:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return {"nproc": str(os.cpu_count()), "cpu": model, "ram": memory,
            "python": platform.python_version(), "os": platform.platform(),
            "date": dt.datetime.now().astimezone().isoformat(timespec="seconds")}


# --- child processes ------------------------------------------------------------------------------
def measure(spec: dict, before_go=None, after=None, timeout: float = 900) -> list[dict[str, Any]]:
    """Run cycles in a fresh process: one result per cycle it measures. `before_go` runs each time
    the child is ready (zero counters), `after(figures)` once each cycle's figures arrive."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = subprocess.Popen([sys.executable, "-m", "bench.child", json.dumps(spec)], cwd=ROOT, env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        for line in child.stdout:
            if time.monotonic() > deadline:
                raise TimeoutError(f"bench child ran over {timeout:.0f} s")
            if line.strip() == "ready":
                if before_go:
                    before_go()
                child.stdin.write("go\n")
                child.stdin.flush()
                continue
            try:
                figures = json.loads(line)
            except ValueError:
                continue  # something the child printed besides its figures
            if after:
                after(figures)
            results.append(figures)
        err = child.stderr.read()
        child.wait(timeout=60)
    except BaseException:
        child.kill()
        child.wait()
        raise
    if not results:
        results.append({"exit_code": 1, "error": f"child failed: {err[-1500:]}"})
    return results


def measure_one(spec: dict, **options) -> dict[str, Any]:
    return measure(spec, **options)[0]


def whole_process_cpu(config: Path, now: str) -> float:
    """CPU seconds of a whole `python -m automation run` (interpreter start and imports included),
    as cron would start it."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "automation", "run", "--config", str(config), "--now", now],
                   cwd=ROOT, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


# --- the sheets -----------------------------------------------------------------------------------
def config_text(center: str) -> str:
    return f'''timezone = "{TIMEZONE}"
language = "zh-Hant"

[escalation.categories."投訴"]
supervisor_after_days = 1
manager_after_days = 3

[mail]
transport = "outbox"
outbox_dir = "outbox"
from = "frontdesk@example.com"

[[centers]]
name = "錦繡花園服務中心"
{center}supervisor = {{ name = "王敏", email = "supervisor@example.com" }}
manager = {{ name = "李強", email = "manager@example.com" }}
'''


def settle(rows: list[list[Any]], today: dt.date, config_path: Path) -> tuple[list[list[str]], int]:
    """The worker columns our rules give `rows` (as a cycle would leave them), and how many of the
    rows' current worker cells differ from them: what a peer has to write."""
    from automation.config import load_config
    from automation.domain import rules
    from automation.domain.table import build_main_table

    config = load_config(config_path)
    center = config.centers[0]
    vocabulary = config.vocabulary
    table = build_main_table(data.HEADERS, rows, vocabulary, center.name, "main")
    evaluation = rules.evaluate(table.frame, today.toordinal(), config.escalation, vocabulary,
                                rules.People(center.supervisor, center.manager), {})
    evaluation = evaluation.reindex(table.frame.index)
    keys = data.WORKER_KEYS
    wanted = [evaluation[key].fillna("").tolist() for key in keys]
    differing = 0
    for key, column in zip(keys, wanted):
        current = rules.text_of(table.frame[key]).tolist()
        differing += sum(1 for a, b in zip(current, column) if a != b)
    return [list(cells) for cells in zip(*wanted)], differing


def with_worker_columns(rows: list[list[Any]], worker: list[list[str]]) -> list[list[Any]]:
    staff = len(data.STAFF_KEYS)
    return [row[:staff] + list(cells) for row, cells in zip(rows, worker)]


def edited(rows: list[list[Any]], edits) -> list[list[Any]]:
    out = [list(row) for row in rows]
    for index, cells in edits:
        for key, value in cells.items():
            out[index][data.COLUMN[key]] = value
    return out


class Stage:
    """A Sheets stand-in with a service account, and clones of spreadsheets for each run."""

    def __init__(self, folder: Path, latency: float):
        from tests.standin import SheetsStandin, make_service_account_file

        self.latency = latency
        self.standin = SheetsStandin().start()
        self.key_file = folder / "service-account.json"
        self.email = make_service_account_file(self.key_file, self.standin.token_uri, standin=self.standin)["client_email"]

    def create(self, values: list[list[Any]], rows: int) -> str:
        return self.standin.create_spreadsheet(
            "接待業主情況記錄", sheets={data.VOCABULARY.main_tab_title: {
                "rows": values, "row_count": rows + 1, "column_count": len(data.HEADERS), "frozen_rows": 1}},
            shared_with=[self.email])

    def clone(self, spreadsheet_id: str) -> str:
        """A copy under a new id (the stand-in's own copy-on-write fork: cheap at any size)."""
        standin = self.standin
        with standin._lock:
            copy = standin._spreadsheets[spreadsheet_id].fork()
            copy.id = standin._new_spreadsheet_id()
            standin._spreadsheets[copy.id] = copy
        return copy.id

    def drop(self, *spreadsheet_ids: str) -> None:
        with self.standin._lock:
            for spreadsheet_id in spreadsheet_ids:
                self.standin._spreadsheets.pop(spreadsheet_id, None)

    def set_worker_columns(self, spreadsheet_id: str, worker: list[list[str]]) -> None:
        first = len(data.STAFF_KEYS) + 1
        from openpyxl.utils import get_column_letter

        self.standin.set_values(spreadsheet_id, data.VOCABULARY.main_tab_title, f"{get_column_letter(first)}2", worker)

    def apply_edits(self, spreadsheet_id: str, edits) -> None:
        from openpyxl.utils import get_column_letter

        tab = data.VOCABULARY.main_tab_title
        for index, cells in edits:
            for key, value in cells.items():
                self.standin.set_cell(spreadsheet_id, tab, f"{get_column_letter(data.COLUMN[key] + 1)}{index + 2}", value)

    def run(self, spec: dict) -> list[dict[str, Any]]:
        """Measure a child against the stand-in: requests, bytes, cells as the server saw them."""
        standin = self.standin

        def zero():
            standin.reset_log()
            standin.latency = self.latency

        def count(figures):
            standin.latency = 0.0
            logged = standin.requests_of()
            api = [r for r in logged if r.kind != "token"]
            figures.update(
                requests=len(api), token_requests=len(logged) - len(api),
                sheets_requests=sum(1 for r in api if not r.kind.startswith("drive.")),
                drive_requests=sum(1 for r in api if r.kind.startswith("drive.")),
                kinds=dict(standin.stats.snapshot()["by_kind"]),
                bytes_sent=sum(r.bytes_in for r in logged), bytes_received=sum(r.bytes_out for r in logged),
                largest_request=max((r.bytes_in for r in api), default=0),
                server_cells=sum(cells_in(r) for r in api),
            )
            standin.reset_log()

        try:
            return measure(spec, before_go=zero, after=count)
        finally:
            standin.latency = 0.0

    def run_one(self, spec: dict) -> dict[str, Any]:
        return self.run(spec)[0]

    def stop(self) -> None:
        self.standin.stop()


def cells_in(request) -> int:
    """Cells a write request carries (values.* value arrays, updateCells / appendCells rows)."""
    body = request.body if isinstance(request.body, dict) else {}
    if request.kind in ("values.update", "values.append"):
        return sum(len(row) for row in body.get("values") or [])
    if request.kind == "values.batchUpdate":
        return sum(len(row) for item in body.get("data") or [] for row in item.get("values") or [])
    if request.kind == "spreadsheets.batchUpdate":
        total = 0
        for item in body.get("requests") or []:
            for kind in ("updateCells", "appendCells"):
                if kind in item:
                    total += sum(len(row.get("values") or []) for row in item[kind].get("rows") or [])
        return total
    return 0


def google_backend_available() -> bool:
    return \
        (ROOT / "automation" / "adapters" / "google").is_dir()


# --- the benchmark --------------------------------------------------------------------------------
class Bench:
    def __init__(self, sizes, latency: float, minute: float, folder: Path, backends, peers, say=print,
                 request_limit: float = float("inf")):
        self.sizes = sizes
        self.latency = latency
        self.minute = minute
        self.folder = folder
        self.backends = backends
        self.peers = peers
        self.say = say
        self.request_limit = request_limit  # a peer cycle needing more requests is computed, not run
        self._lock = threading.Lock()
        self.results: list[Result] = []
        self.stage: Stage | None = None
        # For the estimates: the update_cell script's read time by size and the cost of one
        # update_cell beyond the latency; gspread-dataframe's last measured whole-sheet cycle
        # (rows, wall, largest request, requests); which peer passed a minute at a size so far.
        self.script_read: dict[int, float] = {}
        self.update_cost = 0.01
        self.whole_sheet: tuple[int, float, int, int] | None = None
        self.peer_over_a_minute: dict[str, bool] = {}

    def add(self, result: Result) -> None:
        with self._lock:
            self.results.append(result)
        f = result.figures
        flag = " (est.)" if result.estimated else ""
        error = f" — {f.get('error', '')[:160]}" if f.get("error") else ""
        self.say(f"  {result.who:18} {result.backend:6} {result.rows:>7} {result.case:10} "
                 f"req={_fmt_int(f.get('requests'))} cells={_fmt_int(f.get('server_cells', f.get('cells')))} "
                 f"wall={_fmt_s(f.get('wall_s'))} cpu={_fmt_s(f.get('cpu_s'))} mem={_fmt_mib(f.get('peak_mib'))}"
                 f"{flag}{error}")

    def run(self) -> list[Result]:
        """Every size: the local workbook's cycles on one core, the Google ones (ours and the
        peers, with the stand-in) on the other, at the same time — each cycle is a single
        process doing one thing at a time, and the pair keeps `make bench` within ten minutes
        on a 2-core machine. The results are put back in order at the end."""
        local = threading.Thread(target=self._local_sizes, name="bench-local", daemon=True)
        if "local" in self.backends:
            local.start()
        if "google" in self.backends or self.peers:
            self.stage = Stage(self.folder, self.latency)
        try:
            for rows in self.sizes if self.stage is not None else ():
                started = time.perf_counter()
                sheet, edits = self._sheet(rows)
                self.say(f"{rows:,} 行（{len(edits)} 行變動）：Google")
                self.google(sheet, edits)
                self.say(f"  （{rows:,} 行 Google 用時 {time.perf_counter() - started:.0f} 秒）")
        finally:
            if self.stage:
                self.stage.stop()
            if local.is_alive():
                local.join()
        order = {backend: i for i, backend in enumerate(("local", "google"))}
        whos = {who: i for i, who in enumerate(("ours", *PEERS))}
        self.results.sort(key=lambda r: (whos.get(r.who, 9), order[r.backend], r.rows, CASES.index(r.case)))
        return self.results

    def _sheet(self, rows: int):
        sheet = data.generate(rows, NOW.date())
        return sheet, data.changed_rows(sheet)

    def _local_sizes(self) -> None:
        for rows in self.sizes:
            if rows > LOCAL_MAX_ROWS:
                continue
            started = time.perf_counter()
            sheet, edits = self._sheet(rows)
            self.local(sheet, edits)
            self.say(f"  （{rows:,} 行本地工作簿用時 {time.perf_counter() - started:.0f} 秒）")

    def _now(self, minutes: int) -> str:
        return (NOW + dt.timedelta(minutes=minutes)).isoformat()

    def local(self, sheet: data.Sheet, edits) -> None:
        rows = len(sheet.rows)
        folder = self.folder / f"local-{rows}"
        workbook = folder / "data" / "log.xlsx"
        config = folder / "config.toml"
        folder.mkdir(parents=True, exist_ok=True)
        config.write_text(config_text('backend = "local"\npath = "data/log.xlsx"\n'), encoding="utf-8")
        xlsx.write_workbook(workbook, data.VOCABULARY.main_tab_title, sheet.values)
        spec = {"who": "ours", "config": str(config)}
        self.add(Result("ours", "local", rows, "first", measure_one({**spec, "cycles": [self._now(0)]})))
        # SPEC 7: the cycle after a write reads in full once more; the next one only `stat`s the file.
        self.add(Result("ours", "local", rows, "reread", measure_one({**spec, "cycles": [self._now(5)]})))
        idle = measure_one({**spec, "cycles": [self._now(10)]})
        # The children take NOW as this machine's local time; the command line as the config's
        # timezone: name the same instant for both.
        idle.update(process_cpu_s=whole_process_cpu(config, dt.datetime.fromisoformat(self._now(11)).astimezone().isoformat()))
        self.add(Result("ours", "local", rows, "idle", idle))
        patch: dict[int, dict[int, Any]] = {}
        for index, cells in edits:
            patch[index + 2] = {data.COLUMN[key] + 1: value for key, value in cells.items()}
        xlsx.patch_cells(workbook, data.VOCABULARY.main_tab_title, patch)
        self.add(Result("ours", "local", rows, "changed", measure_one({**spec, "cycles": [self._now(15)]})))

    def google(self, sheet: data.Sheet, edits) -> None:
        stage = self.stage
        if stage is None:
            return
        rows = len(sheet.rows)
        folder = self.folder / f"google-{rows}"
        folder.mkdir(parents=True, exist_ok=True)
        pristine = stage.create(sheet.values, rows)
        peer_config = folder / "peer.toml"
        peer_config.write_text(config_text('backend = "local"\npath = "unused.xlsx"\n'), encoding="utf-8")
        made = [pristine]
        try:
            if "google" in self.backends:
                ours = stage.clone(pristine)
                made.append(ours)
                config = folder / "config.toml"
                config.write_text(config_text(
                    f'backend = "google"\nspreadsheet = "{ours}"\ncredentials = "{stage.key_file}"\n'
                    f'api_endpoint = "{stage.standin.base_url}"\n'), encoding="utf-8")
                spec = {"who": "ours", "config": str(config)}
                self.add(Result("ours", "google", rows, "first", stage.run_one({**spec, "cycles": [self._now(0)]})))
                # SPEC 7: the cycle after a write reads in full once more; the next only asks Drive.
                self.add(Result("ours", "google", rows, "reread", stage.run_one({**spec, "cycles": [self._now(5)]})))
                self.add(Result("ours", "google", rows, "idle", stage.run_one({**spec, "cycles": [self._now(10)]})))
                # `serve`: the second cycle of a process whose backend (and lease) was kept.
                pair = stage.run({**spec, "cycles": [self._now(15), self._now(20)]})
                self.add(Result("ours", "google", rows, "idle_serve", pair[-1]))
                stage.apply_edits(ours, edits)
                self.add(Result("ours", "google", rows, "changed", stage.run_one({**spec, "cycles": [self._now(25)]})))
            if self.peers:
                self.peer_runs(sheet, edits, pristine, peer_config, made)
        finally:
            stage.drop(*made)

    def peer_runs(self, sheet: data.Sheet, edits, pristine: str, config: Path, made: list[str]) -> None:
        """Each peer on the same three states of the sheet as ours (main tab only).

        A peer runs at a size while none of its cycles at the size before passed a minute;
        within a size, a cycle predicted to pass a minute is computed instead (the update_cell
        script's first cycle, a request per cell, always is). Computed figures: its request
        count x latency + the per-request cost and read time measured where it did run."""
        stage = self.stage
        rows = len(sheet.rows)
        today = NOW.date()
        worker, first_updates = settle(sheet.rows, today, config)
        changed_rows = edited(with_worker_columns(sheet.rows, worker), edits)
        _, changed_updates = settle(changed_rows, today, config)
        updates = {"first": first_updates, "idle": 0, "changed": changed_updates}
        states: dict[str, str] = {}

        def state(case: str) -> str:  # the sheet a peer starts from, made when first needed
            if not states:
                states["first"] = pristine
                settled = stage.clone(pristine)
                stage.set_worker_columns(settled, worker)
                changed = stage.clone(settled)
                stage.apply_edits(changed, edits)
                states.update(idle=settled, changed=changed)
                made.extend([settled, changed])
            return states[case]

        tab = data.VOCABULARY.main_tab_title
        for peer in PEERS:
            if peer not in self.peers:
                continue
            over_a_minute = self.peer_over_a_minute.get(peer, False)
            # gspread-dataframe reads the whole sheet and writes it all back whatever changed:
            # one cycle measured per size stands for all three.
            cases = ("first",) if peer == "gspread_dataframe" else ("idle", "changed", "first")
            for case in cases:
                if peer == "gspread_script":
                    read_wall = self.script_read.get(rows)
                    if over_a_minute or read_wall is None and case != "idle":
                        estimate = self.estimate_script(rows, case, updates[case])
                    elif read_wall is not None and (read_wall + updates[case] * (self.latency + self.update_cost) > self.minute
                                                    or 3 + updates[case] > self.request_limit):
                        estimate = self.estimate_script(rows, case, updates[case])
                        if case != "first":
                            self.peer_over_a_minute[peer] = True
                    else:
                        estimate = None
                else:
                    estimate = self.estimate_dataframe(rows, case, over_a_minute)
                if estimate is not None:
                    self.add(estimate)
                    continue
                spec = {"who": peer, "endpoint": stage.standin.base_url, "key_file": str(stage.key_file),
                        "tab": tab, "config": str(config), "now": self._now(0)}
                target = stage.clone(state(case))
                made.append(target)
                figures = stage.run_one({**spec, "spreadsheet": target})
                stage.drop(target)
                self.add(Result(peer, "google", rows, case, figures))
                wall = figures.get("wall_s")
                if wall is None:
                    continue
                if wall > self.minute:
                    self.peer_over_a_minute[peer] = True
                if peer == "gspread_script":
                    if case == "idle":
                        self.script_read[rows] = wall
                    elif updates[case] and rows in self.script_read:
                        self.update_cost = max(0.0, (wall - self.script_read[rows]) / updates[case] - self.latency)
                else:
                    self.whole_sheet = (rows, wall, figures.get("largest_request", 0), figures.get("requests", 0))
            if peer == "gspread_dataframe":
                measured = next(r for r in reversed(self.results) if r.who == peer and r.rows == rows)
                for case in ("idle", "changed"):
                    note = "同一操作（整表讀取、整表寫回，與變動多少無關），數字取自首次周期" + (
                        "；" + measured.note if measured.note else "")
                    self.add(Result(peer, "google", rows, case, dict(measured.figures), measured.estimated, note))

    def estimate_script(self, rows: int, case: str, updates: int) -> Result:
        """The update_cell script from its request count: 3 requests to open the spreadsheet and
        the tab and read it all (its read time measured at this size, or scaled by rows from the
        largest size measured), then one request per changed cell."""
        if rows in self.script_read:
            read_wall, basis = self.script_read[rows], "實測"
        else:
            measured = max(self.script_read)
            read_wall, basis = self.script_read[measured] * rows / measured, f"按 {measured:,} 行實測放大"
        wall = read_wall + updates * (self.latency + self.update_cost)
        figures = {"requests": 3 + updates, "server_cells": updates, "wall_s": wall}
        note = (f"估算：讀取 {read_wall:.1f} 秒（{basis}）+ {updates:,} 次 update_cell ×"
                f"（{self.latency * 1000:.0f} ms 延遲 + {self.update_cost * 1000:.1f} ms 實測每次開銷）")
        return Result("gspread_script", "google", rows, case, figures, estimated=True, note=note)

    def estimate_dataframe(self, rows: int, case: str, over_a_minute: bool) -> Result | None:
        """Above the size where a whole-sheet cycle passed (or would pass) a minute: scaled by rows
        from the last size measured — it reads and writes the whole sheet whatever changed."""
        if self.whole_sheet is None:
            return None
        measured_rows, wall, body, requests = self.whole_sheet
        scale = rows / measured_rows
        if not over_a_minute and wall * scale <= self.minute:
            return None
        cells = (rows + 1) * len(data.HEADERS)
        body_estimate = int(body * scale)
        figures = {"requests": requests, "server_cells": cells, "wall_s": wall * scale, "largest_request": body_estimate}
        note = f"估算：按 {measured_rows:,} 行實測 {wall:.1f} 秒線性放大"
        if body_estimate > GOOGLE_BODY_LIMIT:
            note += f"；寫入請求約 {body_estimate / 1e6:.0f} MB，超過 Google 10 MB 上限，實際會被拒絕"
        return Result("gspread_dataframe", "google", rows, case, figures, estimated=True, note=note)


# --- reporting ------------------------------------------------------------------------------------
def _fmt_int(value) -> str:
    return "—" if value is None else f"{int(value):,}"


def _fmt_s(value) -> str:
    return "—" if value is None else f"{value:.2f} s"


def _fmt_mib(value) -> str:
    return "—" if value is None else f"{value:.0f} MiB"


def _fmt_bytes(value) -> str:
    if value is None:
        return "—"
    if value >= 1e6:
        return f"{value / 1e6:.1f} MB"
    if value >= 1e3:
        return f"{value / 1e3:.1f} kB"
    return f"{int(value)} B"


def _fmt_requests(figures: dict) -> str:
    """Sheets requests, and "+ n Drive" where a cycle asked Drive (SPEC 7's change signal)."""
    if figures.get("sheets_requests") is None:
        return _fmt_int(figures.get("requests"))
    drive = figures.get("drive_requests") or 0
    return _fmt_int(figures["sheets_requests"]) + (f" + {drive} Drive" if drive else "")


def table(results: list[Result]) -> list[str]:
    lines = ["| 誰 | 後端 | 行數 | 情形 | API 請求 | 寫入儲存格 | 發送 | 接收 | 最大請求 | 牆鐘時間 | CPU | 峰值記憶體 | 備註 |",
             "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        f = r.figures
        who = "本工具" if r.who == "ours" else PEER_NAMES.get(r.who, r.who)
        local = r.backend == "local"
        sent = f.get("file_written_bytes") if local else f.get("bytes_sent")
        received = f.get("file_read_bytes") if local else f.get("bytes_received")
        cells = f.get("cells") if local else f.get("server_cells")
        note = r.note
        if f.get("error"):
            note = (note + "；" if note else "") + "錯誤：" + f["error"].splitlines()[-1][:120].replace("|", "/")
        if f.get("exit_code") not in (None, 0) and not f.get("error"):
            note = (note + "；" if note else "") + f"退出碼 {f['exit_code']}"
        est = "≈" if r.estimated else ""
        lines.append(
            f"| {who} | {'本地 xlsx' if local else 'Google（stand-in）'} | {r.rows:,} | {CASE_NAMES[r.case]} | "
            f"{'—' if local else est + _fmt_requests(f)} | {est}{_fmt_int(cells)} | "
            f"{_fmt_bytes(sent)} | {_fmt_bytes(received)} | {'—' if local else est + _fmt_bytes(f.get('largest_request'))} | "
            f"{est}{_fmt_s(f.get('wall_s'))} | {_fmt_s(f.get('cpu_s'))} | {_fmt_mib(f.get('peak_mib'))} | {note} |")
    return lines


def ratios(results: list[Result]) -> list[str]:
    ours = {(r.rows, r.case): r for r in results if r.who == "ours" and r.backend == "google"}
    lines = ["| 行數 | 情形 | 對比 | 請求（本工具/對方） | 寫入儲存格 | 牆鐘時間 |", "|---:|---|---|---:|---:|---:|"]
    for r in results:
        if r.who == "ours":
            continue
        mine = ours.get((r.rows, r.case))
        if mine is None:
            continue

        def ratio(key_mine: str, key_theirs: str | None = None) -> str:
            a, b = mine.figures.get(key_mine), r.figures.get(key_theirs or key_mine)
            if a is None or b is None:
                return "—"
            if b == 0:
                return "0/0" if a == 0 else f"{a:,.0f}/0"
            return f"{a / b:.3g}" + (" (est.)" if r.estimated else "")

        lines.append(f"| {r.rows:,} | {CASE_NAMES[r.case]} | {PEER_NAMES[r.who]} | {ratio('requests')} | "
                     f"{ratio('server_cells')} | {ratio('wall_s')} |")
    return lines


def targets(results: list[Result]) -> list[str]:
    """Issue 13's targets (SPEC 7), each met or by how much not."""
    google = {(r.rows, r.case): r.figures for r in results if r.who == "ours" and r.backend == "google"}
    local = {(r.rows, r.case): r.figures for r in results if r.who == "ours" and r.backend == "local"}
    lines = ["| 目標 | 結果 |", "|---|---|"]

    def verdict(ok: bool, detail: str) -> str:
        return ("✅ 達到：" if ok else "❌ 未達：") + detail

    def under(figures: dict | None, key: str, limit: float, unit: str) -> tuple[bool, str] | None:
        value = (figures or {}).get(key)
        if value is None:
            return None
        shown = f"{value:.2f} 秒" if unit == "s" else f"{value:.0f} MiB"
        wanted = f"{limit:g} 秒" if unit == "s" else f"{limit:g} MiB"
        return value < limit, f"{shown}（目標 < {wanted}）"

    def add(name: str, *checks) -> None:
        checks = [c for c in checks if c is not None]
        if checks:
            lines.append(f"| {name} | {verdict(all(ok for ok, _ in checks), '，'.join(d for _, d in checks))} |")

    idle = {rows: f for (rows, case), f in google.items() if case in ("idle", "idle_serve")}
    if idle:
        counts = sorted({(f.get("sheets_requests"), f.get("drive_requests")) for f in idle.values()}, key=str)
        add("Google 空閒周期：0 個 Sheets 請求 + 1 個 Drive 請求（每種大小，run 與 serve）",
            (counts == [(0, 1)], "、".join(f"{s} + {d} Drive" for s, d in counts)))
    local_idle = {rows: f for (rows, case), f in local.items() if case == "idle"}
    if local_idle:
        untouched = all(f.get("cells") == 0 and f.get("workbook_parses") == 0 for f in local_idle.values())
        add("本地空閒周期：工作簿不寫也不解析（每種大小）",
            (untouched, "解析 " + "、".join(f"{rows:,} 行 {f.get('workbook_parses')} 次"
                                           for rows, f in sorted(local_idle.items()))))
    add("100,000 行本地工作簿空閒的一次性 `run`（含解釋器啟動）", under(local.get((100_000, "idle")), "process_cpu_s", 0.5, "s"))
    add("100,000 行 Google 空閒周期（serve）", under(google.get((100_000, "idle_serve")), "cpu_s", 0.05, "s"))
    add("100,000 行 Google 1% 變動", under(google.get((100_000, "changed")), "cpu_s", 1.5, "s"))
    add("400,000 行 Google 1% 變動", under(google.get((400_000, "changed")), "cpu_s", 5, "s"),
        under(google.get((400_000, "changed")), "peak_mib", 800, "MiB"))
    add("400,000 行 Google 首次", under(google.get((400_000, "first")), "cpu_s", 10, "s"),
        under(google.get((400_000, "first")), "peak_mib", 1024, "MiB"))
    largest = max(((f.get("largest_request") or 0, rows, case) for (rows, case), f in google.items()), default=None)
    if largest is not None:
        add("沒有請求超過 Google 的 10 MB（10,485,760 位元組）",
            (largest[0] <= GOOGLE_BODY_LIMIT,
             f"最大 {largest[0]:,} 位元組（{largest[1]:,} 行 {CASE_NAMES.get(largest[2], largest[2])}）"))
    add("100,000 行本地工作簿 1% 變動", under(local.get((100_000, "changed")), "cpu_s", 10, "s"))
    return lines if len(lines) > 2 else ["（本次沒有測到目標涉及的情形）"]


def report(results: list[Result], info: dict[str, str], options: dict[str, Any]) -> str:
    lines = [
        "# 基準測試結果（`make bench`）",
        "",
        f"- 日期：{info['date']}",
        f"- 機器：{info['nproc']} 核 {info['cpu']}，記憶體 {info['ram']}，Python {info['python']}（{info['os']}）",
        f"- Google Sheets：本地 stand-in（tests/standin），每個請求加 {options['latency'] * 1000:.0f} ms 延遲；"
        f"本地工作簿：.xlsx 檔案（calamine 讀值；寫入用 openpyxl，主分頁的 XML 原樣保留、只改工作者欄）",
        "- 每個周期在新進程中運行：CPU = 該進程的 process time；峰值記憶體 = 周期中常駐記憶體的最高點"
        "（VmHWM，周期開始前歸零）減去周期開始時的常駐記憶體；stand-in 在父進程中運行，其 CPU 不計入；"
        "本地工作簿與 Google 的量度同時在兩個核上進行",
        "- 發送 / 接收：Google 為 HTTP 請求體 / 回應體位元組（不含標頭，stand-in 不壓縮、回應為縮排 JSON；"
        "真實 Google 以 gzip 傳送，位元組會少得多）；本地為讀寫檔案的位元組",
        "- 寫入儲存格：Google 為 stand-in 收到的寫入請求中的儲存格數；本地為本工具交給工作簿寫入的儲存格數",
        f"- 對方（peers）做同樣的計算（本工具的規則），只寫主分頁的 5 個工作欄，不寫匯總分頁和運行日誌；"
        f"周期超過 {options['minute']:.0f} 秒的不實跑，按請求數估算（標 ≈ / est.）",
        "",
        "## 每個周期的成本",
        "",
        *table(results),
        "",
        "## 比值（本工具 ÷ 對方，越小越好）",
        "",
        *ratios(results),
        "",
        TARGETS_HEADING,
        "",
        *targets(results),
        "",
    ]
    return "\n".join(lines)


TARGETS_HEADING = "## Issue 13 的目標（SPEC 7：無變化時幾乎不花成本）"


def updated_report(previous: str, results: list[Result], info: dict[str, str]) -> str:
    """`previous` (a report) with the rows measured now in place of the same rows (who, backend,
    rows, case) and the targets table computed from this run's results, dated; every other row
    stays as it was measured before."""
    fresh = {" | ".join(line.split(" | ")[:4]): line for line in table(results)[2:]}
    lines = []
    for line in previous.split("\n"):
        lines.append(fresh.pop(" | ".join(line.split(" | ")[:4]), line) if line.startswith("| ") else line)
    if fresh:  # rows the previous report did not have: after its last table row
        last = max(i for i, line in enumerate(lines) if line.startswith("| ") and "|---" not in line
                   and i < (lines.index(TARGETS_HEADING) if TARGETS_HEADING in lines else len(lines)))
        lines[last + 1:last + 1] = list(fresh.values())
    if TARGETS_HEADING in lines:
        start = lines.index(TARGETS_HEADING)
        end = next((i for i in range(start + 2, len(lines)) if lines[i - 1].startswith("|") and not lines[i].startswith("|")),
                   len(lines))
        measured = "、".join(sorted({f"{r.rows:,}" for r in results}, key=lambda t: int(t.replace(",", ""))))
        lines[start:end] = [TARGETS_HEADING, "",
                            f"按 {info['date']} 重測的行（{measured} 行，{'、'.join(sorted({r.backend for r in results}))}）計算；"
                            f"上表中其他行是以前測的。", "", *targets(results)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description="一個周期的成本：本工具對比常見寫法")
    parser.add_argument("--quick", action="store_true", help="只測 1,000 和 10,000 行")
    parser.add_argument("--sizes", help="逗號分隔的行數，如 1000,10000")
    parser.add_argument("--latency", type=float, default=0.15, help="stand-in 每個請求的延遲（秒），默認 0.15")
    parser.add_argument("--minute", type=float, default=60.0, help="對方周期超過此秒數即改為估算，默認 60")
    parser.add_argument("--backends", default="local,google", help="local,google")
    parser.add_argument("--peers", default=",".join(PEERS), help="gspread_script,gspread_dataframe（空為不比較）")
    parser.add_argument("--peer-request-limit", type=int, help="對方周期需要更多請求時改為估算（默認不限）")
    parser.add_argument("--out", default=str(ROOT / "bench" / "RESULTS.md"), help="結果表寫到這裏")
    parser.add_argument("--json", help="另把原始數據寫成 JSON")
    parser.add_argument("--report-from", metavar="JSON", help="不運行，只按以前 --json 存下的數據重寫結果表")
    parser.add_argument("--update", action="store_true",
                        help="不重寫整份結果表：只替換 --out 中本次測到的行，並按本次數據重寫目標表")
    args = parser.parse_args(argv)
    if args.report_from:
        saved = json.loads(Path(args.report_from).read_text(encoding="utf-8"))
        results = [Result(**item) for item in saved["results"]]
        text = report(results, saved["machine"], saved["options"]) + saved.get("footer", "")
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"結果已寫入 {args.out}")
        return 0
    sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else QUICK_SIZES if args.quick else FULL_SIZES
    backends = {b for b in args.backends.split(",") if b}
    peers = tuple(p for p in args.peers.split(",") if p)
    if "google" in backends and not google_backend_available():
        print("（google 後端尚未實現：只測本地工作簿和對方）")
        backends.discard("google")
    info = machine()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        limit = args.peer_request_limit if args.peer_request_limit is not None else float("inf")
        results = Bench(sizes, args.latency, args.minute, Path(folder), backends, peers, request_limit=limit).run()
    options = {"latency": args.latency, "minute": args.minute}
    footer = f"\n總用時 {time.perf_counter() - started:.0f} 秒。\n"
    if args.update and Path(args.out).exists():
        text = updated_report(Path(args.out).read_text(encoding="utf-8"), results, info)
    else:
        text = report(results, info, options) + footer
    Path(args.out).write_text(text, encoding="utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "options": options, "footer": footer,
                                               "results": [dataclasses.asdict(r) for r in results]},
                                              ensure_ascii=False, indent=1), encoding="utf-8")
    print()
    print("\n".join(ratios(results)))
    print(f"\n結果已寫入 {args.out}（總用時 {time.perf_counter() - started:.0f} 秒）")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
