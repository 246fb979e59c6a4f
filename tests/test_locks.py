"""One worker per sheet (issue 5): the lease on a local workbook, between real processes.

A holder is a real child process (`python -c …` taking the lease with automation's own code);
the other side is this test process or the real CLI. Expiry by age uses an injected clock."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap

import pytest

from automation import cli
from automation.adapters.locks import (
    Holder, LeaseLostError, LocalFileLock, LockOwner, SheetHeldError, lease_is_stale, lock_path_for,
)
from automation.errors import WorkbookLockedError
from tests.ops_support import ROOT, SAFETY_LIMIT, make_workbook, write_config

CENTER = "錦繡花園服務中心"
TTL = dt.timedelta(minutes=15)
T0 = dt.datetime(2026, 3, 10, 0, 0, tzinfo=dt.timezone.utc)

HOLDER = textwrap.dedent("""
    import datetime as dt, sys
    from pathlib import Path
    from automation.adapters.locks import LocalFileLock, LockOwner
    lease = LocalFileLock(Path(sys.argv[1]), "center").acquire(
        LockOwner.this_process(sys.argv[2], dt.timedelta(minutes=15)))
    print("held", flush=True)
    sys.stdin.readline()
    lease.release()
    print("released", flush=True)
""")


def holder_process(workbook, command: str = "serve") -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(workbook), command], cwd=ROOT,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    return child


def me(command: str = "run") -> LockOwner:
    return LockOwner.this_process(command, TTL)


def clock_at(moment: dt.datetime):
    return lambda: moment


def test_second_process_is_refused_and_told_who_holds_the_sheet_then_gets_it_after_release(tmp_path):
    workbook = make_workbook(tmp_path / "錦繡花園.xlsx")
    child = holder_process(workbook)
    try:
        with pytest.raises(SheetHeldError) as refused:
            LocalFileLock(workbook, CENTER).acquire(me())
        holder = refused.value.holder
        assert (holder.host, holder.pid, holder.command) == (socket.gethostname(), child.pid, "serve")
        message = str(refused.value)
        assert f"{socket.gethostname()} 上的進程 {child.pid}（serve，自 " in message and CENTER in message
        assert isinstance(refused.value, WorkbookLockedError) and refused.value.exit_code == 4
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "released"
    finally:
        child.kill()
        child.wait()
    lease = LocalFileLock(workbook, CENTER).acquire(me())
    assert json.loads(lock_path_for(workbook).read_text())["pid"] == os.getpid()
    lease.release()
    assert not lock_path_for(workbook).exists()


def test_the_lease_of_a_killed_holder_is_taken_over_at_once_on_the_same_machine(tmp_path):
    workbook = make_workbook(tmp_path / "錦繡花園.xlsx")
    child = holder_process(workbook)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert lock_path_for(workbook).exists()  # the dead holder left it behind
    lock = LocalFileLock(workbook, CENTER)
    lease = lock.acquire(me())
    previous, why = lock.last_takeover
    assert (previous.pid, why) == (child.pid, "process_ended")
    lease.release()


def test_a_lease_from_another_machine_stands_until_it_expires(tmp_path):
    workbook = make_workbook(tmp_path / "錦繡花園.xlsx")
    other = LockOwner("serve", TTL, host="reception-02", pid=4242, machine_id="m2", boot_id="b2")
    LocalFileLock(workbook, CENTER, clock=clock_at(T0)).acquire(other)
    # Its pid means nothing here: only age counts. Within the TTL it holds.
    with pytest.raises(SheetHeldError) as refused:
        LocalFileLock(workbook, CENTER, clock=clock_at(T0 + TTL)).acquire(me())
    assert "reception-02 上的進程 4242（serve，自 2026-03-10 00:00:00 起）" in str(refused.value)
    lock = LocalFileLock(workbook, CENTER, clock=clock_at(T0 + TTL + dt.timedelta(seconds=1)))
    lock.acquire(me()).release()
    assert lock.last_takeover[1] == "expired"


def test_a_refreshed_lease_keeps_standing_and_a_taken_over_one_is_reported_lost(tmp_path):
    workbook = make_workbook(tmp_path / "錦繡花園.xlsx")
    now = [T0]
    far = LockOwner("serve", TTL, host="reception-02", pid=4242, machine_id="m2")
    lease = LocalFileLock(workbook, CENTER, clock=lambda: now[0]).acquire(far)
    for _ in range(3):  # serve refreshing every 10 minutes keeps it, well past the first TTL
        now[0] += dt.timedelta(minutes=10)
        lease.refresh()
        with pytest.raises(SheetHeldError):
            LocalFileLock(workbook, CENTER, clock=lambda: now[0]).acquire(me())
    # The holder hangs past its TTL: someone else takes over; the holder learns it has lost it.
    now[0] += TTL + dt.timedelta(seconds=1)
    taken = LocalFileLock(workbook, CENTER, clock=lambda: now[0]).acquire(me())
    with pytest.raises(LeaseLostError) as lost:
        lease.refresh()
    assert lost.value.holder.pid == os.getpid()
    lease.release()  # does not remove the new holder's lease
    assert json.loads(lock_path_for(workbook).read_text())["token"] == taken.holder.token
    taken.release()


def test_a_lock_file_left_half_written_by_a_killed_process_does_not_block(tmp_path):
    workbook = make_workbook(tmp_path / "錦繡花園.xlsx")
    lock_path_for(workbook).write_text("")  # killed between O_EXCL and writing the record
    lock = LocalFileLock(workbook, CENTER)
    lock.acquire(me()).release()
    assert lock.last_takeover[1] == "expired"


def test_staleness_rules():
    owner = LockOwner("run", TTL, host="reception-01", pid=100, machine_id="m1", boot_id="b1")

    def holder(**changes):
        base = dict(host="reception-01", pid=200, command="serve", since=T0, expires=T0 + TTL, token="t",
                    machine_id="m1", boot_id="b1")
        base.update(changes)
        return Holder(**base)

    alive, dead = (lambda pid: True), (lambda pid: False)
    assert lease_is_stale(holder(), owner, T0, alive) == ""
    assert lease_is_stale(holder(), owner, T0, dead) == "process_ended"
    assert lease_is_stale(holder(), owner, T0 + TTL + dt.timedelta(seconds=1), alive) == "expired"
    assert lease_is_stale(holder(boot_id="b0"), owner, T0, alive) == "machine_restarted"
    # Same host name, another machine: its pids are not ours to judge.
    assert lease_is_stale(holder(machine_id="m9"), owner, T0, dead) == ""
    assert lease_is_stale(holder(host="reception-02"), owner, T0, dead) == ""
    # Round trip of the record, and a damaged one.
    assert Holder.from_json(holder().to_json()) == holder()
    assert Holder.from_json("{not json") is None


STRESS = textwrap.dedent("""
    import datetime as dt, os, sys, time
    from pathlib import Path
    from automation.adapters.locks import LocalFileLock, LockOwner, SheetHeldError
    workbook, marker, rounds = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    owner = LockOwner.this_process("run", dt.timedelta(minutes=15))
    done = overlaps = refusals = 0
    while done < rounds:
        try:
            lease = LocalFileLock(workbook, "center").acquire(owner)
        except SheetHeldError:
            refusals += 1
            time.sleep(0.0005)
            continue
        try:  # inside: nobody else may be here
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            os.close(fd)
            time.sleep(0.001)  # long enough that a second holder would be caught here
            os.unlink(marker)
        except FileExistsError:
            overlaps += 1
        lease.release()
        done += 1
    print(done, overlaps, refusals)
