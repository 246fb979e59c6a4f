"""SPEC 6, on a local workbook: hostile files and faults lose nothing and hold no emergency back.

Real files throughout: workbooks built with openpyxl and, where openpyxl cannot make a part
(macros, extension drop-downs, text boxes, slicers), with the part written into the .xlsx zip as
an office program stores it; a real symbolic link; real group ownership; a real immutable folder
(chattr +i) and a real full file system (a small tmpfs) where the machine allows; a staff save
landed at the last instant before the swap through the writer's `before_replace` seam; 緊急
alerts read from the outbox or received by an SMTP server on loopback.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pytest
from openpyxl.styles import Protection

from automation.adapters.outbox import OutboxTransport
from automation.adapters.workbook import WorkbookBackend
from automation.config import load_config
from automation.domain import summaries
from automation.errors import ConfigError, WorkbookChangedError
from automation.application.one_center import run_center
from tests.messages_support import (
    CENTER, Outbox, append_rows, at, log_events, main_rows, reception, run, smtp_mail, subjects, text_of, write_config,
    write_workbook,
)
from tests.smtp_server import LoopbackSmtp

MAIN = "接待業主情況記錄"
NOW = at("2026-03-10 09:00")  # after the daily digest time: the digest goes out in the same run
EMERGENCY = f"[{CENTER}] 緊急 "


def center(tmp_path: Path, rows=None, *, folder: str = "", mail: str = "") -> tuple[Path, Path, Outbox]:
    """A workbook (in `folder` under tmp_path), its config beside tmp_path, and the outbox."""
    rows = rows if rows is not None else [reception("2026-03-09", "電梯異響"), reception("2026-03-10", "樓道燈不亮")]
    workbook = write_workbook(tmp_path / folder / "log.xlsx", rows)
    config = write_config(tmp_path, workbook, **({"mail": mail} if mail else {}))
    return workbook, config, Outbox(tmp_path / "outbox")


def emergency_row(matter: str = "水管爆裂") -> dict:
    return reception("2026-03-10", matter, category="緊急")


def emergencies(outbox: Outbox) -> list[str]:
    return [s for s in subjects(outbox.new()) if s.startswith(EMERGENCY)]


def header_column(sheet, header: str) -> int:
    return [cell.value for cell in sheet[1]].index(header) + 1


# --- 1. rows whose worker cells cannot be written --------------------------------------------

def block_row(path: Path, sheet_row: int, how: str) -> None:
    """Make one row's worker cells unwritable, as staff might: merge them, protect the tab with
    only that row's worker cells left locked, or type a formula into one."""
    book = openpyxl.load_workbook(path)
    sheet = book[MAIN]
    first, last = header_column(sheet, "記錄編號"), header_column(sheet, "系統提示")
    if how == "merged":
        sheet.merge_cells(start_row=sheet_row, start_column=first, end_row=sheet_row, end_column=last)
    elif how == "protected":  # (its 狀態 cleared by someone: the worker has something to write there)
        sheet.cell(row=sheet_row, column=header_column(sheet, "狀態")).value = None
        sheet.protection.sheet = True
        for row in range(2, sheet.max_row + 1):
            for column in range(1, last + 1):
                if row != sheet_row or column < first:
                    sheet.cell(row=row, column=column).protection = Protection(locked=False)
    else:
        sheet.cell(row=sheet_row, column=header_column(sheet, "狀態")).value = "=IF(TRUE,\"處理中\",\"\")"
    book.save(path)


