"""The local workbook backend: an `.xlsx` file read and written with openpyxl.

The file is replaced whole on every write (written aside, flushed, then swapped in: see
workbook_file.py, which also checks what the package holds before it is parsed), so a crash or
kill mid-write leaves either the old or the new workbook, never a damaged one (SPEC 6). A row
whose worker cells cannot be written (merged, protected, holding a formula) is reported by
`blocked_rows` so the cycle can skip it. Staff cells are never assigned; worker cells are written as text, never as
formulas. A local workbook cannot enforce who edits which column (SPEC 2.2).
"""

from __future__ import annotations

import io
import weakref
from pathlib import Path
from typing import Any, Callable

import openpyxl
from openpyxl.styles import Font
from openpyxl.utils import column_index_from_string, get_column_letter
from openpyxl.utils.cell import coordinate_from_string
from openpyxl.worksheet.datavalidation import DataValidation

from ..domain.init_plan import InitPlan, Layout, SheetFacts, other_spelling, plan_init
from ..domain.records import Snapshot, WritePlan
from ..errors import AutomationError, SheetUnusableError, WorkbookLockedError
from ..presentation import tab_formats
from ..vocabulary import LANGUAGES, Vocabulary
from . import workbook_file, workbook_splice
from .file_stamp import file_stamp
from .workbook_digests import digests_in_file, keep_digests
from .ports import SheetBackend, TabNames
from .workbook_file import MIB, FileIdentity, PackageFacts
from .workbook_read import SheetRead, WorkbookValues
from .workbook_splice import SplitBook
from .workbook_tabs import add_overdue_rule, format_log, set_plain, write_tab

DEFAULT_MAX_BYTES = 500 * MIB


def office_lock_files(path: Path) -> list[Path]:
    """Lock files an office program keeps beside a workbook it has open (beside the link and
    beside the file it points to, for a workbook given through a symbolic link)."""
    places = dict.fromkeys([Path(path), workbook_file.real_path(path)])
    candidates = [
        name
        for place in places
        for name in (
            place.with_name(f".~lock.{place.name}#"),  # LibreOffice / WPS on Linux
            place.with_name(f"~${place.name}"),  # Excel
            place.with_name(f"~${place.name[2:]}"),  # Excel shortens long names by two characters
        )
    ]
    return [candidate for candidate in dict.fromkeys(candidates) if candidate.exists()]


