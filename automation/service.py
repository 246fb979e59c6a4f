"""One cycle over one center: read, apply the rules, write, send (the imperative shell).

Order matters (SPEC 4.2, 6): every sheet write of the cycle goes first, as one unit; messages go
out only after it succeeded, and their record is appended to the event log right after. 緊急
alerts are the exception: they go out even when the writes failed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from .adapters.backend import SheetBackend, TabNames
from .config import CenterConfig, Config
from .domain import events, messages, rules, summaries
from .domain.model import CellWrite, OutgoingMessage, WritePlan
from .domain.table import MainTable, build_main_table
from .errors import AutomationError, DeliveryError
from .vocabulary import Vocabulary

SUMMARY_TAB_KEYS = ("supervisor_queue", "manager_queue", "pending_review", "follow_up", "weekly_report")


@dataclass
class CenterResult:
    center: str
    exit_code: int = 0
    error: str = ""
    rows: int = 0
    cells_written: int = 0
    tabs_written: list[str] = field(default_factory=list)
    log_rows: int = 0
    escalations: int = 0
    messages_sent: int = 0
    messages_failed: int = 0
    seconds: float = 0.0
    dry_run_lines: list[str] = field(default_factory=list)


def tab_names(vocabulary: Vocabulary) -> TabNames:
    return TabNames(
        main=vocabulary.main_tab_titles,
        summaries=tuple(vocabulary.tab_title(key) for key in SUMMARY_TAB_KEYS),
        log=vocabulary.tab_title("event_log"),
    )


def comparable(value: Any) -> str:
    """A cell as text for "did it change" comparisons across backends."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return str(value)


def comparable_rows(rows: list[list[Any]]) -> list[list[str]]:
    out = []
    for row in rows:
        cells = [comparable(v) for v in row]
        while cells and cells[-1] == "":
            cells.pop()
        out.append(cells)
    while out and not out[-1]:
        out.pop()
    return out


def row_anchor(frame: pd.DataFrame, row: int) -> str:
    """What identifies a row that has no id yet: a digest of its staff cells."""
    values = "\x1f".join(comparable(frame.at[row, key]) for key in ("received_at", "room", "matter", "owner_name", "phone"))
    return "#" + hashlib.sha1(values.encode("utf-8")).hexdigest()[:16]


def plan_cell_writes(table: MainTable, evaluation: pd.DataFrame, vocabulary: Vocabulary) -> tuple[list[tuple[int, str]], list[CellWrite]]:
    """The worker cells whose value changes, and the worker headers to add at the right end."""
    new_headers: list[tuple[int, str]] = []
    positions = dict(table.positions)
    next_column = table.width
    for column in vocabulary.worker_columns:
        if column.key not in positions:
            positions[column.key] = next_column
            new_headers.append((next_column + 1, column.headers[vocabulary.language]))
            next_column += 1
    frame = table.frame
    old_ids = rules.text_of(frame["record_id"]).to_numpy()
    # Rows the rules ignored (all staff cells blank) get their worker cells cleared.
    wanted_all = evaluation.reindex(frame.index)
    new_ids = wanted_all["record_id"].fillna("").to_numpy()
    writes: list[CellWrite] = []
    for column in vocabulary.worker_columns:
        key = column.key
        current = rules.text_of(frame[key]).to_numpy()
        wanted = wanted_all[key].fillna("").to_numpy()
        for row in np.flatnonzero(current != wanted):
            sheet_row = int(frame.index[row])
            anchor = old_ids[row] or row_anchor(frame, sheet_row)
            writes.append(CellWrite(sheet_row, positions[key] + 1, wanted[row], new_ids[row], anchor))
    return new_headers, writes


def plan_tabs(evaluation: pd.DataFrame, today: int, config: Config, vocabulary: Vocabulary,
              existing: dict[str, list[list[Any]]]) -> tuple[dict[str, list[list[Any]]], dict[str, list[list[Any]]]]:
    """(all summary tabs by key, the ones whose content changed by title)."""
    built = summaries.build_tabs(evaluation, today, vocabulary, config.review_window_days)
    changed = {}
    for key, content in built.items():
        title = vocabulary.tab_title(key)
        if title not in existing or comparable_rows(existing[title]) != comparable_rows(content):
            changed[title] = content
    return built, changed


def local_now(now: dt.datetime, config: Config) -> dt.datetime:
    return now.astimezone(config.timezone)


