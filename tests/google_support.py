"""Helpers for tests (and benchmarks) of the Google Sheets backend against the local stand-in.

- `make_sheet`: a spreadsheet on the stand-in as staff keep it (rows keyed by header, as in
  tests/workbooks.py), shared with the service account;
- `google_config`: a config file whose centers use `backend = "google"`, `api_endpoint` = the
  stand-in, `credentials` = the service account's key file;
- `records` / `tab_rows` / `log_rows` / `staff_cells`: results read back from the stand-in;
- `RequestTally` / `count_requests`: the Sheets API requests a block of code made, by endpoint
  kind, from the stand-in's own counters — printed, so `pytest -s` shows them;
- `FakeRetryClock`: a clock for the backend's retry policy, where sleeping moves time forward
  at once (a "60-second" storm of failures takes no real time).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any, Iterable, Iterator

import pytest

from automation.adapters.google import http as google_http
from tests.standin.sheets_api import SheetsStandin
from tests.workbooks import HANT, MAIN_HANT, _hant_to_header

WORKER_HEADERS = frozenset(h for c in HANT.worker_columns for h in c.headers.values())


def sheet_rows(headers: list[str], rows: Iterable[dict[str, Any]]) -> list[list[Any]]:
    """Header row + data rows; a zh-Hant key also fills its zh-Hans (or variant) header."""
    translate = _hant_to_header(headers)
    out = [list(headers)]
    for values in rows:
        line = [None] * len(headers)
        for key, value in values.items():
            header = translate.get(key, key)
            if header in headers:
                line[headers.index(header)] = value
        out.append(line)
    return out


def make_sheet(standin: SheetsStandin, email: str | None, headers: list[str], rows: Iterable[dict[str, Any]], *,
               title: str = MAIN_HANT, extra_tabs: dict[str, list[list[Any]]] | None = None,
               row_count: int = 1000, **options) -> str:
    """A spreadsheet whose main tab holds `rows`, plus staff tabs of their own; shared with
    `email` (None: shared with nobody). Dates become real date cells; strings stay text."""
    tabs: dict[str, Any] = {title: {"rows": sheet_rows(headers, rows), "row_count": row_count}}
    tabs.update(extra_tabs if extra_tabs is not None else {"值班表": [["日期", "值班"], [dt.date(2026, 3, 9), "張麗"]]})
    return standin.create_spreadsheet("前臺接待記錄", tabs, [email] if email else [], **options)


def google_config(folder: Path, base_url: str, key_file: Path | str, spreadsheet: str, *,
                  name: str = "錦繡花園服務中心", language: str = "zh-Hant", extra: str = "",
                  centers: list[dict[str, str]] | None = None, file_name: str = "config.toml",
                  manager_google: str = "", supervisor_google: str = "") -> Path:
    """A config as an admin writes it for Google Sheets. The request quota is raised so tests
    are not held back by the 60-per-minute token bucket (automation/ratelimit.py)."""
    centers = centers or [{"name": name, "spreadsheet": spreadsheet}]
    lines = ['timezone = "Asia/Shanghai"', f'language = "{language}"', "", "[schedule]",
             "google_requests_per_minute = 100000", "", "[mail]", 'transport = "outbox"', 'outbox_dir = "outbox"', "",
             extra]
    sup = f', google = "{supervisor_google}"' if supervisor_google else ""
    man = f', google = "{manager_google}"' if manager_google else ""
    for center in centers:
        lines += ["[[centers]]", f'name = "{center["name"]}"', 'backend = "google"',
                  f'spreadsheet = "{center["spreadsheet"]}"', f'credentials = "{center.get("credentials", key_file)}"',
                  f'api_endpoint = "{center.get("api_endpoint", base_url)}"',
                  f'supervisor = {{ name = "王敏", email = "supervisor@example.com"{sup} }}',
                  f'manager = {{ name = "李強", email = "manager@example.com"{man} }}', ""]
    path = folder / file_name
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


# --- reading results back -------------------------------------------------------------------

def _plain(value: Any) -> Any:
    return None if value == "" else value


def records(standin: SheetsStandin, sid: str, title: str = MAIN_HANT) -> list[dict[str, Any]]:
    """The main tab's data rows as {header: unformatted value} (None for empty), sheet order."""
    values = standin.get_values(sid, title, render="UNFORMATTED_VALUE")
    header = [str(h).strip() for h in values[0]]
    return [dict(zip(header, map(_plain, row))) for row in values[1:] if any(v != "" for v in row)]