VALIDATED_ROWS = 100000  # a drop-down covers the column from row 2 to this row
# A picture's bytes, read once (openpyxl closes the stream it reads them from when it saves).
_PICTURE_BYTES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class WorkbookBackend(SheetBackend):
    # A cycle's write keeps the main tab's XML and changes only its worker cells there, where the
    # main tab allows it (workbook_splice.py); False loads and saves the whole workbook with openpyxl.
    splice_main = True

    def __init__(self, path: Path, center: str, max_bytes: int = DEFAULT_MAX_BYTES):
        self.path = Path(path)
        self.center = center
        self.max_bytes = max_bytes
        # Runs at the last instant before the written file is swapped in (a seam for tests that
        # land a staff save exactly there).
        self.before_replace: Callable[[], None] | None = None
        self._stamp: FileIdentity | None = None  # the file as last read or written by us
        self._file_bytes: bytes | None = None  # its bytes as read: what a write loads openpyxl from
        self._facts = PackageFacts()
        self._main: SheetRead | None = None  # the main tab as read (what blocked_rows needs)
        self._main_title = ""
        self._generated: tuple[str, ...] = ()  # generated tab titles (renamed from the other spelling on load)
        # The openpyxl workbook, loaded only when a cycle writes, and the file it is (None: changed
        # in memory since): `serve`'s next writing cycle need not load the file again.
        self._book = None
        self._book_stamp: FileIdentity | None = None

    def describe(self) -> str:
        return f"本地工作簿 {self.path}"

    # --- reading -----------------------------------------------------------------------------
    def _check_not_locked(self) -> None:
        locks = office_lock_files(self.path)
        if locks:
            raise WorkbookLockedError(
                f"服務中心「{self.center}」：工作簿 {self.path.name} 正被辦公軟件打開（{locks[0].name}）；"
                f"請關閉後再運行，本次未寫入任何內容"
            )

    def ensure_writable(self) -> None:
        self._check_not_locked()

    def change_stamp(self) -> dict | None:
        """SPEC 7: one `stat`, the workbook not opened (adapters/file_stamp.py)."""
        return file_stamp(self.path)

    def _unreadable(self, error: Exception) -> SheetUnusableError:
        return SheetUnusableError(
            f"服務中心「{self.center}」：無法讀取工作簿 {self.path}（{type(error).__name__}）；"
            f"請確認它是有效的 .xlsx 檔案"
        )

    def _read_package(self) -> WorkbookValues:
        """The file's bytes, checked before anything parses them (SPEC 6: a zip declaring more
        than max_workbook_mb is refused, exit 3), opened for their values. Reading a workbook
        open in an office program is harmless and lets a cycle still send its 緊急 alerts
        (SPEC 4.2); only writing it is refused."""
        if not self.path.exists():
            raise SheetUnusableError(
                f"服務中心「{self.center}」：找不到工作簿 {self.path}；請檢查 path 設定，或運行 init 建立"
            )
        try:
            self._file_bytes, self._stamp = workbook_file.read_identified(self.path)
            self._facts = workbook_file.inspect_package(self.path, self.center, self.max_bytes, _pictures_supported(),
                                                        data=self._file_bytes)
            return WorkbookValues(self._file_bytes)
        # Whatever a damaged or foreign file makes the reader raise (a zip or XML error, an .xls
        # …), the file is unusable: exit 3 naming it, never an internal error.
        except AutomationError:
            raise
        except Exception as error:
            raise self._unreadable(error) from None

    def read(self, names: TabNames, *, compare_tabs: bool = True) -> Snapshot:
        values = self._read_package()
        main = next((title for title in names.main if title in values.titles), None)
        if main is None:
            raise SheetUnusableError(
                f"服務中心「{self.center}」：工作簿 {self.path.name} 沒有分頁「{names.main[0]}」；"
                f"請將記錄分頁命名為「{names.main[0]}」，本次未寫入任何內容"
            )
        # A generated tab kept under the other language's spelling is read as the configured
        # one; the rename reaches the file with the next write (_adopt_other_spellings).
        self._generated = (*names.summaries, names.log)
        spelled = {title: title if title in values.titles else other_spelling(title, values.titles)
                   for title in self._generated}
        try:
            # A tab without the worker's filter was written before tabs were formatted: left out
            # (no digest, not read), it is rewritten, formats and all. SPEC 7: one the file keeps a
            # digest of is known by it, unless asked to compare.
            formatted = [title for title in names.summaries if spelled[title] and values.filtered(spelled[title])]
            kept = digests_in_file(io.BytesIO(self._file_bytes))
            digests = {title: kept[title] for title in formatted if title in kept}
            compared = [title for title in formatted if compare_tabs or title not in digests]
            found = values.read([main, *(spelled[title] for title in compared), spelled[names.log] or main])
        except Exception as error:
            raise self._unreadable(error) from None
        self._main, self._main_title = found[main], main
        header, rows = _header_and_rows(self._main.rows)
        tabs = {title: found[spelled[title]].rows for title in compared}
        log = found.get(spelled[names.log]) if spelled[names.log] else None
        log_rows = log.rows[1:] if log is not None else []
        return Snapshot(main_tab=main, header=header, rows=rows, tabs=tabs, log_rows=log_rows, tab_digests=digests)

    def _book_to_write(self, plan: WritePlan | None = None, whole: bool = False):
        """The workbook to write, as the file was read: loaded now, when a cycle first writes (the
        one in memory when it is still that file), from the very bytes the cycle read. Loaded
        without the main tab's cells (a SplitBook) when the plan allows it, else whole."""
        if self._file_bytes is None and self._book is None:
            raise RuntimeError("read() must come before write()")
        split = (self.splice_main and not whole and self._main is not None and not self._main.protected
                 and (plan is None or (not plan.new_headers and workbook_splice.can_write(plan.cells))))
        book = self._book if self._book is not None and self._book_stamp == self._stamp else None
        if book is None or (isinstance(book, SplitBook) and not split):
            book = self._load_book(split, plan)
        self._book = book
        self._book_stamp = None  # about to change in memory
        return book

    def _load_book(self, split: bool, plan: WritePlan | None):
        data = self._package_bytes()
        part = workbook_splice.main_part(data, self._main_title) if split else None
        try:
            source = data
            if part is not None:  # the main tab's cells, and those of the tabs rebuilt, left out
                parts = {title: name for name, title in workbook_file.sheet_titles_of(data).items()}
                rebuilt = [parts[title] for title in (plan.tabs if plan else ()) if title in parts]
                source = workbook_splice.without_cells(data, [part.name, *rebuilt])
            # rich_text: a staff cell with mixed formatting (a word in red bold) keeps it when
            # the workbook is saved; without it openpyxl flattens such cells to plain text.
            # keep_vba: an .xlsm keeps its macro project and its macro-enabled content type.
            book = openpyxl.load_workbook(io.BytesIO(source), rich_text=True, keep_vba=self._facts.has_macros)
            workbook_file.rebuild_extension_validations(book, self._facts.extension_validations)
        except Exception as error:
            raise self._unreadable(error) from None
        _adopt_other_spellings(book, self._generated)
        return SplitBook(book, self._main_title, part) if part is not None else book

    def _package_bytes(self) -> bytes:
        """The file's bytes as the cycle read them, or (after a write of ours) as they are now,
        when that is still the file we wrote."""
        if self._file_bytes is not None:
            return self._file_bytes
        data, identity = workbook_file.read_identified(self.path)
        workbook_file.refuse_if_changed(identity, self._stamp, self.center, self.path)
        return data

    # --- writing -----------------------------------------------------------------------------
    def write(self, plan: WritePlan) -> None:
        book = self._book_to_write(plan)
        if isinstance(book, SplitBook):
            book.put_cells(plan.cells)
            book = book.book
        else:
            sheet = book[plan.main_tab]
            bold = Font(bold=True)
            for column, header in plan.new_headers:
                cell = sheet.cell(row=1, column=column)
                set_plain(cell, header)
                cell.font = bold
            for write in plan.cells:
                set_plain(sheet.cell(row=write.row, column=write.column), write.value)
        for title, content in plan.tabs.items():
            _replace_tab(book, title, content, plan.tab_formats.get(title), plan.main_tab)
        if plan.log_rows:
            _append_rows(book, plan.log_tab, plan.log_header, plan.log_rows)
        if plan.tabs and plan.tab_digests is not None:
            keep_digests(book, plan.tab_digests)  # in the same save as the tabs (SPEC 7)
        self._save(self._book)

    def append_log(self, title: str, header: list[str], rows: list[list[Any]]) -> None:
        if not rows:
            return
        book = self._book_to_write()
        _append_rows(book.book if isinstance(book, SplitBook) else book, title, header, rows)
        self._save(book)

    def _save(self, book) -> None:
        self._check_not_locked()
        workbook_file.refuse_losses(self._facts, self.path, self.center)
        # A staff save since we read the file, up to the swap itself, makes the write give up
        # (WorkbookChangedError, exit 4) rather than overwrite it.
        self._stamp = save_book(book, self.path, self.center, self._stamp, self._facts.kept_counts, self.before_replace)
        self._book_stamp = self._stamp
        self._file_bytes = None  # the book in memory is the file now

    def cycle_finished(self) -> None:
        self._file_bytes = None  # the bytes read; a write after this one loads from the book kept

    def blocked_rows(self, main_tab: str, cells) -> dict[int, str]:
        """Sheet rows among `cells` (CellWrite) whose worker cells cannot be written, with why:
        "merged" (merged with other cells), "protected" (a locked cell of a protected tab), or
        "formula" (the cell holds a formula staff put there). Known from the read, except on a
        protected tab, whose cells' locks only the loaded workbook tells (a write follows)."""
        read = self._main
        if read is None or not cells:
            return {}
        if read.protected:
            book = self._book_to_write(whole=True)
            self._book_stamp = self._stamp  # only looked at: still the file
            return _blocked_in_book(book[main_tab], cells)
        return _blocked(cells, read.merged, lambda row, column: "formula" if (row, column) in read.formulas else None)

    # --- init --------------------------------------------------------------------------------
    def initialize(self, layout: Layout) -> list[str]:
        changes = []
        if self.path.exists():
            self._check_not_locked()
            self._read_package()
            book = self._book_to_write(whole=True)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            book = openpyxl.Workbook()
            book.active.title = layout.main_title
            self._stamp = None
            changes.append(Vocabulary(layout.language).label("output", "init_workbook", path=self.path))
        plan = plan_init(layout, _init_facts(book, layout), date_rules=False)
        _apply_init(book, plan)
        changes += plan.main_changes
        if add_overdue_rule(book[plan.main_title], plan.positions):
            changes.append(Vocabulary(layout.language).label("output", "init_overdue_rule"))
        changes += plan.tab_changes
        if changes:
            self._book = book
            self._save(book)
        else:
            self._book, self._book_stamp = book, self._stamp
        return changes


