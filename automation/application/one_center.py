"""One cycle over one center: read, apply the rules, write, send (the imperative shell).

Order matters (SPEC 4.2, 6): every sheet write of the cycle goes first, as one unit; messages go
out only after it succeeded, and their record is appended to the event log right after. 緊急
alerts are the exception: they go out whatever failed once the sheet was read — a write refused,
or a bug (SPEC 6: exit 1, and still the alerts).

A row whose worker cells the backend cannot write (merged, protected, a formula) is left out of
the cycle and named: in the event log (once), the run's output and the supervisor's digest.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..adapters.ports import SheetBackend, TabNames, Transport
from ..config import CenterConfig, Config
from ..domain import dates, events, messages, quarterly_report, rules, summaries
from ..domain import due as due_rules
from ..domain.cells import row_anchors, same_tab_content, tab_digest
from ..domain.init_plan import Layout
from ..domain.privacy import with_phones_masked
from ..domain.records import CellWrite, CenterResult, OutgoingMessage, Snapshot, WritePlan
from ..domain.table import MainTable, build_main_table
from ..errors import DeliveryError
from ..gcpause import collector_paused
from ..journal import MessageJournal
from ..presentation import tab_formats
from ..vocabulary import Vocabulary

SUMMARY_TAB_KEYS = ("supervisor_queue", "manager_queue", "pending_review", "follow_up", "weekly_report",
                    "quarterly_review")


def tab_names(vocabulary: Vocabulary) -> TabNames:
    return TabNames(
        main=vocabulary.main_tab_titles,
        summaries=tuple(vocabulary.tab_title(key) for key in SUMMARY_TAB_KEYS),
        log=vocabulary.tab_title("event_log"),
    )


def plan_cell_writes(table: MainTable, evaluation: pd.DataFrame, vocabulary: Vocabulary) -> tuple[list[tuple[int, str]], list[CellWrite]]:
    """The worker cells whose value changes, and the worker headers to write: added at the right
    end when missing, respelled when in the other language."""
    new_headers: list[tuple[int, str]] = []
    positions = dict(table.positions)
    next_column = table.width
    for column in vocabulary.worker_columns:
        wanted_header = column.headers[vocabulary.language]
        if column.key not in positions:
            positions[column.key] = next_column
            new_headers.append((next_column + 1, wanted_header))
            next_column += 1
        elif positions[column.key] < len(table.headers) and table.headers[positions[column.key]] != wanted_header:
            # The worker's own header in the other language (language switched): renamed, so the
            # sheet does not mix the two (SPEC 5.1). Staff headers are theirs and stay.
            new_headers.append((positions[column.key] + 1, wanted_header))
    frame = table.frame
    # Rows the rules ignored (all staff cells blank) get their worker cells cleared.
    wanted_all = evaluation if evaluation.index.equals(frame.index) else evaluation.reindex(frame.index)
    changed: dict[str, np.ndarray] = {}
    wanted: dict[str, np.ndarray] = {}
    for column in vocabulary.worker_columns:
        key = column.key
        current = rules.cell_texts(frame[key])
        target = wanted_all[key].to_numpy(dtype=object)
        target = np.where(pd.isna(target), "", target) if len(target) and pd.isna(target).any() else target
        rows = np.flatnonzero(current != target)
        if len(rows):
            changed[key], wanted[key] = rows, target
    if not changed:
        return new_headers, []
    # A row is identified by its old id, or (no id yet) by a digest of its staff cells, which is
    # computed only for the rows written.
    old_ids = rules.cell_texts(frame["record_id"])
    anchors = old_ids.copy()
    touched = np.unique(np.concatenate(list(changed.values())))
    without_id = touched[old_ids[touched] == ""]
    if len(without_id):
        anchors[without_id] = row_anchors(frame.iloc[without_id])
    new_ids = wanted_all["record_id"].to_numpy(dtype=object)
    if pd.isna(new_ids).any():
        new_ids = np.where(pd.isna(new_ids), "", new_ids)
    sheet_rows = frame.index.to_numpy()
    writes: list[CellWrite] = []
    for column in vocabulary.worker_columns:
        key = column.key
        rows = changed.get(key)
        if rows is None:
            continue
        number = positions[key] + 1
        values = wanted[key]
        writes.extend(CellWrite(sheet_row, number, value, record_id, anchor) for sheet_row, value, record_id, anchor in zip(
            sheet_rows[rows].tolist(), values[rows].tolist(), new_ids[rows].tolist(), anchors[rows].tolist()))
    return new_headers, writes


def received_times(frame: pd.DataFrame) -> dict[int, tuple[int, int]]:
    """Sheet row → the time of day staff gave with 接待日期, for rows that gave one."""
    out = {}
    for sheet_row, value in zip(frame.index.tolist(), frame["received_at"].tolist()):
        if value is None or type(value) is int or (type(value) is float and value.is_integer()):
            continue  # no time of day (a whole serial: the usual cell on Google), without a call
        time = dates.time_of_day(value)
        if time is not None:
            out[sheet_row] = time
    return out


@dataclass
class TabsPlan:
    """The generated tabs a cycle writes (title → content, title → format) and the digests of
    all of them after the write (None: the backend keeps none)."""

    changed: dict[str, list[list[Any]]] = field(default_factory=dict)
    formats: dict[str, Any] = field(default_factory=dict)
    digests: dict[str, str] | None = None


def plan_tabs(evaluation: pd.DataFrame, today: int, config: Config, vocabulary: Vocabulary,
              existing: dict[str, list[list[Any]]], times: dict[int, tuple[int, int]] | None = None,
              digests: dict[str, str] | None = None) -> TabsPlan:
    """What to write of the summary tabs. A tab is written when it is missing or lost the
    worker's formatting (neither read nor digested), when what was read of it differs from what
    it should hold (a hand edit), or when the digest the sheet keeps (`digests`, SPEC 7) is not
    the digest of what it should hold (a digest missing or of another format version included)."""
    built = summaries.build_tabs(evaluation, today, vocabulary, config.review_window_days, times,
                                 config.escalation.day_basis)
    plan = TabsPlan(digests={} if digests is not None else None)
    for key, content in built.items():
        title = vocabulary.tab_title(key)
        digest = tab_digest(content, tab_formats.FORMAT_VERSION)
        if title in existing:
            write = not same_tab_content(existing[title], content) or (digests is not None and digests.get(title) != digest)
        else:
            write = digests is None or digests.get(title) != digest
        if write:
            plan.changed[title] = content
            plan.formats[title] = tab_formats.tab_format(key, content, vocabulary)
        if plan.digests is not None:
            plan.digests[title] = digest
    return plan


def new_row_notes(frame: pd.DataFrame, evaluation: pd.DataFrame) -> list[tuple[int, str, str]]:
    """Rows whose note this cycle differs from the one the sheet holds, and is not blank."""
    before = pd.Series(rules.cell_texts(frame["system_note"]), index=frame.index, dtype=object)
    before = before.reindex(evaluation.index).fillna("").to_numpy(dtype=object)
    after = evaluation["system_note"].fillna("").to_numpy(dtype=object)
    changed = np.flatnonzero((after != "") & (after != before))
    if not len(changed):
        return []
    ids = evaluation["record_id"].to_numpy(dtype=object)
    rows = evaluation.index.to_numpy()
    return [(int(rows[i]), str(ids[i]), str(after[i])) for i in changed.tolist()]


def local_now(now: dt.datetime, config: Config) -> dt.datetime:
    return now.astimezone(config.timezone)


@collector_paused
def run_center(center: CenterConfig, config: Config, now: dt.datetime, backend: SheetBackend,
               transport: Transport | None, dry_run: bool = False, monotonic: Callable[[], float] = time.monotonic,
               journal: MessageJournal | None = None, compare_tabs: bool = True) -> CenterResult:
    """One cycle for one center. Raises AutomationError for what stops the center; whatever
    is raised once the sheet was read, its 緊急 alerts have gone out first.

    `compare_tabs` False (SPEC 7: not the day's first full cycle) reads no generated tab the
    sheet keeps a digest of; each is written when its digest changes.

    `journal` (default: the center's under `state_dir`) keeps the record of each message sent
    until the event log holds it (SPEC 4.2, automation/journal.py)."""
    started = monotonic()
    journal = journal if journal is not None else MessageJournal.for_center(config, center)
    cycle = _Cycle(center, config, now, backend, CenterResult(center.name), journal)
    snapshot = backend.read(cycle.names, compare_tabs=compare_tabs)
    try:
        plan, due = cycle.plan(snapshot)
        if dry_run:
            cycle.result.dry_run_lines = describe_plan(plan, snapshot.header, due)
            cycle.result.dry_run_lines += next_quarterly_line(cycle, due)
            cycle.result.preview = sorted(due, key=_send_order)
            cycle.result.cells_written = len(plan.cells)
            cycle.result.seconds = monotonic() - started
            return cycle.result
        if not plan.is_empty():
            backend.write(plan)
        else:
            # Nothing to write: a workbook open in an office program is still reported
            # (exit 4), and would refuse the record of any message, so find out before sending.
            backend.ensure_writable()
    except Exception:
        # An emergency is never held back (SPEC 4.2, 6): not by a failed write, not by a bug.
        # It is sent again next run, because its record could not be written.
        if not dry_run:
            cycle.send_emergencies_anyway(transport)
        raise
    result = cycle.result
    result.cells_written = len(plan.cells) + len(plan.new_headers)
    result.tabs_written = list(plan.tabs)
    result.log_rows = len(plan.log_rows)

    vocabulary, names = config.vocabulary, cycle.names
    record_rows, sent, failed = deliver(sorted(due, key=_send_order), transport, cycle.state, cycle.now_text,
                                        vocabulary, config, journal, result.failure_reasons)
    record_rows = [*cycle.journal_rows, *record_rows]  # what the journal held, copied into the log
    if record_rows:
        backend.append_log(names.log, vocabulary.tab_layout("event_log"), record_rows)
        result.log_rows += len(record_rows)
    journal.trim(cycle.state.sent_ids)  # the event log now holds every message sent so far
    result.messages_sent, result.messages_failed = sent, failed
    if failed:
        result.exit_code = DeliveryError.exit_code
        # The run's own output names the cause, not only the event log.
        reasons = "；".join(result.failure_reasons)
        result.error = f"{failed} 封郵件未能發送（{reasons}），下次運行重試（記錄見「{names.log}」分頁）"
    result.seconds = monotonic() - started
    return result


def main_table_of(snapshot: Snapshot, center: CenterConfig, vocabulary: Vocabulary) -> MainTable:
    """The main tab of what the backend read, as the rules take it (a cycle's first step)."""
    return build_main_table(snapshot.header, snapshot.rows, vocabulary, center.name, snapshot.main_tab,
                            columns=snapshot.columns)


def evaluate_table(table: MainTable, snapshot: Snapshot, center: CenterConfig, config: Config,
                   today: int) -> pd.DataFrame:
    """The rules applied to the main tab, ids continuing after every one the log says was
    issued (a cycle's second step; `status` takes the same two)."""
    return rules.evaluate(table.frame, today, config.escalation, config.vocabulary,
                          rules.People(center.supervisor, center.manager), events.issued_from_log(snapshot.log_rows))


class _Cycle:
    """The pure part of one center's cycle, step by step, remembering how far it got (so that
    a failure at any step can still send the 緊急 alerts known by then)."""

    def __init__(self, center: CenterConfig, config: Config, now: dt.datetime, backend, result: CenterResult,
                 journal: MessageJournal):
        self.center, self.config, self.backend, self.result = center, config, backend, result
        self.journal = journal
        self.journal_rows: list[list[str]] = []  # the journal's records the event log lacks
        self.vocabulary = config.vocabulary
        self.now_local = local_now(now, config)
        self.now_text = self.now_local.strftime("%Y-%m-%d %H:%M:%S")
        self.today = self.now_local.date().toordinal()
        self.names = tab_names(self.vocabulary)
        self.snapshot = None
        self.evaluation: pd.DataFrame | None = None
        self.state: messages.SentState | None = None
        self.due: list[OutgoingMessage] | None = None

    def evaluate(self, table: MainTable) -> pd.DataFrame:
        self.evaluation = evaluate_table(table, self.snapshot, self.center, self.config, self.today)
        return self.evaluation

    def plan(self, snapshot) -> tuple[WritePlan, list[OutgoingMessage]]:
        config, vocabulary, center, result, names = self.config, self.vocabulary, self.center, self.result, self.names
        self.snapshot = snapshot
        self.journal_rows, self.state = sent_so_far(snapshot.log_rows, self.journal, vocabulary)
        table = main_table_of(snapshot, center, vocabulary)
        evaluation = self.evaluate(table)
        new_headers, cells = plan_cell_writes(table, evaluation, vocabulary)
        blocked = self.backend.blocked_rows(snapshot.main_tab, cells)
        if blocked:  # those rows are left out of the cycle: evaluated again without them
            result.skipped_rows = skipped_rows(table.frame, blocked, vocabulary)
            result.skipped_lines = [skipped_line(*row, vocabulary) for row in result.skipped_rows]
            table = replace(table, frame=table.frame.drop(index=list(blocked)))
            evaluation = self.evaluate(table)
            new_headers, cells = plan_cell_writes(table, evaluation, vocabulary)
        result.rows = len(evaluation)
        result.new_notes = new_row_notes(table.frame, evaluation)
        shown = with_phones_masked(evaluation)  # what leaves the main tab: tabs and mails
        tabs = plan_tabs(shown, self.today, config, vocabulary, snapshot.tabs, received_times(table.frame),
                           snapshot.tab_digests)
        log_rows = events.cycle_log_rows(evaluation, self.now_text, vocabulary)
        result.escalations = sum(1 for row in log_rows if row[1] in (
            vocabulary.label("events", "escalated_supervisor"), vocabulary.label("events", "escalated_manager")))
        log_rows += skipped_log_rows(result.skipped_rows, snapshot.log_rows, self.now_text, vocabulary)
        plan = WritePlan(
            main_tab=snapshot.main_tab, new_headers=new_headers, cells=cells, tabs=tabs.changed, tab_formats=tabs.formats,
            log_tab=names.log, log_header=vocabulary.tab_layout("event_log"), log_rows=log_rows,
            tab_digests=tabs.digests if tabs.changed else None,
        )
        self.due = messages.due_messages(
            evaluation=shown, log_rows=[*snapshot.log_rows, *self.journal_rows, *log_rows], state=self.state,
            now=self.now_local,
            config=config, center=center, vocabulary=vocabulary, skipped_rows=tuple(result.skipped_rows),
        )
        return plan, self.due

    def emergencies(self) -> list[OutgoingMessage]:
        """The 緊急 alerts due, as far as the cycle got: none before the rules ran."""
        if self.due is not None:
            return [m for m in self.due if m.kind == "emergency"]
        if self.evaluation is None or self.state is None:
            return []
        try:
            due = messages.due_messages(
                evaluation=with_phones_masked(self.evaluation),
                log_rows=[*self.snapshot.log_rows, *self.journal_rows], state=self.state,
                now=self.now_local, config=self.config, center=self.center, vocabulary=self.vocabulary)
        except Exception:  # the bug being reported may be right here; the error raised says so
            return []
        return [m for m in due if m.kind == "emergency"]

    def send_emergencies_anyway(self, transport) -> None:
        emergencies = self.emergencies()
        if not emergencies or transport is None:
            return
        try:
            deliver(emergencies, transport, self.state, self.now_text, self.vocabulary, self.config, self.journal)
        except Exception:  # the failure being raised is the one to report
            pass


def skipped_rows(frame: pd.DataFrame, blocked: dict[int, str], vocabulary: Vocabulary) -> list[tuple[int, str, str]]:
    """(sheet row, the 記錄編號 the sheet holds or "", reason) of each blocked row, sheet order."""
    ids = rules.cell_texts(frame["record_id"].reindex(sorted(blocked)))
    return [(row, record_id, vocabulary.label("skipped", blocked[row]))
            for row, record_id in zip(sorted(blocked), ids.tolist())]


def skipped_line(row: int, record_id: str, reason: str, vocabulary: Vocabulary) -> str:
    return vocabulary.label("skipped", "line", row=row, record_id=f" {record_id}" if record_id else "", reason=reason)


def skipped_log_rows(skipped: list[tuple[int, str, str]], existing: list[list[Any]], now_text: str,
                     vocabulary: Vocabulary) -> list[list[str]]:
    """Event-log rows naming the skipped rows, each once: not again while the log already says so."""
    label = vocabulary.label("events", "row_skipped")
    logged = {(str(row[2] or ""), str(row[3] or "")) for row in existing if len(row) >= 4 and row[1] == label}
    out = []
    for row, record_id, reason in skipped:
        detail = skipped_line(row, record_id, reason, vocabulary)
        if (record_id, detail) not in logged:
            out.append(events.log_row(now_text, vocabulary, "row_skipped", record_id, detail))
    return out


def sent_so_far(log_rows: list[list[Any]], journal: MessageJournal,
                vocabulary: Vocabulary) -> tuple[list[list[str]], messages.SentState]:
    """(the journal's rows the event log lacks, what is sent according to both): a message the
    journal holds counts as sent, and its rows are copied into the log with the next write."""
    logged = messages.sent_state(log_rows, vocabulary)
    missing = [list(row) for entry in journal.entries() if entry.message_id not in logged.sent_ids
               for row in entry.rows]
    if not missing:
        return [], logged
    return missing, messages.sent_state([*log_rows, *missing], vocabulary)


def _send_order(message: OutgoingMessage) -> int:
    """Emergencies first, ahead of any digest (SPEC 3.5); then complaints, then digests."""
    return messages.KINDS.index(message.kind) if message.kind in messages.KINDS else len(messages.KINDS)


def deliver(due: list[OutgoingMessage], transport: Transport, state: messages.SentState, now_text: str,
            vocabulary: Vocabulary, config: Config, journal: MessageJournal | None = None,
            reasons: list[str] | None = None) -> tuple[list[list[str]], int, int]:
    """Send each message; returns (event-log rows to append, sent count, failed count).

    One connection serves the whole batch. When it cannot be opened (server down, login refused,
    certificate not trusted) every message fails with that reason, without one more attempt
    each. A failure is logged only the first time that message fails (its Message-ID is not yet
    among the logged failures); a message that goes out is logged as sent, and journaled on disk
    the moment the transport accepted it (SPEC 4.2). Each distinct reason of a failure is added
    to `reasons`."""
    from ..adapters.mime import build_email  # the MIME rendering is the transport side's

    rows: list[list[str]] = []
    sent = failed = 0
    if not due:
        return rows, sent, failed
    sent_at = dt.datetime.strptime(now_text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=config.timezone)
    connection_error: DeliveryError | None = None
    try:
        transport.open()
    except DeliveryError as error:
        connection_error = error
    try:
        for message in due:
            try:
                if connection_error is not None:
                    raise connection_error
                transport.send(build_email(message, config.mail.sender, sent_at))
            except DeliveryError as error:
                failed += 1
                if reasons is not None and error.reason not in reasons:
                    reasons.append(error.reason)
                if message.message_id not in state.failed_ids:
                    state.failed_ids.add(message.message_id)
                    rows.append(messages.failed_log_row(message, error.reason, now_text, vocabulary))
                continue
            sent_rows = messages.sent_log_rows(message, now_text, vocabulary)
            if journal is not None:
                journal.record(message.message_id, sent_rows)
            sent += 1
            state.record_sent(message, now_text)
            rows.extend(sent_rows)
    finally:
        transport.close()
    return rows, sent, failed


def next_quarterly_line(cycle: "_Cycle", due: list[OutgoingMessage]) -> list[str]:
    """A dry run says when the quarterly review goes next, unless it is among what it would send."""
    if any(message.kind == "quarterly_review" for message in due):
        return []
    sent = due_rules.quarterly_reviews_sent(cycle.state.sent)
    return [quarterly_report.next_review_line(cycle.now_local, cycle.config.schedule, cycle.vocabulary, sent)]


def describe_plan(plan: WritePlan, header: list[Any], due: list[OutgoingMessage]) -> list[str]:
    """What a dry run would change, in words (no owner data: worker cells only)."""
    lines = []
    names = {position + 1: str(text or "").strip() for position, text in enumerate(header)}
    for column, text in plan.new_headers:
        names[column] = text
        lines.append(f"新增表頭 第 {column} 欄「{text}」")
    for write in plan.cells[:200]:
        lines.append(f"第 {write.row} 行 {write.record_id or ''}「{names.get(write.column, write.column)}」"
                     f"→ {write.value!r}")
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
        language=vocabulary.language,
    )
