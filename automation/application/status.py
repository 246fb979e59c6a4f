"""`status --config FILE`: how each center is doing, for an operator or a health check.

Per center: the last successful cycle, open items per status, the oldest open item, the next
supervisor digest and weekly review due, the last error. Exit 0 when every center had a
successful cycle within three intervals; otherwise non-zero (1, or the worse code of a sheet
that could not even be read), so it can serve as a monitoring probe.

Where it reads what (SPEC 2.2: the worker keeps no state outside the spreadsheet):
- open items, the oldest one, digests sent: the sheet itself, read-only (the rules are applied
  to what is there now, as a dry run would; nothing is written);
- the last successful cycle and the last error: the monitoring cache `run`/`serve` keep in the
  state folder (automation/monitor_state.py). The sheet cannot tell: an idle cycle rewrites
  nothing and logs nothing (SPEC 4.1), so a heartbeat there would break that rule and cost a
  write per cycle. Losing the cache loses nothing but this report until the next cycle.
"""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass, field

from .. import wiring
from . import one_center
from ..config import CenterConfig, Config
from .all_centers import HEALTHY_INTERVALS, Shard, centers_of, state_dir_of
from ..domain import due, messages
from ..domain.dates import NO_DATE, iso, monday_of
from ..errors import AutomationError
from ..logs import redact
from ..monitor_state import CenterState, StateStore

EXIT_HEALTHY = 0
EXIT_UNHEALTHY = 1
STATUS_ORDER = ("in_progress", "transferred", "escalated_supervisor", "escalated_manager", "incomplete")


@dataclass
class SheetFacts:
    """What status read from a center's sheet."""

    open_by_status: dict[str, int] = field(default_factory=dict)  # status label → count
    open_total: int = 0
    oldest: str = ""  # "R…（接待 …，已 N 天，狀態）"
    next_digest: str = ""
    next_review: str = ""
    last_logged_problem: str = ""


@dataclass
class CenterStatus:
    center: str
    healthy: bool
    exit_code: int
    verdict: str
    lines: list[str]


def _local(text: str, config: Config) -> dt.datetime | None:
    moment = CenterState.parse_time(text)
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=config.timezone)
    return moment.astimezone(config.timezone)