def _header_and_rows(values: list[list[Any]]) -> tuple[list[Any], list[list[Any]]]:
    """The main tab's header row, and its rows from row 2 as wide as the widest, trailing blank
    rows left out."""
    header = list(values[0]) if values else []
    width = max((len(r) for r in values), default=0)
    rows = [row + [None] * (width - len(row)) for row in values[1:]]
    while rows and all(v is None for v in rows[-1]):
        rows.pop()
    return header, rows


def _blocked(cells, spans, reason_of: Callable[[int, int], str | None]) -> dict[int, str]:
    """Row → why, for the rows among `cells` with a worker cell merged with others (`spans`:
    merged ranges as min_row, min_col, max_row, max_col) or one `reason_of` names."""
    columns = {write.column for write in cells}
    merged = {
        (row, column)
        for min_row, min_col, max_row, max_col in spans if (max_row - min_row + 1) * (max_col - min_col + 1) > 1
        for column in range(max(min_col, min(columns)), min(max_col, max(columns)) + 1)
        if column in columns
        for row in range(min_row, max_row + 1)
    }
    blocked: dict[int, str] = {}
    for write in cells:
        if write.row not in blocked:
            reason = "merged" if (write.row, write.column) in merged else reason_of(write.row, write.column)
            if reason:
                blocked[write.row] = reason
    return blocked