@pytest.mark.parametrize("how, reason", [("merged", "合併"), ("protected", "保護"), ("formula", "公式")])
def test_spec_6_a_row_whose_worker_cells_cannot_be_written_is_skipped_and_named(tmp_path, how, reason):
    workbook, config, outbox = center(tmp_path)
    assert run(config, at("2026-03-10 07:00")).code == 0
    outbox.new()
    append_rows(workbook, [emergency_row()])
    block_row(workbook, 2, how)
    blocked_id = main_rows(workbook)[0]["記錄編號"]

    result = run(config, NOW)
    assert result.code == 0, result.err
    assert f"第 2 行 {blocked_id}" in result.out and reason in result.out
    rows = main_rows(workbook)
    assert rows[2]["事由"] == "水管爆裂" and rows[2]["記錄編號"]  # the other rows are written
    skipped = log_events(workbook, "跳過無法寫入的行")
    assert len(skipped) == 1 and skipped[0][2] == blocked_id and "第 2 行" in skipped[0][3]
    sent = outbox.new()
    assert [s for s in subjects(sent) if s.startswith(EMERGENCY)] == [f"{EMERGENCY}{rows[2]['記錄編號']}"] * 2
    [digest] = [m for m in sent if "客服主管每日隊列" in str(m["Subject"])]
    assert "無法寫入而跳過的行" in text_of(digest) and blocked_id in text_of(digest)

    # Named in the log once, not at every run while it stays blocked.
    assert run(config, at("2026-03-10 09:05")).code == 0
    assert len(log_events(workbook, "跳過無法寫入的行")) == 1


def test_spec_6_a_bug_still_sends_the_emergency_alerts_and_exits_1(tmp_path, monkeypatch):
    """An unexpected exception inside a center's cycle (here: the summary tabs fail to build)
    is exit 1, and that center's 緊急 alerts still go out."""
    workbook, config, outbox = center(tmp_path, [emergency_row()])

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the summaries")

    monkeypatch.setattr(summaries, "build_tabs", broken)
    result = run(config, NOW)
    assert result.code == 1
    assert len(emergencies(outbox)) == 2


# --- 2. a staff save at the last instant before the swap -------------------------------------

def staff_save(path: Path, how: str) -> None:
    """A member of staff saves the workbook: an office program writes aside and renames, or
    (some programs, network shares) rewrites the file in place."""
    book = openpyxl.load_workbook(path)
    book[MAIN]["E2"] = "電梯異響（同事剛改）"
    if how == "rename":
        aside = path.with_name("staff-save.tmp")
        book.save(aside)
        os.replace(aside, path)
    else:
        with open(path, "r+b") as handle:
            book.save(handle)


@pytest.mark.parametrize("how", ["rename", "in_place"])
def test_spec_6_a_staff_save_at_the_last_instant_is_never_overwritten(tmp_path, how):
    workbook, config_path, outbox = center(tmp_path)
    config = load_config(config_path)
    [center_config] = config.centers
    backend = WorkbookBackend(workbook, CENTER)
    backend.before_replace = lambda: staff_save(workbook, how)
    with pytest.raises(WorkbookChangedError) as refused:
        run_center(center_config, config, NOW, backend, OutboxTransport(config.mail.outbox_dir))
    assert refused.value.exit_code == 4
    assert main_rows(workbook)[0]["事由"] == "電梯異響（同事剛改）"
    assert "記錄編號" not in main_rows(workbook)[0]
    assert not list(tmp_path.glob(".*.writing"))

    # The next run starts from the staff's version.
    assert run(config_path, NOW).code == 0
    first = main_rows(workbook)[0]
    assert first["事由"] == "電梯異響（同事剛改）" and first["記錄編號"]


# --- 3, 4. links and ownership --------------------------------------------------------------

def test_spec_6_a_workbook_given_through_a_symbolic_link_is_updated_where_it_points(tmp_path):
    real = write_workbook(tmp_path / "shared" / "real.xlsx", [reception("2026-03-10")])
    link = tmp_path / "log.xlsx"
    link.symlink_to(real)
    config = write_config(tmp_path, link)
    assert run(config, NOW).code == 0
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert main_rows(real)[0]["記錄編號"]
    assert [p.name for p in (tmp_path / "shared").iterdir()] == ["real.xlsx"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="changing a file's owner needs root")