def tab_rows(standin: SheetsStandin, sid: str, title: str) -> list[list[Any]]:
    """A tab's rows (header included), unformatted, trailing empty cells dropped."""
    out = []
    for row in standin.get_values(sid, title, render="UNFORMATTED_VALUE", pad=False):
        cells = [_plain(v) for v in row]
        while cells and cells[-1] is None:
            cells.pop()
        out.append(cells)
    return out


def log_rows(standin: SheetsStandin, sid: str, title: str = "運行日誌") -> list[list[Any]]:
    if title not in standin.sheet_titles(sid):
        return []
    return tab_rows(standin, sid, title)[1:]


def staff_cells(standin: SheetsStandin, sid: str) -> dict[str, Any]:
    """Everything staff own: every stored cell (value, format, note, validation) of every tab
    except the worker columns of the main tab and the generated tabs, plus tab properties."""
    from tests.workbooks import GENERATED_TITLES

    metadata = standin.metadata(sid, include_grid_data=True)
    out: dict[str, Any] = {}
    for sheet in metadata["sheets"]:
        title = sheet["properties"]["title"]
        if title in GENERATED_TITLES:
            continue
        rows = sheet["data"][0].get("rowData", [])
        header = [c.get("formattedValue", "") for c in (rows[0].get("values", []) if rows else [])]
        worker = {i for i, h in enumerate(header) if h.strip() in WORKER_HEADERS}
        cells = {}
        for r, row in enumerate(rows):
            for c, cell in enumerate(row.get("values", [])):
                if c not in worker and cell:
                    cells[(r, c)] = cell
        props = dict(sheet["properties"])
        props.get("gridProperties", {}).pop("columnCount", None)  # worker columns may be added
        out[title] = {"cells": cells, "properties": props}
    return out


# --- request counts -------------------------------------------------------------------------

@dataclasses.dataclass
class RequestTally:
    """Sheets API requests made inside a `count_requests` block (token requests excluded)."""

    label: str
    by_kind: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())

    @property
    def sheets(self) -> int:
        """Sheets API requests only (Drive's files.get has its own quota)."""
        return sum(n for kind, n in self.by_kind.items() if not kind.startswith("drive."))

    def line(self) -> str:
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(self.by_kind.items()))
        return f"[google requests] {self.label}: {self.total} ({kinds or 'none'})"


@contextlib.contextmanager
def count_requests(standin: SheetsStandin, label: str, *, show: bool = True) -> Iterator[RequestTally]:
    """Count the Sheets API requests the stand-in receives inside the block; print the tally."""
    before = dict(standin.stats.snapshot()["by_kind"])
    tally = RequestTally(label)
    try:
        yield tally
    finally:
        after = standin.stats.snapshot()["by_kind"]
        tally.by_kind = {kind: after[kind] - before.get(kind, 0) for kind in after
                         if kind != "token" and after[kind] - before.get(kind, 0)}
        if show:
            print(tally.line())


# --- time for the retry policy --------------------------------------------------------------

class FakeRetryClock:
    """`monotonic` / `sleep` for RetryPolicy: sleeping advances the clock, nothing waits."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def policy(self, **overrides) -> google_http.RetryPolicy:
        return google_http.RetryPolicy(sleep=self.sleep, monotonic=self.monotonic, jitter=lambda: 0.5, **overrides)


@pytest.fixture(autouse=True)
def retry_clock(monkeypatch) -> FakeRetryClock:
    """Every backend built in a test that imports this fixture retries on a fake clock: no
    real sleeping. (Autouse in the modules that import it.)"""
    clock = FakeRetryClock()
    monkeypatch.setattr(google_http, "DEFAULT_RETRY", clock.policy())
    return clock
