"""The workbook file itself: what may be parsed, what the writer carries over, and replacing it.

The writer is openpyxl, which re-serialises the whole package. What it cannot carry over is
found here before anything is parsed (SPEC 6), from the zip directory and the parts' XML:
- kept: macros of an `.xlsm` (openpyxl's keep_vba keeps vbaProject.bin and the macro-enabled
  content type); drop-downs stored as a worksheet extension (`x14:dataValidations`), rebuilt as
  ordinary list validations with the same list and range; charts, pictures, pivot tables,
  comments (openpyxl keeps them; a save that would lose one is refused all the same);
- refused (exit 3, naming what would be lost): shapes and text boxes, SmartArt, slicers,
  timelines, form and ActiveX controls, sparklines, extended conditional formats, any other
  worksheet extension.

The file is replaced whole: written aside in the folder of the file itself (a symbolic link is
followed, and stays), flushed, given the original's owner, group and permission bits, then
swapped in with an atomic exchange where the system has one (Linux renameat2), so that a staff
save up to the last instant is seen in what came out, and put back.
"""

from __future__ import annotations

import ctypes
import errno
import glob
import io
import os
import re
import stat
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from xml.etree import ElementTree

from ..errors import SheetUnusableError, WorkbookChangedError, WorkbookWriteError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

MIB = 1024 * 1024
TEMP_SUFFIX = ".writing"

_NS = {
    "main": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "rel": "http://schemas.openxmlformats.org/package/2006/relationships",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "xdr": "http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing",
    "a": "http://schemas.openxmlformats.org/drawingml/2006/main",
    "x14": "http://schemas.microsoft.com/office/spreadsheetml/2009/9/main",
    "xm": "http://schemas.microsoft.com/office/excel/2006/main",
}
_CHART_URI = "http://schemas.openxmlformats.org/drawingml/2006/chart"

# Worksheet extensions (`<extLst><ext>` children) the writer would drop, by element name.
_EXTENSION_NAMES = {
    "conditionalFormattings": "擴展條件格式（資料橫條、圖示集等）",
    "sparklineGroups": "走勢圖（sparkline）",
    "slicerList": "切片器（slicer）",
    "timelineRefs": "日程表（timeline）",
}
# Parts the writer would drop, by folder.
_FOLDER_NAMES = {
    "xl/slicers/": "切片器（slicer）",
    "xl/slicerCaches/": "切片器（slicer）",
    "xl/timelines/": "日程表（timeline）",
    "xl/timelineCaches/": "日程表（timeline）",
    "xl/ctrlProps/": "表單控件（按鈕、核取方塊、下拉方塊）",
    "xl/activeX/": "ActiveX 控件",
}
# Parts openpyxl keeps; a save is checked to hold at least as many of each.
KEPT_PART_KINDS = {
    "巨集（VBA）": re.compile(r"xl/vbaProject\.bin$"),
    "圖表": re.compile(r"xl/charts/chart\d*\.xml$"),
    "圖片": re.compile(r"xl/media/"),
    "樞紐分析表": re.compile(r"xl/pivotTables/pivotTable\d*\.xml$"),
    "樞紐分析表快取": re.compile(r"xl/pivotCache/pivotCacheDefinition\d*\.xml$"),
    "批註": re.compile(r"xl/comments/?\w*\.xml$"),
}


@dataclass(frozen=True)
class FileIdentity:
    """Which file a path held, and in what state: a staff save changes the inode (an office
    program writes aside and renames) or the modification time and size (a save in place)."""

    device: int
    inode: int
    mtime_ns: int
    size: int

    @classmethod
    def of(cls, path: Path | str) -> "FileIdentity":
        return cls.of_stat(os.stat(path))

    @classmethod
    def of_stat(cls, found: os.stat_result) -> "FileIdentity":
        return cls(found.st_dev, found.st_ino, found.st_mtime_ns, found.st_size)


def read_identified(path: Path) -> tuple[bytes, FileIdentity]:
    """A file's bytes and the identity of the very file they came from (a staff save that
    replaces the file meanwhile does not mix the two)."""
    with open(path, "rb") as handle:
        for _ in range(3):  # a save in place while we read: read again
            identity = FileIdentity.of_stat(os.fstat(handle.fileno()))
            handle.seek(0)
            data = handle.read()
            if FileIdentity.of_stat(os.fstat(handle.fileno())) == identity:
                break
        return data, identity


