"""The `outbox` transport: each message written as an RFC 5322 `.eml` file into a folder.

The default transport (SPEC 4.2). A file holds exactly the bytes SMTP would have carried, CRLF
line endings included, so it opens in any mail program and could be re-sent as is.
"""

from __future__ import annotations

import email.policy
import email.utils
import hashlib
import logging
import os
import pathlib
import re
import secrets
from email.message import EmailMessage

from automation.adapters.mime import KIND_HEADER
from automation.adapters.ports import Transport
from automation.errors import DeliveryError

log = logging.getLogger(__name__)

# File-name word for each OutgoingMessage.kind; an unknown kind is used as is, made safe.
SHORT_KINDS = {
    "supervisor_digest": "supervisor",
    "manager_digest": "manager",
    "weekly_review": "weekly",
    "emergency": "emergency",
    "complaint": "complaint",
}

# Temporary files start with a dot and do not end in `.eml`, so nobody reading the folder for
# messages ever picks up a half-written one.
TEMP_PREFIX = ".writing-"
TEMP_SUFFIX = ".tmp"


def short_kind(kind: str | None) -> str:
    """The file-name word for a message kind: `supervisor_digest` -> `supervisor`."""
    if not kind:
        return "message"
    if kind in SHORT_KINDS:
        return SHORT_KINDS[kind]
    safe = re.sub(r"[^A-Za-z0-9]+", "-", kind).strip("-").lower()
    return safe[:20] or "message"


def eml_file_name(email_message: EmailMessage) -> str:
    """`YYYYMMDD-HHMMSS-<short kind>-<8 hex>.eml` for a message.

    The time is the Date header's wall-clock time in the offset the header itself carries (the
    worker's configured timezone), so file names sort by time as long as the worker's timezone
    does not change; the 8 hex digits are the start of the SHA-256 of the Message-ID, so two
    messages written in the same second stay apart and a repeat of one message is recognisable.
    A message without a Date header is named after the current time.
    """
    date = None
    date_header = email_message.get("Date")
    if date_header:
        try:
            date = email.utils.parsedate_to_datetime(str(date_header))
        except (TypeError, ValueError):
            date = None
    if date is None:
        date = email.utils.localtime()

    identity = str(email_message.get("Message-ID") or "").strip()
    if not identity:
        identity = email_message.as_string()
    digest = hashlib.sha256(identity.encode("utf-8", "surrogateescape")).hexdigest()[:8]

    kind = email_message.get(KIND_HEADER)
    return f"{date:%Y%m%d-%H%M%S}-{short_kind(str(kind) if kind else None)}-{digest}.eml"


class OutboxTransport(Transport):
    """Writes each message as one `.eml` file into `folder` (created if missing).

    A file appears whole or not at all: it is written to a temporary file in the same folder,
    flushed to disk, then renamed into place with `os.replace`. Writing the same message again
    at the same second replaces the file with identical content.
    """

    def __init__(self, folder: pathlib.Path):
        self.folder = pathlib.Path(folder)

    def describe(self) -> str:
        """A short human description, e.g. `outbox folder /srv/worker/outbox`."""
        return f"outbox folder {self.folder}"

    def __repr__(self) -> str:
        return f"OutboxTransport(folder={str(self.folder)!r})"

    # The outbox needs no connection; these make it interchangeable with SmtpTransport.
    def open(self) -> None:
        """Nothing to open; present so both transports share one interface."""

    def close(self) -> None:
        """Nothing to close; present so both transports share one interface."""

    def __enter__(self) -> "OutboxTransport":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def send(self, email_message: EmailMessage) -> pathlib.Path:
        """Write `email_message` into the folder; return the path of the new file.

        Raises DeliveryError, naming the folder, when the folder cannot be created or written.
        """
        # SMTP line endings whatever policy the message was built with.
        policy = (email_message.policy or email.policy.SMTP).clone(linesep="\r\n")
        data = email_message.as_bytes(policy=policy)
        target = self.folder / eml_file_name(email_message)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._write_atomically(target, data)
        except OSError as exc:
            detail = exc.strerror or exc.__class__.__name__
            raise DeliveryError(f"無法寫入郵件到資料夾 {self.folder} ({detail})") from exc
        log.debug("wrote %s", target)
        return target

    def _write_atomically(self, target: pathlib.Path, data: bytes) -> None:
        """Write `data` to a temporary file beside `target`, sync it, and rename it into place;
        the temporary file is removed if anything fails before the rename."""
        # open(..., "xb") creates the file with the usual permissions (0666 minus the umask),
        # unlike tempfile.mkstemp's 0600, so whoever reads the outbox can open the result.
        temp_path = self.folder / f"{TEMP_PREFIX}{secrets.token_hex(8)}{TEMP_SUFFIX}"
        handle = open(temp_path, "xb")
        try:
            with handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_path, target)
        except BaseException:
            try:
                temp_path.unlink()
            except OSError:
                pass
            raise
        _sync_directory(self.folder)


def _sync_directory(folder: pathlib.Path) -> None:
    """Flush the folder entry of a rename to disk where the platform allows it (POSIX);
    best effort, since the file itself is already complete."""
    if os.name != "posix":
        return
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