def run_center(center: CenterConfig, config: Config, now: dt.datetime, backend: SheetBackend,
               transport, dry_run: bool = False, monotonic: Callable[[], float] = time.monotonic) -> CenterResult:
    """One cycle for one center. Raises AutomationError for what stops the center."""
    started = monotonic()
    result = CenterResult(center.name)
    vocabulary = config.vocabulary
    now_local = local_now(now, config)
    now_text = now_local.strftime("%Y-%m-%d %H:%M:%S")
    today = now_local.date().toordinal()
    names = tab_names(vocabulary)

    snapshot = backend.read(names)
    table = build_main_table(snapshot.header, snapshot.rows, vocabulary, center.name, snapshot.main_tab)
    issued = events.issued_from_log(snapshot.log_rows)
    evaluation = rules.evaluate(
        table.frame, today, config.escalation, vocabulary,
        rules.People(center.supervisor, center.manager), issued,
    )
    result.rows = len(evaluation)
    new_headers, cells = plan_cell_writes(table, evaluation, vocabulary)
    built, changed_tabs = plan_tabs(evaluation, today, config, vocabulary, snapshot.tabs)
    log_rows = events.cycle_log_rows(evaluation, now_text, vocabulary)
    result.escalations = sum(1 for row in log_rows if row[1] in (
        vocabulary.label("events", "escalated_supervisor"), vocabulary.label("events", "escalated_manager")))
    plan = WritePlan(
        main_tab=snapshot.main_tab, new_headers=new_headers, cells=cells, tabs=changed_tabs,
        log_tab=names.log, log_header=vocabulary.tab_layout("event_log"), log_rows=log_rows,
    )
    state = messages.sent_state(snapshot.log_rows, vocabulary)
    due = messages.due_messages(
        evaluation=evaluation, tabs=built, state=state, now=now_local, config=config, center=center,
        vocabulary=vocabulary,
    )
    if dry_run:
        result.dry_run_lines = describe_plan(plan, snapshot.header, due)
        result.cells_written = len(cells)
        result.seconds = monotonic() - started
        return result

    if not plan.is_empty():
        try:
            backend.write(plan)
        except AutomationError:
            # An emergency is never held back by a failed write (SPEC 4.2); it is sent again
            # next run, because its record could not be written.
            deliver([m for m in due if m.kind == "emergency"], transport, state, now_text, vocabulary, config)
            raise
    result.cells_written = len(cells) + len(new_headers)
    result.tabs_written = list(changed_tabs)
    result.log_rows = len(log_rows)

    record_rows, sent, failed = deliver(sorted(due, key=_send_order), transport, state, now_text, vocabulary, config)
    if record_rows:
        backend.append_log(names.log, vocabulary.tab_layout("event_log"), record_rows)
        result.log_rows += len(record_rows)
    result.messages_sent, result.messages_failed = sent, failed
    if failed:
        result.exit_code = DeliveryError.exit_code
        result.error = f"{failed} 封郵件未能發送，下次運行重試（原因見「{names.log}」分頁）"
    result.seconds = monotonic() - started
    return result


def _send_order(message: OutgoingMessage) -> int:
    return 0 if message.kind == "emergency" else 1


def deliver(due: list[OutgoingMessage], transport, state: messages.SentState, now_text: str,
            vocabulary: Vocabulary, config: Config) -> tuple[list[list[str]], int, int]:
    """Send each message; returns (event-log rows to append, sent count, failed count)."""
    from .adapters.mime import build_email  # the MIME rendering is the transport side's

    rows: list[list[str]] = []
    sent = failed = 0
    for message in due:
        email = build_email(message, config.mail.sender, dt.datetime.strptime(now_text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=config.timezone))
        try:
            transport.send(email)
        except DeliveryError as error:
            failed += 1
            if message.message_id not in state.failed_ids:
                state.failed_ids.add(message.message_id)
                rows.append(events.log_row(now_text, vocabulary, "message_failed", "、".join(message.record_ids),
                                           f"{messages.sent_detail(message)}；{error.reason}"))
            continue
        sent += 1
        state.sent_ids.add(message.message_id)
        rows.append(events.log_row(now_text, vocabulary, "message_sent", "、".join(message.record_ids),
                                   messages.sent_detail(message)))
    return rows, sent, failed


def describe_plan(plan: WritePlan, header: list[Any], due: list[OutgoingMessage]) -> list[str]:
    """What a dry run would change, in words (no owner data: worker cells only)."""
    lines = []
    for column, text in plan.new_headers:
        lines.append(f"新增表頭 第 {column} 欄「{text}」")
    for write in plan.cells[:200]:
        lines.append(f"第 {write.row} 行 {write.record_id or ''} 第 {write.column} 欄 → {write.value!r}")
    if len(plan.cells) > 200:
        lines.append(f"……另有 {len(plan.cells) - 200} 個儲存格")
    for title in plan.tabs:
        lines.append(f"重寫分頁「{title}」（{len(plan.tabs[title]) - 1} 行）")
    for row in plan.log_rows:
        lines.append(f"日誌：{row[1]} {row[2]} {row[3]}")
    for message in due:
        lines.append(f"郵件：{message.to_email}「{message.subject}」")
    return lines


def layout_for(config: Config, center: CenterConfig):
    """What `init` makes sure each spreadsheet has, in the configured language."""
    from .adapters.backend import Layout

    vocabulary = config.vocabulary
    columns = vocabulary.columns
    tabs = {vocabulary.tab_title(key): vocabulary.tab_layout(key) for key in (*SUMMARY_TAB_KEYS, "event_log")}
    choices = {
        column.key: vocabulary.labels(column.kind.split(":", 1)[1])
        for column in columns if column.kind.startswith("choice:")
    }
    editors = {
        "manager": [p for p in (center.manager.google,) if p],
        "supervisor": [p for p in (center.supervisor.google, center.manager.google) if p],
    }
    return Layout(
        main_title=vocabulary.main_tab_title,
        main_titles=vocabulary.main_tab_titles,
        headers=[c.headers[vocabulary.language] for c in columns],
        header_keys=[c.key for c in columns],
        tabs=tabs,
        choices=choices,
        date_keys=tuple(c.key for c in columns if c.kind == "date"),
        worker_keys=tuple(c.key for c in columns if c.worker),
        access={c.key: c.access for c in columns if c.access},
        editors=editors,
    )
