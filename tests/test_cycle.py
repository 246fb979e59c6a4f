"""Many centers (issue 5): concurrent handling, config-order output, worst code wins, shards, and
stopping between centers. Real workbooks, the real CLI and CycleRunner."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys
import threading
from zoneinfo import ZoneInfo

import pytest

from automation import cli
from automation.application import commands
from automation.config import load_config
from automation.application.all_centers import CycleRunner, Shard
from automation.errors import ConfigError
from aiosmtpd.controller import Controller

from tests.ops_support import ROOT, SAFETY_LIMIT, make_workbook, write_config
from tests.smtp_server import free_port
from tests.workbooks import row

NAMES = [f"第{n}服務中心" for n in range(1, 9)]
NOW = dt.datetime(2026, 3, 10, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def many_centers(tmp_path, broken: set[int] = frozenset(), workers: int = 3):
    for index in range(len(NAMES)):
        if index not in broken:
            make_workbook(tmp_path / f"c{index}.xlsx")
    return write_config(tmp_path, [(name, f"c{i}.xlsx") for i, name in enumerate(NAMES)], workers=workers)


def test_shard_parsing_and_a_stable_partition():
    assert Shard.parse("2/3") == Shard(2, 3)
    for bad in ("0/3", "4/3", "1/0", "a/b", "3"):
        with pytest.raises(ConfigError):
            Shard.parse(bad)
    names = [f"中心{n}" for n in range(200)]
    parts = [[name for name in names if Shard(i, 4).includes(name)] for i in range(1, 5)]
    assert sorted(sum(parts, [])) == sorted(names)  # every center in exactly one shard
    assert all(30 <= len(part) <= 70 for part in parts)  # and spread, not all on one machine
    # Stable across processes (Python's own hash() is randomised per process; ours is not).
    code = "from automation.application.all_centers import Shard; print([Shard(2, 4).includes(f'中心{n}') for n in range(200)])"
    other = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                           env={"PYTHONHASHSEED": "12345", "PATH": ""}).stdout.strip()
    assert other == str([Shard(2, 4).includes(name) for name in names])


def test_run_over_many_centers_concurrently_prints_in_config_order_and_the_worst_code_wins(tmp_path):
    config = load_config(many_centers(tmp_path, broken={2, 5}))
    out, err = io.StringIO(), io.StringIO()
    assert commands.run_once(config, NOW, False, out=out, err=err) == 3
    lines = out.getvalue().splitlines()
    assert [line.split("：")[0] for line in lines] == [n for i, n in enumerate(NAMES) if i not in (2, 5)]
    assert all("讀取 2 行" in line for line in lines)
    errors = err.getvalue().splitlines()
    assert len(errors) == 2 and NAMES[2] in errors[0] and NAMES[5] in errors[1]


def test_centers_really_run_at_the_same_time(tmp_path):
    """Only the first center has a message to send (a complaint, alerted at first sight), and the
    loopback SMTP server holds it until every other center has finished: which can only happen
    if the others ran while the first was still in its cycle."""
    release = threading.Event()

    class HoldingHandler:
        async def handle_DATA(self, server, session, envelope):
            release.wait(SAFETY_LIMIT)  # blocks this server's loop: only one client in this test
            return "250 OK"

    make_workbook(tmp_path / "c0.xlsx", [row("2026-03-08 10:00", 類別="投訴", 事由="保潔人員態度差")])
    for index in range(1, len(NAMES)):
        make_workbook(tmp_path / f"c{index}.xlsx", [row("2026-03-08 10:00")])
    port = free_port()
    mail = f'transport = "smtp"\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\ntimeout_seconds = 60'
    config = load_config(write_config(tmp_path, [(name, f"c{i}.xlsx") for i, name in enumerate(NAMES)],
                                      workers=3, mail=mail))
    finished = []

    def progress(done, total, outcome):
        finished.append((outcome.center.name, release.is_set()))
        if done == total - 1:
            release.set()

    controller = Controller(HoldingHandler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        monday_morning = dt.datetime(2026, 3, 9, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # nothing else due
        outcomes = CycleRunner(config, command="run").run_cycle(monday_morning, on_progress=progress)
    finally:
        release.set()
        controller.stop()
    assert [o.exit_code for o in outcomes] == [0] * len(NAMES)
    assert outcomes[0].result.messages_sent == 1 and all(o.result.messages_sent == 0 for o in outcomes[1:])
    assert finished[-1] == (NAMES[0], True)
    assert all(not released for _, released in finished[:-1])


def test_a_stop_request_leaves_centers_not_yet_started_for_the_next_cycle(tmp_path):
    config = load_config(many_centers(tmp_path, workers=1))
    stop = threading.Event()
    runner = CycleRunner(config, command="serve", keep=True, stop=stop)
    outcomes = runner.run_cycle(NOW, on_progress=lambda done, total, outcome: stop.set() if done == 2 else None)
    runner.close()
    handled = [o for o in outcomes if not o.not_started]
    assert 2 <= len(handled) < len(NAMES)
    assert all(o.exit_code == 0 for o in handled)
    assert all(o.not_started for o in outcomes[len(handled):])  # in order: the rest never began


def test_shards_on_the_command_line_split_the_work_between_machines(tmp_path, capsys):
    config = many_centers(tmp_path)
    seen = []
    for shard in ("1/3", "2/3", "3/3"):
        capsys.readouterr()
        assert cli.main(["run", "--config", str(config), "--now", "2026-03-10T08:00", "--shard", shard]) == 0
        seen += [line.split("：")[0] for line in capsys.readouterr().out.splitlines()]
    assert sorted(seen) == sorted(NAMES)
    assert cli.main(["run", "--config", str(config), "--shard", "4/3"]) == 2
