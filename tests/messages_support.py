"""Helpers for the message tests: real .xlsx workbooks, real config files, the real CLI path.

Nothing here stands in for the worker's own code: a test writes a workbook with openpyxl, a
config file as a user would, runs `automation.application.commands.run_once` at a given clock time, and reads back
what the worker wrote (the workbook's event log) and sent (the outbox folder or an SMTP server).
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import io
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl

from automation.application import commands
from automation.config import load_config

SHANGHAI = ZoneInfo("Asia/Shanghai")
CENTER = "錦繡花園服務中心"
SUPERVISOR = "supervisor@example.com"
MANAGER = "manager@example.com"

HEADERS = ["接待日期", "業主姓名", "聯系電話", "房號", "事由", "類別", "責任部門", "處理結果", "完成日期",
           "主管審核", "經理審核", "回訪滿意度", "處理情況"]
FIELDS = ["received", "name", "phone", "room", "matter", "category", "department", "result", "completed",
          "supervisor_review", "manager_review", "satisfaction", "handling"]


def at(text: str) -> dt.datetime:
    """`2026-03-09 08:30` in the centers' timezone."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def reception(received: str, matter: str = "樓道燈不亮", category: str = "報修", **cells) -> dict:
    """One row of the main tab; dates as `YYYY-MM-DD` text, as staff type them."""
    row = {"received": received, "name": "陳志明", "phone": "13812345678", "room": "3-1-1201",
           "matter": matter, "category": category}
    row.update(cells)
    return row


def write_workbook(path: Path, rows: list[dict]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "接待業主情況記錄"
    sheet.append(HEADERS)
    for row in rows:
        unknown = set(row) - set(FIELDS)
        assert not unknown, unknown
        sheet.append([row.get(key) for key in FIELDS])
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def set_cell(path: Path, sheet_row: int, header: str, value) -> None:
    """Change one cell of the main tab as a member of staff would."""
    book = openpyxl.load_workbook(path)
    sheet = book["接待業主情況記錄"]
    column = [cell.value for cell in sheet[1]].index(header) + 1
    sheet.cell(row=sheet_row, column=column).value = value
    book.save(path)


def append_rows(path: Path, rows: list[dict]) -> None:
    book = openpyxl.load_workbook(path)
    sheet = book["接待業主情況記錄"]
    headers = [cell.value for cell in sheet[1]]
    for row in rows:
        values = [None] * len(headers)
        for key, value in row.items():
            values[headers.index(HEADERS[FIELDS.index(key)])] = value
        sheet.append(values)
    book.save(path)


def write_config(folder: Path, workbook: Path, *, name: str = "config.toml", language: str = "zh-Hant",
                 mail: str = 'transport = "outbox"\noutbox_dir = "outbox"', schedule: str = "",
                 center: str = CENTER) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"""
timezone = "Asia/Shanghai"
language = "{language}"

[schedule]
{schedule}

[mail]
from = "frontdesk@example.com"
{mail}

[[centers]]
name = "{center}"
backend = "local"
path = "{workbook.as_posix()}"
supervisor = {{ name = "王敏", email = "{SUPERVISOR}" }}
manager = {{ name = "李強", email = "{MANAGER}" }}
""", encoding="utf-8")
    return path


def smtp_mail(port: int, *, security: str = "none", ca_file: str = "", password_env: str = "") -> str:
    lines = ['transport = "smtp"', 'host = "127.0.0.1"', f"port = {port}", f'security = "{security}"',
             "timeout_seconds = 5"]
    if ca_file:
        lines.append(f'ca_file = "{Path(ca_file).as_posix()}"')
    if password_env:
        lines += ['username = "frontdesk"', f'password_env = "{password_env}"']
    return "\n".join(lines)


@dataclass
class Run:
    code: int
    out: str
    err: str


def run(config_path: Path, now: dt.datetime, dry_run: bool = False) -> Run:
    """One `run` cycle through the CLI's own entry point, at clock time `now`."""
    out, err = io.StringIO(), io.StringIO()
    code = commands.run_once(load_config(config_path), now, dry_run, out=out, err=err)
    return Run(code, out.getvalue(), err.getvalue())


def log_rows(workbook: Path) -> list[list]:
    book = openpyxl.load_workbook(workbook)
    for title in ("運行日誌", "运行日志"):
        if title in book.sheetnames:
            return [list(row) for row in book[title].iter_rows(min_row=2, values_only=True)]
    return []


def log_events(workbook: Path, event: str) -> list[list]:
    return [row for row in log_rows(workbook) if row[1] == event]


def main_rows(workbook: Path) -> list[dict]:
    book = openpyxl.load_workbook(workbook)
    sheet = book["接待業主情況記錄"]
    values = list(sheet.iter_rows(values_only=True))
    return [dict(zip(values[0], row)) for row in values[1:]]


class Outbox:
    """The .eml files a run left in a folder; `new()` gives those not seen by a previous call."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.seen: set[str] = set()

    def all(self) -> list[email.message.EmailMessage]:
        return [self._parse(path) for path in sorted(self.folder.glob("*.eml"))] if self.folder.exists() else []

    def new(self) -> list[email.message.EmailMessage]:
        fresh = [path for path in sorted(self.folder.glob("*.eml")) if path.name not in self.seen] if self.folder.exists() else []
        self.seen.update(path.name for path in fresh)
        return [self._parse(path) for path in fresh]

    @staticmethod
    def _parse(path: Path) -> email.message.EmailMessage:
        return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)


def subjects(messages) -> list[str]:
    return sorted(str(message["Subject"]) for message in messages)


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def html_of(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()