def test_spec_6_a_replaced_workbook_keeps_owner_group_and_permissions(tmp_path):
    workbook, config, _ = center(tmp_path)
    os.chown(workbook, 1, 4)  # owner daemon, group adm: shared by group
    os.chmod(workbook, 0o660)
    assert run(config, NOW).code == 0
    found = workbook.stat()
    assert (found.st_uid, found.st_gid, stat.S_IMODE(found.st_mode)) == (1, 4, 0o660)
    assert main_rows(workbook)[0]["記錄編號"]


# --- 5. content the writer cannot carry over -------------------------------------------------

def rewrite_package(path: Path, change) -> None:
    """Edit the .xlsx zip's parts directly (what openpyxl cannot create)."""
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    change(parts)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)


def add_override(parts: dict, part: str, content_type: str) -> None:
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"</Types>", f'<Override PartName="{part}" ContentType="{content_type}"/></Types>'.encode())


MACRO_WORKBOOK = "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
VBA_PROJECT = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(range(256)) * 8  # an OLE header and a body


def make_xlsm(parts: dict) -> None:
    parts["xl/vbaProject.bin"] = VBA_PROJECT
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml", MACRO_WORKBOOK.encode())
    add_override(parts, "/xl/vbaProject.bin", "application/vnd.ms-office.vbaProject")
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>",
        b'<Relationship Id="rIdVba" Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject" '
        b'Target="vbaProject.bin"/></Relationships>')


def test_spec_6_an_xlsm_keeps_its_macro_project(tmp_path):
    workbook = write_workbook(tmp_path / "log.xlsm", [reception("2026-03-10")])
    rewrite_package(workbook, make_xlsm)
    config = write_config(tmp_path, workbook)
    assert run(config, NOW).code == 0
    with zipfile.ZipFile(workbook) as archive:
        assert archive.read("xl/vbaProject.bin") == VBA_PROJECT
        assert MACRO_WORKBOOK.encode() in archive.read("[Content_Types].xml")
    assert main_rows(workbook)[0]["記錄編號"]


X14_VALIDATION = (
    '<extLst><ext xmlns:x14="http://schemas.microsoft.com/office/spreadsheetml/2009/9/main" '
    'uri="{CCE6A557-97BC-4b89-ADB6-D9C93CAAB3DF}"><x14:dataValidations '
    'xmlns:xm="http://schemas.microsoft.com/office/excel/2006/main" count="1">'
    '<x14:dataValidation type="list" allowBlank="1" showInputMessage="1" showErrorMessage="1">'
    '<x14:formula1><xm:f>部門!$A$1:$A$3</xm:f></x14:formula1><xm:sqref>G2:G500</xm:sqref>'
    '</x14:dataValidation></x14:dataValidations></ext></extLst></worksheet>')


def test_spec_6_a_drop_down_stored_as_an_extension_is_rebuilt_with_the_same_list(tmp_path):
    """Excel stores a drop-down whose list is on another tab as a worksheet extension, which
    openpyxl drops; it comes back as an ordinary list validation of the same list and cells."""
    workbook = tmp_path / "log.xlsx"
    book = openpyxl.load_workbook(write_workbook(workbook, [reception("2026-03-10")]))
    departments = book.create_sheet("部門")
    for name in ("工程部", "秩序維護部", "環境部"):
        departments.append([name])
    book.save(workbook)
    rewrite_package(workbook, lambda parts: parts.update({"xl/worksheets/sheet1.xml": parts[
        "xl/worksheets/sheet1.xml"].replace(b"</worksheet>", X14_VALIDATION.encode())}))
    config = write_config(tmp_path, workbook)
    assert run(config, NOW).code == 0
    sheet = openpyxl.load_workbook(workbook)[MAIN]
    lists = [(dv.type, dv.formula1, str(dv.sqref)) for dv in sheet.data_validations.dataValidation]
    assert ("list", "部門!$A$1:$A$3", "G2:G500") in lists
    assert run(config, at("2026-03-10 09:05")).code == 0  # and it is not added twice
    sheet = openpyxl.load_workbook(workbook)[MAIN]
    assert len(sheet.data_validations.dataValidation) == 1