def _blocked_in_book(sheet, cells) -> dict[int, str]:
    """blocked_rows from a loaded workbook (a protected tab: each cell's lock is in its style)."""
    protected = bool(sheet.protection.sheet)
    existing = sheet._cells

    def reason_of(row: int, column: int) -> str | None:
        cell = existing.get((row, column))
        if protected and (cell is None or cell.protection.locked):
            return "protected"
        return "formula" if cell is not None and cell.data_type == "f" else None

    spans = [(span.min_row, span.min_col, span.max_row, span.max_col) for span in sheet.merged_cells.ranges]
    return _blocked(cells, spans, reason_of)


def _init_facts(book, layout: Layout) -> SheetFacts:
    """What `init` needs to know about the workbook (see domain/init_plan.py)."""
    main = next((title for title in layout.main_titles if title in book.sheetnames), None)
    if main is None:
        return SheetFacts(tuple(book.sheetnames))
    sheet = book[main]
    rules = {}
    for validation in sheet.data_validations.dataValidation:
        letter, options = _list_rule(validation)
        if letter is not None:
            rules[column_index_from_string(letter) - 1] = ("choice", *options)
    return SheetFacts(tuple(book.sheetnames), tuple(cell.value for cell in sheet[1]) if sheet.max_row >= 1 else (),
                      _last_used_column(sheet), _frozen_rows(sheet), rules)


def _list_rule(validation) -> tuple[str | None, list[str]]:
    """(column letter, options) of a drop-down over one column from row 2 down, as init sets it."""
    ranges = str(validation.sqref).split()
    formula = validation.formula1 or ""
    if validation.type != "list" or len(ranges) != 1 or not (formula.startswith('"') and formula.endswith('"')):
        return None, []
    first, _, last = ranges[0].partition(":")
    letter = first.rstrip("0123456789")
    if first != f"{letter}2" or last != f"{letter}{VALIDATED_ROWS}":
        return None, []
    return letter, formula[1:-1].split(",")


def _apply_init(book, plan: InitPlan) -> None:
    """Make the workbook as `plan` says: main tab, headers (bold, wide enough), frozen header
    row, drop-downs, renamed and new generated tabs."""
    if plan.create_main:
        book.create_sheet(plan.main_title, 0)
    sheet = book[plan.main_title]
    bold = Font(bold=True)
    for position, text in plan.new_headers:
        cell = sheet.cell(row=1, column=position + 1)
        set_plain(cell, text)
        cell.font = bold
        sheet.column_dimensions[get_column_letter(position + 1)].width = max(10, 2.2 * len(text) + 2)
    if plan.freeze_header:  # columns staff froze stay frozen
        frozen_columns = coordinate_from_string(sheet.freeze_panes)[0] if sheet.freeze_panes else "A"
        sheet.freeze_panes = f"{frozen_columns}2"
    for rule in plan.rules:
        letter = get_column_letter(rule.position + 1)
        validation = DataValidation(type="list", formula1='"' + ",".join(rule.options) + '"', allow_blank=True,
                                    showErrorMessage=False)
        validation.add(f"{letter}2:{letter}{VALIDATED_ROWS}")
        sheet.add_data_validation(validation)
    for old_title, title in plan.renames:
        book[old_title].title = title
        _respell_header(book[title], title)
    for title, header in plan.new_tabs:
        tab = book.create_sheet(title)
        for position, text in enumerate(header, start=1):
            set_plain(tab.cell(row=1, column=position), text)
            tab.cell(row=1, column=position).font = bold


