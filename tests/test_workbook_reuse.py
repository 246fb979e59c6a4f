"""The local backend reads values without openpyxl, and loads openpyxl only to write.

A read never loads openpyxl (calamine reads the values). A write loads it once per cycle, from
the bytes the cycle read; a kept WorkbookBackend (`serve`) reuses the workbook it saved itself
while the file's stamp is unchanged; an edit by another program (a new stamp) or a write that
was refused makes the next write load the file afresh.
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
from tests.workbooks import MAIN_HANT, build_workbook, count_openpyxl_loads, row

HANT = Vocabulary("zh-Hant")
NAMES = tab_names(HANT)
HEADERS = ["接待日期", "業主姓名", "聯系電話", "房號", "事由", "記錄編號"]


@pytest.fixture
def workbook(tmp_path):
    return build_workbook(tmp_path / "log.xlsx", HEADERS, [row(dt.date(2026, 3, 9)), row(dt.date(2026, 3, 10), 房號="2-202")])


def test_a_read_never_loads_openpyxl_and_reads_the_same_twice(workbook, monkeypatch):
    loads = count_openpyxl_loads(monkeypatch)
    backend = WorkbookBackend(workbook, "中心")
    first = backend.read(NAMES)
    second = backend.read(NAMES)
    assert loads == []
    assert (second.header, second.rows) == (first.header, first.rows)
    assert first.rows[1][3] == "2-202"


def test_an_edit_by_another_program_is_read(workbook):
    backend = WorkbookBackend(workbook, "中心")
    backend.read(NAMES)
    book = openpyxl.load_workbook(workbook)
    book[MAIN_HANT]["D3"] = "3-303"
    book.save(workbook)
    stat = os.stat(workbook)
    os.utime(workbook, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # a new stamp even within one tick
    assert backend.read(NAMES).rows[1][3] == "3-303"


def test_a_write_loads_openpyxl_once_and_the_next_writing_cycle_reuses_it(workbook, monkeypatch):
    loads = count_openpyxl_loads(monkeypatch)
    backend = WorkbookBackend(workbook, "中心")
    backend.read(NAMES)
    backend.write(WritePlan(main_tab=MAIN_HANT, cells=[CellWrite(2, 6, "R20260309-001", "R20260309-001", "#a")]))
    backend.append_log(NAMES.log, HANT.tab_layout("event_log"), [["2026-03-10 09:00:00", "x"]])
    assert len(loads) == 1  # the cycle's write and its record of messages sent: one load
    backend.cycle_finished()
    again = backend.read(NAMES)  # serve's next cycle: the file is what we saved
    assert again.rows[0][5] == "R20260309-001"
    backend.write(WritePlan(main_tab=MAIN_HANT, cells=[CellWrite(3, 6, "R20260310-001", "R20260310-001", "#b")]))
    assert len(loads) == 1
    assert openpyxl.load_workbook(workbook)[MAIN_HANT]["F3"].value == "R20260310-001"


def test_a_staff_edit_between_writing_cycles_is_kept(workbook, monkeypatch):
    backend = WorkbookBackend(workbook, "中心")
    backend.read(NAMES)
    backend.write(WritePlan(main_tab=MAIN_HANT, cells=[CellWrite(2, 6, "R20260309-001", "R20260309-001", "#a")]))
    book = openpyxl.load_workbook(workbook)
    book[MAIN_HANT]["D3"] = "3-303"
    book.save(workbook)
    assert backend.read(NAMES).rows[1][3] == "3-303"
    backend.write(WritePlan(main_tab=MAIN_HANT, cells=[CellWrite(3, 6, "R20260310-001", "R20260310-001", "#b")]))
    sheet = openpyxl.load_workbook(workbook)[MAIN_HANT]
    assert (sheet["D3"].value, sheet["F3"].value, sheet["F2"].value) == ("3-303", "R20260310-001", "R20260309-001")


def test_a_write_that_was_refused_is_not_taken_as_the_file(workbook, monkeypatch):
    loads = count_openpyxl_loads(monkeypatch)
    backend = WorkbookBackend(workbook, "中心")
    backend.read(NAMES)
    lock = workbook.with_name(f".~lock.{workbook.name}#")  # an office program opened it meanwhile
    lock.write_text("staff,host,,;")
    with pytest.raises(WorkbookLockedError):
        backend.write(WritePlan(main_tab=MAIN_HANT, cells=[CellWrite(2, 6, "R20260309-001", "R20260309-001", "#a")]))
    lock.unlink()
    assert backend.read(NAMES).rows[0][5] is None  # the unsaved change is not taken as the file's
    backend.write(WritePlan(main_tab=MAIN_HANT, cells=[CellWrite(3, 6, "R20260310-001", "R20260310-001", "#b")]))
    assert len(loads) == 2  # loaded afresh for the second write
    assert openpyxl.load_workbook(workbook)[MAIN_HANT]["F2"].value is None
