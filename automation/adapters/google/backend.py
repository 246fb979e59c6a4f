"""`GoogleSheetsBackend`: the worker's sheet on Google Sheets (SPEC 2, 5, 6; issue 4).

Requests per cycle (Google allows 60 per minute per user):
- the sheet's layout (`spreadsheets.get`: tab titles, sheetIds, grid sizes, protections,
  conditional formats) is fetched once per backend instance and kept; it is fetched again
  when a read or a write finds it stale (a tab renamed, deleted or added meanwhile);
- `read`: ONE `values:batchGet` of the main tab, the generated tabs that exist and the
  event log (unformatted values, dates as serial numbers);
- `write`: ONE `values:batchGet` of the header row, the 記錄編號 column and — only when rows
  without an id are written — the staff columns that identify those rows, just before
  writing; then ONE `spreadsheets.batchUpdate` with everything: new tabs (sheetIds chosen
  here so later requests of the same batch can use them), grown grids, worker cells,
  summary tabs, log rows. Google applies a batchUpdate atomically. A body over ~9 MB is split
  (worker cells, then summary tabs, then log rows: SPEC 6);
- `append_log`: one `spreadsheets.batchUpdate`.
So an idle cycle costs 1 request on a reused backend (`serve`), 2 on a new one (`run`); a cycle
with changes 2 more; a cycle that sends messages 1 more — 2 more on a one-shot `run`, whose
lease is written before the first message goes out (see lease.py).

One worker per sheet (issue 5): `worker_lock()` offers the sheet's lease, kept in developer
metadata `reception-worker.lease` (lease.py). Its requests ride inside the batches above: every
batchUpdate of a cycle that holds a lease carries a compare-and-swap of the record, so a worker
whose lease was taken over cannot write. Checking it costs nothing: the layout read returns it.

Live edits (staff insert, delete and sort rows while the worker runs): a write is placed by
the row's identity, never by the row number remembered from the read. Each CellWrite carries
the row's anchor (its 記錄編號 at read time, or a digest of its staff cells when it had none:
`domain.cells.row_anchors`); the fresh read just before the write finds the row holding that anchor
now. A row that vanished, or whose anchor is no longer unambiguous, is left alone this cycle;
the next cycle handles it. Columns are placed by header, so a column inserted meanwhile moves
the writes with it. Row developer metadata would also move with rows, but not with a sort
(sortRange moves cell contents only), and would cost a request per new row: a fresh read of
one column is cheaper and survives sorting.

A write that failed ambiguously (timeout, 5xx, dropped connection: maybe applied, maybe not)
is never applied twice: every batchUpdate also sets a marker (spreadsheet developer metadata
`reception-worker.last-write`) to a fresh value, and before sending again the backend reads
the layout to see whether the marker already holds it.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Callable

import pandas as pd
from gspread.exceptions import APIError
from gspread.urls import SPREADSHEET_BATCH_UPDATE_URL

from ... import ratelimit
from ...config import CenterConfig, Config
from ...domain import rules
from ...domain.cells import ANCHOR_KEYS, row_anchors
from ...domain.records import Snapshot, WritePlan
from ...errors import ConfigError, SheetUnusableError
from ...logs import event_record
from ...vocabulary import Vocabulary, normalize_text
from ..ports import Layout, SheetBackend, TabNames
from . import batch
from . import http as google_http
from . import lease as google_lease
from .client import ErrorTranslator, Where, connect, load_key_file, spreadsheet_key
from .http import CredentialsRefused, GoogleUnreachable, RetryPolicy

MARKER_KEY = "reception-worker.last-write"
LAYOUT_FIELDS = ("sheets(properties(sheetId,title,index,gridProperties),protectedRanges,conditionalFormats),"
                 "developerMetadata(metadataId,metadataKey,metadataValue,location(locationType))")
log = logging.getLogger("automation.google")
JSON_HEADERS = {"Content-Type": "application/json; charset=UTF-8"}
READ_PARAMS = {"valueRenderOption": "UNFORMATTED_VALUE", "dateTimeRenderOption": "SERIAL_NUMBER"}


@dataclass
class Tab:
    sheet_id: int
    title: str
    index: int
    rows: int
    columns: int
    frozen_rows: int = 0
    protected: list[dict] = field(default_factory=list)
    conditional: list[dict] = field(default_factory=list)


@dataclass
class SheetLayout:
    """What `spreadsheets.get` told us about the spreadsheet (no cell values)."""

    tabs: dict[str, Tab]
    marker_id: int | None = None
    marker_value: str | None = None
    lease: google_lease.LeaseRecord | None = None  # the worker lease's record (lease.py)

    @classmethod
    def parse(cls, metadata: dict) -> "SheetLayout":
        tabs = {}
        for sheet in metadata.get("sheets", []):
            properties = sheet.get("properties", {})
            grid = properties.get("gridProperties", {})
            tab = Tab(
                sheet_id=int(properties.get("sheetId", 0)), title=properties.get("title", ""),
                index=int(properties.get("index", 0)), rows=int(grid.get("rowCount", 0)),
                columns=int(grid.get("columnCount", 0)), frozen_rows=int(grid.get("frozenRowCount", 0)),
                protected=list(sheet.get("protectedRanges", [])), conditional=list(sheet.get("conditionalFormats", [])),
            )
            tabs[tab.title] = tab
        layout = cls(tabs)
        for item in metadata.get("developerMetadata", []):
            if item.get("metadataKey") == MARKER_KEY:
                layout.marker_id, layout.marker_value = int(item["metadataId"]), item.get("metadataValue")
        layout.lease = google_lease.find_record(metadata.get("developerMetadata", []))
        return layout

    def new_sheet_id(self, taken: set[int]) -> int:
        used = {tab.sheet_id for tab in self.tabs.values()} | taken
        while True:
            candidate = secrets.randbelow(2**31 - 2) + 1
            if candidate not in used:
                taken.add(candidate)
                return candidate


@dataclass
class _ReadState:
    """The main tab as the last read saw it: the basis of the write's anchors."""

    title: str
    header: list[Any]
    rows: list[list[Any]]


