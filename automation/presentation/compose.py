"""Rendering a message's content as plain text and as HTML a manager can read on a phone.

A message is a `Document`: a title, a greeting, an intro, then blocks — `Section`s of reception
rows, small `Table`s of figures, a `Chart` image — and a footer. The same document renders to
both parts of the mail, so the two always say the same thing. Every piece of text is escaped
here, once, when it becomes HTML: callers pass plain strings, staff text included.

Phone-friendly means: one column of content at most 640px wide; on a wide screen receptions are
table rows (id, status, 事由, room and owner, due date); below 480px a media query turns each row
into a card in the same order (id and status, then 事由 in full, then room, owner, due date, days
open); ids, dates, phones and numbers never break across lines. Clients that drop `<style>` show
the plain table, which still reads in that order. The digest's action section comes first, so a
phone's first screen shows what to do today.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, replace

# One style sheet in <head> rather than styles on every cell: per-cell styles would triple the
# size of a big digest (seven full sections, 350 rows, is about 120 KB of HTML this way; Gmail
# shows messages over ~100 KB behind a "view entire message" link). Mail clients that drop
# <style> still show plain, readable tables.
_STYLE = """
body{margin:0;padding:12px;background:#fff;color:#222;font-size:15px;line-height:1.5;
font-family:-apple-system,'PingFang TC','PingFang SC','Microsoft JhengHei','Microsoft YaHei','Noto Sans CJK TC',sans-serif}
.page{max-width:640px;margin:0 auto}
h1{font-size:18px;margin:0 0 12px 0}
h2{font-size:16px;margin:20px 0 6px 0;padding-bottom:4px;border-bottom:2px solid #ccc}
h3{font-size:15px;margin:14px 0 4px 0}
.action{border:2px solid #b00020;border-radius:6px;padding:4px 10px 8px 10px;margin:12px 0}
.action h2{color:#b00020;border-bottom-color:#f0c0c0;margin-top:6px}
table{width:100%;border-collapse:collapse;font-size:14px}
th{padding:6px 4px;border-bottom:2px solid #999;text-align:left;font-size:13px;color:#555;font-weight:normal}
td{padding:6px 4px;border-bottom:1px solid #e3e3e3;vertical-align:top;text-align:left;overflow-wrap:break-word}
td.num{text-align:right;white-space:nowrap}
th.num{text-align:right}
table.rows{table-layout:fixed}
.rid{width:8.5em}
.st{width:6em}
.who{width:7.5em}
.due{width:8.5em}
.muted,.count{color:#666;font-size:13px}
.count{font-weight:normal}
.extra{color:#b00020;font-size:13px}
.name{width:30%;min-width:7em;color:#555}
.nb{white-space:nowrap;word-break:keep-all}
.footer{margin-top:24px;border-top:1px solid #e3e3e3;padding-top:8px}
.chart{display:block;width:100%;max-width:480px;height:auto;border:0}
@media (max-width:480px){
body{padding:8px}
table.rows,table.rows tbody,table.rows tr,table.rows td{display:block;width:auto}
table.rows thead{display:none}
table.rows tr{border:1px solid #ddd;border-radius:6px;padding:6px 8px;margin:0 0 8px 0}
table.rows td{border:0;padding:1px 0}
table.rows td.rid,table.rows td.st,table.rows td.who,table.rows td.due{display:inline-block;margin-right:10px}
table.rows td.mat{font-size:15px}
}
"""


def one_line(text: str) -> str:
    """Staff text on one line: runs of spaces and line breaks become one space."""
    return " ".join(str(text or "").split())


@dataclass(frozen=True)
class RowView:
    """One reception as a message shows it; every field is plain text, the phone already masked."""

    record_id: str
    received: str
    room: str
    owner_name: str
    phone: str
    category: str
    matter: str
    department: str
    status: str
    due: str = ""  # "時限 2026-11-28", or ""
    days_open: str = ""  # "已開 6 天", or ""
    extra: str = ""  # what this section adds: a note, a result, an escalation


@dataclass(frozen=True)
class Section:
    """A titled list of receptions: `rows` are those shown (at most the limit), `total` all of
    them; `more` says how many are not shown and where they all are."""

    title: str
    rows: tuple[RowView, ...]
    total: int
    more: str = ""
    note: str = ""
    headers: tuple[str, ...] = ("", "", "", "", "")  # id / date, status, 事由, room / owner, due / days
    level: int = 2  # 3: a group inside an `Action` block


@dataclass(frozen=True)
class Action:
    """What needs doing today, first in a digest: a framed block of `Section`s (level 3)."""

    title: str
    intro: str
    groups: tuple[Section, ...]
    total: int


@dataclass(frozen=True)
class Table:
    """A small table of figures: a header row and rows of text, first column a name."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    swatches: tuple[str, ...] = ()  # a colour box before header cell i+1 (the chart's legend)
    row_swatches: tuple[str, ...] = ()  # a colour box before row i's name (a legend, series in rows)
    note: str = ""
    text_from: int | None = None  # columns from here on hold text that wraps; before, figures kept whole


@dataclass(frozen=True)
class Chart:
    title: str
    cid: str
    alt: str
    numbers: Table | None = None  # the figures drawn, shown beneath (and alone in plain text)


@dataclass(frozen=True)
class Fields:
    """One reception shown whole, as name / value lines (an alert)."""

    title: str
    pairs: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Document:
    language: str  # "zh-Hant" | "zh-Hans", for the HTML lang attribute
    title: str
    greeting: str
    intro: str
    blocks: tuple = ()
    overview: tuple[str, ...] = ()  # one short line per section, first (after an Action block)
    overview_title: str = ""
    none_text: str = ""
    count_label: str = "{count}"
    footer: str = ""


ROW_COLUMNS = ("rid", "st", "mat", "who", "due")  # a reception's cells, in a phone card's reading order


class Overview:
    """Where the document's overview goes: after a leading `Action` block, else first."""


def _with_overview(doc: Document) -> list:
    blocks = list(doc.blocks)
    if doc.overview:
        at = 1 if blocks and isinstance(blocks[0], Action) else 0
        blocks.insert(at, Overview())
    return blocks


# ----- plain text ---------------------------------------------------------------------------

def render_text(doc: Document) -> str:
    lines = [doc.greeting, "", doc.intro, ""]
    for block in _with_overview(doc):
        if isinstance(block, Overview):
            lines.append(f"【{doc.overview_title}】")
            lines.extend(f"・{item}" for item in doc.overview)
            lines.append("")
            continue
        block_lines = _text_block(block, doc)
        if block_lines:
            lines.extend(block_lines)
            lines.append("")
    lines.append("—")
    lines.append(doc.footer)
    return "\n".join(lines) + "\n"


def _text_block(block, doc: Document) -> list[str]:
    if isinstance(block, Action):
        out = [f"【{block.title}】{doc.count_label.format(count=block.total)}", block.intro]
        if not block.groups:
            out.append(doc.none_text)
        for group in block.groups:
            out.extend(_text_block(group, doc))
        return out
    if isinstance(block, Section):
        mark = "【{}】" if block.level == 2 else "〔{}〕"
        out = [mark.format(block.title) + doc.count_label.format(count=block.total)]
        if not block.total:
            out.append(doc.none_text)
        for row in block.rows:
            out.extend(_text_row(row))
        if block.more:
            out.append(block.more)
        if block.note:
            out.append(block.note)
        return out
    if isinstance(block, Table):
        out = [f"【{block.title}】"]
        out.append(" | ".join(block.header))
        out.extend(" | ".join(row) for row in block.rows)
        if block.note:
            out.append(block.note)
        return out
    if isinstance(block, Chart):
        # The image is the HTML part's; plain text gets its numbers.
        return _text_block(block.numbers, doc) if block.numbers else []
    if isinstance(block, Fields):
        out = [f"【{block.title}】"]
        out.extend(f"{name}：{one_line(value)}" for name, value in block.pairs)
        return out
    raise TypeError(type(block))


def _text_row(row: RowView) -> list[str]:
    head = "  ".join(part for part in (row.record_id, row.received, row.room, row.category, row.status, row.days_open) if part)
    out = [f"・{head}", f"  {one_line(row.matter)}"]
    who = " ".join(part for part in (one_line(row.owner_name), row.phone) if part)
    details = " · ".join(part for part in (who, one_line(row.department), row.due) if part)
    if details:
        out.append(f"  {details}")
    if row.extra:
        out.append(f"  {one_line(row.extra)}")
    return out


# ----- HTML ---------------------------------------------------------------------------------

def _e(text: object) -> str:
    return html.escape(one_line(str(text)), quote=True)


def render_html(doc: Document) -> str:
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{_e(doc.language)}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(doc.title)}</title><style>{_STYLE}</style></head>",
        '<body><div class="page">',
        f"<h1>{_e(doc.title)}</h1>",
        f"<p>{_e(doc.greeting)}</p>",
        f"<p>{_e(doc.intro)}</p>",
    ]
    for block in _with_overview(doc):
        if isinstance(block, Overview):
            parts.append(_h2(doc.overview_title))
            parts.append("<ul>" + "".join(f"<li>{_overview_item(item)}</li>" for item in doc.overview) + "</ul>")
        else:
            parts.append(_html_block(block, doc))
    parts.append(f'<p class="muted footer">{_e(doc.footer)}</p>')
    parts.append("</div></body></html>")
    return "\n".join(parts) + "\n"


def _h2(text: str, suffix: str = "", level: int = 2) -> str:
    tail = f' <span class="count">{_e(suffix)}</span>' if suffix else ""
    return f"<h{level}>{_e(text)}{tail}</h{level}>"


def _table(header_cells: list[str], body_rows: list[str], css_class: str = "", numbers: range = range(0),
           column_classes: tuple[str, ...] = ()) -> str:
    """A table; header cells at positions in `numbers` stand over figures (right-aligned);
    `column_classes` name the columns (their widths, in a fixed layout)."""
    def th(position: int, cell: str) -> str:
        if position in numbers:
            return f'<th class="num">{cell}</th>'
        if position < len(column_classes):
            return f'<th class="{column_classes[position]}">{cell}</th>'
        return f"<th>{cell}</th>"

    head = "".join(th(position, cell) for position, cell in enumerate(header_cells))
    attribute = f' class="{css_class}"' if css_class else ""
    return (f'<table{attribute} role="presentation" cellpadding="0" cellspacing="0">'
            f"<thead><tr>{head}</tr></thead><tbody>" + "\n".join(body_rows) + "</tbody></table>")


def _html_block(block, doc: Document) -> str:
    if isinstance(block, Action):
        out = ['<div class="action">', _h2(block.title, doc.count_label.format(count=block.total)),
               f"<p>{_e(block.intro)}</p>"]
        if not block.groups:
            out.append(f'<p class="muted">{_e(doc.none_text)}</p>')
        out.extend(_html_block(group, doc) for group in block.groups)
        out.append("</div>")
        return "\n".join(out)
    if isinstance(block, Section):
        out = [_h2(block.title, doc.count_label.format(count=block.total), block.level)]
        if block.rows:
            out.append(_table([_e(h) for h in block.headers], [_html_row(row) for row in block.rows], "rows",
                              column_classes=ROW_COLUMNS))
        elif not block.total:
            out.append(f'<p class="muted">{_e(doc.none_text)}</p>')
        if block.more:
            out.append(f'<p class="muted">{_e(block.more)}</p>')
        if block.note:
            out.append(f'<p class="muted">{_e(block.note)}</p>')
        return "\n".join(out)
    if isinstance(block, Table):
        header = []
        for position, cell in enumerate(block.header):
            if 0 < position <= len(block.swatches):
                # The colour key on its own line above a name kept whole: at 390 px a key and its
                # name side by side broke 接待數 into 接待 / 數.
                header.append(f'{_swatch(block.swatches[position - 1])}<br><span class="nb">{_e(cell)}</span>')
            else:
                header.append(_e(cell))
        text_from = block.text_from if block.text_from is not None else len(block.header)
        rows = []
        for index, row in enumerate(block.rows):
            swatch = _swatch(block.row_swatches[index]) if index < len(block.row_swatches) else ""
            rows.append("<tr>" + "".join(_figure_cell(position, cell, text_from, swatch if position == 0 else "")
                                         for position, cell in enumerate(row)) + "</tr>")
        out = [_h2(block.title)] if block.title else []
        out.append(_table(header, rows, "figures", numbers=range(1, text_from)))
        if block.note:
            out.append(f'<p class="muted">{_e(block.note)}</p>')
        return "\n".join(out)
    if isinstance(block, Chart):
        # The legend is inside the picture; the table beneath gives the exact figures.
        return "\n".join((
            _h2(block.title),
            f'<img class="chart" src="cid:{_e(block.cid)}" alt="{_e(block.alt)}" width="480" '
            'style="display:block;width:100%;max-width:480px;height:auto;border:0">',
            # Under its chart the table needs no heading of its own.
            _html_block(replace(block.numbers, title=""), doc) if block.numbers else "",
        ))
    if isinstance(block, Fields):
        rows = [f'<tr><th class="name">{_e(name)}</th><td>{_field_value(value)}</td></tr>' for name, value in block.pairs]
        return "\n".join((_h2(block.title), '<table role="presentation" cellpadding="0" cellspacing="0">'
                          + "".join(rows) + "</table>"))
    raise TypeError(type(block))


def _overview_item(item: str) -> str:
    """`主管隊列：8 項`, the count kept on one line (at 390 px it broke as `：1` / `項`)."""
    name, colon, count = item.rpartition("：")
    return f'{_e(name)}{colon}<span class="nb">{_e(count)}</span>' if colon else _e(item)


def _swatch(color: str) -> str:
    # Inline, not a class: the colour is the legend, it must survive clients that drop <style>.
    return (f'<span class="key" style="display:inline-block;width:10px;height:10px;margin-right:4px;'
            f'background:{_e(color)}"></span>')


def _figure_cell(position: int, cell: str, text_from: int, swatch: str = "") -> str:
    """The first column names the row (after its legend's colour box, if any); then figures
    (numbers, ids, "—") kept on one line, right aligned; from `text_from` on, text that wraps."""
    if position == 0:
        return f'<td class="name">{swatch}{_text_keeping_tokens(cell)}</td>'
    if position >= text_from:
        return f"<td>{_text_keeping_tokens(cell)}</td>"
    return f'<td class="num"><span class="nb">{_e(cell)}</span></td>'


# Inside running text (a problem's list of ids), ids, dates and masked phones still never break.
_WHOLE_TOKENS = re.compile(r"R\d{8}-\d{3,}|\d{4}-\d{2}-\d{2}(?: \d{2}:\d{2})?|\d{3}\*{4}\d{4}")


def _text_keeping_tokens(text: str) -> str:
    # The tokens hold no character that escaping changes, so they are found in the escaped text.
    return _WHOLE_TOKENS.sub(lambda match: f'<span class="nb">{match.group(0)}</span>', _e(text))


_TOKEN = re.compile(r"[\x21-\x7e][\x20-\x7e]{0,23}")  # an id, a date and time, a masked phone, a number


def _field_value(value: str) -> str:
    # A value that is one token stays whole; in running text (a list of ids), each id does.
    return _nb(value) if _TOKEN.fullmatch(one_line(value)) else _text_keeping_tokens(value)


def _nb(text: str) -> str:
    return f'<span class="nb">{_e(text)}</span>' if text else ""


def _html_row(row: RowView) -> str:
    """Five cells in the order a phone's card reads them: id (and date), status, 事由 in full
    (with category, department and what this section adds), room and owner, due date and days
    open. Ids, dates, phones and day counts never break mid-word."""
    record = f'<b class="nb">{_e(row.record_id)}</b> {_nb(row.received)}'
    matter_lines = [_e(row.matter)]
    small = " · ".join(part for part in (_e(row.category), _e(row.department)) if part)
    if small:
        matter_lines.append(f'<span class="muted">{small}</span>')
    if row.extra:
        matter_lines.append(f'<span class="extra">{_e(row.extra)}</span>')
    who = " ".join(part for part in (_nb(row.room), _nb(one_line(row.owner_name)), _nb(row.phone)) if part)
    due = " ".join(part for part in (_nb(row.due), _nb(row.days_open)) if part)
    cells = (record, f'<span class="nb">{_e(row.status)}</span>', "<br>".join(matter_lines), who, due)
    return "<tr>" + "".join(f'<td class="{name}">{cell}</td>' for name, cell in zip(ROW_COLUMNS, cells)) + "</tr>"
