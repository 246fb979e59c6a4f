"""One worker per Google spreadsheet (issue 5 point 2): the lease kept in the spreadsheet's
developer metadata (automation/adapters/google/lease.py), on the local Sheets stand-in.

Real parts throughout: the real CLI, a real `serve` in a child process, real backends, the real
gspread/google-auth stack against the stand-in. Time for the lease comes from an injected
clock (`WallClock`): expiry and refresh are tested by moving it, never by waiting.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import threading

import pytest

from automation import wiring
from automation.application import one_center
from automation.adapters.google import GoogleSheetsBackend
from automation.adapters.google import http as google_http
from automation.adapters.google import lease as google_lease
from automation.adapters.google import session as google_session
from automation.adapters.locks import LeaseLostError, LockOwner, SheetHeldError
from automation.config import load_config
from automation.application.all_centers import CycleRunner
from tests.google_support import FakeRetryClock, count_requests, google_config, make_sheet, records
from tests.messages_support import Outbox, subjects
from tests.ops_support import ROOT, ServeProcess
from tests.test_workbook_e2e import mixed_rows
from tests.workbooks import MAIN_HANT, SHUFFLED_HANT, row, run_at, run_cli
from tests.google_support import retry_clock  # noqa: F401  (autouse: retries on a fake clock)

CENTER = "錦繡花園服務中心"
T0 = dt.datetime(2026, 3, 10, 1, 0, tzinfo=dt.timezone.utc)
TTL = dt.timedelta(minutes=15)  # what CycleRunner gives: 3 intervals of 5 minutes
# A kept (serve) lease lives 6 intervals plus full_read_minutes (60): idle cycles (SPEC 7) do
# not refresh it, and the next full cycle may be that far away.
KEPT = dt.timedelta(minutes=30 + 60)



class WallClock:
    """The lease's clock: stands still until moved."""

    def __init__(self, start: dt.datetime = T0):
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def sheet(sheets_standin, service_account, tmp_path):
    """(spreadsheet id, config path) of a sheet with the usual sample rows."""
    sid = make_sheet(sheets_standin, service_account.email, SHUFFLED_HANT, mixed_rows())
    return sid, google_config(tmp_path, sheets_standin.base_url, service_account.path, sid)


def lease_records(standin, sid) -> list[dict]:
    return [m for m in standin.developer_metadata(sid) if m["metadataKey"] == google_lease.LEASE_KEY]


def lease_holder(standin, sid) -> dict | None:
    """The record's holder (live or released), None when there is no record."""
    found = lease_records(standin, sid)
    assert len(found) <= 1
    return json.loads(found[0]["metadataValue"]) if found else None


def released_by(standin, sid) -> int | None:
    """The pid that last had the sheet when the record is released (given up); None otherwise."""
    holder = lease_holder(standin, sid)
    if holder is None or not holder["expires"].startswith("1970-01-01"):
        return None
    return holder["pid"]


def backend_of(config_path, clock=None) -> GoogleSheetsBackend:
    config = load_config(config_path)
    return GoogleSheetsBackend.from_config(config.centers[0], config, clock=clock)


def far_owner(**changes) -> LockOwner:
    """A worker on another machine."""
    return LockOwner(**{"command": "serve", "ttl": TTL, "host": "reception-02", "pid": 4242, "machine_id": "m2",
                        "boot_id": "b2", "keeps": True, **changes})


def me(command: str = "run", keeps: bool = False) -> LockOwner:
    return LockOwner.this_process(command, TTL, keeps=keeps)


# --- a real serve in another process ----------------------------------------------------------

# The child refuses non-loopback host names, as the tests' own fixture does for this process:
# google-auth starts a background lookup at iamcredentials.googleapis.com after each token.
GUARDED_CLI = """
import socket, sys
real = socket.getaddrinfo
def loopback_only(host, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else host
    if name is None or name in ("localhost", "::1") or str(name).startswith("127."):
        return real(host, *args, **kwargs)
    raise socket.gaierror(socket.EAI_NONAME, "non-loopback network is blocked in tests: " + str(name))
socket.getaddrinfo = loopback_only
from automation.cli import main
sys.exit(main(sys.argv[1:]))
"""