# A pivot table on a staff tab, over the main tab's 類別, as Excel stores it.
SPREADSHEET_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELATIONSHIP_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PIVOT_TYPES = "application/vnd.openxmlformats-officedocument.spreadsheetml."


def relationships(*items: tuple[str, str, str]) -> bytes:
    """A .rels part: (id, type after .../relationships/, target) each."""
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            + "".join(f'<Relationship Id="{i}" Type="{RELATIONSHIP_NS}/{kind}" Target="{target}"/>'
                      for i, kind, target in items) + "</Relationships>").encode()


def add_pivot(parts: dict) -> None:
    parts["xl/pivotCache/pivotCacheDefinition1.xml"] = (
        f'<pivotCacheDefinition xmlns="{SPREADSHEET_NS}" xmlns:r="{RELATIONSHIP_NS}" r:id="rId1" refreshOnLoad="1" '
        'recordCount="1"><cacheSource type="worksheet"><worksheetSource ref="A1:F2" sheet="接待業主情況記錄"/>'
        '</cacheSource><cacheFields count="1"><cacheField name="類別" numFmtId="0"><sharedItems count="1">'
        '<s v="報修"/></sharedItems></cacheField></cacheFields></pivotCacheDefinition>').encode()
    parts["xl/pivotCache/pivotCacheRecords1.xml"] = (
        f'<pivotCacheRecords xmlns="{SPREADSHEET_NS}" count="1"><r><x v="0"/></r></pivotCacheRecords>').encode()
    parts["xl/pivotCache/_rels/pivotCacheDefinition1.xml.rels"] = relationships(
        ("rId1", "pivotCacheRecords", "pivotCacheRecords1.xml"))
    parts["xl/pivotTables/pivotTable1.xml"] = (
        f'<pivotTableDefinition xmlns="{SPREADSHEET_NS}" name="類別統計" cacheId="1" dataCaption="值" '
        'updatedVersion="6" minRefreshableVersion="3" createdVersion="6" outline="1" outlineData="1">'
        '<location ref="A3:A5" firstHeaderRow="1" firstDataRow="1" firstDataCol="0"/>'
        '<pivotFields count="1"><pivotField axis="axisRow" showAll="0"><items count="2"><item x="0"/>'
        '<item t="default"/></items></pivotField></pivotFields><rowFields count="1"><field x="0"/></rowFields>'
        '<rowItems count="2"><i><x/></i><i t="grand"><x/></i></rowItems><colItems count="1"><i/></colItems>'
        '</pivotTableDefinition>').encode()
    parts["xl/pivotTables/_rels/pivotTable1.xml.rels"] = relationships(
        ("rId1", "pivotCacheDefinition", "../pivotCache/pivotCacheDefinition1.xml"))
    parts["xl/worksheets/_rels/sheet2.xml.rels"] = relationships(("rId1", "pivotTable", "../pivotTables/pivotTable1.xml"))
    workbook = parts["xl/workbook.xml"].decode()
    calc = workbook.find("<calcPr")
    at = workbook.index("</workbook>") if calc < 0 else workbook.index(">", calc) + 1
    parts["xl/workbook.xml"] = (workbook[:at] + f'<pivotCaches><pivotCache xmlns:r="{RELATIONSHIP_NS}" cacheId="1" '
                                'r:id="rIdPivotCache1"/></pivotCaches>' + workbook[at:]).encode()
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>", f'<Relationship Id="rIdPivotCache1" Type="{RELATIONSHIP_NS}/pivotCacheDefinition" '
                             f'Target="pivotCache/pivotCacheDefinition1.xml"/></Relationships>'.encode())
    for part, kind in (("pivotCache/pivotCacheDefinition1", "pivotCacheDefinition"),
                       ("pivotCache/pivotCacheRecords1", "pivotCacheRecords"), ("pivotTables/pivotTable1", "pivotTable")):
        add_override(parts, f"/xl/{part}.xml", f"{PIVOT_TYPES}{kind}+xml")