@dataclass(frozen=True)
class ExtensionValidation:
    """A drop-down Excel stored as a worksheet extension (its list refers to another tab)."""

    sheet_title: str
    kind: str
    formula1: str
    formula2: str
    sqref: str
    options: dict = field(default_factory=dict)


@dataclass
class PackageFacts:
    """What a workbook package holds that matters to the writer."""

    has_macros: bool = False
    extension_validations: list[ExtensionValidation] = field(default_factory=list)
    would_lose: list[str] = field(default_factory=list)
    kept_counts: dict[str, int] = field(default_factory=dict)


# --- before parsing ----------------------------------------------------------------------------

def inspect_package(path: Path, center: str, max_bytes: int, pictures_supported: bool = True,
                    data: bytes | None = None) -> PackageFacts:
    """Check a workbook package before it is parsed: its declared uncompressed size (a small zip
    can expand to gigabytes), and what it holds that the writer would lose. A file that is not
    a zip is left to the parser, whose error names it. `data`: the file's bytes, already read."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data) if data is not None else path)
    except (zipfile.BadZipFile, OSError, ValueError):
        return PackageFacts()
    with archive:
        infos = archive.infolist()
        declared = sum(info.file_size for info in infos)
        if declared > max_bytes:
            raise SheetUnusableError(
                f"服務中心「{center}」：工作簿 {path} 解壓後有 {declared / MIB:,.0f} MB，超過上限 "
                f"max_workbook_mb = {max_bytes // MIB}；本次未讀取、未寫入。請確認檔案是否正確，"
                f"或把舊記錄移到另一個工作簿；確需處理更大的檔案時調高設定檔的 max_workbook_mb")
        names = [info.filename for info in infos]
        facts = PackageFacts(has_macros="xl/vbaProject.bin" in names, kept_counts=count_kept_parts(names))
        lost = facts.would_lose
        for folder, what in _FOLDER_NAMES.items():
            if any(name.startswith(folder) for name in names):
                lost.append(what)
        for name in names:
            if re.fullmatch(r"xl/drawings/[^/]+\.xml", name):
                lost.extend(_drawing_losses(_parse(archive, name), pictures_supported))
        titles = sheet_titles(archive)
        for part, title in titles.items():
            if part in names:
                _worksheet_extensions(_extension_list(archive.read(part)), title, facts)
    facts.would_lose = list(dict.fromkeys(lost))
    return facts


def refuse_losses(facts: PackageFacts, path: Path, center: str) -> None:
    if facts.would_lose:
        raise SheetUnusableError(
            f"服務中心「{center}」：工作簿 {path} 含有工作者保存時無法保留的內容："
            f"{'、'.join(facts.would_lose)}；為免丟失，本次未寫入。請把這些內容移到另一個工作簿"
            f"（記錄分頁只留資料），或改用 Google 試算表")


def count_kept_parts(names) -> dict[str, int]:
    return {kind: sum(1 for name in names if pattern.match(name)) for kind, pattern in KEPT_PART_KINDS.items()}


def _parse(archive: zipfile.ZipFile, name: str):
    try:
        return ElementTree.fromstring(archive.read(name))
    except ElementTree.ParseError:
        return None  # the parser will report the damaged part


def _drawing_losses(root, pictures_supported: bool) -> list[str]:
    if root is None:
        return []
    lost = []
    xdr, a = _NS["xdr"], _NS["a"]
    for shape in root.iter(f"{{{xdr}}}sp"):
        box = shape.find(f"{{{xdr}}}nvSpPr/{{{xdr}}}cNvSpPr")
        lost.append("文字方塊" if box is not None and box.get("txBox") == "1" else "形狀")
    if any(True for _ in root.iter(f"{{{xdr}}}grpSp")) or any(True for _ in root.iter(f"{{{xdr}}}cxnSp")):
        lost.append("形狀")
    for data in root.iter(f"{{{a}}}graphicData"):
        if data.get("uri") != _CHART_URI:
            lost.append("SmartArt 或其他嵌入物件")
    if not pictures_supported and any(True for _ in root.iter(f"{{{xdr}}}pic")):
        lost.append("圖片（需安裝 Pillow 才能保留）")
    return lost


def sheet_titles(archive: zipfile.ZipFile) -> dict[str, str]:
    """Worksheet part name → tab title, from workbook.xml and its relationships."""
    try:
        workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ElementTree.ParseError):
        return {}
    targets = {}
    for relation in rels.iter(f"{{{_NS['rel']}}}Relationship"):
        target = relation.get("Target", "")
        target = target.lstrip("/") if target.startswith("/") else "xl/" + target
        targets[relation.get("Id")] = os.path.normpath(target).replace(os.sep, "/")
    titles = {}
    for sheet in workbook.iter(f"{{{_NS['main']}}}sheet"):
        part = targets.get(sheet.get(f"{{{_NS['r']}}}id"))
        if part:
            titles[part] = sheet.get("name", "")
    return titles


def sheet_parts(archive: zipfile.ZipFile) -> dict[str, str]:
    """Tab title → its worksheet part name (`sheet_titles` the other way round)."""
    return {title: part for part, title in sheet_titles(archive).items()}


def sheet_titles_of(data: bytes) -> dict[str, str]:
    """sheet_titles of a package given as bytes."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return sheet_titles(archive)


