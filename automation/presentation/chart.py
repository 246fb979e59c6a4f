"""Charts for mails, drawn with matplotlib (Agg, no display) as PNG bytes.

A chart in a mail is read on a phone first: drawn at 640 × 360 CSS pixels at twice the
resolution, with large text, values written on the bars, and the legend inside the picture
(a mail client may drop the HTML around it). Series names are Chinese where a CJK-capable font is
installed (Noto Sans CJK, the usual Windows/macOS fonts); on a machine without one the picture
uses Latin names instead of drawing empty boxes, and the figures table beneath the chart keeps
the Chinese names.

`trend_chart` is generic: the weekly review draws 8 weeks with it, the quarterly review
quarters.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display on a server

from matplotlib import font_manager, ticker  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

# Colour-blind-safe (Okabe–Ito): blue, bluish green, vermilion, then black for a line.
BAR_COLORS = ("#0072b2", "#009e73", "#d55e00", "#cc79a7")
LINE_COLOR = "#222222"
CJK_FONT_NAMES = (
    "Noto Sans CJK TC", "Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans TC", "Noto Sans SC",
    "Source Han Sans TC", "Source Han Sans SC", "Microsoft JhengHei", "Microsoft YaHei",
    "PingFang TC", "PingFang SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Droid Sans Fallback",
)
WIDTH_PX, HEIGHT_PX, DPI = 480, 340, 250  # drawn for a phone-wide column; saved at 2.5× for sharp screens


@dataclass(frozen=True)
class Series:
    """One series of a chart: its name in the mail's language, a Latin name for machines without
    a CJK font, and one value per category."""

    name: str
    latin_name: str
    values: tuple[float, ...]


@functools.lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The family name of an installed CJK-capable font, or None."""
    installed = {entry.name for entry in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONT_NAMES if name in installed), None)


def _value_text(value: float) -> str:
    return f"{value:g}"


def trend_chart(categories: list[str], bars: list[Series], lines: list[Series] = (), *,
                title: str = "", latin_title: str = "") -> bytes:
    """A PNG: one group of bars per category (one bar per `bars` series, its value on top) and
    each of `lines` drawn over them with markers; the legend inside the picture, above the plot.

    `categories` should be short Latin text (`W47`, `2026-Q3`): they are drawn in any font."""
    figure = trend_figure(categories, bars, lines, title=title, latin_title=latin_title, font=cjk_font())
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def trend_figure(categories: list[str], bars: list[Series], lines: list[Series] = (), *,
                 title: str = "", latin_title: str = "", font: str | None = None) -> Figure:
    """The figure `trend_chart` saves; `font` is a CJK font's family name, or None for Latin
    names only."""
    names = [s.name if font else s.latin_name for s in (*bars, *lines)]
    heading = title if font else latin_title
    figure = Figure(figsize=(WIDTH_PX / 100, HEIGHT_PX / 100), dpi=100)
    axes = figure.add_subplot()
    family = [font, "DejaVu Sans"] if font else ["DejaVu Sans"]
    text_style = {"family": family, "size": 12}

    count = max(len(bars), 1)
    width = 0.8 / count
    positions = list(range(len(categories)))
    highest = max([v for s in (*bars, *lines) for v in s.values] or [0])
    for index, series in enumerate(bars):
        offsets = [p - 0.4 + width * (index + 0.5) for p in positions]
        drawn = axes.bar(offsets, series.values, width * 0.92, color=BAR_COLORS[index % len(BAR_COLORS)],
                         label=names[index], zorder=2)
        axes.bar_label(drawn, labels=[_value_text(v) if v else "" for v in series.values],
                       padding=1, fontsize=9, family=family, color="#333333")
    for index, series in enumerate(lines):
        axes.plot(positions, series.values, color=LINE_COLOR, marker="o", markersize=5, linewidth=2,
                  label=names[len(bars) + index], zorder=3)
        for x, value in zip(positions, series.values):
            if not value:
                continue
            axes.annotate(_value_text(value), (x, value), textcoords="offset points", xytext=(0, 7),
                          ha="center", fontsize=10, family=family, color=LINE_COLOR, fontweight="bold",
                          bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})

    axes.set_xticks(positions, categories, fontsize=11, family=family)
    axes.tick_params(axis="y", labelsize=11)
    axes.yaxis.set_major_locator(ticker.MaxNLocator(nbins=4, integer=True))
    axes.grid(axis="y", color="#e3e3e3", zorder=0)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    handles, labels = axes.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: names.index(labels[i]))  # bars first, as given
    handles, labels = [handles[i] for i in order], [labels[i] for i in order]
    canvas = FigureCanvasAgg(figure)
    for columns in (len(labels), 2, 1):  # one line of legend if it fits the picture's width
        legend = axes.legend(handles, labels, loc="upper left", ncols=max(columns, 1), frameon=False,
                             prop=text_style, handlelength=1.2, columnspacing=1.0, borderaxespad=0.2)
        rows = -(-len(labels) // max(columns, 1))
        axes.set_ylim(0, max(highest, 1) * (1.15 + 0.15 * rows) + 0.5)  # room above the bars
        figure.tight_layout(pad=0.6)
        if legend.get_window_extent(canvas.get_renderer()).x1 <= figure.bbox.x1:
            break
    if heading:
        axes.set_title(heading, loc="left", fontdict={**text_style, "size": 13})
    figure.tight_layout(pad=0.6)
    return figure