def _last_used_column(sheet) -> int:
    """The rightmost column holding a value in any row (0 for an empty sheet)."""
    used = [column for (_, column), cell in sheet._cells.items() if cell.value not in (None, "")]
    return max(used, default=0)


def _frozen_rows(sheet) -> int:
    """How many rows at the top are frozen."""
    if not sheet.freeze_panes:
        return 0
    return coordinate_from_string(sheet.freeze_panes)[1] - 1


def _adopt_other_spellings(book, titles) -> list[tuple[str, str]]:
    """Rename a generated tab kept under the other language's spelling to the configured one.

    After `language` is switched, the event log written so far stays the worker's memory (ids
    issued, messages sent: SPEC 2.2, 4.2) and the old summary tabs are not left behind, stale,
    next to new ones. The rename reaches the file with the next save. Returns (old, new) titles."""
    renamed = []
    for title in titles:
        other = other_spelling(title, book.sheetnames)
        if other is not None:
            book[other].title = title
            renamed.append((other, title))
            _respell_header(book[title], title)
    return renamed


def _respell_header(sheet, title: str) -> None:
    """The header row of a renamed generated tab in the new title's language: the event log is
    kept (it is the worker's memory), and its header must not stay in the old language."""
    for language in LANGUAGES:
        vocabulary = Vocabulary(language)
        key = next((key for key in vocabulary.generated_tab_keys if vocabulary.tab_title(key) == title), None)
        if key is not None:
            for position, text in enumerate(vocabulary.tab_layout(key), start=1):
                if sheet.cell(row=1, column=position).value != text:
                    set_plain(sheet.cell(row=1, column=position), text)
            return


def _replace_tab(book, title: str, content: list[list[Any]], form, main_title: str) -> None:
    """Rewrite a generated tab whole, in place (its position among the tabs is kept)."""
    if title in book.sheetnames:
        index = book.sheetnames.index(title)
        book.remove(book[title])
        sheet = book.create_sheet(title, index)
    else:
        sheet = book.create_sheet(title)
    if form is None:  # a plan without formats (a caller of the backend alone): plain but readable
        form = tab_formats.plain_format(content)
    write_tab(sheet, content, form, main_title)


def _append_rows(book, title: str, header: list[str], rows: list[list[Any]]) -> None:
    if title not in book.sheetnames:
        sheet = book.create_sheet(title)
        for column, text in enumerate(header, start=1):
            set_plain(sheet.cell(row=1, column=column), text)
    sheet = book[title]
    start = sheet.max_row + 1 if sheet.max_row > 1 or sheet.cell(1, 1).value is not None else 1
    for offset, row in enumerate(rows):
        for column, value in enumerate(row, start=1):
            set_plain(sheet.cell(row=start + offset, column=column), value)
    format_log(sheet, tab_formats.event_log_format(), start)


def atomic_save(book, path: Path) -> None:
    """Write a workbook nobody else has (the demo's): aside, flushed, then renamed in."""
    save_book(book, Path(path), "", None)


def save_book(book, path: Path, center: str, expected: FileIdentity | None, kept_counts=None,
              before_replace: Callable[[], None] | None = None) -> FileIdentity:
    """workbook_file.write_workbook, with the workbook's pictures made saveable first."""
    _keep_pictures_saveable(book)
    return workbook_file.write_workbook(book, path, center, expected, kept_counts, before_replace)


def _keep_pictures_saveable(book) -> None:
    """Give every picture its bytes back before a save.

    openpyxl (with Pillow, which it needs to keep pictures at all) reads a picture's bytes from
    a stream it closes while saving, so a workbook saved twice in one cycle (the cycle's writes,
    then the record of messages sent) would fail on the second save."""
    for sheet in book.worksheets:
        for image in sheet._images:  # openpyxl offers no public list of a sheet's pictures
            data = _PICTURE_BYTES.get(image)
            if data is None:
                data = _PICTURE_BYTES[image] = image._data()  # nor a public way to their bytes
            image.ref = io.BytesIO(data)


def _pictures_supported() -> bool:
    """openpyxl keeps pictures only with Pillow installed."""
    try:
        import PIL  # noqa: F401
    except ImportError:
        return False
    return True
