"""How a generated tab is shown and printed (SPEC 4.1 "Presentation"), as data.

A tab's columns are declared with a kind each (sheet_templates/generated_tabs.toml); this module
turns kinds and the tab's content into a `TabFormat`: number formats, alignment, wrapping,
widths fitted to the content, the autofilter's extent, bold section rows, the link from each
record id to its main-tab row, the highlight rules and the chart. Both backends apply a
`TabFormat` (workbook: openpyxl styles, conditional formatting and chart; Google: batchUpdate
requests), so a new tab looks like the others by declaring its columns and their kinds.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from ..vocabulary import LANGUAGES, Vocabulary

DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
HEADER_FILL = "D9E1F2"  # light blue-grey: the header row stands out on screen and on paper
DUE_FILL = "FCDBD9"  # the overdue colour the main tab's rule uses on Google Sheets
FLAG_FONT = "9C0006"  # 緊急 / 投訴: dark red bold text, visible on a black-and-white print
LINK_FONT = "0563C1"
HIGHLIGHTED_CATEGORIES = ("emergency", "complaint")
# Recognises the worker's own rules among a sheet's conditional formats (Google: in the formula).
RULE_MARK = 'N("reception-worker:tab")=0'
OVERDUE_MARK = 'N("reception-worker:overdue")=0'
# Part of every generated tab's digest (domain/cells.py `tab_digest`): raise it when a change to
# how tabs look must reach tabs already written; their digests then differ, so they are rewritten.
FORMAT_VERSION = "2"


@dataclass(frozen=True)
class ColumnStyle:
    number_format: str | None  # numbers and dates; None for text
    align: str  # "left" | "center" | "right"
    wrap: bool
    min_width: float  # in characters (a CJK character counts 2)
    max_width: float  # wider content wraps


STYLES = {
    "record_link": ColumnStyle(None, "left", False, 15, 15),
    "record_id": ColumnStyle(None, "left", False, 15, 15),
    "date": ColumnStyle(DATE_FORMAT, "center", False, 11, 17),
    "due": ColumnStyle(DATE_FORMAT, "center", False, 11, 17),
    # Number columns stay narrow: a long header wraps over two lines above them.
    "count": ColumnStyle("0", "center", False, 6, 10),
    "decimal": ColumnStyle("0.0", "right", False, 6, 10),
    "percent": ColumnStyle("0.0", "right", False, 6, 10),
    # Counts, percentages and days in one column (the quarterly review): each number as it is;
    # the text of the problems listed below them wraps. Centred: numbers stay under their
    # quarter's header, and a problem's wrapped 說明 does not hug the right edge.
    "figure": ColumnStyle(None, "center", True, 9, 16),
    "sheet_row": ColumnStyle("0", "center", False, 6, 7),
    "text": ColumnStyle(None, "left", True, 6, 14),
    "category": ColumnStyle(None, "center", False, 6, 7),
    "long_text": ColumnStyle(None, "left", True, 30, 30),
    "label": ColumnStyle(None, "left", True, 10, 28),
    "timestamp": ColumnStyle(None, "left", False, 20, 20),
    "event": ColumnStyle(None, "left", True, 16, 16),
    "detail": ColumnStyle(None, "left", True, 60, 60),
}
LINE_POINTS = 15.0  # the height of one line of 11-point text (CJK included), in points


@dataclass(frozen=True)
class Highlight:
    """Rows to highlight, by a rule the sheet keeps evaluating (conditional formatting)."""

    kind: str  # "due": the column's date is today or earlier; "flag": the column's text is one
    #            of `words`; "both": the two at once (`column` due, `flag_column` flagged)
    column: int  # 0-based
    words: tuple[str, ...] = ()
    flag_column: int | None = None

    @property
    def fill(self) -> str | None:
        return DUE_FILL if self.kind in ("due", "both") else None

    @property
    def font(self) -> str | None:
        return FLAG_FONT if self.kind in ("flag", "both") else None


@dataclass(frozen=True)
class ChartFormat:
    """A chart of the tab's first table. Series in columns (週報): rows 1..rows-1 along the
    axis, named by column 0, one series per column of `series`, named in row 0. Series in rows
    (季度復審, whose quarters run across): the columns `across` along the axis, named in row 0,
    one series per row of `series`, named in column 0."""

    title: str
    rows: int  # header included
    series: tuple[int, ...]  # 0-based columns, or rows when `in_rows`
    in_rows: bool = False
    across: tuple[int, ...] = ()  # 0-based columns, when `in_rows`
    size_cm: tuple[float, float] = (18.0, 8.5)  # width, height


@dataclass(frozen=True)
class TabFormat:
    kinds: tuple[str, ...]
    styles: tuple[ColumnStyle, ...]
    widths: tuple[float, ...]  # in characters
    filter_rows: int  # the autofilter covers rows 1..filter_rows (the first table)
    bold_rows: tuple[int, ...]  # 0-based rows shown bold besides the header (section titles)
    link_column: int | None  # its cells link to the main-tab row that `row_column` holds
    row_column: int | None
    highlights: tuple[Highlight, ...]
    chart: ChartFormat | None

    @property
    def width(self) -> int:
        return len(self.kinds)


def text_width(text: str) -> float:
    """Display width in characters: a CJK or full-width character counts 2."""
    if text.isascii():
        return float(len(text))
    wide = len(_wide_characters().findall(text))
    if max(text) > "\uffff":  # beyond the Basic Multilingual Plane (rare): one by one
        wide += sum(1 for ch in text if ch > "\uffff" and unicodedata.east_asian_width(ch) in "WF")
    return float(len(text) + wide)


@functools.lru_cache(maxsize=1)
def _wide_characters() -> re.Pattern:
    """The wide and full-width characters of the Basic Multilingual Plane, as one character
    class: counted by one search in C instead of a look-up per character."""
    ranges, start = [], None
    for code in range(0x10001):
        wide = code < 0x10000 and unicodedata.east_asian_width(chr(code)) in "WF"
        if wide and start is None:
            start = code
        elif not wide and start is not None:
            ranges.append(f"\\u{start:04x}-\\u{code - 1:04x}")
            start = None
    return re.compile("[" + "".join(ranges) + "]")


def cell_width(value: Any) -> float:
    if value is None or value == "":
        return 0.0
    if isinstance(value, dt.datetime):
        return 16.0 if has_time(value) else 10.0
    if isinstance(value, dt.date):
        return 10.0
    if isinstance(value, float):
        return float(len(f"{value:.1f}"))
    return text_width(str(value))


def has_time(value: Any) -> bool:
    return isinstance(value, dt.datetime) and (value.hour, value.minute, value.second) != (0, 0, 0)


def number_format_of(value: Any, style: ColumnStyle) -> str | None:
    """The number format a cell holding `value` gets: dates by what they hold, numbers by column."""
    if isinstance(value, dt.datetime):
        return DATETIME_FORMAT if has_time(value) else DATE_FORMAT
    if isinstance(value, dt.date):
        return DATE_FORMAT
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return style.number_format
    return None


def _first_table_rows(content: list[list[Any]]) -> int:
    """The header and the rows down to the first blank row."""
    for index, row in enumerate(content):
        if not any(v not in (None, "") for v in row):
            return index
    return len(content)


def _section_rows(content: list[list[Any]], table_rows: int) -> tuple[int, ...]:
    """Below the first table: a lone title after a blank row, and the header row under it."""
    bold = []
    for index in range(table_rows + 1, len(content)):
        row = [v for v in content[index] if v not in (None, "")]
        blank_above = not any(v not in (None, "") for v in content[index - 1])
        if blank_above and len(row) == 1 and isinstance(row[0], str):
            bold.append(index)
            if index + 1 < len(content):
                bold.append(index + 1)
    return tuple(bold)


def _widths(content: list[list[Any]], styles: tuple[ColumnStyle, ...], bold_rows: tuple[int, ...]) -> tuple[float, ...]:
    widths = []
    for column, style in enumerate(styles):
        widest = 0.0
        capped = style.max_width - 1.5  # a column this wide is as wide as it gets
        for index, row in enumerate(content):
            if widest >= capped:
                break
            if column < len(row):
                # A header or a bold title is wider; the header also has the filter button.
                extra = 2.0 if index == 0 else (1.0 if index in bold_rows else 0.0)
                value = row[column]
                if type(value) is str and 2 * len(value) + extra <= widest:
                    continue  # not wider, even if every character were wide
                widest = max(widest, cell_width(value) + extra)
        widths.append(min(style.max_width, max(style.min_width, widest + 1.5)))
    return tuple(widths)


def _category_words() -> tuple[str, ...]:
    """緊急 and 投訴 in both spellings: a rule kept on Google outlives a language switch."""
    words = {Vocabulary(language).label("categories", key) for language in LANGUAGES for key in HIGHLIGHTED_CATEGORIES}
    return tuple(sorted(words))


def tab_format(tab_key: str, content: list[list[Any]], vocabulary: Vocabulary) -> TabFormat:
    """The format of generated tab `tab_key` (generated_tabs.toml) holding `content`."""
    layout = vocabulary.tab_layout_name(tab_key)
    kinds = tuple(vocabulary.layout_kinds(layout))
    styles = tuple(STYLES[kind] for kind in kinds)
    table_rows = _first_table_rows(content) if content else 1
    bold_rows = _section_rows(content, table_rows)
    highlights = []
    for column, kind in enumerate(kinds):
        if kind == "due":
            highlights.append(Highlight("due", column))
        elif kind == "category":
            highlights.append(Highlight("flag", column, _category_words()))
    if len({h.kind for h in highlights}) == 2:
        # LibreOffice applies only the first rule that holds: a row both due and flagged gets
        # a rule of its own, first, with both looks.
        due = next(h for h in highlights if h.kind == "due")
        flag = next(h for h in highlights if h.kind == "flag")
        highlights.insert(0, Highlight("both", due.column, flag.words, flag.column))
    return TabFormat(
        kinds=kinds, styles=styles, widths=_widths(content, styles, bold_rows),
        filter_rows=max(table_rows, 1), bold_rows=bold_rows,
        link_column=kinds.index("record_link") if "record_link" in kinds and "sheet_row" in kinds else None,
        row_column=kinds.index("sheet_row") if "sheet_row" in kinds else None,
        highlights=tuple(highlights), chart=_chart(tab_key, content, table_rows, vocabulary),
    )


def _chart(tab_key: str, content: list[list[Any]], table_rows: int, vocabulary: Vocabulary) -> ChartFormat | None:
    """The tab's chart as its layout declares it, over the rows its first table holds."""
    layout = vocabulary.tab_layout_name(tab_key)
    title, size = vocabulary.tab_title(tab_key), vocabulary.layout_chart_size(layout)
    if table_rows <= 1:
        return None
    if vocabulary.layout_chart_series_in(layout) != "rows":
        columns = vocabulary.layout_chart_columns(layout)
        return ChartFormat(title, table_rows, tuple(columns), size_cm=size) if columns else None
    first_cells = {row[0]: index for index, row in enumerate(content[1:table_rows], start=1) if row}
    rows = tuple(first_cells[name] for name in vocabulary.layout_chart_row_names(layout) if name in first_cells)
    across = tuple(column for column in vocabulary.layout_chart_across(layout) if column < len(content[0]))
    if not rows or not across:
        return None
    return ChartFormat(title, table_rows, rows, in_rows=True, across=across, size_cm=size)


