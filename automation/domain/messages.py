"""What the due messages say (SPEC 4.2), and what the event log says was sent. Pure: the clock
and the log passed in. When a message is due is due.py's; how a document looks is
presentation/'s.

The worker keeps no state of its own: the event log (運行日誌) is the record of every message that
went out. Every message gets a Message-ID derived from center, kind, period and recipient,
`<kind.period.role.hash@domain>`, and the log's "郵件已發送" rows quote it; reading the kind,
period and role back out of those rows (SentState) is how any later run, on any machine, knows
what was sent. A sent alert is logged once per record id, so one message listing many rows still
marks each row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from ..config import CenterConfig, Config
from ..vocabulary import Vocabulary
from ..presentation import compose
from ..presentation.chart import BAR_COLORS, Series, trend_chart
from ..presentation.compose import Action, Chart, Document, Fields, RowView, Section, Table
from . import quarterly, quarterly_report, summaries
from .dates import NO_DATE, iso, iso_week, monday_of
from .due import ALERT_RECIPIENTS, DueMessage, due_now
from .events import RECORD_ID_IN_TEXT, event_labels, log_row
from .records import InlineImage, OutgoingMessage
from .privacy import mask_phone

KINDS = ("emergency", "complaint", "supervisor_digest", "manager_digest", "weekly_review", "quarterly_review")
SECTION_LIMIT = 50  # rows a section lists (SPEC 4.2); the rest are counted and pointed to
ACTION_COMPLAINTS = 5  # open complaints the action section lists, due soonest first; the rest lower down
TREND_WEEKS = 8
FALLBACK_DOMAIN = "automation.invalid"
MAX_IDS_IN_FAILURE = 20  # a failure row names the first ids; the message itself lists them all

_ANY_MESSAGE_ID = re.compile(r"<[^<>\s]+@[^<>\s]+>")
_OUR_MESSAGE_ID = re.compile(r"<([a-z_]+)\.([A-Za-z0-9-]+)\.(supervisor|manager)\.[0-9a-f]+@[^<>\s]+>")
_DOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")


# ----- what the log says was sent -----------------------------------------------------------

@dataclass
class SentState:
    """What the event log says about messages.

    `sent` holds (kind, period, role) of every message sent; `alerted` (kind, role, record id) of
    every row an alert went out for; `last_sent_at` the log time of the latest message per
    (kind, role); `sent_ids` / `failed_ids` the Message-IDs logged as sent / as failed."""

    sent_ids: set[str] = field(default_factory=set)
    failed_ids: set[str] = field(default_factory=set)
    sent: set[tuple[str, str, str]] = field(default_factory=set)
    alerted: set[tuple[str, str, str]] = field(default_factory=set)
    last_sent_at: dict[tuple[str, str], str] = field(default_factory=dict)

    def record_sent(self, message: OutgoingMessage, time_text: str) -> None:
        """Note a message as sent, as reading its log rows back would."""
        self._note(message.message_id, message.record_ids, time_text)

    def _note(self, message_id: str, record_ids, time_text: str) -> None:
        self.sent_ids.add(message_id)
        parsed = _OUR_MESSAGE_ID.fullmatch(message_id)
        if not parsed:
            return
        kind, period, role = parsed.groups()
        self.sent.add((kind, period, role))
        if time_text > self.last_sent_at.get((kind, role), ""):
            self.last_sent_at[(kind, role)] = time_text
        if kind in ALERT_RECIPIENTS:
            for record_id in (*record_ids, *RECORD_ID_IN_TEXT.findall(period)):
                self.alerted.add((kind, role, record_id))


_SERIAL_EPOCH = dt.datetime(1899, 12, 30)  # spreadsheet day 0


def log_time_text(cell: Any) -> str:
    """A 時間 cell as `YYYY-MM-DD HH:MM:SS` text, however the backend gave it back: text as
    written, a date cell, or a spreadsheet serial number (a sheet that parsed the text as a date)."""
    if isinstance(cell, dt.datetime):
        return cell.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(cell, dt.date):
        return cell.strftime("%Y-%m-%d 00:00:00")
    if isinstance(cell, (int, float)) and not isinstance(cell, bool) and 0 < cell < 2958466:
        moment = _SERIAL_EPOCH + dt.timedelta(days=float(cell))
        return (moment + dt.timedelta(microseconds=500_000)).strftime("%Y-%m-%d %H:%M:%S")
    return str(cell or "").strip()


def sent_state(log_rows: list[list[Any]], vocabulary: Vocabulary) -> SentState:
    """Read the event log (either spelling of its events) into a SentState."""
    sent_labels = event_labels("message_sent")
    failed_labels = event_labels("message_failed")
    state = SentState()
    for row in log_rows:
        if len(row) < 4:
            continue
        event = str(row[1] or "").strip()
        if event in sent_labels:
            for message_id in _ANY_MESSAGE_ID.findall(str(row[3] or "")):
                state._note(message_id, RECORD_ID_IN_TEXT.findall(str(row[2] or "")), log_time_text(row[0]))
        elif event in failed_labels:
            state.failed_ids.update(_ANY_MESSAGE_ID.findall(str(row[3] or "")))
    return state


def sent_detail(message: OutgoingMessage) -> str:
    return f"{message.subject} → {message.to_email}；Message-ID {message.message_id}"


def sent_log_rows(message: OutgoingMessage, now_text: str, vocabulary: Vocabulary) -> list[list[str]]:
    """The event-log rows recording `message` as sent: one per record id for an alert (so each
    row is known to be alerted, however many one message listed), one row otherwise."""
    detail = sent_detail(message)
    if message.kind in ALERT_RECIPIENTS and message.record_ids:
        return [log_row(now_text, vocabulary, "message_sent", record_id, detail) for record_id in message.record_ids]
    return [log_row(now_text, vocabulary, "message_sent", "", detail)]


def failed_log_row(message: OutgoingMessage, reason: str, now_text: str, vocabulary: Vocabulary) -> list[str]:
    """The event-log row recording that `message` could not be sent, with the reason."""
    ids = ""
    if message.kind in ALERT_RECIPIENTS:
        shown = message.record_ids[:MAX_IDS_IN_FAILURE]
        ids = "、".join(shown) + ("…" if len(message.record_ids) > len(shown) else "")
    # The reason is free text (a server's answer, worded by the transport): said in the language.
    return log_row(now_text, vocabulary, "message_failed", ids, f"{sent_detail(message)}；{vocabulary.localize(reason)}")


def message_id(center: str, kind: str, period: str, role: str, email: str, domain: str) -> str:
    """`<kind.period.role.hash@domain>`: the same message always gets the same id."""
    digest = hashlib.sha256("\x1f".join((center, kind, period, role, email.strip().lower())).encode("utf-8")).hexdigest()
    return f"<{kind}.{period}.{role}.{digest[:12]}@{domain}>"


def id_domain(sender: str) -> str:
    domain = sender.rpartition("@")[2].strip().rstrip(">")
    return domain if "@" in sender and _DOMAIN.match(domain) else FALLBACK_DOMAIN


# ----- what is due ------------------------------------------------------------------------

@dataclass(frozen=True)
class _Context:
    evaluation: pd.DataFrame
    vocabulary: Vocabulary
    center: CenterConfig
    config: Config
    today: int
    domain: str
    skipped_rows: tuple = ()  # (sheet row, record id, reason) of rows the worker could not write

    @property
    def today_iso(self) -> str:
        return iso(self.today)

    def label(self, group: str, key: str, **values: object) -> str:
        return self.vocabulary.label(group, key, **values)

    def person(self, role: str):
        return {"supervisor": self.center.supervisor, "manager": self.center.manager}[role]

    def message(self, kind: str, period: str, role: str, subject: str, doc: Document,
                record_ids: tuple[str, ...] = (), images: tuple[InlineImage, ...] = ()) -> OutgoingMessage:
        person = self.person(role)
        return OutgoingMessage(
            kind=kind, period=period, center=self.center.name, recipient_role=role,
            to_name=person.name, to_email=person.email, subject=subject,
            text=compose.render_text(doc), html=compose.render_html(doc),
            message_id=message_id(self.center.name, kind, period, role, person.email, self.domain),
            record_ids=record_ids, images=images,
        )


def due_messages(*, evaluation: pd.DataFrame, log_rows: list[list[Any]], state: SentState,
                 now: dt.datetime, config: Config, center: CenterConfig, vocabulary: Vocabulary,
                 skipped_rows: tuple = ()) -> list[OutgoingMessage]:
    """The messages due at `now` (local time of the center; see due.py for when), composed.

    `evaluation` is rules.evaluate's result for this cycle; `log_rows` the event log including
    this cycle's own rows (the digest lists the escalations since the last digest);
    `skipped_rows` the rows left out because their worker cells cannot be written (the digest
    names them)."""
    owed = due_now(evaluation, log_rows, state.sent, state.alerted, now, config.schedule)
    if not owed:
        return []  # the usual cycle: nothing due, nothing to compose
    ctx = _Context(evaluation, vocabulary, center, config, now.date().toordinal(), id_domain(config.mail.sender),
                   tuple(skipped_rows))
    return [_compose(ctx, due, log_rows, state) for due in owed]


def _compose(ctx: _Context, due: DueMessage, log_rows: list[list[Any]], state: SentState) -> OutgoingMessage:
    if due.kind in ALERT_RECIPIENTS:
        if due.batch:
            return _alert_batch(ctx, due.kind, due.role, due.rows, due.period)
        return _alert_single(ctx, due.kind, due.role, next(due.rows.itertuples()))
    if due.kind == "supervisor_digest":
        return _supervisor_digest(ctx, log_rows, state)
    if due.kind == "manager_digest":
        return _manager_digest(ctx, due.rows)
    if due.kind == "quarterly_review":
        return _quarterly_review(ctx, due.period, due.role)
    return _weekly_review(ctx)


# ----- rows as messages show them -----------------------------------------------------------

def _row_view(ctx: _Context, record, extra: str = "") -> RowView:
    return RowView(
        record_id=record.record_id,
        received=iso(record.received),
        room=record.room,
        owner_name=record.owner_name,
        phone=mask_phone(record.phone),
        category=ctx.label("categories", record.category),
        matter=record.matter,
        department=record.department,
        status=record.status,
        due=ctx.label("mail", "due", date=record.due_date) if record.due_date else "",
        days_open=ctx.label("mail", "days_open", days=int(record.age)) if record.is_open and record.age >= 0 else "",
        extra=extra,
    )


def _headers(ctx: _Context) -> tuple[str, ...]:
    return tuple(ctx.label("mail", key) for key in ("col_record", "col_status", "col_matter", "col_owner", "col_due"))


def _section(ctx: _Context, title: str, rows: pd.DataFrame, tab: str, where: str = "",
             extra=None, note: str = "", limit: int | None = SECTION_LIMIT, level: int = 2) -> Section:
    """A section of `rows` (already oldest first), at most `limit` of them shown."""
    total = len(rows)
    shown = rows if limit is None else rows.iloc[:limit]
    views = tuple(_row_view(ctx, record, extra(record) if extra else "") for record in shown.itertuples())
    more = ""
    if total > len(views):
        if where:
            more = ctx.label("mail", "more_where", count=total - len(views), tab=tab, where=where)
        else:
            more = ctx.label("mail", "more", count=total - len(views), tab=tab)
    return Section(title, views, total, more, note, _headers(ctx), level)


def _document(ctx: _Context, title: str, role: str, intro: str, blocks, overview=()) -> Document:
    return Document(
        language=ctx.vocabulary.language,
        title=title,
        greeting=ctx.label("mail", "greeting", name=ctx.person(role).name),
        intro=intro,
        blocks=tuple(blocks),
        overview=tuple(overview),
        overview_title=ctx.label("sections", "overview"),
        none_text=ctx.label("mail", "none"),
        count_label=ctx.label("mail", "count", count="{count}"),
        footer=ctx.label("mail", "footer", tab=ctx.vocabulary.main_tab_title),
    )


# ----- alerts -------------------------------------------------------------------------------

def _received_text(record) -> str:
    """接待日期 with its time of day where staff gave one."""
    return " ".join(part for part in (iso(record.received), record.received_time) if part)


def _alert_single(ctx: _Context, kind: str, role: str, record) -> OutgoingMessage:
    """What the person alerted needs without opening the sheet (SPEC 4.2): when, where, who,
    what, which department has it and what was done so far."""
    header = ctx.vocabulary.header
    pairs = [
        (header("record_id"), record.record_id),
        (header("received_at"), _received_text(record)),
        (header("room"), record.room),
        (header("owner_name"), record.owner_name),
        (header("phone"), mask_phone(record.phone)),
        (header("category"), ctx.label("categories", record.category)),
        (header("matter"), record.matter),
        (header("department"), record.department),
        (header("handling"), record.handling),
        (header("recorded_by"), record.recorded_by),
        (header("status"), record.status),
        (header("owner"), record.owner),
        (header("due_date"), record.due_date),
        (header("system_note"), record.system_note),
    ]
    # The fields SPEC 4.2 names are always shown ("—" when blank, so the reader knows it is
    # not filled yet); the others only when filled.
    always = {header(key) for key in ("record_id", "received_at", "room", "owner_name", "phone", "category",
                                      "matter", "department", "handling")}
    pairs = [(name, value or "—") for name, value in pairs if value or name in always]
    subject = ctx.label("subjects", kind, center=ctx.center.name, record_id=record.record_id)
    intro = ctx.label("mail", f"{kind}_intro", center=ctx.center.name)
    doc = _document(ctx, subject, role, intro, [Fields(record.record_id, tuple(pairs))])
    return ctx.message(kind, record.record_id, role, subject, doc, (record.record_id,))


def _batch_extra(ctx: _Context, record) -> str:
    handling = ctx.label("mail", "handling_so_far", text=record.handling) if record.handling else ""
    time_text = ctx.label("mail", "received_time", time=record.received_time) if record.received_time else ""
    return "；".join(part for part in (time_text, handling, record.system_note) if part)


def _alert_batch(ctx: _Context, kind: str, role: str, rows: pd.DataFrame, period: str) -> OutgoingMessage:
    ids = tuple(rows["record_id"])
    count = len(ids)
    subject = ctx.label("subjects", f"{kind}_batch", center=ctx.center.name, count=count)
    intro = ctx.label("mail", f"{kind}_batch_intro", center=ctx.center.name, count=count)
    # An alert lists every row it stands for: each is logged as alerted.
    section = _section(ctx, ctx.label("sections", f"{kind}_rows"), rows, ctx.vocabulary.main_tab_title,
                       extra=lambda record: _batch_extra(ctx, record), limit=None)
    doc = _document(ctx, subject, role, intro, [section])
    return ctx.message(kind, period, role, subject, doc, ids)


# ----- the supervisor's daily digest ----------------------------------------------------------

def _escalations_since_last_digest(ctx: _Context, log_rows: list[list[Any]], state: SentState) -> tuple[pd.DataFrame, dict[str, str]]:
    """Rows escalated (log events 升級主管 / 升級經理) after the last supervisor digest went
    out; with the latest event per row, as `event（time）`."""
    since = state.last_sent_at.get(("supervisor_digest", "supervisor"), "")
    labels = {label: key for key in ("escalated_supervisor", "escalated_manager") for label in event_labels(key)}
    latest: dict[str, tuple[str, str]] = {}
    for row in log_rows:
        if len(row) < 3:
            continue
        event = labels.get(str(row[1] or "").strip())
        time_text = log_time_text(row[0])
        if event is None or time_text <= since:
            continue
        for record_id in RECORD_ID_IN_TEXT.findall(str(row[2] or "")):
            if time_text >= latest.get(record_id, ("", ""))[0]:
                latest[record_id] = (time_text, event)
    ev = ctx.evaluation
    rows = summaries.oldest_first(ev[ev["record_id"].isin(list(latest))])
    extras = {
        record_id: ctx.label("mail", "escalated_at", event=ctx.label("events", event), time=time_text[:16])
        for record_id, (time_text, event) in latest.items()
    }
    return rows, extras


def _due_soonest(rows: pd.DataFrame) -> pd.DataFrame:
    """Soonest 處理時限 first; rows without one (at the manager, or 資料不全) before all."""
    due = rows["due"].to_numpy()
    key = np.where(due == NO_DATE, np.iinfo(np.int64).min, due)
    return rows.iloc[np.lexsort((rows["received"].to_numpy(), key))]


def _action_groups(ctx: _Context, open_rows: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """What needs action today (SPEC 4.2), each row in the first group that takes it: open 緊急
    rows, rows due today or past at the supervisor (to the manager tomorrow) and at the front
    desk (to the supervisor tomorrow), then the open complaints due soonest."""
    due = open_rows["due"].to_numpy()
    due_now = (due != NO_DATE) & (due <= ctx.today)
    role = open_rows["role"].to_numpy()
    complaints = _due_soonest(open_rows[(open_rows["category"] == "complaint").to_numpy()])
    candidates = [
        ("action_emergency", summaries.oldest_first(open_rows[(open_rows["category"] == "emergency").to_numpy()])),
        ("action_to_manager", summaries.oldest_first(open_rows[due_now & (role == "supervisor")])),
        ("action_to_supervisor", summaries.oldest_first(open_rows[due_now & (role == "receptionist")])),
        ("action_complaints", complaints),
    ]
    groups, seen = [], set()
    for key, rows in candidates:
        rows = rows[~rows["record_id"].isin(list(seen))]
        if key == "action_complaints":
            rows = rows.iloc[:ACTION_COMPLAINTS]
        if len(rows):
            groups.append((key, rows))
            seen.update(rows["record_id"])
    return groups


def _supervisor_digest(ctx: _Context, log_rows: list[list[Any]], state: SentState) -> OutgoingMessage:
    ev, vocabulary, today = ctx.evaluation, ctx.vocabulary, ctx.today
    main_tab = vocabulary.main_tab_title
    window = ctx.config.review_window_days
    open_rows = ev[ev["is_open"]]

    escalated, escalation_text = _escalations_since_last_digest(ctx, log_rows, state)
    reference = np.where(ev["completed"].to_numpy() != NO_DATE, ev["completed"].to_numpy(), ev["received"].to_numpy())
    recent = (reference != NO_DATE) & (reference >= today - window) & (reference <= today)
    never = summaries.never_reviewed_count(ev, today, window)

    def result_line(record) -> str:
        done = ctx.label("mail", "completed", date=iso(record.completed)) if record.completed != NO_DATE else ""
        return " · ".join(part for part in (done, compose.one_line(record.result)) if part)

    def queue_line(record) -> str:  # why the row is there: its escalation since the last digest, its note
        return "；".join(part for part in (escalation_text.get(record.record_id, ""), record.system_note) if part)

    action_groups = _action_groups(ctx, open_rows)
    groups = tuple(_section(ctx, ctx.label("sections", key), rows, main_tab, extra=queue_line, level=3)
                   for key, rows in action_groups)
    action = Action(ctx.label("sections", "action"),
                    ctx.label("mail", "action_intro" if groups else "action_none"), groups,
                    sum(group.total for group in groups))

    # Lower down, each row once: in the first section that lists it, never again after the
    # action section; each section says how many of its rows are already listed above.
    planned = [
        ("supervisor_queue", summaries.supervisor_queue(ev), vocabulary.tab_title("supervisor_queue"),
         {"extra": queue_line}),
        ("escalations", escalated, vocabulary.tab_title("event_log"),
         {"where": ctx.label("mail", "where_log"), "extra": lambda record: escalation_text.get(record.record_id, "")}),
        ("escalate_tomorrow", summaries.oldest_first(open_rows[(open_rows["role"] == "receptionist") & (open_rows["due"] == today)]),
         main_tab, {"where": ctx.label("mail", "where_due_today", date=ctx.today_iso)}),
        ("open_complaints", summaries.oldest_first(open_rows[open_rows["category"] == "complaint"]), main_tab,
         {"where": ctx.label("mail", "where_complaints")}),
        ("incomplete", summaries.oldest_first(ev[ev["status_key"] == "incomplete"]), vocabulary.tab_title("supervisor_queue"),
         {"extra": lambda record: record.system_note}),
        ("unsatisfied", summaries.oldest_first(ev[(ev["satisfaction"] == "unsatisfied").to_numpy() & recent]), main_tab,
         {"where": ctx.label("mail", "where_unsatisfied"), "extra": result_line}),
        ("pending_review", summaries.pending_review(ev, today, window), vocabulary.tab_title("pending_review"), {}),
    ]
    seen = {record_id for _, rows in action_groups for record_id in rows["record_id"]}
    sections = []
    for key, rows, tab, options in planned:
        already = rows["record_id"].isin(list(seen)).to_numpy()
        notes = [ctx.label("mail", "listed_above", count=int(already.sum()))] if already.any() else []
        if key == "pending_review" and never:
            notes.append(ctx.label("mail", "never_reviewed", count=never, days=window))
        title = ctx.label("sections", key, days=window) if key == "unsatisfied" else ctx.label("sections", key)
        section = _section(ctx, title, rows[~already], tab, note=" ".join(notes), **options)
        section = replace(section, total=len(rows))  # the count says all of them, listed above or here
        seen.update(rows.loc[~already, "record_id"])
        sections.append(section)
    overview = [f"{section.title}：{ctx.label('mail', 'count', count=section.total)}" for section in sections]
    if ctx.skipped_rows:
        title = ctx.label("sections", "skipped_rows")
        overview.append(f"{title}：{ctx.label('mail', 'count', count=len(ctx.skipped_rows))}")
        sections.append(Table(
            title, (ctx.label("mail", "col_row"), vocabulary.header("record_id"), ctx.label("mail", "col_reason")),
            tuple((str(row), record_id, reason) for row, record_id, reason in ctx.skipped_rows[:SECTION_LIMIT]),
            note=ctx.label("mail", "skipped_note"), text_from=2))
    subject = ctx.label("subjects", "supervisor_digest", center=ctx.center.name, date=ctx.today_iso)
    intro = ctx.label("mail", "supervisor_intro", center=ctx.center.name, date=ctx.today_iso)
    doc = _document(ctx, subject, "supervisor", intro, [action, *sections], overview)
    listed = tuple(dict.fromkeys(row.record_id for section in (*groups, *sections) if isinstance(section, Section)
                                 for row in section.rows))
    return ctx.message("supervisor_digest", ctx.today_iso, "supervisor", subject, doc, listed)


# ----- the manager's daily digest and weekly review ---------------------------------------------

def _manager_digest(ctx: _Context, queue: pd.DataFrame) -> OutgoingMessage:
    section = _section(ctx, ctx.label("sections", "manager_queue"), queue, ctx.vocabulary.tab_title("manager_queue"))
    subject = ctx.label("subjects", "manager_digest", center=ctx.center.name, date=ctx.today_iso)
    intro = ctx.label("mail", "manager_intro", center=ctx.center.name, date=ctx.today_iso)
    doc = _document(ctx, subject, "manager", intro, [section])
    return ctx.message("manager_digest", ctx.today_iso, "manager", subject, doc,
                       tuple(row.record_id for row in section.rows))


def _figure(value: Any) -> str:
    if value == "" or value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _weekly_review(ctx: _Context) -> OutgoingMessage:
    ev, vocabulary = ctx.evaluation, ctx.vocabulary
    week_start = monday_of(ctx.today) - 7
    week = iso_week(week_start)
    received = ev["received"].to_numpy()
    cohort = ev[(received >= week_start) & (received < week_start + 7)]
    starts = [week_start - 7 * back for back in range(TREND_WEEKS - 1, -1, -1)]  # 8 weeks to the reviewed one
    intro = ctx.label("mail", "weekly_intro", center=ctx.center.name, week=week,
                      start=iso(week_start), end=iso(week_start + 6))
    subject = ctx.label("subjects", "weekly_review", center=ctx.center.name, week=week)
    if not ((received >= starts[0]) & (received < week_start + 7)).any():
        # A new center: no history to review; say so rather than send tables of zeros.
        blocks: list = [Fields(ctx.label("sections", "no_history"), (
            (ctx.label("mail", "col_item"), ctx.label("mail", "no_history", center=ctx.center.name,
                                                      start=iso(starts[0]), end=iso(week_start + 6))),))]
        doc = _document(ctx, subject, "manager", intro, blocks)
        return ctx.message("weekly_review", week, "manager", subject, doc)

    layout = vocabulary.layout("weekly")  # 週次, then the figures week_counts returns, in order
    window = ctx.config.review_window_days
    figures = summaries.week_counts(cohort)
    figure_rows = [(name, _figure(value)) for name, value in zip(layout[1:], figures)]
    figure_rows.append((vocabulary.label("weekly", "never_reviewed", days=window),
                        str(summaries.never_reviewed_count(ev, ctx.today, window))))
    blocks = [Table(f"{ctx.label('sections', 'week_figures')} {week}",
                    (ctx.label("mail", "col_item"), ctx.label("mail", "col_value")), tuple(figure_rows))]
    chart, png = _trend_chart(ctx, [ev[(received >= start) & (received < start + 7)] for start in starts],
                              [iso_week(start) for start in starts], week)
    blocks.append(chart)
    blocks.extend(_breakdowns(vocabulary, cohort, layout))
    lacking = summaries.oldest_first(cohort[cohort["manager_review"] == ""])
    blocks.append(_section(ctx, ctx.label("sections", "lacking_manager_review"), lacking, vocabulary.main_tab_title,
                           where=ctx.label("mail", "where_week", start=iso(week_start), end=iso(week_start + 6))))
    doc = _document(ctx, subject, "manager", intro, blocks)
    listed = tuple(row.record_id for row in blocks[-1].rows)
    return ctx.message("weekly_review", week, "manager", subject, doc, listed, (InlineImage(chart.cid, png),))


# Latin names of the charted series, for a machine without a CJK font (week_counts positions).


# Latin names of the charted series, for a machine without a CJK font (week_counts positions).
_LATIN_SERIES = {0: "Received", 1: "Finished", 4: "Escalated", 7: "Still open"}


def _trend_chart(ctx: _Context, weeks: list[pd.DataFrame], week_names: list[str], reviewed: str) -> tuple[Chart, bytes]:
    """The 8 weeks' chart (received, finished, escalated to the supervisor as bars; still open,
    the backlog, as a line) and its figures table beneath."""
    layout = ctx.vocabulary.layout("weekly")
    trend = [summaries.week_counts(rows) for rows in weeks]
    bar_positions, line_position = (0, 1, 4), 7
    values = {index: tuple(int(counts[index]) for counts in trend) for index in (*bar_positions, line_position)}
    bars = [Series(layout[index + 1], _LATIN_SERIES[index], values[index]) for index in bar_positions]
    line = Series(layout[line_position + 1], _LATIN_SERIES[line_position], values[line_position])
    title = ctx.label("sections", "trend")
    png = trend_chart([name.split("-")[1] for name in week_names], bars, [line])  # titled by the mail
    cid = f"trend.{reviewed}.{hashlib.sha256(ctx.center.name.encode('utf-8')).hexdigest()[:8]}@{ctx.domain}"
    numbers = Table(title, (layout[0], *(series.name for series in (*bars, line))),
                    tuple((name, *(str(series.values[i]) for series in (*bars, line))) for i, name in enumerate(week_names)),
                    swatches=(*BAR_COLORS[:len(bars)], "#222222"))
    return Chart(title, cid, ctx.label("mail", "chart_alt"), numbers), png


def _breakdowns(vocabulary: Vocabulary, cohort: pd.DataFrame, layout: list[str]) -> list[Table]:
    """Last week by category and by department: received, finished, still open, escalated."""
    compact = (0, 1, 7, 4)
    tables = []
    for title, column, name_of in (
        ("by_category", "category", lambda key: vocabulary.label("categories", key)),
        ("by_department", "department", lambda name: name or vocabulary.label("weekly", "unassigned")),
    ):
        groups = vocabulary.keys("categories") if column == "category" else sorted(set(cohort[column]))
        rows = []
        for group in groups:
            members = cohort[cohort[column] == group]
            if len(members):
                counts = summaries.week_counts(members)
                rows.append((name_of(group), *(_figure(counts[index]) for index in compact)))
        if rows:
            tables.append(Table(vocabulary.label("sections", title),
                                (vocabulary.label("weekly", column), *(layout[index + 1] for index in compact)), tuple(rows)))
    return tables


# ----- the quarterly review (SPEC 4.2, 4.3) ---------------------------------------------------------

def _quarterly_review(ctx: _Context, period: str, role: str) -> OutgoingMessage:
    """The review of the quarter `period` (`2026-Q3`), to `role`."""
    year, number = period.split("-Q")
    reviewed = quarterly.Quarter(int(year), int(number))
    cid = f"quarters.{reviewed.label}.{hashlib.sha256(ctx.center.name.encode('utf-8')).hexdigest()[:8]}@{ctx.domain}"
    mail = quarterly_report.review_mail(ctx.evaluation, ctx.today, reviewed, center=ctx.center.name,
                                        vocabulary=ctx.vocabulary, day_basis=ctx.config.escalation.day_basis,
                                        chart_cid=cid)
    return ctx.message("quarterly_review", reviewed.label, role, mail.subject,
                       _document(ctx, mail.subject, role, mail.intro, mail.blocks), mail.record_ids,
                       (InlineImage(cid, mail.chart_png),))