def test_spec_6_a_pivot_table_is_kept(tmp_path):
    """openpyxl reads a pivot table and its cache and writes them back (an equivalent of the
    parts, same name, place, fields and cache); the run is not refused for it."""
    workbook = write_workbook(tmp_path / "log.xlsx", [reception("2026-03-10")])
    book = openpyxl.load_workbook(workbook)
    book.create_sheet("統計")
    book.save(workbook)
    rewrite_package(workbook, add_pivot)
    config = write_config(tmp_path, workbook)
    assert run(config, NOW).code == 0
    assert main_rows(workbook)[0]["記錄編號"]
    [pivot] = openpyxl.load_workbook(workbook)["統計"]._pivots
    assert (pivot.name, pivot.location.ref, pivot.cache.cacheFields[0].name) == ("類別統計", "A3:A5", "類別")
    with zipfile.ZipFile(workbook) as archive:
        assert {"xl/pivotTables/pivotTable1.xml", "xl/pivotCache/pivotCacheDefinition1.xml",
                "xl/pivotCache/pivotCacheRecords1.xml"} <= set(archive.namelist())


TEXT_BOX_DRAWING = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<xdr:wsDr xmlns:xdr="http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing" '
    'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main">'
    '<xdr:twoCellAnchor><xdr:from><xdr:col>8</xdr:col><xdr:colOff>0</xdr:colOff><xdr:row>1</xdr:row>'
    '<xdr:rowOff>0</xdr:rowOff></xdr:from><xdr:to><xdr:col>11</xdr:col><xdr:colOff>0</xdr:colOff>'
    '<xdr:row>4</xdr:row><xdr:rowOff>0</xdr:rowOff></xdr:to>'
    '<xdr:sp macro="" textlink=""><xdr:nvSpPr><xdr:cNvPr id="2" name="TextBox 1"/><xdr:cNvSpPr txBox="1"/>'
    '</xdr:nvSpPr><xdr:spPr><a:prstGeom prst="rect"><a:avLst/></a:prstGeom></xdr:spPr>'
    '<xdr:txBody><a:bodyPr/><a:p><a:r><a:t>夜班交接：3棟電梯待修</a:t></a:r></a:p></xdr:txBody></xdr:sp>'
    '<xdr:clientData/></xdr:twoCellAnchor></xdr:wsDr>')


def add_text_box(parts: dict) -> None:
    parts["xl/drawings/drawing1.xml"] = TEXT_BOX_DRAWING.encode()
    parts["xl/worksheets/_rels/sheet1.xml.rels"] = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/drawing" '
        b'Target="../drawings/drawing1.xml"/></Relationships>')
    parts["xl/worksheets/sheet1.xml"] = parts["xl/worksheets/sheet1.xml"].replace(
        b"</worksheet>", b'<drawing xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" '
                         b'r:id="rId1"/></worksheet>')
    add_override(parts, "/xl/drawings/drawing1.xml", "application/vnd.openxmlformats-officedocument.drawing+xml")


def add_slicer(parts: dict) -> None:
    parts["xl/slicers/slicer1.xml"] = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        b'<slicers xmlns="http://schemas.microsoft.com/office/spreadsheetml/2009/9/main">'
        b'<slicer name="\xe9\xa1\x9e\xe5\x88\xa5" cache="Slicer_Category" caption="\xe9\xa1\x9e\xe5\x88\xa5" '
        b'rowHeight="241300"/></slicers>')
    add_override(parts, "/xl/slicers/slicer1.xml", "application/vnd.ms-excel.slicer+xml")


@pytest.mark.parametrize("add, named", [(add_text_box, "文字方塊"), (add_slicer, "切片器")])
def test_spec_6_content_that_would_be_lost_refuses_the_center_with_exit_3(tmp_path, add, named):
    workbook, config, outbox = center(tmp_path, [emergency_row()])
    rewrite_package(workbook, add)
    before = workbook.read_bytes()
    result = run(config, NOW)
    assert result.code == 3
    assert named in result.err and str(workbook) in result.err
    assert workbook.read_bytes() == before
    assert len(emergencies(outbox)) == 2  # the refusal holds no emergency back


