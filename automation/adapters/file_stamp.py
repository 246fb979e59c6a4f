"""A local file's change stamp (SPEC 7): one `stat`, the file not opened.

Kept apart from the workbook adapter so that a one-shot `run` whose workbook did not change
imports neither openpyxl nor pandas: the whole process then costs little more than starting
the interpreter."""

from __future__ import annotations

from pathlib import Path

from ..domain.change_policy import STAMP_LOCAL
from .ports import SheetBackend


def file_stamp(path: Path) -> dict | None:
    """{"kind": "stat", "stat": [mtime_ns, size, inode, ctime_ns]}; None when it cannot be stat'ed
    (the full read that follows says why). Saving by replacing the file changes the inode."""
    try:
        found = Path(path).stat()
    except OSError:
        return None
    return {"kind": STAMP_LOCAL, "stat": [found.st_mtime_ns, found.st_size, found.st_ino, found.st_ctime_ns]}


class FileStamp(SheetBackend):
    """Only the stamp of a workbook, for the look before deciding to open it."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def describe(self) -> str:
        return f"本地工作簿 {self.path}"

    def change_stamp(self) -> dict | None:
        return file_stamp(self.path)
