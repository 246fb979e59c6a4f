"""What the commands print, in the configured language (SPEC 5.1: one language throughout).

The sentences live in sheet_templates/vocabulary.toml, group `[cli]`, beside the sheet's words,
each in zh-Hant and zh-Hans."""

from __future__ import annotations

import functools

from ..vocabulary import Vocabulary


@functools.lru_cache(maxsize=None)
def vocabulary_for(language: str) -> Vocabulary:
    return Vocabulary(language)


def say(language: str, key: str, **values: object) -> str:
    """The `[cli]` sentence `key` in `language`, its `{names}` filled from `values`."""
    return vocabulary_for(language).label("cli", key, **values)
