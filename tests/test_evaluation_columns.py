"""The rules' output is declared in one place (rules.EVALUATION_COLUMNS): evaluate() returns
exactly those columns, and the modules that read its result by name read only declared ones."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from automation.domain import rules

from .rules_support import evaluate

ROOT = Path(__file__).resolve().parent.parent
READERS = ["automation/domain/summaries.py", "automation/domain/messages.py", "automation/domain/events.py",
           "automation/application/status.py", "automation/application/one_center.py"]
# How the readers name the evaluation and its slices.
FRAME_NAMES = ("evaluation", "rows", "ev", "cohort", "candidates", "oldest", "queue")


def test_evaluate_returns_exactly_the_declared_columns_in_order():
    result = evaluate({"received_at": "2026-03-01"}, {"received_at": "上週二", "record_id": "R20260301-001"})
    assert list(result.columns) == list(rules.EVALUATION_COLUMNS)


def test_an_empty_sheet_has_the_declared_columns_too():
    assert list(evaluate().columns) == list(rules.EVALUATION_COLUMNS)


def test_every_column_says_what_it_means():
    assert all(isinstance(meaning, str) and meaning.strip() for meaning in rules.EVALUATION_COLUMNS.values())


def columns_read(path: str) -> set[tuple[str, str]]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and \
                isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
            name = node.value.id
            if name in FRAME_NAMES or name.endswith(("_rows", "evaluation")):
                found.add((name, node.slice.value))
    return found


@pytest.mark.parametrize("path", READERS)
def test_readers_read_only_declared_columns(path):
    undeclared = {(name, key) for name, key in columns_read(path) if key not in rules.EVALUATION_COLUMNS}
    assert not undeclared, f"{path} reads columns evaluate() does not declare: {sorted(undeclared)}"


def test_the_readers_are_seen_reading():
    assert ("evaluation", "status_key") in columns_read("automation/domain/summaries.py")