def link_targets(content: list[list[Any]], form: TabFormat) -> dict[int, int]:
    """0-based content row → the main-tab row its record id links to."""
    if form.link_column is None or form.row_column is None:
        return {}
    targets = {}
    for index, row in enumerate(content[1:], start=1):
        if form.row_column < len(row) and isinstance(row[form.row_column], int) and form.link_column < len(row) \
                and row[form.link_column]:
            targets[index] = row[form.row_column]
    return targets


def column_letters(index: int) -> str:
    """0-based column index → A1 letters (0 → A, 26 → AA)."""
    letters = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def column_index(letters: str) -> int:
    """A1 letters → 0-based column index (A → 0, AA → 26): `column_letters` undone."""
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - 64
    return number - 1


def highlight_formula(highlight: Highlight, first_row: int = 2) -> str:
    """The rule's formula for the first data row (relative rows, absolute column), without '='.

    Both Excel/LibreOffice and Google Sheets evaluate it as written; `RULE_MARK` (always true)
    lets the worker find its own rules among staff's."""
    cell = f"${column_letters(highlight.column)}{first_row}"
    due = f"ISNUMBER({cell}),{cell}<=TODAY()"
    flag_cell = f"${column_letters(highlight.column if highlight.flag_column is None else highlight.flag_column)}{first_row}"
    flagged = "OR(" + ",".join(f'{flag_cell}="{word}"' for word in highlight.words) + ")"
    condition = {"due": due, "flag": flagged, "both": f"{due},{flagged}"}[highlight.kind]
    return f"AND({RULE_MARK},{condition})"


