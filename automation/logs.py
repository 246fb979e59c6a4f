"""Logging an operator can use: text or JSON lines on stderr, with owner data and secrets removed.

Every line passes through `redact` after formatting, so no phone number, password, private key or
access token reaches a log, whatever a message or an exception text happened to contain (a staff
cell quoted in a note, a library error echoing a URL with a token). Phones are masked the way
SPEC 4.1 masks them elsewhere (`138****5678`); secrets are replaced by a marker.

Records of the cycle carry structured fields in `record.fields` (a dict): the JSON format writes
them as keys, the text format only writes the message. `record.event` names the kind of record
("center_cycle", "row_note", "cycle_done", …) so a console can choose what to show.

The progress display (`ProgressLine`) is for an interactive `run` over many centers: one line on a
terminal, rewritten in place and erased before anything else is written.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import sys
import threading
from typing import Any, Iterable, TextIO

from .domain.privacy import mask_phones_in_text

LOGGER_NAME = "automation"
LOG_FORMATS = ("text", "json")

# Without this a library user's unconfigured process would print our warnings through logging's
# last-resort handler; the command line installs real handlers (see setup_logging).
logging.getLogger(LOGGER_NAME).addHandler(logging.NullHandler())

# --- redaction ---------------------------------------------------------------------------------

# Mainland mobiles (11 digits from 13x-19x, optionally +86, optionally grouped 3-4-4) and
# landlines with an area code (0xx-xxxxxxxx). Record ids (R20261127-003), ISO dates and times,
# pids and counts do not match: they do not start with 1[3-9] followed by 9 more digits or with 0.
# Boundaries are ASCII letters and digits only: Chinese text runs straight into a number
# ("致電13812345678"), and a Unicode \w boundary would let that phone through.
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.S)
_KEY_FIELD = re.compile(r"""(["']?(?:private_key|private_key_id|client_secret|password|passwd|secret|"""
                        r"""access_token|refresh_token|id_token|api_key|apikey)["']?\s*[:=]\s*)"""
                        r"""("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s,;&'"}]+)""", re.I)
_BEARER = re.compile(r"(\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]{8,}", re.I)
_GOOGLE_TOKEN = re.compile(r"\bya29\.[0-9A-Za-z_-]+")
_URL_QUERY_SECRET = re.compile(r"([?&](?:access_token|token|key|sig|signature|password)=)[^&\s#]+", re.I)
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+(@)", re.I)
_SECRET_ENV_NAME = re.compile(r"PASS|SECRET|TOKEN|PRIVATE|CREDENTIAL|API_?KEY|AUTH", re.I)
SECRET_MARK = "[已隱去]"

_secrets_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret's value so that it is blanked from every later log line.

    Values shorter than 4 characters are not registered: blanking them would garble ordinary
    text and they are not secrets worth the name."""
    if value and len(value) >= 4:
        with _secrets_lock:
            _secrets.add(value)


def register_secrets_from_environment(environ: dict[str, str] | None = None) -> None:
    """Register the values of environment variables whose names say they hold a secret
    (…PASSWORD, …SECRET, …TOKEN, …API_KEY …): the mail password lives in one of them."""
    for name, value in (os.environ if environ is None else environ).items():
        if _SECRET_ENV_NAME.search(name):
            register_secret(value)


def redact(text: str) -> str:
    """`text` without registered secrets, keys, tokens and with phones masked."""
    if not text:
        return text
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, SECRET_MARK)
    text = _PRIVATE_KEY.sub(SECRET_MARK, text)
    text = _KEY_FIELD.sub(lambda m: m.group(1) + SECRET_MARK, text)
    text = _BEARER.sub(lambda m: m.group(1) + SECRET_MARK, text)
    text = _GOOGLE_TOKEN.sub(SECRET_MARK, text)
    text = _URL_QUERY_SECRET.sub(lambda m: m.group(1) + SECRET_MARK, text)
    text = _URL_PASSWORD.sub(lambda m: m.group(1) + SECRET_MARK + m.group(2), text)
    return mask_phones_in_text(text)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redact_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_value(item) for item in value]
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return redact(str(value))


# --- formatters --------------------------------------------------------------------------------

_zone: list[dt.tzinfo | None] = [None]  # the configured timezone, once the config is read


def use_timezone(zone: dt.tzinfo | None) -> None:
    """Log times in `zone` (the config's `timezone`, the one the sheet's and the mails' times
    are in) rather than the machine's, which may be UTC on a server."""
    _zone[0] = zone


def _local_time(record: logging.LogRecord) -> dt.datetime:
    return dt.datetime.fromtimestamp(record.created, tz=_zone[0]) if _zone[0] else \
        dt.datetime.fromtimestamp(record.created).astimezone()


def time_with_offset(moment: dt.datetime) -> str:
    """`2026-11-27 12:00:03+08:00`: local time, and which local time it is."""
    offset = moment.strftime("%z")
    return f"{moment:%Y-%m-%d %H:%M:%S}{offset[:3]}:{offset[3:]}" if offset else f"{moment:%Y-%m-%d %H:%M:%S}"


class TextFormatter(logging.Formatter):
    """`2026-11-27 12:00:03+08:00 信息 錦繡花園服務中心：讀取 28 行…` — one line per record, redacted.

    A traceback (internal errors only) follows on the next lines, redacted as well."""

    LEVELS = {"DEBUG": "調試", "INFO": "信息", "WARNING": "警告", "ERROR": "錯誤", "CRITICAL": "嚴重"}
    SYSLOG_PRIORITIES = {"DEBUG": 7, "INFO": 6, "WARNING": 4, "ERROR": 3, "CRITICAL": 2}

    def __init__(self, with_time: bool = True, syslog_prefix: bool = False):
        super().__init__()
        self.with_time = with_time
        # Under systemd, "<4>" before a line sets its journal priority (journalctl -p warning).
        self.syslog_prefix = syslog_prefix

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        level = self.LEVELS.get(record.levelname, record.levelname)
        if self.with_time:
            line = f"{time_with_offset(_local_time(record))} {level} {message}"
        else:
            line = f"{level}：{message}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if self.syslog_prefix:
            line = f"<{self.SYSLOG_PRIORITIES.get(record.levelname, 6)}>" + line
        return redact(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, event, message, then the record's fields.

    Keys are English (for collectors); the message stays Chinese, as every user-visible text."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": _local_time(record).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": getattr(record, "event", "") or "message",
            "message": record.getMessage(),
        }
        for key, value in (getattr(record, "fields", None) or {}).items():
            document.setdefault(key, value)
        if record.exc_info:
            document["traceback"] = self.formatException(record.exc_info)
        return json.dumps(_redact_value(document), ensure_ascii=False, separators=(",", ":"))


class EventFilter(logging.Filter):
    """Drops records whose `event` is in `excluded` (what a console already shows another way)."""

    def __init__(self, excluded: Iterable[str]):
        super().__init__()
        self.excluded = frozenset(excluded)

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "event", "") not in self.excluded


