"""batchUpdate requests that show a generated tab as its `presentation.TabFormat` says.

Per cell, written with the content: the value (a date as a serial number, so it is a date cell),
its number format (`yyyy-mm-dd`, with `hh:mm` where a time was given; `0`, `0.0` for numbers),
and on a record id, a link to its row of the main tab (`#gid=…&range=A{row}`: a text format
link, so the cell's value stays plain text). Per column: alignment, wrapping, width. The header
row bold on a tinted background and frozen; the autofilter, the highlight rules (conditional
formats, marked as the worker's) and the charts of 週報 and 季度復審 are sent only when the tab lacks them as
wanted, so a supervisor's filter criteria survive a rewrite of the tab's content.

Google Sheets has no print settings in its API: a frozen header row is repeated on every
printed page by default; orientation and fit-to-width are chosen in the print dialog.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from ...presentation import tab_formats
from ...presentation.tab_formats import TabFormat
from . import batch

PIXELS_PER_CM = 37.8  # at 96 pixels to the inch
PIXELS_PER_CHARACTER = 7  # one character of a spreadsheet column width, in Google's pixels
SERIAL_EPOCH = dt.date(1899, 12, 30).toordinal()
CONTENT_FIELDS = "userEnteredValue,userEnteredFormat.numberFormat,userEnteredFormat.textFormat.link"
COLUMN_FIELDS = ("userEnteredFormat.horizontalAlignment,userEnteredFormat.verticalAlignment,"
                 "userEnteredFormat.wrapStrategy,userEnteredFormat.textFormat.bold,userEnteredFormat.backgroundColor")
HEADER_FIELDS = ("userEnteredFormat.textFormat.bold,userEnteredFormat.backgroundColor,"
                 "userEnteredFormat.wrapStrategy,userEnteredFormat.verticalAlignment")
ALIGN = {"left": "LEFT", "center": "CENTER", "right": "RIGHT"}


def rgb(hex_colour: str) -> dict:
    return {name: round(int(hex_colour[i:i + 2], 16) / 255, 3) for name, i in (("red", 0), ("green", 2), ("blue", 4))}


@dataclass
class TabState:
    """What the layout read says a tab has, and what it has once the batch is applied."""

    sheet_id: int
    rows: int
    columns: int
    frozen_rows: int = 0
    conditional: list[dict] = field(default_factory=list)
    basic_filter: dict | None = None
    charts: int = 0


def serial(value: dt.date) -> float | int:
    """A date (or date and time) as the spreadsheet serial number of a date cell."""
    if isinstance(value, dt.datetime):
        day = value.toordinal() - SERIAL_EPOCH
        return day + (value.hour * 3600 + value.minute * 60 + value.second) / 86400
    return value.toordinal() - SERIAL_EPOCH


def _number_format(pattern: str) -> dict:
    kind = "DATE_TIME" if "hh" in pattern else "DATE" if "yyyy" in pattern else "NUMBER"
    return {"type": kind, "pattern": pattern}


def row_encoder(form: TabFormat, content: list[list[Any]], main_sheet_id: int | None):
    """(row index, padded row) → RowData with values, number formats and record links."""
    links = tab_formats.link_targets(content, form) if main_sheet_id is not None else {}
    text_style = tab_formats.STYLES["text"]

    def encode(index: int, row: list[Any]) -> dict:
        cells = []
        for column, value in enumerate(row):
            if isinstance(value, dt.date):
                cell = {"userEnteredValue": {"numberValue": serial(value)}}
            else:
                cell = batch.cell_data(value)
            style = form.styles[column] if column < form.width else text_style
            pattern = tab_formats.number_format_of(value, style) if index else None
            if pattern:
                cell["userEnteredFormat"] = {"numberFormat": _number_format(pattern)}
            if column == form.link_column and index in links:
                link = {"uri": f"#gid={main_sheet_id}&range=A{links[index]}"}
                cell.setdefault("userEnteredFormat", {})["textFormat"] = {"link": link}
            cells.append(cell)
        return {"values": cells}
    return encode


def content_requests(state: TabState, content: list[list[Any]], form: TabFormat, main_sheet_id: int | None,
                     block_bytes: int) -> list[dict]:
    return batch.replace_tab_requests(state.sheet_id, content, state.rows, state.columns, block_bytes=block_bytes,
                                      encode_row=row_encoder(form, content, main_sheet_id), fields=CONTENT_FIELDS)


def _rows_range(sheet_id: int, start: int, end: int | None, first_column: int, last_column: int) -> dict:
    grid = {"sheetId": sheet_id, "startRowIndex": start, "startColumnIndex": first_column, "endColumnIndex": last_column}
    if end is not None:
        grid["endRowIndex"] = end
    return grid


def column_requests(sheet_id: int, form: TabFormat) -> list[dict]:
    """Alignment, wrapping and width of every column; the header row bold, tinted, wrapped."""
    requests = []
    for column, (style, width) in enumerate(zip(form.styles, form.widths)):
        requests.append({"repeatCell": {
            "range": _rows_range(sheet_id, 0, None, column, column + 1),
            "cell": {"userEnteredFormat": {"horizontalAlignment": ALIGN[style.align], "verticalAlignment": "TOP",
                                           "wrapStrategy": "WRAP" if style.wrap else "OVERFLOW_CELL",
                                           "textFormat": {"bold": False}}},
            "fields": COLUMN_FIELDS}})
        requests.append({"updateDimensionProperties": {
            "range": {"sheetId": sheet_id, "dimension": "COLUMNS", "startIndex": column, "endIndex": column + 1},
            "properties": {"pixelSize": round(width * PIXELS_PER_CHARACTER)}, "fields": "pixelSize"}})
    header = {"textFormat": {"bold": True}, "backgroundColor": rgb(tab_formats.HEADER_FILL), "wrapStrategy": "WRAP",
              "verticalAlignment": "MIDDLE"}
    requests.append({"repeatCell": {"range": _rows_range(sheet_id, 0, 1, 0, form.width),
                                    "cell": {"userEnteredFormat": header}, "fields": HEADER_FIELDS}})
    for row in form.bold_rows:
        requests.append({"repeatCell": {"range": _rows_range(sheet_id, row, row + 1, 0, form.width),
                                        "cell": {"userEnteredFormat": {"textFormat": {"bold": True}, "wrapStrategy": "WRAP"}},
                                        "fields": "userEnteredFormat.textFormat.bold,userEnteredFormat.wrapStrategy"}})
    return requests


def filter_range(state: TabState, form: TabFormat, content_rows: int) -> dict:
    """The first table: the whole grid when it is the whole tab (Google keeps a filter's range
    bounded by the grid of the moment; the grid of a generated tab never shrinks)."""
    end = max(state.rows, content_rows) if form.filter_rows >= content_rows else form.filter_rows
    return _rows_range(state.sheet_id, 0, end, 0, form.width)


def _bounds(grid: dict) -> tuple:
    """Google leaves out a sheetId of 0 (a protocol-buffer default)."""
    return tuple(grid.get(name) or 0 for name in ("sheetId", "startRowIndex", "endRowIndex",
                                                   "startColumnIndex", "endColumnIndex"))


def filter_holds(current: dict | None, wanted: dict, content_rows: int, whole_tab: bool) -> bool:
    """The tab's filter is as wanted: the same columns, and the same rows — or, over a whole
    tab, at least its rows (resetting it would drop the criteria someone chose)."""
    if current is None:
        return False
    sheet, start, end, first, last = _bounds(current.get("range", {}))
    want = _bounds(wanted)
    if (sheet, start, first, last) != (want[0], want[1], want[3], want[4]):
        return False
    return end >= content_rows if whole_tab else end == want[2]


def wanted_rules(sheet_id: int, form: TabFormat) -> list[dict]:
    rules = []
    for highlight in form.highlights:
        look: dict[str, Any] = {}
        if highlight.fill:
            look["backgroundColor"] = rgb(highlight.fill)
        if highlight.font:
            look["textFormat"] = {"bold": True, "foregroundColor": rgb(highlight.font)}
        rules.append({"ranges": [_rows_range(sheet_id, 1, None, 0, form.width)], "booleanRule": {
            "condition": {"type": "CUSTOM_FORMULA",
                          "values": [{"userEnteredValue": "=" + tab_formats.highlight_formula(highlight)}]},
            "format": look}})
    return rules


def _rule_formula(rule: dict) -> str:
    values = rule.get("booleanRule", {}).get("condition", {}).get("values") or [{}]
    return str(values[0].get("userEnteredValue", ""))


def rule_requests(state: TabState, form: TabFormat) -> list[dict]:
    """Replace the worker's highlight rules of the tab when they are not as wanted; staff's stay."""
    wanted = wanted_rules(state.sheet_id, form)
    ours = [index for index, rule in enumerate(state.conditional) if tab_formats.RULE_MARK in _rule_formula(rule)]
    if [_rule_formula(state.conditional[i]) for i in ours] == [_rule_formula(r) for r in wanted]:
        return []
    requests = [{"deleteConditionalFormatRule": {"sheetId": state.sheet_id, "index": index}} for index in reversed(ours)]
    requests += [{"addConditionalFormatRule": {"index": index, "rule": rule}} for index, rule in enumerate(wanted)]
    state.conditional = wanted + [rule for index, rule in enumerate(state.conditional) if index not in ours]
    return requests


def chart_sources(sheet_id: int, chart: tab_formats.ChartFormat) -> tuple[dict, list[dict]]:
    """The domain's and each series' sourceRange, the header cell (a series' name) first.

    Series in columns: column ranges down the table's rows. Series in rows: one range per column
    `across` (Google takes several ranges per series when the domain has as many, offset by
    offset the same columns); the first reaches back to column 0, so that with headerCount 1
    each row's first cell names its series."""
    if not chart.in_rows:
        def column_source(column: int) -> dict:
            return {"sourceRange": {"sources": [_rows_range(sheet_id, 0, chart.rows, column, column + 1)]}}
        return column_source(0), [column_source(column) for column in chart.series]

    def row_source(row: int) -> dict:
        first, *rest = chart.across
        ranges = [_rows_range(sheet_id, row, row + 1, 0, first + 1)]
        ranges += [_rows_range(sheet_id, row, row + 1, column, column + 1) for column in rest]
        return {"sourceRange": {"sources": ranges}}
    return row_source(0), [row_source(row) for row in chart.series]


def chart_requests(state: TabState, form: TabFormat) -> list[dict]:
    """The tab's chart beside its table, added once (its ranges never move: the 週報 table
    always has its 8 weeks, 季度復審 its figures in the same rows)."""
    chart = form.chart
    if chart is None or state.charts:
        return []
    requests = []
    if state.columns < form.width + 1:  # the chart is anchored in the column right of the table
        requests.append(batch.append_dimension(state.sheet_id, "COLUMNS", form.width + 1 - state.columns))
        state.columns = form.width + 1
    domain, series = chart_sources(state.sheet_id, chart)
    spec = {"title": chart.title, "basicChart": {
        "chartType": "COLUMN", "legendPosition": "BOTTOM_LEGEND", "headerCount": 1,
        "axis": [{"position": "BOTTOM_AXIS"}, {"position": "LEFT_AXIS"}],
        "domains": [{"domain": domain}],
        "series": [{"series": source, "targetAxis": "LEFT_AXIS"} for source in series]}}
    width, height = (round(size * PIXELS_PER_CM) for size in chart.size_cm)
    position = {"overlayPosition": {"anchorCell": {"sheetId": state.sheet_id, "rowIndex": 0, "columnIndex": form.width},
                                    "offsetXPixels": 20, "offsetYPixels": 10, "widthPixels": width, "heightPixels": height}}
    requests.append({"addChart": {"chart": {"spec": spec, "position": position}}})
    state.charts += 1
    return requests


def tab_requests(state: TabState, content: list[list[Any]], form: TabFormat, main_sheet_id: int | None,
                 block_bytes: int) -> list[dict]:
    """Everything that rewrites a generated tab and shows it as `form` says; `state` is updated."""
    requests = content_requests(state, content, form, main_sheet_id, block_bytes)
    state.rows, state.columns = max(state.rows, len(content)), max(state.columns, form.width)
    requests += column_requests(state.sheet_id, form)
    if state.frozen_rows != 1:
        requests.append(frozen_header(state.sheet_id))
        state.frozen_rows = 1
    wanted_filter = filter_range(state, form, len(content))
    if not filter_holds(state.basic_filter, wanted_filter, len(content), form.filter_rows >= len(content)):
        requests.append({"setBasicFilter": {"filter": {"range": wanted_filter}}})
        state.basic_filter = {"range": wanted_filter}
    requests += rule_requests(state, form)
    requests += chart_requests(state, form)
    return requests


def frozen_header(sheet_id: int) -> dict:
    return {"updateSheetProperties": {"properties": {"sheetId": sheet_id, "gridProperties": {"frozenRowCount": 1}},
                                      "fields": "gridProperties.frozenRowCount"}}


def log_requests(state: TabState, rows: list[list[Any]], block_bytes: int) -> list[dict]:
    """Event-log rows appended with their details wrapped; the log's columns, header and filter
    set up once (a log without a filter was not set up yet)."""
    form = tab_formats.event_log_format()
    wraps = [{"wrapStrategy": "WRAP", "verticalAlignment": "TOP"} if style.wrap else {"verticalAlignment": "TOP"}
             for style in form.styles]
    requests = []
    if state.basic_filter is None:
        requests += column_requests(state.sheet_id, form)
    requests += batch.append_rows_requests(state.sheet_id, rows, block_bytes=block_bytes, cell_formats=wraps)
    # Google bounds a filter by the grid of the moment: after the rows it grew by, it is set
    # again, open-ended (the log is read, not filtered, day to day).
    requests.append({"setBasicFilter": {"filter": {"range": _rows_range(state.sheet_id, 0, None, 0, form.width)}}})
    state.basic_filter = {"range": _rows_range(state.sheet_id, 0, state.rows + len(rows), 0, form.width)}
    return requests
