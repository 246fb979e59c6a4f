"""Errors a user can cause, end to end through the CLI (SPEC 5 exit codes, SPEC 6).

Each error names what to fix (config key and file, center, tab, header) and a center that
cannot be used is left exactly as it was: its file's bytes are compared before and after.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest

from tests.workbooks import (
    MAIN_HANT, SHUFFLED_HANT, build_workbook, records, row, run_at, run_cli, without_now_notice, write_config,
)

PROJECT = Path(__file__).resolve().parent.parent
NOW = "2026-03-10T09:00"
ROWS = [row("2026-03-10", 事由="漏水"), row("2026-03-03", 事由="噪音")]


def center_files(tmp_path: Path, headers: list[str] = SHUFFLED_HANT, name: str = "錦繡花園.xlsx", **kwargs) -> Path:
    return build_workbook(tmp_path / name, headers, ROWS, **kwargs)


# --- exit 3: the sheet is unusable, nothing is written --------------------------------------

@pytest.mark.parametrize("missing", ["房號", "事由", "接待日期"])
def test_spec_6_missing_required_header_exits_3_names_it_and_writes_nothing(tmp_path, capsys, missing):
    """SPEC 2.1 / 5 / 6: a missing required header stops the center before anything is written
    (exit 3); the message names the header and the tab."""
    workbook = center_files(tmp_path, [h for h in SHUFFLED_HANT if h != missing])
    before = workbook.read_bytes()
    code, out, err = run_at(capsys, write_config(tmp_path), NOW)
    assert code == 3
    assert f"「{missing}」" in err and f"分頁「{MAIN_HANT}」" in err and "錦繡花園服務中心" in err
    assert workbook.read_bytes() == before


def test_spec_2_1_neither_name_nor_phone_header_exits_3(tmp_path, capsys):
    """SPEC 3.2: the header of at least one of 業主姓名 / 聯系電話 must exist."""
    workbook = center_files(tmp_path, [h for h in SHUFFLED_HANT if h not in ("業主姓名", "聯系電話")])
    before = workbook.read_bytes()
    code, out, err = run_at(capsys, write_config(tmp_path), NOW)
    assert code == 3
    assert "業主姓名" in err and "聯系電話" in err
    assert workbook.read_bytes() == before


def test_spec_2_headers_match_after_trimming_and_by_variant_spelling(tmp_path, capsys):
    """SPEC 2 / 2.1: headers are matched after trimming spaces (ASCII and full-width), in either
    spelling mixed in one row, and variant spellings (聯繫電話, 房間號) are accepted."""
    headers = [" 接待日期 ", "业主姓名", "聯繫電話", "房間號\u3000", "事由", "类别"]
    workbook = build_workbook(tmp_path / "錦繡花園.xlsx", headers, [
        {" 接待日期 ": "2026-03-10", "业主姓名": "陳先生", "聯繫電話": "13812345678", "房間號\u3000": "1-101",
         "事由": "漏水", "类别": "投诉"}])
    code, out, err = run_at(capsys, write_config(tmp_path), NOW)
    assert (code, err) == (0, "")
    assert records(workbook)[0]["狀態"] == "處理中"


def test_spec_5_missing_main_tab_exits_3(tmp_path, capsys):
    """SPEC 5: a missing main tab is exit 3, naming the tab expected; nothing is written."""
    workbook = center_files(tmp_path, main_title="工作表1")
    before = workbook.read_bytes()
    code, out, err = run_at(capsys, write_config(tmp_path), NOW)
    assert code == 3
    assert f"「{MAIN_HANT}」" in err
    assert workbook.read_bytes() == before


def _truncated_xlsx(tmp_path: Path) -> bytes:
    whole = center_files(tmp_path, name="whole.xlsx").read_bytes()
    return whole[: len(whole) // 2]


def _zip_without_workbook(tmp_path: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "not a workbook")
    return buffer.getvalue()


def _zip_with_broken_xml(tmp_path: Path) -> bytes:
    source = center_files(tmp_path, name="source.xlsx")
    buffer = io.BytesIO()
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(buffer, "w") as archive:
        for item in original.infolist():
            data = original.read(item.filename)
            if item.filename == "xl/workbook.xml":
                data = data[: len(data) // 2]
            archive.writestr(item, data)
    return buffer.getvalue()


@pytest.mark.parametrize("content", [
    lambda tmp: b"\x00\x01garbage, not a zip" * 100,
    lambda tmp: b"",
    _truncated_xlsx,
    _zip_without_workbook,
    _zip_with_broken_xml,
], ids=["garbage", "empty", "truncated", "zip-without-workbook", "broken-xml"])
def test_spec_5_unreadable_workbook_exits_3(tmp_path, capsys, content):
    """SPEC 5: an unreadable file named .xlsx (garbage, empty, truncated, a zip that is not a
    workbook, a workbook with broken XML) is exit 3 naming the file; it is left as it was."""
    workbook = tmp_path / "錦繡花園.xlsx"
    workbook.write_bytes(content(tmp_path))
    before = workbook.read_bytes()
    code, out, err = run_at(capsys, write_config(tmp_path), NOW)
    assert code == 3, err
    assert "錦繡花園.xlsx" in err and "內部錯誤" not in err
    assert workbook.read_bytes() == before


def test_spec_5_workbook_path_that_is_no_xlsx_exits_3(tmp_path, capsys):
    """SPEC 5: a path to a file openpyxl cannot open at all (an old .xls) is an unusable sheet
    (exit 3 naming it), not an internal error."""
    (tmp_path / "舊表.xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512)
    code, out, err = run_at(capsys, write_config(tmp_path, [{"name": "舊中心", "path": "舊表.xls"}]), NOW)
    assert code == 3, err
    assert "舊表.xls" in err and "內部錯誤" not in err


def test_spec_5_missing_workbook_file_exits_3(tmp_path, capsys):
    """SPEC 5: a workbook path that does not exist is exit 3, naming the path and `init`."""
    code, out, err = run_at(capsys, write_config(tmp_path, [{"name": "新中心", "path": "無此檔.xlsx"}]), NOW)
    assert code == 3
    assert "無此檔.xlsx" in err and "init" in err
    assert not (tmp_path / "無此檔.xlsx").exists()


# --- exit 4: a workbook locked by an office program -----------------------------------------

@pytest.mark.parametrize("lock_name", [".~lock.錦繡花園.xlsx#", "~$錦繡花園.xlsx"])
def test_spec_5_workbook_open_in_an_office_program_exits_4_and_writes_nothing(tmp_path, capsys, lock_name):
    """SPEC 5: a workbook locked by another program (LibreOffice/WPS `.~lock.<name>#`, Excel
    `~$<name>`) is exit 4; nothing is written to it and no message is sent."""
    workbook = center_files(tmp_path)
    (tmp_path / lock_name).write_text("張麗,DESKTOP,2026-03-10", encoding="utf-8")
    before = workbook.read_bytes()
    code, out, err = run_at(capsys, write_config(tmp_path), NOW)
    assert code == 4
    assert lock_name in err
    assert workbook.read_bytes() == before
    assert not (tmp_path / "outbox").exists() or not any((tmp_path / "outbox").iterdir())
    # Once the program closes, the next run goes through.
    (tmp_path / lock_name).unlink()
    assert run_at(capsys, write_config(tmp_path), NOW)[0] == 0


def test_spec_4_2_emergency_goes_out_even_while_the_workbook_is_open_in_excel(tmp_path, capsys):
    """SPEC 4.2: 緊急 alerts go out even when the writes failed, once; a workbook open in Excel
    all day must not hold an emergency back. Nothing else is sent, and the workbook is not touched."""
    from .workbooks import SHUFFLED_HANT, build_workbook, row

    workbook = tmp_path / "錦繡花園.xlsx"
    build_workbook(workbook, SHUFFLED_HANT, [row("2026-03-10", 事由="配電房冒煙", 類別="緊急"),
                                            row("2026-03-10", 事由="噪音", 類別="投訴")])
    (tmp_path / "~$錦繡花園.xlsx").write_text("lock", encoding="utf-8")
    before = workbook.read_bytes()
    config = write_config(tmp_path)
    code, _, err = run_at(capsys, config, NOW)
    assert code == 4 and "~$錦繡花園.xlsx" in err
    assert workbook.read_bytes() == before
    sent = sorted(p.name for p in (tmp_path / "outbox").iterdir())
    assert len(sent) == 2 and all("emergency" in name for name in sent)  # supervisor and manager
    # Still locked: the local journal (SPEC 4.2) knows they went out, so not again; once
    # closed, the journal is copied into 運行日誌 and they never go again.
    assert run_at(capsys, config, "2026-03-10T09:10")[0] == 4
    assert len(list((tmp_path / "outbox").iterdir())) == 2
    (tmp_path / "~$錦繡花園.xlsx").unlink()
    assert run_at(capsys, config, "2026-03-10T09:20")[0] == 0
    assert len([p for p in (tmp_path / "outbox").iterdir() if "emergency" in p.name]) == 2
    assert run_at(capsys, config, "2026-03-10T09:30")[0] == 0
    assert len([p for p in (tmp_path / "outbox").iterdir() if "emergency" in p.name]) == 2


# --- exit 2: bad configuration or usage -----------------------------------------------------

BAD_CONFIGS = {
    "unknown key": ("[escalation]\nsupervisor_after_day = 2\n", "escalation.supervisor_after_day"),
    "wrong type": ('[escalation]\nsupervisor_after_days = "2"\n', "escalation.supervisor_after_days"),
    "bad timezone": ('timezone = "Asia/Beijing"\n', "timezone"),
    "bad day_basis": ('[escalation]\nday_basis = "weekday"\n', "escalation.day_basis"),
    "manager not after supervisor": ("[escalation]\nsupervisor_after_days = 3\nmanager_after_days = 3\n",
                                     "escalation.manager_after_days"),
    "category override": ('[escalation.categories."投訴"]\nsupervisor_after_days = 4\nmanager_after_days = 2\n',
                          "escalation.categories.投訴.manager_after_days"),
    "unknown category": ('[escalation.categories."維修"]\nsupervisor_after_days = 1\n', "escalation.categories.維修"),
    "bad language": ('language = "zh-TW"\n', "language"),
    "bad digest time": ('[schedule]\ndaily_digest_at = "8點半"\n', "schedule.daily_digest_at"),
    "bad toml": ("[escalation\n", "TOML"),
}
CENTER = ('[[centers]]\nname = "錦繡花園服務中心"\npath = "錦繡花園.xlsx"\n'
          'supervisor = { name = "王敏", email = "supervisor@example.com" }\n'
          'manager = { name = "李強", email = "manager@example.com" }\n')


@pytest.mark.parametrize("case", list(BAD_CONFIGS), ids=list(BAD_CONFIGS))
def test_spec_5_bad_config_exits_2_naming_key_and_file(tmp_path, capsys, case):
    """SPEC 5 / 6: a bad configuration is exit 2; the message names the config file and the key."""
    text, key = BAD_CONFIGS[case]
    workbook = center_files(tmp_path)
    before = workbook.read_bytes()
    config = tmp_path / "設定.toml"
    config.write_text(text + "\n" + CENTER, encoding="utf-8")
    code, out, err = run_at(capsys, config, NOW)
    assert code == 2
    assert str(config) in err and key in err
    assert workbook.read_bytes() == before


@pytest.mark.parametrize("text, key", [
    ('timezone = "Asia/Shanghai"\n', "centers"),
    ('[[centers]]\nname = "甲"\npath = "a.xlsx"\nmanager = { name = "李強", email = "m@example.com" }\n',
     "centers[1]（甲）.supervisor"),
    ('[[centers]]\nname = "甲"\npath = "a.xlsx"\nsupervisor = { name = "王敏", email = "王敏" }\n'
     'manager = { name = "李強", email = "m@example.com" }\n', "centers[1]（甲）.supervisor.email"),
], ids=["no centers", "no supervisor", "bad email"])
def test_spec_5_bad_centers_exit_2_naming_the_key(tmp_path, capsys, text, key):
    """SPEC 5: missing [[centers]], a center without its supervisor, an address that is not one."""
    config = tmp_path / "config.toml"
    config.write_text(text, encoding="utf-8")
    code, out, err = run_at(capsys, config, NOW)
    assert code == 2
    assert str(config) in err and key in err


def test_spec_5_missing_config_file_exits_2(tmp_path, capsys):
    """SPEC 5: a config file that does not exist is exit 2, naming the path."""
    code, out, err = run_cli(capsys, "run", "--config", tmp_path / "nowhere.toml")
    assert code == 2 and "nowhere.toml" in err


@pytest.mark.parametrize("now", ["yesterday", "2026-13-01T09:00", "2026-03-10 25:00"])
def test_spec_5_garbage_now_exits_2_and_writes_nothing(tmp_path, capsys, now):
    """SPEC 5: `run --now` takes an ISO date-time; anything else is a usage error (exit 2) naming
    the option, before any center is touched."""
    workbook = center_files(tmp_path)
    before = workbook.read_bytes()
    code, out, err = run_at(capsys, write_config(tmp_path), now)
    assert code == 2
    assert "--now" in err
    assert workbook.read_bytes() == before


def test_spec_5_usage_errors_exit_2(capsys):
    """SPEC 5: an unknown command or a missing --config is a usage error (exit 2)."""
    assert run_cli(capsys, "launch")[0] == 2
    code, out, err = run_cli(capsys, "run")
    assert code == 2 and "--config" in err


# --- several centers ------------------------------------------------------------------------

def test_spec_5_one_failing_center_does_not_stop_the_others_worst_code_wins(tmp_path, capsys):
    """SPEC 5: one run handles every center; a center with a missing header (exit 3) or a
    locked workbook (exit 4) does not stop the others, which are written; the worst code wins."""
    broken = build_workbook(tmp_path / "乙.xlsx", [h for h in SHUFFLED_HANT if h != "房號"], ROWS)
    good_first = center_files(tmp_path, name="甲.xlsx")
    good_last = center_files(tmp_path, name="丙.xlsx")
    broken_before = broken.read_bytes()
    config = write_config(tmp_path, [{"name": "甲中心", "path": "甲.xlsx"}, {"name": "乙中心", "path": "乙.xlsx"},
                                     {"name": "丙中心", "path": "丙.xlsx"}])
    code, out, err = run_at(capsys, config, NOW)
    assert code == 3
    assert "乙中心" in err and "「房號」" in err
    assert "甲中心" in out and "丙中心" in out
    assert broken.read_bytes() == broken_before
    assert [r["記錄編號"] for r in records(good_first)] == ["R20260310-001", "R20260303-001"]
    assert [r["記錄編號"] for r in records(good_last)] == ["R20260310-001", "R20260303-001"]

    (tmp_path / "~$丙.xlsx").write_text("lock", encoding="utf-8")
    code, out, err = run_at(capsys, config, "2026-03-10T10:00")
    assert code == 4  # locked (4) is worse than missing header (3)
    assert "乙中心" in err and "~$丙.xlsx" in err


# --- the process boundary: real exit statuses -----------------------------------------------

def test_spec_5_exit_codes_of_the_real_process(tmp_path):
    """SPEC 5: the exit status of `python -m automation` itself (not just main's return value):
    2 for a bad config, 3 for an unusable sheet, 0 for success; errors go to stderr."""
    def run(config: Path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "automation", "run", "--config", str(config), "--now", NOW],
                              cwd=PROJECT, capture_output=True, text=True, timeout=120)

    bad = tmp_path / "bad.toml"
    bad.write_text('timezone = "Mars/Base"\n' + CENTER, encoding="utf-8")
    center_files(tmp_path, [h for h in SHUFFLED_HANT if h != "事由"])
    good_folder = tmp_path / "good"
    good_folder.mkdir()
    center_files(good_folder)
    done = run(bad)
    assert (done.returncode, done.stdout) == (2, "") and "timezone" in done.stderr
    done = run(write_config(tmp_path))
    assert done.returncode == 3 and "「事由」" in done.stderr
    done = run(write_config(good_folder))
    assert (done.returncode, without_now_notice(done.stderr)) == (0, "")
    assert "本機時鐘" in done.stderr  # SPEC 5: --now far from the clock is said
    assert openpyxl.load_workbook(good_folder / "錦繡花園.xlsx").sheetnames[-1] == "運行日誌"


# --- --now: its range (SPEC 6) and the notice when it is far from the clock (SPEC 5) ---------

@pytest.mark.parametrize("now", ["0001-01-01", "1899-12-31T23:59", "9999-12-31T23:00", "9999-12-31T20:00-10:00"])
def test_spec_6_a_now_outside_the_years_1900_to_9999_is_a_usage_error(tmp_path, capsys, now):
    center_files(tmp_path)
    code, out, err = run_at(capsys, write_config(tmp_path), now)
    assert code == 2 and "--now" in err and now in err and out == ""


def test_spec_6_a_now_inside_the_range_runs(tmp_path, capsys):
    center_files(tmp_path)
    assert run_at(capsys, write_config(tmp_path), "1900-01-01T09:00", "--dry-run")[0] == 0


def test_spec_5_now_far_from_the_clock_is_said_before_the_run_naming_both_times(tmp_path, capsys):
    """The notice comes first, before any center's line, in the configured language; a --dry-run
    or a --now within the hour says nothing."""
    from automation import cli

    center_files(tmp_path)
    config_path = write_config(tmp_path)
    capsys.readouterr()
    assert cli.main(["run", "--config", str(config_path), "--now", "2026-03-10T09:00"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("警告：--now 2026-03-10 09:00 +0800 與本機時鐘 ") and "--dry-run" in err
    assert cli.main(["run", "--config", str(config_path), "--now", "2026-03-10T09:00", "--dry-run"]) == 0
    assert "本機時鐘" not in capsys.readouterr().err

    config = cli.load_config(config_path)
    clock = cli.parse_now("2026-03-10T09:59", config)
    hans = dataclasses.replace(config, language="zh-Hans")
    records_seen = []
    handler = logging.Handler()
    handler.emit = records_seen.append
    logging.getLogger("automation.cli").addHandler(handler)
    try:
        cli.warn_if_now_is_far(cli.parse_now("2026-03-10T09:00", config), clock, hans, dry_run=False)
        cli.warn_if_now_is_far(cli.parse_now("2026-03-10T08:58", config), clock, hans, dry_run=False)
    finally:
        logging.getLogger("automation.cli").removeHandler(handler)
    assert len(records_seen) == 1
    message = records_seen[0].getMessage()
    assert "2026-03-10 08:58 +0800" in message and "2026-03-10 09:59 +0800" in message and "本机时钟" in message
