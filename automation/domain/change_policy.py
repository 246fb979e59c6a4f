"""When a cycle must read the sheet in full, and when one look at its modification time is enough
(SPEC 7). Pure: the last full read's record, the sheet's stamp now and the clock are passed in.

Between staff edits a center's state changes only at known moments: local midnight (the ladder
and the review windows move) and the times messages fall due (the daily digests, the weekly
review; alerts follow edits and escalations, which follow midnight). So a cycle may stop after the
look when all of these hold:

- the last full read is recorded, for this sheet and this configuration, and it did not write
  (the worker cannot tell its own write from a staff edit made at the same moment) and left no
  message pending (a failed message is retried every cycle);
- the sheet's stamp was taken now and says nothing changed since the stamp taken just before
  that read (a local file: the same `stat`; Google: Drive's modifiedTime the same as at that
  look, or earlier than Google's own time of that look — both Google's clock, so skew between
  this machine and Google does not matter; an edit made while the read ran is after that look,
  hence seen next cycle);
- on the worker's clock, no midnight, digest or review time passed since the read, it is less
  than `full_read_minutes` ago, and the clock did not go backwards.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

STAMP_LOCAL = "stat"
STAMP_DRIVE = "drive"


@dataclass(frozen=True)
class Schedule:
    """The moments of the day at which messages fall due (config [schedule])."""

    daily_digest_at: dt.time
    weekly_review_day: int  # Monday = 0
    weekly_review_at: dt.time
    full_read_minutes: int


@dataclass
class FullRead:
    """What a cycle remembers of the last full read of a center."""

    sheet: str  # which sheet (backend and key or path): another one means nothing is known
    config: str  # digest of the configuration the rules ran with
    stamp: dict[str, Any] | None  # the sheet's stamp taken just before that read
    at: str  # the cycle's time (worker's clock, ISO with offset)
    wrote: bool = False
    pending: bool = False  # messages left to retry, or the cycle did not finish cleanly
    rows: int = 0  # for the operator's log line of the idle cycles that follow
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"sheet": self.sheet, "config": self.config, "stamp": self.stamp, "at": self.at,
                "wrote": self.wrote, "pending": self.pending, "rows": self.rows, "extra": self.extra}

    @classmethod
    def from_json(cls, data: Any) -> "FullRead | None":
        if not isinstance(data, dict):
            return None
        try:
            record = cls(sheet=str(data["sheet"]), config=str(data["config"]), stamp=data.get("stamp"),
                         at=str(data["at"]), wrote=bool(data.get("wrote")), pending=bool(data.get("pending")),
                         rows=int(data.get("rows") or 0), extra=dict(data.get("extra") or {}))
        except (KeyError, TypeError, ValueError):
            return None
        return record if record.full_at() is not None else None

    def full_at(self) -> dt.datetime | None:
        try:
            moment = dt.datetime.fromisoformat(self.at)
        except ValueError:
            return None
        return moment if moment.tzinfo is not None else None


TABS_CHECKED = "tabs_checked"  # FullRead.extra: the local day whose full cycle read the generated tabs


def tabs_checked_today(record: FullRead | None, *, sheet: str, config: str, now: dt.datetime) -> bool:
    """Whether a full cycle of this local day (`now`) already read the generated tabs and put a
    hand edit right (SPEC 7); until one has, each full cycle reads and compares them. Lost state,
    another sheet or configuration, a standby taking over: not yet."""
    return (record is not None and record.sheet == sheet and record.config == config
            and record.extra.get(TABS_CHECKED) == now.date().isoformat())


def drive_time(text: str) -> dt.datetime | None:
    """Drive's RFC 3339 time (`2023-08-17T10:53:46.472Z`) or an ISO time we stored."""
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else None


def sheet_changed(before: dict[str, Any] | None, now: dict[str, Any] | None) -> bool:
    """Whether the sheet may have changed between the two stamps (True when either is unknown)."""
    if not before or not now or before.get("kind") != now.get("kind"):
        return True
    if now["kind"] == STAMP_LOCAL:
        return before.get("stat") != now.get("stat")
    if now["kind"] == STAMP_DRIVE:
        if now.get("modified") and now.get("modified") == before.get("modified"):
            return False  # not one write registered since the look before that read
        modified = drive_time(now.get("modified", ""))
        looked = drive_time(before.get("server_time", ""))
        # Moved, but to a time before that look (Drive registering an edit late, which the read
        # already saw) is no change. The server's Date has whole seconds: an edit within the
        # second of the look counts as after it (one extra full read, never a missed edit).
        return modified is None or looked is None or modified >= looked.replace(microsecond=0)
    return True


def moment_passed(since: dt.datetime, now: dt.datetime, schedule: Schedule) -> str:
    """The first known moment in (since, now] on the local clock: "midnight", "digest",
    "weekly_review"; "" when none. Both times are local times of the center."""
    if now.date() != since.date():
        return "midnight"
    if since.time() < schedule.daily_digest_at <= now.time():
        return "digest"
    if now.weekday() == schedule.weekly_review_day and since.time() < schedule.weekly_review_at <= now.time():
        return "weekly_review"
    return ""


def full_read_reason(record: FullRead | None, *, sheet: str, config: str, stamp: dict[str, Any] | None,
                     now: dt.datetime, schedule: Schedule) -> str:
    """Why this cycle must read in full ("" when the look was enough). `now` is local time."""
    if record is None:
        return "no_state"
    if record.sheet != sheet or record.config != config:
        return "config_changed"
    if record.wrote:
        return "wrote"
    if record.pending:
        return "pending"
    if stamp is None:
        return "no_stamp"
    if sheet_changed(record.stamp, stamp):
        return "changed"
    since = record.full_at()
    if since is None:
        return "no_state"
    since = since.astimezone(now.tzinfo)
    if now < since:
        return "clock_backwards"
    if now - since >= dt.timedelta(minutes=schedule.full_read_minutes):
        return "full_read_minutes"
    return moment_passed(since, now, schedule)