# --- 6. files the worker cannot write --------------------------------------------------------

@contextlib.contextmanager
def immutable(folder: Path):
    """`chattr +i`: not even root may create a file in the folder."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed")
    done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"chattr +i refused here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_spec_6_a_read_only_folder_is_exit_4_naming_it_and_emergencies_still_go_out(tmp_path):
    with LoopbackSmtp() as server:
        workbook, config, _ = center(tmp_path, [emergency_row()], folder="data", mail=smtp_mail(server.port))
        before = workbook.read_bytes()
        with immutable(workbook.parent):
            result = run(config, NOW)
        assert result.code == 4, result.err
        assert str(workbook.parent) in result.err and "不允許寫入" in result.err
        assert workbook.read_bytes() == before
        assert sorted(m["To"] for m in server.messages() if EMERGENCY in str(m["Subject"])) == [
            "李強 <manager@example.com>", "王敏 <supervisor@example.com>"]


@contextlib.contextmanager
def small_file_system(folder: Path):
    """A 512 KiB tmpfs mounted at `folder`."""
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def fill(folder: Path) -> None:
    with open(folder / "filler", "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError as error:
            assert error.errno == errno.ENOSPC


# openpyxl leaves its zip writer unclosed when the disk fills mid-save; it complains when collected.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_spec_6_a_full_disk_is_exit_4_naming_the_file_and_emergencies_still_go_out(tmp_path):
    disk = tmp_path / "disk"
    with small_file_system(disk):
        workbook, config, outbox = center(tmp_path, [emergency_row()], folder="disk")
        before = workbook.read_bytes()
        fill(disk)
        result = run(config, NOW)
        assert result.code == 4, result.err
        assert str(workbook) in result.err and "磁碟空間已滿" in result.err
        assert workbook.read_bytes() == before
        assert not list(disk.glob(".*.writing"))
        assert len(emergencies(outbox)) == 2


# --- 9. the declared size is checked before parsing ------------------------------------------

def test_spec_6_a_workbook_declaring_more_than_max_workbook_mb_is_refused_before_parsing(tmp_path, monkeypatch):
    workbook, config, _ = center(tmp_path)
    padding = b"<!--" + b" " * (2 * 1024 * 1024) + b"-->"  # 2 MB that compress to almost nothing
    rewrite_package(workbook, lambda parts: parts.update(
        {"xl/sharedStrings.xml": parts.get("xl/sharedStrings.xml", b"") + padding}
        if "xl/sharedStrings.xml" in parts else {"xl/worksheets/sheet1.xml": parts["xl/worksheets/sheet1.xml"] + padding}))
    assert workbook.stat().st_size < 100_000
    config.write_text("max_workbook_mb = 1\n" + config.read_text(encoding="utf-8"), encoding="utf-8")

    def must_not_parse(*args, **kwargs):
        raise AssertionError("the workbook was parsed")

    monkeypatch.setattr(openpyxl, "load_workbook", must_not_parse)
    result = run(config, NOW)
    assert result.code == 3
    assert "max_workbook_mb" in result.err and str(workbook) in result.err


def test_spec_6_max_workbook_mb_must_be_positive(tmp_path):
    _, config, _ = center(tmp_path)
    config.write_text("max_workbook_mb = 0\n" + config.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(ConfigError, match="max_workbook_mb"):
        load_config(config)


# --- kill -9 during writes -------------------------------------------------------------------

KILLS = 20
STAFF_KEYS = ("接待日期", "業主姓名", "聯系電話", "房號", "事由", "類別")


def staff_cells(workbook: Path) -> list[tuple]:
    return [tuple(row.get(key) for key in STAFF_KEYS) for row in main_rows(workbook)]


def run_child_signalling_writes(config: Path, now: str, signals: int) -> int:
    """Fork a child that runs one cycle; each workbook write in it sends b"B" on entering and
    b"E" on leaving through a pipe (the real writer, wrapped in the child only). Returns the
    child's pid; the parent reads the pipe from `signals`."""
    pid = os.fork()
    if pid:
        return pid
    code = 70
    try:
        import sys

        from automation import cli
        from automation.adapters import workbook_file

        sys.stdout = sys.stderr = open(os.devnull, "w")
        real = workbook_file.write_workbook

        def signalling(*args, **kwargs):
            os.write(signals, b"B")
            try:
                return real(*args, **kwargs)
            finally:
                os.write(signals, b"E")

        workbook_file.write_workbook = signalling
        code = cli.main(["run", "--config", str(config), "--now", now])
    finally:
        os._exit(code)


