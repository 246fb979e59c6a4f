"""The words of the sheet, read from `sheet_templates/` (tab names, headers, statuses, notes).

One `Vocabulary` per language. Writing uses the configured language; reading accepts either
spelling, plus the aliases the templates list, after trimming spaces (SPEC 2).
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .language import localize

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "sheet_templates"
LANGUAGES = ("zh-Hant", "zh-Hans")


def _load(name: str) -> dict:
    with open(TEMPLATES_DIR / name, "rb") as handle:
        return tomllib.load(handle)


def normalize_text(value: object) -> str:
    """Cell text as compared: str, surrounding spaces (ASCII and full-width) trimmed."""
    if value is None:
        return ""
    return str(value).strip()


@dataclass(frozen=True)
class Column:
    key: str
    headers: dict[str, str]
    aliases: tuple[str, ...]
    required: bool
    worker: bool
    kind: str
    access: str


@functools.lru_cache(maxsize=None)
def _templates() -> tuple[dict, dict, dict]:
    return _load("main_tab.toml"), _load("generated_tabs.toml"), _load("vocabulary.toml")


class Vocabulary:
    def __init__(self, language: str = "zh-Hant"):
        if language not in LANGUAGES:
            raise ValueError(language)
        self.language = language
        main, generated, words = _templates()
        self._main = main
        self._words = words
        self.columns: tuple[Column, ...] = tuple(
            Column(
                key=c["key"],
                headers={lang: c[lang] for lang in LANGUAGES},
                aliases=tuple(c.get("aliases", ())),
                required=bool(c.get("required", False)),
                worker=bool(c.get("worker", False)),
                kind=c.get("kind", "text"),
                access=c.get("access", ""),
            )
            for c in main["columns"]
        )
        self._tabs = {t["key"]: t for t in generated["tabs"]}
        self._layouts = generated["layouts"]
        self._readers: dict[str, dict[str, str]] = {}
        for group, entries in words.items():
            reader: dict[str, str] = {}
            for key, spellings in entries.items():
                for lang in LANGUAGES:
                    reader.setdefault(spellings[lang], key)
                for alias in spellings.get("aliases", ()):
                    reader.setdefault(alias, key)
            self._readers[group] = reader

    # --- columns of the main tab -------------------------------------------------------------
    @property
    def main_tab_title(self) -> str:
        return self._main["tab"][self.language]

    @property
    def main_tab_titles(self) -> tuple[str, ...]:
        """Every accepted title of the main tab, the configured language first."""
        other = [self._main["tab"][lang] for lang in LANGUAGES if lang != self.language]
        return (self.main_tab_title, *other)

    @property
    def staff_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if not c.worker)

    @property
    def worker_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.worker)

    def column(self, key: str) -> Column:
        for column in self.columns:
            if column.key == key:
                return column
        raise KeyError(key)

    def header(self, key: str) -> str:
        return self.column(key).headers[self.language]

    @functools.cached_property
    def _header_reader(self) -> dict[str, str]:
        reader: dict[str, str] = {}
        for column in self.columns:
            for spelling in (*column.headers.values(), *column.aliases):
                reader.setdefault(spelling, column.key)
        return reader

    def match_headers(self, header_row: list[object]) -> dict[str, int]:
        """Column key → 0-based position, for the headers this row holds.

        The first cell of a spelling wins; later duplicates are ignored (staff's own column)."""
        found: dict[str, int] = {}
        for position, cell in enumerate(header_row):
            key = self._header_reader.get(normalize_text(cell))
            if key is not None and key not in found:
                found[key] = position
        return found

    # --- generated tabs ----------------------------------------------------------------------
    def tab_title(self, key: str) -> str:
        return self._tabs[key][self.language]

    def tab_titles(self, key: str) -> tuple[str, ...]:
        own = self.tab_title(key)
        return (own, *[self._tabs[key][lang] for lang in LANGUAGES if lang != self.language])

    @property
    def generated_tab_keys(self) -> tuple[str, ...]:
        return tuple(self._tabs)

    def layout(self, name: str) -> list[str]:
        return list(self._layouts[name][self.language])

    def tab_layout(self, tab_key: str) -> list[str]:
        return self.layout(self._tabs[tab_key]["columns"])

    def tab_layout_name(self, tab_key: str) -> str:
        return self._tabs[tab_key]["columns"]

    def layout_kinds(self, name: str) -> list[str]:
        """How each column of a layout is shown (see automation/presentation/tab_formats.py)."""
        layout = self._layouts[name]
        return list(layout.get("kinds", ["text"] * len(layout[self.language])))  # undeclared: plain text

    def layout_chart_series_in(self, name: str) -> str:
        """How a layout's chart takes its series: "columns" (one per column, drawn down the rows:
        週報) or "rows" (one per row, drawn across the columns `layout_chart_across` lists: the
        quarters of 季度復審)."""
        return self._layouts[name].get("chart_series", "columns")

    def layout_chart_columns(self, name: str) -> list[int]:
        """0-based columns of a layout drawn in its chart (none for most layouts)."""
        names = self._layouts[name].get("chart", [])
        headers = self._layouts[name]["zh-Hant"]
        return [headers.index(header) for header in names]

    def other_spellings(self) -> tuple[str, ...]:
        """Tab titles and main-tab headers as the other language spells them: names a sheet may
        still carry (a tab about to be renamed, a staff header typed that way)."""
        titles = [self._main["tab"], *self._tabs.values()]
        names = [t[lang] for t in titles for lang in LANGUAGES if lang != self.language]
        names += [c.headers[lang] for c in self.columns for lang in LANGUAGES if lang != self.language]
        return tuple(name for name in dict.fromkeys(names) if localize(name, self.language) != name)

    def localize(self, text: str, keep: tuple[str, ...] = ()) -> str:
        """Free-form text (an error, a log detail) in this language; `keep` stays as given."""
        return localize(text, self.language, keep)

    def layout_chart_row_names(self, name: str) -> list[str]:
        """The first cells of the rows a "rows" chart draws, in the configured language."""
        return [self.spelled(text) for text in self._layouts[name].get("chart", [])]

    def layout_chart_across(self, name: str) -> list[int]:
        """0-based columns a "rows" chart draws its series over (their header cells name them)."""
        return list(self._layouts[name].get("chart_across", []))

    def layout_chart_size(self, name: str) -> tuple[float, float]:
        """A layout's chart's width and height, in cm."""
        width, height = self._layouts[name].get("chart_size_cm", [18.0, 8.5])
        return float(width), float(height)

    def spelled(self, text: str) -> str:
        """A word of vocabulary.toml, given in zh-Hant, in the configured language."""
        for entries in self._words.values():
            for spellings in entries.values():
                if spellings["zh-Hant"] == text:
                    return spellings[self.language]
        raise KeyError(text)

    # --- words in cells ----------------------------------------------------------------------
    def label(self, group: str, key: str, **values: object) -> str:
        text = self._words[group][key][self.language]
        return text.format(**values) if values else text

    def parse(self, group: str, text: object) -> str | None:
        """The key of a cell's word in `group`, or None when the word is not one of the options."""
        return self._readers[group].get(normalize_text(text))

    def keys(self, group: str) -> tuple[str, ...]:
        return tuple(self._words[group])

    def labels(self, group: str) -> list[str]:
        return [self.label(group, key) for key in self._words[group]]