class GuardedServe(ServeProcess):
    """`serve --log-format json --fake-clock …` in a child process, kept on the loopback."""

    def __enter__(self) -> "GuardedServe":
        self.process = subprocess.Popen([sys.executable, "-c", GUARDED_CLI, *self.argv], cwd=ROOT,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8")
        threading.Thread(target=self._read, daemon=True).start()
        return self


@pytest.fixture
def serve_config(sheets_standin, service_account, sheet, tmp_path):
    """The same sheet in the serve process's own config folder (its own outbox)."""
    sid, _ = sheet
    folder = tmp_path / "serve"
    folder.mkdir()
    return google_config(folder, sheets_standin.base_url, service_account.path, sid)


def test_run_while_serve_holds_the_sheet_exits_4_naming_it_and_proceeds_once_serve_stopped(
        sheets_standin, sheet, serve_config, tmp_path, capsys):
    sid, config = sheet
    with GuardedServe(serve_config, "2026-03-10T08:00+08:00") as serve:
        serve.wait_for(event="center_cycle")  # its first cycle went well: the lease is written
        holder = lease_holder(sheets_standin, sid)
        assert (holder["host"], holder["pid"], holder["command"]) == (socket.gethostname(), serve.pid, "serve")
        code, out, err = run_at(capsys, config, "2026-03-10T09:00")
        assert code == 4
        assert f"{socket.gethostname()} 上的進程 {serve.pid}（serve，自 " in err and "本次跳過" in err
        assert "reception-worker.lease" in err and CENTER in err
        assert not (tmp_path / "outbox").exists()  # nothing sent: the holder sends
        # init writes too: refused the same way.
        assert run_cli(capsys, "init", "--config", config)[0] == 4
        assert serve.stop() == 0  # SIGTERM: a clean stop gives the sheet up
    assert released_by(sheets_standin, sid) == serve.pid
    assert any(r.get("event") == "serve_stopped" for r in serve.records)
    code, out, err = run_at(capsys, config, "2026-03-10T09:00")
    assert code == 0, err
    assert released_by(sheets_standin, sid) == os.getpid()  # a one-shot run leaves no live record


def test_the_lease_of_a_killed_serve_is_taken_over_at_once_on_the_same_machine(
        sheets_standin, sheet, serve_config, capsys):
    sid, config = sheet
    with GuardedServe(serve_config, "2026-03-10T08:00+08:00") as serve:
        serve.wait_for(event="center_cycle")
        serve.process.send_signal(signal.SIGKILL)
        serve.process.wait()
    holder = lease_holder(sheets_standin, sid)
    assert holder["pid"] == serve.pid and released_by(sheets_standin, sid) is None  # left live behind
    code, out, err = run_at(capsys, config, "2026-03-10T09:00")
    assert code == 0, err
    assert released_by(sheets_standin, sid) == os.getpid()


# --- another machine: judged by expiry alone (injected clock) --------------------------------

def test_a_lease_from_another_machine_stands_until_it_expires_then_is_taken_over(sheets_standin, sheet):
    sid, config = sheet
    clock = WallClock()
    far_lease = backend_of(config, clock).worker_lock().acquire(far_owner())
    far_lease.hold()
    holder = lease_holder(sheets_standin, sid)
    assert holder["host"] == "reception-02" and holder["pid"] == 4242
    assert dt.datetime.fromisoformat(holder["expires"]) == T0 + KEPT

    clock.advance(minutes=90)  # its last moment: its process id means nothing here, only age counts
    lock = backend_of(config, clock).worker_lock()
    with pytest.raises(SheetHeldError) as refused:
        lock.acquire(me())
    assert refused.value.exit_code == 4 and refused.value.holder.pid == 4242
    assert "reception-02 上的進程 4242（serve，自 2026-03-10 09:00:00 起）" in str(refused.value)
    assert "鎖在 2026-03-10 10:30 後失效" in str(refused.value)  # in the configured timezone

    clock.advance(seconds=1)
    mine = lock.acquire(me("serve", keeps=True))
    assert lock.last_takeover[0].pid == 4242 and lock.last_takeover[1] == "expired"
    mine.hold()
    assert lease_holder(sheets_standin, sid)["pid"] == os.getpid()
    # The old holder wakes up: it learns it lost the sheet, and its release leaves ours alone.
    with pytest.raises(LeaseLostError):
        far_lease.hold()
    far_lease.release()
    assert lease_holder(sheets_standin, sid)["pid"] == os.getpid()
    mine.release()
    assert released_by(sheets_standin, sid) == os.getpid()


def test_run_skips_a_sheet_held_on_another_machine_reading_only_the_layout(sheets_standin, sheet, monkeypatch,
                                                                          tmp_path, capsys):
    sid, config = sheet
    clock = WallClock()
    monkeypatch.setattr(google_lease, "DEFAULT_CLOCK", clock)
    far_lease = backend_of(config).worker_lock().acquire(far_owner())
    far_lease.hold()
    before = sheets_standin.get_values(sid, MAIN_HANT)
    clock.advance(minutes=89)
    with count_requests(sheets_standin, "run refused") as refused:
        code, out, err = run_at(capsys, config, "2026-03-10T09:00")
    assert code == 4 and "reception-02 上的進程 4242（serve，自 " in err
    # the check cost the layout read alone (after the look at Drive: no state yet)
    assert refused.by_kind == {"drive.files.get": 1, "spreadsheets.get": 1}
    assert sheets_standin.get_values(sid, MAIN_HANT) == before and not (tmp_path / "outbox").exists()
    clock.advance(minutes=2)  # expired: the next run takes over
    code, out, err = run_at(capsys, config, "2026-03-10T09:00")
    assert code == 0, err
    assert records(sheets_standin, sid)[0]["記錄編號"] == "R20260310-001"
    assert released_by(sheets_standin, sid) == os.getpid()


def test_a_worker_that_lost_its_lease_cannot_write_even_once(sheets_standin, sheet):
    """The compare-and-swap rides in the write itself: a worker whose lease was taken over while
    it was busy (hung past its expiry) has its whole batch refused by Google, not applied."""
    sid, config_path = sheet
    config = load_config(config_path)
    clock = WallClock()
    slow = backend_of(config_path, clock)
    slow_lease = slow.worker_lock().acquire(far_owner())
    slow_lease.hold()
    snapshot_before = sheets_standin.get_values(sid, MAIN_HANT)

    clock.advance(minutes=91)  # hung past its expiry; another worker takes the sheet
    other = backend_of(config_path, clock).worker_lock().acquire(me("serve", keeps=True))
    other.hold()

    now = dt.datetime(2026, 3, 10, 9, 0, tzinfo=config.timezone)
    with pytest.raises(LeaseLostError) as lost:
        one_center.run_center(config.centers[0], config, now, slow, wiring.transport_for(config))
    assert lost.value.holder.pid == os.getpid()
    refused = [r for r in sheets_standin.requests_of("spreadsheets.batchUpdate") if r.status == 400]
    assert len(refused) == 1  # its write, carrying the swap from the record it last wrote
    swap = refused[0].body["requests"][1]["deleteDeveloperMetadata"]["dataFilter"]["developerMetadataLookup"]
    assert json.loads(swap["metadataValue"])["pid"] == 4242
    assert sheets_standin.get_values(sid, MAIN_HANT) == snapshot_before  # not one cell
    assert lease_holder(sheets_standin, sid)["pid"] == os.getpid()
    other.release()


def test_two_workers_that_both_found_the_sheet_free_never_both_write(sheets_standin, sheet):
    """Both read the layout before either wrote: the first to write takes the sheet, the
    second's batch is refused whole and it is told who holds the sheet."""
    sid, config_path = sheet
    config = load_config(config_path)
    first = backend_of(config_path).worker_lock().acquire(me("serve", keeps=True))
    second_backend = backend_of(config_path)
    second_backend.worker_lock().acquire(far_owner(command="run", keeps=False))
    first.hold()
    before = sheets_standin.get_values(sid, MAIN_HANT)
    now = dt.datetime(2026, 3, 10, 9, 0, tzinfo=config.timezone)
    with pytest.raises(SheetHeldError) as held:
        one_center.run_center(config.centers[0], config, now, second_backend, wiring.transport_for(config))
    assert not isinstance(held.value, LeaseLostError) and held.value.holder.pid == os.getpid()
    assert sheets_standin.get_values(sid, MAIN_HANT) == before
    first.release()


def test_a_write_based_on_a_read_older_than_another_workers_write_is_refused(sheets_standin, sheet):
    """Two one-shot runs at once, neither holding a live record: B runs its whole cycle between
    A's read and A's write. A's swap expects the record A's layout read found; B changed it (to
    B's released record, which no later swap can recreate), so A's batch is refused whole and
    A is told who wrote meanwhile."""
    sid, config_path = sheet
    config = load_config(config_path)
    now = dt.datetime(2026, 3, 10, 9, 0, tzinfo=config.timezone)
    a = backend_of(config_path)
    a.worker_lock().acquire(me())
    seen = {"batch_gets": 0}
    done: list[int] = []

    def b_runs_a_whole_cycle(method: str, path: str) -> None:
        if path.endswith("/values:batchGet"):
            seen["batch_gets"] += 1
            if seen["batch_gets"] == 2 and not done:  # A has read; this is its look just before writing
                done.append(1)
                outcome, = CycleRunner(config, command="run").run_cycle(now)
                assert outcome.exit_code == 0, outcome.error

    sheets_standin.before_request = b_runs_a_whole_cycle
    try:
        with pytest.raises(SheetHeldError) as skipped:
            one_center.run_center(config.centers[0], config, now, a, wiring.transport_for(config))
    finally:
        sheets_standin.before_request = None
    b_wrote = records(sheets_standin, sid)
    assert done and "之後，另一個程序" in str(skipped.value) and "寫入了它" in str(skipped.value)
    assert skipped.value.holder.command == "run"
    assert [r.status for r in sheets_standin.requests_of("spreadsheets.batchUpdate")][-1] == 400
    log = [r for r in sheets_standin.get_values(sid, "運行日誌")[1:] if r[1] == "分配記錄編號"]
    assert len(log) == 1 and all(r["記錄編號"] for r in b_wrote)  # B's cycle, once; nothing of A's


def test_a_record_that_cannot_be_read_does_not_block(sheets_standin, sheet, gspread_client, capsys):
    """A record someone wrote by hand (Google never leaves one half-written) is replaced."""
    sid, config = sheet
    gspread_client.open_by_key(sid).batch_update({"requests": [google_lease.create_request("not a lease")]})
    code, out, err = run_at(capsys, config, "2026-03-10T09:00")
    assert code == 0, err
    assert released_by(sheets_standin, sid) == os.getpid()


# --- serve: written once, refreshed rarely, given up at the end --------------------------------

def test_serve_refreshes_its_lease_inside_its_writes_or_when_expiry_is_near(sheets_standin, sheet, monkeypatch,
                                                                           capsys):
    sid, config_path = sheet
    clock = WallClock()
    monkeypatch.setattr(google_lease, "DEFAULT_CLOCK", clock)  # every backend built from here on
    config = load_config(config_path)
    runner = CycleRunner(config, command="serve", keep=True)
    start = dt.datetime(2026, 3, 10, 9, 0, tzinfo=config.timezone)
    counts: dict[int, int] = {}

    def cycle(minute: int) -> None:
        clock.now = T0 + dt.timedelta(minutes=minute)
        with count_requests(sheets_standin, f"serve at +{minute} min", show=False) as tally:
            outcome, = runner.run_cycle(start + dt.timedelta(minutes=minute))
        assert outcome.exit_code == 0, outcome.error
        counts[minute] = tally.sheets

    def expires() -> dt.datetime:
        return dt.datetime.fromisoformat(lease_holder(sheets_standin, sid)["expires"])

    try:
        cycle(0)  # changes and messages: the lease rides on the write
        holder = lease_holder(sheets_standin, sid)
        assert (holder["pid"], holder["command"]) == (os.getpid(), "serve")
        assert expires() == T0 + KEPT
        record, = lease_records(sheets_standin, sid)
        assert record["visibility"] == "DOCUMENT" and record["location"] == {"locationType": "SPREADSHEET",
                                                                               "spreadsheet": True}
        assert set(holder) == {"host", "pid", "command", "since", "expires", "token", "machine_id", "boot_id"}
        for minute in (5, 10):
            cycle(minute)
        sheets_standin.append_rows(sid, MAIN_HANT, [[{"房號": "2-202", "事由": "新來訪", "接待日期": "2026-03-10",
                                                     "業主姓名": "趙"}.get(h) for h in SHUFFLED_HANT]])
        cycle(15)  # a write: its batch refreshes the lease, no extra request
        assert counts[15] == 3 and expires() == T0 + dt.timedelta(minutes=15) + KEPT

        # A one-shot run meanwhile is told who holds the sheet.
        code, out, err = run_at(capsys, config_path, "2026-03-10T09:17")
        assert code == 4 and f"上的進程 {os.getpid()}（serve，自 " in err

        for minute in range(20, 95, 5):
            cycle(minute)
        # After a write one full read (1 Sheets request), then idle cycles cost 0 Sheets requests
        # and leave the lease alone (SPEC 7). The full read due after full_read_minutes (at +80)
        # refreshes it, less than 2.5 intervals + full_read_minutes being left; that write makes
        # the next cycle read once more.
        assert [counts[m] for m in (5, 10)] == [1, 0]
        assert [counts[m] for m in range(20, 95, 5)] == [1] + [0] * 11 + [2, 1, 0]
        assert expires() == T0 + dt.timedelta(minutes=80) + KEPT
    finally:
        runner.close()
    assert released_by(sheets_standin, sid) == os.getpid()


# --- request economy (issue 4) with the lease ------------------------------------------------

def test_one_shot_runs_fence_their_write_and_hold_the_lease_only_while_messages_go_out(sheets_standin,
                                                                                       sheet, capsys):
    """A one-shot run holds no live record between its requests: its write swaps the record to
    a released one in the same batch (2 + 2 requests, as without a lease). When it sends
    messages, a live record is written before the first goes out and released with their
    record (+2)."""
    sid, config = sheet
    with count_requests(sheets_standin, "one-shot run: changes, no messages") as changes:
        code, out, err = run_at(capsys, config, "2026-03-09T07:00")  # Monday, before digest and review
    assert code == 0, err
    assert changes.by_kind == {"drive.files.get": 1, "spreadsheets.get": 1, "values.batchGet": 2,
                               "spreadsheets.batchUpdate": 1}
    write = sheets_standin.requests_of("spreadsheets.batchUpdate")[-1].body["requests"]
    kinds = [next(iter(r)) for r in write]
    assert kinds[:2] == ["createDeveloperMetadata", "createDeveloperMetadata"]  # the write marker, the lease
    taken = write[1]["createDeveloperMetadata"]["developerMetadata"]
    assert taken["metadataId"] == google_lease.LEASE_ID and json.loads(taken["metadataValue"])["command"] == "run"
    assert released_by(sheets_standin, sid) == os.getpid()

    with count_requests(sheets_standin, "one-shot run: messages, no changes") as messages:
        code, out, err = run_at(capsys, config, "2026-03-09T09:00")
    assert code == 0, err
    assert messages.by_kind == {"drive.files.get": 1, "spreadsheets.get": 1, "values.batchGet": 1,
                                "spreadsheets.batchUpdate": 2}
    hold, record = (r.body["requests"] for r in sheets_standin.requests_of("spreadsheets.batchUpdate")[-2:])
    # marker, then the swap from the released record to a live one; then, with the log rows, back
    assert [next(iter(r)) for r in hold] == ["updateDeveloperMetadata", "deleteDeveloperMetadata",
                                           "createDeveloperMetadata"]
    live = json.loads(hold[2]["createDeveloperMetadata"]["developerMetadata"]["metadataValue"])
    assert live["expires"] > "2000" and live["command"] == "run"
    assert [next(iter(r)) for r in record[:3]] == ["updateDeveloperMetadata", "deleteDeveloperMetadata",
                                                 "createDeveloperMetadata"]
    assert "appendCells" in {next(iter(r)) for r in record}
    assert released_by(sheets_standin, sid) == os.getpid()

    with count_requests(sheets_standin, "one-shot run: after its write") as after:
        assert run_at(capsys, config, "2026-03-09T09:05")[0] == 0
    assert after.by_kind == {"drive.files.get": 1, "spreadsheets.get": 1, "values.batchGet": 1}
    with count_requests(sheets_standin, "one-shot run: idle") as idle:
        assert run_at(capsys, config, "2026-03-09T09:10")[0] == 0
    assert idle.by_kind == {"drive.files.get": 1}


def test_an_emergency_is_not_held_back_when_the_lease_cannot_be_written(sheets_standin, service_account,
                                                                         tmp_path, capsys):
    """Google takes no writes: the cycle's write fails (exit 4), and so does writing the lease
    before the messages; the emergency alert goes out all the same (SPEC 4.2)."""
    sid = make_sheet(sheets_standin, service_account.email, SHUFFLED_HANT,
                     [row("2026-03-10 08:40", 事由="電梯困人", 類別="緊急", 房號="3-0801")])
    config = google_config(tmp_path, sheets_standin.base_url, service_account.path, sid)
    sheets_standin.inject_fault(503, count=10_000, kinds="spreadsheets.batchUpdate")
    code, out, err = run_at(capsys, config, "2026-03-10T09:00")
    assert code == 4 and "HTTP 503" in err
    sent = subjects(Outbox(tmp_path / "outbox").all())
    assert sent and all("緊急" in subject for subject in sent)


def test_dry_run_neither_checks_nor_takes_the_lease(sheets_standin, sheet, capsys):
    sid, config = sheet
    far_lease = backend_of(config).worker_lock().acquire(far_owner())
    far_lease.hold()
    with count_requests(sheets_standin, "dry run") as tally:
        code, out, err = run_at(capsys, config, "2026-03-10T09:00", "--dry-run")
    assert code == 0 and "試運行" in out
    assert tally.by_kind == {"spreadsheets.get": 1, "values.batchGet": 1}
    far_lease.release()
    assert records(sheets_standin, sid)[0].get("記錄編號") is None


# --- SPEC 6: Google refusing the lease's compare-and-swap shape -----------------------------

def lease_swaps(standin) -> list[tuple[int | None, bool]]:
    """(HTTP status, whether it carries a lease record's delete and re-create) of every write."""
    out = []
    for request in standin.requests_of("spreadsheets.batchUpdate"):
        kinds = [next(iter(r)) for r in request.body["requests"]]
        swap = "deleteDeveloperMetadata" in kinds and any(
            r.get("createDeveloperMetadata", {}).get("developerMetadata", {}).get("metadataId") == google_lease.LEASE_ID
            for r in request.body["requests"])
        out.append((request.status, swap))
    return out


@pytest.mark.parametrize("refused", [False, True], ids=["swap accepted", "swap refused"])
def test_every_write_after_the_first_swaps_the_lease_and_a_refused_swap_means_no_lease_not_a_failure(
        sheets_standin, sheet, capsys, caplog, monkeypatch, refused):
    """Every write batch after the first deletes and re-creates the lease record's id in one
    batch. Google accepting that (the stand-in's default): each is applied, no warning. Google
    refusing it (the stand-in's switch): the write goes through without the lease, every cycle
    and every command succeeds, and the warning is given once in the process."""
    monkeypatch.setattr(google_session, "WARNED_SWAP_REFUSED", threading.Event())
    sheets_standin.refuse_metadata_id_reuse = refused
    sid, config = sheet
    for now in ("2026-03-09T07:00", "2026-03-09T09:00", "2026-03-10T09:00", "2026-03-11T09:00"):
        code, out, err = run_at(capsys, config, now)
        assert code == 0, err
    swaps = lease_swaps(sheets_standin)
    assert swaps[0] == (200, False)  # the first write creates the record
    assert [swap for status, swap in swaps[1:] if status == 200] != []
    assert any(swap for _, swap in swaps[1:])
    warnings = [r for r in caplog.records if getattr(r, "event", "") == "lease_swap_refused"]
    if refused:
        assert all(status == 400 for status, swap in swaps[1:] if swap)
        assert len(warnings) == 1 and "不加鎖" in warnings[0].getMessage()
    else:
        assert all(status == 200 for status, _ in swaps)
        assert warnings == []
        assert released_by(sheets_standin, sid) == os.getpid()
    # Either way the sheet got every cycle's work: escalations, the event log with messages.
    assert "已升級主管" in [r["狀態"] for r in records(sheets_standin, sid)]
    assert any("郵件已發送" in str(row) for row in sheets_standin.get_values(sid, "運行日誌"))

    if refused:  # a serve-style runner keeps its backend: one refused swap, then unfenced writes
        runner = CycleRunner(load_config(config), command="serve", keep=True)
        try:
            for day in (12, 13):
                [outcome] = runner.run_cycle(dt.datetime(2026, 3, day, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))))
                assert outcome.exit_code == 0, outcome.error
        finally:
            runner.close()
        assert len([r for r in caplog.records if getattr(r, "event", "") == "lease_swap_refused"]) == 1


