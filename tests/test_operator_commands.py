"""The operator's first hour (SPEC 5): `test-mail` against a real SMTP server on loopback, up and
down; `run --dry-run --preview DIR`; a failed delivery named in the run's own output; the command
line's help, version and usage errors in Chinese; output piped into `head`; `make demo` run again."""

from __future__ import annotations

import email
import email.policy
import io
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from automation import cli
from automation.application.demo import CONFIG, run_demo, write_sample_workbook
from tests.messages_support import SUPERVISOR, at, run, smtp_mail, write_config
from tests.smtp_server import PASSWORD, LoopbackSmtp, ca, ca_file, free_port  # noqa: F401  (ca fixtures)

ROOT = Path(__file__).resolve().parent.parent
NOW = at("2026-03-09 09:30")
PASSWORD_ENV = "RECEPTION_TEST_SMTP_PASSWORD"


@pytest.fixture
def workbook(tmp_path):
    path = tmp_path / "data" / "錦繡花園.xlsx"
    write_sample_workbook(path, NOW.date())
    return path


def command(*argv: str) -> tuple[int, str, str]:
    """`reception-worker ARGV` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = cli.main(list(argv))
        except SystemExit as exit_:
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


# ----- test-mail ------------------------------------------------------------------------------

def test_test_mail_sends_one_message_and_prints_the_servers_answers(tmp_path, workbook):
    with LoopbackSmtp() as server:
        config = write_config(tmp_path, workbook, mail=smtp_mail(server.port))
        code, out, err = command("test-mail", "--config", str(config))
        assert code == 0, err
        [message] = server.messages()
        assert message["To"].addresses[0].addr_spec == SUPERVISOR  # the first center's supervisor
        assert "郵件設定測試" in str(message["Subject"])
        assert "MAIL FROM:<frontdesk@example.com>：250" in out and "DATA：250" in out
        assert "測試郵件已被接受" in out

        code, out, err = command("test-mail", "--config", str(config), "--to", "someone@example.com")
        assert code == 0 and server.received[-1].rcpt_tos == ["someone@example.com"]


def test_test_mail_names_an_unreachable_host(tmp_path, workbook):
    config = write_config(tmp_path, workbook, mail=smtp_mail(free_port()))  # nobody listens there
    code, out, err = command("test-mail", "--config", str(config))
    assert code == 4
    assert "測試郵件未被接受：郵件伺服器無法連接 (127.0.0.1:" in err


def test_test_mail_names_a_refused_login_without_the_password(tmp_path, workbook, ca, ca_file, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "wrong-" + PASSWORD)
    with LoopbackSmtp(tls=ca, auth=True) as server:
        config = write_config(tmp_path, workbook, mail=smtp_mail(server.port, security="starttls", ca_file=ca_file,
                                                                   password_env=PASSWORD_ENV))
        code, out, err = command("test-mail", "--config", str(config))
        assert code == 4 and "郵件伺服器拒絕登入 (535" in err and PASSWORD not in err + out
        assert server.received == []
        monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
        code, out, err = command("test-mail", "--config", str(config))
        assert code == 0 and "AUTH：frontdesk 登入成功" in out and len(server.received) == 1


def test_test_mail_names_an_untrusted_certificate(tmp_path, workbook, ca):
    with LoopbackSmtp(tls=ca) as server:
        config = write_config(tmp_path, workbook, mail=smtp_mail(server.port, security="starttls"))  # no ca_file
        code, out, err = command("test-mail", "--config", str(config))
        assert code == 4 and "伺服器證書不受信任" in err and server.received == []


def test_test_mail_through_the_outbox_says_where_the_file_is(tmp_path, workbook):
    config = write_config(tmp_path, workbook)
    code, out, err = command("test-mail", "--config", str(config))
    assert code == 0, err
    [written] = (tmp_path / "outbox").glob("*.eml")
    assert written.name in out


# ----- a failed run names the cause --------------------------------------------------------------

def test_a_run_whose_mail_fails_names_the_cause_in_its_own_output(tmp_path, workbook):
    config = write_config(tmp_path, workbook, mail=smtp_mail(free_port()))
    result = run(config, NOW)
    assert result.code == 4
    assert "郵件伺服器無法連接 (127.0.0.1:" in result.err


# ----- --preview ---------------------------------------------------------------------------------

def test_preview_writes_what_would_go_out_and_sends_and_records_nothing(tmp_path, workbook):
    config = write_config(tmp_path, workbook)
    before = workbook.read_bytes()
    code, out, err = command("run", "--config", str(config), "--now", "2026-03-09T09:30", "--dry-run",
                             "--preview", str(tmp_path / "preview"))
    assert code == 0, err
    previews = sorted((tmp_path / "preview").glob("*.eml"))
    subjects = [str(email.message_from_bytes(path.read_bytes(), policy=email.policy.default)["Subject"])
                for path in previews]
    assert len(previews) == 10 and any("客服主管每日隊列 2026-03-09" in subject for subject in subjects)
    assert sum("季度復審 2025-Q4" in subject for subject in subjects) == 2  # 2026-03-09 is in the quarter after Q4's review day
    assert "預覽：10 封郵件已寫入" in out
    assert not (tmp_path / "outbox").exists()  # nothing sent
    assert workbook.read_bytes() == before  # nothing recorded

    code, out, err = command("run", "--config", str(config), "--preview", str(tmp_path / "p2"))
    assert code == 2 and "--preview 只能與 --dry-run 同用" in err


# ----- the command line ----------------------------------------------------------------------------

def test_help_is_chinese_and_names_the_config_option():
    code, out, err = command("run", "--help")
    assert code == 0
    assert "用法：" in out and "選項：" in out and "顯示本說明並退出" in out
    assert "--config FILE" in out and "設定檔（TOML" in out and "--preview DIR" in out
    for english in ("usage:", "options:", "show this help message"):
        assert english not in out


def test_usage_errors_are_chinese():
    code, out, err = command("run")
    assert code == 2 and "缺少必需的參數：--config" in err and "the following arguments are required" not in err
    code, out, err = command("flip")
    assert code == 2 and "無效" in err and "invalid choice" not in err


def test_version():
    code, out, err = command("--version")
    assert code == 0 and out.startswith("reception-worker ")


@pytest.mark.parametrize("argv", [["run", "--help"], ["--version"]])
def test_output_piped_into_head_ends_without_a_traceback(argv):
    # A pipe whose reader is already gone, as after `| head` has read its lines: every write fails.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        finished = subprocess.run([sys.executable, "-m", "automation", *argv], cwd=ROOT, stdout=write_end,
                                  stderr=subprocess.PIPE, timeout=120, check=False)
    finally:
        os.close(write_end)
    error = finished.stderr.decode("utf-8", "replace")
    assert "Traceback" not in error and "BrokenPipeError" not in error and "Exception ignored" not in error
    assert finished.returncode == 0


# ----- the demo run again ---------------------------------------------------------------------------

def test_demo_run_again_keeps_an_edited_config_and_lists_only_this_runs_mails(tmp_path):
    folder = tmp_path / "demo"
    first = io.StringIO()
    assert run_demo(folder, now=NOW, out=first) == 0
    config = folder / "config.toml"
    edited = CONFIG.replace('daily_digest_at = "00:00"', 'daily_digest_at = "07:00"')
    config.write_text(edited, encoding="utf-8")
    again = io.StringIO()
    run_demo(folder, now=NOW.replace(day=10), out=again)
    assert config.read_text(encoding="utf-8") == edited
    assert "已存在且改動過：保留原樣" in again.getvalue()
    listed = [line for line in again.getvalue().splitlines() if line.strip().endswith(".eml") or ".eml  " in line]
    assert listed and all("20260310" in line for line in listed)  # not the first run's 2026-03-09 mails
    hint = [line for line in again.getvalue().splitlines() if "再次運行" in line][0]
    assert "--config" in hint and os.path.isabs(hint.split("--config ")[1].strip().strip("'"))


# ----- logs ------------------------------------------------------------------------------------------

@pytest.fixture
def shanghai_logs():
    from automation import logs
    from zoneinfo import ZoneInfo

    logs.use_timezone(ZoneInfo("Asia/Shanghai"))
    yield logs
    logs.use_timezone(None)


def test_log_times_are_the_configured_local_time_with_its_offset(shanghai_logs):
    import logging

    record = logging.LogRecord("automation", logging.INFO, __file__, 1, "錦繡花園服務中心：讀取 28 行", None, None)
    record.created = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC
    line = shanghai_logs.TextFormatter().format(record)
    assert line.startswith("2026-05-29 04:26:40+08:00 信息 ")


def test_a_second_serve_says_once_that_another_worker_holds_the_sheet(tmp_path):
    from tests.ops_support import ServeProcess, make_workbook
    from tests.ops_support import write_config as write_ops_config
    from tests.test_locks import holder_process

    workbook = make_workbook(tmp_path / "good.xlsx")
    config = write_ops_config(tmp_path, [("錦繡花園服務中心", "good.xlsx")], interval=5)
    holder = holder_process(workbook, command="serve")
    try:
        with ServeProcess(config, "2026-03-10T08:20:00+08:00") as serve:
            serve.wait_for(event="cycle_done", count=3)
            assert serve.stop() == 0
        naming = [line for line in serve.lines if f"進程 {holder.pid}" in line]
        assert len(naming) == 1, naming
    finally:
        holder.kill()
        holder.wait()


# ----- one language throughout (SPEC 5.1) -------------------------------------------------------------

def test_switching_to_simplified_respells_the_workers_own_tabs_headers_and_output(tmp_path, workbook):
    import openpyxl

    config = write_config(tmp_path, workbook)
    assert run(config, NOW).code == 0  # written in Traditional first
    config = write_config(tmp_path, workbook, language="zh-Hans")
    code, out, err = command("init", "--config", str(config))
    assert code == 0, err
    assert "「類別」加上下拉选项" in out and "分页「主管隊列」改名为「主管队列」" in out
    result = run(config, NOW.replace(minute=45))
    assert result.code == 0, result.err
    assert "读取 " in result.out and "讀取" not in result.out
    book = openpyxl.load_workbook(workbook)
    assert {"主管队列", "经理队列", "待审核", "待回访", "周报", "运行日志"} <= set(book.sheetnames)
    assert not {"主管隊列", "經理隊列", "待審核", "待回訪", "週報", "運行日誌"} & set(book.sheetnames)
    headers = [cell.value for cell in book.worksheets[0][1]]
    assert headers[-5:] == ["记录编号", "当前负责人", "状态", "处理时限", "系统提示"]
    assert "事由" in headers and "類別" in headers  # staff's own headers stay as staff typed them
    assert [cell.value for cell in book["运行日志"][1]][:4] == ["时间", "事件", "记录编号", "详情"]
    code, out, err = command("init", "--config", str(config))
    assert out.strip().endswith("已是最新，无需修改")


# ----- printed commands work as printed; docs stand alone ----------------------------------------------

def test_the_install_step_installs_the_console_script_the_docs_print():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["scripts"]["reception-worker"] == "automation.cli:entry_point"
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "pip install" in makefile and "-e ." in makefile
    assert callable(cli.entry_point)


def test_readme_and_docs_link_only_inside_the_repository():
    import re

    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if page.name == "README.md":
                assert not re.match(r"[a-z]+:", target), (page.name, target)
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            resolved = (page.parent / target.split("#")[0]).resolve()
            assert resolved.is_relative_to(ROOT) and resolved.exists(), (page.name, target)
        assert "shared/SPEC" not in text, page.name


def test_each_docs_page_is_written_in_one_language():
    """English prose with the Chinese terms, or Chinese prose: not both within one page."""
    import re

    for page in sorted((ROOT / "docs").glob("*.md")):
        prose, in_code = [], False
        for line in page.read_text(encoding="utf-8").splitlines():
            if line.lstrip().startswith("```"):
                in_code = not in_code
            elif not in_code and line.strip() and not line.lstrip().startswith(("|", "![")):
                prose.append(re.sub(r"`[^`]*`|\([^)]*\)|\[[^\]]*\]", "", line))
        def cjk(line: str) -> int:
            return len(re.findall(r"[\u4e00-\u9fff]", line))

        def words(line: str) -> int:
            return len(re.findall(r"[A-Za-z]{3,}", line))

        if sum(map(cjk, prose)) > sum(map(words, prose)):  # a Chinese page: no English sentence
            odd = [line for line in prose if words(line) >= 6 and cjk(line) < 3]
        else:  # an English page: Chinese only as terms within English sentences
            odd = [line for line in prose if cjk(line) > 2 * words(line) + 4]
        assert not odd, (page.name, odd[:3])
