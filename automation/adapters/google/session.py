"""One Google spreadsheet as the worker talks to it: the layout kept between cycles, Google's
errors translated, and every `spreadsheets.batchUpdate` sent with its write marker and, while a
lease is attached, the lease's compare-and-swap (see backend.py and lease.py for why).

The layer between the HTTP client (http.py, client.py) and what uses a spreadsheet: the cycle's
reads and writes (backend.py), `init` (setup.py), the worker lease (lease.py). Each of those calls
the public methods here; none reaches into another.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from gspread.exceptions import APIError
from gspread.urls import SPREADSHEET_BATCH_UPDATE_URL

from ...logs import event_record
from . import batch
from .client import ErrorTranslator
from .http import CredentialsRefused, GoogleUnreachable
from .layout import DIGESTS_ID, DIGESTS_KEY, LAYOUT_FIELDS, MARKER_KEY, LeaseRecord, SheetLayout, Tab

log = logging.getLogger("automation.google")
JSON_HEADERS = {"Content-Type": "application/json; charset=UTF-8"}


class Fencing(Protocol):
    """What a sent batch needs of the lease attached to the spreadsheet (lease.GoogleLease)."""

    keeps: bool

    def observe(self, record: LeaseRecord | None) -> None: ...

    def fence(self, *, live: bool, release_only: bool = False): ...  # a lease.Fence, or None

    def applied(self, fence) -> None: ...

    def reserve_bytes(self) -> int: ...


@dataclass
class WriteBatch:
    """A write being built: request phases (worker cells, summary tabs, log rows) and what
    the cached layout must learn once it is applied."""

    phases: list[list[dict]] = field(default_factory=lambda: [[], [], []])
    new_tabs: list[Tab] = field(default_factory=list)
    grown: dict[str, tuple[int, int]] = field(default_factory=dict)  # title → (rows, columns)
    renamed: dict[str, str] = field(default_factory=dict)  # old title → new title
    sheet_ids: set[int] = field(default_factory=set)
    formatted: dict[str, Any] = field(default_factory=dict)  # title → tab_requests.TabState after the batch
    # SPEC 7: the generated tabs' digests to keep once this batch's tabs are written (None: leave them)
    tab_digests: dict[str, str] | None = None


class SpreadsheetSession:
    """The spreadsheet `key` reached through `http`: layout cache, errors, batches, lease fence.

    Not meant to be shared by two threads at once (one center, one cycle at a time)."""

    def __init__(self, *, center: str, key: str, http, translator: ErrorTranslator,
                 max_body_bytes: int = batch.MAX_BODY_BYTES):
        self.center = center
        self.key = key
        self.http = http
        self.translator = translator
        self.max_body_bytes = max_body_bytes
        self.layout: SheetLayout | None = None  # as last fetched, and taught by our own writes
        self.layout_fresh = False  # the cached layout was fetched for this cycle (by the lease)
        self.layout_fetches = 0
        self.lease: Fencing | None = None  # fences every batchUpdate while attached
        # Whether the service keeps developer metadata (write marker, lease): None until the
        # first write tells; False on a stand-in without it, where writes go without both.
        self.metadata_supported: bool | None = None
        # Google refused the lease's compare-and-swap for its shape: no lease from then on.
        self.lease_swap_refused = False

    # --- layout ------------------------------------------------------------------------------
    def layout_now(self) -> tuple[SheetLayout, bool]:
        if self.layout is not None:
            fresh, self.layout_fresh = self.layout_fresh, False
            return self.layout, fresh
        return self.fetch_layout(), True

    def fetch_layout(self) -> SheetLayout:
        metadata = self.call(lambda: self.http.fetch_sheet_metadata(
            self.key, params={"includeGridData": "false", "fields": LAYOUT_FIELDS}))
        self.layout_fetches += 1
        self.layout = SheetLayout.parse(metadata)
        if self.lease is not None:
            self.lease.observe(self.layout.lease)
        return self.layout

    def forget_layout(self) -> None:
        """Fetch the layout afresh next time (protections or rules changed behind the cache)."""
        self.layout = None

    # --- errors ------------------------------------------------------------------------------
    def call(self, action, *, writing: bool = False):
        try:
            return action()
        except (APIError, PermissionError, GoogleUnreachable, CredentialsRefused) as error:
            raise self.translator.translate(error, writing=writing) from None

    def with_fresh_layout_retry(self, attempt) -> None:
        """Run a write; when Google refuses it as invalid (400: a tab added, renamed or deleted,
        a grid resized since the layout was fetched — the batch was not applied), fetch the
        layout and build the write again, once."""
        for number in (1, 2):
            layout, _ = self.layout_now()
            try:
                attempt(layout)
                return
            except APIError as error:
                self.layout = None
                if number == 1 and status_of(error) == 400:
                    continue
                raise self.translator.translate(error, writing=True) from None
            except (PermissionError, GoogleUnreachable, CredentialsRefused) as error:
                self.layout = None
                raise self.translator.translate(error, writing=True) from None
            except BaseException:
                self.layout = None
                raise

    # --- the worker lease (lease.py) ---------------------------------------------------------
    def fetch_layout_for_lease(self) -> SheetLayout:
        """Read the layout now, for the lease's check; the next `read()` uses it as it is."""
        layout = self.fetch_layout()
        self.layout_fresh = True
        return layout

    def attach_lease(self, lease: Fencing) -> None:
        # No lease where no record can be kept, nor where Google refused the lease's swap.
        if self.metadata_supported is not False and not self.lease_swap_refused:
            self.lease = lease

    def detach_lease(self, lease: Fencing) -> None:
        if self.lease is lease:
            self.lease = None

    def send_lease(self, *, live: bool) -> None:
        """A batchUpdate carrying only the lease: take or refresh it (`live`), or give it up."""
        if self.metadata_supported is False or self.lease_swap_refused:
            return
        mode = "live" if live else "release"
        self.with_fresh_layout_retry(lambda layout: self.send(layout, WriteBatch(), lease_only=mode))

    # --- writing -----------------------------------------------------------------------------
    def send(self, layout: SheetLayout, work: WriteBatch, *, lease_only: str = "") -> None:
        """Send the batch (split only when it would exceed the size limit), each body carrying
        the write marker and, while a lease is attached, its compare-and-swap at the front
        (lease.py): to our live record while the lease is kept (serve) and between the bodies
        of a split batch, else to a released one. `lease_only` ("live" / "release"): a body with
        the lease's swap alone. Then teach the cached layout what changed."""
        encoded = [[batch.encode(r) for r in phase] for phase in work.phases]
        url = SPREADSHEET_BATCH_UPDATE_URL % self.key
        lease = self.lease
        reserve = 600 + (lease.reserve_bytes() if lease is not None else 0)
        digests = TabDigests(layout, work.tab_digests) if work.tab_digests is not None and self.metadata_supported is not False else None
        bodies = batch.split_bodies(encoded, self.max_body_bytes, reserve=reserve + (digests.reserve if digests else 0))
        if digests is not None:
            digests.place(bodies, encoded[1])
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
            try:
                self._post_marked(url, layout, fence.encoded() if fence is not None else [], parts)
            except APIError as error:
                if fence is not None and self._refuses_lease_swap(error, fence):
                    lease = fence = None  # the rest of this batch goes unfenced too
                    if parts:
                        self._post_marked(url, layout, [], parts)
                    continue
                if not self._refuses_developer_metadata(error):
                    raise
                parts = digests.without(parts) if digests is not None else parts
                if parts:
                    self.http.request("post", url, data=batch.body(parts), headers=JSON_HEADERS)
                self._without_developer_metadata()
                digests = None
                continue
            if fence is not None:
                lease.applied(fence)
                layout.lease = fence.record_after
        if digests is not None and self.metadata_supported:
            layout.digests_id, layout.tab_digests = digests.metadata_id, dict(digests.wanted)
        self._learn(layout, work)

    def _post_marked(self, url: str, layout: SheetLayout, fenced: list[bytes], parts: list[bytes]) -> None:
        """One body: the write marker (a fresh nonce tells a retried body already applied), the
        lease's swap when `fenced`, then `parts`."""
        nonce = secrets.token_hex(12)
        marker_id = layout.marker_id or secrets.randbelow(2**31 - 2) + 1
        marker = batch.marker_request(MARKER_KEY, marker_id, nonce, exists=layout.marker_id is not None)
        self.http.request("post", url, data=batch.body([batch.encode(marker), *fenced, *parts]),
                          headers=JSON_HEADERS,
                          already_applied=lambda: self.fetch_layout().marker_value == nonce)
        self.metadata_supported = True
        layout.marker_id, layout.marker_value = marker_id, nonce

    def _refuses_lease_swap(self, error: APIError, fence) -> bool:
        """Google refused the batch as invalid while the lease record its swap deletes is still
        there, unchanged: what it refuses is deleting and re-creating one metadataId in one batch
        (lease.py). Then the center runs without a lease (warned once per process) rather than
        fail at every write. A record that changed is another worker's: the lease says so."""
        if status_of(error) != 400 or not fence.replaces_a_record:
            return False
        if not fence.expects(self.fetch_layout().lease):
            return False
        self.lease_swap_refused = True
        self.lease = None
        warn_swap_refused(self.center)
        return True

    def _refuses_developer_metadata(self, error: APIError) -> bool:
        """A first write refused as invalid (400) on a spreadsheet that holds no developer
        metadata at all: the service takes no developer metadata (a Sheets API stand-in that
        lacks it). On Google, a refused lease swap leaves another worker's record behind, and a
        stale layout is refused again without the metadata, so neither is mistaken for this."""
        if self.metadata_supported is not None or status_of(error) != 400:
            return False
        fresh = self.fetch_layout()
        return fresh.marker_id is None and fresh.lease is None

    def _without_developer_metadata(self) -> None:
        """Carry on without the write marker and the lease, and say so once."""
        self.metadata_supported = False
        self.lease = None
        event_record(log, logging.WARNING, "no_developer_metadata",
                     f"服務中心「{self.center}」：試算表服務不接受開發者中繼資料（developer metadata），"
                     f"寫入照常，但無法為此試算表加鎖：請勿讓兩個程序同時處理它")

    def _learn(self, layout: SheetLayout, work: WriteBatch) -> None:
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
        for title, state in work.formatted.items():
            tab = layout.tabs.get(work.renamed.get(title, title)) or layout.tabs.get(title)
            if tab is not None:
                tab.rows, tab.columns = max(tab.rows, state.rows), max(tab.columns, state.columns)
                tab.frozen_rows, tab.conditional = state.frozen_rows, state.conditional
                tab.basic_filter, tab.charts = state.basic_filter, state.charts
        self.layout = layout