def _extension_list(sheet_xml: bytes):
    """A worksheet's `<extLst>` (its last child, by the schema), parsed alone: the sheet itself,
    tens of megabytes for a long log, is only searched, never parsed here. None when absent."""
    start = sheet_xml.rfind(b"<extLst")
    end = sheet_xml.rfind(b"</extLst>")
    if start < 0 or end < start:
        return None
    # The prefixes the fragment uses may be declared on the worksheet element: carry them over.
    root_tag = re.search(rb"<(?:\w+:)?worksheet\b[^>]*>", sheet_xml)
    declarations = b" ".join(re.findall(rb'xmlns(?::\w+)?="[^"]*"', root_tag.group(0))) if root_tag else b""
    fragment = b"<fragment " + declarations + b">" + sheet_xml[start:end + len(b"</extLst>")] + b"</fragment>"
    try:
        return ElementTree.fromstring(fragment).find(f"{{{_NS['main']}}}extLst")
    except ElementTree.ParseError:
        return None  # the parser will report the damaged part


def _worksheet_extensions(ext_list, title: str, facts: PackageFacts) -> None:
    if ext_list is None:
        return
    for ext in ext_list:
        for content in ext:
            name = content.tag.rsplit("}", 1)[-1]
            if name == "dataValidations":
                facts.extension_validations.extend(_extension_validations(content, title))
            else:
                facts.would_lose.append(_EXTENSION_NAMES.get(name, f"分頁「{title}」的擴展內容（{name}）"))


def _extension_validations(content, title: str) -> list[ExtensionValidation]:
    x14, xm = _NS["x14"], _NS["xm"]
    found = []
    for item in content.iter(f"{{{x14}}}dataValidation"):
        formulas = [item.findtext(f"{{{x14}}}formula{n}/{{{xm}}}f") or "" for n in (1, 2)]
        sqref = item.findtext(f"{{{xm}}}sqref") or ""
        options = {key: value for key, value in item.attrib.items() if key not in ("type", "uid")}
        found.append(ExtensionValidation(title, item.get("type", "list"), formulas[0], formulas[1], sqref, options))
    return found


# --- after parsing -------------------------------------------------------------------------------

_BOOLEAN_OPTIONS = {"allowBlank": "allow_blank", "showErrorMessage": "showErrorMessage",
                    "showInputMessage": "showInputMessage", "showDropDown": "showDropDown"}
_TEXT_OPTIONS = ("errorTitle", "error", "promptTitle", "prompt", "errorStyle", "operator", "imeMode")


def rebuild_extension_validations(book, validations: list[ExtensionValidation]) -> None:
    """Add each extension drop-down to its tab as an ordinary validation: the same list (Excel
    2010 and later, WPS and LibreOffice accept a list on another tab there) on the same cells."""
    from openpyxl.worksheet.datavalidation import DataValidation

    for found in validations:
        if found.sheet_title not in book.sheetnames or not found.sqref:
            continue
        sheet = book[found.sheet_title]
        known = {(dv.type, dv.formula1, str(dv.sqref)) for dv in sheet.data_validations.dataValidation}
        if (found.kind, found.formula1, found.sqref) in known:
            continue
        options = {name: found.options[key] in ("1", "true") for key, name in _BOOLEAN_OPTIONS.items()
                   if key in found.options}
        options.update({key: found.options[key] for key in _TEXT_OPTIONS if key in found.options})
        validation = DataValidation(type=found.kind, formula1=found.formula1 or None,
                                    formula2=found.formula2 or None, **options)
        validation.sqref = found.sqref
        sheet.add_data_validation(validation)


