"""What `spreadsheets.get` tells the worker about a spreadsheet, parsed (no cell values): its
tabs (ids, titles, grid sizes, frozen rows, protections, conditional formats, filter, charts) and the developer
metadata the worker keeps on it — the write marker and the lease record (lease.py). Pure."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field

from ..locks import Holder

MARKER_KEY = "reception-worker.last-write"
LAYOUT_FIELDS = ("sheets(properties(sheetId,title,index,gridProperties),protectedRanges,conditionalFormats,"
                 "basicFilter(range),charts(chartId)),"
                 "developerMetadata(metadataId,metadataKey,metadataValue,location(locationType))")
LEASE_KEY = "reception-worker.lease"
# SPEC 7: the digests of the generated tabs as last written (JSON: title → digest), written in the
# same batchUpdate as the tabs; a fixed metadataId, like the lease's, so two creations collide.
DIGESTS_KEY = "reception-worker.tab-digests"
DIGESTS_ID = 1278818436
# The record's fixed metadataId: the first 31 bits of SHA-256("reception-worker.lease"). Fixed, so
# that two workers creating it at once collide (one batch is refused) instead of both succeeding.
LEASE_ID = 1278818435


@dataclass(frozen=True)
class LeaseRecord:
    """A lease record as found on the sheet (or as this process last wrote it)."""

    metadata_id: int
    value: str

    @property
    def holder(self) -> Holder | None:
        return Holder.from_json(self.value)


def record_under(developer_metadata: list[dict], key: str, worker_id: int) -> dict | None:
    """The developer-metadata record kept under `key`: the one at `worker_id`, where the worker
    writes it; failing that (written by hand, or by another version), the lowest id."""
    found = [item for item in developer_metadata if item.get("metadataKey") == key]
    if not found:
        return None
    return min(found, key=lambda item: (int(item.get("metadataId", 0)) != worker_id, int(item.get("metadataId", 0))))


def find_record(developer_metadata: list[dict]) -> LeaseRecord | None:
    """The lease record among a spreadsheet's developer metadata (see `record_under`)."""
    chosen = record_under(developer_metadata, LEASE_KEY, LEASE_ID)
    if chosen is None:
        return None
    return LeaseRecord(int(chosen["metadataId"]), str(chosen.get("metadataValue", "")))


def find_digests(developer_metadata: list[dict]) -> tuple[int | None, dict[str, str]]:
    """(metadataId, title → digest) of the generated tabs' digests; an unreadable record counts
    as none kept (every generated tab is then read and compared)."""
    chosen = record_under(developer_metadata, DIGESTS_KEY, DIGESTS_ID)
    if chosen is None:
        return None, {}
    try:
        value = json.loads(chosen.get("metadataValue") or "")
    except ValueError:
        value = None
    digests = value.get("tabs") if isinstance(value, dict) else None
    if not isinstance(digests, dict):
        digests = {}
    return int(chosen["metadataId"]), {str(k): str(v) for k, v in digests.items() if isinstance(v, str)}


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
    basic_filter: dict | None = None  # the worker sets one on every tab it formats
    charts: int = 0


@dataclass
class SheetLayout:
    """What `spreadsheets.get` told us about the spreadsheet (no cell values)."""

    tabs: dict[str, Tab]
    marker_id: int | None = None
    marker_value: str | None = None
    lease: LeaseRecord | None = None  # the worker lease's record (lease.py)
    # The generated tabs' digests (SPEC 7) and the metadataId holding them (None: none kept yet).
    tab_digests: dict[str, str] = field(default_factory=dict)
    digests_id: int | None = None

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
                basic_filter=sheet.get("basicFilter"), charts=len(sheet.get("charts", [])),
            )
            tabs[tab.title] = tab
        layout = cls(tabs)
        for item in metadata.get("developerMetadata", []):
            if item.get("metadataKey") == MARKER_KEY:
                layout.marker_id, layout.marker_value = int(item["metadataId"]), item.get("metadataValue")
        layout.lease = find_record(metadata.get("developerMetadata", []))
        layout.digests_id, layout.tab_digests = find_digests(metadata.get("developerMetadata", []))
        return layout

    def new_sheet_id(self, taken: set[int]) -> int:
        used = {tab.sheet_id for tab in self.tabs.values()} | taken
        while True:
            candidate = secrets.randbelow(2**31 - 2) + 1
            if candidate not in used:
                taken.add(candidate)
                return candidate
