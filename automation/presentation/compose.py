"""Rendering a message's content as plain text and as HTML a manager can read on a phone.

A message is a `Document`: a title, a greeting, an intro, then blocks — `Section`s of reception
rows, small `Table`s of figures, a `Chart` image — and a footer. The same document renders to
both parts of the mail, so the two always say the same thing. Every piece of text is escaped
here, once, when it becomes HTML: callers pass plain strings, staff text included.

Phone-friendly means: one column of content at most 640px wide; receptions in four columns whose
cells wrap, each reception a few short lines rather than one wide row; figures in tables of at
most five narrow columns.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, replace

# How much of a long 事由 a list of receptions shows; an alert about one row shows all of it.
DIGEST_MATTER_CHARS = 120

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
table{width:100%;border-collapse:collapse;font-size:14px}
th{padding:6px 4px;border-bottom:2px solid #999;text-align:left;font-size:13px;color:#555;font-weight:normal}
td{padding:6px 4px;border-bottom:1px solid #e3e3e3;vertical-align:top;text-align:left;word-break:break-all}
.muted,.count{color:#666;font-size:13px}
.count{font-weight:normal}
.extra{color:#b00020;font-size:13px}
.name{width:30%;color:#555}
.key{display:inline-block;width:10px;height:10px;margin:0 3px 0 6px;vertical-align:middle}
.nb{white-space:nowrap;word-break:keep-all}
.footer{margin-top:24px;border-top:1px solid #e3e3e3;padding-top:8px}
"""


def one_line(text: str) -> str:
    """Staff text on one line: runs of spaces and line breaks become one space."""
    return " ".join(str(text or "").split())


def shorten(text: str, limit: int) -> str:
    text = one_line(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
    headers: tuple[str, str, str, str] = ("", "", "", "")


@dataclass(frozen=True)
class Table:
    """A small table of figures: a header row and rows of text, first column a name."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    swatches: tuple[str, ...] = ()  # a colour box before header cell i+1 (the chart's legend)
    note: str = ""


@dataclass(frozen=True)
class Chart:
    title: str
    cid: str
    alt: str
    legend: tuple[tuple[str, str], ...]  # (colour "#rrggbb", series name)
    legend_label: str = ""
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
    overview: tuple[str, ...] = ()  # one short line per section, shown first
    overview_title: str = ""
    none_text: str = ""
    count_label: str = "{count}"
    footer: str = ""


# ----- plain text ---------------------------------------------------------------------------

def render_text(doc: Document) -> str:
    lines = [doc.greeting, "", doc.intro, ""]
    if doc.overview:
        lines.append(f"【{doc.overview_title}】")
        lines.extend(f"・{item}" for item in doc.overview)
        lines.append("")
    for block in doc.blocks:
        block_lines = _text_block(block, doc)
        if block_lines:
            lines.extend(block_lines)
            lines.append("")
    lines.append("—")
    lines.append(doc.footer)
    return "\n".join(lines) + "\n"


def _text_block(block, doc: Document) -> list[str]:
    if isinstance(block, Section):
        out = [f"【{block.title}】{doc.count_label.format(count=block.total)}"]
        if not block.rows:
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
    out = [f"・{head}", f"  {shorten(row.matter, DIGEST_MATTER_CHARS)}"]
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
    if doc.overview:
        parts.append(_h2(doc.overview_title))
        parts.append("<ul>" + "".join(f"<li>{_e(item)}</li>" for item in doc.overview) + "</ul>")
    for block in doc.blocks:
        parts.append(_html_block(block, doc))
    parts.append(f'<p class="muted footer">{_e(doc.footer)}</p>')
    parts.append("</div></body></html>")
    return "\n".join(parts) + "\n"


def _h2(text: str, suffix: str = "") -> str:
    tail = f' <span class="count">{_e(suffix)}</span>' if suffix else ""
    return f"<h2>{_e(text)}{tail}</h2>"


def _table(header_cells: list[str], body_rows: list[str]) -> str:
    head = "".join(f"<th>{cell}</th>" for cell in header_cells)
    return ('<table role="presentation" cellpadding="0" cellspacing="0">'
            f"<tr>{head}</tr>" + "\n".join(body_rows) + "</table>")


def _html_block(block, doc: Document) -> str:
    if isinstance(block, Section):
        out = [_h2(block.title, doc.count_label.format(count=block.total))]
        if block.rows:
            out.append(_table([_e(h) for h in block.headers], [_html_row(row) for row in block.rows]))
        else:
            out.append(f'<p class="muted">{_e(doc.none_text)}</p>')
        if block.more:
            out.append(f'<p class="muted">{_e(block.more)}</p>')
        if block.note:
            out.append(f'<p class="muted">{_e(block.note)}</p>')
        return "\n".join(out)
    if isinstance(block, Table):
        header = []
        for position, cell in enumerate(block.header):
            swatch = _swatch(block.swatches[position - 1]) if 0 < position <= len(block.swatches) else ""
            header.append(swatch + _e(cell))
        rows = ["<tr>" + "".join(f"<td>{_e(cell)}</td>" for cell in row) + "</tr>" for row in block.rows]
        out = [_h2(block.title)] if block.title else []
        out.append(_table(header, rows))
        if block.note:
            out.append(f'<p class="muted">{_e(block.note)}</p>')
        return "\n".join(out)
    if isinstance(block, Chart):
        legend = " ".join(f"{_swatch(color)}{_e(name)}" for color, name in block.legend)
        return "\n".join((
            _h2(block.title),
            f'<img src="cid:{_e(block.cid)}" alt="{_e(block.alt)}" width="640" '
            'style="display:block;width:100%;max-width:640px;height:auto;border:0">',
            f'<p class="muted">{_e(block.legend_label)}{legend}</p>',
            # Under its chart the table needs no heading of its own.
            _html_block(replace(block.numbers, title=""), doc) if block.numbers else "",
        ))
    if isinstance(block, Fields):
        rows = [f'<tr><th class="name">{_e(name)}</th><td>{_e(value)}</td></tr>' for name, value in block.pairs]
        return "\n".join((_h2(block.title), '<table role="presentation" cellpadding="0" cellspacing="0">'
                          + "".join(rows) + "</table>"))
    raise TypeError(type(block))


def _swatch(color: str) -> str:
    # Inline, not a class: the colour is the legend, it must survive clients that drop <style>.
    return (f'<span class="key" style="display:inline-block;width:10px;height:10px;'
            f'background:{_e(color)}"></span>')


def _html_row(row: RowView) -> str:
    # Ids, dates and phones never break mid-word: a manager reads them on a phone.
    record = f'<b class="nb">{_e(row.record_id)}</b><br><span class="nb">{_e(row.received)}</span>'
    phone = f'<span class="nb">{_e(row.phone)}</span>' if row.phone else ""
    who = " ".join(part for part in (_e(row.owner_name), phone) if part)
    owner = "<br>".join(part for part in (_e(row.room), who) if part)
    matter_lines = [_e(shorten(row.matter, DIGEST_MATTER_CHARS))]
    small = " · ".join(part for part in (_e(row.category), _e(row.department)) if part)
    if small:
        matter_lines.append(f'<span class="muted">{small}</span>')
    if row.extra:
        matter_lines.append(f'<span class="extra">{_e(row.extra)}</span>')
    status_lines = [part for part in (_e(row.status), _e(row.due), _e(row.days_open)) if part]
    status_lines = [f'<span class="nb">{part}</span>' if part == _e(row.due) else part for part in status_lines]
    cells = (record, owner, "<br>".join(matter_lines), "<br>".join(status_lines))
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"
