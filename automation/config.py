"""Reading and checking the TOML configuration (SPEC 5).

Every problem is a ConfigError naming the file and the key to fix. Relative paths are resolved
against the config file's folder.
"""

from __future__ import annotations

import datetime as dt
import os
import re
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
    full_read_minutes: int = 60  # SPEC 7: a full cycle at least this often, even when nothing changed


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

    @property
    def names_kept_verbatim(self) -> tuple[str, ...]:
        """What output quotes exactly as the user wrote it, whatever the language (SPEC 5.1):
        the config's file and names, and the other spelling's tab titles and headers when quoted
        (「主管隊列」 being renamed, a staff header as the sheet spells it)."""
        names = [str(self.source), str(self.mail.outbox_dir), self.mail.sender]
        for center in self.centers:
            names += [center.name, center.spreadsheet, center.supervisor.name, center.manager.name]
            names += [str(path) for path in (center.path, center.credentials) if path is not None]
        quoted = [f"「{name}」" for name in self.vocabulary.other_spellings()]
        return tuple(dict.fromkeys([*names, *quoted]))


# Characters that break a mail header or a log line: C0 controls (CR, LF, NUL, tab…), DEL, C1
# controls, and the Unicode line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# An address as SMTP and the From/To headers take it: local@domain, no spaces, no specials.
_ADDR_SPEC = re.compile(r"^[^\s@<>()\[\],;:\"\\]+@[\w-]+(?:\.[\w-]+)*$")
_DISPLAY_FORM = re.compile(r"^(?P<name>[^<>]*?)\s*<(?P<addr>[^<>]*)>$")
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
LADDER_DAYS = (1, 366)


def mail_address(text: str) -> str | None:
    """The address of `a@example.com` or `王敏 <a@example.com>`; None when it is not one."""
    if _CONTROL.search(text):
        return None
    match = _DISPLAY_FORM.match(text.strip())
    address = (match.group("addr") if match else text).strip()
    return address if _ADDR_SPEC.match(address) else None


def spreadsheet_identity(text: str) -> str:
    """A spreadsheet's key, whether given as the key or as any of its URLs."""
    match = re.search(r"/spreadsheets/d/([A-Za-z0-9_-]+)", text) or re.search(r"[?&#]key=([A-Za-z0-9_-]+)", text)
    return match.group(1) if match else text.strip()


def state_directory(config: Config) -> Path:
    """`state_dir`, or "state" beside the config file when the config was built without one."""
    return config.state_dir if config.state_dir is not None else config.source.parent / "state"


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

    def header_text(self, key: str, default: str = "", required: bool = False) -> str:
        """Text that goes into a mail header, a subject or a log line: one line, no controls."""
        value = self.take(key, str, default, required)
        if _CONTROL.search(value):
            self.fail(key, f"含有換行或控制字元，不能放進郵件標頭：{value!r}")
        return value

    def address(self, key: str, default: str = "", required: bool = False) -> str:
        """A mail address, alone or with a display name (`王敏 <a@example.com>`); the address."""
        value = self.header_text(key, default, required)
        address = mail_address(value)
        if address is None:
            self.fail(key, f"不是有效的郵件地址：{value!r}（例如 a@example.com 或 王敏 <a@example.com>）")
        return address

    def positive_int(self, key: str, default: int, most: int = 10**6) -> int:
        return self.int_between(key, default, 1, most)

    def int_between(self, key: str, default: int, least: int, most: int) -> int:
        value = self.take(key, int, default)
        if not least <= value <= most:
            self.fail(key, f"應在 {least} 到 {most} 之間，現為 {value}")
        return value

    def clock_time(self, key: str, default: dt.time) -> dt.time:
        text = self.take(key, str, None)
        if text is None:
            return default
        match = _CLOCK.match(text.strip())
        if not match:
            self.fail(key, f"應為當地時間 HH:MM（不帶時區），如 \"08:30\"，現為 {text!r}")
        return dt.time(int(match.group(1)), int(match.group(2)))

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
    supervisor = section.int_between("supervisor_after_days", fallback.supervisor_after_days, *LADDER_DAYS)
    manager = section.int_between("manager_after_days", fallback.manager_after_days, *LADDER_DAYS)
    if manager <= supervisor:
        section.fail("manager_after_days", f"必須大於 supervisor_after_days（{supervisor}），現為 {manager}")
    return Ladder(supervisor, manager)


def _person(raw: Any, where: str, source: Path) -> Person:
    section = _Section(raw, where, source)
    person = Person(
        name=section.header_text("name", required=True),
        email=section.address("email", required=True),
        google=section.header_text("google", ""),
    )
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
    try:
        return parse_config(raw, source)
    except ConfigError as error:
        # Said in the language the file asks for, when it asks for a known one (SPEC 5.1).
        language = raw.get("language")
        error.language = language if language in LANGUAGES else None
        raise


def parse_config(raw: dict, source: Path) -> Config:
    """The checked configuration of a TOML document read from `source`; ConfigError otherwise."""
    base = source.parent
    top = _Section(raw, "", source)
    timezone = _timezone(top)
    language = top.choice("language", LANGUAGES, "zh-Hant")
    escalation = _escalation(_Section(top.take("escalation", dict, {}), "escalation", source), Vocabulary(language))
    review = _Section(top.take("review", dict, {}), "review", source)
    window_days = review.positive_int("window_days", 30, most=3660)
    review.finish()
    schedule = _schedule(_Section(top.take("schedule", dict, {}), "schedule", source))
    mail = _mail(_Section(top.take("mail", dict, {}), "mail", source), base)
    centers = _centers(top, base)
    state_dir = base / top.take("state_dir", str, "state")
    max_workbook_mb = top.positive_int("max_workbook_mb", 500)
    top.finish()
    return Config(
        source=source,
        timezone=timezone,
        language=language,
        escalation=escalation,
        review_window_days=window_days,
        schedule=schedule,
        mail=mail,
        centers=centers,
        state_dir=state_dir,
        max_workbook_mb=max_workbook_mb,
    )


