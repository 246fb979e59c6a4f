"""The quarterly review as people read it: the 季度復審 tab and the blocks of its mail (SPEC 4.1,
4.2, 4.3). The figures and problems themselves come from `quarterly`; this module only names them
in the configured language and lays them out. Pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any


import pandas as pd

from ..vocabulary import Vocabulary
from ..presentation.chart import BAR_COLORS, LINE_COLOR, Series, trend_chart
from ..presentation.compose import Chart, Fields, Table
from .dates import iso
from .quarterly import (MANAGER_OVERDUE_DAYS, PERCENT, Problem, Quarter, QuarterlyFigures, next_review,
                        quarterly_figures, quarterly_problems)

IDS_IN_A_CELL = 100  # a problem's cell lists this many ids, then counts the rest
# The quarters' chart: received, finished at the front desk, reached the supervisor, still open.
CHART_FIGURES = ("received", "front_finished", "reached_supervisor", "still_open")
# Latin names for a machine without a CJK font (the picture then stays legible).
LATIN_NAMES = ("received", "front desk", "to supervisor", "still open")


def figures_of(evaluation: pd.DataFrame, today: int, vocabulary: Vocabulary, quarters: int = 4) -> QuarterlyFigures:
    return quarterly_figures(evaluation, today, vocabulary.keys("categories"), vocabulary.keys("channels"), quarters)


def figure_label(key: str, vocabulary: Vocabulary, day_basis: str) -> str:
    group, _, name = key.partition(":")
    if group == "category":
        return vocabulary.label("quarterly", "by_category", name=vocabulary.label("categories", name))
    if group == "channel":
        word = (vocabulary.label("quarterly", "channel_unspecified") if name == "unspecified"
                else vocabulary.label("channels", name))
        return vocabulary.label("quarterly", "by_channel", name=word)
    if key.startswith("days_"):
        return vocabulary.label("quarterly", key, basis=vocabulary.label("quarterly", f"basis_{day_basis}"))
    return vocabulary.label("quarterly", key)


@dataclass(frozen=True)
class ProblemLine:
    title: str
    detail: str
    record_ids: tuple[str, ...]

    def ids_text(self, vocabulary: Vocabulary, limit: int = IDS_IN_A_CELL) -> str:
        shown = "、".join(self.record_ids[:limit])
        if len(self.record_ids) > limit:
            shown += vocabulary.label("quarterly", "ids_more", count=len(self.record_ids))
        return shown


def problem_line(problem: Problem, vocabulary: Vocabulary) -> ProblemLine:
    word = lambda key, **values: vocabulary.label("quarterly", key, **values)  # noqa: E731
    figures = problem.figures
    if problem.kind == "room_repeat":
        title, detail = word("room_repeat", room=problem.subject[0]), word("room_repeat_detail", **figures)
    elif problem.kind == "pair_rise":
        category, department = problem.subject
        title = word("pair_rise", category=vocabulary.label("categories", category),
                     department=department or vocabulary.label("weekly", "unassigned"))
        detail = word("pair_rise_detail", **figures)
    elif problem.kind == "department_escalation":
        title = word("department_escalation", department=problem.subject[0])
        detail = word("department_escalation_detail", items=figures["items"], reached=figures["reached"],
                      pct=f"{figures['pct']:g}")
    else:
        title = word("manager_overdue", days=MANAGER_OVERDUE_DAYS)
        detail = word("manager_overdue_detail", count=figures["count"], longest=figures["longest_days"])
    return ProblemLine(title, detail, problem.record_ids)


def _cell(value) -> Any:
    return "" if value is None else value


def review_tab(evaluation: pd.DataFrame, today: int, vocabulary: Vocabulary, day_basis: str) -> list[list[Any]]:
    """The 季度復審 tab: one column per quarter (the last 4, the current one included), each
    followed by its change against the quarter before; then the problems found in the last
    complete quarter, each with its record ids. Numbers are numbers; undefined ones are blank."""
    figures = figures_of(evaluation, today, vocabulary)
    current = figures.quarters[-1]
    word = lambda key, **values: vocabulary.label("quarterly", key, **values)  # noqa: E731
    header = [word("item")]
    for quarter in figures.quarters:
        header += [word("current", quarter=quarter.label) if quarter == current else quarter.label, word("change")]
    rows: list[list[Any]] = [header]
    for key in figures.values.index:
        row = [figure_label(key, vocabulary, day_basis)]
        for quarter in figures.quarters:
            row += [_cell(figures.value(key, quarter)), _cell(figures.delta(key, quarter))]
        rows.append(row)
    reviewed = current.previous()
    rows.append([])
    rows.append([word("problems_title", quarter=reviewed.label)])
    rows.append([word("col_problem"), word("col_detail"), word("col_ids")])
    lines = [problem_line(problem, vocabulary) for problem in quarterly_problems(evaluation, today, reviewed)]
    for line in lines:
        rows.extend(problem_rows(line, vocabulary, len(header) - 2))
    if not lines:
        rows.append([word("no_problems")])
    return rows


def problem_rows(line: ProblemLine, vocabulary: Vocabulary, per_row: int) -> list[list[Any]]:
    """A problem as tab rows: its title and detail, then its record ids one per cell, `per_row`
    to a row (an id never breaks across lines), at most IDS_IN_A_CELL of them, then the count."""
    ids: list[Any] = list(line.record_ids[:IDS_IN_A_CELL])
    if len(line.record_ids) > IDS_IN_A_CELL:
        ids.append(vocabulary.label("quarterly", "ids_more", count=len(line.record_ids)))
    chunks = [ids[start:start + per_row] for start in range(0, len(ids), per_row)] or [[]]
    return [[line.title, line.detail, *chunks[0]], *(["", "", *chunk] for chunk in chunks[1:])]


# ----- the mail -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ReviewMail:
    """What the quarterly mail says, before it is addressed: subject, intro, blocks (problems
    first, then the figures, then the chart), the chart's PNG and the ids the mail lists."""

    subject: str
    intro: str
    blocks: tuple
    chart_png: bytes
    record_ids: tuple[str, ...]


