"""The local journal of messages sent (SPEC 4.2): what the event log could not take yet.

A message is recorded as sent in the sheet's 運行日誌, which is written after the message went
out. When the sheet cannot take that record — a workbook open in an office program all day, a
sheet unreachable, a crash between sending and recording — the record waits here, under
`state_dir/journal/`, one file per center:

- each message's event-log rows are appended as one JSON line and flushed to disk (fsync) right
  after the transport accepted it, before anything else happens;
- a cycle reads the journal with the event log: a message recorded in either is not sent again;
- at the next successful write the cycle copies the rows the event log lacks into it (with the
  time the message was sent, as journaled), then trims the journal of every message the log now
  holds.

Losing the folder costs at most a repeat, never a loss: the event log stays the record that
counts. The lines hold what the event log would: times, event names, record ids, subjects,
recipients' addresses and Message-IDs — no owner data. A line cut short by a crash is skipped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .config import CenterConfig, Config, state_directory
from .logs import event_record

log = logging.getLogger("automation.journal")

JOURNAL_FOLDER = "journal"


@dataclass(frozen=True)
class JournalEntry:
    """One message sent: its Message-ID and the event-log rows that record it."""

    message_id: str
    rows: tuple[tuple[str, ...], ...]


def _line(center: str, message_id: str, rows: Iterable[Iterable[str]]) -> str:
    return json.dumps({"center": center, "message_id": message_id, "rows": [list(r) for r in rows]},
                      ensure_ascii=False) + "\n"


class MessageJournal:
    """The journal of one center (see the module docstring)."""

    def __init__(self, directory: Path, center: str):
        self.center = center
        digest = hashlib.sha256(center.encode("utf-8")).hexdigest()[:16]
        self.path = Path(directory) / JOURNAL_FOLDER / f"{digest}.jsonl"
        self._warned = False

    @classmethod
    def for_center(cls, config: Config, center: CenterConfig) -> "MessageJournal":
        return cls(state_directory(config), center.name)

    def entries(self) -> list[JournalEntry]:
        """Every message journaled and not yet trimmed, oldest first."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as error:
            self._warn("journal_unreadable", f"無法讀取郵件記錄日誌 {self.path}（{error.strerror}）；"
                                              f"其中記錄的郵件若尚未寫入「運行日誌」，可能重發一次")
            return []
        found = []
        for line in text.splitlines():
            try:
                item = json.loads(line)
                found.append(JournalEntry(str(item["message_id"]),
                                          tuple(tuple(str(cell) for cell in row) for row in item["rows"])))
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a crash: at most that message goes again
        return found

    def record(self, message_id: str, rows: Iterable[Iterable[str]]) -> None:
        """Append one message's record and make sure it is on disk before returning. A journal
        that cannot be written is said once; the message may then go again (never lost)."""
        line = _line(self.center, message_id, rows)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as error:
            self._warn("journal_unwritable", f"無法寫入郵件記錄日誌 {self.path}（{error.strerror}）；"
                                              f"郵件已發出，若「運行日誌」也未能記錄，下次運行可能重發一次。"
                                              f"請檢查 state_dir 的權限和磁碟空間")

    def trim(self, logged_ids: set[str]) -> None:
        """Drop the entries whose message the event log now records (rewritten aside, then
        renamed, so a crash leaves the old journal or the new one, never half of it)."""
        entries = self.entries()
        keep = [entry for entry in entries if entry.message_id not in logged_ids]
        if len(keep) == len(entries):
            return
        try:
            if not keep:
                self.path.unlink(missing_ok=True)
                return
            aside = self.path.with_suffix(".tmp")
            with open(aside, "w", encoding="utf-8") as handle:
                handle.writelines(_line(self.center, entry.message_id, entry.rows) for entry in keep)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(aside, self.path)
        except OSError as error:
            # Harmless: entries the log holds are never copied twice (they are matched by id).
            self._warn("journal_untrimmed", f"無法整理郵件記錄日誌 {self.path}（{error.strerror}）")

    def _warn(self, event: str, text: str) -> None:
        if not self._warned:
            self._warned = True
            event_record(log, logging.WARNING, event, f"服務中心「{self.center}」：{text}",
                         center=self.center, path=str(self.path))
