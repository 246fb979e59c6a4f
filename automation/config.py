"""Reading and checking the TOML configuration (SPEC 5).

Every problem is a ConfigError naming the file and the key to fix. Relative paths are resolved
against the config file's folder.
"""

from __future__ import annotations

import datetime as dt
import tomllib
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .vocabulary import LANGUAGES, Vocabulary

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class Ladder:
    supervisor_after_days: int = 2
    manager_after_days: int = 7


@dataclass(frozen=True)
class EscalationConfig:
    default: Ladder = Ladder()
    day_basis: str = "calendar"
    by_category: dict[str, Ladder] = field(default_factory=dict)  # category key → ladder

    def ladder_for(self, category_key: str) -> Ladder:
        return self.by_category.get(category_key, self.default)


@dataclass(frozen=True)
class ScheduleConfig:
    interval_minutes: int = 5
    daily_digest_at: dt.time = dt.time(8, 30)
    weekly_review_day: int = 0  # Monday
    weekly_review_at: dt.time = dt.time(9, 0)
    workers: int = 4  # centers handled at the same time (issue 5: serve / run over many centers)
    google_requests_per_minute: int = 60  # per service-account key file, shared by its centers


@dataclass(frozen=True)
class MailConfig:
    transport: str = "outbox"
    outbox_dir: Path = Path("outbox")
    sender: str = "frontdesk@example.com"
    host: str = ""
    port: int = 587
    security: str = "starttls"
    username: str = ""
    password_env: str = ""
    timeout_seconds: float = 30.0
    ca_file: Path | None = None


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    google: str = ""


@dataclass(frozen=True)
class CenterConfig:
    name: str
    backend: str
    supervisor: Person
    manager: Person
    path: Path | None = None
    spreadsheet: str = ""
    credentials: Path | None = None
    api_endpoint: str = ""


@dataclass(frozen=True)
class Config:
    source: Path
    timezone: zoneinfo.ZoneInfo
    language: str
    escalation: EscalationConfig
    review_window_days: int
    schedule: ScheduleConfig
    mail: MailConfig
    centers: tuple[CenterConfig, ...]
    # Monitoring cache for `status` (automation/monitor_state.py); None: "state" beside the config.
    state_dir: Path | None = None
    # A workbook whose zip declares more uncompressed bytes than this is refused before parsing.
    max_workbook_mb: int = 500

    @property
    def vocabulary(self) -> Vocabulary:
        return Vocabulary(self.language)


class _Section:
    """A TOML table being read: takes keys one by one and complains of any left unknown."""

    def __init__(self, data: Any, where: str, source: Path):
        self.where = where
        self.source = source
        if not isinstance(data, dict):
            self.fail("", f"應為表（table），現為 {data!r}")
        self.data = dict(data)
        self.used: set[str] = set()

    def fail(self, key: str, problem: str):
        name = f"{self.where}.{key}" if self.where and key else (key or self.where)
        raise ConfigError(f"設定檔 {self.source}：{name} {problem}")

    def take(self, key: str, kind: type | tuple, default: Any = None, required: bool = False):
        self.used.add(key)
        if key not in self.data:
            if required:
                self.fail(key, "缺失，請填寫")
            return default
        value = self.data[key]
        if kind is int and isinstance(value, bool) or not isinstance(value, kind):
            expected = {str: "文字", int: "整數", bool: "true/false", dict: "表（table）"}.get(kind, str(kind))
            self.fail(key, f"應為{expected}，現為 {value!r}")
        return value

    def positive_int(self, key: str, default: int) -> int:
        value = self.take(key, int, default)
        if value < 1:
            self.fail(key, f"必須大於 0，現為 {value}")
        return value

    def clock_time(self, key: str, default: dt.time) -> dt.time:
        text = self.take(key, str, None)
        if text is None:
            return default
        try:
            return dt.time.fromisoformat(text)
        except ValueError:
            self.fail(key, f"應為 HH:MM 時間，如 \"08:30\"，現為 {text!r}")

    def choice(self, key: str, options: tuple[str, ...], default: str) -> str:
        value = self.take(key, str, default)
        if value not in options:
            self.fail(key, f"應為 {' / '.join(repr(o) for o in options)} 之一，現為 {value!r}")
        return value

    def finish(self):
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            self.fail(unknown[0], "不是可用的設定項（請對照 config.example.toml）")


def _ladder(section: _Section, fallback: Ladder) -> Ladder:
    supervisor = section.positive_int("supervisor_after_days", fallback.supervisor_after_days)
    manager = section.positive_int("manager_after_days", fallback.manager_after_days)
    if manager <= supervisor:
        section.fail("manager_after_days", f"必須大於 supervisor_after_days（{supervisor}），現為 {manager}")
    return Ladder(supervisor, manager)


def _person(raw: Any, where: str, source: Path) -> Person:
    section = _Section(raw, where, source)
    person = Person(
        name=section.take("name", str, required=True),
        email=section.take("email", str, required=True),
        google=section.take("google", str, ""),
    )
    if "@" not in person.email:
        section.fail("email", f"不是有效的郵件地址：{person.email!r}")
    section.finish()
    return person


