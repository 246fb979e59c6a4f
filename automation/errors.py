"""The one exception hierarchy of the worker.

Every error a user can cause carries a message that names what to fix (config key, center, tab,
header, row) and the exit code SPEC 5 gives it. The CLI prints the message and exits with the code.
"""


class AutomationError(Exception):
    """Base of every error the worker raises on purpose."""

    exit_code = 1
    language: str | None = None  # the language to say it in, when known before the config is (SPEC 5.1)


class ConfigError(AutomationError):
    """Bad configuration or usage, a credentials file missing, malformed or rejected (exit 2)."""

    exit_code = 2


class SheetUnusableError(AutomationError):
    """A center's sheet cannot be used: nothing was written to it (exit 3)."""

    exit_code = 3


class BackendUnavailableError(AutomationError):
    """The backend stayed unreachable after retries (exit 4)."""

    exit_code = 4


class WorkbookLockedError(BackendUnavailableError):
    """The workbook is open in an office program or held by another worker (exit 4)."""


class WorkbookChangedError(WorkbookLockedError):
    """Someone saved the workbook after the worker read it: the write is given up (exit 4)."""


class WorkbookWriteError(BackendUnavailableError):
    """The workbook or its folder cannot be written (read-only, full, no permission): exit 4."""


class DeliveryError(AutomationError):
    """A message could not be delivered; it stays pending and is retried next run (exit 4).

    `reason` is a short Chinese/English text safe to log: never a password or owner data.
    """

    exit_code = 4

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
