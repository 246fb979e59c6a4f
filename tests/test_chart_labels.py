"""The trend chart's value labels never overlap (issue 11): measured on the rendered figure.

For each crafted series — equal values, zero weeks, the backlog line running along the bar tops,
three-digit numbers side by side, one tall week — the figure is drawn and the window extent of
every value label is taken: no two intersect, none overlaps the legend or leaves the picture, and
every bar's value is written.
"""

from __future__ import annotations

import itertools

import pytest

from automation.presentation.chart import Series, cjk_font, trend_figure

WEEKS = [f"W{n}" for n in range(40, 48)]


def weekly(received, finished, escalated, still_open):
    bars = [Series("接待數", "Received", tuple(received)), Series("完成數", "Finished", tuple(finished)),
            Series("升級主管數", "To supervisor", tuple(escalated))]
    return bars, [Series("仍未完成數", "Still open", tuple(still_open))]


CASES = {
    "all equal": weekly([5] * 8, [5] * 8, [5] * 8, [5] * 8),
    "zero weeks": weekly([0, 3, 0, 0, 7, 0, 2, 0], [0, 3, 0, 0, 6, 0, 2, 0], [0] * 8, [0, 0, 0, 0, 1, 1, 1, 0]),
    "all zero": weekly([0] * 8, [0] * 8, [0] * 8, [0] * 8),
    "line on the bar tops": weekly([12, 14, 9, 11, 13, 10, 12, 15], [12, 14, 9, 11, 13, 10, 12, 15],
                                   [3, 2, 4, 3, 2, 3, 4, 2], [12, 14, 9, 11, 13, 10, 12, 15]),
    "line equal to the last bar": weekly([9] * 8, [7] * 8, [4] * 8, [4] * 8),
    "three digits side by side": weekly([128, 131, 127, 140, 133, 129, 138, 135],
                                        [126, 129, 125, 137, 131, 128, 136, 133],
                                        [120, 125, 119, 131, 128, 121, 130, 127],
                                        [130, 132, 128, 139, 135, 131, 137, 136]),
    "one tall week": weekly([2, 1, 3, 250, 2, 1, 0, 4], [2, 1, 3, 240, 2, 1, 0, 4], [0, 0, 1, 30, 0, 0, 0, 1],
                            [1, 1, 2, 12, 2, 2, 2, 3]),
    "backlog above everything": weekly([3, 4, 2, 5, 3, 4, 2, 3], [1, 2, 1, 2, 1, 2, 1, 1], [1] * 8,
                                       [40, 42, 43, 46, 48, 50, 51, 53]),
}


def label_boxes(figure):
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    [axes] = figure.axes
    texts = [text for text in axes.texts if text.get_visible()]
    return axes, texts, [text.get_window_extent(renderer) for text in texts]


@pytest.mark.parametrize("font", [None, "cjk"])
@pytest.mark.parametrize("case", list(CASES))
def test_no_two_value_labels_overlap(case, font):
    if font == "cjk" and cjk_font() is None:
        pytest.skip("no CJK-capable font installed (fonts-noto-cjk): the Latin-names chart is tested")
    bars, lines = CASES[case]
    figure = trend_figure(WEEKS, bars, lines, font=cjk_font() if font else None)
    axes, texts, boxes = label_boxes(figure)
    for (a, box_a), (b, box_b) in itertools.combinations(zip(texts, boxes), 2):
        assert not box_a.overlaps(box_b), f"{case}: {a.get_text()!r} overlaps {b.get_text()!r}"
    legend = axes.get_legend().get_window_extent(figure.canvas.get_renderer())
    frame = figure.bbox
    for text, box in zip(texts, boxes):
        assert not box.overlaps(legend), f"{case}: {text.get_text()!r} overlaps the legend"
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
    written = sorted(text.get_text() for text in texts)
    bar_values = sorted(f"{v:g}" for series in bars for v in series.values if v)
    remaining = list(written)
    for value in bar_values:  # every bar's value is written (the line's may give way)
        assert value in remaining, f"{case}: bar value {value} left out"
        remaining.remove(value)
