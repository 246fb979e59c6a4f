"""One language throughout (SPEC 5.1): with `language = "zh-Hans"` nothing the worker prints,
writes or mails is in Traditional characters.

A center run in Simplified (its staff also type Simplified) goes through the main commands —
`init` on a local workbook, `run --dry-run`, `run`, `status`, `test-mail` against the outbox, a
configuration error, an unusable sheet, and `init` on a Google sheet (the stand-in) — and every
line of stdout and stderr, every header and cell of the tabs the worker writes, every 运行日志 row
and every mail is scanned for a Traditional-only character: a character the worker's own converter
(automation/language.py) would change.
"""

from __future__ import annotations

import email
import email.policy
import functools
import re
from pathlib import Path

import openpyxl
import pytest

from automation.application.demo import write_sample_workbook
from automation.language import localize, to_simplified
from automation.vocabulary import Vocabulary
from tests.google_support import google_config, make_sheet
from tests.messages_support import at, write_config
from tests.google_support import retry_clock  # noqa: F401  (autouse: retries on a fake clock)

HANS = Vocabulary("zh-Hans")
CENTER = "锦绣花园服务中心"
NOW = at("2026-03-09 09:30")  # a Monday after the digest hour: digests, the weekly mail and alerts are due


@functools.lru_cache(maxsize=1)
def traditional_only() -> frozenset[str]:
    """Every CJK character the converter changes: what a Simplified text never contains."""
    return frozenset(c for c in map(chr, range(0x3400, 0xA000)) if to_simplified(c) != c)


def traditional_in(text: str) -> list[str]:
    """The lines of `text` holding a Traditional-only character (empty when there is none)."""
    found = traditional_only()
    return [line for line in str(text).splitlines() if any(c in found for c in line)]


def assert_simplified(what: str, text: str) -> None:
    lines = traditional_in(text)
    assert not lines, f"{what}: Traditional-only characters in {lines[:5]}"


def test_the_character_list_is_the_converters():
    assert {"個", "設", "請", "錯", "誤", "這", "將", "數", "時", "間", "開", "關", "後", "發", "郵", "處", "記", "錄",
            "審", "單", "權", "給", "動", "點", "進", "還", "過", "問", "題", "頁", "變", "並", "總", "計"} <= traditional_only()
    assert not {"个", "设", "的", "人", "中", "了"} & traditional_only()
    assert localize("分頁「主管隊列」將改名", "zh-Hans", keep=("主管隊列",)) == "分页「主管隊列」将改名"
    assert localize("錯誤", "zh-Hant") == "錯誤"


def simplified_workbook(path: Path) -> Path:
    """The demo's sample workbook as a Simplified center keeps it: every text cell in Simplified."""
    write_sample_workbook(path, NOW.date())
    book = openpyxl.load_workbook(path)
    sheet = book.worksheets[0]
    sheet.title = HANS.main_tab_title
    for row in sheet.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                cell.value = to_simplified(cell.value)
    book.save(path)
    return path


def simplified_config(folder: Path, workbook: Path, *, extra: str = "") -> Path:
    path = write_config(folder, workbook, language="zh-Hans", center=CENTER)
    text = path.read_text(encoding="utf-8").replace("李強", "李强")
    path.write_text(text.replace("[schedule]", f"{extra}\n[schedule]", 1), encoding="utf-8")
    return path


