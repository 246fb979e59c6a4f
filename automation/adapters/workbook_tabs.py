"""Writing the generated tabs of a local workbook as people read and print them (SPEC 4.1).

Applies a `presentation.tab_formats.TabFormat` with openpyxl: typed cells with number formats,
column widths, wrapping, a bold frozen filtered header, landscape pages fitted to the width
with the header repeated, links from each 記錄編號 to its main-tab row (a cell hyperlink: the
cell's value stays plain text, never a formula), highlight rules (conditional formatting, so
"due today" stays true on the next day without a rewrite) and the charts of 週報 and 季度復審
(Excel charts).
"""

from __future__ import annotations

from typing import Any

from openpyxl.chart import BarChart, Reference
from openpyxl.chart.data_source import AxDataSource, NumDataSource, NumRef, StrRef
from openpyxl.chart.series import Series, SeriesLabel
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import absolute_coordinate, get_column_letter, quote_sheetname
from openpyxl.worksheet.hyperlink import Hyperlink
from openpyxl.worksheet.properties import PageSetupProperties

from ..presentation import tab_formats
from ..presentation.tab_formats import TabFormat

FONT_NAME = "Calibri"  # the workbook's default font: a font without a name prints in a serif face
HEADER_FONT = Font(name=FONT_NAME, size=11, bold=True)
HEADER_FILL = PatternFill("solid", fgColor=tab_formats.HEADER_FILL)
LINK_FONT = Font(name=FONT_NAME, size=11, color=tab_formats.LINK_FONT, underline="single")
BOLD = Font(name=FONT_NAME, size=11, bold=True)


def set_plain(cell, value: Any) -> None:
    """Assign a value so text stays text: a string starting with '=' must not become a formula."""
    cell.value = value
    if isinstance(value, str) and cell.data_type == "f":
        cell.data_type = "s"


def _alignment(style: tab_formats.ColumnStyle, header: bool = False) -> Alignment:
    return Alignment(horizontal=style.align, vertical="center" if header else "top", wrap_text=style.wrap or header)