def _timezone(top: _Section) -> zoneinfo.ZoneInfo:
    tz_name = top.take("timezone", str, "Asia/Shanghai")
    try:
        return zoneinfo.ZoneInfo(tz_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        top.fail("timezone", f"不是已知時區：{tz_name!r}（例如 \"Asia/Shanghai\"）")


def _escalation(section: _Section, vocabulary: Vocabulary) -> EscalationConfig:
    default_ladder = _ladder(section, Ladder())
    day_basis = section.choice("day_basis", ("calendar", "workday"), "calendar")
    by_category: dict[str, Ladder] = {}
    categories = _Section(section.take("categories", dict, {}), "escalation.categories", section.source)
    for name in list(categories.data):
        key = vocabulary.parse("categories", name)
        if key is None:
            categories.fail(name, f"不是已知類別（可用：{'、'.join(vocabulary.labels('categories'))}）")
        categories.used.add(name)
        ladder_section = _Section(categories.data[name], f"escalation.categories.{name}", section.source)
        by_category[key] = _ladder(ladder_section, default_ladder)
        ladder_section.finish()  # a typo such as `manger_after_days` is not silently ignored
    section.finish()
    return EscalationConfig(default_ladder, day_basis, by_category)


def _schedule(section: _Section) -> ScheduleConfig:
    schedule = ScheduleConfig(
        interval_minutes=section.positive_int("interval_minutes", 5, most=1440),
        daily_digest_at=section.clock_time("daily_digest_at", dt.time(8, 30)),
        weekly_review_day=WEEKDAYS.index(section.choice("weekly_review_day", WEEKDAYS, "monday")),
        weekly_review_at=section.clock_time("weekly_review_at", dt.time(9, 0)),
        workers=section.positive_int("workers", 4, most=256),
        google_requests_per_minute=section.positive_int("google_requests_per_minute", 60),
        full_read_minutes=section.positive_int("full_read_minutes", 60, most=1440),
    )
    section.finish()
    return schedule


def _mail(section: _Section, base: Path) -> MailConfig:
    transport = section.choice("transport", ("outbox", "smtp"), "outbox")
    ca_file = section.take("ca_file", str, "")
    mail = MailConfig(
        transport=transport,
        outbox_dir=base / section.take("outbox_dir", str, "outbox"),
        sender=section.address("from", "frontdesk@example.com"),
        host=section.header_text("host", ""),
        port=section.positive_int("port", 587, most=65535),
        security=section.choice("security", ("starttls", "ssl", "none"), "starttls"),
        username=section.header_text("username", ""),
        password_env=section.take("password_env", str, ""),
        timeout_seconds=float(section.positive_int("timeout_seconds", 30, most=3600)),
        ca_file=(base / ca_file) if ca_file else None,
    )
    if transport == "smtp" and not mail.host:
        section.fail("host", "缺失：transport = \"smtp\" 需要郵件伺服器地址")
    if mail.username and not mail.password_env:
        section.fail("password_env", "缺失：填寫了 username 時，需指定存放密碼的環境變數名")
    section.finish()
    return mail


def _centers(top: _Section, base: Path) -> tuple[CenterConfig, ...]:
    raw_centers = top.take("centers", list, [])
    if not raw_centers:
        top.fail("centers", "缺失：至少需要一個 [[centers]]")
    centers: list[CenterConfig] = []
    claimed: dict[Any, tuple[str, str]] = {}  # workbook / spreadsheet identity → (center, key)
    for index, raw_center in enumerate(raw_centers, start=1):
        section = _Section(raw_center, f"centers[{index}]", top.source)
        center = _center(section, base)
        if any(center.name == other.name for other in centers):
            section.fail("name", "與另一個服務中心重名")
        identity, key = _sheet_identity(center)
        if identity in claimed:
            other, _ = claimed[identity]
            section.fail(key, f"與服務中心「{other}」指向同一個{'工作簿' if key == 'path' else '試算表'}；"
                              f"兩個服務中心不能處理同一份記錄，請刪去其中一個或改正路徑")
        claimed[identity] = (center.name, key)
        centers.append(center)
    return tuple(centers)


def _center(section: _Section, base: Path) -> CenterConfig:
    name = section.header_text("name", required=True)
    section.where = f"{section.where}（{name}）"
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
    supervisor = _person(section.take("supervisor", dict, required=True), f"{section.where}.supervisor", section.source)
    manager = _person(section.take("manager", dict, required=True), f"{section.where}.manager", section.source)
    section.finish()
    return CenterConfig(
        name=name,
        backend=backend,
        supervisor=supervisor,
        manager=manager,
        path=(base / path) if path else None,
        spreadsheet=spreadsheet,
        credentials=(base / credentials) if credentials else None,
        api_endpoint=api_endpoint,
    )


def _sheet_identity(center: CenterConfig) -> tuple[Any, str]:
    """What a center works on, the same however it is written: a workbook's real file (links
    resolved; the file's device and inode when it exists), a spreadsheet's key."""
    if center.backend == "google":
        return ("google", spreadsheet_identity(center.spreadsheet)), "spreadsheet"
    path = center.path.resolve()
    try:
        status = path.stat()
        return ("file", status.st_dev, status.st_ino), "path"
    except OSError:
        return ("path", os.path.normcase(str(path))), "path"
