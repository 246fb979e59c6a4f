"""SPEC 4.2: the local journal of messages sent, under `state_dir` (automation/journal.py).

A workbook locked all day sends each 緊急 alert once; a crash between the transport accepting a
message and its record costs at most one repeat; a crash after the journal wrote it costs none.
Real parts: a real .xlsx, a real office lock file, a real SMTP server on loopback (aiosmtpd).
"""

from __future__ import annotations

import shutil

import pytest

from automation import wiring
from automation.application import one_center
from automation.adapters.workbook import WorkbookBackend
from automation.config import load_config
from automation.journal import MessageJournal
from tests.messages_support import (
    CENTER, MANAGER, SUPERVISOR, at, log_events, reception, run, smtp_mail, write_config, write_workbook,
)
from tests.smtp_server import LoopbackSmtp

EMERGENCY = f"[{CENTER}] 緊急 R20260309-001"
COMPLAINT = f"[{CENTER}] 投訴 R20260309-002"
OFFICE_LOCK = "~$reception.xlsx"


class Crash(BaseException):
    """The process dying at a chosen instant: nothing in the worker catches a BaseException."""


def subjects_received(server: LoopbackSmtp) -> list[str]:
    return [str(message.parsed()["Subject"]) for message in server.handler.received]


@pytest.fixture
def center(tmp_path):
    workbook = write_workbook(tmp_path / "reception.xlsx", [
        reception("2026-03-09", "配電房冒煙", "緊急"),
        reception("2026-03-09", "鄰居裝修噪音", "投訴"),
    ])
    return tmp_path, workbook


def test_a_workbook_locked_all_day_sends_one_emergency_alert_which_reaches_the_log_once_unlocked(center):
    folder, workbook = center
    (folder / OFFICE_LOCK).write_text("張麗", encoding="utf-8")
    with LoopbackSmtp() as server:
        config = write_config(folder, workbook, mail=smtp_mail(server.port))
        before = workbook.read_bytes()
        for hour in range(7, 19):  # every half hour from 07:00 to 18:30, the workbook open in Excel
            for minute in ("00", "30"):
                assert run(config, at(f"2026-03-09 {hour:02d}:{minute}")).code == 4
        assert sorted(subjects_received(server)) == [EMERGENCY, EMERGENCY]  # supervisor and manager, once
        assert sorted(r for m in server.handler.received for r in m.rcpt_tos) == [MANAGER, SUPERVISOR]
        assert workbook.read_bytes() == before
        journal = MessageJournal.for_center(load_config(config), load_config(config).centers[0])
        assert len(journal.entries()) == 2

        (folder / OFFICE_LOCK).unlink()
        assert run(config, at("2026-03-09 19:00")).code == 0
        assert subjects_received(server).count(EMERGENCY) == 2
        assert COMPLAINT in subjects_received(server)  # held back by the lock, out with the write
        alerts = [row for row in log_events(workbook, "郵件已發送") if "緊急" in row[3]]
        assert sorted((row[0], row[2]) for row in alerts) == [("2026-03-09 07:00:00", "R20260309-001")] * 2
        assert journal.entries() == [] and not journal.path.exists()  # copied, then trimmed

        assert run(config, at("2026-03-09 19:30")).code == 0
        assert subjects_received(server).count(EMERGENCY) == 2
        assert len([row for row in log_events(workbook, "郵件已發送") if "緊急" in row[3]]) == 2


class CrashAfterAccepting:
    """The SMTP transport, with the process dying right after the server accepted the n-th message,
    before the worker could journal it."""

    def __init__(self, transport, crash_after: int):
        self.transport, self.crash_after, self.accepted = transport, crash_after, 0

    def open(self):
        self.transport.open()

    def close(self):
        self.transport.close()

    def send(self, message):
        self.transport.send(message)
        self.accepted += 1
        if self.accepted == self.crash_after:
            raise Crash()


class CrashBeforeTheLogRecord(WorkbookBackend):
    """The process dying once the messages went out and were journaled, before 運行日誌 took them."""

    def append_log(self, *args, **kwargs):
        raise Crash()


def test_a_crash_between_sending_and_recording_costs_at_most_one_repeat(center):
    folder, workbook = center
    with LoopbackSmtp() as server:
        config = load_config(write_config(folder, workbook, mail=smtp_mail(server.port)))
        [center_config] = config.centers
        backend = WorkbookBackend(center_config.path, center_config.name)
        with pytest.raises(Crash):  # the first emergency alert went out, unrecorded anywhere
            one_center.run_center(center_config, config, at("2026-03-09 09:00"), backend,
                               CrashAfterAccepting(wiring.transport_for(config), crash_after=1))
        assert subjects_received(server) == [EMERGENCY]

        assert run(config.source, at("2026-03-09 09:05")).code == 0
        assert run(config.source, at("2026-03-09 09:10")).code == 0
        received = subjects_received(server)
        assert received.count(EMERGENCY) == 3  # one repeat (the crashed one), the other recipient once
        assert received.count(COMPLAINT) == 1
        assert len(set(received)) == len(received) - 2  # every other message exactly once
        # Each message recorded once: the crashed one's repeat carries the record.
        assert len(log_events(workbook, "郵件已發送")) == len(received) - 1


def test_a_crash_after_the_journal_took_the_record_costs_no_repeat_and_loses_no_record(center):
    folder, workbook = center
    with LoopbackSmtp() as server:
        config = load_config(write_config(folder, workbook, mail=smtp_mail(server.port)))
        [center_config] = config.centers
        crashing = CrashBeforeTheLogRecord(center_config.path, center_config.name)
        with pytest.raises(Crash):
            one_center.run_center(center_config, config, at("2026-03-09 09:00"), crashing, wiring.transport_for(config))
        first = subjects_received(server)
        assert first.count(EMERGENCY) == 2 and first.count(COMPLAINT) == 1 and len(first) == len(set(first)) + 1
        assert log_events(workbook, "郵件已發送") == []

        assert run(config.source, at("2026-03-09 09:05")).code == 0
        assert subjects_received(server) == first  # nothing sent twice
        logged = log_events(workbook, "郵件已發送")
        assert len(logged) == len(first) and {row[0] for row in logged} == {"2026-03-09 09:00:00"}


def test_losing_state_dir_costs_at_most_a_repeat(center):
    """The journal is lost while the workbook is still locked: the emergency goes once more (a
    repeat, never a loss), and is then journaled again."""
    folder, workbook = center
    (folder / OFFICE_LOCK).write_text("張麗", encoding="utf-8")
    with LoopbackSmtp() as server:
        config = write_config(folder, workbook, mail=smtp_mail(server.port))
        assert run(config, at("2026-03-09 09:00")).code == 4
        shutil.rmtree(folder / "state")
        assert run(config, at("2026-03-09 09:05")).code == 4
        assert run(config, at("2026-03-09 09:10")).code == 4
        assert subjects_received(server) == [EMERGENCY] * 4
