"""SPEC 7: a cycle with nothing changed costs one `stat` (local workbook) or one Drive files.get
(Google Sheets, 0 Sheets requests); anything that may have changed makes it a full cycle.

Both ways, on both backends: an edit between cycles is always seen (also one made while a full
read ran, and whatever the skew between this machine's clock and Google's); a cycle after
midnight, at digest or review time, after full_read_minutes, after a write, after the state was
lost or the config changed reads in full; nothing else does.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from automation.adapters.google import drive as google_drive
from automation.config import load_config
from automation.application.all_centers import CycleRunner, state_dir_of
from automation.domain import change_policy
from automation.domain.change_policy import FullRead, Schedule
from tests.google_support import count_requests, google_config, make_sheet, records as google_records
from tests.google_support import retry_clock  # noqa: F401  (autouse: retries on a fake clock)
from tests.test_workbook_e2e import mixed_rows
from tests.workbooks import (
    MAIN_HANT, SHUFFLED_HANT, build_workbook, count_workbook_parses, records, run_at, write_config,
)

TZ = dt.timezone(dt.timedelta(hours=8))
SCHEDULE = Schedule(dt.time(8, 30), 0, dt.time(9, 0), 60)


# --- the policy itself (pure) ---------------------------------------------------------------

def local(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=TZ)


def full_read(at: str, **changes) -> FullRead:
    values = dict(sheet="local:x.xlsx", config="c", stamp={"kind": "stat", "stat": [1, 2, 3, 4]},
                  at=local(at).isoformat())
    values.update(changes)
    return FullRead(**values)


def reason(record: FullRead | None, now: str, stamp=None) -> str:
    stamp = stamp if stamp is not None else {"kind": "stat", "stat": [1, 2, 3, 4]}
    return change_policy.full_read_reason(record, sheet="local:x.xlsx", config="c", stamp=stamp,
                                          now=local(now), schedule=SCHEDULE)


@pytest.mark.parametrize("last, now, expected", [
    ("2026-03-10 09:10", "2026-03-10 09:15", ""),              # Tuesday, nothing passed
    ("2026-03-10 09:10", "2026-03-10 10:09", ""),              # 59 minutes
    ("2026-03-10 09:10", "2026-03-10 10:10", "full_read_minutes"),
    ("2026-03-10 23:58", "2026-03-11 00:03", "midnight"),
    ("2026-03-10 08:28", "2026-03-10 08:33", "digest"),
    ("2026-03-10 08:30", "2026-03-10 08:35", ""),              # the digest cycle itself read in full
    ("2026-03-09 08:58", "2026-03-09 09:03", "weekly_review"),  # Monday
    ("2026-03-10 08:58", "2026-03-10 09:03", ""),              # not the review day
    ("2026-03-10 09:10", "2026-03-10 09:05", "clock_backwards"),
])
def test_moments_that_make_a_full_cycle(last, now, expected):
    assert reason(full_read(last), now) == expected


def test_what_else_makes_a_full_cycle():
    assert reason(None, "2026-03-10 09:15") == "no_state"
    assert reason(full_read("2026-03-10 09:10", wrote=True), "2026-03-10 09:15") == "wrote"
    assert reason(full_read("2026-03-10 09:10", pending=True), "2026-03-10 09:15") == "pending"
    assert reason(full_read("2026-03-10 09:10", config="other"), "2026-03-10 09:15") == "config_changed"
    assert reason(full_read("2026-03-10 09:10", sheet="local:y.xlsx"), "2026-03-10 09:15") == "config_changed"
    assert reason(full_read("2026-03-10 09:10"), "2026-03-10 09:15", {"kind": "stat", "stat": [9, 2, 3, 4]}) == "changed"
    assert change_policy.full_read_reason(full_read("2026-03-10 09:10"), sheet="local:x.xlsx", config="c",
                                          stamp=None, now=local("2026-03-10 09:15"), schedule=SCHEDULE) == "no_stamp"


def drive(modified: str, server_time: str) -> dict:
    return {"kind": "drive", "modified": modified, "server_time": server_time}


def test_drive_stamps_compare_google_times_only():
    looked = drive("2026-03-10T01:00:00.100Z", "2026-03-10T01:05:07+00:00")
    # unchanged modifiedTime: no change, whatever the times say
    assert not change_policy.sheet_changed(looked, drive("2026-03-10T01:00:00.100Z", "2026-03-10T09:00:00+00:00"))
    # moved after the look (an edit during or after the read): changed
    assert change_policy.sheet_changed(looked, drive("2026-03-10T01:05:07.900Z", "2026-03-10T01:10:00+00:00"))
    assert change_policy.sheet_changed(looked, drive("2026-03-10T01:05:07.000Z", "2026-03-10T01:10:00+00:00"))
    # moved, but to before the look (registered late; the read saw it): no change
    assert not change_policy.sheet_changed(looked, drive("2026-03-10T01:05:06.999Z", "2026-03-10T01:10:00+00:00"))
    assert change_policy.sheet_changed(looked, {"kind": "stat", "stat": [1]})


# --- local workbook ----------------------------------------------------------------------------

@pytest.fixture
def local_center(tmp_path):
    build_workbook(tmp_path / "錦繡花園.xlsx", SHUFFLED_HANT, mixed_rows())
    return tmp_path / "錦繡花園.xlsx", write_config(tmp_path)


@pytest.fixture
def parses(monkeypatch) -> list[int]:
    return count_workbook_parses(monkeypatch)


def file_stamp(path):
    found = path.stat()
    return found.st_mtime_ns, found.st_size, found.st_ino


def test_local_idle_run_does_not_open_the_workbook(local_center, parses, capsys):
    workbook, config = local_center
    assert run_at(capsys, config, "2026-03-10T09:00")[0] == 0  # writes ids, statuses, tabs
    assert run_at(capsys, config, "2026-03-10T09:05")[0] == 0  # reads again: the previous one wrote
    stamp, opened = file_stamp(workbook), len(parses)
    code, out, err = run_at(capsys, config, "2026-03-10T09:10")
    assert code == 0, err
    assert len(parses) == opened and file_stamp(workbook) == stamp
    assert "無變更" in out


def test_local_edit_between_runs_is_seen(local_center, parses, capsys):
    workbook, config = local_center
    run_at(capsys, config, "2026-03-10T09:00")
    run_at(capsys, config, "2026-03-10T09:05")
    book = openpyxl.load_workbook(workbook)
    sheet = book[MAIN_HANT]
    sheet.append([{"房號": "2-202", "事由": "新來訪", "接待日期": "2026-03-10", "業主姓名": "趙"}.get(h)
                  for h in SHUFFLED_HANT])
    book.save(workbook)
    code, out, err = run_at(capsys, config, "2026-03-10T09:10")
    assert code == 0, err
    assert records(workbook)[-1]["記錄編號"] == "R20260310-002"


def test_local_state_deleted_midnight_and_config_change_read_in_full(local_center, parses, capsys):
    workbook, config = local_center

    def parsed(now: str) -> bool:
        opened = len(parses)
        code, out, err = run_at(capsys, config, now)
        assert code == 0, err
        return len(parses) > opened

    assert parsed("2026-03-10T09:00") and parsed("2026-03-10T09:05") and not parsed("2026-03-10T09:10")
    shutil.rmtree(state_dir_of(load_config(config)) / "change")
    assert parsed("2026-03-10T09:15")  # the state lost: a full read
    assert not parsed("2026-03-10T09:20")
    before = records(workbook)
    assert parsed("2026-03-11T00:05")  # after midnight: the ladder moved
    assert records(workbook) != before  # statuses and deadlines moved with the day
    assert parsed("2026-03-11T00:10")  # it wrote: once more
    assert not parsed("2026-03-11T00:15")
    config.write_text(config.read_text(encoding="utf-8").replace("manager_after_days = 7", "manager_after_days = 6"),
                      encoding="utf-8")
    assert parsed("2026-03-11T00:20")  # the config changed


def test_local_dry_run_always_reads(local_center, parses, capsys):
    workbook, config = local_center
    run_at(capsys, config, "2026-03-10T09:00")
    run_at(capsys, config, "2026-03-10T09:05")
    opened = len(parses)
    code, out, err = run_at(capsys, config, "2026-03-10T09:10", "--dry-run")
    assert code == 0 and len(parses) == opened + 1


# --- Google Sheets -----------------------------------------------------------------------------

NEW_ROW = {"房號": "2-202", "事由": "新來訪", "接待日期": "2026-03-10", "業主姓名": "趙"}


@pytest.fixture
def google_center(sheets_standin, service_account, tmp_path):
    sid = make_sheet(sheets_standin, service_account.email, SHUFFLED_HANT, mixed_rows())
    return sid, google_config(tmp_path, sheets_standin.base_url, service_account.path, sid)


def settle(capsys, config, *times: str) -> None:
    """Runs that bring the center to rest: the first writes, the next reads once more."""
    for now in times:
        code, out, err = run_at(capsys, config, now)
        assert code == 0, err


def new_row() -> list:
    return [NEW_ROW.get(h) for h in SHUFFLED_HANT]


@pytest.mark.parametrize("skew_hours", [0, 3, -3])
def test_google_idle_costs_one_drive_request_and_an_edit_is_always_seen(sheets_standin, google_center, capsys,
                                                                         skew_hours):
    """Google's clock `skew_hours` away from ours changes nothing: only Google's times are compared."""
    sheets_standin.clock_offset = skew_hours * 3600
    sid, config = google_center
    settle(capsys, config, "2026-03-10T09:00", "2026-03-10T09:05")
    with count_requests(sheets_standin, "idle") as idle:
        code, out, err = run_at(capsys, config, "2026-03-10T09:10")
    assert code == 0 and idle.by_kind == {"drive.files.get": 1}
    sheets_standin.append_rows(sid, MAIN_HANT, [new_row()])
    with count_requests(sheets_standin, "after an edit") as edited:
        assert run_at(capsys, config, "2026-03-10T09:15")[0] == 0
    assert edited.by_kind == {"drive.files.get": 1, "spreadsheets.get": 1, "values.batchGet": 2,
                              "spreadsheets.batchUpdate": 1}
    assert google_records(sheets_standin, sid)[-1]["記錄編號"] == "R20260310-002"


def test_google_edit_made_during_a_full_read_is_seen_next_cycle(sheets_standin, google_center, capsys):
    sid, config = google_center
    settle(capsys, config, "2026-03-10T09:00")
    edited = []

    def staff_type_while_the_worker_reads(method: str, path: str) -> None:
        if path.endswith("/values:batchGet") and not edited:
            edited.append(1)
            sheets_standin.append_rows(sid, MAIN_HANT, [new_row()])  # lands after the read's look

    sheets_standin.before_request = staff_type_while_the_worker_reads
    try:
        assert run_at(capsys, config, "2026-03-10T09:05")[0] == 0  # full (the previous one wrote)
    finally:
        sheets_standin.before_request = None
    assert edited
    with count_requests(sheets_standin, "next cycle") as after:
        assert run_at(capsys, config, "2026-03-10T09:10")[0] == 0
    assert after.sheets > 0
    assert google_records(sheets_standin, sid)[-1]["記錄編號"] == "R20260310-002"


def test_google_digest_time_and_full_read_minutes_read_in_full(sheets_standin, google_center, tmp_path, capsys):
    sid, config = google_center
    settle(capsys, config, "2026-03-10T08:00", "2026-03-10T08:05")

    def sheets_requests(now: str) -> int:
        with count_requests(sheets_standin, now, show=False) as tally:
            code, out, err = run_at(capsys, config, now)
        assert code == 0, err
        return tally.sheets

    assert sheets_requests("2026-03-10T08:25") == 0
    outbox = tmp_path / "outbox"
    before = len(list(outbox.glob("*.eml"))) if outbox.exists() else 0
    assert sheets_requests("2026-03-10T08:35") > 0  # digest time: read, and the digest goes out
    assert len(list(outbox.glob("*.eml"))) > before
    assert sheets_requests("2026-03-10T08:40") > 0  # it wrote (the digest's record)
    assert sheets_requests("2026-03-10T08:45") == 0
    assert sheets_requests("2026-03-10T09:39") == 0
    assert sheets_requests("2026-03-10T09:40") > 0  # full_read_minutes after the last full read


def test_google_drive_unavailable_reads_in_full_every_cycle_warned_once(sheets_standin, google_center, caplog,
                                                                       monkeypatch):
    sid, config_path = google_center
    sheets_standin.drive_enabled = False
    monkeypatch.setattr(google_drive, "warned_accounts", set())  # a fresh process
    config = load_config(config_path)
    runner = CycleRunner(config, command="serve", keep=True)
    start = dt.datetime(2026, 3, 10, 9, 0, tzinfo=config.timezone)
    try:
        with caplog.at_level(logging.WARNING, logger="automation"):
            tallies = []
            for minute in (0, 5, 10, 15):
                with count_requests(sheets_standin, f"+{minute}", show=False) as tally:
                    outcome, = runner.run_cycle(start + dt.timedelta(minutes=minute))
                assert outcome.exit_code == 0, outcome.error
                tallies.append(tally)
    finally:
        runner.close()
    assert all(t.sheets >= 1 and t.by_kind.get("drive.files.get") == 1 for t in tallies)
    warnings = [r for r in caplog.records if "Drive API" in r.getMessage()]
    assert len(warnings) == 1 and "HTTP 403，accessNotConfigured" in warnings[0].getMessage()


def test_an_idle_one_shot_run_imports_neither_pandas_nor_openpyxl(local_center, capsys):
    """What keeps an idle cron `run` cheap at any size: the whole process only stats the file."""
    workbook, config = local_center
    settle_local = [run_at(capsys, config, now)[0] for now in ("2026-03-10T09:00", "2026-03-10T09:05")]
    assert settle_local == [0, 0]
    probe = ("import sys; from automation import cli; code = cli.main(['run', '--config', sys.argv[1], '--now', "
             "'2026-03-10T09:10']); print(code, sorted(m for m in ('pandas', 'openpyxl', 'numpy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe, str(config)], cwd=Path(__file__).resolve().parent.parent,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "無變更" in done.stdout and done.stdout.strip().endswith("0 []")