def command(capsys, *argv) -> tuple[int, str]:
    from automation import cli

    capsys.readouterr()
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as stop:
        code = stop.code
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def mails(folder: Path) -> list[str]:
    texts = []
    for path in sorted(folder.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        parts = [part.get_content() for part in message.walk() if part.get_content_type() in ("text/plain", "text/html")]
        texts.append("\n".join([str(message["Subject"]), str(message["To"]), *parts]))
    return texts


def worker_written(workbook: Path) -> dict[str, str]:
    """The text of what the worker writes: its tabs whole, and the main tab's worker columns."""
    book = openpyxl.load_workbook(workbook)
    written = {}
    for sheet in book.worksheets[1:]:
        written[sheet.title] = "\n".join(" ".join(str(v) for v in row if v is not None)
                                         for row in sheet.iter_rows(values_only=True))
    main = book.worksheets[0]
    headers = [cell.value for cell in main[1]]
    worker = [headers.index(c.headers["zh-Hans"]) for c in HANS.worker_columns]
    written["main tab, worker columns"] = "\n".join(
        " ".join(str(row[i]) for i in worker if row[i] is not None) for row in main.iter_rows(values_only=True))
    return written


def test_a_simplified_center_sees_no_traditional_character(tmp_path, capsys):
    workbook = simplified_workbook(tmp_path / "data" / "锦绣花园.xlsx")
    config = simplified_config(tmp_path, workbook)
    outputs = {}
    for name, argv in [
        ("init", ["init", "--config", config]),
        ("run --dry-run", ["run", "--config", config, "--now", NOW.isoformat(), "--dry-run",
                           "--preview", tmp_path / "preview"]),
        ("run", ["run", "--config", config, "--now", NOW.isoformat()]),
        ("run, log lines as JSON", ["run", "--config", config, "--now", NOW.isoformat(), "--dry-run",
                                    "--log-format", "json"]),
        ("run again", ["run", "--config", config, "--now", NOW.replace(minute=45).isoformat()]),
        ("status", ["status", "--config", config, "--now", NOW.isoformat()]),
        ("test-mail", ["test-mail", "--config", config]),
        ("init again", ["init", "--config", config]),
    ]:
        code, outputs[name] = command(capsys, *argv)
        assert code == 0, (name, outputs[name])
    assert "读取" in outputs["run"] and "发送邮件" in outputs["run"]
    for name, text in outputs.items():
        assert_simplified(name, text)
    written = worker_written(workbook)
    assert HANS.tab_title("event_log") in written and len(written[HANS.tab_title("event_log")].splitlines()) > 5
    for title, text in written.items():
        assert_simplified(title, text)
    sent = mails(tmp_path / "outbox")
    assert len(sent) >= 4  # digests, the weekly mail, alerts, the test mail
    for text in sent + mails(tmp_path / "preview"):
        assert_simplified(text.splitlines()[0], text)


def test_errors_of_a_simplified_config_are_said_in_simplified(tmp_path, capsys):
    workbook = simplified_workbook(tmp_path / "data" / "锦绣花园.xlsx")
    bad = simplified_config(tmp_path / "bad", workbook, extra="[escalation]\nsupervisor_after_days = 0\n")
    code, text = command(capsys, "run", "--config", bad)
    assert code == 2 and "supervisor_after_days" in text
    assert_simplified("config error", text)

    code, text = command(capsys, "run", "--config", simplified_config(tmp_path, workbook), "--now", "昨天")
    assert code == 2 and "--now" in text
    assert_simplified("usage error", text)

    broken = tmp_path / "data" / "缺表头.xlsx"
    book = openpyxl.Workbook()
    book.active.title = HANS.main_tab_title
    book.active.append(["接待渠道", "业主姓名", "事由"])  # no 接待日期
    book.save(broken)
    code, text = command(capsys, "run", "--config", simplified_config(tmp_path / "broken", broken))
    assert code == 3 and "接待日期" in text
    assert_simplified("sheet error", text)


def test_init_on_a_google_sheet_in_simplified(sheets_standin, service_account, tmp_path, capsys):
    headers = [c.headers["zh-Hans"] for c in HANS.staff_columns]
    sid = make_sheet(sheets_standin, service_account.email, headers, [], title=HANS.main_tab_title,
                     extra_tabs={})
    config = google_config(tmp_path, sheets_standin.base_url, service_account.path, sid, language="zh-Hans",
                           name=CENTER)
    config.write_text(config.read_text(encoding="utf-8").replace("李強", "李强"), encoding="utf-8")
    code, text = command(capsys, "init", "--config", config)
    assert code == 0, text
    assert re.search("下拉选项|日期验证", text) and "逾期" in text
    assert_simplified("google init", text)
    for title in sheets_standin.sheet_titles(sid):
        assert_simplified(title, title)
        header = (sheets_standin.get_values(sid, title) or [[]])[0]
        assert_simplified(f"{title} header", " ".join(map(str, header)))
    for protection in sheets_standin.protected_ranges(sid):
        assert_simplified("protection", protection.get("description", ""))