# --- writing -------------------------------------------------------------------------------------

def real_path(path: Path) -> Path:
    """Where the workbook really is: a symbolic link is followed (the link stays as it is)."""
    return Path(os.path.realpath(path))


def write_workbook(book, path: Path, center: str, expected: FileIdentity | None,
                   kept_counts: dict[str, int] | None = None,
                   before_replace: Callable[[], None] | None = None) -> FileIdentity:
    """Write `book` aside, flushed, then swap it in for the file at `path` (followed if a link).

    `expected` is the file as it was read: when the file there is no longer that one (a staff
    save, at any moment up to the swap), the write is given up (WorkbookChangedError) and the
    staff's file stays. `before_replace` runs at the last instant before the swap (a seam for
    tests). A file or folder that cannot be written raises WorkbookWriteError naming it and the
    cause. `kept_counts` (from inspect_package) are the charts, pictures… the file held: a save
    holding fewer is refused. Returns the identity of the file written."""
    target = real_path(path)
    try:
        original = os.stat(target)
    except FileNotFoundError:
        original = None
    except OSError as error:
        raise write_error(center, target, error) from None
    try:
        handle, temp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=TEMP_SUFFIX, dir=target.parent)
    except OSError as error:
        raise write_error(center, target.parent, error) from None
    swapped = False
    try:
        with os.fdopen(handle, "wb") as temp:
            _lock_exclusively(temp.fileno(), wait=True)
            book.save(temp)
            temp.flush()
            os.fsync(temp.fileno())
            keep_ownership(temp.fileno(), original, center, target)
            written = os.fstat(temp.fileno())
            check_nothing_lost(temp_name, kept_counts, center, target)
            if before_replace is not None:
                before_replace()
            if os.name == "posix":  # swapped while still locked: never seen unlocked under its temp name
                swap_in(temp_name, target, expected, written, center)
                swapped = True
        if not swapped:  # Windows cannot rename a file that is still open
            swap_in(temp_name, target, expected, written, center)
    except BaseException as error:
        # Whatever the temp name holds now (our file, or the old one after a swap given up) is
        # not the workbook.
        _unlink_quietly(temp_name)
        if isinstance(error, OSError):
            raise write_error(center, target, error) from None
        raise
    _fsync_directory(target.parent)
    remove_abandoned_temp_files(target)
    return FileIdentity(written.st_dev, written.st_ino, written.st_mtime_ns, written.st_size)


def keep_ownership(fd: int, original: os.stat_result | None, center: str, target: Path) -> None:
    """Give the new file the owner (where we may), group and permission bits of the one it
    replaces, so whoever could open the workbook still can. A new workbook gets what the umask
    gives a new file (a temp file is created private)."""
    if original is None:
        os.fchmod(fd, 0o666 & ~_umask())
        return
    if hasattr(os, "fchown"):
        mine = os.fstat(fd)
        uid = original.st_uid if os.geteuid() == 0 else -1
        if original.st_gid != mine.st_gid or (uid != -1 and uid != mine.st_uid):
            try:
                os.fchown(fd, uid, original.st_gid)
            except PermissionError:
                raise WorkbookWriteError(
                    f"服務中心「{center}」：無法讓新寫的工作簿 {target} 保留原來的所屬組（gid {original.st_gid}），"
                    f"替換後同組同事會打不開它，所以本次未寫入；請讓運行工作者的用戶加入該組") from None
    os.fchmod(fd, stat.S_IMODE(original.st_mode))  # after chown, which may clear setgid bits


