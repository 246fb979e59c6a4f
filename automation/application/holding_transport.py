"""A cycle's mail transport that holds the sheet's lease before the first message goes out."""

from __future__ import annotations

from ..adapters.locks import SheetHeldError
from ..adapters.ports import Lease, Transport
from ..errors import AutomationError


class HoldingTransport(Transport):
    """The cycle's mail transport, made to hold the sheet's lease before the first message.

    A backend may write its lease lazily, riding on the cycle's own writes (Google Sheets: a
    one-shot `run` fences each batchUpdate but keeps no record between them). From the first
    message to the write recording it the sheet must stay ours, or another worker reading it
    meanwhile would send the same messages; so `open()` (called once, before any message, only
    when there is something to send) first calls the lease's `hold()` (a no-op for a lease taken
    at once). When another worker holds the sheet, nothing is sent (SheetHeldError: that worker
    sends them). When the lease cannot be written for any other reason (Google unreachable, the
    sheet read-only), the messages still go: an emergency is never held back, and a duplicate is
    preferred to a loss (SPEC 4.2)."""

    def __init__(self, transport: Transport, lease: Lease):
        self.transport = transport
        self.lease = lease

    def describe(self) -> str:
        return self.transport.describe()

    def open(self) -> None:
        try:
            self.lease.hold()
        except SheetHeldError:
            raise
        except AutomationError:
            pass
        self.transport.open()

    def send(self, email_message):
        return self.transport.send(email_message)

    def close(self) -> None:
        self.transport.close()
