"""From a tab's raw cells to the DataFrame the rules read (SPEC 2: columns found by header)."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import zip_longest

import numpy as np
import pandas as pd

from ..errors import SheetUnusableError
from ..vocabulary import Vocabulary, normalize_text


@dataclass(frozen=True)
class MainTable:
    frame: pd.DataFrame  # one column per key (None where the sheet lacks it), index = sheet row
    positions: dict[str, int]  # key → 0-based column position on the sheet
    width: int  # number of header cells (the right end worker columns are added after)
    headers: tuple[str, ...] = ()  # the header row's texts, trimmed


def build_main_table(header: list[object], rows: list[list[object]], vocabulary: Vocabulary,
                     center: str, tab: str, columns: list[list[object]] | None = None) -> MainTable:
    """Map headers to keys and check the structure; a problem here stops the center (exit 3).
    The data rows come as `rows`, or column by column as `columns` (each as long as the rows)."""
    positions = vocabulary.match_headers(header)
    missing = [c for c in vocabulary.columns if c.required and c.key not in positions]
    if missing:
        names = "、".join(f"「{c.headers[vocabulary.language]}」" for c in missing)
        raise SheetUnusableError(
            f"服務中心「{center}」：分頁「{tab}」第 1 行缺少必需的表頭 {names}；"
            f"請在第 1 行加上該表頭（繁體或簡體均可），本次未寫入任何內容"
        )
    if "owner_name" not in positions and "phone" not in positions:
        raise SheetUnusableError(
            f"服務中心「{center}」：分頁「{tab}」第 1 行需要「{vocabulary.header('owner_name')}」或"
            f"「{vocabulary.header('phone')}」至少一個表頭；本次未寫入任何內容"
        )
    width = len(header)
    # Rows may be ragged (Google leaves out trailing empty cells): transposed in one go, short
    # rows padded with None, instead of a look-up per cell.
    if columns is not None:
        by_position, count = columns, len(columns[0]) if columns else 0
    else:
        by_position, count = (list(zip_longest(*rows, fillvalue=None)) if rows else []), len(rows)
    index = pd.RangeIndex(2, 2 + count)
    data = {}
    for column in vocabulary.columns:
        position = positions.get(column.key)
        values = np.empty(count, dtype=object)
        if position is not None and position < len(by_position):
            values[:] = by_position[position]
        data[column.key] = pd.Series(values, index=index, dtype=object, copy=False)
    frame = pd.DataFrame(data, index=index)
    return MainTable(frame, positions, width, tuple(normalize_text(cell) for cell in header))
