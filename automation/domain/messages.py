"""Which messages are due and what they say (SPEC 4.2). Pure: the clock and the log passed in.

(First cut: no message is due yet; the composition of digests, reviews and alerts lands here.)
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..vocabulary import Vocabulary
from .model import OutgoingMessage

_MESSAGE_ID = re.compile(r"<[^<>\s]+@[^<>\s]+>")


@dataclass
class SentState:
    """What the event log says about messages: which went out, which failures were logged."""

    sent_ids: set[str] = field(default_factory=set)
    failed_ids: set[str] = field(default_factory=set)


def sent_state(log_rows: list[list[Any]], vocabulary: Vocabulary) -> SentState:
    sent_labels = {vocabulary.label("events", "message_sent"), *_other_spelling(vocabulary, "message_sent")}
    failed_labels = {vocabulary.label("events", "message_failed"), *_other_spelling(vocabulary, "message_failed")}
    state = SentState()
    for row in log_rows:
        if len(row) < 4:
            continue
        event = str(row[1] or "")
        if event in sent_labels:
            state.sent_ids.update(_MESSAGE_ID.findall(str(row[3] or "")))
        elif event in failed_labels:
            state.failed_ids.update(_MESSAGE_ID.findall(str(row[3] or "")))
    return state


def _other_spelling(vocabulary: Vocabulary, event: str) -> list[str]:
    other = "zh-Hans" if vocabulary.language == "zh-Hant" else "zh-Hant"
    return [Vocabulary(other).label("events", event)]


def due_messages(*, evaluation: pd.DataFrame, tabs: dict[str, list[list[Any]]], state: SentState,
                 now: dt.datetime, config, center, vocabulary: Vocabulary) -> list[OutgoingMessage]:
    """Messages due at `now` (local time of the center) that the log does not show as sent."""
    return []


def sent_detail(message: OutgoingMessage) -> str:
    return f"{message.subject} → {message.to_email}；Message-ID {message.message_id}"
