"""The local backend under `serve` parses a workbook again only when the file changed.

A kept WorkbookBackend reuses the workbook it loaded or saved itself while the file's stamp is
unchanged; an edit by another program (a new stamp) or a write that was refused makes it load
the file afresh. What a cycle reads is the same either way.
"""

from __future__ import annotations

import datetime as dt
import os

import openpyxl
import pytest

from automation.adapters.workbook import WorkbookBackend
from automation.domain.records import CellWrite, WritePlan
from automation.errors import WorkbookLockedError
from automation.application.one_center import tab_names
from automation.vocabulary import Vocabulary
from tests.workbooks import MAIN_HANT, build_workbook, count_workbook_parses, row

HANT = Vocabulary("zh-Hant")
NAMES = tab_names(HANT)
HEADERS = ["接待日期", "業主姓名", "聯系電話", "房號", "事由", "記錄編號"]


@pytest.fixture
def workbook(tmp_path):
    return build_workbook(tmp_path / "log.xlsx", HEADERS, [row(dt.date(2026, 3, 9)), row(dt.date(2026, 3, 10), 房號="2-202")])


def loads_counted(backend, monkeypatch) -> list[int]:
    return count_workbook_parses(monkeypatch)


def test_unchanged_file_is_not_parsed_again_and_reads_the_same(workbook, monkeypatch):
    backend = WorkbookBackend(workbook, "中心")
    loads = loads_counted(backend, monkeypatch)
    first = backend.read(NAMES)
    second = backend.read(NAMES)
    assert len(loads) == 1
    assert (second.header, second.rows) == (first.header, first.rows)
    assert first.rows[1][3] == "2-202"


def test_an_edit_by_another_program_is_read(workbook, monkeypatch):
    backend = WorkbookBackend(workbook, "中心")
    loads = loads_counted(backend, monkeypatch)
    backend.read(NAMES)
    book = openpyxl.load_workbook(workbook)
    book[MAIN_HANT]["D3"] = "3-303"
    book.save(workbook)
    stat = os.stat(workbook)
    os.utime(workbook, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # a new stamp even within one tick
    assert backend.read(NAMES).rows[1][3] == "3-303"
    assert len(loads) == 3  # ours twice, the other program's once


def test_what_we_saved_is_read_back_without_parsing(workbook, monkeypatch):
    backend = WorkbookBackend(workbook, "中心")
    loads = loads_counted(backend, monkeypatch)
    backend.read(NAMES)
    backend.write(WritePlan(main_tab=MAIN_HANT, cells=[CellWrite(2, 6, "R20260309-001", "R20260309-001", "#a")]))
    again = backend.read(NAMES)
    assert len(loads) == 1
    assert again.rows[0][5] == "R20260309-001"
    assert openpyxl.load_workbook(workbook)[MAIN_HANT]["F2"].value == "R20260309-001"


def test_a_write_that_was_refused_makes_the_next_read_load_the_file(workbook, monkeypatch):
    backend = WorkbookBackend(workbook, "中心")
    loads = loads_counted(backend, monkeypatch)
    backend.read(NAMES)
    lock = workbook.with_name(f".~lock.{workbook.name}#")  # an office program opened it meanwhile
    lock.write_text("staff,host,,;")
    with pytest.raises(WorkbookLockedError):
        backend.write(WritePlan(main_tab=MAIN_HANT, cells=[CellWrite(2, 6, "R20260309-001", "R20260309-001", "#a")]))
    lock.unlink()
    assert backend.read(NAMES).rows[0][5] is None  # the unsaved change is not taken as the file's
    assert len(loads) == 2
