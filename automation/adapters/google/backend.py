"""`GoogleSheetsBackend`: the worker's sheet on Google Sheets (SPEC 2, 5, 6; issue 4).

Requests per cycle (Google allows 60 per minute per user):
- the sheet's layout (`spreadsheets.get`: tab titles, sheetIds, grid sizes, protections,
  conditional formats) is fetched once per backend instance and kept; it is fetched again
  when a read or a write finds it stale (a tab renamed, deleted or added meanwhile);
- `read`: ONE `values:batchGet` of the main tab, the event log's four columns and — on the
  day's first full cycle, or for a tab whose digest is missing — the generated tabs (SPEC 7:
  the digests of what the worker last wrote in them are kept in developer metadata
  `reception-worker.tab-digests`, written in the same batchUpdate as the tabs, and returned by
  the layout read; a tab is rewritten when its digest changes); unformatted values, dates as
  serial numbers;
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
from itertools import zip_longest
from typing import Any, Callable

from gspread.exceptions import APIError

from ... import ratelimit
from ...config import CenterConfig, Config
from ...domain.cells import ANCHOR_KEYS
from ...domain.init_plan import Layout, other_spelling
from ...domain.records import Snapshot, WritePlan
from ...errors import ConfigError, SheetUnusableError
from ...logs import event_record
from ...presentation import tab_formats
from ...vocabulary import Vocabulary
from ..ports import SheetBackend, TabNames
from . import batch, drive
from . import http as google_http
from . import lease as google_lease
from . import tab_requests
from .client import ErrorTranslator, Where, connect, load_key_file, spreadsheet_key
from .http import CredentialsRefused, GoogleUnreachable, RetryPolicy
from .layout import SheetLayout, Tab
from .placement import READ_PARAMS, ReadState, fresh_columns, place_cells
from .session import SpreadsheetSession, WriteBatch, status_of
from .setup import initialize

log = logging.getLogger("automation.google")
NEW_TAB_SPARE_ROWS = 100
LOG_COLUMNS = "!A2:D"  # the event log's 時間, 事件, 記錄編號, 詳情 (SPEC 4.1), below its header


def main_tab_columns(columns: list[list[Any]]) -> tuple[list[Any], list[list[Any]]]:
    """(header, data columns) of the main tab read column by column. The header is as wide as
    the widest row (staff may type in a column they gave no header, and a worker column added
    there would overwrite their cells); every column as long as the last row holding a value."""
    header = [column[0] if column else None for column in columns]
    count = 0
    for column in columns:
        last = len(column)
        while last > count + 1 and column[last - 1] is None:
            last -= 1
        count = max(count, last - 1)
    data = []
    for column in columns:
        body = column[1:count + 1]
        data.append(body if len(body) == count else body + [None] * (count - len(body)))
    return header, data


def rows_of(columns: list[list[Any]]) -> list[list[Any]]:
    """Values read column by column, as rows (short columns padded with None)."""
    return [list(row) for row in zip_longest(*columns, fillvalue=None)]


class GoogleSheetsBackend(SheetBackend):
    """The SheetBackend of a Google spreadsheet (see the module docstring).

    One instance may serve many cycles (`serve` keeps it; application/all_centers.py `CycleRunner(keep=True)`):
    that is what lets an idle cycle cost a single request. It is not meant to be shared by
    two threads at once (one center, one cycle at a time)."""

    def __init__(self, *, center: str, key: str, client, client_email: str, translator: ErrorTranslator,
                 max_body_bytes: int = batch.MAX_BODY_BYTES, clock: Callable[[], dt.datetime] | None = None,
                 timezone: dt.tzinfo | None = None, lease_interval: dt.timedelta = dt.timedelta(minutes=5),
                 lease_horizon: dt.timedelta = dt.timedelta(0)):
        self.center = center
        self.key = key
        self.client = client
        self.http = client.http_client
        self.client_email = client_email
        self.session = SpreadsheetSession(center=center, key=key, http=self.http, translator=translator,
                                          max_body_bytes=max_body_bytes)
        self.block_bytes = min(batch.BLOCK_BYTES, max_body_bytes // 4)  # several blocks fit in a body
        self._read_state: ReadState | None = None
        self._pending_renames: dict[int, str] = {}  # sheetId → configured title (other spelling found)
        self.skipped_writes = 0  # worker cells of the last write left for the next cycle (rows moved away)
        # The worker lease (lease.py): real UTC time unless a test injects a clock; the interval
        # sets how long a kept lease lives and how often it is refreshed.
        self.clock: Callable[[], dt.datetime] = clock or (lambda: google_lease.DEFAULT_CLOCK())
        self.timezone = timezone
        self.lease_interval = lease_interval
        # Idle cycles (SPEC 7) do not touch the lease: a kept lease must outlive the longest
        # stretch between full cycles, `full_read_minutes`.
        self.lease_horizon = lease_horizon

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
                   lease_interval=dt.timedelta(minutes=config.schedule.interval_minutes),
                   lease_horizon=dt.timedelta(minutes=config.schedule.full_read_minutes))

    # --- the interface -----------------------------------------------------------------------
    def describe(self) -> str:
        return f"Google 試算表 {self.key}"

    @property
    def request_count(self) -> int:
        """Sheets API requests made by this backend so far (retries included)."""
        return self.http.request_count

    @property
    def drive_request_count(self) -> int:
        return self.http.drive_request_count

    def change_stamp(self) -> dict | None:
        """SPEC 7: one Drive files.get of modifiedTime, 0 Sheets requests (drive.py)."""
        # Google unreachable or the key refused: the center fails now (exit 4 / 2), as a full read
        # would after the same wait; only Drive refusing to answer falls back to full reads.
        return self.session.call(lambda: drive.modified_stamp(self.http, self.key, center=self.center,
                                                              account=self.client_email))

    def cycle_finished(self) -> None:
        """The rows read for placing this cycle's writes are not needed after it (under `serve`,
        1,000 centers of 2,000 rows would otherwise hold gigabytes between cycles)."""
        self._read_state = None

    def read(self, names: TabNames, *, compare_tabs: bool = True) -> Snapshot:
        layout, fresh = self.session.layout_now()
        while True:
            main = next((title for title in names.main if title in layout.tabs), None)
            if main is None:
                if not fresh:
                    layout, fresh = self.session.fetch_layout(), True
                    continue
                raise SheetUnusableError(
                    f"服務中心「{self.center}」：試算表 {self.key} 沒有分頁「{names.main[0]}」；"
                    f"請將記錄分頁命名為「{names.main[0]}」，本次未寫入任何內容"
                )
            sources = self._generated_sources(layout, (*names.summaries, names.log))
            digests = self._kept_digests(layout, sources, names)
            # A generated tab without the filter the worker sets was written before tabs were
            # formatted (or lost its format): not read, it is rewritten, formats and all. One the
            # sheet keeps a digest of is known by it, except when asked to compare (SPEC 7).
            summaries = {title: source for title, source in sources.items() if title != names.log
                         and layout.tabs[source].basic_filter is not None
                         and (compare_tabs or digests is None or title not in digests)}
            ranges = {title: batch.quote_title(title) for title in [main, *summaries.values()]}
            if names.log in sources:  # the event log's four columns, below its header (SPEC 4.1)
                ranges[sources[names.log]] = batch.quote_title(sources[names.log]) + LOG_COLUMNS
            try:
                # Column by column: the main tab becomes a DataFrame without transposing, and
                # Google's answer holds a list per column instead of one per row (parsed in half the time).
                answer = self.http.values_batch_get(self.key, list(ranges.values()),
                                                    params=dict(READ_PARAMS, majorDimension="COLUMNS"))
            except APIError as error:
                if not fresh and status_of(error) == 400:  # a tab renamed or deleted since the layout was read
                    layout, fresh = self.session.fetch_layout(), True
                    continue
                raise self.session.translator.translate(error) from None
            except (PermissionError, GoogleUnreachable, CredentialsRefused) as error:
                raise self.session.translator.translate(error) from None
            break
        contents = {}
        for (title, asked), value_range in zip(ranges.items(), answer.get("valueRanges", [])):
            extent = batch.range_extent(value_range.get("range", ""))
            if extent is not None and title in layout.tabs and asked == batch.quote_title(title):
                layout.tabs[title].rows, layout.tabs[title].columns = extent
            contents[title] = [[None if v == "" else v for v in row] for row in value_range.get("values", [])]
        header, columns = main_tab_columns(contents[main])
        self._read_state = ReadState(main, header, columns, len(columns[0]) if columns else 0)
        tabs = {title: rows_of(contents[source]) for title, source in summaries.items()}
        log_rows = rows_of(contents[sources[names.log]]) if names.log in sources else []
        return Snapshot(main_tab=main, header=list(header), rows=[], tabs=tabs, log_rows=log_rows,
                        tab_digests=digests, columns=columns)

    def _kept_digests(self, layout: SheetLayout, sources: dict[str, str], names: TabNames) -> dict[str, str] | None:
        """The digests the sheet keeps of its generated tabs (SPEC 7), for the tabs there under
        their own title with the worker's formatting; None when the service keeps no developer
        metadata (then every tab is read and compared)."""
        if self.session.metadata_supported is False:
            return None
        return {title: digest for title, digest in layout.tab_digests.items()
                if title in names.summaries and sources.get(title) == title
                and layout.tabs[title].basic_filter is not None}

    def write(self, plan: WritePlan) -> None:
        if plan.is_empty():
            return
        state = self._read_state
        if state is None or state.title != plan.main_tab:
            raise RuntimeError("read() must come before write()")
        self.session.with_fresh_layout_retry(lambda layout: self._write(plan, state, layout))

    def ensure_writable(self) -> None:
        """Nothing to check here without spending a request: a spreadsheet shared read-only, or
        Google being down, shows when the record is appended (exit 3 / 4)."""

    def append_log(self, title: str, header: list[str], rows: list[list[Any]]) -> None:
        if not rows:
            return

        def attempt(layout: SheetLayout) -> None:
            work = WriteBatch()
            self._renames(layout, work)
            self._log_requests(layout, work, title, header, rows)
            self.session.send(layout, work)
        self._pending_renames.clear()

        self.session.with_fresh_layout_retry(attempt)

    def initialize(self, layout: Layout) -> list[str]:
        return initialize(self.session, layout, self.client_email)

    # --- the worker lease (lease.py) ---------------------------------------------------------
    def worker_lock(self) -> google_lease.GoogleSheetLock:
        return google_lease.GoogleSheetLock(self)

    def fetch_layout_for_lease(self) -> SheetLayout:
        """Read the layout now, for the lease's check; the next `read()` uses it as it is."""
        return self.session.fetch_layout_for_lease()

    def attach_lease(self, lease: google_lease.GoogleLease) -> None:
        self.session.attach_lease(lease)

    def detach_lease(self, lease: google_lease.GoogleLease) -> None:
        self.session.detach_lease(lease)

    def send_lease(self, *, live: bool) -> None:
        """A batchUpdate carrying only the lease: take or refresh it (`live`), or give it up."""
        self.session.send_lease(live=live)

    # --- layout ------------------------------------------------------------------------------
    def _generated_sources(self, layout: SheetLayout, titles) -> dict[str, str]:
        """Configured title → the tab that holds it now. A generated tab kept under the other
        language's spelling is read as its own (the event log written so far stays the
        worker's memory after `language` is switched) and renamed with the next write."""
        found = {}
        for title in titles:
            if title in layout.tabs:
                found[title] = title
                continue
            other = other_spelling(title, layout.tabs)
            if other is not None:
                found[title] = other
                self._pending_renames[layout.tabs[other].sheet_id] = title
        return found

    # --- writing -----------------------------------------------------------------------------
    def _write(self, plan: WritePlan, state: ReadState, layout: SheetLayout) -> None:
        work = WriteBatch(tab_digests=plan.tab_digests if plan.tabs else None)
        self._renames(layout, work)
        if plan.cells or plan.new_headers:
            self._worker_requests(plan, state, layout, work)
        for title, content in plan.tabs.items():
            self._tab_requests(layout, work, title, content, plan.tab_formats.get(title), plan.main_tab)
        if plan.log_rows:
            self._log_requests(layout, work, plan.log_tab, plan.log_header, plan.log_rows)
        self.session.send(layout, work)
        self._pending_renames.clear()

    def _renames(self, layout: SheetLayout, work: WriteBatch) -> None:
        by_id = {tab.sheet_id: tab for tab in layout.tabs.values()}
        for sheet_id, title in self._pending_renames.items():
            tab = by_id.get(sheet_id)
            if tab is not None and tab.title != title and title not in layout.tabs:
                work.phases[0].append(batch.rename_sheet(sheet_id, title))
                work.renamed[tab.title] = title

    def _tab_of(self, layout: SheetLayout, work: WriteBatch, title: str) -> Tab | None:
        """The tab now holding `title`, counting renames made by this batch."""
        for old, new in work.renamed.items():
            if new == title:
                return layout.tabs.get(old)
        return layout.tabs.get(title)

    def _worker_requests(self, plan: WritePlan, state: ReadState, layout: SheetLayout, work: WriteBatch) -> None:
        main = layout.tabs.get(plan.main_tab)
        if main is None:
            raise SheetUnusableError(
                f"服務中心「{self.center}」：分頁「{plan.main_tab}」在運行期間被改名或刪除；本次未寫入，下次運行重新讀取")
        read_positions = Vocabulary().match_headers(state.header)
        wants_digests = any(w.anchor.startswith("#") for w in plan.cells)
        keys = ["record_id"] + (list(ANCHOR_KEYS) if wants_digests else [])
        fresh = fresh_columns(self.session, plan.main_tab, keys, read_positions, state)
        cells, headers, skipped = place_cells(plan, state, read_positions, fresh, wants_digests)
        self.skipped_writes = skipped
        if skipped:
            event_record(log, logging.INFO, "rows_moved",
                         f"服務中心「{self.center}」：{skipped} 個工作欄儲存格所在的行在讀取後被移動、刪除或修改，"
                         f"本次不寫，下次運行處理", center=self.center, skipped_cells=skipped)
        widest = max([c for _, c in cells] + list(headers), default=0)
        if widest > fresh.column_count:
            work.phases[0].append(batch.append_dimension(main.sheet_id, "COLUMNS", widest - fresh.column_count))
            work.grown[main.title] = (main.rows, widest)
        for column, text in sorted(headers.items()):
            work.phases[0].append(batch.header_cells(main.sheet_id, column - 1, [text]))
        work.phases[0].extend(batch.worker_cell_requests(main.sheet_id, cells, block_bytes=self.block_bytes))

    def _tab_requests(self, layout: SheetLayout, work: WriteBatch, title: str, content: list[list[Any]],
                      form: Any, main_tab: str) -> None:
        tab = self._tab_of(layout, work, title)
        if form is None:  # a plan without formats (a caller of the backend alone)
            form = tab_formats.plain_format(content)
        if tab is None:
            sheet_id = layout.new_sheet_id(work.sheet_ids)
            # Room to grow: a tab whose grid grows must have its filter set again (Google bounds a
            # filter by the grid), which drops the criteria someone chose.
            tab = Tab(sheet_id, title, len(layout.tabs), len(content) + NEW_TAB_SPARE_ROWS, max(form.width, 1),
                      frozen_rows=1)
            work.phases[1].append(batch.add_sheet(sheet_id, title, tab.rows, tab.columns))
            work.new_tabs.append(tab)
        main = self._tab_of(layout, work, main_tab)
        state = tab_requests.TabState(tab.sheet_id, tab.rows, tab.columns, tab.frozen_rows, list(tab.conditional),
                                      tab.basic_filter, tab.charts)
        work.phases[1].extend(tab_requests.tab_requests(state, content, form, main.sheet_id if main else None,
                                                        self.block_bytes))
        work.formatted[tab.title] = state

    def _log_requests(self, layout: SheetLayout, work: WriteBatch, title: str, header: list[str], rows: list[list[Any]]) -> None:
        tab = self._tab_of(layout, work, title)
        phase = work.phases[2]
        if tab is None:
            sheet_id = layout.new_sheet_id(work.sheet_ids)
            columns = max(len(header), max((len(r) for r in rows), default=0))
            phase.append(batch.add_sheet(sheet_id, title, 2, columns))
            phase.append(batch.header_cells(sheet_id, 0, header))
            tab = Tab(sheet_id, title, len(layout.tabs), 2, columns, frozen_rows=1)
            work.new_tabs.append(tab)
        state = tab_requests.TabState(tab.sheet_id, tab.rows, tab.columns, tab.frozen_rows, list(tab.conditional),
                                      tab.basic_filter, tab.charts)
        phase.extend(tab_requests.log_requests(state, rows, self.block_bytes))
        work.formatted[tab.title] = state


