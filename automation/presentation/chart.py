"""A grouped bar chart as PNG bytes, drawn with the standard library only (zlib + struct).

No plotting library is installed, and a chart in a mail needs little: bars, a few grid lines, the
grid values and week numbers in a tiny built-in pixel font (digits and `W` only, so no font file
is needed), the value above each bar, and a legend of coloured boxes. Names of the series are Chinese and live in the HTML
beneath the image, next to the same colours, with the exact numbers in a table.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

Color = tuple[int, int, int]

WHITE: Color = (255, 255, 255)
INK: Color = (68, 68, 68)
GRID: Color = (225, 225, 225)
# Colour-blind-safe trio (Okabe–Ito blue, orange, vermilion): received, finished, escalated.
SERIES_COLORS: tuple[Color, ...] = ((0, 114, 178), (0, 158, 115), (213, 94, 0))

# 3×5 pixel glyphs; "1" marks a lit pixel. W is 5 wide.
_GLYPHS = {
    "0": ("111", "101", "101", "101", "111"),
    "1": ("010", "110", "010", "010", "111"),
    "2": ("111", "001", "111", "100", "111"),
    "3": ("111", "001", "111", "001", "111"),
    "4": ("101", "101", "111", "001", "001"),
    "5": ("111", "100", "111", "001", "111"),
    "6": ("111", "100", "111", "101", "111"),
    "7": ("111", "001", "001", "001", "001"),
    "8": ("111", "101", "111", "101", "111"),
    "9": ("111", "101", "111", "001", "111"),
    "W": ("10001", "10001", "10101", "10101", "01010"),
    "-": ("000", "000", "111", "000", "000"),
}


def hex_color(color: Color) -> str:
    """`#0072b2` for the HTML legend, so the boxes there match the bars."""
    return "#%02x%02x%02x" % color


class Canvas:
    """An RGB pixel buffer with the few drawing operations the chart needs."""

    def __init__(self, width: int, height: int, background: Color = WHITE):
        self.width = width
        self.height = height
        self.pixels = bytearray(bytes(background) * (width * height))

    def fill(self, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
        """Fill the rectangle [x0, x1) × [y0, y1), clipped to the canvas."""
        x0, x1 = max(0, x0), min(self.width, x1)
        y0, y1 = max(0, y0), min(self.height, y1)
        if x0 >= x1 or y0 >= y1:
            return
        span = bytes(color) * (x1 - x0)
        for y in range(y0, y1):
            start = (y * self.width + x0) * 3
            self.pixels[start:start + len(span)] = span

    def text(self, x: int, y: int, text: str, color: Color, scale: int) -> None:
        """Draw `text` (digits, W, -) with its top-left corner at (x, y)."""
        for char in text:
            glyph = _GLYPHS.get(char)
            if glyph is None:
                x += 4 * scale
                continue
            for row, bits in enumerate(glyph):
                for column, bit in enumerate(bits):
                    if bit == "1":
                        self.fill(x + column * scale, y + row * scale,
                                  x + (column + 1) * scale, y + (row + 1) * scale, color)
            x += (len(glyph[0]) + 1) * scale

    def png(self) -> bytes:
        """The canvas as a PNG file: 8-bit truecolour, no interlace, filter 0 on every line."""
        stride = self.width * 3
        raw = b"".join(b"\x00" + bytes(self.pixels[y * stride:(y + 1) * stride]) for y in range(self.height))
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return b"".join((
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(raw, 9)),
            _chunk(b"IEND", b""),
        ))


def text_width(text: str, scale: int) -> int:
    return sum(((len(_GLYPHS[c][0]) if c in _GLYPHS else 3) + 1) * scale for c in text) - scale


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def nice_step(highest: int, lines: int = 4) -> int:
    """A grid step from 1, 2, 5 × 10^k so that about `lines` grid lines cover `highest`."""
    target = max(highest, 1) / lines
    magnitude = 1
    while magnitude * 10 <= target:
        magnitude *= 10
    for factor in (1, 2, 5, 10):
        if magnitude * factor >= target:
            return magnitude * factor
    return magnitude * 10


@dataclass(frozen=True)
class ChartSize:
    """Pixel sizes at scale 1; the chart is drawn at `scale` for sharp phone screens."""

    width: int = 640
    height: int = 260
    scale: int = 2


def grouped_bar_chart(labels: list[str], series: list[list[int]], colors: tuple[Color, ...] = SERIES_COLORS,
                      size: ChartSize = ChartSize()) -> bytes:
    """A PNG of `len(labels)` groups, one bar per series in each group, with a y grid.

    `labels` are drawn under the groups with the pixel font (keep them to digits, W and -, e.g.
    `W47`); `series[i][j]` is the value of series i in group j. The legend is one coloured box
    per series, top right; what each colour means is said in the HTML beside the image.
    """
    s = size.scale
    width, height = size.width * s, size.height * s
    canvas = Canvas(width, height)
    font = 2 * s  # glyph pixel size of axis labels
    small = max(1, 3 * s // 2)  # of the numbers above the bars
    left, right, top, bottom = 44 * s, 12 * s, 30 * s, 26 * s
    plot_w, plot_h = width - left - right, height - top - bottom
    highest = max((v for values in series for v in values), default=0)
    step = nice_step(highest)
    ceiling = step * max(1, -(-max(highest, 1) // step))

    for value in range(0, ceiling + 1, step):
        y = top + plot_h - round(plot_h * value / ceiling)
        canvas.fill(left, y, left + plot_w, y + s, GRID if value else INK)
        label = str(value)
        canvas.text(left - 6 * s - text_width(label, font), y - 5 * font // 2, label, INK, font)

    groups = max(len(labels), 1)
    group_w = plot_w / groups
    bar_w = max(1, int(group_w * 0.7 / max(len(series), 1)))
    for index, label in enumerate(labels):
        x_group = left + group_w * index + (group_w - bar_w * len(series)) / 2
        for position, values in enumerate(series):
            value = values[index] if index < len(values) else 0
            bar_h = round(plot_h * value / ceiling)
            x = int(x_group + position * bar_w)
            if bar_h:
                canvas.fill(x, top + plot_h - bar_h, x + bar_w - s, top + plot_h, colors[position % len(colors)])
            if value:
                number = str(value)
                number_x = x + (bar_w - s - text_width(number, small)) // 2
                canvas.text(number_x, top + plot_h - bar_h - 7 * small, number, INK, small)
        label_x = int(left + group_w * index + (group_w - text_width(label, font)) / 2)
        canvas.text(label_x, top + plot_h + 6 * s, label, INK, font)

    box = 12 * s
    for position in range(len(series)):
        x = width - right - (len(series) - position) * (box + 8 * s)
        canvas.fill(x, 8 * s, x + box, 8 * s + box, colors[position % len(colors)])
    return canvas.png()