# --- progress ----------------------------------------------------------------------------------

class ProgressLine:
    """One status line on a terminal (`[3/12] 錦繡花園服務中心 完成`), rewritten in place.

    `clear()` erases it before other output; `show()` draws it again. Thread-safe: worker threads
    and the main thread may both report."""

    ERASE = "\r\x1b[2K"

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.text = ""
        self.visible = False
        self.lock = threading.RLock()

    def show(self, text: str | None = None) -> None:
        with self.lock:
            if text is not None:
                self.text = text
            self.stream.write(self.ERASE + self.text)
            self.stream.flush()
            self.visible = True

    def clear(self) -> None:
        with self.lock:
            if self.visible:
                self.stream.write(self.ERASE)
                self.stream.flush()
                self.visible = False

    def redraw(self) -> None:
        with self.lock:
            if self.text and not self.visible:
                self.show()

    def finish(self) -> None:
        with self.lock:
            self.clear()
            self.text = ""


class ConsoleHandler(logging.StreamHandler):
    """A stream handler that erases the progress line (if any) before writing a record."""

    def __init__(self, stream: TextIO):
        super().__init__(stream)
        self.progress: ProgressLine | None = None

    def emit(self, record: logging.LogRecord) -> None:
        progress = self.progress
        if progress is None:
            super().emit(record)
            return
        with progress.lock:
            progress.clear()
            super().emit(record)
            progress.redraw()


def wants_progress(stream: TextIO, centers: int) -> bool:
    """A progress display only on a terminal and only when there is more than one center."""
    try:
        return centers > 1 and stream.isatty()
    except (AttributeError, ValueError):
        return False


# --- setup -------------------------------------------------------------------------------------

_installed: list[logging.Handler] = []


class _CurrentStderr:
    """Writes to whatever sys.stderr is at the time of writing (tests swap it per test)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def setup_logging(log_format: str = "text", *, stream: TextIO | None = None, level: int = logging.INFO,
                  with_time: bool = True, exclude_events: Iterable[str] = ()) -> ConsoleHandler:
    """Send the worker's records to `stream` (default stderr) as text or JSON lines.

    Replaces handlers installed by an earlier call (config reload, tests calling main twice).
    Registers the secrets found in the environment so they are blanked from every line."""
    if log_format not in LOG_FORMATS:
        raise ValueError(log_format)
    register_secrets_from_environment()
    root = logging.getLogger(LOGGER_NAME)
    for handler in _installed:
        root.removeHandler(handler)
    _installed.clear()
    handler = ConsoleHandler(stream if stream is not None else _CurrentStderr())
    under_journald = stream is None and bool(os.environ.get("JOURNAL_STREAM"))
    handler.setFormatter(JsonFormatter() if log_format == "json"
                         else TextFormatter(with_time=with_time, syslog_prefix=under_journald))
    handler.setLevel(level)
    if exclude_events:
        handler.addFilter(EventFilter(exclude_events))
    root.addHandler(handler)
    root.setLevel(min(level, logging.INFO))
    _installed.append(handler)
    return handler


def event_record(logger: logging.Logger, level: int, event: str, message: str, exc_info=None, **fields: Any) -> None:
    """Log `message` with a machine-readable `event` name and `fields` (JSON keys)."""
    logger.log(level, "%s", message, exc_info=exc_info, extra={"event": event, "fields": fields})


def attach_progress(progress: ProgressLine | None) -> None:
    """Let the installed console handlers erase `progress` before writing (None: detach)."""
    for handler in _installed:
        if isinstance(handler, ConsoleHandler):
            handler.progress = progress
