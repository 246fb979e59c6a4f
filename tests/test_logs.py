"""Logs an operator can use (issue 5): one line per center per cycle, JSON for collectors, and
never a phone number, a password or a key in a line — checked on the real CLI in a child process
against a real SMTP server on loopback that refuses the login."""

from __future__ import annotations

import json
import logging
import os
import pty
import subprocess
import sys

import pytest

from automation import logs
from tests.ops_support import ROOT, SAFETY_LIMIT, make_workbook, run_cli_process, write_config
from tests.smtp_server import USERNAME, LoopbackSmtp
from tests.workbooks import row, without_now_notice

PHONE = "13812345678"
MASKED = "138****5678"
PASSWORD = "Wr0ng-but-S3cret-Pa55"  # the login is refused: the reason is logged, the password never


@pytest.fixture
def secret_env(monkeypatch):
    monkeypatch.setenv("RECEPTION_MAIL_PASSWORD", PASSWORD)
    return {"RECEPTION_MAIL_PASSWORD": PASSWORD}


# --- redaction (pure) --------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("業主 13812345678 來電", "業主 138****5678 來電"),
    ("手機 138-1234-5678。", "手機 138****5678。"),
    ("+86 138 1234 5678", "138****5678"),
    ("座機 0755-87654321", "座機 075*****4321"),
    ("(021)12345678", "021****5678"),
    ("致電13812345678。", "致電138****5678。"),
])
def test_phones_are_masked_as_outside_the_main_tab(text, expected):
    assert expected in logs.redact(text) and "1234" not in logs.redact(text).replace("4321", "").replace(
        "5678", "")


@pytest.mark.parametrize("text", [
    "第 12 行 R20261127-003：接待日期缺失", "2026-11-27 14:30:05", "pid 1234567", "用時 0.25 秒，API 請求 2 次",
    "cycle_at 2026-03-10T08:20:00+08:00", "讀取 13812 行", "R20260310-001、R20260310-002",
])
def test_ordinary_numbers_are_left_alone(text):
    assert logs.redact(text) == text


def test_secrets_keys_and_tokens_are_blanked():
    logs.register_secret("hunter2-Tr0ub4dor")
    text = logs.redact(
        'login hunter2-Tr0ub4dor; {"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEv\\n-----END PRIVATE KEY-----\\n", '
        '"private_key_id": "abc123"} Authorization: Bearer ya29.a0AfH6SMBxyz https://u:pw0rd@mail.example.com/x '
        "https://sheets.googleapis.com/v4?key=AIzaSyD-abc&alt=json password=letmein")
    for secret in ("hunter2-Tr0ub4dor", "MIIEv", "abc123", "ya29.a0AfH6SMBxyz", "pw0rd", "AIzaSyD-abc", "letmein"):
        assert secret not in text
    assert "mail.example.com" in text and "alt=json" in text


def test_json_lines_carry_fields_and_are_redacted():
    record = logging.LogRecord("automation.cycle", logging.WARNING, __file__, 1, "%s", (f"第 2 行：渠道「{PHONE}」",), None)
    record.event, record.fields = "row_note", {"center": "錦繡花園服務中心", "row": 2, "note": f"渠道「{PHONE}」"}
    document = json.loads(logs.JsonFormatter().format(record))
    assert document["event"] == "row_note" and document["level"] == "WARNING" and document["row"] == 2
    assert PHONE not in json.dumps(document, ensure_ascii=False) and MASKED in document["note"]


def test_under_systemd_text_lines_carry_the_journal_priority():
    record = logging.LogRecord("automation.cycle", logging.WARNING, __file__, 1, "第 2 行：房號缺失", (), None)
    assert logs.TextFormatter(syslog_prefix=True).format(record).startswith("<4>")
    assert not logs.TextFormatter().format(record).startswith("<")


# --- the real CLI ------------------------------------------------------------------------------

def phone_bearing_workbook(path):
    """Rows as staff really type them: a phone typed into 接待日期 and into 接待渠道, so the
    rows' notes (系統提示, quoted in warnings) contain it."""
    return make_workbook(path, [
        row(PHONE, 事由="電梯按鍵失靈", 房號="1-1201"),
        row("2026-03-09 10:00", 事由="樓上漏水", 房號="2-0303", 接待渠道=f"致電{PHONE}", 類別="投訴"),
        row("2026-03-10 08:00", 事由="樓道燈不亮", 房號="3-0101"),
    ])