@dataclass
class _Batch:
    """A write being built: request phases (worker cells, summary tabs, log rows) and what
    the cached layout must learn once it is applied."""

    phases: list[list[dict]] = field(default_factory=lambda: [[], [], []])
    new_tabs: list[Tab] = field(default_factory=list)
    grown: dict[str, tuple[int, int]] = field(default_factory=dict)  # title → (rows, columns)
    renamed: dict[str, str] = field(default_factory=dict)  # old title → new title
    sheet_ids: set[int] = field(default_factory=set)


class GoogleSheetsBackend(SheetBackend):
    """The SheetBackend of a Google spreadsheet (see the module docstring).

    One instance may serve many cycles (`serve` keeps it; application/all_centers.py `CycleRunner(keep=True)`):
    that is what lets an idle cycle cost a single request. It is not meant to be shared by
    two threads at once (one center, one cycle at a time)."""

    def __init__(self, *, center: str, key: str, client, client_email: str, translator: ErrorTranslator,
                 max_body_bytes: int = batch.MAX_BODY_BYTES, clock: Callable[[], dt.datetime] | None = None,
                 timezone: dt.tzinfo | None = None, lease_interval: dt.timedelta = dt.timedelta(minutes=5)):
        self.center = center
        self.key = key
        self.client = client
        self.http = client.http_client
        self.client_email = client_email
        self.translator = translator
        self.max_body_bytes = max_body_bytes
        self.block_bytes = min(batch.BLOCK_BYTES, max_body_bytes // 4)  # several blocks fit in a body
        self._layout: SheetLayout | None = None
        self._read_state: _ReadState | None = None
        self._pending_renames: dict[int, str] = {}  # sheetId → configured title (other spelling found)
        self.layout_fetches = 0
        self.skipped_writes = 0  # worker cells of the last write left for the next cycle (rows moved away)
        # The worker lease (lease.py): real UTC time unless a test injects a clock; the interval
        # sets how long a kept lease lives and how often it is refreshed.
        self.clock: Callable[[], dt.datetime] = clock or (lambda: google_lease.DEFAULT_CLOCK())
        self.timezone = timezone
        self.lease_interval = lease_interval
        self.lease: google_lease.GoogleLease | None = None  # fences every batchUpdate while attached
        # Whether the service keeps developer metadata (write marker, lease): None until the
        # first write tells; False on a stand-in without it, where writes go without both.
        self.metadata_supported: bool | None = None
        self._layout_fresh = False  # the cached layout was fetched for this cycle (by acquire)

    @classmethod
    def from_config(cls, center: CenterConfig, config: Config, *, retry: RetryPolicy | None = None,
                    max_body_bytes: int = batch.MAX_BODY_BYTES,
                    clock: Callable[[], dt.datetime] | None = None) -> "GoogleSheetsBackend":
        index = next((i for i, c in enumerate(config.centers, start=1) if c.name == center.name), 1)
        where = Where(center.name, index, config.source)
        key = spreadsheet_key(center.spreadsheet, where)
        if center.credentials is None:
            raise ConfigError(f"設定檔 {config.source}：{where.key('credentials')} 缺失：需要服務帳號金鑰檔路徑")
        info = load_key_file(center.credentials, where)
        base_url = None
        if center.api_endpoint:
            try:
                base_url = google_http.normalize_endpoint(center.api_endpoint)
            except ValueError:
                raise ConfigError(
                    f"設定檔 {config.source}：{where.key('api_endpoint')} 應為 scheme://主機[:端口]，"
                    f"例如 \"http://127.0.0.1:8080\"（/v4/... 路徑不寫），現為 {center.api_endpoint!r}"
                ) from None
        limiter = ratelimit.limiter_for(center.credentials, config.schedule.google_requests_per_minute)
        client = connect(info, center.credentials, where, base_url=base_url,
                         retry=retry or google_http.DEFAULT_RETRY, limiter=limiter)
        translator = ErrorTranslator(where, key, info["client_email"], center.credentials)
        return cls(center=center.name, key=key, client=client, client_email=info["client_email"],
                   translator=translator, max_body_bytes=max_body_bytes, clock=clock, timezone=config.timezone,
                   lease_interval=dt.timedelta(minutes=config.schedule.interval_minutes))

    # --- the interface -----------------------------------------------------------------------
    def describe(self) -> str:
        return f"Google 試算表 {self.key}"

    @property
    def request_count(self) -> int:
        """Sheets API requests made by this backend so far (retries included)."""
        return self.http.request_count

    def read(self, names: TabNames) -> Snapshot:
        layout, fresh = self._layout_now()
        while True:
            main = next((title for title in names.main if title in layout.tabs), None)
            if main is None:
                if not fresh:
                    layout, fresh = self._fetch_layout(), True
                    continue
                raise SheetUnusableError(
                    f"服務中心「{self.center}」：試算表 {self.key} 沒有分頁「{names.main[0]}」；"
                    f"請將記錄分頁命名為「{names.main[0]}」，本次未寫入任何內容"
                )
            sources = self._generated_sources(layout, (*names.summaries, names.log))
            titles = [main, *sources.values()]
            try:
                answer = self.http.values_batch_get(self.key, [batch.quote_title(t) for t in titles],
                                                    params=dict(READ_PARAMS, majorDimension="ROWS"))
            except APIError as error:
                if not fresh and _status_of(error) == 400:  # a tab renamed or deleted since the layout was read
                    layout, fresh = self._fetch_layout(), True
                    continue
                raise self.translator.translate(error) from None
            except (PermissionError, GoogleUnreachable, CredentialsRefused) as error:
                raise self.translator.translate(error) from None
            break
        ranges = answer.get("valueRanges", [])
        contents = {}
        for title, value_range in zip(titles, ranges):
            extent = batch.range_extent(value_range.get("range", ""))
            if extent is not None and title in layout.tabs:
                layout.tabs[title].rows, layout.tabs[title].columns = extent
            contents[title] = [[None if v == "" else v for v in row] for row in value_range.get("values", [])]
        values = contents[main]
        width = max(map(len, values), default=0)
        # The header is as wide as the widest row: staff may type in a column they gave no
        # header, and a worker column added there would overwrite their cells.
        header = (values[0] if values else []) + [None] * (width - (len(values[0]) if values else 0))
        rows = [row if len(row) == width else row + [None] * (width - len(row)) for row in values[1:]]
        while rows and all(v is None for v in rows[-1]):
            rows.pop()
        self._read_state = _ReadState(main, header, rows)
        tabs = {title: contents[source] for title, source in sources.items() if title != names.log}
        log_rows = contents[sources[names.log]][1:] if names.log in sources else []
        return Snapshot(main_tab=main, header=list(header), rows=rows, tabs=tabs, log_rows=log_rows)

    def write(self, plan: WritePlan) -> None:
        if plan.is_empty():
            return
        state = self._read_state
        if state is None or state.title != plan.main_tab:
            raise RuntimeError("read() must come before write()")
        self._with_fresh_layout_retry(lambda layout: self._write(plan, state, layout))

    def ensure_writable(self) -> None:
        """Nothing to check here without spending a request: a spreadsheet shared read-only, or
        Google being down, shows when the record is appended (exit 3 / 4)."""

    def append_log(self, title: str, header: list[str], rows: list[list[Any]]) -> None:
        if not rows:
            return

        def attempt(layout: SheetLayout) -> None:
            work = _Batch()
            self._renames(layout, work)
            self._log_requests(layout, work, title, header, rows)
            self._send(layout, work)

        self._with_fresh_layout_retry(attempt)

    def initialize(self, layout: Layout) -> list[str]:
        from .setup import initialize

        return initialize(self, layout)

    # --- the worker lease (lease.py) ---------------------------------------------------------
    def worker_lock(self) -> google_lease.GoogleSheetLock:
        return google_lease.GoogleSheetLock(self)

    def fetch_layout_for_lease(self) -> SheetLayout:
        """Read the layout now, for the lease's check; the next `read()` uses it as it is."""
        layout = self._fetch_layout()
        self._layout_fresh = True
        return layout

    def attach_lease(self, lease: google_lease.GoogleLease) -> None:
        if self.metadata_supported is not False:  # no lease where no record can be kept
            self.lease = lease

    def detach_lease(self, lease: google_lease.GoogleLease) -> None:
        if self.lease is lease:
            self.lease = None

    def send_lease(self, *, live: bool) -> None:
        """A batchUpdate carrying only the lease: take or refresh it (`live`), or give it up."""
        if self.metadata_supported is False:
            return
        mode = "live" if live else "release"
        self._with_fresh_layout_retry(lambda layout: self._send(layout, _Batch(), lease_only=mode))

    # --- layout ------------------------------------------------------------------------------
    def _layout_now(self) -> tuple[SheetLayout, bool]:
        if self._layout is not None:
            fresh, self._layout_fresh = self._layout_fresh, False
            return self._layout, fresh
        return self._fetch_layout(), True

    def _fetch_layout(self) -> SheetLayout:
        metadata = self._call(lambda: self.http.fetch_sheet_metadata(
            self.key, params={"includeGridData": "false", "fields": LAYOUT_FIELDS}))
        self.layout_fetches += 1
        self._layout = SheetLayout.parse(metadata)
        if self.lease is not None:
            self.lease.observe(self._layout.lease)
        return self._layout

    def _generated_sources(self, layout: SheetLayout, titles) -> dict[str, str]:
        """Configured title → the tab that holds it now. A generated tab kept under the other
        language's spelling is read as its own (the event log written so far stays the
        worker's memory after `language` is switched) and renamed with the next write."""
        vocabulary = Vocabulary()
        found = {}
        for title in titles:
            if title in layout.tabs:
                found[title] = title
                continue
            for key in vocabulary.generated_tab_keys:
                spellings = vocabulary.tab_titles(key)
                if title in spellings:
                    other = next((t for t in spellings if t != title and t in layout.tabs), None)
                    if other is not None and title not in layout.tabs:
                        found[title] = other
                        self._pending_renames[layout.tabs[other].sheet_id] = title
                    break
        return found

    # --- errors ------------------------------------------------------------------------------
    def _call(self, action, *, writing: bool = False):
        try:
            return action()
        except (APIError, PermissionError, GoogleUnreachable, CredentialsRefused) as error:
            raise self.translator.translate(error, writing=writing) from None

    def _with_fresh_layout_retry(self, attempt) -> None:
        """Run a write; when Google refuses it as invalid (400: a tab added, renamed or deleted,
        a grid resized since the layout was fetched — the batch was not applied), fetch the
        layout and build the write again, once."""
        for number in (1, 2):
            layout, _ = self._layout_now()
            try:
                attempt(layout)
                return
            except APIError as error:
                self._layout = None
                if number == 1 and _status_of(error) == 400:
                    continue
                raise self.translator.translate(error, writing=True) from None
            except (PermissionError, GoogleUnreachable, CredentialsRefused) as error:
                self._layout = None
                raise self.translator.translate(error, writing=True) from None
            except BaseException:
                self._layout = None
                raise

    # --- writing -----------------------------------------------------------------------------
    def _write(self, plan: WritePlan, state: _ReadState, layout: SheetLayout) -> None:
        work = _Batch()
        self._renames(layout, work)
        if plan.cells or plan.new_headers:
            self._worker_requests(plan, state, layout, work)
        for title, content in plan.tabs.items():
            self._tab_requests(layout, work, title, content)
        if plan.log_rows:
            self._log_requests(layout, work, plan.log_tab, plan.log_header, plan.log_rows)
        self._send(layout, work)

    def _renames(self, layout: SheetLayout, work: _Batch) -> None:
        by_id = {tab.sheet_id: tab for tab in layout.tabs.values()}
        for sheet_id, title in self._pending_renames.items():
            tab = by_id.get(sheet_id)
            if tab is not None and tab.title != title and title not in layout.tabs:
                work.phases[0].append(batch.rename_sheet(sheet_id, title))
                work.renamed[tab.title] = title

    def _tab_of(self, layout: SheetLayout, work: _Batch, title: str) -> Tab | None:
        """The tab now holding `title`, counting renames made by this batch."""
        for old, new in work.renamed.items():
            if new == title:
                return layout.tabs.get(old)
        return layout.tabs.get(title)

    def _worker_requests(self, plan: WritePlan, state: _ReadState, layout: SheetLayout, work: _Batch) -> None:

        main = layout.tabs.get(plan.main_tab)
        if main is None:
            raise SheetUnusableError(
                f"服務中心「{self.center}」：分頁「{plan.main_tab}」在運行期間被改名或刪除；本次未寫入，下次運行重新讀取")
        vocabulary = Vocabulary()
        read_positions = vocabulary.match_headers(state.header)
        wants_digests = any(w.anchor.startswith("#") for w in plan.cells)
        keys = ["record_id"] + (list(ANCHOR_KEYS) if wants_digests else [])
        fresh = self._fresh_columns(plan.main_tab, keys, read_positions, state)
        placement = _Placement(state, read_positions, fresh, wants_digests)

        # Columns: by header. New worker headers go where the plan put them, unless the
        # columns changed meanwhile (then they wait for the next cycle, with their cells).
        column_key = {position + 1: key for key, position in read_positions.items()}
        new_header_keys = {}
        for column, text in plan.new_headers:
            key = next(iter(vocabulary.match_headers([text])), None)
            if key is None:
                continue
            column_key[column] = key
            new_header_keys[key] = (column, text)
        worker_keys = {c.key for c in vocabulary.worker_columns}
        target_column: dict[int, int] = {}  # read-time column → column now; worker columns only
        for column, key in column_key.items():
            if key not in worker_keys:
                continue  # a staff column is never written, whatever a plan says
            if key in fresh.positions:
                target_column[column] = fresh.positions[key] + 1
            elif key in new_header_keys and fresh.header_unchanged:
                target_column[column] = column

        cells: dict[tuple[int, int], Any] = {}
        skipped = 0
        for write in plan.cells:
            column = target_column.get(write.column)
            row = placement.row_of(write.anchor, write.row)
            if column is None or row is None:
                skipped += 1
                continue
            cells[(row, column)] = write.value
        self.skipped_writes = skipped
        if skipped:
            event_record(log, logging.INFO, "rows_moved",
                         f"服務中心「{self.center}」：{skipped} 個工作欄儲存格所在的行在讀取後被移動、刪除或修改，"
                         f"本次不寫，下次運行處理", center=self.center, skipped_cells=skipped)

        headers = {column: text for key, (column, text) in new_header_keys.items()
                   if key not in fresh.positions and fresh.header_unchanged}
        widest = max([c for _, c in cells] + list(headers), default=0)
        if widest > fresh.column_count:
            work.phases[0].append(batch.append_dimension(main.sheet_id, "COLUMNS", widest - fresh.column_count))
            work.grown[main.title] = (main.rows, widest)
        for column, text in sorted(headers.items()):
            work.phases[0].append(batch.header_cells(main.sheet_id, column - 1, [text]))
        work.phases[0].extend(batch.worker_cell_requests(main.sheet_id, cells, block_bytes=self.block_bytes))

    def _fresh_columns(self, title: str, keys: list[str], read_positions: dict[str, int],
                       state: _ReadState) -> "_Fresh":
        """The header row and the id (and anchor) columns as they are now: one batchGet, or two
        when columns were inserted, deleted or moved since the read. Google's errors are left
        raw here: a 400 (the tab renamed meanwhile) makes the caller fetch the layout again."""
        vocabulary = Vocabulary()
        positions = {k: read_positions[k] for k in keys if k in read_positions}
        quoted = batch.quote_title(title)
        for attempt in (1, 2):
            ranges = [f"{quoted}!1:1"] + [f"{quoted}!{batch.column_letters(p)}:{batch.column_letters(p)}"
                                           for p in positions.values()]
            answer = self.http.values_batch_get(self.key, ranges, params=dict(READ_PARAMS, majorDimension="COLUMNS"))
            value_ranges = answer.get("valueRanges", [])
            header = [None if not column or column[0] == "" else column[0] for column in value_ranges[0].get("values", [])]
            fresh_positions = vocabulary.match_headers(header)
            moved = any(fresh_positions.get(k) != p for k, p in positions.items())
            if moved and attempt == 1:
                positions = {k: fresh_positions[k] for k in keys if k in fresh_positions}
                continue
            columns = {}
            if not moved:  # still moving on a second look: place nothing this cycle
                for key, value_range in zip(positions, value_ranges[1:]):
                    values = value_range.get("values", [])
                    columns[key] = [None if v == "" else v for v in (values[0] if values else [])]
            extent = batch.range_extent(value_ranges[0].get("range", ""))
            return _Fresh(header=header, positions=fresh_positions, columns=columns,
                          column_count=extent[1] if extent else len(header),
                          header_unchanged=_trimmed(header) == _trimmed(state.header))
        raise AssertionError("unreachable")

    def _tab_requests(self, layout: SheetLayout, work: _Batch, title: str, content: list[list[Any]]) -> None:
        width = max((len(row) for row in content), default=1)
        tab = self._tab_of(layout, work, title)
        if tab is None:
            sheet_id = layout.new_sheet_id(work.sheet_ids)
            rows, columns = max(len(content), 2), max(width, 1)
            work.phases[1].append(batch.add_sheet(sheet_id, title, rows, columns))
            work.phases[1].append(batch.bold_row(sheet_id, columns))
            work.phases[1].extend(batch.replace_tab_requests(sheet_id, content, rows, columns,
                                                             block_bytes=self.block_bytes))
            work.new_tabs.append(Tab(sheet_id, title, len(layout.tabs), rows, columns, frozen_rows=1))
            return
        work.phases[1].extend(batch.replace_tab_requests(tab.sheet_id, content, tab.rows, tab.columns,
                                                         block_bytes=self.block_bytes))
        grown = (max(tab.rows, len(content)), max(tab.columns, width))
        if grown != (tab.rows, tab.columns):
            work.grown[title] = grown

    def _log_requests(self, layout: SheetLayout, work: _Batch, title: str, header: list[str], rows: list[list[Any]]) -> None:
        tab = self._tab_of(layout, work, title)
        phase = work.phases[2]
        if tab is None:
            sheet_id = layout.new_sheet_id(work.sheet_ids)
            columns = max(len(header), max((len(r) for r in rows), default=0))
            phase.append(batch.add_sheet(sheet_id, title, 2, columns))
            phase.append(batch.header_cells(sheet_id, 0, header))
            work.new_tabs.append(Tab(sheet_id, title, len(layout.tabs), 2, columns, frozen_rows=1))
            phase.extend(batch.append_rows_requests(sheet_id, rows, block_bytes=self.block_bytes))
            return
        phase.extend(batch.append_rows_requests(tab.sheet_id, rows, block_bytes=self.block_bytes))

    def _send(self, layout: SheetLayout, work: _Batch, *, lease_only: str = "") -> None:
        """Send the batch (split only when it would exceed the size limit), each body carrying
        the write marker and, while a lease is attached, its compare-and-swap at the front
        (lease.py): to our live record while the lease is kept (serve) and between the bodies
        of a split batch, else to a released one. `lease_only` ("live" / "release"): a body with
        the lease's swap alone. Then teach the cached layout what changed."""
        encoded = [[batch.encode(r) for r in phase] for phase in work.phases]
        url = SPREADSHEET_BATCH_UPDATE_URL % self.key
        lease = self.lease
        reserve = 600 + (lease.reserve_bytes() if lease is not None else 0)
        bodies = batch.split_bodies(encoded, self.max_body_bytes, reserve=reserve)
        if lease_only:
            bodies = [[]] if lease is not None else []
        for number, parts in enumerate(bodies):
            if self.metadata_supported is False:
                if parts:
                    self.http.request("post", url, data=batch.body(parts), headers=JSON_HEADERS)
                continue
            fence = None
            if lease is not None:
                last = number == len(bodies) - 1
                live = lease_only == "live" or (not lease_only and (lease.keeps or not last))
                fence = lease.fence(live=live, release_only=lease_only == "release")
                if fence is None:
                    continue  # nothing of ours to give up
            nonce = secrets.token_hex(12)
            marker_id = layout.marker_id or secrets.randbelow(2**31 - 2) + 1
            marker = batch.marker_request(MARKER_KEY, marker_id, nonce, exists=layout.marker_id is not None)
            fenced = fence.encoded() if fence is not None else []
            try:
                self.http.request("post", url, data=batch.body([batch.encode(marker), *fenced, *parts]),
                                  headers=JSON_HEADERS,
                                  already_applied=lambda nonce=nonce: self._fetch_layout().marker_value == nonce)
            except APIError as error:
                if not self._refuses_developer_metadata(error):
                    raise
                if parts:
                    self.http.request("post", url, data=batch.body(parts), headers=JSON_HEADERS)
                self._without_developer_metadata()
                continue
            self.metadata_supported = True
            layout.marker_id, layout.marker_value = marker_id, nonce
            if fence is not None:
                lease.applied(fence)
                layout.lease = fence.record_after
        self._learn(layout, work)
        if not lease_only:
            self._pending_renames.clear()

    def _refuses_developer_metadata(self, error: APIError) -> bool:
        """A first write refused as invalid (400) on a spreadsheet that holds no developer
        metadata at all: the service takes no developer metadata (a Sheets API stand-in that
        lacks it). On Google, a refused lease swap leaves another worker's record behind, and a
        stale layout is refused again without the metadata, so neither is mistaken for this."""
        if self.metadata_supported is not None or _status_of(error) != 400:
            return False
        fresh = self._fetch_layout()
        return fresh.marker_id is None and fresh.lease is None

    def _without_developer_metadata(self) -> None:
        """Carry on without the write marker and the lease, and say so once."""
        self.metadata_supported = False
        self.lease = None
        event_record(log, logging.WARNING, "no_developer_metadata",
                     f"服務中心「{self.center}」：試算表服務不接受開發者中繼資料（developer metadata），"
                     f"寫入照常，但無法為此試算表加鎖：請勿讓兩個程序同時處理它")

    def _learn(self, layout: SheetLayout, work: _Batch) -> None:
        """The cached layout after a successful write, without asking Google again."""
        for old, new in work.renamed.items():
            tab = layout.tabs.pop(old, None)
            if tab is not None:
                tab.title = new
                layout.tabs[new] = tab
        for tab in work.new_tabs:
            layout.tabs.setdefault(tab.title, tab)
        for title, (rows, columns) in work.grown.items():
            if title in layout.tabs:
                layout.tabs[title].rows = max(layout.tabs[title].rows, rows)
                layout.tabs[title].columns = max(layout.tabs[title].columns, columns)
        self._layout = layout


@dataclass
class _Fresh:
    header: list[Any]
    positions: dict[str, int]
    columns: dict[str, list[Any]]  # key → cells from row 1 down
    column_count: int
    header_unchanged: bool


class _Placement:
    """Where each row of the read is now, by its anchor (see the module docstring).

    A row is found under its 記錄編號 when it had one, else under the digest of its staff
    cells. When several rows share an anchor (a copied row with its id, identical rows), the
    k-th of them at read time is the k-th now — provided their number did not change."""

    def __init__(self, state: _ReadState, read_positions: dict[str, int], fresh: _Fresh, digests: bool):

        # Only the id and anchor columns place a row: copying the others would cost a pass over
        # every cell of the sheet.
        wanted = ("record_id", *ANCHOR_KEYS) if digests else ("record_id",)
        self.read_index = _anchor_index(
            _columns_of(state.rows, {k: p for k, p in read_positions.items() if k in wanted}), digests,
            count=len(state.rows) if read_positions else 0)
        self.fresh_index = _anchor_index({k: v[1:] for k, v in fresh.columns.items()}, digests)

    def row_of(self, anchor: str, read_row: int) -> int | None:
        before = self.read_index.get(anchor)
        now = self.fresh_index.get(anchor)
        if not before or not now or len(before) != len(now) or read_row not in before:
            return None
        return now[before.index(read_row)]


def _columns_of(rows: list[list[Any]], positions: dict[str, int]) -> dict[str, list[Any]]:
    shortest = min(map(len, rows), default=0)  # read() pads rows alike: usually no row is short
    return {key: list(map(itemgetter(p), rows)) if p < shortest else [row[p] if p < len(row) else None for row in rows]
            for key, p in positions.items()}


def _anchor_index(columns: dict[str, list[Any]], digests: bool, count: int | None = None) -> dict[str, list[int]]:
    """anchor → the sheet rows (2-based: the first data row is 2) holding it, in order; `count`
    rows (default: as many as the longest column)."""

    if count is None:
        count = max((len(v) for v in columns.values()), default=0)
    index: dict[str, list[int]] = {}
    if count == 0:
        return index
    padded = {key: list(columns.get(key, [])) + [None] * (count - len(columns.get(key, []))) for key in
              (("record_id", *ANCHOR_KEYS) if digests else ("record_id",))}
    ids = rules.text_of(pd.Series(padded["record_id"], dtype=object)).tolist()
    for offset, value in enumerate(ids):
        if value:
            index.setdefault(value, []).append(offset + 2)
    if digests:
        frame = pd.DataFrame({key: padded[key] for key in ANCHOR_KEYS}, dtype=object)
        for offset, value in enumerate(row_anchors(frame)):
            index.setdefault(value, []).append(offset + 2)
    return index


def _status_of(error: APIError) -> int:
    return int(getattr(getattr(error, "response", None), "status_code", 0) or 0)


def _trimmed(header: list[Any]) -> list[str]:
    out = [normalize_text(v) for v in header]
    while out and not out[-1]:
        out.pop()
    return out