def load_config(path: str | Path) -> Config:
    source = Path(path).resolve()
    try:
        with open(source, "rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"找不到設定檔 {source}（可先運行 python -m automation demo 生成範例）") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"設定檔 {source} 不是有效的 TOML：{error}") from None
    except OSError as error:
        raise ConfigError(f"無法讀取設定檔 {source}：{error.strerror}") from None
    return parse_config(raw, source)


def parse_config(raw: dict, source: Path) -> Config:
    base = source.parent
    top = _Section(raw, "", source)
    tz_name = top.take("timezone", str, "Asia/Shanghai")
    try:
        timezone = zoneinfo.ZoneInfo(tz_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        top.fail("timezone", f"不是已知時區：{tz_name!r}（例如 \"Asia/Shanghai\"）")
    language = top.choice("language", LANGUAGES, "zh-Hant")
    vocabulary = Vocabulary(language)

    escalation_section = _Section(top.take("escalation", dict, {}), "escalation", source)
    default_ladder = _ladder(escalation_section, Ladder())
    day_basis = escalation_section.choice("day_basis", ("calendar", "workday"), "calendar")
    by_category: dict[str, Ladder] = {}
    categories = _Section(escalation_section.take("categories", dict, {}), "escalation.categories", source)
    for name in list(categories.data):
        key = vocabulary.parse("categories", name)
        if key is None:
            categories.fail(name, f"不是已知類別（可用：{'、'.join(vocabulary.labels('categories'))}）")
        categories.used.add(name)
        by_category[key] = _ladder(_Section(categories.data[name], f"escalation.categories.{name}", source), default_ladder)
    escalation_section.finish()

    review = _Section(top.take("review", dict, {}), "review", source)
    window_days = review.positive_int("window_days", 30)
    review.finish()

    schedule_section = _Section(top.take("schedule", dict, {}), "schedule", source)
    schedule = ScheduleConfig(
        interval_minutes=schedule_section.positive_int("interval_minutes", 5),
        daily_digest_at=schedule_section.clock_time("daily_digest_at", dt.time(8, 30)),
        weekly_review_day=WEEKDAYS.index(schedule_section.choice("weekly_review_day", WEEKDAYS, "monday")),
        weekly_review_at=schedule_section.clock_time("weekly_review_at", dt.time(9, 0)),
        workers=schedule_section.positive_int("workers", 4),
        google_requests_per_minute=schedule_section.positive_int("google_requests_per_minute", 60),
    )
    schedule_section.finish()

    mail_section = _Section(top.take("mail", dict, {}), "mail", source)
    transport = mail_section.choice("transport", ("outbox", "smtp"), "outbox")
    ca_file = mail_section.take("ca_file", str, "")
    mail = MailConfig(
        transport=transport,
        outbox_dir=base / mail_section.take("outbox_dir", str, "outbox"),
        sender=mail_section.take("from", str, "frontdesk@example.com"),
        host=mail_section.take("host", str, ""),
        port=mail_section.positive_int("port", 587),
        security=mail_section.choice("security", ("starttls", "ssl", "none"), "starttls"),
        username=mail_section.take("username", str, ""),
        password_env=mail_section.take("password_env", str, ""),
        timeout_seconds=float(mail_section.positive_int("timeout_seconds", 30)),
        ca_file=(base / ca_file) if ca_file else None,
    )
    if transport == "smtp" and not mail.host:
        mail_section.fail("host", "缺失：transport = \"smtp\" 需要郵件伺服器地址")
    if mail.username and not mail.password_env:
        mail_section.fail("password_env", "缺失：填寫了 username 時，需指定存放密碼的環境變數名")
    mail_section.finish()

    raw_centers = top.take("centers", list, [])
    if not raw_centers:
        top.fail("centers", "缺失：至少需要一個 [[centers]]")
    centers = []
    names = set()
    for index, raw_center in enumerate(raw_centers, start=1):
        where = f"centers[{index}]"
        section = _Section(raw_center, where, source)
        name = section.take("name", str, required=True)
        section.where = f"centers[{index}]（{name}）"
        if name in names:
            section.fail("name", "與另一個服務中心重名")
        names.add(name)
        backend = section.choice("backend", ("local", "google"), "local")
        path = section.take("path", str, "")
        spreadsheet = section.take("spreadsheet", str, "")
        credentials = section.take("credentials", str, "")
        api_endpoint = section.take("api_endpoint", str, "")
        if backend == "local" and not path:
            section.fail("path", "缺失：backend = \"local\" 需要工作簿路徑")
        if backend == "google":
            if not spreadsheet:
                section.fail("spreadsheet", "缺失：backend = \"google\" 需要試算表的 key 或網址")
            if not credentials:
                section.fail("credentials", "缺失：backend = \"google\" 需要服務帳號金鑰檔路徑")
        supervisor = _person(section.take("supervisor", dict, required=True), f"{section.where}.supervisor", source)
        manager = _person(section.take("manager", dict, required=True), f"{section.where}.manager", source)
        section.finish()
        centers.append(
            CenterConfig(
                name=name,
                backend=backend,
                supervisor=supervisor,
                manager=manager,
                path=(base / path) if path else None,
                spreadsheet=spreadsheet,
                credentials=(base / credentials) if credentials else None,
                api_endpoint=api_endpoint,
            )
        )
    state_dir = base / top.take("state_dir", str, "state")
    max_workbook_mb = top.positive_int("max_workbook_mb", 500)
    top.finish()
    return Config(
        source=source,
        timezone=timezone,
        language=language,
        escalation=EscalationConfig(default_ladder, day_basis, by_category),
        review_window_days=window_days,
        schedule=schedule,
        mail=mail,
        centers=tuple(centers),
        state_dir=state_dir,
        max_workbook_mb=max_workbook_mb,
    )