def smtp_config(tmp_path, server) -> str:
    return (f'transport = "smtp"\nhost = "127.0.0.1"\nport = {server.port}\nsecurity = "none"\n'
            f'username = "{USERNAME}"\npassword_env = "RECEPTION_MAIL_PASSWORD"\ntimeout_seconds = 10\n'
            'from = "frontdesk@example.com"')


def assert_clean(lines: list[str]) -> None:
    text = "\n".join(lines)
    assert PHONE not in text and "1234 5678" not in text and PASSWORD not in text


def test_run_json_logs_are_one_object_per_line_with_the_center_line_row_warnings_and_no_secrets(tmp_path, secret_env):
    phone_bearing_workbook(tmp_path / "錦繡花園.xlsx")
    with LoopbackSmtp(auth=True) as server:
        config = write_config(tmp_path, [("錦繡花園服務中心", "錦繡花園.xlsx")], mail=smtp_config(tmp_path, server))
        done = run_cli_process("run", "--config", config, "--now", "2026-03-10T09:00", "--log-format", "json",
                               env=secret_env)
    assert done.returncode == 4  # the messages could not be delivered: login refused
    lines = done.stderr.splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert_clean(lines + done.stdout.splitlines())
    center = [r for r in records if r["event"] == "center_cycle"]
    assert len(center) == 1 and center[0]["rows"] == 3 and center[0]["messages_failed"] >= 1
    assert center[0]["level"] == "WARNING" and "下次運行重試" in center[0]["error"]
    notes = [r for r in records if r["event"] == "row_note"]
    assert {(r["row"], r["record_id"][:10]) for r in notes} >= {(2, "R20260310-"), (3, "R20260309-")}
    assert any(MASKED in r["message"] for r in notes)
    # stdout keeps the human summary line of `run`.
    assert done.stdout.startswith("錦繡花園服務中心：讀取 3 行")


def test_serve_text_logs_name_center_and_row_and_hold_no_phone_or_password(tmp_path, secret_env):
    phone_bearing_workbook(tmp_path / "錦繡花園.xlsx")
    with LoopbackSmtp(auth=True) as server:
        config = write_config(tmp_path, [("錦繡花園服務中心", "錦繡花園.xlsx")], mail=smtp_config(tmp_path, server))
        child = subprocess.Popen([sys.executable, "-m", "automation", "serve", "--config", str(config),
                                  "--fake-clock", "2026-03-10T09:00"], cwd=ROOT, env={**os.environ, **secret_env},
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = []
        while sum("本輪完成" in line for line in lines) < 2:
            line = child.stderr.readline()
            assert line, "serve ended early:\n" + "".join(lines)
            lines.append(line)
        child.terminate()
        rest, _ = child.communicate(timeout=SAFETY_LIMIT)[1], None
    lines += rest.splitlines(keepends=True)
    assert child.returncode == 0
    assert_clean(lines)
    text = "".join(lines)
    assert "服務中心「錦繡花園服務中心」第 2 行 R20260310-" in text and MASKED in text
    assert "錦繡花園服務中心：讀取 3 行" in text and "已停止" in lines[-1]


def test_progress_on_a_terminal_and_none_otherwise(tmp_path):
    names = ["錦繡花園服務中心", "翠湖服務中心", "碧桂苑服務中心"]
    for index, _ in enumerate(names):
        make_workbook(tmp_path / f"c{index}.xlsx")
    config = write_config(tmp_path, [(name, f"c{i}.xlsx") for i, name in enumerate(names)], workers=2)
    argv = [sys.executable, "-m", "automation", "run", "--config", str(config), "--now", "2026-03-10T08:00"]

    master, slave = pty.openpty()
    child = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    out, _ = child.communicate(timeout=SAFETY_LIMIT)
    terminal = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        terminal += chunk
    os.close(master)
    assert child.returncode == 0
    shown = terminal.decode("utf-8")
    assert "[1/3]" in shown and "[3/3]" in shown and logs.ProgressLine.ERASE in shown
    assert shown.endswith(logs.ProgressLine.ERASE)  # erased at the end
    # The summary lines keep config order, whatever order the centers finished in.
    assert [line.split("：")[0] for line in out.splitlines()] == names

    piped = run_cli_process("run", "--config", config, "--now", "2026-03-10T08:05")
    assert piped.returncode == 0 and without_now_notice(piped.stderr) == ""