# --- a rollout (deploy/kubernetes): two pods of one shard at once -----------------------------

def test_a_rollout_two_workers_on_one_sheet_never_both_write(sheets_standin, sheet, tmp_path, monkeypatch):
    """The new pod of a shard starts while the old one still runs (a StatefulSet rollout, or an
    old pod hanging past its grace period). The sheet's lease keeps the new one off the sheet
    while the old one holds it; once the old one stops (SIGTERM: the lease is given up) the new
    one takes over. Each pod has its own state_dir; every id and every message exists once."""
    sid, config_path = sheet
    clock = WallClock()
    monkeypatch.setattr(google_lease, "DEFAULT_CLOCK", clock)
    new_path = config_path.with_name("new-pod.toml")
    new_path.write_text('state_dir = "state-new-pod"\n' + config_path.read_text(encoding="utf-8"), encoding="utf-8")
    old = CycleRunner(load_config(config_path), command="serve", keep=True)
    new = CycleRunner(load_config(new_path), command="serve", keep=True)
    new.owner = far_owner()  # another pod: another host
    start = dt.datetime(2026, 3, 10, 9, 0, tzinfo=old.config.timezone)

    def cycle(runner: CycleRunner, minute: int):
        clock.now = T0 + dt.timedelta(minutes=minute)
        outcome, = runner.run_cycle(start + dt.timedelta(minutes=minute))
        return outcome

    try:
        assert cycle(old, 0).exit_code == 0  # the old pod: ids, statuses, digests; its lease live
        sheets_standin.append_rows(sid, MAIN_HANT, [[{"房號": "2-202", "事由": "新來訪", "接待日期": "2026-03-10",
                                                     "業主姓名": "趙"}.get(h) for h in SHUFFLED_HANT]])
        before = sheets_standin.get_values(sid, MAIN_HANT)
        skipped = cycle(new, 1)
        assert skipped.held and skipped.exit_code == 4
        assert sheets_standin.get_values(sid, MAIN_HANT) == before  # not one cell
        handled = cycle(old, 5)
        assert handled.exit_code == 0 and handled.result.cells_written > 0
        assert cycle(new, 6).held
    finally:
        old.close()  # SIGTERM to the old pod: it gives the sheet up
    try:
        taken = cycle(new, 11)
        assert taken.exit_code == 0 and not taken.held
        assert lease_holder(sheets_standin, sid)["host"] == "reception-02"
        assert cycle(new, 16).exit_code == 0
    finally:
        new.close()
    ids = [r["記錄編號"] for r in records(sheets_standin, sid)]
    assert all(ids) and len(ids) == len(set(ids)) and ids[-1] == "R20260310-002"
    sent = Outbox(tmp_path / "outbox").all()
    assert sent and len({m["Message-ID"] for m in sent}) == len(sent)  # no message twice
