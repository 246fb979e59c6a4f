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
from matplotlib.transforms import Bbox  # noqa: E402

# Colour-blind-safe (Okabe–Ito): blue, bluish green, vermilion, then black for a line.
BAR_COLORS = ("#0072b2", "#009e73", "#d55e00", "#cc79a7")
LINE_COLOR = "#222222"
CJK_FONT_NAMES = (
    "Noto Sans CJK TC", "Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans TC", "Noto Sans SC",
    "Source Han Sans TC", "Source Han Sans SC", "Microsoft JhengHei", "Microsoft YaHei",
    "PingFang TC", "PingFang SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Droid Sans Fallback",
)
MARKER_POINTS = 5
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
    value_labels: list[ValueLabel] = []
    for index, series in enumerate(bars):
        offsets = [p - 0.4 + width * (index + 0.5) for p in positions]
        axes.bar(offsets, series.values, width * 0.92, color=BAR_COLORS[index % len(BAR_COLORS)],
                 label=names[index], zorder=2)
        value_labels += [ValueLabel(x, value, BAR_LABEL_PLACES, BAR_LABEL_STYLE)
                   for x, value in zip(offsets, series.values) if value]
    for index, series in enumerate(lines):
        axes.plot(positions, series.values, color=LINE_COLOR, marker="o", markersize=MARKER_POINTS, linewidth=2,
                  label=names[len(bars) + index], zorder=3)
        value_labels += [ValueLabel(x, value, LINE_LABEL_PLACES, LINE_LABEL_STYLE)
                   for x, value in zip(positions, series.values) if value]

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
    renderer = canvas.get_renderer()
    slot_px = axes.transData.transform((width, 0))[0] - axes.transData.transform((0, 0))[0]
    value_labels = [upright_if_wider(label, slot_px, axes, family, renderer) for label in value_labels]

    def marker_boxes() -> list[Bbox]:  # where the line's markers are drawn, at the current scale
        return [marker_box(axes, x, y, renderer) for series in lines for x, y in zip(positions, series.values)]

    markers = marker_boxes()
    for _ in range(3):  # a bar's value left out: more room above the bars, and place them again
        written = place_value_labels(axes, value_labels, family, renderer, avoid=[legend], also_avoid=markers)
        if all(label in written for label in value_labels if label.places is not LINE_LABEL_PLACES):
            break
        for text in list(axes.texts):
            text.remove()
        axes.set_ylim(0, axes.get_ylim()[1] * 1.2)
        markers = marker_boxes()
    return figure


@dataclass(frozen=True)
class ValueLabel:
    """A value to write beside its point (x, y in data units), at the first of `places` (offsets
    in points) where it overlaps nothing already written; left out when none is free."""

    x: float
    y: float
    places: tuple[tuple[float, float, str, float], ...]  # (dx, dy, vertical alignment, rotation)
    style: dict


# A bar's value sits on its top, or a little higher when a neighbour's is there already; when
# values are wider than a bar (three digits, eight weeks), they stand upright on the bars.
# A place with dy < 0 is inside the bar's top, in white: taken only when the bar holds the text
# (the line's marker sits on the middle bar's top).
BAR_LABEL_PLACES = ((0, 1, "bottom", 0), (0, -6, "top", 0), (0, 11, "bottom", 0), (0, 21, "bottom", 0))
UPRIGHT_BAR_LABEL_PLACES = ((0, 1, "bottom", 90), (0, -6, "top", 90), (0, 19, "bottom", 90), (0, 37, "bottom", 90))
BAR_LABEL_STYLE = {"fontsize": 9, "color": "#333333"}
# The line's value above its marker, else below it, else higher above.
LINE_LABEL_PLACES = ((0, 7, "bottom", 0), (0, -8, "top", 0), (0, 19, "bottom", 0), (0, -20, "top", 0))
LINE_LABEL_STYLE = {"fontsize": 10, "color": LINE_COLOR, "fontweight": "bold",
                    "bbox": {"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.8}}


def place_value_labels(axes, labels: list[ValueLabel], family: list[str], renderer, avoid=(),
                       also_avoid=()) -> list[ValueLabel]:
    """Write `labels` so that no two overlap each other, the artists of `avoid` (the legend), the
    boxes of `also_avoid` (the line's markers) or leave the picture: bars' values first, as given,
    then the lines'. A value that finds no free place is left out of the picture (the figures
    table beside the chart has every number). Returns the labels written."""
    taken = [artist.get_window_extent(renderer) for artist in avoid] + list(also_avoid)
    written = []
    frame = axes.figure.bbox
    floor = axes.transData.transform((0, 0))[1] + 2  # a text inside a bar stays above its foot
    for label in labels:
        for dx, dy, vertical, rotation in label.places:
            in_bar = dy < 0 and label.places is not LINE_LABEL_PLACES
            style = {**label.style, "color": "white", "fontweight": "bold"} if in_bar else label.style
            text = axes.annotate(_value_text(label.y), (label.x, label.y), textcoords="offset points",
                                 xytext=(dx, dy), ha="center", va=vertical, rotation=rotation, family=family,
                                 zorder=4, **style)
            box = text.get_window_extent(renderer)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            inside = inside and (not in_bar or box.y0 >= floor)
            if inside and not any(box.overlaps(other) for other in taken):
                taken.append(box)
                written.append(label)
                break
            text.remove()
    return written



def upright_if_wider(label: ValueLabel, slot_px: float, axes, family: list[str], renderer) -> ValueLabel:
    """A bar's value stands upright on its bar when, written across, it is wider than the bar's
    slot (two or three digits, eight weeks of three bars): it then never reaches a neighbour's."""
    if label.places != BAR_LABEL_PLACES:
        return label
    probe = axes.text(0, 0, _value_text(label.y), family=family, **label.style)
    wide = probe.get_window_extent(renderer).width > slot_px
    probe.remove()
    return ValueLabel(label.x, label.y, UPRIGHT_BAR_LABEL_PLACES, label.style) if wide else label


def marker_box(axes, x: float, y: float, renderer) -> Bbox:
    """The window box a line's marker covers (drawn 5 points wide), so no value is written on it."""
    centre_x, centre_y = axes.transData.transform((x, y))
    half = renderer.points_to_pixels(MARKER_POINTS) / 2 + 1
    return Bbox.from_extents(centre_x - half, centre_y - half, centre_x + half, centre_y + half)
