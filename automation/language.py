"""One language throughout (SPEC 5.1): free-form text in the configured spelling.

The sheet's words (tab names, headers, statuses, notes, mail sentences) come in both spellings
from `sheet_templates/` (see vocabulary.py). Everything else the worker says — error messages,
log lines, 運行日誌 details, command output — is written once, in Traditional, and turned into
Simplified on its way out when `language = "zh-Hans"`, by one converter (zhconv, mainland
usage). Names the user gave (a center, a file, a person, a tab or header as the sheet spells it)
are passed as `keep` and come out exactly as given.
"""

from __future__ import annotations

import functools
import re
from typing import Iterable, TextIO

import zhconv

HANT, HANS = "zh-Hant", "zh-Hans"


# The converter would turn these into “” ‘’; the worker's Simplified text keeps corner brackets.
QUOTES = ("「", "」", "『", "』")


@functools.lru_cache(maxsize=4096)
def to_simplified(text: str) -> str:
    """`text` in Simplified characters and mainland wording (伺服器 → 服务器, 網路 → 网络)."""
    return zhconv.convert(text, "zh-cn")


def localize(text: str, language: str, keep: Iterable[str] = ()) -> str:
    """`text` in `language`: unchanged for zh-Hant; for zh-Hans converted, except the `keep`
    strings found in it and corner brackets, which stay as they are."""
    if language != HANS or not text:
        return text
    pattern = keep_pattern(tuple(sorted({*QUOTES, *(k for k in keep if k)}, key=len, reverse=True)))
    pieces = pattern.split(text)  # the kept names sit at the odd positions
    return "".join(piece if index % 2 else to_simplified(piece) for index, piece in enumerate(pieces))


@functools.lru_cache(maxsize=64)
def keep_pattern(keep: tuple[str, ...]) -> re.Pattern:
    return re.compile("(" + "|".join(map(re.escape, keep)) + ")")


class LocalizingStream:
    """A text stream that writes everything in `language` (stdout / stderr of a command once its
    configuration is read); every other attribute is the wrapped stream's."""

    def __init__(self, stream: TextIO, language: str, keep: Iterable[str] = ()):
        self.wrapped = stream
        self.language = language
        self.keep = tuple(keep)

    def write(self, text: str) -> int:
        self.wrapped.write(localize(text, self.language, self.keep))
        return len(text)

    def __getattr__(self, name: str):
        return getattr(self.wrapped, name)