def _lines(width: float, column_width: float) -> int:
    """Lines a text of display width `width` takes in a column: one when it fits; beyond, text
    wraps between words, not mid-word, so a line holds a little less than the column."""
    if width <= column_width - 1:
        return 1
    return int(-(-width // max((column_width - 1) * 0.9, 1.0)))


def row_heights(content: list[list[Any]], form: TabFormat, has_header: bool = True) -> dict[int, float]:
    """0-based row → its height in points, for rows whose wrapped text needs more than one line
    (a spreadsheet program does not grow rows it did not write itself)."""
    heights = {}
    for index, row in enumerate(content):
        lines = 1
        for column, value in enumerate(row[:form.width]):
            if isinstance(value, str) and value and (form.styles[column].wrap or (has_header and index == 0) or index in form.bold_rows):
                lines = max(lines, sum(_lines(text_width(part), form.widths[column]) for part in value.split("\n")))
        if lines > 1:
            heights[index] = LINE_POINTS * lines + 2
    return heights


def event_log_format() -> TabFormat:
    """The event log's format: its widths are fixed by kind, whatever the rows hold."""
    vocabulary = Vocabulary()
    return tab_format("event_log", [vocabulary.tab_layout("event_log")], vocabulary)


def plain_format(content: list[list[Any]]) -> TabFormat:
    """A tab of undeclared columns: text, fitted to its content."""
    width = max((len(row) for row in content), default=1)
    styles = (STYLES["text"],) * width
    return TabFormat(kinds=("text",) * width, styles=styles, widths=_widths(content, styles, ()),
                     filter_rows=max(_first_table_rows(content), 1), bold_rows=(), link_column=None,
                     row_column=None, highlights=(), chart=None)


def main_tab_overdue_formula(due_column: int, status_column: int) -> str:
    """The main tab's rule (added by `init`, without '='): 處理時限 (text `YYYY-MM-DD`) has
    passed and the item is not closed, in either spelling of the closed statuses."""
    due = f"${column_letters(due_column)}2"
    status = f"${column_letters(status_column)}2"
    closed = sorted({Vocabulary(language).label("statuses", key)
                     for key in ("completed", "unresolvable") for language in LANGUAGES})
    not_closed = ",".join(f'{status}<>"{label}"' for label in closed)
    return f"AND({OVERDUE_MARK},LEN({due})>0,IFERROR(DATEVALUE({due}),{due})<TODAY(),{not_closed})"
