"""`serve` (SPEC 5, issue 5): a real child process on a fake clock, watched through its JSON log.

The hidden `--fake-clock START` makes serve's clock jump forward instead of sleeping, so cycles
five (fake) minutes apart follow each other in a fraction of a second; the scheduling itself is
the `schedule` library's (driven through serve.ClockedScheduler)."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import signal
import threading

from automation import cli
from automation.adapters.locks import lock_path_for
from automation.serve import ClockedScheduler, FakeClock
from tests.ops_support import ServeProcess, make_workbook, write_atomically, write_config
from tests.workbooks import without_now_notice

START = "2026-03-10T08:20:00+08:00"
GOOD, BROKEN, LATER = "錦繡花園服務中心", "翠湖服務中心", "碧桂苑服務中心"


def at(record: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(record["cycle_at"])


def digests(outbox) -> list[str]:
    subjects = []
    for path in sorted(outbox.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        subjects.append(str(message["Subject"]))
    return [s for s in subjects if "客服主管每日隊列" in s]


# --- the scheduler on an injected clock (in process) -------------------------------------------

def test_clocked_scheduler_runs_jobs_by_the_injected_clock_and_survives_a_failing_job():
    clock = FakeClock(dt.datetime(2026, 3, 10, 8, 0, tzinfo=dt.timezone.utc), real_pause=0)
    scheduler = ClockedScheduler(clock)
    calls = []

    def job():
        calls.append(clock.now())
        if len(calls) == 2:
            raise RuntimeError("a failing cycle")

    scheduler.every(5).minutes.do(job)
    never = threading.Event()
    scheduler.run_pending()
    assert calls == [] and scheduler.idle_seconds == 300
    clock.sleep(299, never)
    scheduler.run_pending()
    assert calls == []
    clock.sleep(1, never)
    scheduler.run_pending()
    assert calls == [dt.datetime(2026, 3, 10, 8, 5, tzinfo=dt.timezone.utc)]
    clock.sleep(scheduler.idle_seconds, never)
    try:
        scheduler.run_pending()
    except RuntimeError:
        pass
    # The failed run was rescheduled all the same.
    assert scheduler.idle_seconds == 300
    clock.sleep(300, never)
    scheduler.run_pending()
    assert len(calls) == 3


# --- serve in a child process ----------------------------------------------------------------

def test_serve_cycles_every_interval_a_failing_center_does_not_stop_the_others_and_sigterm_exits_0(tmp_path):
    workbook = make_workbook(tmp_path / "good.xlsx")
    config = write_config(tmp_path, [(GOOD, "good.xlsx"), (BROKEN, "missing.xlsx")], interval=5)
    with ServeProcess(config, START) as serve:
        serve.wait_for(event="cycle_done", predicate=lambda r: at(r) >= dt.datetime.fromisoformat("2026-03-10T08:35+08:00"))
        assert lock_path_for(workbook).exists()  # the sheet is ours while we serve
        code = serve.stop(signal.SIGTERM)
    assert code == 0
    cycles = serve.of("cycle_done")
    moments = [at(r) for r in cycles]
    assert moments[0] == dt.datetime.fromisoformat(START)
    assert all(later - earlier == dt.timedelta(minutes=5) for earlier, later in zip(moments, moments[1:]))
    assert all(r["succeeded"] == 1 and r["failed"] == 1 for r in cycles)
    good = serve.of("center_cycle", center=GOOD)
    broken = serve.of("center_cycle", center=BROKEN)
    assert len(good) == len(broken) == len(cycles)
    assert all(r["exit_code"] == 0 and r["level"] == "INFO" and r["rows"] == 2 for r in good)
    assert all(r["exit_code"] == 3 and r["level"] == "ERROR" and "missing.xlsx" in r["message"] for r in broken)
    # Stopped cleanly: said so, released the sheet.
    assert serve.records[-1]["event"] == "serve_stopped"
    assert not lock_path_for(workbook).exists()
    # The supervisor digest went out once, at the first cycle at or after 08:30 (SPEC 4.2).
    assert digests(tmp_path / "outbox") == [f"[{GOOD}] 客服主管每日隊列 2026-03-10"]


def test_a_restart_loses_nothing_and_repeats_nothing(tmp_path):
    """Digests are due-driven: stopped before 08:30, started again after it, the digest goes
    at the first cycle of the new process, once; a third start the same day sends nothing."""
    make_workbook(tmp_path / "good.xlsx")
    config = write_config(tmp_path, [(GOOD, "good.xlsx")], interval=5)
    with ServeProcess(config, "2026-03-10T08:00:00+08:00") as serve:
        serve.wait_for(event="cycle_done", count=2)
        assert serve.stop(signal.SIGINT) == 0
    assert digests(tmp_path / "outbox") == []
    with ServeProcess(config, "2026-03-10T09:40:00+08:00") as serve:
        first = serve.wait_for(event="center_cycle")[0]
        assert first["messages_sent"] == 1
        serve.wait_for(event="cycle_done", count=2)
        assert serve.stop() == 0
    with ServeProcess(config, "2026-03-10T11:00:00+08:00") as serve:
        serve.wait_for(event="cycle_done", count=2)
        assert serve.stop() == 0
    assert all(r["messages_sent"] == 0 for r in serve.of("center_cycle"))
    assert digests(tmp_path / "outbox") == [f"[{GOOD}] 客服主管每日隊列 2026-03-10"]


def test_serve_reloads_a_changed_config_and_keeps_the_last_good_one_when_the_new_one_is_broken(tmp_path):
    make_workbook(tmp_path / "good.xlsx")
    make_workbook(tmp_path / "later.xlsx")
    config = write_config(tmp_path, [(GOOD, "good.xlsx")], interval=5)
    with ServeProcess(config, START) as serve:
        serve.wait_for(event="cycle_done")
        # A good change: a second center, a shorter interval.
        write_config(tmp_path, [(GOOD, "good.xlsx"), (LATER, "later.xlsx")], interval=2)
        reloaded = serve.wait_for(event="config_reloaded")[0]
        assert reloaded["interval_minutes"] == 2 and reloaded["centers"] == 2
        serve.wait_for(event="center_cycle", predicate=lambda r: r["center"] == LATER)
        # A broken change: the error is logged once, the last good config keeps running.
        write_atomically(config, config.read_text(encoding="utf-8") + "\n[schedule\n")
        rejected = serve.wait_for(event="config_rejected")[0]
        assert rejected["level"] == "ERROR" and "TOML" in rejected["message"]
        after = len(serve.records)
        serve.wait_for(event="cycle_done", count=3,
                       predicate=lambda r: serve.records.index(r) > after and r["centers"] == 2)
        # Fixed again: picked up.
        write_config(tmp_path, [(LATER, "later.xlsx")], interval=2)
        serve.wait_for(event="config_reloaded", count=2)
        serve.wait_for(event="cycle_done", predicate=lambda r: r["centers"] == 1)
        assert serve.stop() == 0
    assert len(serve.of("config_rejected")) == 1
    cycles = serve.of("cycle_done")
    two_minute_steps = [b - a for a, b in zip(map(at, cycles), map(at, cycles[1:]))][2:]
    assert dt.timedelta(minutes=2) in two_minute_steps


def test_run_while_serve_is_running_skips_the_center_and_names_the_holder(tmp_path, capsys):
    workbook = make_workbook(tmp_path / "good.xlsx")
    config = write_config(tmp_path, [(GOOD, "good.xlsx")], interval=5)
    with ServeProcess(config, START) as serve:
        serve.wait_for(event="cycle_done")
        before = workbook.read_bytes()
        capsys.readouterr()
        code = cli.main(["run", "--config", str(config), "--now", "2026-03-10T12:00"])
        err = without_now_notice(capsys.readouterr().err)
        assert code == 4
        assert f"進程 {serve.pid}" in err and "serve" in err and "2026-03-10" not in err.split("自")[0]
        assert workbook.read_bytes() == before
        assert serve.stop() == 0
    # Once serve stopped, run has the sheet.
    assert cli.main(["run", "--config", str(config), "--now", "2026-03-10T12:00"]) == 0


def test_a_config_still_being_written_is_not_mistaken_for_a_broken_one(tmp_path, caplog):
    """An editor writing the file in pieces: serve judges a new content only when it is the same
    at two checks in a row; a really broken one is reported once; SIGHUP reloads at once."""
    from automation.config import load_config
    from automation.serve import Server

    make_workbook(tmp_path / "good.xlsx")
    make_workbook(tmp_path / "later.xlsx")
    config_path = write_config(tmp_path, [(GOOD, "good.xlsx")], interval=5)
    server = Server(load_config(config_path), FakeClock(dt.datetime.fromisoformat(START), real_pause=0))
    caplog.set_level("INFO", logger="automation")

    def events():
        return [getattr(r, "event", "") for r in caplog.records]

    complete = write_config(tmp_path, [(GOOD, "good.xlsx"), (LATER, "later.xlsx")], name="next.toml").read_text(
        encoding="utf-8")
    config_path.write_text(complete[: len(complete) // 2], encoding="utf-8")  # half written
    server.reload_if_changed()
    config_path.write_text(complete, encoding="utf-8")  # finished before the next check
    server.reload_if_changed()
    assert events() == []
    server.reload_if_changed()
    assert events() == ["config_reloaded"] and len(server.config.centers) == 2

    config_path.write_text(complete + "\n[schedule\n", encoding="utf-8")
    for _ in range(5):
        server.reload_if_changed()
    assert events() == ["config_reloaded", "config_rejected"] and len(server.config.centers) == 2

    server.reload_requested.set()  # SIGHUP: judged at once, and said again
    server.reload_if_changed()
    assert events()[-1] == "config_rejected" and len(events()) == 3
    server.runner.close()
    server.wake.close()