def _ago(now: dt.datetime, then: dt.datetime) -> str:
    minutes = int((now - then).total_seconds() // 60)
    if minutes < 0:
        return "時間在現在之後（時鐘不一致？）"
    if minutes < 60:
        return f"{minutes} 分鐘前"
    if minutes < 48 * 60:
        return f"{minutes // 60} 小時 {minutes % 60} 分鐘前"
    return f"{minutes // (24 * 60)} 天前"


def next_daily_digest(now: dt.datetime, config: Config, sent: set[tuple[str, str, str]]) -> str:
    """When the supervisor's daily digest goes next (due.py: first cycle at or after the hour)."""
    at = config.schedule.daily_digest_at
    today = now.date()
    if due.was_sent(sent, "supervisor_digest", due.daily_digest_period(now)):
        return f"{today + dt.timedelta(days=1)} {at:%H:%M}（今天的已發送）"
    if not due.daily_digest_is_due_now(now, at):
        return f"{today} {at:%H:%M}"
    return f"已到期（今天 {at:%H:%M} 起），下一輪運行發送"


def next_weekly_review(now: dt.datetime, config: Config, sent: set[tuple[str, str, str]]) -> str:
    """When the manager's weekly review goes next (due.py: first cycle at or after the day and
    hour of the ISO week; a week missed entirely is not sent later)."""
    schedule = config.schedule
    this_week_at = dt.datetime.combine(dt.date.fromordinal(monday_of(now.date().toordinal()) + schedule.weekly_review_day),
                                       schedule.weekly_review_at, tzinfo=now.tzinfo)
    reviewed_week = due.reviewed_week(now)
    if due.was_sent(sent, "weekly_review", reviewed_week):
        return f"{this_week_at + dt.timedelta(days=7):%Y-%m-%d %H:%M}（{reviewed_week} 的已發送）"
    if not due.weekly_review_is_due_now(now, schedule.weekly_review_day, schedule.weekly_review_at):
        return f"{this_week_at:%Y-%m-%d %H:%M}（審核 {reviewed_week}）"
    return f"已到期（審核 {reviewed_week}），下一輪運行發送"


def read_sheet_facts(center: CenterConfig, config: Config, now: dt.datetime, backend) -> SheetFacts:
    """Read the sheet (read-only) and take the cycle's first steps on what it holds now."""
    vocabulary = config.vocabulary
    now_local = now.astimezone(config.timezone)
    today = now_local.date().toordinal()
    snapshot = backend.read(one_center.tab_names(vocabulary))
    evaluation = one_center.evaluate_table(one_center.main_table_of(snapshot, center, vocabulary), snapshot,
                                           center, config, today)
    facts = SheetFacts()
    open_rows = evaluation[evaluation["is_open"]]
    counts = open_rows["status_key"].value_counts()
    for key in STATUS_ORDER:
        if counts.get(key, 0):
            facts.open_by_status[vocabulary.label("statuses", key)] = int(counts[key])
    facts.open_total = len(open_rows)
    dated = open_rows[open_rows["received"] != NO_DATE]
    if len(dated):
        oldest = dated.sort_values(["received"], kind="stable").iloc[0]
        days = today - int(oldest["received"])
        facts.oldest = f"{oldest['record_id']}（接待 {iso(int(oldest['received']))}，已 {days} 天，{oldest['status']}）"
    sent = messages.sent_state(snapshot.log_rows, vocabulary).sent
    facts.next_digest = next_daily_digest(now_local, config, sent)
    facts.next_review = next_weekly_review(now_local, config, sent)
    problem_events = {config.vocabulary.label("events", key) for key in ("error", "message_failed")}
    for row in reversed(snapshot.log_rows):
        if len(row) >= 4 and str(row[1] or "").strip() in problem_events:
            facts.last_logged_problem = f"{messages.log_time_text(row[0])} {row[1]}：{row[3]}"
            break
    return facts


def center_status(center: CenterConfig, config: Config, now: dt.datetime, store: StateStore,
                  read_sheet: bool = True) -> CenterStatus:
    interval = config.schedule.interval_minutes
    limit = dt.timedelta(minutes=HEALTHY_INTERVALS * interval)
    now_local = now.astimezone(config.timezone)
    state = store.load(center.name)
    lines: list[str] = []
    healthy = False
    exit_code = EXIT_HEALTHY
    verdict = "正常"
    if state is None or not state.last_success:
        lines.append(f"上次成功運行：無記錄（狀態文件夾 {store.directory}）")
    else:
        last = _local(state.last_success, config)
        healthy = last is not None and now_local - last <= limit
        who = f"，{state.command}，主機 {state.host}" if state.command else ""
        lines.append(f"上次成功運行：{last:%Y-%m-%d %H:%M:%S}（{_ago(now_local, last)}{who}）")
    if not healthy:
        exit_code = EXIT_UNHEALTHY
        verdict = f"異常：{HEALTHY_INTERVALS} 個間隔（{HEALTHY_INTERVALS * interval} 分鐘）內沒有成功運行"
    if read_sheet:
        try:
            facts = read_sheet_facts(center, config, now, wiring.backend_for(center, config))
        except AutomationError as error:
            lines.append(f"無法讀取試算表：{error}")
            exit_code = max(exit_code, error.exit_code)
            verdict = "異常：無法讀取試算表" if healthy else verdict + "；也無法讀取試算表"
            healthy = False
        else:
            if facts.open_total:
                parts = "、".join(f"{label} {count}" for label, count in facts.open_by_status.items())
                lines.append(f"未完成事項：{facts.open_total} 項（{parts}）")
                lines.append(f"最早的未完成事項：{facts.oldest or '（接待日期均無法識別）'}")
            else:
                lines.append("未完成事項：無")
            lines.append(f"下一次客服主管每日隊列：{facts.next_digest}")
            lines.append(f"下一次經理週審核：{facts.next_review}")
            if facts.last_logged_problem:
                lines.append(f"運行日誌中最近的問題：{facts.last_logged_problem}")
    if state is not None and state.last_error:
        at = _local(state.last_error_at, config)
        when = f"{at:%Y-%m-%d %H:%M:%S}" if at else "時間不明"
        lines.append(f"最近錯誤：{when} {state.last_error}")
    else:
        lines.append("最近錯誤：無")
    if state is not None and state.last_skipped:
        at = _local(state.last_skipped_at, config)
        lines.append(f"最近跳過：{at:%Y-%m-%d %H:%M:%S} {state.last_skipped}" if at else f"最近跳過：{state.last_skipped}")
    return CenterStatus(center.name, healthy, exit_code, verdict, [redact(line) for line in lines])


def status_report(config: Config, now: dt.datetime, *, shard: Shard | None = None, out=None,
                  read_sheets: bool = True) -> int:
    """Print each center's status; returns 0 when all are healthy, else the worst code (≥ 1)."""
    out = out if out is not None else sys.stdout
    store = StateStore(state_dir_of(config))
    centers = centers_of(config, shard)
    worst = EXIT_HEALTHY
    if not centers:
        print(f"本機分片 {shard} 沒有分到服務中心（共 {len(config.centers)} 個）", file=out)
        return EXIT_HEALTHY
    unhealthy = 0
    for center in centers:
        report = center_status(center, config, now, store, read_sheet=read_sheets)
        print(f"{center.name}：{report.verdict}", file=out)
        for line in report.lines:
            print(f"  {line}", file=out)
        worst = max(worst, report.exit_code)
        unhealthy += 0 if report.healthy else 1
    if unhealthy:
        print(f"{unhealthy} / {len(centers)} 個服務中心異常", file=out)
    else:
        print(f"全部 {len(centers)} 個服務中心正常", file=out)
    return worst