class TabDigests:
    """The generated tabs' digests (SPEC 7) riding in a write: set to the new digests in the body
    that holds the last of the tabs' requests, so a digest never names content not yet written.
    When the tabs span several bodies (a write over Google's size limit), the first of those
    bodies first drops the digests of the tabs being rewritten: a write cut short between
    bodies leaves those tabs without a digest, so the next cycle rewrites them."""

    def __init__(self, layout: SheetLayout, wanted: dict[str, str]):
        self.wanted = wanted
        self.kept = {title: digest for title, digest in layout.tab_digests.items() if wanted.get(title) == digest}
        self.exists = layout.digests_id is not None
        self.metadata_id = layout.digests_id or DIGESTS_ID
        self.added: list[bytes] = []
        self.reserve = 2 * len(self._request(wanted, exists=True)) + 2

    def _request(self, digests: dict[str, str], *, exists: bool) -> bytes:
        value = json.dumps({"tabs": digests}, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return batch.encode(batch.marker_request(DIGESTS_KEY, self.metadata_id, value, exists=exists))

    def place(self, bodies: list[list[bytes]], tab_parts: list[bytes]) -> None:
        """Add the digests' requests to `bodies` (split with room for them kept: `reserve`)."""
        marks = {id(part) for part in tab_parts}
        holding = [number for number, parts in enumerate(bodies) if any(id(part) in marks for part in parts)]
        if not holding:
            return
        first, last = holding[0], holding[-1]
        if first != last:
            before = self._request(self.kept, exists=self.exists)
            bodies[first].insert(0, before)
            self.added.append(before)
        after = self._request(self.wanted, exists=self.exists or first != last)
        bodies[last].append(after)
        self.added.append(after)

    def without(self, parts: list[bytes]) -> list[bytes]:
        """`parts` without the digests' requests (a service that keeps no developer metadata)."""
        return [part for part in parts if not any(part is added for added in self.added)]


# Set once the warning below was given: it is said once per process, not per center or cycle.
WARNED_SWAP_REFUSED = threading.Event()
_warning_guard = threading.Lock()


def warn_swap_refused(center: str) -> None:
    with _warning_guard:
        if WARNED_SWAP_REFUSED.is_set():
            return
        WARNED_SWAP_REFUSED.set()
    event_record(log, logging.WARNING, "lease_swap_refused",
                 f"服務中心「{center}」：Google 不接受在同一批次中刪除並重建鎖記錄（開發者中繼資料），"
                 f"本進程改為不加鎖運行，寫入照常。請勿讓兩個程序同時處理同一試算表", center=center)


def status_of(error: APIError) -> int:
    """The HTTP status of Google's refusal (0 when it carries none)."""
    response = error.response
    return int(response.status_code or 0) if response is not None else 0
