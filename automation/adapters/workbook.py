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
from openpyxl.cell.rich_text import CellRichText
from openpyxl.styles import Font
from openpyxl.utils import column_index_from_string, get_column_letter
from openpyxl.utils.cell import coordinate_from_string
from openpyxl.worksheet.datavalidation import DataValidation

from ..domain.init_plan import InitPlan, Layout, SheetFacts, other_spelling, plan_init
from ..domain.records import Snapshot, WritePlan
from ..errors import AutomationError, SheetUnusableError, WorkbookLockedError
from ..presentation import tab_formats
from ..vocabulary import LANGUAGES, Vocabulary
from . import workbook_file
from .file_stamp import file_stamp
from .workbook_digests import digests_in_file, keep_digests
from .ports import SheetBackend, TabNames
from .workbook_file import MIB, FileIdentity, PackageFacts
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
    def __init__(self, path: Path, center: str, max_bytes: int = DEFAULT_MAX_BYTES):
        self.path = Path(path)
        self.center = center
        self.max_bytes = max_bytes
        # Runs at the last instant before the written file is swapped in (a seam for tests that
        # land a staff save exactly there).
        self.before_replace: Callable[[], None] | None = None
        self._book = None
        self._stamp: FileIdentity | None = None
        self._facts = PackageFacts()
        # The workbook in memory is the file as it is on disk (loaded or saved by us, and the file's
        # stamp unchanged since): `serve`'s next cycle need not parse the file again.
        self._book_is_file = False

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

    def _file_stamp(self) -> FileIdentity:
        return FileIdentity.of(self.path)

    def ensure_writable(self) -> None:
        self._check_not_locked()

    def change_stamp(self) -> dict | None:
        """SPEC 7: one `stat`, the workbook not opened (adapters/file_stamp.py)."""
        return file_stamp(self.path)

    def _load(self, for_writing: bool = True):
        # Reading a workbook open in an office program is harmless and lets a cycle still send
        # its 緊急 alerts (SPEC 4.2); only writing it is refused.
        if for_writing:
            self._check_not_locked()
        if not self.path.exists():
            raise SheetUnusableError(
                f"服務中心「{self.center}」：找不到工作簿 {self.path}；請檢查 path 設定，或運行 init 建立"
            )
        try:
            self._stamp = self._file_stamp()
            # Before parsing: a zip declaring more than max_workbook_mb is refused (exit 3).
            self._facts = workbook_file.inspect_package(self.path, self.center, self.max_bytes, _pictures_supported())
            # rich_text: a staff cell with mixed formatting (a word in red bold) keeps it when the
            # workbook is saved; without it openpyxl flattens such cells to plain text.
            # keep_vba: an .xlsm keeps its macro project and its macro-enabled content type.
            book = openpyxl.load_workbook(self.path, rich_text=True, keep_vba=self._facts.has_macros)
            workbook_file.rebuild_extension_validations(book, self._facts.extension_validations)
            self._book = book
            self._book_is_file = True
        # Whatever a damaged or foreign file makes openpyxl raise (BadZipFile, KeyError for a
        # missing part, an XML ParseError, InvalidFileException for an .xls …), the file is
        # unusable: exit 3 naming it, never an internal error.
        except AutomationError:
            raise
        except Exception as error:
            raise SheetUnusableError(
                f"服務中心「{self.center}」：無法讀取工作簿 {self.path}（{type(error).__name__}）；"
                f"請確認它是有效的 .xlsx 檔案"
            ) from None
        return self._book

    def _current_book(self):
        """The workbook as the file holds it now: the one in memory when the file has not changed
        since we loaded or saved it (parsing a 100,000-row workbook takes openpyxl half a minute),
        else loaded afresh."""
        if self._book is not None and self._book_is_file and self.path.exists():
            try:
                unchanged = self._file_stamp() == self._stamp
            except OSError:
                unchanged = False
            if unchanged:
                return self._book
        return self._load(for_writing=False)

    def read(self, names: TabNames, *, compare_tabs: bool = True) -> Snapshot:
        book = self._current_book()
        _adopt_other_spellings(book, (*names.summaries, names.log))
        main = next((title for title in names.main if title in book.sheetnames), None)
        if main is None:
            raise SheetUnusableError(
                f"服務中心「{self.center}」：工作簿 {self.path.name} 沒有分頁「{names.main[0]}」；"
                f"請將記錄分頁命名為「{names.main[0]}」，本次未寫入任何內容"
            )
        values = _sheet_values(book[main])
        header = values[0] if values else []
        width = max((len(r) for r in values), default=0)
        rows = [row + [None] * (width - len(row)) for row in values[1:]]
        while rows and all(v is None for v in rows[-1]):
            rows.pop()
        # A tab without the worker's filter was written before tabs were formatted: left out (no
        # digest, not read), it is rewritten, formats and all. SPEC 7: one the file keeps a digest
        # of is known by it, unless asked to compare.
        formatted = [title for title in names.summaries if title in book.sheetnames and book[title].auto_filter.ref]
        kept = digests_in_file(self.path)
        digests = {title: kept[title] for title in formatted if title in kept}
        tabs = {title: _sheet_values(book[title]) for title in formatted if compare_tabs or title not in digests}
        log_rows = []
        if names.log in book.sheetnames:
            log_rows = _sheet_values(book[names.log], min_row=2)
        return Snapshot(main_tab=main, header=list(header), rows=rows, tabs=tabs, log_rows=log_rows,
                        tab_digests=digests)

    # --- writing -----------------------------------------------------------------------------
    def write(self, plan: WritePlan) -> None:
        book = self._book
        if book is None:
            raise RuntimeError("read() must come before write()")
        self._book_is_file = False
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
        self._save(book)

    def append_log(self, title: str, header: list[str], rows: list[list[Any]]) -> None:
        if not rows:
            return
        self._book_is_file = False
        _append_rows(self._book, title, header, rows)
        self._save(self._book)

    def _save(self, book) -> None:
        self._check_not_locked()
        workbook_file.refuse_losses(self._facts, self.path, self.center)
        # A staff save since we read the file, up to the swap itself, makes the write give up
        # (WorkbookChangedError, exit 4) rather than overwrite it.
        self._stamp = save_book(book, self.path, self.center, self._stamp, self._facts.kept_counts, self.before_replace)
        self._book_is_file = True

    def blocked_rows(self, main_tab: str, cells) -> dict[int, str]:
        """Sheet rows among `cells` (CellWrite) whose worker cells cannot be written, with why:
        "merged" (merged with other cells), "protected" (a locked cell of a protected tab), or
        "formula" (the cell holds a formula staff put there)."""
        if self._book is None or main_tab not in self._book.sheetnames or not cells:
            return {}
        sheet = self._book[main_tab]
        columns = {write.column for write in cells}
        merged = {
            (row, column)
            for span in sheet.merged_cells.ranges if span.size["rows"] * span.size["columns"] > 1
            for column in range(max(span.min_col, min(columns)), min(span.max_col, max(columns)) + 1)
            if column in columns
            for row in range(span.min_row, span.max_row + 1)
        }
        protected = bool(sheet.protection.sheet)
        existing = sheet._cells
        blocked: dict[int, str] = {}
        for write in cells:
            if write.row in blocked:
                continue
            if (write.row, write.column) in merged:
                blocked[write.row] = "merged"
                continue
            cell = existing.get((write.row, write.column))
            if protected and (cell is None or cell.protection.locked):
                blocked[write.row] = "protected"
            elif cell is not None and cell.data_type == "f":
                blocked[write.row] = "formula"
        return blocked

    # --- init --------------------------------------------------------------------------------
    def initialize(self, layout: Layout) -> list[str]:
        changes = []
        if self.path.exists():
            book = self._load()
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
        self._book_is_file = False
        if changes:
            workbook_file.refuse_losses(self._facts, self.path, self.center)
            self._stamp = save_book(book, self.path, self.center, self._stamp, self._facts.kept_counts,
                                    self.before_replace)
        self._book = book
        self._book_is_file = self._stamp is not None
        return changes


def _sheet_values(sheet, min_row: int = 1) -> list[list[Any]]:
    """`sheet.iter_rows(min_row=min_row, values_only=True)` as lists, rich text as its text.

    Built from the sheet's table of cells in one pass: iter_rows looks up every coordinate of
    the rectangle (and creates an empty cell for each gap, which the next save then writes)."""
    if min_row == 1 and not sheet._cells:  # iter_rows() of a sheet without a cell
        return []
    max_row, max_column = sheet.max_row, sheet.max_column
    grid = [[None] * max_column for _ in range(max(0, max_row - min_row + 1))]
    for (row, column), cell in sheet._cells.items():
        if row >= min_row:
            value = cell.value
            if value is not None:
                grid[row - min_row][column - 1] = str(value) if isinstance(value, CellRichText) else value
    return grid


def _plain_rows(rows) -> list[list[Any]]:
    """Cell values as the core reads them: rich text (mixed formatting in one cell) as its text."""
    return [[str(v) if isinstance(v, CellRichText) else v for v in row] for row in rows]


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