def _figure_text(value, kind: str, signed: bool = False) -> str:
    if value is None:
        return "—"
    text = f"{value:+g}" if signed and value else f"{value:g}"
    return text if kind != PERCENT or not signed else text + "pt"


def review_mail(evaluation: pd.DataFrame, today: int, reviewed: Quarter, *, center: str,
                vocabulary: Vocabulary, day_basis: str, chart_cid: str) -> ReviewMail:
    """The mail reviewing `reviewed` (the quarter before today's)."""
    word = lambda key, **values: vocabulary.label("quarterly", key, **values)  # noqa: E731
    # The reviewed quarter and the 3 before it; one more is computed for their changes.
    figures = figures_of(evaluation, today, vocabulary, quarters=5)
    quarters = tuple(quarter for quarter in figures.quarters if quarter <= reviewed)[-4:]
    previous = reviewed.previous()
    blocks: list = []
    lines = [problem_line(problem, vocabulary) for problem in quarterly_problems(evaluation, today, reviewed)]
    problems_title = word("problems_title", quarter=reviewed.label)
    if lines:
        for number, line in enumerate(lines, 1):
            blocks.append(Fields(f"{problems_title} {number}/{len(lines)}：{line.title}", (
                (word("col_detail"), line.detail), (word("col_ids"), line.ids_text(vocabulary)))))
    else:
        blocks.append(Table(problems_title, (word("col_problem"),), ((word("no_problems"),),)))

    figure_rows = tuple(
        (figure_label(key, vocabulary, day_basis),
         _figure_text(figures.value(key, previous), figures.kinds[key]),
         _figure_text(figures.value(key, reviewed), figures.kinds[key]),
         _figure_text(figures.delta(key, reviewed), figures.kinds[key], signed=True))
        for key in figures.values.index)
    blocks.append(Table(word("figures"), (word("item"), previous.label, reviewed.label, word("change")), figure_rows))
    reasons = figures.reasons.get(reviewed.label, ())
    if reasons:
        blocks.append(Table(word("reasons"), (word("col_ids"), vocabulary.header("unresolvable_reason")),
                            tuple((record_id, reason) for record_id, reason in reasons), text_from=1))

    names = tuple(figure_label(key, vocabulary, day_basis) for key in CHART_FIGURES)
    series = [[figures.value(key, quarter) or 0 for quarter in quarters] for key in CHART_FIGURES]
    colors = (*BAR_COLORS[:3], LINE_COLOR)  # three bars, then the backlog as a line
    # The figures drawn, quarters across as in 季度數字 above (four short quarter labels fit a
    # phone's width; four figure names as headers would be squeezed to two characters a line).
    numbers = Table(word("trend"), (word("item"), *(quarter.label for quarter in quarters)),
                    tuple((name, *(str(value) for value in values)) for name, values in zip(names, series)),
                    row_swatches=colors)
    blocks.append(Chart(word("trend"), chart_cid, word("chart_alt"), numbers))
    drawn = [Series(name, latin, tuple(values)) for name, latin, values in zip(names, LATIN_NAMES, series)]
    png = trend_chart([quarter.label for quarter in quarters], drawn[:3], drawn[3:])

    subject = word("subject", center=center, quarter=reviewed.label)
    intro = word("intro", center=center, quarter=reviewed.label, start=iso(reviewed.first_day),
                 end=iso(reviewed.last_day), previous=previous.label)
    listed = tuple(dict.fromkeys(record_id for line in lines for record_id in line.record_ids))
    return ReviewMail(subject, intro, tuple(blocks), png, listed)


def next_review_line(now: dt.datetime, schedule, vocabulary: Vocabulary, sent_quarters: set[str]) -> str:
    """When the quarterly review goes next (SPEC 4.2: the first cycle at or after the review hour
    on the quarter's first review day, or later that quarter), for `status` and `--dry-run`."""
    moment, quarter, due = next_review(now, schedule.weekly_review_day, schedule.weekly_review_at, sent_quarters)
    return vocabulary.label("quarterly", "status_due" if due else "status_next",
                            when=f"{moment:%Y-%m-%d %H:%M}", quarter=quarter.label)