def kill_during_a_write(pid: int, reader: int, which: int, delay: float) -> bool:
    """Wait for the child's write number `which` (1 or 2) to begin, then SIGKILL it `delay`
    seconds in unless that write ends first. True when the kill landed inside the write (no
    b"E" followed its b"B"); False when the child finished or that write ended first."""
    import select
    import signal

    begun = ended = 0
    while True:
        readable, _, _ = select.select([reader], [], [], delay if begun == which and ended < which else 30)
        if not readable:
            if begun == which and ended < which:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                late = os.read(reader, 64) if select.select([reader], [], [], 0)[0] else b""
                return b"E" not in late
            raise AssertionError("the child stopped signalling")
        data = os.read(reader, 64)
        if not data:  # the child exited
            os.waitpid(pid, 0)
            return False
        begun += data.count(b"B")
        ended += data.count(b"E")
        if ended >= which:  # the write we aimed at is over: let the child finish
            os.waitpid(pid, 0)
            return False


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork to kill a cycle inside a write")
def test_spec_6_kill_9_during_writes_loses_no_emergency_and_no_staff_cell(tmp_path):
    """At least 20 runs killed with SIGKILL at a random moment inside one of their workbook
    writes (the cycle's write or the record of messages sent), a new 緊急 row added before each:
    the workbook always opens, staff cells are never changed, and in the end every emergency
    was alerted to both recipients, none more than twice."""
    import random

    workbook, config, outbox = center(tmp_path, [reception("2026-03-09", f"第{n}項報修") for n in range(10)])
    assert run(config, at("2026-03-10 07:00")).code == 0
    randomness = random.Random(20260310)
    expected_staff = staff_cells(workbook)
    kills = rounds = 0
    while kills < KILLS:
        rounds += 1
        assert rounds <= 5 * KILLS, f"only {kills} of {rounds} kills landed inside a write"
        append_rows(workbook, [emergency_row(f"緊急事項{rounds}")])
        expected_staff = staff_cells(workbook)
        reader, writer = os.pipe()
        pid = run_child_signalling_writes(config, f"2026-03-10T07:{rounds % 60:02d}", writer)
        os.close(writer)
        try:
            kills += kill_during_a_write(pid, reader, randomness.choice((1, 2)), randomness.uniform(0, 0.01))
        finally:
            os.close(reader)
        assert staff_cells(workbook) == expected_staff  # the workbook opens, staff cells as staff left them

    assert run(config, at("2026-03-10 08:00")).code == 0
    rows = main_rows(workbook)
    assert staff_cells(workbook) == expected_staff
    ids = [row["記錄編號"] for row in rows if row["類別"] == "緊急"]
    assert len(ids) == rounds and all(ids)
    sent: dict[tuple[str, str], int] = {}
    for message in outbox.all():
        subject = str(message["Subject"])
        if subject.startswith(EMERGENCY):
            key = (subject.removeprefix(EMERGENCY), str(message["To"]))
            sent[key] = sent.get(key, 0) + 1
    for record_id in ids:
        for person in ("王敏 <supervisor@example.com>", "李強 <manager@example.com>"):
            assert 1 <= sent.get((record_id, person), 0) <= 2, (record_id, person, sent.get((record_id, person)))
    assert not list(tmp_path.glob(".*.writing"))
    print(f"{kills} kills inside a write in {rounds} rounds; repeats: {sum(1 for n in sent.values() if n == 2)}")