def write_tab(sheet, content: list[list[Any]], form: TabFormat, main_title: str) -> None:
    """Fill a new, empty sheet with `content` shown as `form` says."""
    alignments = [_alignment(style) for style in form.styles]
    header_alignments = [_alignment(style, header=True) for style in form.styles]
    links = tab_formats.link_targets(content, form)
    quoted_main = "'" + main_title.replace("'", "''") + "'"
    for row_number, row in enumerate(content, start=1):
        for column, value in enumerate(row, start=1):
            if value == "" or value is None:
                continue
            cell = sheet.cell(row=row_number, column=column)
            set_plain(cell, value)
            style = form.styles[column - 1] if column <= form.width else tab_formats.STYLES["text"]
            number_format = tab_formats.number_format_of(value, style)
            if number_format:
                cell.number_format = number_format
            if row_number == 1:
                cell.font, cell.fill = HEADER_FONT, HEADER_FILL
                cell.alignment = header_alignments[column - 1] if column <= form.width else _alignment(style, True)
                continue
            cell.alignment = alignments[column - 1] if column <= form.width else _alignment(style)
            if row_number - 1 in form.bold_rows:  # a section's title or header row: wraps as a header
                cell.font = BOLD
                cell.alignment = header_alignments[column - 1] if column <= form.width else _alignment(style, True)
            elif column - 1 == form.link_column and row_number - 1 in links:
                cell.hyperlink = Hyperlink(ref=cell.coordinate, location=f"{quoted_main}!A{links[row_number - 1]}")
                cell.font = LINK_FONT
    for column, width in enumerate(form.widths, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width
    for index, height in tab_formats.row_heights(content, form).items():
        sheet.row_dimensions[index + 1].height = height
    sheet.freeze_panes = "A2"
    last_letter = get_column_letter(max(form.width, 1))
    sheet.auto_filter.ref = f"A1:{last_letter}{max(form.filter_rows, 1)}"
    _highlights(sheet, form, max(len(content), 2))
    set_print_layout(sheet)
    if form.chart is not None:
        _chart(sheet, form)


def _highlights(sheet, form: TabFormat, rows: int) -> None:
    area = f"A2:{get_column_letter(form.width)}{rows}"
    for highlight in form.highlights:
        fill = PatternFill("solid", fgColor=highlight.fill, bgColor=highlight.fill) if highlight.fill else None
        font = Font(bold=True, color=highlight.font) if highlight.font else None
        sheet.conditional_formatting.add(area, FormulaRule(
            formula=[tab_formats.highlight_formula(highlight)], fill=fill, font=font))


def set_print_layout(sheet) -> None:
    """Landscape A4, fitted to the page width (as many pages down as needed), the header row on
    every page, page numbers in the footer."""
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    sheet.print_title_rows = "1:1"
    sheet.page_margins.left = sheet.page_margins.right = 0.4
    sheet.page_margins.top = sheet.page_margins.bottom = 0.75
    sheet.page_margins.header = sheet.page_margins.footer = 0.3
    sheet.oddHeader.center.text = "&A"
    sheet.oddFooter.center.text = "&P / &N"


def _chart(sheet, form: TabFormat) -> None:
    chart_format = form.chart
    chart = BarChart()
    chart.type = "col"
    chart.grouping = "clustered"
    chart.title = chart_format.title
    chart.width, chart.height = chart_format.size_cm
    chart.legend.position = "b"
    chart.y_axis.delete = False
    chart.x_axis.delete = False
    if chart_format.in_rows:
        _series_in_rows(sheet, chart, chart_format)
    else:
        for column in chart_format.series:
            data = Reference(sheet, min_col=column + 1, min_row=1, max_row=chart_format.rows)
            chart.add_data(data, titles_from_data=True)
        chart.set_categories(Reference(sheet, min_col=1, min_row=2, max_row=chart_format.rows))
    sheet.add_chart(chart, f"{get_column_letter(form.width + 2)}2")  # beside the table


def _series_in_rows(sheet, chart: BarChart, chart_format: tab_formats.ChartFormat) -> None:
    """One series per row, over the columns `across` (not side by side: 季度復審 has a change
    column after each quarter). Excel and LibreOffice take a union of cells, `(A1,C1,E1)`, as a
    series' values or categories; a series is named by its row's first cell."""
    quoted = quote_sheetname(sheet.title)

    def cells(row: int) -> str:
        refs = [f"{quoted}!{absolute_coordinate(f'{get_column_letter(column + 1)}{row + 1}')}"
                for column in chart_format.across]
        return refs[0] if len(refs) == 1 else "(" + ",".join(refs) + ")"

    for row in chart_format.series:
        series = Series()
        series.val = NumDataSource(numRef=NumRef(f=cells(row)))
        series.cat = AxDataSource(strRef=StrRef(f=cells(0)))
        series.tx = SeriesLabel(strRef=StrRef(f=f"{quoted}!$A${row + 1}"))
        chart.series.append(series)


def format_log(sheet, form: TabFormat, first_new_row: int) -> None:
    """The event log's look: header, widths, wrapped details, filter and print setup; the rows
    from `first_new_row` on get their alignment (older rows have theirs already)."""
    for column, style in enumerate(form.styles, start=1):
        header = sheet.cell(row=1, column=column)
        header.font, header.fill = HEADER_FONT, HEADER_FILL
        header.alignment = _alignment(style, header=True)
        sheet.column_dimensions[get_column_letter(column)].width = form.widths[column - 1]
    alignments = [_alignment(style) for style in form.styles]
    first = max(first_new_row, 2)
    new_rows = list(sheet.iter_rows(min_row=first, max_col=form.width))
    for row in new_rows:
        for cell, alignment in zip(row, alignments):
            cell.alignment = alignment
    values = [[cell.value for cell in row] for row in new_rows]
    for index, height in tab_formats.row_heights(values, form, has_header=False).items():
        sheet.row_dimensions[first + index].height = height
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(form.width)}{max(sheet.max_row, 2)}"
    set_print_layout(sheet)


def add_overdue_rule(sheet, positions: dict[str, int]) -> bool:
    """The main tab's overdue highlighting, as Google Sheets has it (`init`): a conditional
    format over the rows, so staff cells keep their own values and formats. False when the
    rule is there already (recognised by its mark) or the columns are missing."""
    if "due_date" not in positions or "status" not in positions:
        return False
    formula = tab_formats.main_tab_overdue_formula(positions["due_date"], positions["status"])
    for ranges in sheet.conditional_formatting:
        for rule in ranges.rules:
            if any(tab_formats.OVERDUE_MARK in text for text in rule.formula or ()):
                if list(rule.formula) == [formula]:
                    return False
                rule.formula = [formula]  # the columns moved: the rule follows them
                return True
    fill = PatternFill("solid", fgColor=tab_formats.DUE_FILL, bgColor=tab_formats.DUE_FILL)
    last = get_column_letter(max(sheet.max_column, max(positions.values()) + 1))
    sheet.conditional_formatting.add(f"A2:{last}100000", FormulaRule(formula=[formula], fill=fill))
    return True