def check_nothing_lost(written_path: str, kept_counts: dict[str, int] | None, center: str, target: Path) -> None:
    """A save holds at least as many charts, pictures, pivot tables, comments and macro projects
    as the file it replaces; otherwise it is refused (exit 3) before it replaces anything."""
    if not kept_counts:
        return
    with zipfile.ZipFile(written_path) as archive:
        now = count_kept_parts(archive.namelist())
    lost = [kind for kind, count in kept_counts.items() if now.get(kind, 0) < count]
    if lost:
        raise SheetUnusableError(
            f"服務中心「{center}」：保存工作簿 {target} 會丟失其中的{'、'.join(lost)}；為免丟失，本次未寫入。"
            f"請把這些內容移到另一個工作簿，或改用 Google 試算表")


def swap_in(temp_name: str, target: Path, expected: FileIdentity | None, written: os.stat_result,
            center: str) -> None:
    """Put the written file at `target`, unless the file there is no longer `expected`."""
    if expected is None:
        os.replace(temp_name, target)
        return
    try:
        current = FileIdentity.of(target)
    except FileNotFoundError:  # moved or deleted meanwhile: whatever staff did stands
        current = None
    refuse_if_changed(current, expected, center, target)
    if not exchange(temp_name, target):
        os.replace(temp_name, target)  # no atomic exchange here: the check above is the closest
        return
    came_out = FileIdentity.of(temp_name)
    if came_out != expected:
        # A staff save landed between the check and the swap: theirs goes back where it was.
        if os.stat(target).st_ino == written.st_ino:
            exchange(temp_name, target)
        refuse_if_changed(came_out, expected, center, target)
    _unlink_quietly(temp_name)  # the replaced workbook


def refuse_if_changed(found: FileIdentity | None, expected: FileIdentity, center: str, target: Path) -> None:
    if found != expected:
        raise WorkbookChangedError(
            f"服務中心「{center}」：工作簿 {target.name} 在本次運行期間被修改（可能有同事剛保存）；"
            f"為免覆蓋，本次未寫入，下次運行會從新版本開始")


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_libc = None


def exchange(first: str | Path, second: str | Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE). False where the system or
    file system has no such call; OSError for a real failure."""
    global _libc
    if not sys.platform.startswith("linux"):
        return False
    if _libc is None:
        try:
            _libc = ctypes.CDLL(None, use_errno=True)
        except OSError:
            _libc = False
    renameat2 = getattr(_libc, "renameat2", None) if _libc else None
    if renameat2 is None:
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(second))


_CAUSES = {
    errno.ENOSPC: "磁碟空間已滿",
    errno.EDQUOT: "超出磁碟配額",
    errno.EROFS: "檔案系統是唯讀的",
    errno.EACCES: "沒有寫入權限",
    errno.EPERM: "不允許寫入（權限或檔案屬性）",
    errno.ENOENT: "資料夾不存在",
    errno.EIO: "磁碟讀寫錯誤",
}


def write_error(center: str, where: Path, error: OSError) -> WorkbookWriteError:
    cause = _CAUSES.get(error.errno, error.strerror or type(error).__name__)
    kind = "資料夾" if where.is_dir() else "工作簿"
    return WorkbookWriteError(
        f"服務中心「{center}」：無法寫入{kind} {where}（{cause}）；本次未寫入，工作簿保持原樣。"
        f"請騰出空間或給運行工作者的用戶寫入權限，下次運行會補上")


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # some file systems refuse fsync on directories; the rename stands
        pass


def _unlink_quietly(name: str) -> None:
    try:
        os.unlink(name)
    except OSError:
        pass


def _umask() -> int:
    """The process umask, read without changing it (os.umask would, for every thread, briefly)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _lock_exclusively(fd: int, wait: bool) -> bool:
    """An advisory lock held until the file is closed (or its process dies). True when taken;
    always True where there is no fcntl (Windows), which refuses to delete an open file anyway."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except OSError:
        return False
    return True


def remove_abandoned_temp_files(path: Path) -> list[Path]:
    """Delete temp files of this workbook that no live process is writing (a killed run's)."""
    removed = []
    for candidate in Path(path).parent.glob(f".{glob.escape(Path(path).stem)}.*{TEMP_SUFFIX}"):
        try:
            if fcntl is None:
                os.unlink(candidate)  # fails while another process still has it open
            else:
                fd = os.open(candidate, os.O_RDONLY)
                try:
                    if not _lock_exclusively(fd, wait=False):
                        continue  # a live run is writing it
                    os.unlink(candidate)
                finally:
                    os.close(fd)
        except OSError:
            continue
        removed.append(candidate)
    return removed
