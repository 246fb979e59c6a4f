"""Building main-tab DataFrames for the pure rule tests, the way the backends hand them over."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from automation.config import EscalationConfig, Ladder
from automation.domain import rules
from automation.vocabulary import Vocabulary

HANT = Vocabulary("zh-Hant")


def day(text: str) -> int:
    return dt.date.fromisoformat(text).toordinal()


def sheet(*rows: dict, vocabulary: Vocabulary = HANT) -> pd.DataFrame:
    """Rows as {key: cell value}; defaults make a complete, open reception."""
    defaults = {"owner_name": "陳先生", "room": "1-101", "matter": "水管漏水"}
    data = {c.key: [] for c in vocabulary.columns}
    for row in rows:
        merged = {**defaults, **row}
        for key in data:
            data[key].append(merged.get(key))
    return pd.DataFrame(data, index=pd.RangeIndex(2, 2 + len(rows)), dtype=object)


def evaluate(*rows: dict, today: str = "2026-03-10", escalation: EscalationConfig | None = None,
             issued: dict | None = None, vocabulary: Vocabulary = HANT) -> pd.DataFrame:
    return rules.evaluate(sheet(*rows, vocabulary=vocabulary), day(today), escalation or EscalationConfig(),
                          vocabulary, already_issued=issued)


def complaints_stricter() -> EscalationConfig:
    return EscalationConfig(by_category={"complaint": Ladder(1, 3)})
