"""One measured cycle, in a process of its own: `python -m bench.child '<json spec>'`.

Why a fresh process: peak memory is then this process's high-water mark
(`getrusage(RUSAGE_SELF).ru_maxrss`) minus what it held before the cycle, CPU is this process's
time (the Sheets stand-in runs in the parent, so its work is not counted), and nothing one cycle
left behind (caches, a grown heap) flatters the next.

Protocol with bench.run: the child imports everything and sets up, prints `ready`, waits for
`go` on stdin (the parent zeroes the stand-in's counters in between), runs the cycle, and prints
one line of JSON with its figures; again for each further cycle it measures.

Spec keys: `who` ("ours", "gspread_script", "gspread_dataframe"); for ours `config` and
`cycles` (one `now` per cycle: one cycle is `run`; more are `serve`, whose backend keeps what it
learnt); for the peers `endpoint`, `key_file`, `spreadsheet`, `tab`, `config`, `now`.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import resource
import sys
import time
import traceback
from typing import Any


def _io_counters() -> dict[str, int]:
    counters = {"rchar": 0, "wchar": 0}
    try:
        with open("/proc/self/io", encoding="ascii") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key in counters:
                    counters[key] = int(value)
    except OSError:
        pass
    return counters


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Start the process's peak-memory mark (VmHWM) afresh, from what it holds now (Linux >= 4.0).

    Without this the peak would be the larger of the cycle's and whatever importing the libraries
    briefly needed, and a small cycle would show no memory at all."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


class Measurement:
    """CPU, wall time, peak memory and file bytes of the block run between start() and stop().

    Peak memory: the resident set's high-water mark during the block minus the resident set at
    its start (VmHWM after a reset; where that is not available, ru_maxrss minus the previous
    ru_maxrss, which can only under-report)."""

    def start(self) -> None:
        gc.collect()
        self.exact = _reset_peak() and _status_kib("VmHWM") is not None
        self.baseline_kib = _status_kib("VmRSS") if self.exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        self.io = _io_counters()
        self.cpu = time.process_time()
        self.wall = time.perf_counter()

    def stop(self) -> dict[str, Any]:
        wall = time.perf_counter() - self.wall
        cpu = time.process_time() - self.cpu
        io = _io_counters()
        peak = _status_kib("VmHWM") if self.exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {
            "wall_s": wall,
            "cpu_s": cpu,
            "peak_mib": max(0, peak - self.baseline_kib) / 1024,
            "baseline_mib": self.baseline_kib / 1024,
            "file_read_bytes": io["rchar"] - self.io["rchar"],
            "file_written_bytes": io["wchar"] - self.io["wchar"],
        }


def _wait_for_go() -> None:
    print("ready", flush=True)
    line = sys.stdin.readline()
    if line.strip() != "go":
        raise SystemExit("bench.child: parent went away")


# --- ours -----------------------------------------------------------------------------------------
class _CellCounter:
    """Counts the cells a cycle hands its backend to write (worker cells, headers, summary tabs,
    log rows): the local workbook has no request log to count them from."""

    def __init__(self) -> None:
        self.cells = 0

    def wrap(self, backend) -> Any:
        write, append_log = backend.write, backend.append_log

        def counted_write(plan):
            self.cells += len(plan.cells) + len(plan.new_headers)
            self.cells += sum(len(row) for content in plan.tabs.values() for row in content)
            self.cells += sum(len(row) for row in plan.log_rows)
            return write(plan)

        def counted_append(title, header, rows):
            self.cells += sum(len(row) for row in rows)
            return append_log(title, header, rows)

        backend.write, backend.append_log = counted_write, counted_append
        return backend


def run_ours(spec: dict) -> list[dict[str, Any]]:
    """One measured cycle per entry of `spec["cycles"]` (each a `now`), all with one runner.

    With one cycle the runner is `run`'s (a fresh backend). With several it keeps its backend
    as `serve` does: the first cycle still starts from nothing (what `run` costs), the later ones
    reuse what the backend learnt (what `serve` costs)."""
    from automation import wiring
    from automation.config import load_config
    from automation.application.all_centers import CycleRunner

    import openpyxl

    config = load_config(spec["config"])
    counter = _CellCounter()
    parses = [0]  # workbooks opened by openpyxl: an idle cycle opens none (SPEC 7)
    real_load = openpyxl.load_workbook

    def counted_load(*args, **kwargs):
        parses[0] += 1
        return real_load(*args, **kwargs)

    openpyxl.load_workbook = counted_load
    make_backend = wiring.backend_for
    wiring.backend_for = lambda center, config: counter.wrap(make_backend(center, config))
    keep = len(spec["cycles"]) > 1
    runner = CycleRunner(config, command="serve" if keep else "run", keep=keep)
    handle = runner._handle  # each center runs in a worker thread: profile it there
    runner._handle = lambda *args: _profiled(lambda: handle(*args))
    results = []
    try:
        for now in spec["cycles"]:
            counter.cells, parses[0] = 0, 0
            _wait_for_go()
            measurement = Measurement()
            measurement.start()
            outcome = runner.run_cycle(dt.datetime.fromisoformat(now))[0]
            figures = measurement.stop()
            result = outcome.result
            figures.update(
                exit_code=outcome.exit_code, error=outcome.error[:300], api_requests=outcome.api_requests,
                rows=result.rows if result else 0, cells=counter.cells,
                worker_cells=result.cells_written if result else 0,
                tabs_written=len(result.tabs_written) if result else 0, log_rows=result.log_rows if result else 0,
                messages=result.messages_sent if result else 0, workbook_parses=parses[0],
                idle=bool(result and result.idle),
            )
            _report(figures)
            results.append(figures)
    finally:
        runner.close()
    return results


def _profiled(cycle):
    """Run `cycle`; with BENCH_PROFILE=<folder> set, under cProfile, its stats saved there (one file
    per cycle) for finding hot spots. Profiling inflates CPU: figures from such a run are not results."""
    import os

    folder = os.environ.get("BENCH_PROFILE")
    if not folder:
        return cycle()
    import cProfile

    profiler = cProfile.Profile(time.thread_time)  # CPU of this thread, not time spent waiting
    try:
        return profiler.runcall(cycle)
    finally:
        profiler.dump_stats(os.path.join(folder, f"cycle-{os.getpid()}-{time.time_ns()}.prof"))


def _report(figures: dict[str, Any]) -> None:
    print(json.dumps(figures, ensure_ascii=False), flush=True)


# --- the peers --------------------------------------------------------------------------------------
def _wanted_worker_values(header: list[Any], rows: list[list[Any]], spec: dict):
    """The same work as ours: the worker columns our rules give these rows (peers differ only in
    how they read and write, not in what they compute)."""
    from automation.config import load_config
    from automation.domain import rules
    from automation.domain.table import build_main_table

    config = load_config(spec["config"])
    center = config.centers[0]
    vocabulary = config.vocabulary
    today = dt.datetime.fromisoformat(spec["now"]).astimezone(config.timezone).date().toordinal()
    table = build_main_table(header, rows, vocabulary, center.name, spec["tab"])
    evaluation = rules.evaluate(table.frame, today, config.escalation, vocabulary,
                                rules.People(center.supervisor, center.manager), {})
    return table, evaluation.reindex(table.frame.index), [c.key for c in vocabulary.worker_columns]


def _gspread_client(spec: dict):
    from types import SimpleNamespace

    from tests.standin.pytest_plugin import make_gspread_client

    return make_gspread_client(SimpleNamespace(base_url=spec["endpoint"]), spec["key_file"])


def run_gspread_script(spec: dict) -> dict[str, Any]:
    """The common script: get_all_records(), then update_cell for each worker cell that differs."""
    from automation.domain.rules import text_of

    client = _gspread_client(spec)
    _wait_for_go()
    measurement = Measurement()
    measurement.start()
    worksheet = client.open_by_key(spec["spreadsheet"]).worksheet(spec["tab"])
    records = worksheet.get_all_records()
    header = list(records[0].keys()) if records else worksheet.row_values(1)
    rows = [list(record.values()) for record in records]
    table, wanted, worker_keys = _wanted_worker_values(header, rows, spec)
    updates = 0
    for key in worker_keys:
        column = table.positions[key] + 1
        current = text_of(table.frame[key]).to_numpy()
        target = wanted[key].fillna("").to_numpy()
        for position in (current != target).nonzero()[0]:
            worksheet.update_cell(int(table.frame.index[position]), column, target[position])
            updates += 1
    figures = measurement.stop()
    figures.update(exit_code=0, error="", rows=len(rows), cells=updates, worker_cells=updates)
    return figures


def run_gspread_dataframe(spec: dict) -> dict[str, Any]:
    """gspread-dataframe: get_as_dataframe(), compute, set_with_dataframe() of the whole sheet."""
    import gspread
    from gspread_dataframe import get_as_dataframe, set_with_dataframe

    client = _gspread_client(spec)
    _wait_for_go()
    measurement = Measurement()
    measurement.start()
    worksheet = client.open_by_key(spec["spreadsheet"]).worksheet(spec["tab"])
    frame = get_as_dataframe(worksheet, evaluate_formulas=True, dtype=object, keep_default_na=False)
    header = list(frame.columns)
    rows = frame.to_numpy(dtype=object).tolist()
    table, wanted, worker_keys = _wanted_worker_values(header, rows, spec)
    for key in worker_keys:
        frame[header[table.positions[key]]] = wanted[key].fillna("").to_numpy()
    error = ""
    try:
        set_with_dataframe(worksheet, frame)
    except gspread.exceptions.APIError as failure:  # e.g. Google's 10 MB request limit
        error = str(failure)[:300]
    figures = measurement.stop()
    figures.update(exit_code=1 if error else 0, error=error, rows=len(rows),
                   cells=(len(rows) + 1) * len(header), worker_cells=None)
    return figures


def run_fleet(spec: dict) -> list[dict[str, Any]]:
    """bench.fleet: one `serve` runner over many centers, one measured sweep per `spec["cycles"]`."""
    from automation.application.all_centers import CycleRunner
    from automation.config import load_config

    runner = CycleRunner(load_config(spec["config"]), command="serve", keep=True)
    results = []
    try:
        for now in spec["cycles"]:
            _wait_for_go()
            measurement = Measurement()
            measurement.start()
            outcomes = runner.run_cycle(dt.datetime.fromisoformat(now))
            figures = measurement.stop()
            figures.update(
                centers=len(outcomes), failed=sum(1 for o in outcomes if o.exit_code),
                errors=sorted({o.error[:200] for o in outcomes if o.exit_code})[:3],
                idle=sum(1 for o in outcomes if o.result is not None and o.result.idle),
                wrote=sum(1 for o in outcomes if o.result is not None and (o.result.cells_written or o.result.log_rows
                                                                            or o.result.tabs_written)),
                sheets_requests=sum(o.api_requests or 0 for o in outcomes),
                drive_requests=sum(o.drive_requests or 0 for o in outcomes),
                rss_mib=(_status_kib("VmRSS") or 0) / 1024,
            )
            _report(figures)
            results.append(figures)
    finally:
        runner.close()
    return results


RUNNERS = {"ours": run_ours, "gspread_script": run_gspread_script, "gspread_dataframe": run_gspread_dataframe,
           "fleet": run_fleet}


def _loopback_only() -> None:
    """Keep google-auth's background "Regional Access Boundary" lookup off the network, as the
    tests do (tests/standin/pytest_plugin.py): everything here talks to 127.0.0.1 only."""
    import socket

    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name is None or name in ("localhost", "::1") or str(name).startswith("127."):
            return real(host, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, f"bench: non-loopback network is blocked: {name}")

    socket.getaddrinfo = resolve


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    _loopback_only()
    # Import what every cycle needs before the baseline is taken: the libraries' own size is not
    # a cycle's cost.
    import gspread  # noqa: F401
    import openpyxl  # noqa: F401
    import pandas  # noqa: F401
    from google.oauth2 import service_account  # noqa: F401

    import automation.application.all_centers  # noqa: F401
    import automation.domain.messages  # noqa: F401
    try:
        figures = RUNNERS[spec["who"]](spec)
        if not isinstance(figures, list):
            _report(figures)
    except Exception:
        _report({"exit_code": 1, "error": traceback.format_exc()[-1500:]})
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