""")


def test_many_processes_racing_for_one_workbook_never_hold_it_together(tmp_path):
    workbook = make_workbook(tmp_path / "錦繡花園.xlsx")
    marker = tmp_path / "inside"
    children = [subprocess.Popen([sys.executable, "-c", STRESS, str(workbook), str(marker), "25"], cwd=ROOT,
                                 stdout=subprocess.PIPE, text=True) for _ in range(4)]
    results = [tuple(map(int, child.communicate(timeout=SAFETY_LIMIT)[0].split())) for child in children]
    assert [done for done, _, _ in results] == [25] * 4
    assert [overlaps for _, overlaps, _ in results] == [0] * 4
    assert not lock_path_for(workbook).exists()


def test_cli_run_skips_a_held_workbook_with_exit_4_and_proceeds_once_the_holder_died(tmp_path, capsys):
    workbook = make_workbook(tmp_path / "錦繡花園.xlsx")
    config = write_config(tmp_path, [(CENTER, "錦繡花園.xlsx")])
    child = holder_process(workbook, command="serve")
    before = workbook.read_bytes()
    capsys.readouterr()
    assert cli.main(["run", "--config", str(config), "--now", "2026-03-10T09:00"]) == 4
    err = capsys.readouterr().err
    assert f"上的進程 {child.pid}（serve，自 " in err and "本次跳過" in err
    assert workbook.read_bytes() == before
    # init is a writer too: refused the same way.
    assert cli.main(["init", "--config", str(config)]) == 4
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert cli.main(["run", "--config", str(config), "--now", "2026-03-10T09:00"]) == 0
    assert workbook.read_bytes() != before
    assert not lock_path_for(workbook).exists()
