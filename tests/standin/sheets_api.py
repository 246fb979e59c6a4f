"""A local stand-in for the Google Sheets API v4 and Google's OAuth 2.0 token endpoint.

Purpose
-------
Tests of the reception-log worker talk to this server over real HTTP on the loopback
interface instead of to Google.  The server is a ``http.server.ThreadingHTTPServer`` run in a
background thread (see :class:`SheetsStandin`); the pytest fixtures in
``tests/standin/pytest_plugin.py`` start and stop it.  Nothing here talks to the network
beyond 127.0.0.1.

What it answers, and how faithfully
-----------------------------------
* ``POST /token`` -- the service-account JWT-bearer grant exactly as Google's token endpoint
  takes it (form body ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=JWT``).
  The RS256 signature is verified with the public key registered for the JWT's ``kid``
  (:meth:`SheetsStandin.register_key`), ``iss`` must be the key's account, ``aud`` must be a
  token URI (Google's -- which is what google-auth always puts there -- or the stand-in's own),
  ``iat``/``exp`` must describe a token of at most one hour that is valid now.
  Errors use Google's shape (``{"error": "invalid_grant", "error_description": ...}``, HTTP 400).
* ``/v4/spreadsheets/...`` -- spreadsheets.get / create / batchUpdate, values.get / batchGet /
  update / append / clear / batchUpdate / batchClear, developerMetadata.get / search.  Response
  bodies have Google's keys, nesting and value types; the replay test in
  ``tests/test_standin.py`` checks them against the recorded Google traffic in
  ``/work/shared/reference/gspread-cassettes``.  Requests need ``Authorization: Bearer`` with a
  token this server issued (401 ``UNAUTHENTICATED`` otherwise).  A spreadsheet is visible only
  to the accounts it is shared with (403 ``PERMISSION_DENIED``; unknown id 404 ``NOT_FOUND``);
  a ``reader`` may not write; a read-only scope may not write.
* ``spreadsheets.batchUpdate`` is atomic: all requests are applied to a private copy of the
  spreadsheet, and the copy replaces the original only if every request succeeded.  Any error is
  a 400 ``INVALID_ARGUMENT`` whose message starts ``Invalid requests[i].<kind>: ``.
* Limits: 10,000,000 cells per spreadsheet (sum of rowCount * columnCount) and 10 MB
  (10485760 bytes) per request body, with Google's messages.  Writing outside a sheet's grid is
  an error ("exceeds grid limits" / "is after last row in grid"); only ``values.append`` and
  ``appendCells`` grow a sheet by themselves, as on Google.
* Cells are stored as Google's ``CellData`` (``userEnteredValue`` with ``stringValue`` /
  ``numberValue`` / ``boolValue`` / ``formulaValue``, ``userEnteredFormat``, ``note``,
  ``dataValidation``).  Protected ranges, conditional format rules and developer metadata are
  stored per spreadsheet; metadata, protected ranges and format-rule ranges move when rows or
  columns are inserted or deleted.

Deliberate simplifications (each is a place where the stand-in is *less* than Google)
-------------------------------------------------------------------------------------
* Formulas: there is no spreadsheet engine.  A formula made only of numbers, cell references
  on the same spreadsheet (``A1``, ``$B$2``, ``'Tab'!C3``), ``+ - * / ^``, ``&``, parentheses
  and TRUE/FALSE is evaluated; any other formula reads back as its own text (``=SUM(A1:A3)``
  is returned as the string ``"=SUM(A1:A3)"`` by FORMATTED_VALUE and UNFORMATTED_VALUE).
* USER_ENTERED parsing recognises: a leading apostrophe (forces text), ``=`` formulas,
  TRUE/FALSE, plain numbers (``0042`` -> 42), numbers with thousands separators, percentages,
  dates ``YYYY-MM-DD`` / ``YYYY/MM/DD`` with an optional ``HH:MM[:SS]`` time, ``M/D/YYYY`` when
  the spreadsheet locale is en_US, and bare ``HH:MM[:SS]`` times.  A recognised date becomes a
  serial number with a DATE / DATE_TIME number format whose pattern mirrors what was typed, so
  FORMATTED_VALUE gives the typed text back.  Everything else (``2026.11.27``,
  ``2026年11月27日``, currency, locale-specific forms) stays a string.
* Number formats: DATE / TIME / DATE_TIME patterns (y, m, d, h, s, AM/PM tokens) and simple
  NUMBER / PERCENT patterns (``0``, ``0.00``, ``#,##0.00``, ``0%``) are rendered; anything
  else renders like Google's automatic format.  ``effectiveFormat`` is never returned.
* ``values.append`` finds "the table" as the 4-connected block of non-empty cells that
  touches the input range and ends lowest (ties: rightmost).  That reproduces every recorded
  case but is a heuristic.  Append grows rows and columns when the data would not fit.
* ``sortRange`` moves cell contents only (metadata attached to rows stays where it is);
  empty cells sort last; numbers < text < booleans; text compares case-insensitively.
* Accepted but not modelled (validated, then a no-op): ``autoResizeDimensions``,
  ``updateDimensionProperties``, ``updateBorders``.  ``setBasicFilter`` / ``clearBasicFilter``
  (as recorded in ``test_basic_filters``) keep a sheet's ``basicFilter``; ``addChart`` keeps a
  ``basicChart`` (its source ranges checked against the grid) under ``charts``, removed by
  ``deleteEmbeddedObject``; no chart is drawn.  Other request kinds (merges, named
  ranges, filter views, ...) are rejected with 400 and listed in
  :attr:`SheetsStandin.unsupported_requests`, so a test notices.
* Sheet titles in returned A1 ranges are quoted when they contain anything but letters,
  digits and ``_`` (Unicode letters count as letters), start with a digit, or look like a
  cell reference (``D3``).  Clients should accept both quoted and unquoted titles anyway.
* Protection is enforced for editors lists (``warningOnly`` ranges never block).  The
  spreadsheet owner and the listed editors may edit; the account that adds a protected range
  is added to its editors, as Google does.
* No Drive API.  Access is modelled by ``shared_with`` on :meth:`SheetsStandin.create_spreadsheet`.
  Neither the IAM Credentials API: google-auth's background "Regional Access Boundary" lookup
  (``iamcredentials.googleapis.com``) is kept off the network by the ``no_external_network``
  fixture, see ``pytest_plugin.py``.
* The ``fields`` query parameter is applied to every response (Google's mask syntax,
  ``a.b``, ``a/b``, ``a(b,c)``, ``*``); on spreadsheets.get a mask that reaches into
  ``sheets.data`` returns grid data, as Google does.
* ``spreadsheets.create`` over HTTP uses Google's defaults for a new spreadsheet (en_US,
  Etc/GMT); the :meth:`SheetsStandin.create_spreadsheet` test hook defaults to zh_CN /
  Asia/Shanghai, like a sheet made by the service centre's staff.

Test hooks (Python API on :class:`SheetsStandin`, no HTTP involved)
-------------------------------------------------------------------
Arrange: ``create_spreadsheet``, ``share`` / ``unshare``, ``add_sheet``, ``protect_range``,
``register_key``.  Simulate staff: ``set_values`` / ``set_cell`` / ``clear_cells``,
``insert_rows`` / ``delete_rows`` / ``append_rows`` / ``sort_rows``, ``insert_columns`` /
``delete_columns``, ``rename_sheet`` / ``delete_sheet`` / ``resize_sheet``, and the
``before_request`` hook to do any of that between two requests of the code under test.
Inspect: ``get_values`` / ``get_cell`` / ``cell_data`` / ``metadata`` / ``sheet_titles`` /
``sheet_properties`` / ``developer_metadata`` / ``protected_ranges``, ``stats``, ``requests``.
Break things: ``inject_fault`` / ``inject_delay`` (429 / 500 / 503 bodies as Google's, hangs,
"applied but answered with an error"), ``latency``, ``revoke_key`` / ``delete_account`` /
``revoke_tokens`` / ``expire_tokens``.
"""

from __future__ import annotations

import base64
import collections
import copy
import dataclasses
import datetime as dt
import functools
import http.server
import json
import math
import random
import re
import socket
import string
import threading
import time
import traceback
import urllib.parse
from typing import Any, Callable, Iterable, Mapping, Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = [
    "ApiError",
    "Fault",
    "LoggedRequest",
    "SheetsStandin",
    "Stats",
    "CELL_LIMIT",
    "MAX_BODY_BYTES",
    "SHEETS_ORIGIN",
    "col_letters",
    "col_index",
    "quote_title",
]

# --------------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------------

SHEETS_ORIGIN = "https://sheets.googleapis.com"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
GOOGLE_TOKEN_AUDIENCES = frozenset({
    GOOGLE_TOKEN_URI,
    "https://www.googleapis.com/oauth2/v4/token",
    "https://accounts.google.com/o/oauth2/token",
})
CELL_LIMIT = 10_000_000
MAX_BODY_BYTES = 10 * 1024 * 1024  # 10485760, Google's request payload limit
TOKEN_LIFETIME_SECONDS = 3599
DEFAULT_ROW_COUNT = 1000
DEFAULT_COLUMN_COUNT = 26
DEFAULT_ROW_PIXELS = 21
DEFAULT_COLUMN_PIXELS = 100

_SCOPE_PREFIX = "https://www.googleapis.com/auth/"
WRITE_SCOPES = frozenset(
    _SCOPE_PREFIX + s for s in ("spreadsheets", "drive", "drive.file", "cloud-platform")
)
READ_SCOPES = WRITE_SCOPES | frozenset(
    _SCOPE_PREFIX + s for s in ("spreadsheets.readonly", "drive.readonly")
)
# Drive files.get (metadata): any Drive scope, not the spreadsheets ones.
DRIVE_METADATA_SCOPES = frozenset(
    _SCOPE_PREFIX + s for s in ("drive", "drive.file", "drive.readonly", "drive.metadata",
                                "drive.metadata.readonly", "cloud-platform")
)

_STATUS_BY_CODE = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

# Spreadsheet properties Google returns for a new spreadsheet (copied from the recordings).
DEFAULT_FORMAT: dict = {
    "backgroundColor": {"red": 1, "green": 1, "blue": 1},
    "padding": {"top": 2, "right": 3, "bottom": 2, "left": 3},
    "verticalAlignment": "BOTTOM",
    "wrapStrategy": "OVERFLOW_CELL",
    "textFormat": {
        "foregroundColor": {},
        "fontFamily": "arial,sans,sans-serif",
        "fontSize": 10,
        "bold": False,
        "italic": False,
        "strikethrough": False,
        "underline": False,
        "foregroundColorStyle": {"rgbColor": {}},
    },
    "backgroundColorStyle": {"rgbColor": {"red": 1, "green": 1, "blue": 1}},
}
SPREADSHEET_THEME: dict = {
    "primaryFontFamily": "Arial",
    "themeColors": [
        {"colorType": "TEXT", "color": {"rgbColor": {}}},
        {"colorType": "BACKGROUND", "color": {"rgbColor": {"red": 1, "green": 1, "blue": 1}}},
        {"colorType": "ACCENT1", "color": {"rgbColor": {"red": 0.25882354, "green": 0.52156866, "blue": 0.95686275}}},
        {"colorType": "ACCENT2", "color": {"rgbColor": {"red": 0.91764706, "green": 0.2627451, "blue": 0.20784314}}},
        {"colorType": "ACCENT3", "color": {"rgbColor": {"red": 0.9843137, "green": 0.7372549, "blue": 0.015686275}}},
        {"colorType": "ACCENT4", "color": {"rgbColor": {"red": 0.20392157, "green": 0.65882355, "blue": 0.3254902}}},
        {"colorType": "ACCENT5", "color": {"rgbColor": {"red": 1, "green": 0.42745098, "blue": 0.003921569}}},
        {"colorType": "ACCENT6", "color": {"rgbColor": {"red": 0.27450982, "green": 0.7411765, "blue": 0.7764706}}},
        {"colorType": "LINK", "color": {"rgbColor": {"red": 0.06666667, "green": 0.33333334, "blue": 0.8}}},
    ],
}

# Every request kind of spreadsheets.batchUpdate that Google knows (used to tell "unknown name"
# from "known to Google but not implemented here").
GOOGLE_REQUEST_KINDS = frozenset(
    """updateSpreadsheetProperties updateSheetProperties updateDimensionProperties
    updateNamedRange repeatCell addNamedRange deleteNamedRange addSheet deleteSheet autoFill
    cutPaste copyPaste mergeCells unmergeCells updateBorders updateCells addFilterView
    appendCells clearBasicFilter deleteDimension deleteEmbeddedObject deleteFilterView
    duplicateFilterView duplicateSheet findReplace insertDimension insertRange moveDimension
    updateEmbeddedObjectPosition pasteData textToColumns updateFilterView deleteRange
    appendDimension addConditionalFormatRule updateConditionalFormatRule
    deleteConditionalFormatRule sortRange setDataValidation setBasicFilter addProtectedRange
    updateProtectedRange deleteProtectedRange autoResizeDimensions addChart updateChartSpec
    updateBanding addBanding deleteBanding createDeveloperMetadata updateDeveloperMetadata
    deleteDeveloperMetadata randomizeRange addDimensionGroup deleteDimensionGroup
    updateDimensionGroup trimWhitespace deleteDuplicates updateEmbeddedObjectBorder addSlicer
    updateSlicerSpec addDataSource updateDataSource deleteDataSource refreshDataSource
    cancelDataSourceRefresh addTable updateTable deleteTable""".split()
)

_PROTECTED_MESSAGE = (
    "You are trying to edit a protected cell or object. Please contact the spreadsheet owner "
    "to remove protection if you need to edit."
)
_NO_PERMISSION = "The caller does not have permission"
_NOT_FOUND = "Requested entity was not found."
_UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_INSUFFICIENT_SCOPES = "Request had insufficient authentication scopes."
_CELL_LIMIT_MESSAGE = (
    "This action would increase the number of cells in the workbook above the limit of "
    f"{CELL_LIMIT} cells."
)
_PAYLOAD_MESSAGE = f"Request payload size exceeds the limit: {MAX_BODY_BYTES} bytes."


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class ApiError(Exception):
    """An error answered in Google's JSON error shape ``{"error": {code, message, status}}``."""

    def __init__(self, code: int, message: str, status: str | None = None,
                 details: list | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or _STATUS_BY_CODE.get(code, "UNKNOWN")
        self.details = details

    def body(self) -> dict:
        error: dict = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def _bad(message: str, details: list | None = None) -> ApiError:
    return ApiError(400, message, "INVALID_ARGUMENT", details)


def _field_violation(field: str, description: str) -> ApiError:
    return _bad(description, [{
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        "fieldViolations": [{"field": field, "description": description}],
    }])


class _RequestError(Exception):
    """An error inside one batchUpdate request; turned into ``Invalid requests[i].kind: ...``."""


# --------------------------------------------------------------------------------------------
# A1 notation
# --------------------------------------------------------------------------------------------


def col_letters(index: int) -> str:
    """0-based column index -> letters (0 -> A, 25 -> Z, 26 -> AA)."""
    letters = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def col_index(letters: str) -> int:
    """Column letters -> 0-based index (A -> 0)."""
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ord(ch) - 64)
    return n - 1


_CELLISH_TITLE = re.compile(r"[A-Za-z]{1,3}[0-9]+|[Rr][0-9]*[Cc][0-9]*")


def _title_needs_quotes(title: str) -> bool:
    if not title or title[0].isdigit():
        return True
    if _CELLISH_TITLE.fullmatch(title):
        return True
    return not all(ch.isalnum() or ch == "_" for ch in title)


def quote_title(title: str) -> str:
    """The sheet title as Google writes it in returned A1 ranges (quoted only when needed)."""
    if _title_needs_quotes(title):
        return "'" + title.replace("'", "''") + "'"
    return title


def _always_quote(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


def _split_range(text: str) -> tuple[str | None, str | None, bool]:
    """Split an A1 range into (sheet title or None, cell part or None, title_was_quoted)."""
    s = text.strip()
    if s.startswith("'"):
        name: list[str] = []
        i = 1
        while i < len(s):
            ch = s[i]
            if ch == "'":
                if i + 1 < len(s) and s[i + 1] == "'":
                    name.append("'")
                    i += 2
                    continue
                break
            name.append(ch)
            i += 1
        else:
            raise ValueError("unterminated quote")
        rest = s[i + 1:]
        if rest == "":
            return "".join(name), None, True
        if rest.startswith("!"):
            return "".join(name), (rest[1:] or None), True
        raise ValueError("text after quoted title")
    if "!" in s:
        sheet, cells = s.rsplit("!", 1)
        return sheet, (cells or None), False
    return None, s, False


_ENDPOINT = re.compile(r"^\$?([A-Za-z]{1,3})?\$?([0-9]+)?$")


def _parse_endpoint(text: str) -> tuple[int | None, int | None]:
    m = _ENDPOINT.match(text.strip())
    if not m or (m.group(1) is None and m.group(2) is None):
        raise ValueError(text)
    col = col_index(m.group(1)) if m.group(1) else None
    row = int(m.group(2)) - 1 if m.group(2) else None
    if row is not None and row < 0:
        raise ValueError(text)
    return col, row


def parse_cells(text: str) -> tuple[int, int | None, int, int | None]:
    """Parse the cell part of an A1 range into (r0, r1, c0, c1), end-exclusive, 0-based.

    ``None`` for r1 / c1 means "to the end of the grid" (``A:B``, ``A2:E``, ``A1:1``).
    Reversed corners (``D4:A1``) are normalised as Google does.
    """
    parts = text.split(":")
    if len(parts) == 1:
        col, row = _parse_endpoint(parts[0])
        if col is None or row is None:
            raise ValueError(text)
        return row, row + 1, col, col + 1
    if len(parts) != 2:
        raise ValueError(text)
    ca, ra = _parse_endpoint(parts[0])
    cb, rb = _parse_endpoint(parts[1])
    if ra is not None and rb is not None and ra > rb:
        ra, rb = rb, ra
    if ca is not None and cb is not None and ca > cb:
        ca, cb = cb, ca
    r0 = ra if ra is not None else 0
    c0 = ca if ca is not None else 0
    r1 = rb + 1 if rb is not None else None
    c1 = cb + 1 if cb is not None else None
    return r0, r1, c0, c1


def format_a1(title: str, r0: int, r1: int, c0: int, c1: int) -> str:
    """A resolved range as Google prints it: ``Sheet1!A1:D4``, ``Sheet1!A1`` for one cell."""
    start = f"{col_letters(c0)}{r0 + 1}"
    if r1 - r0 == 1 and c1 - c0 == 1:
        cells = start
    else:
        cells = f"{start}:{col_letters(c1 - 1)}{r1}"
    return f"{quote_title(title)}!{cells}"


@dataclasses.dataclass
class _Ref:
    """A range resolved against a sheet; r1 / c1 are always bounded (clamped to the grid)."""

    sheet: "Sheet"
    r0: int
    r1: int
    c0: int
    c1: int
    rows_bounded: bool  # the text gave an end row
    cols_bounded: bool  # the text gave an end column
    single_cell: bool
    text: str

    def a1(self) -> str:
        return format_a1(self.sheet.title, self.r0, self.r1, self.c0, self.c1)


# --------------------------------------------------------------------------------------------
# Field masks (``fields`` query parameter and the ``fields`` of update requests)
# --------------------------------------------------------------------------------------------

_ALL = "*"


def parse_field_mask(text: str | None) -> dict | None:
    """Parse a Google field mask into a tree ``{name: subtree | None}``; None = everything.

    Accepts ``a.b``, ``a/b``, ``a(b,c)``, ``*`` and comma-separated lists.
    """
    if text is None:
        return None
    text = text.strip()
    if not text or text == "*":
        return None
    pos = 0

    def parse_list(stop: str | None) -> dict:
        nonlocal pos
        tree: dict = {}
        while pos < len(text):
            if stop and text[pos] == stop:
                break
            path: list[str] = []
            buf = ""
            while pos < len(text) and text[pos] not in ",()" and text[pos] != (stop or "\0"):
                ch = text[pos]
                if ch in "./":
                    path.append(buf.strip())
                    buf = ""
                else:
                    buf += ch
                pos += 1
            if buf.strip():
                path.append(buf.strip())
            sub: dict | None = None
            if pos < len(text) and text[pos] == "(":
                pos += 1
                sub = parse_list(")")
                if pos < len(text) and text[pos] == ")":
                    pos += 1
            node = tree
            for i, name in enumerate(path):
                last = i == len(path) - 1
                if name == "*":
                    node[_ALL] = None
                    break
                if last:
                    if sub is None:
                        node[name] = None
                    else:
                        existing = node.get(name, {})
                        if existing is None:
                            break
                        existing.update(sub)
                        node[name] = existing
                else:
                    existing = node.get(name)
                    if name in node and existing is None:
                        break
                    if existing is None:
                        existing = {}
                        node[name] = existing
                    node = existing
            if pos < len(text) and text[pos] == ",":
                pos += 1
        return tree

    return parse_list(None)


def filter_fields(obj: Any, tree: dict | None) -> Any:
    """Keep only what ``tree`` selects; lists are filtered element-wise; empty objects stay."""
    if tree is None or _ALL in tree:
        return obj
    if isinstance(obj, list):
        return [filter_fields(x, tree) for x in obj]
    if not isinstance(obj, dict):
        return obj
    out = {}
    for key, sub in tree.items():
        if key in obj:
            out[key] = filter_fields(obj[key], sub)
    return out


def _mask_selects(tree: dict | None, path: Sequence[str]) -> bool:
    """Does the mask select anything at or under ``path``?"""
    node = tree
    for name in path:
        if node is None or _ALL in node:
            return True
        if name not in node:
            return False
        node = node[name]
    return True


def apply_mask(old: Any, new: Any, tree: dict | None) -> Any:
    """Update ``old`` with ``new`` for the fields in ``tree`` (None = replace everything).

    A field named in the mask but absent from ``new`` is cleared, as Google does.
    """
    if tree is None or _ALL in tree:
        return copy.deepcopy(new) if new not in (None, {}) else None
    result = dict(old) if isinstance(old, dict) else {}
    src = new if isinstance(new, dict) else {}
    for key, sub in tree.items():
        if sub is None:
            value = src.get(key)
            if value is None:
                result.pop(key, None)
            else:
                result[key] = copy.deepcopy(value)
        else:
            merged = apply_mask(result.get(key), src.get(key), sub)
            if merged in (None, {}):
                result.pop(key, None)
            else:
                result[key] = merged
    return result


# --------------------------------------------------------------------------------------------
# Cell values: input conversion, formulas, rendering
# --------------------------------------------------------------------------------------------

_EPOCH = dt.datetime(1899, 12, 30)
_DATE_TYPES = ("DATE", "TIME", "DATE_TIME")


def to_serial(value: dt.date | dt.datetime | dt.time) -> float:
    """Spreadsheet serial number of a date / datetime / time (days since 1899-12-30)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.replace(tzinfo=None)
        delta = value - _EPOCH
        return delta.days + delta.seconds / 86400 + delta.microseconds / 86400e6
    if isinstance(value, dt.date):
        return float((value - _EPOCH.date()).days)
    if isinstance(value, dt.time):
        return (value.hour * 3600 + value.minute * 60 + value.second) / 86400
    raise TypeError(value)


def from_serial(serial: float) -> dt.datetime:
    """Serial number -> naive datetime (rounded to the second)."""
    return _EPOCH + dt.timedelta(seconds=round(serial * 86400))


def json_number(x: float | int) -> float | int:
    """Integral floats as ints, as Google's JSON has them (``2`` not ``2.0``)."""
    if isinstance(x, float) and x.is_integer() and abs(x) < 2 ** 53:
        return int(x)
    return x


def general_number(x: float | int) -> str:
    """Google's automatic number format, closely enough (``2``, ``1.5``, ``0.0009765625``)."""
    if isinstance(x, bool):
        return "TRUE" if x else "FALSE"
    if isinstance(x, int):
        return str(x)
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    s = format(x, ".15g")
    if "e" in s:
        mantissa, exp = s.split("e")
        e = int(exp)
        return f"{mantissa}E{'+' if e >= 0 else '-'}{abs(e):02d}"
    return s


_NUMBER_RE = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")
_GROUPED_RE = re.compile(r"^\s*([+-]?)(\d{1,3}(?:,\d{3})+)(\.\d+)?\s*$")
_PERCENT_RE = re.compile(r"^\s*([+-]?(?:\d+(?:\.(\d*))?|\.(\d+)))\s*%\s*$")
_ISO_DATE_RE = re.compile(
    r"^\s*(\d{4})([-/])(\d{1,2})\2(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?\s*$")
_US_DATE_RE = re.compile(
    r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})(?: (\d{1,2}):(\d{2})(?::(\d{2}))?)?\s*$")
_TIME_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*$")


def _date_cell(year: int, month: int, day: int, hh: str | None, mm: str | None,
               ss: str | None, date_pattern: str) -> tuple[dict, dict] | None:
    try:
        value = dt.datetime(year, month, day)
        if hh is not None:
            value = value.replace(hour=int(hh), minute=int(mm or 0), second=int(ss or 0))
    except ValueError:
        return None
    if hh is None:
        return {"numberValue": to_serial(value)}, {"type": "DATE", "pattern": date_pattern}
    time_pattern = "hh:mm:ss" if ss is not None else "hh:mm"
    return ({"numberValue": to_serial(value)},
            {"type": "DATE_TIME", "pattern": f"{date_pattern} {time_pattern}"})


def parse_user_entered(text: str, locale: str = "en_US") -> tuple[dict | None, dict | None]:
    """A string typed by a user -> (userEnteredValue or None for empty, numberFormat or None).

    See the module docstring for what is recognised.
    """
    if text == "":
        return None, None
    if text.startswith("'"):
        return {"stringValue": text[1:]}, None
    if text.startswith("=") and len(text) > 1:
        return {"formulaValue": text}, None
    upper = text.strip().upper()
    if upper in ("TRUE", "FALSE"):
        return {"boolValue": upper == "TRUE"}, None
    if _NUMBER_RE.match(text):
        return {"numberValue": float(text)}, None
    m = _GROUPED_RE.match(text)
    if m:
        sign, digits, frac = m.groups()
        value = float(sign + digits.replace(",", "") + (frac or ""))
        decimals = len(frac) - 1 if frac else 0
        pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
        return {"numberValue": value}, {"type": "NUMBER", "pattern": pattern}
    m = _PERCENT_RE.match(text)
    if m:
        value = float(m.group(1)) / 100
        decimals = len(m.group(2) or m.group(3) or "")
        pattern = "0" + ("." + "0" * decimals if decimals else "") + "%"
        return {"numberValue": value}, {"type": "PERCENT", "pattern": pattern}
    m = _ISO_DATE_RE.match(text)
    if m:
        year, sep, month, day, hh, mm, ss = m.groups()
        pattern = "yyyy" + sep + ("mm" if len(month) == 2 else "m") + sep + (
            "dd" if len(day) == 2 else "d")
        parsed = _date_cell(int(year), int(month), int(day), hh, mm, ss, pattern)
        if parsed:
            return parsed
    if locale.startswith("en_US"):
        m = _US_DATE_RE.match(text)
        if m:
            month, day, year, hh, mm, ss = m.groups()
            parsed = _date_cell(int(year), int(month), int(day), hh, mm, ss, "m/d/yyyy")
            if parsed:
                return parsed
    m = _TIME_RE.match(text)
    if m:
        hh, mm, ss = m.groups()
        if int(hh) < 24 and int(mm) < 60 and int(ss or 0) < 60:
            seconds = int(hh) * 3600 + int(mm) * 60 + int(ss or 0)
            pattern = "hh:mm:ss" if ss is not None else "hh:mm"
            return {"numberValue": seconds / 86400}, {"type": "TIME", "pattern": pattern}
    return {"stringValue": text}, None


class _ErrorValue(str):
    """A spreadsheet error value such as ``#DIV/0!`` (rendered as its text)."""


class _Unevaluable(Exception):
    pass


_TOKEN_RE = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
    r"|(?P<ref>(?:'(?:[^']|'')+'!|[^\s'!()+\-*/^&,:=<>\"]+!)?\$?[A-Za-z]{1,3}\$?\d+)"
    r"|(?P<bool>TRUE|FALSE)\b|(?P<str>\"(?:[^\"]|\"\")*\")"
    r"|(?P<op>[-+*/^&()]))", re.IGNORECASE)


def _tokenize(expr: str) -> list[tuple[str, str]]:
    tokens = []
    pos = 0
    expr = expr.rstrip()
    while pos < len(expr):
        m = _TOKEN_RE.match(expr, pos)
        if not m or m.end() == pos:
            raise _Unevaluable(expr)
        kind = m.lastgroup
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


class _FormulaEvaluator:
    """Evaluates the arithmetic subset of formulas described in the module docstring."""

    def __init__(self, resolve: Callable[[str | None, int, int], Any]) -> None:
        self.resolve = resolve

    def evaluate(self, formula: str) -> Any:
        tokens = _tokenize(formula[1:])
        if not tokens:
            raise _Unevaluable(formula)
        self.tokens = tokens
        self.pos = 0
        value = self._concat()
        if self.pos != len(self.tokens):
            raise _Unevaluable(formula)
        return value

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    @staticmethod
    def _num(v: Any) -> float:
        if isinstance(v, _ErrorValue):
            raise _ErrorPropagation(v)
        if v is None or v == "":
            return 0.0
        if isinstance(v, bool):
            return 1.0 if v else 0.0
        if isinstance(v, (int, float)):
            return float(v)
        try:
            return float(v)
        except (TypeError, ValueError):
            raise _ErrorPropagation(_ErrorValue("#VALUE!")) from None

    def _concat(self) -> Any:
        left = self._additive()
        while (tok := self._peek()) and tok == ("op", "&"):
            self._take()
            right = self._additive()
            left = _text_of(left) + _text_of(right)
        return left

    def _additive(self) -> Any:
        left = self._term()
        while (tok := self._peek()) and tok[0] == "op" and tok[1] in "+-":
            self._take()
            right = self._term()
            a, b = self._num(left), self._num(right)
            left = a + b if tok[1] == "+" else a - b
        return left

    def _term(self) -> Any:
        left = self._power()
        while (tok := self._peek()) and tok[0] == "op" and tok[1] in "*/":
            self._take()
            right = self._power()
            a, b = self._num(left), self._num(right)
            if tok[1] == "*":
                left = a * b
            else:
                if b == 0:
                    raise _ErrorPropagation(_ErrorValue("#DIV/0!"))
                left = a / b
        return left

    def _power(self) -> Any:
        left = self._unary()
        while (tok := self._peek()) and tok == ("op", "^"):
            self._take()
            right = self._unary()
            left = self._num(left) ** self._num(right)
        return left

    def _unary(self) -> Any:
        tok = self._peek()
        if tok and tok[0] == "op" and tok[1] in "+-":
            self._take()
            value = self._num(self._unary())
            return -value if tok[1] == "-" else value
        return self._atom()

    def _atom(self) -> Any:
        tok = self._peek()
        if tok is None:
            raise _Unevaluable("")
        kind, text = self._take()
        if kind == "num":
            return float(text)
        if kind == "bool":
            return text.upper() == "TRUE"
        if kind == "str":
            return text[1:-1].replace('""', '"')
        if kind == "ref":
            sheet = None
            cell = text
            if "!" in text:
                sheet_part, cell = text.rsplit("!", 1)
                sheet = sheet_part[1:-1].replace("''", "'") if sheet_part.startswith("'") else sheet_part
            col, row = _parse_endpoint(cell)
            return self.resolve(sheet, row, col)
        if text == "(":
            value = self._concat()
            if self._take() != ("op", ")"):
                raise _Unevaluable(")")
            return value
        raise _Unevaluable(text)


class _ErrorPropagation(Exception):
    def __init__(self, value: _ErrorValue) -> None:
        super().__init__(value)
        self.value = value


def _text_of(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (int, float)):
        return general_number(v)
    return str(v)


# ---- number format rendering ----

_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_DEFAULT_DATE_PATTERNS = {
    "DATE": "yyyy-mm-dd",
    "TIME": "hh:mm:ss",
    "DATE_TIME": "yyyy-mm-dd hh:mm:ss",
}
_DEFAULT_DATE_PATTERNS_EN_US = {
    "DATE": "m/d/yyyy",
    "TIME": "h:mm:ss am/pm",
    "DATE_TIME": "m/d/yyyy h:mm:ss",
}


def format_datetime(serial: float, pattern: str) -> str:
    """Render a serial number with a Sheets date/time pattern (common tokens only)."""
    value = from_serial(serial)
    tokens: list[tuple[str, str]] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        low = ch.lower()
        if ch == '"':
            j = pattern.find('"', i + 1)
            j = len(pattern) if j < 0 else j
            tokens.append(("lit", pattern[i + 1:j]))
            i = j + 1
            continue
        if ch == "\\" and i + 1 < len(pattern):
            tokens.append(("lit", pattern[i + 1]))
            i += 2
            continue
        if pattern[i:i + 5].lower() == "am/pm":
            tokens.append(("ampm", ""))
            i += 5
            continue
        if low in "ymdhs":
            j = i
            while j < len(pattern) and pattern[j].lower() == low:
                j += 1
            tokens.append((low, str(j - i)))
            i = j
            continue
        tokens.append(("lit", ch))
        i += 1
    has_ampm = any(t[0] == "ampm" for t in tokens)
    out = []
    for idx, (kind, arg) in enumerate(tokens):
        n = int(arg) if arg.isdigit() else 0
        if kind == "lit":
            out.append(arg)
        elif kind == "y":
            out.append(f"{value.year:04d}" if n != 2 else f"{value.year % 100:02d}")
        elif kind == "m":
            prev = next((t[0] for t in reversed(tokens[:idx]) if t[0] != "lit"), None)
            nxt = next((t[0] for t in tokens[idx + 1:] if t[0] != "lit"), None)
            if n <= 2 and (prev == "h" or nxt == "s"):
                out.append(f"{value.minute:02d}" if n == 2 else str(value.minute))
            elif n == 1:
                out.append(str(value.month))
            elif n == 2:
                out.append(f"{value.month:02d}")
            elif n == 3:
                out.append(_MONTHS[value.month - 1][:3])
            else:
                out.append(_MONTHS[value.month - 1])
        elif kind == "d":
            if n == 1:
                out.append(str(value.day))
            elif n == 2:
                out.append(f"{value.day:02d}")
            elif n == 3:
                out.append(_DAYS[value.weekday()][:3])
            else:
                out.append(_DAYS[value.weekday()])
        elif kind == "h":
            hour = value.hour
            if has_ampm:
                hour = hour % 12 or 12
            out.append(f"{hour:02d}" if n == 2 else str(hour))
        elif kind == "s":
            out.append(f"{value.second:02d}" if n == 2 else str(value.second))
        elif kind == "ampm":
            out.append("AM" if value.hour < 12 else "PM")
    return "".join(out)


def format_number(x: float, pattern: str) -> str:
    """Render with a simple NUMBER / PERCENT pattern such as ``#,##0.00`` or ``0%``."""
    core = re.search(r"[#0,]*0(?:\.[0#]+)?%?|#(?:[#,]*)(?:\.[0#]+)?%?", pattern)
    if not core:
        return general_number(x)
    spec = core.group(0)
    percent = spec.endswith("%")
    if percent:
        x = x * 100
        spec = spec[:-1]
    int_part, _, frac_part = spec.partition(".")
    grouping = "," in int_part
    min_dec = frac_part.count("0")
    max_dec = len(frac_part)
    text = f"{abs(x):,.{max_dec}f}" if grouping else f"{abs(x):.{max_dec}f}"
    if max_dec > min_dec and "." in text:
        whole, frac = text.split(".")
        frac = frac.rstrip("0")
        if len(frac) < min_dec:
            frac = frac + "0" * (min_dec - len(frac))
        text = whole + ("." + frac if frac else "")
    if x < 0 and float(text.replace(",", "") or 0) != 0:
        text = "-" + text
    return pattern[:core.start()] + text + ("%" if percent else "") + pattern[core.end():]


def render_number(x: float, number_format: Mapping | None, locale: str) -> str:
    if not number_format:
        return general_number(x)
    ftype = number_format.get("type")
    pattern = number_format.get("pattern")
    if ftype in _DATE_TYPES:
        defaults = _DEFAULT_DATE_PATTERNS_EN_US if locale.startswith("en_US") else _DEFAULT_DATE_PATTERNS
        return format_datetime(x, pattern or defaults[ftype])
    if ftype == "PERCENT" and not pattern:
        pattern = "0.00%"
    if pattern and ftype in ("NUMBER", "PERCENT", "CURRENCY"):
        try:
            return format_number(x, pattern)
        except (ValueError, IndexError):
            return general_number(x)
    return general_number(x)


def _uev_of(value: Any, input_option: str, locale: str) -> tuple[dict | None, dict | None]:
    """A JSON value from a values-API request -> (userEnteredValue or None, numberFormat)."""
    if isinstance(value, bool):
        return {"boolValue": value}, None
    if isinstance(value, (int, float)):
        return {"numberValue": float(value)}, None
    if isinstance(value, str):
        if input_option == "RAW":
            return ({"stringValue": value} if value != "" else None), None
        return parse_user_entered(value, locale)
    raise TypeError(type(value).__name__)


def _python_value_cell(value: Any, input_option: str, locale: str) -> dict | None:
    """A Python value given to a test hook -> CellData (dates become date cells)."""
    if value is None:
        return None
    if isinstance(value, dict):
        return copy.deepcopy(value) or None
    if isinstance(value, dt.datetime):
        return {"userEnteredValue": {"numberValue": to_serial(value)},
                "userEnteredFormat": {"numberFormat": {"type": "DATE_TIME",
                                                       "pattern": "yyyy-mm-dd hh:mm:ss"}}}
    if isinstance(value, dt.date):
        return {"userEnteredValue": {"numberValue": to_serial(value)},
                "userEnteredFormat": {"numberFormat": {"type": "DATE", "pattern": "yyyy-mm-dd"}}}
    if isinstance(value, dt.time):
        return {"userEnteredValue": {"numberValue": to_serial(value)},
                "userEnteredFormat": {"numberFormat": {"type": "TIME", "pattern": "hh:mm:ss"}}}
    uev, fmt = _uev_of(value, input_option, locale)
    if uev is None:
        return None
    cell: dict = {"userEnteredValue": uev}
    if fmt:
        cell["userEnteredFormat"] = {"numberFormat": fmt}
    return cell


def _with_value(old: dict | None, uev: dict | None, number_format: dict | None) -> dict | None:
    """``old`` with its userEnteredValue replaced (format, note, validation are kept)."""
    cell = dict(old) if old else {}
    if uev is None:
        cell.pop("userEnteredValue", None)
    else:
        cell["userEnteredValue"] = uev
        if number_format:
            fmt = dict(cell.get("userEnteredFormat") or {})
            fmt["numberFormat"] = number_format
            cell["userEnteredFormat"] = fmt
    return cell or None


def _has_value(cell: dict | None) -> bool:
    if not cell:
        return False
    uev = cell.get("userEnteredValue")
    if not uev:
        return False
    return uev.get("stringValue", None) != ""


def _normalize_color(color: Any) -> Any:
    """Drop zero components and quantise to 8 bits per channel, as Google stores colours."""
    if not isinstance(color, dict):
        return color
    out = {}
    for key in ("red", "green", "blue", "alpha"):
        v = color.get(key)
        if v is None or v == 0:
            continue
        if key != "alpha" and isinstance(v, (int, float)) and 0 < v < 1:
            # Google keeps 8 bits per channel and truncates (0.5 reads back as 127/255).
            v = float(f"{math.floor(v * 255 + 1e-6) / 255:.8g}")
        out[key] = json_number(v) if isinstance(v, float) else v
    return out


def _normalize_format(fmt: dict | None) -> dict | None:
    """Keep the colour / colour-style pairs of a CellFormat in step, as Google does."""
    if not fmt:
        return fmt
    fmt = copy.deepcopy(fmt)
    pairs = [(fmt, "backgroundColor", "backgroundColorStyle")]
    if isinstance(fmt.get("textFormat"), dict):
        pairs.append((fmt["textFormat"], "foregroundColor", "foregroundColorStyle"))
    for holder, plain, styled in pairs:
        if plain in holder and holder[plain] is not None:
            holder[plain] = _normalize_color(holder[plain])
            holder.setdefault(styled, {"rgbColor": holder[plain]})
        elif isinstance(holder.get(styled), dict) and "rgbColor" in holder[styled]:
            holder[styled]["rgbColor"] = _normalize_color(holder[styled]["rgbColor"])
            holder[plain] = holder[styled]["rgbColor"]
    return fmt


# --------------------------------------------------------------------------------------------
# The model: sheets and spreadsheets
# --------------------------------------------------------------------------------------------


def _shift_interval(s: int, e: int | None, op: str, a: int, b: int) -> tuple[int | None, int | None]:
    """Move the interval [s, e) for an insert / delete of [a, b); (None, None) if deleted."""
    n = b - a
    if op == "insert":
        if a <= s:
            return s + n, (e + n if e is not None else None)
        if e is None or a < e:
            return s, (e + n if e is not None else None)
        return s, e

    def f(x: int) -> int:
        return x if x <= a else (a if x <= b else x - n)

    ns = f(s)
    ne = f(e) if e is not None else None
    if ne is not None and ns >= ne:
        return None, None
    return ns, ne


_DIM_KEYS = {
    "ROWS": ("startRowIndex", "endRowIndex"),
    "COLUMNS": ("startColumnIndex", "endColumnIndex"),
}


def _shift_grid_range(gr: dict, dim: str, op: str, a: int, b: int) -> dict | None:
    k0, k1 = _DIM_KEYS[dim]
    s, e = gr.get(k0, 0), gr.get(k1)
    ns, ne = _shift_interval(s, e, op, a, b)
    if ns is None:
        return None
    out = dict(gr)
    if k0 in gr or ns:
        out[k0] = ns
    if ne is not None:
        out[k1] = ne
    return out


def _grid_bounds(gr: Mapping, row_count: int, col_count: int) -> tuple[int, int, int, int]:
    r0 = gr.get("startRowIndex") or 0
    r1 = gr.get("endRowIndex")
    c0 = gr.get("startColumnIndex") or 0
    c1 = gr.get("endColumnIndex")
    return (r0, row_count if r1 is None else r1, c0, col_count if c1 is None else c1)


def _grid_range_out(gr: Mapping) -> dict:
    """A GridRange as Google returns it: sheetId 0 is omitted (proto3 default)."""
    out = {k: v for k, v in gr.items() if v is not None}
    if out.get("sheetId", 0) == 0:
        out.pop("sheetId", None)
    return out


def _overlaps(a0: int, a1: int, b0: int, b1: int) -> bool:
    return a0 < b1 and b0 < a1


class Sheet:
    """One tab: its properties and a ragged list of rows of CellData dicts (None = empty).

    Cell dicts are never mutated in place (they are replaced), so a fork only needs to copy
    the row lists.
    """

    def __init__(self, props: dict) -> None:
        self.props = props
        self.rows: list[list[dict | None]] = []
        self.protected_ranges: list[dict] = []
        self.conditional_formats: list[dict] = []
        self.basic_filter: dict | None = None
        self.charts: list[dict] = []

    # -- properties --
    @property
    def sheet_id(self) -> int:
        return self.props["sheetId"]

    @property
    def title(self) -> str:
        return self.props["title"]

    @property
    def grid(self) -> dict:
        return self.props.setdefault("gridProperties", {})

    @property
    def row_count(self) -> int:
        return self.grid.get("rowCount", 0)

    @row_count.setter
    def row_count(self, value: int) -> None:
        self.grid["rowCount"] = value

    @property
    def col_count(self) -> int:
        return self.grid.get("columnCount", 0)

    @col_count.setter
    def col_count(self, value: int) -> None:
        self.grid["columnCount"] = value

    # -- cells --
    def cell(self, r: int, c: int) -> dict | None:
        rows = self.rows
        if r < len(rows):
            row = rows[r]
            if c < len(row):
                return row[c]
        return None

    def set_cell(self, r: int, c: int, cell: dict | None) -> None:
        rows = self.rows
        if not cell:
            if r < len(rows) and c < len(rows[r]):
                rows[r][c] = None
            return
        if r >= len(rows):
            rows.extend([] for _ in range(r + 1 - len(rows)))
        row = rows[r]
        if c >= len(row):
            row.extend([None] * (c + 1 - len(row)))
        row[c] = cell

    def value_extent(self) -> tuple[int, int]:
        """(rows, columns) up to the last cell holding a value."""
        last_row = 0
        last_col = 0
        for r, row in enumerate(self.rows):
            for c in range(len(row) - 1, -1, -1):
                if _has_value(row[c]):
                    last_row = r + 1
                    last_col = max(last_col, c + 1)
                    break
        return last_row, last_col

    def truncate_to_grid(self) -> None:
        del self.rows[self.row_count:]
        for row in self.rows:
            del row[self.col_count:]

    def fork(self) -> "Sheet":
        other = Sheet(copy.deepcopy(self.props))
        other.rows = [list(row) for row in self.rows]
        other.protected_ranges = copy.deepcopy(self.protected_ranges)
        other.conditional_formats = copy.deepcopy(self.conditional_formats)
        other.basic_filter = copy.deepcopy(self.basic_filter)
        other.charts = copy.deepcopy(self.charts)
        return other


class Spreadsheet:
    """A spreadsheet: properties, ordered sheets, sharing, developer metadata."""

    def __init__(self, spreadsheet_id: str, title: str, locale: str, time_zone: str,
                 owner: str) -> None:
        self.id = spreadsheet_id
        self.properties: dict = {
            "title": title,
            "locale": locale,
            "autoRecalc": "ON_CHANGE",
            "timeZone": time_zone,
            "defaultFormat": copy.deepcopy(DEFAULT_FORMAT),
            "spreadsheetTheme": copy.deepcopy(SPREADSHEET_THEME),
        }
        self.sheets: list[Sheet] = []
        self.owner = owner
        self.permissions: dict[str, str] = {owner: "owner"} if owner else {}
        self.metadata: list[dict] = []  # developer metadata (internal form, see _md_out)

    @property
    def locale(self) -> str:
        return self.properties.get("locale", "en_US")

    def fork(self) -> "Spreadsheet":
        other = Spreadsheet.__new__(Spreadsheet)
        other.id = self.id
        other.properties = copy.deepcopy(self.properties)
        other.sheets = [s.fork() for s in self.sheets]
        other.owner = self.owner
        other.permissions = dict(self.permissions)
        other.metadata = copy.deepcopy(self.metadata)
        return other

    def sheet_by_id(self, sheet_id: Any) -> Sheet | None:
        for sheet in self.sheets:
            if sheet.sheet_id == sheet_id:
                return sheet
        return None

    def sheet_by_title(self, title: str) -> Sheet | None:
        for sheet in self.sheets:
            if sheet.title == title:
                return sheet
        folded = title.casefold()
        for sheet in self.sheets:
            if sheet.title.casefold() == folded:
                return sheet
        return None

    def total_cells(self) -> int:
        return sum(s.row_count * s.col_count for s in self.sheets)

    def reindex(self) -> None:
        for i, sheet in enumerate(self.sheets):
            sheet.props["index"] = i

    def resolve(self, text: str) -> _Ref:
        """Resolve an A1 range (Google's rules; errors are Google's messages)."""
        unable = _bad(f"Unable to parse range: {text}")
        try:
            sheet_name, cells, _quoted = _split_range(text)
        except ValueError:
            raise unable from None
        if sheet_name is None:
            try:
                parse_cells(cells or "")
                sheet = self.sheets[0] if self.sheets else None
            except ValueError:
                sheet = self.sheet_by_title(cells or "")
                cells = None
        else:
            sheet = self.sheet_by_title(sheet_name)
        if sheet is None:
            raise unable
        if cells is None:
            r0, r1, c0, c1 = 0, None, 0, None
            single = False
        else:
            try:
                r0, r1, c0, c1 = parse_cells(cells)
            except ValueError:
                raise unable from None
            single = ":" not in cells
        rc, cc = sheet.row_count, sheet.col_count
        if (r1 is not None and r1 > rc) or (c1 is not None and c1 > cc) or r0 >= rc or c0 >= cc:
            raise _bad(f"Range ({text}) exceeds grid limits. Max rows: {rc}, max columns: {cc}")
        return _Ref(sheet, r0, rc if r1 is None else r1, c0, cc if c1 is None else c1,
                    r1 is not None, c1 is not None, single, text)


# ---- developer metadata helpers ----

def _project_of(email: str | None) -> str | None:
    if email and email.endswith(".iam.gserviceaccount.com") and "@" in email:
        return email.split("@", 1)[1].split(".", 1)[0]
    return None


def _md_location_out(loc: Mapping) -> dict:
    kind = loc["locationType"]
    if kind == "SPREADSHEET":
        return {"locationType": "SPREADSHEET", "spreadsheet": True}
    if kind == "SHEET":
        return {"locationType": "SHEET", "sheetId": loc["sheetId"]}
    dr = dict(loc["dimensionRange"])
    if dr.get("sheetId", 0) == 0:
        dr.pop("sheetId", None)
    return {"locationType": kind, "dimensionRange": dr}


def _md_out(md: Mapping) -> dict:
    out = {"metadataId": md["metadataId"], "metadataKey": md["metadataKey"]}
    if md.get("metadataValue") not in (None, ""):
        out["metadataValue"] = md["metadataValue"]
    out["location"] = _md_location_out(md["location"])
    out["visibility"] = md["visibility"]
    return out


def _parse_md_location(loc: Mapping | None, ss: Spreadsheet, where: str) -> dict:
    """DeveloperMetadataLocation from a request -> internal form (validated)."""
    if not isinstance(loc, Mapping) or not loc:
        raise _RequestError(f"{where} must specify a location.")
    if loc.get("spreadsheet"):
        return {"locationType": "SPREADSHEET"}
    if "dimensionRange" in loc:
        dr = loc["dimensionRange"] or {}
        sheet = ss.sheet_by_id(dr.get("sheetId", 0))
        if sheet is None:
            raise _RequestError(f"No grid with id: {dr.get('sheetId', 0)}")
        dim = dr.get("dimension")
        if dim not in ("ROWS", "COLUMNS"):
            raise _RequestError("DimensionRange.dimension must be ROWS or COLUMNS.")
        count = sheet.row_count if dim == "ROWS" else sheet.col_count
        start = dr.get("startIndex", 0) or 0
        end = dr.get("endIndex", count)
        if not 0 <= start < end <= count:
            raise _RequestError(
                f"Invalid dimensionRange [{start}, {end}) for a sheet with {count} "
                f"{dim.lower()}.")
        return {"locationType": "ROW" if dim == "ROWS" else "COLUMN",
                "dimensionRange": {"sheetId": sheet.sheet_id, "dimension": dim,
                                   "startIndex": start, "endIndex": end}}
    if "sheetId" in loc:
        if ss.sheet_by_id(loc["sheetId"]) is None:
            raise _RequestError(f"No grid with id: {loc['sheetId']}")
        return {"locationType": "SHEET", "sheetId": loc["sheetId"]}
    raise _RequestError(f"{where} must specify a location.")


def _md_intersects(loc: Mapping, other: Mapping) -> bool:
    """Do two internal metadata locations intersect (INTERSECTING_LOCATION semantics)?"""
    kinds = (loc["locationType"], other["locationType"])
    if "SPREADSHEET" in kinds:
        return True

    def sheet_of(x: Mapping) -> Any:
        return x["sheetId"] if x["locationType"] == "SHEET" else x["dimensionRange"]["sheetId"]

    if sheet_of(loc) != sheet_of(other):
        return False
    if "SHEET" in kinds:
        return True
    a, b = loc["dimensionRange"], other["dimensionRange"]
    if a["dimension"] != b["dimension"]:
        return True
    return _overlaps(a["startIndex"], a["endIndex"], b["startIndex"], b["endIndex"])


def _md_same_location(loc: Mapping, other: Mapping) -> bool:
    return _md_location_out(loc) == _md_location_out(other)


def _md_in_grid(md: Mapping, sheet: Sheet, r0: int, r1: int, c0: int, c1: int) -> bool:
    loc = md["location"]
    kind = loc["locationType"]
    if kind == "SPREADSHEET":
        return True
    if kind == "SHEET":
        return loc["sheetId"] == sheet.sheet_id
    dr = loc["dimensionRange"]
    if dr["sheetId"] != sheet.sheet_id:
        return False
    if dr["dimension"] == "ROWS":
        return _overlaps(dr["startIndex"], dr["endIndex"], r0, r1)
    return _overlaps(dr["startIndex"], dr["endIndex"], c0, c1)


# ---- structural edits shared by batchUpdate and the test hooks ----

def insert_dimension(ss: Spreadsheet, sheet: Sheet, dim: str, start: int, end: int) -> None:
    """Insert rows / columns [start, end) and move everything that hangs on them."""
    n = end - start
    if dim == "ROWS":
        if start < len(sheet.rows):
            sheet.rows[start:start] = [[] for _ in range(n)]
        sheet.row_count += n
        frozen = sheet.grid.get("frozenRowCount", 0)
        if frozen and start < frozen:
            sheet.grid["frozenRowCount"] = frozen + n
    else:
        for row in sheet.rows:
            if len(row) > start:
                row[start:start] = [None] * n
        sheet.col_count += n
        frozen = sheet.grid.get("frozenColumnCount", 0)
        if frozen and start < frozen:
            sheet.grid["frozenColumnCount"] = frozen + n
    _shift_attached(ss, sheet, dim, "insert", start, end)


def delete_dimension(ss: Spreadsheet, sheet: Sheet, dim: str, start: int, end: int) -> None:
    """Delete rows / columns [start, end); attached metadata / ranges shrink or go away."""
    n = end - start
    if dim == "ROWS":
        del sheet.rows[start:end]
        sheet.row_count -= n
        key = "frozenRowCount"
    else:
        for row in sheet.rows:
            del row[start:end]
        sheet.col_count -= n
        key = "frozenColumnCount"
    frozen = sheet.grid.get(key, 0)
    if frozen and start < frozen:
        sheet.grid[key] = frozen - (min(end, frozen) - start)
        if not sheet.grid[key]:
            del sheet.grid[key]
    _shift_attached(ss, sheet, dim, "delete", start, end)


def _shift_attached(ss: Spreadsheet, sheet: Sheet, dim: str, op: str, a: int, b: int) -> None:
    kept = []
    for pr in sheet.protected_ranges:
        gr = _shift_grid_range(pr["range"], dim, op, a, b)
        if gr is None:
            continue
        pr["range"] = gr
        if pr.get("unprotectedRanges"):
            pr["unprotectedRanges"] = [u for u in (
                _shift_grid_range(x, dim, op, a, b) for x in pr["unprotectedRanges"]) if u]
        kept.append(pr)
    sheet.protected_ranges = kept
    rules = []
    for rule in sheet.conditional_formats:
        ranges = [r for r in (_shift_grid_range(x, dim, op, a, b) for x in rule["ranges"]) if r]
        if ranges:
            rule["ranges"] = ranges
            rules.append(rule)
    sheet.conditional_formats = rules
    mds = []
    for md in ss.metadata:
        loc = md["location"]
        if loc["locationType"] in ("ROW", "COLUMN"):
            dr = loc["dimensionRange"]
            if dr["sheetId"] == sheet.sheet_id and dr["dimension"] == dim:
                s, e = _shift_interval(dr["startIndex"], dr["endIndex"], op, a, b)
                if s is None:
                    continue
                dr["startIndex"], dr["endIndex"] = s, e
        mds.append(md)
    ss.metadata = mds


def remove_sheet_attachments(ss: Spreadsheet, sheet_id: int) -> None:
    ss.metadata = [
        md for md in ss.metadata
        if not (md["location"]["locationType"] == "SHEET" and md["location"]["sheetId"] == sheet_id)
        and not (md["location"]["locationType"] in ("ROW", "COLUMN")
                 and md["location"]["dimensionRange"]["sheetId"] == sheet_id)
    ]


def _sort_key_group(v: Any) -> tuple:
    if isinstance(v, bool):
        return (2, v)
    if isinstance(v, (int, float)):
        return (0, v)
    return (1, str(v).casefold())


def sort_rows_in(renderer: "_Renderer", sheet: Sheet, r0: int, r1: int, c0: int, c1: int,
                 specs: Sequence[tuple[int, bool]]) -> None:
    """Sort the cells of [r0, r1) x [c0, c1) by (absolute column, descending) specs."""
    block = [[sheet.cell(r, c) for c in range(c0, c1)] for r in range(r0, r1)]
    keys = [[renderer.effective(sheet, r, col, sheet.cell(r, col)) for col, _ in specs]
            for r in range(r0, r1)]

    def cmp(a: tuple, b: tuple) -> int:
        for i, (_col, descending) in enumerate(specs):
            va, vb = a[0][i], b[0][i]
            ea, eb = va in (None, ""), vb in (None, "")
            if ea and eb:
                continue
            if ea:
                return 1
            if eb:
                return -1
            ka, kb = _sort_key_group(va), _sort_key_group(vb)
            if ka == kb:
                continue
            result = -1 if ka < kb else 1
            return -result if descending else result
        return 0

    ordered = sorted(zip(keys, block), key=functools.cmp_to_key(cmp))
    for i, (_k, cells) in enumerate(ordered):
        for j, cell in enumerate(cells):
            sheet.set_cell(r0 + i, c0 + j, cell)


def check_protection(ss: Spreadsheet, sheet: Sheet, r0: int, r1: int, c0: int, c1: int,
                     user: str | None) -> None:
    """Refuse an edit of [r0,r1)x[c0,c1) by ``user`` that hits a (non-warning) protection."""
    if user is None or user == ss.owner or r0 >= r1 or c0 >= c1:
        return
    for pr in sheet.protected_ranges:
        if pr.get("warningOnly"):
            continue
        if user in (pr.get("editors") or {}).get("users", []):
            continue
        p0, p1, q0, q1 = _grid_bounds(pr["range"], sheet.row_count, sheet.col_count)
        if not (_overlaps(p0, p1, r0, r1) and _overlaps(q0, q1, c0, c1)):
            continue
        exempt = False
        for u in pr.get("unprotectedRanges") or []:
            u0, u1, v0, v1 = _grid_bounds(u, sheet.row_count, sheet.col_count)
            if u0 <= r0 and r1 <= u1 and v0 <= c0 and c1 <= v1:
                exempt = True
        if not exempt:
            raise _RequestError(_PROTECTED_MESSAGE)


# --------------------------------------------------------------------------------------------
# Rendering values and building resources
# --------------------------------------------------------------------------------------------


class _Renderer:
    """Computes effective values (with the small formula evaluator) and renders them."""

    def __init__(self, ss: Spreadsheet) -> None:
        self.ss = ss
        self.locale = ss.locale
        self._memo: dict = {}
        self._active: set = set()

    def effective(self, sheet: Sheet, r: int, c: int, cell: dict | None) -> Any:
        if not cell:
            return None
        uev = cell.get("userEnteredValue")
        if not uev:
            return None
        if "stringValue" in uev:
            return uev["stringValue"]
        if "numberValue" in uev:
            return float(uev["numberValue"])
        if "boolValue" in uev:
            return bool(uev["boolValue"])
        if "formulaValue" in uev:
            return self._formula(sheet, r, c, uev["formulaValue"])
        if "errorValue" in uev:
            return _ErrorValue((uev["errorValue"] or {}).get("message") or "#ERROR!")
        return None

    def _formula(self, sheet: Sheet, r: int, c: int, formula: str) -> Any:
        key = (sheet.sheet_id, r, c)
        if key in self._memo:
            return self._memo[key]
        if key in self._active:
            return _ErrorValue("#REF!")
        self._active.add(key)
        try:
            def resolve(name: str | None, rr: int, cc: int) -> Any:
                target = sheet if name is None else self.ss.sheet_by_title(name)
                if target is None:
                    raise _ErrorPropagation(_ErrorValue("#REF!"))
                return self.effective(target, rr, cc, target.cell(rr, cc))

            try:
                value = _FormulaEvaluator(resolve).evaluate(formula)
            except _ErrorPropagation as exc:
                value = exc.value
            except (_Unevaluable, ValueError, OverflowError, ZeroDivisionError, RecursionError,
                    IndexError, TypeError):
                value = formula
            if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
                value = _ErrorValue("#NUM!")
        finally:
            self._active.discard(key)
        self._memo[key] = value
        return value

    def render(self, sheet: Sheet, r: int, c: int, cell: dict | None, option: str,
               dt_option: str) -> Any:
        if not cell:
            return ""
        uev = cell.get("userEnteredValue")
        if not uev:
            return ""
        if "stringValue" in uev:
            return uev["stringValue"]
        if option == "FORMULA" and "formulaValue" in uev:
            return uev["formulaValue"]
        value = self.effective(sheet, r, c, cell)
        if value is None:
            return ""
        if isinstance(value, _ErrorValue):
            return str(value)
        if isinstance(value, bool):
            if option == "FORMATTED_VALUE":
                return "TRUE" if value else "FALSE"
            return value
        if isinstance(value, (int, float)):
            nf = (cell.get("userEnteredFormat") or {}).get("numberFormat")
            if option == "FORMATTED_VALUE":
                return render_number(value, nf, self.locale)
            if nf and nf.get("type") in _DATE_TYPES and dt_option == "FORMATTED_STRING":
                return render_number(value, nf, self.locale)
            return json_number(value)
        return value

    def matrix(self, ref: _Ref, option: str, dt_option: str, major: str) -> list[list]:
        """Values of a range, trailing empty cells and rows dropped (Google's rule)."""
        sheet = ref.sheet
        rows = sheet.rows
        out: list[list] = []
        last = -1
        for r in range(ref.r0, min(ref.r1, len(rows))):
            row = rows[r]
            vals: list = []
            end = min(ref.c1, len(row))
            for c in range(ref.c0, end):
                vals.append(self.render(sheet, r, c, row[c], option, dt_option))
            while vals and vals[-1] == "":
                vals.pop()
            out.append(vals)
            if vals:
                last = len(out) - 1
        out = out[:last + 1]
        if major == "COLUMNS" and out:
            width = max(len(v) for v in out)
            cols = []
            for c in range(width):
                col = [row[c] if c < len(row) else "" for row in out]
                while col and col[-1] == "":
                    col.pop()
                cols.append(col)
            while cols and not cols[-1]:
                cols.pop()
            out = cols
        return out

    def cell_out(self, sheet: Sheet, r: int, c: int, cell: dict | None) -> dict:
        """CellData as spreadsheets.get returns it (with effective / formatted values)."""
        if not cell:
            return {}
        out: dict = {}
        uev = cell.get("userEnteredValue")
        if uev:
            out["userEnteredValue"] = {k: (json_number(v) if k == "numberValue" else v)
                                       for k, v in uev.items()}
            value = self.effective(sheet, r, c, cell)
            if isinstance(value, _ErrorValue):
                out["effectiveValue"] = {"errorValue": {"type": "ERROR", "message": str(value)}}
            elif isinstance(value, bool):
                out["effectiveValue"] = {"boolValue": value}
            elif isinstance(value, (int, float)):
                out["effectiveValue"] = {"numberValue": json_number(value)}
            elif value is not None:
                out["effectiveValue"] = {"stringValue": value}
            formatted = self.render(sheet, r, c, cell, "FORMATTED_VALUE", "FORMATTED_STRING")
            if formatted != "":
                out["formattedValue"] = formatted
        for key in ("userEnteredFormat", "note", "dataValidation", "hyperlink",
                    "textFormatRuns"):
            if cell.get(key) not in (None, "", {}):
                out[key] = copy.deepcopy(cell[key])
        return out


def _sheet_props_out(sheet: Sheet) -> dict:
    props = copy.deepcopy(sheet.props)
    grid = props.get("gridProperties", {})
    for key in list(grid):
        if key not in ("rowCount", "columnCount") and grid[key] in (0, False, None):
            del grid[key]
    for key in ("hidden", "rightToLeft"):
        if props.get(key) is False:
            del props[key]
    return props


def _protected_out(pr: Mapping, user: str | None, ss: Spreadsheet) -> dict:
    out: dict = {"protectedRangeId": pr["protectedRangeId"], "range": _grid_range_out(pr["range"])}
    if pr.get("description"):
        out["description"] = pr["description"]
    if pr.get("warningOnly"):
        out["warningOnly"] = True
    editors = pr.get("editors") or {}
    can_edit = bool(pr.get("warningOnly")) or user is None or user == ss.owner or \
        user in editors.get("users", [])
    out["requestingUserCanEdit"] = can_edit
    if pr.get("unprotectedRanges"):
        out["unprotectedRanges"] = [_grid_range_out(u) for u in pr["unprotectedRanges"]]
    out["editors"] = _editors_out(editors)
    return out


def _editors_out(editors: Mapping | None) -> dict:
    out = {}
    for key in ("users", "groups"):
        if (editors or {}).get(key):
            out[key] = list(editors[key])
    if (editors or {}).get("domainUsersCanEdit"):
        out["domainUsersCanEdit"] = True
    return out


def _rule_out(rule: Mapping) -> dict:
    out = copy.deepcopy(dict(rule))
    out["ranges"] = [_grid_range_out(r) for r in rule["ranges"]]
    return out


def _visible_md(ss: Spreadsheet, user: str | None) -> list[dict]:
    project = _project_of(user)
    return [md for md in ss.metadata
            if md["visibility"] != "PROJECT" or user is None or md.get("_project") == project]


def spreadsheet_resource(ss: Spreadsheet, user: str | None, include_grid: bool,
                         ranges: Sequence[str] = ()) -> dict:
    """The Spreadsheet resource of spreadsheets.get."""
    renderer = _Renderer(ss)
    wanted: dict[int, list[tuple[int, int, int, int]]] = {}
    order: list[int] = []
    for text in ranges:
        ref = ss.resolve(text)
        sid = ref.sheet.sheet_id
        if sid not in wanted:
            wanted[sid] = []
            order.append(sid)
        wanted[sid].append((ref.r0, ref.r1, ref.c0, ref.c1))
    visible_md = _visible_md(ss, user)
    out: dict = {"spreadsheetId": ss.id, "properties": copy.deepcopy(ss.properties)}
    sheets_out = []
    for sheet in ss.sheets:
        if ranges and sheet.sheet_id not in wanted:
            continue
        s: dict = {"properties": _sheet_props_out(sheet)}
        if include_grid:
            areas = wanted.get(sheet.sheet_id) or [(0, sheet.row_count, 0, sheet.col_count)]
            s["data"] = [_grid_data(renderer, ss, sheet, visible_md, *a) for a in areas]
        if sheet.conditional_formats:
            s["conditionalFormats"] = [_rule_out(r) for r in sheet.conditional_formats]
        if sheet.protected_ranges:
            s["protectedRanges"] = [_protected_out(p, user, ss) for p in sheet.protected_ranges]
        if sheet.basic_filter is not None:
            shown = {k: v for k, v in sheet.basic_filter["range"].items() if k != "sheetId" or v}
            s["basicFilter"] = {**sheet.basic_filter, "range": shown}
        if sheet.charts:
            s["charts"] = copy.deepcopy(sheet.charts)
        sheet_md = [_md_out(md) for md in visible_md
                    if md["location"]["locationType"] == "SHEET"
                    and md["location"]["sheetId"] == sheet.sheet_id]
        if sheet_md:
            s["developerMetadata"] = sheet_md
        sheets_out.append(s)
    out["sheets"] = sheets_out
    top_md = [_md_out(md) for md in visible_md if md["location"]["locationType"] == "SPREADSHEET"]
    if top_md:
        out["developerMetadata"] = top_md
    out["spreadsheetUrl"] = f"https://docs.google.com/spreadsheets/d/{ss.id}/edit"
    return out


def _grid_data(renderer: _Renderer, ss: Spreadsheet, sheet: Sheet, visible_md: list[dict],
               r0: int, r1: int, c0: int, c1: int) -> dict:
    data: dict = {}
    if r0:
        data["startRow"] = r0
    if c0:
        data["startColumn"] = c0
    row_data: list[dict] = []
    last = -1
    for r in range(r0, min(r1, len(sheet.rows))):
        row = sheet.rows[r]
        cells = [renderer.cell_out(sheet, r, c, row[c]) for c in range(c0, min(c1, len(row)))]
        while cells and not cells[-1]:
            cells.pop()
        row_data.append({"values": cells} if cells else {})
        if cells:
            last = len(row_data) - 1
    row_data = row_data[:last + 1]
    if row_data:
        data["rowData"] = row_data
    row_md: dict[int, list] = collections.defaultdict(list)
    col_md: dict[int, list] = collections.defaultdict(list)
    for md in visible_md:
        loc = md["location"]
        if loc["locationType"] not in ("ROW", "COLUMN"):
            continue
        dr = loc["dimensionRange"]
        if dr["sheetId"] != sheet.sheet_id:
            continue
        target = row_md if dr["dimension"] == "ROWS" else col_md
        for i in range(dr["startIndex"], dr["endIndex"]):
            target[i].append(_md_out(md))
    data["rowMetadata"] = [
        {"pixelSize": DEFAULT_ROW_PIXELS, **({"developerMetadata": row_md[r]} if r in row_md else {})}
        for r in range(r0, r1)]
    data["columnMetadata"] = [
        {"pixelSize": DEFAULT_COLUMN_PIXELS, **({"developerMetadata": col_md[c]} if c in col_md else {})}
        for c in range(c0, c1)]
    return data


# --------------------------------------------------------------------------------------------
# spreadsheets.batchUpdate
# --------------------------------------------------------------------------------------------

_UEV_KINDS = ("stringValue", "numberValue", "boolValue", "formulaValue", "errorValue")


def _check_cell_data(cd: Any) -> None:
    if not isinstance(cd, dict):
        raise _RequestError("CellData must be an object.")
    uev = cd.get("userEnteredValue")
    if uev is not None:
        if not isinstance(uev, dict) or len(uev) != 1 or next(iter(uev)) not in _UEV_KINDS:
            raise _RequestError(
                "ExtendedValue must have exactly one of stringValue, numberValue, boolValue, "
                "formulaValue.")
        kind, value = next(iter(uev.items()))
        if kind == "numberValue" and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise _RequestError(f"Invalid numberValue: {value!r}")
        if kind == "boolValue" and not isinstance(value, bool):
            raise _RequestError(f"Invalid boolValue: {value!r}")
        if kind in ("stringValue", "formulaValue") and not isinstance(value, str):
            raise _RequestError(f"Invalid {kind}: {value!r}")


def _merge_cell(old: dict | None, new: dict | None, tree: dict | None) -> dict | None:
    """Apply CellData ``new`` to ``old`` for the fields in ``tree`` (None = all fields)."""
    if tree is not None and len(tree) == 1 and "userEnteredValue" in tree and tree["userEnteredValue"] is None:
        uev = (new or {}).get("userEnteredValue")
        cell = dict(old) if old else {}
        if uev is None:
            cell.pop("userEnteredValue", None)
        else:
            cell["userEnteredValue"] = dict(uev)
        return cell or None
    merged = apply_mask(old, new, tree)
    if not merged:
        return None
    if merged.get("userEnteredFormat"):
        merged["userEnteredFormat"] = _normalize_format(merged["userEnteredFormat"])
    for key in [k for k, v in merged.items() if v in (None, "", {})]:
        del merged[key]
    return merged or None


class _BatchUpdater:
    """Applies batchUpdate requests to a forked spreadsheet (the caller commits or drops it)."""

    def __init__(self, standin: "SheetsStandin", ss: Spreadsheet, user: str | None) -> None:
        self.standin = standin
        self.ss = ss
        self.user = user
        self.deleted_metadata_ids: set[int] = set()  # by earlier requests of this batch

    def apply(self, requests: Any) -> list[dict]:
        if not isinstance(requests, list):
            raise _field_violation("requests", "Invalid value at 'requests' (type.googleapis.com/"
                                   "google.apps.sheets.v4.Request), expected a list")
        replies = []
        for i, req in enumerate(requests):
            if not isinstance(req, dict) or len(req) != 1:
                raise _bad(f"Invalid requests[{i}]: A request must have exactly one kind set.")
            kind, body = next(iter(req.items()))
            if kind not in GOOGLE_REQUEST_KINDS:
                msg = (f"Invalid JSON payload received. Unknown name \"{kind}\" at "
                       f"'requests[{i}]': Cannot find field.")
                raise _field_violation(f"requests[{i}]", msg)
            handler = getattr(self, "_" + kind, None)
            if kind in self.standin.disabled_request_kinds:
                handler = None  # a test plays a Sheets stand-in that lacks this request kind
            if handler is None:
                self.standin._note_unsupported(kind)
                raise _bad(f"Invalid requests[{i}].{kind}: this request kind is not implemented "
                           "by the local Sheets API stand-in (tests/standin/sheets_api.py).")
            try:
                reply = handler(body if isinstance(body, dict) else {})
                if self.ss.total_cells() > CELL_LIMIT:
                    raise _RequestError(_CELL_LIMIT_MESSAGE)
            except _RequestError as exc:
                raise _bad(f"Invalid requests[{i}].{kind}: {exc}") from None
            except ApiError as exc:
                raise _bad(f"Invalid requests[{i}].{kind}: {exc.message}") from None
            self.standin.stats._count_batch_kind(kind)
            replies.append(reply or {})
        return replies

    # -- helpers --
    def _sheet(self, sheet_id: Any) -> Sheet:
        sheet = self.ss.sheet_by_id(sheet_id if sheet_id is not None else 0)
        if sheet is None:
            raise _RequestError(f"No grid with id: {sheet_id}")
        return sheet

    def _grid_range(self, gr: Any) -> tuple[Sheet, int, int, int, int]:
        if not isinstance(gr, dict):
            raise _RequestError("A range must be specified.")
        sheet = self._sheet(gr.get("sheetId", 0))
        rc, cc = sheet.row_count, sheet.col_count
        r0, r1, c0, c1 = _grid_bounds(gr, rc, cc)
        if r0 < 0 or c0 < 0 or r0 > r1 or c0 > c1:
            raise _RequestError(f"Invalid range: {json.dumps(gr)}")
        if r1 > rc or c1 > cc:
            raise _RequestError(
                f"Range ({format_a1(sheet.title, r0, max(r1, r0 + 1), c0, max(c1, c0 + 1))}) "
                f"exceeds grid limits. Max rows: {rc}, max columns: {cc}")
        return sheet, r0, r1, c0, c1

    def _dimension_range(self, dr: Any) -> tuple[Sheet, str, int, int, int]:
        if not isinstance(dr, dict):
            raise _RequestError("A range must be specified.")
        sheet = self._sheet(dr.get("sheetId", 0))
        dim = dr.get("dimension")
        if dim not in ("ROWS", "COLUMNS"):
            raise _RequestError("range.dimension must be ROWS or COLUMNS.")
        count = sheet.row_count if dim == "ROWS" else sheet.col_count
        start = dr.get("startIndex", 0) or 0
        end = dr.get("endIndex", count)
        if start < 0 or end < start:
            raise _RequestError(f"Invalid dimension range [{start}, {end}).")
        return sheet, dim, start, end, count

    def _unique_id(self, used: Iterable[int]) -> int:
        used = set(used)
        while True:
            candidate = self.standin._rng.randint(1, 2 ** 31 - 1)
            if candidate not in used:
                return candidate

    def _check_title(self, title: Any, exclude: Sheet | None = None) -> str:
        if not isinstance(title, str) or not title.strip():
            raise _RequestError("Sheet title cannot be empty.")
        for other in self.ss.sheets:
            if other is not exclude and other.title.casefold() == title.casefold():
                raise _RequestError(
                    f'A sheet with the name "{title}" already exists. Please enter another name.')
        return title

    def _check_sheet_props(self, sheet: Sheet) -> None:
        grid = sheet.grid
        if grid.get("rowCount", 0) < 1 or grid.get("columnCount", 0) < 1:
            raise _RequestError("gridProperties.rowCount and columnCount must be at least 1.")
        if grid.get("frozenRowCount", 0) >= grid["rowCount"]:
            raise _RequestError("You can't freeze all visible rows on the sheet.")
        if grid.get("frozenColumnCount", 0) >= grid["columnCount"]:
            raise _RequestError("You can't freeze all visible columns on the sheet.")
        if all(s.props.get("hidden") for s in self.ss.sheets):
            raise _RequestError("You can't hide all the sheets in a document.")
        style = sheet.props.get("tabColorStyle")
        if isinstance(style, dict):
            rgb = style.get("rgbColor")
            if rgb is None and not style.get("themeColor"):
                sheet.props.pop("tabColorStyle", None)
                sheet.props.pop("tabColor", None)
            elif rgb is not None:
                style["rgbColor"] = _normalize_color(rgb)
                sheet.props["tabColor"] = dict(style["rgbColor"])
        elif "tabColor" in sheet.props:
            if sheet.props["tabColor"]:
                sheet.props["tabColor"] = _normalize_color(sheet.props["tabColor"])
                sheet.props["tabColorStyle"] = {"rgbColor": dict(sheet.props["tabColor"])}
            else:
                sheet.props.pop("tabColor")

    def _resize(self, sheet: Sheet, rows: int, cols: int) -> None:
        if rows < sheet.row_count:
            delete_dimension(self.ss, sheet, "ROWS", rows, sheet.row_count)
        else:
            sheet.row_count = rows
        if cols < sheet.col_count:
            delete_dimension(self.ss, sheet, "COLUMNS", cols, sheet.col_count)
        else:
            sheet.col_count = cols

    def _write_rows(self, sheet: Sheet, r0: int, c0: int, rows: Any, tree: dict | None,
                    bound: tuple[int, int] | None) -> None:
        if not isinstance(rows, list):
            raise _RequestError("rows must be a list of RowData.")
        for i, row in enumerate(rows):
            values = (row or {}).get("values") or []
            if not isinstance(values, list):
                raise _RequestError("RowData.values must be a list.")
            if bound and values and r0 + i >= bound[0]:
                raise _RequestError(
                    f"Attempting to write row: {r0 + i}, beyond the last requested row of: "
                    f"{bound[0] - 1}")
            for j, cd in enumerate(values):
                c = c0 + j
                if bound and c >= bound[1]:
                    raise _RequestError(
                        f"Attempting to write column: {c}, beyond the last requested column "
                        f"of: {bound[1] - 1}")
                if cd is None:
                    cd = {}
                _check_cell_data(cd)
                sheet.set_cell(r0 + i, c, _merge_cell(sheet.cell(r0 + i, c), cd, tree))

    # -- sheets and properties --
    def _addSheet(self, body: dict) -> dict:
        given = copy.deepcopy(body.get("properties") or {})
        title = given.get("title")
        if title is None:
            n = len(self.ss.sheets) + 1
            while self.ss.sheet_by_title(f"Sheet{n}"):
                n += 1
            title = f"Sheet{n}"
        self._check_title(title)
        sheet_id = given.get("sheetId")
        if sheet_id is None:
            sheet_id = self._unique_id(s.sheet_id for s in self.ss.sheets)
        elif not isinstance(sheet_id, int) or sheet_id < 0:
            raise _RequestError(f"Invalid sheetId: {sheet_id}")
        elif self.ss.sheet_by_id(sheet_id) is not None:
            raise _RequestError(f"Sheet with id {sheet_id} already exists.")
        grid = dict(given.get("gridProperties") or {})
        grid.setdefault("rowCount", DEFAULT_ROW_COUNT)
        grid.setdefault("columnCount", DEFAULT_COLUMN_COUNT)
        props = {"sheetId": sheet_id, "title": title, "index": 0,
                 "sheetType": given.get("sheetType") or "GRID",
                 "gridProperties": {"rowCount": grid.pop("rowCount"),
                                    "columnCount": grid.pop("columnCount"), **grid}}
        for key, value in given.items():
            if key not in props and key not in ("index",):
                props[key] = value
        sheet = Sheet(props)
        index = given.get("index")
        index = len(self.ss.sheets) if index is None else max(0, min(int(index), len(self.ss.sheets)))
        self.ss.sheets.insert(index, sheet)
        self.ss.reindex()
        self._check_sheet_props(sheet)
        return {"addSheet": {"properties": _sheet_props_out(sheet)}}

    def _deleteSheet(self, body: dict) -> None:
        sheet = self._sheet(body.get("sheetId", 0))
        if len(self.ss.sheets) == 1:
            raise _RequestError("You can't remove all the sheets in a document.")
        self.ss.sheets.remove(sheet)
        remove_sheet_attachments(self.ss, sheet.sheet_id)
        self.ss.reindex()
        if all(s.props.get("hidden") for s in self.ss.sheets):
            raise _RequestError("You can't remove all the visible sheets in a document.")

    def _updateSheetProperties(self, body: dict) -> None:
        given = body.get("properties") or {}
        fields = body.get("fields")
        if not fields:
            raise _RequestError("At least one field must be updated, but no fields were listed.")
        sheet = self._sheet(given.get("sheetId", 0))
        tree = parse_field_mask(fields)
        old_rows, old_cols, old_index = sheet.row_count, sheet.col_count, sheet.props["index"]
        if tree is None:
            new = copy.deepcopy(dict(given))
            new.setdefault("sheetType", "GRID")
        else:
            new = apply_mask(sheet.props, given, tree) or {}
        new["sheetId"] = sheet.sheet_id
        new.setdefault("sheetType", sheet.props.get("sheetType", "GRID"))
        new_index = new.get("index", old_index)
        grid = new.setdefault("gridProperties", {})
        new_rows = grid.get("rowCount", old_rows)
        new_cols = grid.get("columnCount", old_cols)
        self._check_title(new.get("title"), exclude=sheet)
        grid["rowCount"], grid["columnCount"] = old_rows, old_cols
        sheet.props = new
        if new_rows < 1 or new_cols < 1:
            raise _RequestError("gridProperties.rowCount and columnCount must be at least 1.")
        self._resize(sheet, new_rows, new_cols)
        if new_index != old_index:
            self.ss.sheets.remove(sheet)
            target = int(new_index)
            if target > old_index:
                target -= 1
            self.ss.sheets.insert(max(0, min(target, len(self.ss.sheets))), sheet)
        self.ss.reindex()
        self._check_sheet_props(sheet)

    def _updateSpreadsheetProperties(self, body: dict) -> None:
        given = body.get("properties") or {}
        fields = body.get("fields")
        if not fields:
            raise _RequestError("At least one field must be updated, but no fields were listed.")
        tree = parse_field_mask(fields)
        if tree is None:
            new = dict(self.ss.properties)
            new.update(copy.deepcopy(given))
        else:
            new = apply_mask(self.ss.properties, given, tree) or {}
        if not isinstance(new.get("title"), str) or not new["title"]:
            raise _RequestError("Spreadsheet title cannot be empty.")
        self.ss.properties = new

    # -- cells --
    def _updateCells(self, body: dict) -> None:
        fields = body.get("fields")
        if not fields:
            raise _RequestError("At least one field must be specified in 'fields'.")
        tree = parse_field_mask(fields)
        rows = body.get("rows") or []
        if not isinstance(rows, list):
            raise _RequestError("rows must be a list of RowData.")
        width = max((len((r or {}).get("values") or []) for r in rows), default=0)
        if "start" in body and "range" in body:
            raise _RequestError("Only one of 'start' and 'range' may be set.")
        if "start" in body:
            st = body["start"] or {}
            sheet = self._sheet(st.get("sheetId", 0))
            r0, c0 = st.get("rowIndex", 0) or 0, st.get("columnIndex", 0) or 0
            rc, cc = sheet.row_count, sheet.col_count
            if r0 >= rc:
                raise _RequestError(f"GridCoordinate.rowIndex[{r0}] is after last row in grid[{rc - 1}]")
            if c0 >= cc:
                raise _RequestError(
                    f"GridCoordinate.columnIndex[{c0}] is after last column in grid[{cc - 1}]")
            r1, c1 = r0 + len(rows), c0 + width
            if r1 > rc or c1 > cc:
                raise _RequestError(
                    f"Range ({format_a1(sheet.title, r0, max(r1, r0 + 1), c0, max(c1, c0 + 1))}) "
                    f"exceeds grid limits. Max rows: {rc}, max columns: {cc}")
            check_protection(self.ss, sheet, r0, r1, c0, c1, self.user)
            self._write_rows(sheet, r0, c0, rows, tree, None)
        elif "range" in body:
            sheet, r0, r1, c0, c1 = self._grid_range(body["range"])
            check_protection(self.ss, sheet, r0, r1, c0, c1, self.user)
            self._write_rows(sheet, r0, c0, rows, tree, (r1, c1))
            # Cells of the range that ``rows`` does not cover get the masked fields cleared.
            for r in range(r0, min(r1, len(sheet.rows))):
                i = r - r0
                covered = len(((rows[i] if i < len(rows) else None) or {}).get("values") or [])
                row = sheet.rows[r]
                for c in range(c0 + covered, min(c1, len(row))):
                    if row[c]:
                        sheet.set_cell(r, c, _merge_cell(row[c], {}, tree))
        else:
            raise _RequestError("Either 'start' or 'range' must be set.")

    def _repeatCell(self, body: dict) -> None:
        fields = body.get("fields")
        if not fields:
            raise _RequestError("At least one field must be specified in 'fields'.")
        tree = parse_field_mask(fields)
        cd = body.get("cell") or {}
        _check_cell_data(cd)
        sheet, r0, r1, c0, c1 = self._grid_range(body.get("range"))
        check_protection(self.ss, sheet, r0, r1, c0, c1, self.user)
        cache: dict = {}
        for r in range(r0, r1):
            for c in range(c0, c1):
                old = sheet.cell(r, c)
                if old is None:
                    if "new" not in cache:
                        cache["new"] = _merge_cell(None, cd, tree)
                    sheet.set_cell(r, c, cache["new"])
                else:
                    sheet.set_cell(r, c, _merge_cell(old, cd, tree))

    def _appendCells(self, body: dict) -> None:
        fields = body.get("fields")
        if not fields:
            raise _RequestError("At least one field must be specified in 'fields'.")
        tree = parse_field_mask(fields)
        sheet = self._sheet(body.get("sheetId", 0))
        rows = body.get("rows") or []
        if not isinstance(rows, list):
            raise _RequestError("rows must be a list of RowData.")
        start = sheet.value_extent()[0]
        for row in rows:
            n = len((row or {}).get("values") or [])
            if n > sheet.col_count:
                raise _RequestError(f"Attempting to write column: {sheet.col_count}, beyond the "
                                    f"last requested column of: {sheet.col_count - 1}")
        width = max((len((r or {}).get("values") or []) for r in rows), default=0)
        check_protection(self.ss, sheet, start, start + len(rows), 0, width, self.user)
        if start + len(rows) > sheet.row_count:
            sheet.row_count = start + len(rows)
        self._write_rows(sheet, start, 0, rows, tree, None)

    def _setDataValidation(self, body: dict) -> None:
        sheet, r0, r1, c0, c1 = self._grid_range(body.get("range"))
        rule = body.get("rule")
        if rule is not None:
            if not isinstance(rule, dict) or not isinstance(rule.get("condition"), dict) \
                    or not rule["condition"].get("type"):
                raise _RequestError("DataValidationRule.condition.type must be set.")
            rule = copy.deepcopy(rule)
        check_protection(self.ss, sheet, r0, r1, c0, c1, self.user)
        for r in range(r0, r1):
            for c in range(c0, c1):
                cell = dict(sheet.cell(r, c) or {})
                if rule is None:
                    cell.pop("dataValidation", None)
                else:
                    cell["dataValidation"] = rule
                sheet.set_cell(r, c, cell or None)

    def _sortRange(self, body: dict) -> None:
        sheet, r0, r1, c0, c1 = self._grid_range(body.get("range"))
        specs = []
        for spec in body.get("sortSpecs") or []:
            col = spec.get("dimensionIndex", 0) or 0
            if not c0 <= col < c1:
                raise _RequestError(f"sortSpecs.dimensionIndex [{col}] is outside the range.")
            specs.append((col, spec.get("sortOrder") == "DESCENDING"))
        if not specs:
            raise _RequestError("At least one sort spec must be given.")
        check_protection(self.ss, sheet, r0, r1, c0, c1, self.user)
        sort_rows_in(_Renderer(self.ss), sheet, r0, r1, c0, c1, specs)

    # -- dimensions --
    def _appendDimension(self, body: dict) -> None:
        sheet = self._sheet(body.get("sheetId", 0))
        dim = body.get("dimension")
        length = body.get("length", 0)
        if dim not in ("ROWS", "COLUMNS"):
            raise _RequestError("dimension must be ROWS or COLUMNS.")
        if not isinstance(length, int) or length <= 0:
            raise _RequestError("length must be greater than 0.")
        if dim == "ROWS":
            sheet.row_count += length
        else:
            sheet.col_count += length

    def _insertDimension(self, body: dict) -> None:
        sheet, dim, start, end, count = self._dimension_range(body.get("range"))
        if start > count:
            raise _RequestError(
                f"range.startIndex [{start}] must be at most the number of {dim.lower()} [{count}].")
        if end <= start:
            raise _RequestError("range.endIndex must be greater than range.startIndex.")
        insert_dimension(self.ss, sheet, dim, start, end)

    def _deleteDimension(self, body: dict) -> None:
        sheet, dim, start, end, count = self._dimension_range(body.get("range"))
        if end > count:
            raise _RequestError(
                f"Cannot delete {dim.lower()} [{start}, {end}): the sheet has {count} {dim.lower()}.")
        if end <= start:
            return
        if end - start >= count:
            raise _RequestError(f"You can't delete all the {dim.lower()} on the sheet.")
        if dim == "ROWS":
            check_protection(self.ss, sheet, start, end, 0, sheet.col_count, self.user)
        else:
            check_protection(self.ss, sheet, 0, sheet.row_count, start, end, self.user)
        delete_dimension(self.ss, sheet, dim, start, end)

    # -- accepted no-ops --
    def _autoResizeDimensions(self, body: dict) -> None:
        self._dimension_range(body.get("dimensions") or body.get("dataSourceSheetDimensions"))

    def _updateDimensionProperties(self, body: dict) -> None:
        self._dimension_range(body.get("range"))
        if not body.get("fields"):
            raise _RequestError("At least one field must be updated, but no fields were listed.")

    def _updateBorders(self, body: dict) -> None:
        self._grid_range(body.get("range"))

    # -- protected ranges --
    def _all_protected(self) -> Iterable[dict]:
        for sheet in self.ss.sheets:
            yield from sheet.protected_ranges

    def _find_protected(self, pid: Any) -> tuple[Sheet, dict]:
        for sheet in self.ss.sheets:
            for pr in sheet.protected_ranges:
                if pr["protectedRangeId"] == pid:
                    return sheet, pr
        raise _RequestError(f"No protected range with id: {pid}")

    def _editors(self, editors: Any, add_requester: bool = True) -> dict:
        editors = editors if isinstance(editors, dict) else {}
        users = [u for u in (editors.get("users") or []) if isinstance(u, str)]
        if add_requester and self.user and self.user not in users:
            users.append(self.user)
        out: dict = {"users": users}
        if editors.get("groups"):
            out["groups"] = list(editors["groups"])
        if editors.get("domainUsersCanEdit"):
            out["domainUsersCanEdit"] = True
        return out

    def _addProtectedRange(self, body: dict) -> dict:
        given = body.get("protectedRange") or {}
        if given.get("namedRangeId"):
            raise _RequestError("Protected named ranges are not supported by the stand-in.")
        gr = dict(given.get("range") or {})
        gr.setdefault("sheetId", 0)
        sheet, *_bounds = self._grid_range(gr)
        pid = self._unique_id(p["protectedRangeId"] for p in self._all_protected())
        pr: dict = {"protectedRangeId": pid, "range": gr}
        if given.get("description"):
            pr["description"] = given["description"]
        if given.get("warningOnly"):
            pr["warningOnly"] = True
        if given.get("unprotectedRanges"):
            pr["unprotectedRanges"] = [dict(u) for u in given["unprotectedRanges"]]
        pr["editors"] = self._editors(given.get("editors"))
        sheet.protected_ranges.append(pr)
        reply = _protected_out(pr, self.user, self.ss)
        reply["requestingUserCanEdit"] = True
        reply["editors"] = _editors_out(given.get("editors"))
        return {"addProtectedRange": {"protectedRange": reply}}

    def _updateProtectedRange(self, body: dict) -> None:
        given = body.get("protectedRange") or {}
        fields = body.get("fields")
        if not fields:
            raise _RequestError("At least one field must be updated, but no fields were listed.")
        sheet, pr = self._find_protected(given.get("protectedRangeId"))
        tree = parse_field_mask(fields)
        new = apply_mask(pr, given, tree) if tree is not None else copy.deepcopy(dict(given))
        new["protectedRangeId"] = pr["protectedRangeId"]
        if "range" not in new:
            new["range"] = pr["range"]
        new_sheet, *_b = self._grid_range(new["range"])
        new["editors"] = self._editors(new.get("editors"))
        sheet.protected_ranges.remove(pr)
        new_sheet.protected_ranges.append(new)

    def _deleteProtectedRange(self, body: dict) -> None:
        sheet, pr = self._find_protected(body.get("protectedRangeId"))
        sheet.protected_ranges.remove(pr)

    # -- conditional formats --
    def _rule_sheet(self, rule: Any) -> tuple[Sheet, dict]:
        if not isinstance(rule, dict) or not rule.get("ranges"):
            raise _RequestError("ConditionalFormatRule.ranges must not be empty.")
        if not (rule.get("booleanRule") or rule.get("gradientRule")):
            raise _RequestError("ConditionalFormatRule must have a booleanRule or a gradientRule.")
        sheets = set()
        ranges = []
        for gr in rule["ranges"]:
            gr = dict(gr)
            gr.setdefault("sheetId", 0)
            sheet, *_b = self._grid_range(gr)
            sheets.add(sheet.sheet_id)
            ranges.append(gr)
        if len(sheets) != 1:
            raise _RequestError("All ranges of a conditional format rule must be on the same sheet.")
        stored = copy.deepcopy(rule)
        stored["ranges"] = ranges
        return self.ss.sheet_by_id(sheets.pop()), stored

    def _addConditionalFormatRule(self, body: dict) -> None:
        sheet, rule = self._rule_sheet(body.get("rule"))
        index = body.get("index", 0) or 0
        if index < 0 or index > len(sheet.conditional_formats):
            raise _RequestError(f"Invalid index {index} for conditional format rules on sheet "
                                f"{sheet.sheet_id}.")
        sheet.conditional_formats.insert(index, rule)

    def _updateConditionalFormatRule(self, body: dict) -> dict:
        index = body.get("index", 0) or 0
        if "rule" in body:
            sheet = self._sheet(body.get("sheetId", body["rule"].get("ranges", [{}])[0].get("sheetId", 0)))
        else:
            sheet = self._sheet(body.get("sheetId", 0))
        if not 0 <= index < len(sheet.conditional_formats):
            raise _RequestError(f"No conditional format on sheet: {sheet.sheet_id} at index: {index}")
        old = sheet.conditional_formats[index]
        reply: dict = {"oldRule": _rule_out(old)}
        if index:
            reply["oldIndex"] = index
        if "rule" in body:
            new_sheet, rule = self._rule_sheet(body["rule"])
            if new_sheet is sheet:
                sheet.conditional_formats[index] = rule
                new_index = index
            else:
                del sheet.conditional_formats[index]
                new_sheet.conditional_formats.insert(0, rule)
                new_index = 0
        else:
            new_index = body.get("newIndex", 0) or 0
            if not 0 <= new_index < len(sheet.conditional_formats):
                raise _RequestError(f"Invalid newIndex {new_index}.")
            rule = sheet.conditional_formats.pop(index)
            sheet.conditional_formats.insert(new_index, rule)
        reply["newRule"] = _rule_out(rule)
        if new_index:
            reply["newIndex"] = new_index
        return {"updateConditionalFormatRule": reply}

    # -- basic filter and charts --
    def _setBasicFilter(self, body: dict) -> None:
        given = body.get("filter")
        if not isinstance(given, dict) or not isinstance(given.get("range"), dict):
            raise _RequestError("BasicFilter.range must be set.")
        gr = dict(given["range"])
        gr.setdefault("sheetId", 0)
        sheet, r0, r1, c0, c1 = self._grid_range(gr)
        stored = copy.deepcopy(given)
        # As recorded: Google keeps the range resolved against the grid of the moment, every
        # index spelt out (an open-ended range comes back bounded by the grid's size).
        stored["range"] = {"sheetId": gr["sheetId"], "startRowIndex": r0, "endRowIndex": r1,
                           "startColumnIndex": c0, "endColumnIndex": c1}
        sheet.basic_filter = stored

    def _clearBasicFilter(self, body: dict) -> None:
        self._sheet(body.get("sheetId", 0)).basic_filter = None

    def _addChart(self, body: dict) -> dict:
        chart = body.get("chart")
        if not isinstance(chart, dict) or not isinstance(chart.get("spec"), dict):
            raise _RequestError("EmbeddedChart.spec must be set.")
        anchor = ((chart.get("position") or {}).get("overlayPosition") or {}).get("anchorCell")
        if not isinstance(anchor, dict):
            raise _RequestError("EmbeddedChart.position must be set.")
        sheet = self._sheet(anchor.get("sheetId", 0))
        spec = chart["spec"]
        basic = spec.get("basicChart")
        if not isinstance(basic, dict) or not basic.get("series"):
            raise _RequestError("The stand-in models only basicChart specs with at least one series.")
        for part in [*basic.get("domains", []), *basic["series"]]:
            source = (part.get("domain") or part.get("series") or {}).get("sourceRange", {})
            for gr in source.get("sources") or []:
                self._grid_range(gr)
        used = {c["chartId"] for s in self.ss.sheets for c in s.charts}
        chart_id = chart.get("chartId")
        if chart_id is not None and chart_id in used:
            raise _RequestError(f"Chart with id {chart_id} already exists.")
        stored = copy.deepcopy(chart)
        stored["chartId"] = chart_id if chart_id is not None else self._unique_id(used)
        sheet.charts.append(stored)
        return {"addChart": {"chart": copy.deepcopy(stored)}}

    def _deleteEmbeddedObject(self, body: dict) -> None:
        object_id = body.get("objectId")
        for sheet in self.ss.sheets:
            for chart in sheet.charts:
                if chart["chartId"] == object_id:
                    sheet.charts.remove(chart)
                    return
        raise _RequestError(f"No object with id {object_id}")

    def _deleteConditionalFormatRule(self, body: dict) -> dict:
        sheet = self._sheet(body.get("sheetId", 0))
        index = body.get("index", 0) or 0
        if not 0 <= index < len(sheet.conditional_formats):
            raise _RequestError(f"No conditional format on sheet: {sheet.sheet_id} at index: {index}")
        rule = sheet.conditional_formats.pop(index)
        return {"deleteConditionalFormatRule": {"rule": _rule_out(rule)}}

    # -- developer metadata --
    def _createDeveloperMetadata(self, body: dict) -> dict:
        given = body.get("developerMetadata") or {}
        key = given.get("metadataKey")
        if not isinstance(key, str) or not key:
            raise _RequestError("Developer metadata must have a metadataKey.")
        visibility = given.get("visibility")
        if visibility not in ("DOCUMENT", "PROJECT"):
            raise _RequestError("Developer metadata must specify a visibility of DOCUMENT or PROJECT.")
        location = _parse_md_location(given.get("location"), self.ss, "Developer metadata")
        mid = given.get("metadataId")
        used = {md["metadataId"] for md in self.ss.metadata}
        if mid is None:
            mid = self._unique_id(used)
        elif not isinstance(mid, int) or mid <= 0:
            raise _RequestError(f"Invalid metadataId: {mid}")
        elif mid in used or (self.standin.refuse_metadata_id_reuse and mid in self.deleted_metadata_ids):
            raise _RequestError(f"Developer metadata with ID {mid} already exists.")
        value = given.get("metadataValue")
        if value is not None and not isinstance(value, str):
            raise _RequestError("metadataValue must be a string.")
        md = {"metadataId": mid, "metadataKey": key, "metadataValue": value,
              "location": location, "visibility": visibility, "_project": _project_of(self.user)}
        self.ss.metadata.append(md)
        return {"createDeveloperMetadata": {"developerMetadata": _md_out(md)}}

    def _updateDeveloperMetadata(self, body: dict) -> dict:
        given = body.get("developerMetadata") or {}
        fields = body.get("fields")
        if not fields:
            raise _RequestError("At least one field must be updated, but no fields were listed.")
        tree = parse_field_mask(fields)
        matched: list[dict] = []
        for data_filter in body.get("dataFilters") or []:
            for md in filter_metadata(self.ss, data_filter, self.user):
                if md not in matched:
                    matched.append(md)
        out = []
        for md in matched:
            public = {k: v for k, v in md.items() if not k.startswith("_")}
            public["location"] = _md_location_out(md["location"])
            new = apply_mask(public, given, tree) if tree is not None else copy.deepcopy(given)
            if "location" in new:
                md["location"] = _parse_md_location(new["location"], self.ss, "Developer metadata")
            for field in ("metadataKey", "metadataValue", "visibility"):
                if field in new or (tree and field in tree):
                    md[field] = new.get(field)
            if not md.get("metadataKey"):
                raise _RequestError("Developer metadata must have a metadataKey.")
            if md.get("visibility") not in ("DOCUMENT", "PROJECT"):
                raise _RequestError("Developer metadata must specify a visibility.")
            out.append(_md_out(md))
        return {"updateDeveloperMetadata": {"developerMetadata": out}}

    def _deleteDeveloperMetadata(self, body: dict) -> dict:
        matched = filter_metadata(self.ss, body.get("dataFilter") or {}, self.user)
        self.ss.metadata = [md for md in self.ss.metadata if md not in matched]
        self.deleted_metadata_ids.update(md["metadataId"] for md in matched)
        return {"deleteDeveloperMetadata": {"deletedDeveloperMetadata": [_md_out(md) for md in matched]}}


def filter_metadata(ss: Spreadsheet, data_filter: Mapping, user: str | None) -> list[dict]:
    """The developer metadata (internal dicts) a DataFilter selects."""
    visible = _visible_md(ss, user)
    if not isinstance(data_filter, Mapping):
        raise _RequestError("Invalid DataFilter.")
    if "developerMetadataLookup" in data_filter:
        lookup = data_filter["developerMetadataLookup"] or {}
        loc = None
        if lookup.get("metadataLocation"):
            loc_in = dict(lookup["metadataLocation"])
            loc_in.pop("locationType", None)
            loc = _parse_md_location(loc_in, ss, "metadataLocation")
        strategy = lookup.get("locationMatchingStrategy") or "INTERSECTING_LOCATION"
        out = []
        for md in visible:
            if "metadataId" in lookup and md["metadataId"] != lookup["metadataId"]:
                continue
            if "metadataKey" in lookup and md["metadataKey"] != lookup["metadataKey"]:
                continue
            if "metadataValue" in lookup and (md.get("metadataValue") or "") != lookup["metadataValue"]:
                continue
            if "visibility" in lookup and md["visibility"] != lookup["visibility"]:
                continue
            if "locationType" in lookup and md["location"]["locationType"] != lookup["locationType"]:
                continue
            if loc is not None:
                if strategy == "EXACT_LOCATION":
                    if not _md_same_location(md["location"], loc):
                        continue
                elif not _md_intersects(md["location"], loc):
                    continue
            out.append(md)
        return out
    if "a1Range" in data_filter:
        try:
            ref = ss.resolve(data_filter["a1Range"])
        except ApiError as exc:
            raise _RequestError(exc.message) from None
        return [md for md in visible if _md_in_grid(md, ref.sheet, ref.r0, ref.r1, ref.c0, ref.c1)]
    if "gridRange" in data_filter:
        gr = data_filter["gridRange"] or {}
        sheet = ss.sheet_by_id(gr.get("sheetId", 0))
        if sheet is None:
            raise _RequestError(f"No grid with id: {gr.get('sheetId', 0)}")
        r0, r1, c0, c1 = _grid_bounds(gr, sheet.row_count, sheet.col_count)
        return [md for md in visible if _md_in_grid(md, sheet, r0, r1, c0, c1)]
    raise _RequestError("DataFilter must set developerMetadataLookup, a1Range or gridRange.")


# --------------------------------------------------------------------------------------------
# Values API helpers
# --------------------------------------------------------------------------------------------

_VALUE_RENDER = ("FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA")
_DATETIME_RENDER = ("SERIAL_NUMBER", "FORMATTED_STRING")
_DIMENSIONS = ("ROWS", "COLUMNS", "DIMENSION_UNSPECIFIED")


def _enum_param(query: Mapping[str, list[str]], name: str, allowed: Sequence[str],
                default: str, proto: str, snake: str) -> str:
    values = query.get(name)
    if not values:
        return default
    value = values[-1]
    if value not in allowed:
        raise _field_violation(
            snake, f"Invalid value at '{snake}' (type.googleapis.com/google.apps.sheets.v4.{proto}), "
                   f"\"{value}\"")
    return value


def _bool_param(query: Mapping[str, list[str]], name: str) -> bool:
    values = query.get(name)
    return bool(values) and values[-1].lower() in ("true", "1")


def _values_rows(values: Any, major: str | None, field: str) -> list[list]:
    """Validate a ValueRange.values array and return it as rows (COLUMNS are transposed)."""
    def invalid(where: str, v: Any) -> ApiError:
        shown = json.dumps(v, ensure_ascii=False) if isinstance(v, str) else json.dumps(v)
        msg = (f"Invalid value at '{where}' (type.googleapis.com/google.protobuf.ListValue), "
               f"{shown}")
        return _field_violation(where, msg)

    if values is None:
        return []
    if not isinstance(values, list):
        raise invalid(field, values)
    for i, row in enumerate(values):
        if not isinstance(row, list):
            raise invalid(f"{field}[{i}]", row)
        for j, v in enumerate(row):
            if isinstance(v, (list, dict)):
                kind = "list_value" if isinstance(v, list) else "struct_value"
                raise _bad(f"Invalid values[{i}][{j}]: {kind} {json.dumps(v, ensure_ascii=False)}")
            if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
                raise _bad(f"Invalid values[{i}][{j}]: {v}")
    if major == "COLUMNS":
        height = max((len(col) for col in values), default=0)
        return [[col[r] if r < len(col) else None for col in values] for r in range(height)]
    return values


def _find_table(sheet: Sheet, ref: _Ref) -> tuple[int, int, int, int] | None:
    """The "table" values.append appends to (see the module docstring)."""
    rows = sheet.rows
    seen: set[tuple[int, int]] = set()
    best = None
    for r in range(ref.r0, min(ref.r1, len(rows))):
        row = rows[r]
        for c in range(ref.c0, min(ref.c1, len(row))):
            if (r, c) in seen or not _has_value(row[c]):
                continue
            seen.add((r, c))
            stack = [(r, c)]
            minr = maxr = r
            minc = maxc = c
            while stack:
                y, x = stack.pop()
                minr, maxr, minc, maxc = min(minr, y), max(maxr, y), min(minc, x), max(maxc, x)
                for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                    if ny < 0 or nx < 0 or (ny, nx) in seen:
                        continue
                    if _has_value(sheet.cell(ny, nx)):
                        seen.add((ny, nx))
                        stack.append((ny, nx))
            box = (minr, maxr + 1, minc, maxc + 1)
            if best is None or (box[1], box[3]) > (best[1], best[3]):
                best = box
    return best


def _without_zeros(d: dict) -> dict:
    return {k: v for k, v in d.items() if v not in (0, None)}


# --------------------------------------------------------------------------------------------
# Bookkeeping for tests: stats, request log, faults, credentials
# --------------------------------------------------------------------------------------------

#: Endpoint kinds used in :class:`Stats`, :class:`LoggedRequest` and :meth:`SheetsStandin.inject_fault`.
ENDPOINT_KINDS = (
    "token", "spreadsheets.get", "spreadsheets.create", "spreadsheets.batchUpdate",
    "values.get", "values.batchGet", "values.update", "values.append", "values.clear",
    "values.batchUpdate", "values.batchClear", "developerMetadata.get",
    "developerMetadata.search", "drive.files.get", "unknown",
)
WRITE_KINDS = frozenset({
    "spreadsheets.create", "spreadsheets.batchUpdate", "values.update", "values.append",
    "values.clear", "values.batchUpdate", "values.batchClear",
})


DRIVE_FILES_PREFIX = "/drive/v3/files/"


def drive_time(seconds: float) -> str:
    """RFC 3339 in UTC with milliseconds, as Drive writes modifiedTime: 2023-08-17T10:53:46.472Z."""
    moment = dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def classify(method: str, path: str) -> str:
    """The endpoint kind of a request (``values.get``, ``spreadsheets.batchUpdate``, ...)."""
    method = method.upper()
    if path == "/token":
        return "token" if method == "POST" else "unknown"
    if path.startswith(DRIVE_FILES_PREFIX):
        rest = path[len(DRIVE_FILES_PREFIX):]
        return "drive.files.get" if method == "GET" and rest and "/" not in rest else "unknown"
    prefix = "/v4/spreadsheets"
    if not path.startswith(prefix):
        return "unknown"
    rest = path[len(prefix):]
    if rest in ("", "/"):
        return "spreadsheets.create" if method == "POST" else "unknown"
    m = re.match(r"^/([^/:]+)(.*)$", rest)
    if not m:
        return "unknown"
    tail = m.group(2)
    if tail == "":
        return "spreadsheets.get" if method == "GET" else "unknown"
    if tail == ":batchUpdate":
        return "spreadsheets.batchUpdate" if method == "POST" else "unknown"
    if tail.startswith("/values:"):
        action = tail[len("/values:"):]
        table = {("GET", "batchGet"): "values.batchGet", ("POST", "batchUpdate"): "values.batchUpdate",
                 ("POST", "batchClear"): "values.batchClear"}
        return table.get((method, action), "unknown")
    if tail.startswith("/values/"):
        rng = tail[len("/values/"):]
        if method == "POST" and rng.endswith(":append"):
            return "values.append"
        if method == "POST" and rng.endswith(":clear"):
            return "values.clear"
        if method == "GET":
            return "values.get"
        if method == "PUT":
            return "values.update"
        return "unknown"
    if tail == "/developerMetadata:search" and method == "POST":
        return "developerMetadata.search"
    if tail.startswith("/developerMetadata/") and method == "GET":
        return "developerMetadata.get"
    return "unknown"


class Stats:
    """Request counters.

    ``stats["values.get"]`` (or ``stats.count("values.get")``) is the number of requests of
    that kind; ``stats.total`` all requests; ``stats.api_total`` all but token requests;
    ``stats.bytes_in`` / ``stats.bytes_out`` request / response body bytes;
    ``stats.batch_request_kinds["updateCells"]`` how many batchUpdate sub-requests of a kind
    were applied (successful batches only); ``stats.statuses[429]`` responses by status.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.by_kind: collections.Counter = collections.Counter()
            self.bytes_in = 0
            self.bytes_out = 0
            self.batch_request_kinds: collections.Counter = collections.Counter()
            self.statuses: collections.Counter = collections.Counter()

    def __getitem__(self, kind: str) -> int:
        return self.by_kind[kind]

    def count(self, kind: str) -> int:
        return self.by_kind[kind]

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())

    @property
    def api_total(self) -> int:
        return sum(v for k, v in self.by_kind.items() if k != "token")

    def snapshot(self) -> dict:
        with self._lock:
            return {"by_kind": dict(self.by_kind), "bytes_in": self.bytes_in,
                    "bytes_out": self.bytes_out, "batch_request_kinds": dict(self.batch_request_kinds),
                    "statuses": dict(self.statuses)}

    def _count_request(self, kind: str, nbytes: int) -> None:
        with self._lock:
            self.by_kind[kind] += 1
            self.bytes_in += nbytes

    def _count_response(self, status: int, nbytes: int) -> None:
        with self._lock:
            self.statuses[status] += 1
            self.bytes_out += nbytes

    def _count_batch_kind(self, kind: str) -> None:
        with self._lock:
            self.batch_request_kinds[kind] += 1

    def __repr__(self) -> str:
        return f"Stats({self.snapshot()!r})"


@dataclasses.dataclass
class LoggedRequest:
    """One request as the stand-in saw it (``body`` is parsed JSON, a form dict, or None)."""

    method: str
    path: str
    query: dict
    body: Any
    kind: str
    bytes_in: int
    started: float
    email: str | None = None
    status: int | None = None
    bytes_out: int = 0
    fault: str | None = None

    @property
    def spreadsheet_id(self) -> str | None:
        m = re.match(r"^/v4/spreadsheets/([^/:]+)", self.path)
        return urllib.parse.unquote(m.group(1)) if m else None

    @property
    def range(self) -> str | None:
        """The decoded A1 range of a /values/{range} request."""
        m = re.match(r"^/v4/spreadsheets/[^/:]+/values/(.+?)(:append|:clear)?$", self.path)
        return urllib.parse.unquote(m.group(1)) if m else None


@dataclasses.dataclass
class Fault:
    """A scheduled failure; see :meth:`SheetsStandin.inject_fault`."""

    status: int | None
    count: int
    kinds: frozenset | None
    delay: float = 0.0
    after_apply: bool = False
    body: Any = None
    headers: dict = dataclasses.field(default_factory=dict)

    def matches(self, kind: str) -> bool:
        if self.kinds is None:
            return kind != "token"
        return kind in self.kinds


@dataclasses.dataclass
class _Key:
    key_id: str
    email: str
    public_key: Any
    revoked: bool = False


@dataclasses.dataclass
class _Token:
    email: str
    scopes: frozenset
    expires_at: float
    revoked: bool = False


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _drive_error(code: int, message: str, reason: str, domain: str, *, location: str = "") -> dict:
    """An error as Drive v3 writes it: the legacy `errors` list beside code and message."""
    item = {"message": message, "domain": domain, "reason": reason}
    if location:
        item.update(locationType="parameter", location=location)
    return {"error": {"code": code, "message": message, "errors": [item]}}


def _fault_body(status: int, kind: str) -> Any:
    if kind == "token":
        if status == 429:
            return {"error": "rate_limit_exceeded", "error_description": "Rate Limit Exceeded"}
        return {"error": "internal_failure", "error_description": "Backend Error"}
    if status == 429:
        quota = "Write requests" if kind in WRITE_KINDS else "Read requests"
        return ApiError(429, (
            f"Quota exceeded for quota metric '{quota}' and limit '{quota} per minute per user' "
            "of service 'sheets.googleapis.com' for consumer 'project_number:000000000000'."),
            "RESOURCE_EXHAUSTED", [{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "RATE_LIMIT_EXCEEDED",
                "domain": "googleapis.com",
                "metadata": {"service": "sheets.googleapis.com",
                             "quota_metric": f"sheets.googleapis.com/{quota.split()[0].lower()}_requests",
                             "quota_limit_value": "60", "consumer": "projects/000000000000",
                             "quota_limit": f"{quota.split()[0]}RequestsPerMinutePerUser"},
            }]).body()
    messages = {500: "Internal error encountered.", 502: "Bad Gateway",
                503: "The service is currently unavailable.", 504: "The request timed out."}
    return ApiError(status, messages.get(status, "Error"), _STATUS_BY_CODE.get(status, "UNKNOWN")).body()


class _StandinHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    standin: "SheetsStandin"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ESF"
    sys_version = ""
    timeout = 120

    def setup(self) -> None:
        super().setup()
        # Headers and body are written separately; without TCP_NODELAY, Nagle's algorithm and
        # delayed ACKs add ~40 ms to every keep-alive response.
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        self.server.standin._track(self.connection, True)  # type: ignore[attr-defined]

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.standin._track(self.connection, False)  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet server
        pass

    def _dispatch(self) -> None:
        self.server.standin._handle(self)  # type: ignore[attr-defined]

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The `Date` header, from the stand-in's clock (which a test may set apart from ours)."""
        return super().date_time_string(self.server.standin.now() if timestamp is None else timestamp)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch


# --------------------------------------------------------------------------------------------
# The stand-in server
# --------------------------------------------------------------------------------------------

def _moves_modified_time(method: Callable) -> Callable:
    """A staff edit of the test API: Drive's modifiedTime moves, as it does for an edit in the UI."""
    @functools.wraps(method)
    def edit(self: "SheetsStandin", spreadsheet_id: str, *args: Any, **kwargs: Any) -> Any:
        result = method(self, spreadsheet_id, *args, **kwargs)
        self._touch(spreadsheet_id)
        return result
    return edit


_ID_ALPHABET = string.ascii_letters + string.digits + "-_"


class SheetsStandin:
    """The server plus the Python API tests use to arrange and inspect its state.

    Typical use (the ``sheets_standin`` fixture does the first and last line)::

        standin = SheetsStandin().start()
        sid = standin.create_spreadsheet("Log", sheets={"Tab": [["a", "b"], [1, 2]]},
                                         shared_with=[service_account_email])
        ...  # point the code under test at standin.base_url / standin.token_uri
        assert standin.get_values(sid, "Tab") == [["a", "b"], ["1", "2"]]
        standin.stop()

    Attributes tests may set or read:

    * ``latency`` -- seconds slept before handling every request (default 0).
    * ``before_request`` -- ``callable(method, path)`` run before each request is handled
      (after ``latency``, before faults); ``path`` is the raw URL path without the query.
      It may call any method of this object, e.g. to simulate staff editing the sheet
      between the worker's read and its write.  If it raises, the request gets a 500 and the
      traceback is appended to ``hook_errors``.
    * ``clock_offset`` -- seconds added to this machine's clock for Google's own clock (the
      ``Date`` header, Drive's ``modifiedTime``): plays clock skew between worker and Google.
    * ``drive_enabled`` -- False plays a project where the Drive API is not enabled (Drive
      ``files.get`` answers 403 accessNotConfigured; the Sheets API works as before).
    * ``stats`` (:class:`Stats`), ``requests`` (list of :class:`LoggedRequest`),
      ``unsupported_requests`` (Counter of batchUpdate kinds that were refused as not
      implemented), ``hook_errors``.
    * ``disabled_request_kinds`` -- batchUpdate kinds answered as not implemented.
    * ``refuse_metadata_id_reuse`` -- when True, a ``createDeveloperMetadata`` whose
      ``metadataId`` an earlier request of the same batch deleted is refused (400, as for an id
      that exists); by default it is accepted.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, seed: int | None = None) -> None:
        self.host = host
        self.port = port
        self.latency = 0.0
        self.before_request: Callable[[str, str], Any] | None = None
        self.stats = Stats()
        self.requests: list[LoggedRequest] = []
        self.hook_errors: list[str] = []
        self.unsupported_requests: collections.Counter = collections.Counter()
        # batchUpdate kinds to refuse as not implemented: plays a more limited stand-in.
        self.disabled_request_kinds: set[str] = set()
        # Refuse createDeveloperMetadata of a metadataId that an earlier request of the same
        # batchUpdate deleted (Google's documentation does not say whether it accepts that).
        self.refuse_metadata_id_reuse = False
        self._lock = threading.RLock()
        self._rng = random.Random(seed)
        self._spreadsheets: dict[str, Spreadsheet] = {}
        self.clock_offset = 0.0
        self.drive_enabled = True
        # Drive's modifiedTime of each spreadsheet (seconds, Google's clock): moves on every
        # write, through the API or by a staff edit of this object's methods.
        self._modified: dict[str, float] = {}
        self._keys: dict[str, _Key] = {}
        self._accounts: dict[str, str] = {}  # email -> "active" | "deleted"
        self._tokens: dict[str, _Token] = {}
        self._faults: list[Fault] = []
        self._server: _StandinHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._connections: set = set()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "SheetsStandin":
        """Bind 127.0.0.1 (ephemeral port by default) and serve in a daemon thread."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _StandinHTTPServer((self.host, self.port), _Handler)
        server.standin = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"sheets-standin-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, end pending delays and close open client connections."""
        server = self._server
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> "SheetsStandin":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` -- replaces ``https://sheets.googleapis.com``."""
        return f"http://{self.host}:{self.port}"

    @property
    def token_uri(self) -> str:
        """The OAuth token endpoint URL to put in service-account key files."""
        return f"{self.base_url}/token"

    @property
    def accepted_audiences(self) -> frozenset:
        """JWT ``aud`` values the token endpoint accepts.

        google-auth always signs service-account JWTs for Google's token URI
        (``https://oauth2.googleapis.com/token``) whatever the key file's ``token_uri`` says,
        and Google accepts its two legacy token URIs too; the stand-in's own token URI is
        accepted as well.  Anything else is refused with Google's audience error.
        """
        return GOOGLE_TOKEN_AUDIENCES | {self.token_uri}

    def rewrite_url(self, url: str) -> str:
        """Point a Google Sheets API URL at this server."""
        if url.startswith(SHEETS_ORIGIN):
            return self.base_url + url[len(SHEETS_ORIGIN):]
        return url

    def _track(self, conn: Any, opened: bool) -> None:
        with self._lock:
            if opened:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    # ------------------------------------------------------------------ credentials
    def register_key(self, client_email: str, key_id: str, public_key: Any) -> None:
        """Register a service account's public key (PEM bytes/str or a cryptography key)."""
        if isinstance(public_key, str):
            public_key = public_key.encode()
        if isinstance(public_key, bytes):
            if b"CERTIFICATE" in public_key:
                from cryptography import x509
                public_key = x509.load_pem_x509_certificate(public_key).public_key()
            else:
                public_key = serialization.load_pem_public_key(public_key)
        if isinstance(public_key, rsa.RSAPrivateKey):
            public_key = public_key.public_key()
        with self._lock:
            self._keys[key_id] = _Key(key_id, client_email, public_key)
            self._accounts[client_email] = "active"

    def revoke_key(self, key_id: str) -> None:
        """Delete / disable a key: the token endpoint then answers ``Invalid JWT Signature.``"""
        with self._lock:
            self._keys[key_id].revoked = True

    def delete_account(self, client_email: str) -> None:
        """Delete the service account: ``Invalid grant: account not found``; its tokens die."""
        with self._lock:
            self._accounts[client_email] = "deleted"
            for token in self._tokens.values():
                if token.email == client_email:
                    token.revoked = True

    def revoke_tokens(self, client_email: str | None = None) -> None:
        """Invalidate issued access tokens (all, or one account's): API calls get 401."""
        with self._lock:
            for token in self._tokens.values():
                if client_email is None or token.email == client_email:
                    token.revoked = True

    def expire_tokens(self) -> None:
        """Make every issued access token expired (as if an hour had passed)."""
        with self._lock:
            for token in self._tokens.values():
                token.expires_at = 0.0

    def issued_tokens(self) -> int:
        with self._lock:
            return len(self._tokens)

    # ------------------------------------------------------------------ faults
    def inject_fault(self, status: int | None = 503, count: int = 1, *,
                     kinds: Iterable[str] | str | None = None, delay: float = 0.0,
                     after_apply: bool = False, body: Any = None,
                     headers: Mapping[str, str] | None = None) -> Fault:
        """Make the next ``count`` matching requests fail.

        * ``status`` -- 429 / 500 / 503 / ... answered with Google's error body for it (or
          ``body``); ``None`` answers normally after ``delay`` (use a long delay to trigger a
          client read timeout).
        * ``kinds`` -- endpoint kinds (see :data:`ENDPOINT_KINDS`) the fault applies to; by
          default every Sheets API request but not ``token``.  Use ``kinds="token"`` to make
          the OAuth token endpoint fail.
        * ``after_apply`` -- first perform the request (the change is made), then delay and /
          or answer the error: "the write happened but the client saw a failure".
        Faults are consumed in the order they were injected.
        """
        if isinstance(kinds, str):
            kinds = [kinds]
        fault = Fault(status, count, frozenset(kinds) if kinds is not None else None, delay,
                      after_apply, body, dict(headers or {}))
        with self._lock:
            self._faults.append(fault)
        return fault

    def inject_delay(self, seconds: float, count: int = 1, *,
                     kinds: Iterable[str] | str | None = None, after_apply: bool = False) -> Fault:
        """Hold the next ``count`` matching requests for ``seconds`` before answering."""
        return self.inject_fault(None, count, kinds=kinds, delay=seconds, after_apply=after_apply)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending_faults(self) -> list[Fault]:
        with self._lock:
            return [f for f in self._faults if f.count > 0]

    def _take_fault(self, kind: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.count > 0 and fault.matches(kind):
                    fault.count -= 1
                    return fault
            self._faults = [f for f in self._faults if f.count > 0]
        return None

    def reset_log(self) -> None:
        """Forget the request log and zero the stats."""
        with self._lock:
            self.requests.clear()
        self.stats.reset()

    def requests_of(self, *kinds: str) -> list[LoggedRequest]:
        with self._lock:
            return [r for r in self.requests if not kinds or r.kind in kinds]

    def _note_unsupported(self, kind: str) -> None:
        with self._lock:
            self.unsupported_requests[kind] += 1

    # ------------------------------------------------------------------ HTTP plumbing
    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _handle(self, h: http.server.BaseHTTPRequestHandler) -> None:
        started = time.time()
        split = urllib.parse.urlsplit(h.path)
        path = split.path
        query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        method = h.command.upper()
        too_big = False
        length = int(h.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            too_big = True
            remaining = length
            while remaining > 0:
                chunk = h.rfile.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                remaining -= len(chunk)
            raw = b""
        else:
            raw = h.rfile.read(length) if length else b""
        kind = classify(method, path)
        parsed: Any = None
        if raw:
            if kind == "token":
                parsed = {k: v[-1] for k, v in urllib.parse.parse_qs(raw.decode("utf-8", "replace")).items()}
            else:
                try:
                    parsed = json.loads(raw)
                except ValueError:
                    parsed = raw.decode("utf-8", "replace")
        entry = LoggedRequest(method, path, query, parsed, kind, length, started)
        with self._lock:
            self.requests.append(entry)
        self.stats._count_request(kind, length)
        try:
            status, payload, headers = self._process(h, method, path, query, raw, parsed, kind,
                                                     too_big, entry)
        except Exception:  # a bug in the stand-in itself: make it visible
            self.hook_errors.append(traceback.format_exc())
            status, payload, headers = 500, ApiError(500, "Stand-in internal error: "
                                                     + traceback.format_exc(limit=3)).body(), {}
        self._send(h, status, payload, headers, entry)

    def _send(self, h: http.server.BaseHTTPRequestHandler, status: int, payload: Any,
              headers: Mapping[str, str], entry: LoggedRequest) -> None:
        data = payload if isinstance(payload, bytes) else (
            json.dumps(payload, indent=2, ensure_ascii=False).encode("utf-8") + b"\n")
        entry.status = status
        entry.bytes_out = len(data)
        self.stats._count_response(status, len(data))
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json; charset=UTF-8")
            h.send_header("Content-Length", str(len(data)))
            h.send_header("Vary", "Origin, X-Origin, Referer")
            h.send_header("Cache-Control", "private")
            for key, value in headers.items():
                h.send_header(key, value)
            h.end_headers()
            h.wfile.write(data)
            h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            h.close_connection = True

    def _process(self, h: Any, method: str, path: str, query: dict, raw: bytes, parsed: Any,
                 kind: str, too_big: bool, entry: LoggedRequest) -> tuple[int, Any, dict]:
        self._sleep(self.latency)
        hook = self.before_request
        if hook is not None:
            try:
                hook(method, path)
            except Exception:
                self.hook_errors.append(traceback.format_exc())
                return 500, ApiError(500, "before_request hook raised; see standin.hook_errors").body(), {}
        fault = self._take_fault(kind)
        if fault is not None and not fault.after_apply:
            entry.fault = f"{fault.status or 'delay'}"
            self._sleep(fault.delay)
            if fault.status is not None:
                return fault.status, fault.body or _fault_body(fault.status, kind), dict(fault.headers)
        if too_big:
            status, payload, headers = 400, _bad(_PAYLOAD_MESSAGE).body(), {}
        elif kind == "token":
            status, payload = self._token_endpoint(parsed if isinstance(parsed, dict) else {})
            headers = {}
        elif path.startswith("/v4/spreadsheets"):
            status, payload, headers = self._api(h, method, path, query, raw, parsed, kind, entry)
        elif path.startswith(DRIVE_FILES_PREFIX):
            status, payload, headers = self._drive(h, path, query, kind, entry)
        else:
            status, payload, headers = 404, ApiError(404, "Method not found.").body(), {}
        if fault is not None and fault.after_apply:
            entry.fault = f"{fault.status or 'delay'} after apply"
            self._sleep(fault.delay)
            if fault.status is not None:
                return fault.status, fault.body or _fault_body(fault.status, kind), dict(fault.headers)
        return status, payload, headers

    # ------------------------------------------------------------------ OAuth token endpoint
    def _token_endpoint(self, form: Mapping[str, str]) -> tuple[int, dict]:
        def grant_error(description: str, error: str = "invalid_grant") -> tuple[int, dict]:
            return 400, {"error": error, "error_description": description}

        grant = form.get("grant_type", "")
        if grant != JWT_BEARER_GRANT:
            return grant_error(f"Invalid grant_type: {grant}", "unsupported_grant_type")
        assertion = form.get("assertion", "")
        try:
            header_b64, claims_b64, sig_b64 = assertion.split(".")
            header = json.loads(_b64url_decode(header_b64))
            claims = json.loads(_b64url_decode(claims_b64))
            signature = _b64url_decode(sig_b64)
        except (ValueError, TypeError):
            return grant_error("Invalid JWT: the assertion is not a well-formed JWT.", "invalid_request")
        if not isinstance(header, dict) or not isinstance(claims, dict):
            return grant_error("Invalid JWT: the assertion is not a well-formed JWT.", "invalid_request")
        issuer = claims.get("iss")
        with self._lock:
            account = self._accounts.get(issuer)
            if header.get("kid") is not None:
                candidates = [self._keys[header["kid"]]] if header["kid"] in self._keys else []
            else:
                candidates = [k for k in self._keys.values() if k.email == issuer]
        if account != "active":
            return grant_error("Invalid grant: account not found")
        if header.get("alg") != "RS256":
            return grant_error("Invalid JWT Signature.")
        signed = f"{header_b64}.{claims_b64}".encode("ascii")
        verified = False
        for key in candidates:
            if key.revoked or key.email != issuer:
                continue
            try:
                key.public_key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
                verified = True
                break
            except InvalidSignature:
                continue
        if not verified:
            return grant_error("Invalid JWT Signature.")
        if claims.get("aud") not in self.accepted_audiences:
            return grant_error(
                f"Invalid JWT: Failed audience check. The right audience is {GOOGLE_TOKEN_URI}")
        now = time.time()
        try:
            iat, exp = float(claims["iat"]), float(claims["exp"])
        except (KeyError, TypeError, ValueError):
            iat, exp = -1.0, -1.0
        if not (iat - 300 <= now < exp and exp - iat <= 3600):
            return grant_error(
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
                "timeframe. Check your iat and exp values in the JWT claim.")
        scopes = frozenset(str(claims.get("scope") or "").split())
        if not scopes:
            return grant_error("Empty or missing scope not allowed.", "invalid_scope")
        token = "ya29.standin-" + "".join(self._rng.choice(_ID_ALPHABET) for _ in range(40))
        with self._lock:
            self._tokens[token] = _Token(issuer, scopes, now + TOKEN_LIFETIME_SECONDS)
        return 200, {"access_token": token, "expires_in": TOKEN_LIFETIME_SECONDS,
                     "token_type": "Bearer"}

    def _authenticate(self, h: Any, kind: str, scopes: frozenset | None = None) -> str:
        header = h.headers.get("Authorization") or ""
        if not header.startswith("Bearer ") or not header[7:].strip():
            raise ApiError(401, (
                "Request is missing required authentication credential. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential. See "
                "https://developers.google.com/identity/sign-in/web/devconsole-project."),
                "UNAUTHENTICATED", [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                     "reason": "CREDENTIALS_MISSING", "domain": "googleapis.com"}])
        with self._lock:
            token = self._tokens.get(header[7:].strip())
        if token is None or token.revoked or token.expires_at <= time.time():
            raise ApiError(401, _UNAUTHENTICATED, "UNAUTHENTICATED", [{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "ACCESS_TOKEN_EXPIRED" if token is not None else "ACCESS_TOKEN_TYPE_UNSUPPORTED",
                "domain": "googleapis.com"}])
        needed = scopes if scopes is not None else (WRITE_SCOPES if kind in WRITE_KINDS else READ_SCOPES)
        if not token.scopes & needed:
            raise ApiError(403, _INSUFFICIENT_SCOPES, "PERMISSION_DENIED", [{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT", "domain": "googleapis.com"}])
        return token.email

    def _open(self, spreadsheet_id: str, user: str, write: bool) -> Spreadsheet:
        ss = self._spreadsheets.get(spreadsheet_id)
        if ss is None:
            raise ApiError(404, _NOT_FOUND, "NOT_FOUND")
        role = ss.permissions.get(user)
        if role is None or (write and role == "reader"):
            raise ApiError(403, _NO_PERMISSION, "PERMISSION_DENIED")
        return ss

    # ------------------------------------------------------------------ Drive files.get
    def now(self) -> float:
        """Google's clock: this machine's, shifted by ``clock_offset``."""
        return time.time() + self.clock_offset

    def _touch(self, spreadsheet_id: str | None, path: str = "") -> None:
        """A write happened: modifiedTime moves (strictly later, even within one millisecond)."""
        if spreadsheet_id is None:
            match = re.match(r"^/v4/spreadsheets/([^/:]+)", path)
            spreadsheet_id = urllib.parse.unquote(match.group(1)) if match else None
        if spreadsheet_id is None:
            return
        with self._lock:
            previous = self._modified.get(spreadsheet_id, 0.0)
            self._modified[spreadsheet_id] = max(self.now(), previous + 0.001)

    def modified_time(self, spreadsheet_id: str) -> str:
        """Drive's modifiedTime of a spreadsheet, as files.get returns it."""
        with self._lock:
            return drive_time(self._modified[spreadsheet_id])

    def _drive(self, h: Any, path: str, query: dict, kind: str, entry: LoggedRequest) -> tuple[int, Any, dict]:
        """Drive v3 `files.get` of a spreadsheet's metadata (id, name, createdTime, modifiedTime),
        answered as Drive does, errors in Drive's own shape (with an `errors` list)."""
        file_id = urllib.parse.unquote(path[len(DRIVE_FILES_PREFIX):])
        try:
            if kind == "unknown":
                raise ApiError(404, "Method not found.", "NOT_FOUND")
            user = self._authenticate(h, "spreadsheets.get", DRIVE_METADATA_SCOPES)
            entry.email = user
            if not self.drive_enabled:
                return 403, _drive_error(403, "Google Drive API has not been used in project before or it is "
                                         "disabled. Enable it by visiting https://console.developers.google.com/"
                                         "apis/api/drive.googleapis.com/overview then retry.",
                                         "accessNotConfigured", "usageLimits"), {}
            with self._lock:
                ss = self._spreadsheets.get(file_id)
                if ss is None or user not in ss.permissions:
                    return 404, _drive_error(404, f"File not found: {file_id}.", "notFound", "global",
                                             location="fileId"), {}
                resource = {"kind": "drive#file", "id": ss.id, "name": ss.properties.get("title", ""),
                            "mimeType": "application/vnd.google-apps.spreadsheet",
                            "createdTime": drive_time(self._modified.get(ss.id, 0.0)),
                            "modifiedTime": drive_time(self._modified.get(ss.id, 0.0))}
            fields = parse_field_mask(query.get("fields", [None])[-1])
            if fields is not None:
                resource = filter_fields(resource, fields)
            return 200, resource, {}
        except ApiError as exc:
            return exc.code, exc.body(), {}

    # ------------------------------------------------------------------ Sheets API routing
    def _api(self, h: Any, method: str, path: str, query: dict, raw: bytes, parsed: Any,
             kind: str, entry: LoggedRequest) -> tuple[int, Any, dict]:
        try:
            if kind == "unknown":
                raise ApiError(404, "Method not found.", "NOT_FOUND")
            user = self._authenticate(h, kind)
            entry.email = user
            if raw and isinstance(parsed, str):
                raise _bad(f"Invalid JSON payload received. Unexpected token.\n{parsed[:40]}\n^")
            body = parsed if isinstance(parsed, dict) else ({} if parsed is None else parsed)
            if not isinstance(body, dict):
                raise _bad("Invalid JSON payload received. Expected an object.")
            fields = parse_field_mask(query.get("fields", [None])[-1])
            with self._lock:
                result = self._route(kind, path, query, body, user, fields)
                if kind in WRITE_KINDS:
                    self._touch(result.get("spreadsheetId") if isinstance(result, dict) else None, path)
            if fields is not None and kind != "spreadsheets.get":
                result = filter_fields(result, fields)
            return 200, result, {}
        except ApiError as exc:
            headers = {}
            if exc.code == 401:
                headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/", error="invalid_token"'
            return exc.code, exc.body(), headers

    def _route(self, kind: str, path: str, query: dict, body: dict, user: str,
               fields: dict | None) -> Any:
        if kind == "spreadsheets.create":
            return self._api_create(body, user)
        m = re.match(r"^/v4/spreadsheets/([^/:]+)(.*)$", path)
        assert m is not None
        sid = urllib.parse.unquote(m.group(1))
        tail = m.group(2)
        ss = self._open(sid, user, kind in WRITE_KINDS)
        if kind == "spreadsheets.get":
            return self._api_get(ss, query, user, fields)
        if kind == "spreadsheets.batchUpdate":
            return self._api_batch_update(ss, body, user)
        if kind == "values.batchGet":
            return self._api_values_batch_get(ss, query)
        if kind == "values.batchUpdate":
            return self._api_values_batch_update(ss, body, user)
        if kind == "values.batchClear":
            return self._api_values_batch_clear(ss, body, user)
        if kind == "developerMetadata.search":
            return self._api_md_search(ss, body, user)
        if kind == "developerMetadata.get":
            return self._api_md_get(ss, tail[len("/developerMetadata/"):], user)
        rng = tail[len("/values/"):]
        if kind == "values.append":
            return self._api_values_append(ss, urllib.parse.unquote(rng[:-len(":append")]), query, body, user)
        if kind == "values.clear":
            return self._api_values_clear(ss, urllib.parse.unquote(rng[:-len(":clear")]), user)
        if kind == "values.get":
            return self._api_values_get(ss, urllib.parse.unquote(rng), query)
        if kind == "values.update":
            return self._api_values_update(ss, urllib.parse.unquote(rng), query, body, user)
        raise ApiError(404, "Method not found.", "NOT_FOUND")

    # ------------------------------------------------------------------ spreadsheets.*
    def _api_create(self, body: dict, user: str) -> dict:
        props = body.get("properties") or {}
        sid = self._new_spreadsheet_id()
        ss = Spreadsheet(sid, props.get("title") or "Untitled spreadsheet",
                         props.get("locale") or "en_US", props.get("timeZone") or "Etc/GMT", user)
        for key, value in props.items():
            if key not in ("title", "locale", "timeZone"):
                ss.properties[key] = copy.deepcopy(value)
        requests = [{"addSheet": {"properties": s.get("properties") or {}}}
                    for s in body.get("sheets") or []] or [{"addSheet": {"properties": {
                        "sheetId": 0, "title": "Sheet1"}}}]
        _BatchUpdater(self, ss, user).apply(requests)
        self._spreadsheets[sid] = ss
        self._touch(sid)
        return spreadsheet_resource(ss, user, False)

    def _api_get(self, ss: Spreadsheet, query: dict, user: str, fields: dict | None) -> dict:
        ranges = query.get("ranges", [])
        if fields is not None:
            include_grid = _mask_selects(fields, ["sheets", "data"])
        else:
            include_grid = _bool_param(query, "includeGridData")
        resource = spreadsheet_resource(ss, user, include_grid, ranges)
        return filter_fields(resource, fields)

    def _api_batch_update(self, ss: Spreadsheet, body: dict, user: str) -> dict:
        if not body.get("requests"):
            raise _bad("Must specify at least one request.")
        work = ss.fork()
        replies = _BatchUpdater(self, work, user).apply(body.get("requests", []))
        self._spreadsheets[ss.id] = work
        out: dict = {"spreadsheetId": ss.id}
        if replies:
            out["replies"] = replies
        if body.get("includeSpreadsheetInResponse"):
            out["updatedSpreadsheet"] = spreadsheet_resource(
                work, user, bool(body.get("responseIncludeGridData")), body.get("responseRanges") or [])
        return out

    # ------------------------------------------------------------------ values.*
    def _api_values_get(self, ss: Spreadsheet, a1: str, query: dict) -> dict:
        option = _enum_param(query, "valueRenderOption", _VALUE_RENDER, "FORMATTED_VALUE",
                             "ValueRenderOption", "value_render_option")
        dt_option = _enum_param(query, "dateTimeRenderOption", _DATETIME_RENDER, "SERIAL_NUMBER",
                                "DateTimeRenderOption", "date_time_render_option")
        major = _enum_param(query, "majorDimension", _DIMENSIONS, "ROWS", "Dimension",
                            "major_dimension")
        major = "ROWS" if major == "DIMENSION_UNSPECIFIED" else major
        return self._value_range(ss, ss.resolve(a1), option, dt_option, major)

    def _value_range(self, ss: Spreadsheet, ref: _Ref, option: str, dt_option: str,
                     major: str) -> dict:
        out: dict = {"range": ref.a1(), "majorDimension": major}
        values = _Renderer(ss).matrix(ref, option, dt_option, major)
        if values:
            out["values"] = values
        return out

    def _api_values_batch_get(self, ss: Spreadsheet, query: dict) -> dict:
        option = _enum_param(query, "valueRenderOption", _VALUE_RENDER, "FORMATTED_VALUE",
                             "ValueRenderOption", "value_render_option")
        dt_option = _enum_param(query, "dateTimeRenderOption", _DATETIME_RENDER, "SERIAL_NUMBER",
                                "DateTimeRenderOption", "date_time_render_option")
        major = _enum_param(query, "majorDimension", _DIMENSIONS, "ROWS", "Dimension",
                            "major_dimension")
        major = "ROWS" if major == "DIMENSION_UNSPECIFIED" else major
        out: dict = {"spreadsheetId": ss.id}
        ranges = query.get("ranges", [])
        if ranges:
            out["valueRanges"] = [self._value_range(ss, ss.resolve(r), option, dt_option, major)
                                  for r in ranges]
        return out

    @staticmethod
    def _input_option(value: str | None, required_message: str) -> str:
        if not value:
            raise _bad(required_message)
        if value not in ("RAW", "USER_ENTERED"):
            raise _field_violation(
                "value_input_option",
                f"Invalid value at 'value_input_option' (type.googleapis.com/google.apps.sheets."
                f"v4.ValueInputOption), \"{value}\"")
        return value

    def _write(self, ss: Spreadsheet, ref: _Ref, rows: list[list], input_option: str,
               user: str | None, response_option: tuple[str, str] | None) -> dict:
        """Write rows at ref (anchor = top-left); returns an UpdateValuesResponse."""
        sheet = ref.sheet
        height = len(rows)
        width = max((len(r) for r in rows), default=0)
        r0, c0 = ref.r0, ref.c0
        if not ref.single_cell:
            if height > ref.r1 - r0 and ref.rows_bounded:
                raise _bad(f"Requested writing within range [{ref.text}], but tried writing to "
                           f"row [{ref.r1 + 1}]")
            if width > ref.c1 - c0 and ref.cols_bounded:
                raise _bad(f"Requested writing within range [{ref.text}], but tried writing to "
                           f"column [{col_letters(ref.c1)}]")
        rc, cc = sheet.row_count, sheet.col_count
        if r0 + height > rc or c0 + width > cc:
            raise _bad(f"Range ({format_a1(sheet.title, r0, r0 + max(height, 1), c0, c0 + max(width, 1))}) "
                       f"exceeds grid limits. Max rows: {rc}, max columns: {cc}")
        rows_hit: set[int] = set()
        cols_hit: set[int] = set()
        cells = 0
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                if v is not None:
                    rows_hit.add(i)
                    cols_hit.add(j)
                    cells += 1
        if cells:
            try:
                check_protection(ss, sheet, r0 + min(rows_hit), r0 + max(rows_hit) + 1,
                                 c0 + min(cols_hit), c0 + max(cols_hit) + 1, user)
            except _RequestError as exc:
                raise _bad(str(exc)) from None
        locale = ss.locale
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                if v is None:
                    continue
                uev, fmt = _uev_of(v, input_option, locale)
                sheet.set_cell(r0 + i, c0 + j, _with_value(sheet.cell(r0 + i, c0 + j), uev, fmt))
        if height and width:
            updated = format_a1(sheet.title, r0, r0 + height, c0, c0 + width)
        else:
            updated = format_a1(sheet.title, r0, r0 + 1, c0, c0 + 1)
        out = {"spreadsheetId": ss.id, "updatedRange": updated}
        out.update(_without_zeros({"updatedRows": len(rows_hit), "updatedColumns": len(cols_hit),
                                   "updatedCells": cells}))
        if response_option is not None:
            written = _Ref(sheet, r0, r0 + max(height, 1), c0, c0 + max(width, 1), True, True,
                           False, updated)
            out["updatedData"] = self._value_range(ss, written, response_option[0],
                                                   response_option[1], "ROWS")
        return out

    def _response_option(self, query: Mapping, body: Mapping) -> tuple[str, str] | None:
        include = _bool_param(query, "includeValuesInResponse") or bool(body.get("includeValuesInResponse"))
        if not include:
            return None
        option = (query.get("responseValueRenderOption") or [body.get("responseValueRenderOption")])[-1] \
            or "FORMATTED_VALUE"
        dt_option = (query.get("responseDateTimeRenderOption") or [body.get("responseDateTimeRenderOption")])[-1] \
            or "SERIAL_NUMBER"
        return option, dt_option

    def _api_values_update(self, ss: Spreadsheet, a1: str, query: dict, body: dict, user: str) -> dict:
        input_option = self._input_option((query.get("valueInputOption") or [None])[-1],
                                          "'valueInputOption' is required but not specified")
        if body.get("range") and body["range"] != a1:
            raise _bad(f"Requested range [{a1}] does not match the range in the body "
                       f"[{body['range']}].")
        rows = _values_rows(body.get("values"), body.get("majorDimension"), "data.values")
        # _write validates everything before it changes anything, so no fork is needed.
        return self._write(ss, ss.resolve(a1), rows, input_option, user,
                           self._response_option(query, body))

    def _api_values_append(self, ss: Spreadsheet, a1: str, query: dict, body: dict, user: str) -> dict:
        input_option = self._input_option((query.get("valueInputOption") or [None])[-1],
                                          "'valueInputOption' is required but not specified")
        insert_option = _enum_param(query, "insertDataOption", ("OVERWRITE", "INSERT_ROWS"),
                                    "OVERWRITE", "ValueRange.InsertDataOption", "insert_data_option")
        rows = _values_rows(body.get("values"), body.get("majorDimension"), "data.values")
        work = ss.fork()
        ref = work.resolve(a1)
        sheet = ref.sheet
        table = _find_table(sheet, ref)
        if table:
            start_r, start_c = table[1], table[2]
        else:
            start_r, start_c = ref.r0, ref.c0
        height = len(rows)
        width = max((len(r) for r in rows), default=0)
        if insert_option == "INSERT_ROWS" and height:
            if start_r < sheet.row_count:
                insert_dimension(work, sheet, "ROWS", start_r, start_r + height)
            else:
                sheet.row_count = start_r + height
        elif start_r + height > sheet.row_count:
            sheet.row_count = start_r + height
        if start_c + width > sheet.col_count:
            sheet.col_count = start_c + width
        if work.total_cells() > CELL_LIMIT:
            raise _bad(_CELL_LIMIT_MESSAGE)
        anchor = _Ref(sheet, start_r, start_r + 1, start_c, start_c + 1, True, True, True, a1)
        updates = self._write(work, anchor, rows, input_option, user, self._response_option(query, body))
        self._spreadsheets[ss.id] = work
        out: dict = {"spreadsheetId": ss.id}
        if table:
            out["tableRange"] = format_a1(sheet.title, *table)
        out["updates"] = updates
        return out

    def _clear(self, ss: Spreadsheet, ref: _Ref, user: str | None) -> str:
        sheet = ref.sheet
        try:
            check_protection(ss, sheet, ref.r0, ref.r1, ref.c0, ref.c1, user)
        except _RequestError as exc:
            raise _bad(str(exc)) from None
        for r in range(ref.r0, min(ref.r1, len(sheet.rows))):
            row = sheet.rows[r]
            for c in range(ref.c0, min(ref.c1, len(row))):
                if row[c] and "userEnteredValue" in row[c]:
                    sheet.set_cell(r, c, _with_value(row[c], None, None))
        return ref.a1()

    def _api_values_clear(self, ss: Spreadsheet, a1: str, user: str) -> dict:
        # _clear checks protection before it changes anything, so no fork is needed.
        return {"spreadsheetId": ss.id, "clearedRange": self._clear(ss, ss.resolve(a1), user)}

    def _api_values_batch_clear(self, ss: Spreadsheet, body: dict, user: str) -> dict:
        work = ss.fork()
        cleared = [self._clear(work, work.resolve(a1), user) for a1 in body.get("ranges") or []]
        self._spreadsheets[ss.id] = work
        out: dict = {"spreadsheetId": ss.id}
        if cleared:
            out["clearedRanges"] = cleared
        return out

    def _api_values_batch_update(self, ss: Spreadsheet, body: dict, user: str) -> dict:
        option = body.get("valueInputOption")
        if not option:
            raise _bad("Invalid valueInputOption: INPUT_VALUE_OPTION_UNSPECIFIED")
        input_option = self._input_option(option, "")
        response_option = self._response_option({}, body)
        work = ss.fork()
        responses = []
        rows_hit: set = set()
        cols_hit: set = set()
        sheets_hit: set = set()
        total_cells = 0
        for i, value_range in enumerate(body.get("data") or []):
            if not isinstance(value_range, dict) or not value_range.get("range"):
                raise _bad(f"Invalid data[{i}]: a range must be specified.")
            rows = _values_rows(value_range.get("values"), value_range.get("majorDimension"),
                                f"data[{i}].values")
            ref = work.resolve(value_range["range"])
            res = self._write(work, ref, rows, input_option, user, response_option)
            responses.append(res)
            sid = ref.sheet.sheet_id
            for r, row in enumerate(rows):
                for c, v in enumerate(row):
                    if v is not None:
                        rows_hit.add((sid, ref.r0 + r))
                        cols_hit.add((sid, ref.c0 + c))
                        sheets_hit.add(sid)
                        total_cells += 1
        self._spreadsheets[ss.id] = work
        out: dict = {"spreadsheetId": ss.id}
        out.update(_without_zeros({"totalUpdatedRows": len(rows_hit),
                                   "totalUpdatedColumns": len(cols_hit),
                                   "totalUpdatedCells": total_cells,
                                   "totalUpdatedSheets": len(sheets_hit)}))
        if responses:
            out["responses"] = responses
        return out

    # ------------------------------------------------------------------ developerMetadata.*
    def _api_md_search(self, ss: Spreadsheet, body: dict, user: str) -> dict:
        matched: dict[int, dict] = {}
        order: list[int] = []
        for data_filter in body.get("dataFilters") or []:
            try:
                found = filter_metadata(ss, data_filter, user)
            except _RequestError as exc:
                raise _bad(str(exc)) from None
            for md in found:
                mid = md["metadataId"]
                if mid not in matched:
                    matched[mid] = {"developerMetadata": _md_out(md), "dataFilters": []}
                    order.append(mid)
                matched[mid]["dataFilters"].append(copy.deepcopy(data_filter))
        if not order:
            return {}
        return {"matchedDeveloperMetadata": [matched[mid] for mid in order]}

    def _api_md_get(self, ss: Spreadsheet, metadata_id: str, user: str) -> dict:
        for md in _visible_md(ss, user):
            if str(md["metadataId"]) == urllib.parse.unquote(metadata_id):
                return _md_out(md)
        raise ApiError(404, f"No developer metadata with ID: {metadata_id}", "NOT_FOUND")

    # ================================================================== test hooks (Python API)
    # These act directly on the stored state (no HTTP, no permission checks) under the same
    # lock the server uses, so they are safe to call from a ``before_request`` hook.  Tabs are
    # named by title; row / column indexes are 0-based like the API's; ``a1`` is a range on
    # that tab without the sheet name ("B2", "A2:E", None = the whole tab).

    def _new_spreadsheet_id(self) -> str:
        while True:
            sid = "1" + "".join(self._rng.choice(_ID_ALPHABET) for _ in range(43))
            if sid not in self._spreadsheets:
                return sid

    def _ss(self, spreadsheet_id: str) -> Spreadsheet:
        try:
            return self._spreadsheets[spreadsheet_id]
        except KeyError:
            raise KeyError(f"no spreadsheet {spreadsheet_id!r} in the stand-in") from None

    def _tab(self, ss: Spreadsheet, tab: str) -> Sheet:
        sheet = ss.sheet_by_title(tab)
        if sheet is None:
            raise KeyError(f"no tab {tab!r} in spreadsheet {ss.id!r}; tabs: "
                           f"{[s.title for s in ss.sheets]}")
        return sheet

    def _ref(self, ss: Spreadsheet, tab: str, a1: str | None) -> _Ref:
        self._tab(ss, tab)
        return ss.resolve(_always_quote(tab) + ("!" + a1 if a1 else ""))

    @staticmethod
    def _fill(ss: Spreadsheet, sheet: Sheet, r0: int, c0: int, rows: Sequence[Sequence[Any]],
              value_input_option: str, grow: bool = True) -> None:
        height = len(rows)
        width = max((len(r) for r in rows), default=0)
        if grow:
            sheet.row_count = max(sheet.row_count, r0 + height)
            sheet.col_count = max(sheet.col_count, c0 + width)
        raw = value_input_option == "RAW"
        for i, row in enumerate(rows):
            for j, value in enumerate(row):
                old = sheet.cell(r0 + i, c0 + j)
                if raw and old is None and type(value) is str:  # fast path for bulk test data
                    if value:
                        sheet.set_cell(r0 + i, c0 + j, {"userEnteredValue": {"stringValue": value}})
                    continue
                cell = _python_value_cell(value, value_input_option, ss.locale)
                if cell is None:
                    sheet.set_cell(r0 + i, c0 + j, _with_value(old, None, None))
                    continue
                merged = dict(old or {})
                merged.pop("userEnteredValue", None)
                fmt = dict(merged.get("userEnteredFormat") or {})
                fmt.update(cell.get("userEnteredFormat") or {})
                merged.update(cell)
                if fmt:
                    merged["userEnteredFormat"] = fmt
                sheet.set_cell(r0 + i, c0 + j, merged)

    def create_spreadsheet(self, title: str = "Untitled spreadsheet",
                           sheets: Mapping[str, Any] | Sequence[str] | None = None,
                           shared_with: Iterable[str] | Mapping[str, str] = (), *,
                           spreadsheet_id: str | None = None, locale: str = "zh_CN",
                           time_zone: str = "Asia/Shanghai", owner: str = "owner@example.com",
                           value_input_option: str = "RAW", row_count: int = DEFAULT_ROW_COUNT,
                           column_count: int = DEFAULT_COLUMN_COUNT) -> str:
        """Create a spreadsheet and return its id.

        ``sheets`` maps tab titles (in order) to rows of values, e.g.
        ``{"接待業主情況記錄": [["接待日期", "房號"], ["2026-11-27", "A-101"]]}``; a value may
        also be a dict ``{"rows": [...], "row_count": n, "column_count": m, "frozen_rows": k,
        "sheet_id": id}``.  Cell values: str, int, float, bool, None, ``datetime.date`` /
        ``datetime`` / ``time`` (stored as real date cells: a serial number with a date
        format), or a CellData dict.  Strings are stored as typed text with
        ``value_input_option="RAW"`` (the default); pass ``"USER_ENTERED"`` to have them parsed
        as a user typing them (``=`` formulas, numbers, dates).  Grids are at least
        ``row_count`` x ``column_count`` (Google's 1000 x 26 by default) and grow to fit the
        data.  The first tab gets sheetId 0, as on Google.  ``shared_with`` lists the accounts
        (service-account e-mails) that may use it, as writers; a mapping gives roles
        (``"reader"`` / ``"writer"``).  ``owner`` (a person) may always edit protected ranges.
        """
        with self._lock:
            sid = spreadsheet_id or self._new_spreadsheet_id()
            if sid in self._spreadsheets:
                raise ValueError(f"spreadsheet {sid!r} already exists")
            ss = Spreadsheet(sid, title, locale, time_zone, owner)
            specs = {"Sheet1": []} if sheets is None else sheets
            if not isinstance(specs, Mapping):
                specs = {name: [] for name in specs}
            for i, (tab, spec) in enumerate(specs.items()):
                spec = {"rows": spec} if not isinstance(spec, Mapping) else dict(spec)
                rows = spec.get("rows") or []
                width = max((len(r) for r in rows), default=0)
                sheet_id = spec.get("sheet_id", 0 if i == 0 else None)
                if sheet_id is None:
                    used = {s.sheet_id for s in ss.sheets}
                    while sheet_id is None or sheet_id in used:
                        sheet_id = self._rng.randint(1, 2 ** 31 - 1)
                grid = {"rowCount": max(spec.get("row_count", row_count), len(rows), 1),
                        "columnCount": max(spec.get("column_count", column_count), width, 1)}
                if spec.get("frozen_rows"):
                    grid["frozenRowCount"] = spec["frozen_rows"]
                sheet = Sheet({"sheetId": sheet_id, "title": tab, "index": i, "sheetType": "GRID",
                               "gridProperties": grid})
                ss.sheets.append(sheet)
                self._fill(ss, sheet, 0, 0, rows, value_input_option, grow=False)
            if ss.total_cells() > CELL_LIMIT:
                raise ValueError(_CELL_LIMIT_MESSAGE)
            roles = shared_with.items() if isinstance(shared_with, Mapping) else (
                (email, "writer") for email in shared_with)
            for email, role in roles:
                ss.permissions[email] = role
            self._spreadsheets[sid] = ss
            self._touch(sid)
            return sid

    def delete_spreadsheet(self, spreadsheet_id: str) -> None:
        with self._lock:
            self._spreadsheets.pop(spreadsheet_id, None)

    def spreadsheet_ids(self) -> list[str]:
        with self._lock:
            return list(self._spreadsheets)

    def share(self, spreadsheet_id: str, email: str, role: str = "writer") -> None:
        """Share with an account; role ``reader`` / ``writer`` / ``owner``."""
        with self._lock:
            self._ss(spreadsheet_id).permissions[email] = role

    def unshare(self, spreadsheet_id: str, email: str) -> None:
        with self._lock:
            self._ss(spreadsheet_id).permissions.pop(email, None)

    def sheet_titles(self, spreadsheet_id: str) -> list[str]:
        with self._lock:
            return [s.title for s in self._ss(spreadsheet_id).sheets]

    def sheet_properties(self, spreadsheet_id: str, tab: str) -> dict:
        """The tab's SheetProperties as spreadsheets.get returns them."""
        with self._lock:
            return _sheet_props_out(self._tab(self._ss(spreadsheet_id), tab))

    def metadata(self, spreadsheet_id: str, *, include_grid_data: bool = False,
                 ranges: Sequence[str] = (), as_user: str | None = None) -> dict:
        """The spreadsheet resource exactly as ``spreadsheets.get`` would return it."""
        with self._lock:
            return spreadsheet_resource(self._ss(spreadsheet_id), as_user, include_grid_data, ranges)

    def get_values(self, spreadsheet_id: str, tab: str, a1: str | None = None, *,
                   render: str = "FORMATTED_VALUE", pad: bool = True) -> list[list]:
        """Cell values of a tab (or of ``a1`` on it) as a list of rows.

        ``render`` is a valueRenderOption (dates stay serial numbers with UNFORMATTED_VALUE).
        Trailing empty rows are dropped; with ``pad`` every row is padded with "" to the
        widest row, otherwise rows are trimmed as the API returns them.
        """
        with self._lock:
            ss = self._ss(spreadsheet_id)
            rows = _Renderer(ss).matrix(self._ref(ss, tab, a1), render, "SERIAL_NUMBER", "ROWS")
        if pad and rows:
            width = max(len(r) for r in rows)
            rows = [r + [""] * (width - len(r)) for r in rows]
        return rows

    def get_cell(self, spreadsheet_id: str, tab: str, a1: str, *,
                 render: str = "UNFORMATTED_VALUE") -> Any:
        """One cell's value (None when empty)."""
        with self._lock:
            ss = self._ss(spreadsheet_id)
            ref = self._ref(ss, tab, a1)
            value = _Renderer(ss).render(ref.sheet, ref.r0, ref.c0, ref.sheet.cell(ref.r0, ref.c0),
                                         render, "SERIAL_NUMBER")
        return None if value == "" else value

    def cell_data(self, spreadsheet_id: str, tab: str, a1: str) -> dict | None:
        """The stored CellData of one cell (a copy), None when the cell is blank."""
        with self._lock:
            ss = self._ss(spreadsheet_id)
            ref = self._ref(ss, tab, a1)
            return copy.deepcopy(ref.sheet.cell(ref.r0, ref.c0))

    @_moves_modified_time
    def set_values(self, spreadsheet_id: str, tab: str, a1: str, rows: Sequence[Sequence[Any]], *,
                   value_input_option: str = "RAW") -> None:
        """Staff edit: write rows of Python values starting at ``a1`` (None clears a cell).

        Unlike the API this grows the grid when needed and ignores protection.
        """
        with self._lock:
            ss = self._ss(spreadsheet_id)
            sheet = self._tab(ss, tab)
            col, row = _parse_endpoint(a1.split(":")[0])
            self._fill(ss, sheet, row or 0, col or 0, rows, value_input_option)

    def set_cell(self, spreadsheet_id: str, tab: str, a1: str, value: Any, *,
                 value_input_option: str = "RAW") -> None:
        self.set_values(spreadsheet_id, tab, a1, [[value]], value_input_option=value_input_option)

    @_moves_modified_time
    def clear_cells(self, spreadsheet_id: str, tab: str, a1: str | None = None) -> None:
        """Staff edit: delete the values of a range (formats and notes stay)."""
        with self._lock:
            ss = self._ss(spreadsheet_id)
            self._clear(ss, self._ref(ss, tab, a1), None)

    @_moves_modified_time
    def insert_rows(self, spreadsheet_id: str, tab: str, index: int,
                    rows: Sequence[Sequence[Any]] | None = None, *, count: int | None = None,
                    value_input_option: str = "RAW") -> None:
        """Staff edit: insert ``len(rows)`` (or ``count``) rows before 0-based row ``index``."""
        n = len(rows) if rows else (count or 1)
        with self._lock:
            ss = self._ss(spreadsheet_id)
            sheet = self._tab(ss, tab)
            insert_dimension(ss, sheet, "ROWS", index, index + n)
            if rows:
                self._fill(ss, sheet, index, 0, rows, value_input_option)

    @_moves_modified_time
    def delete_rows(self, spreadsheet_id: str, tab: str, index: int, count: int = 1) -> None:
        """Staff edit: delete ``count`` rows starting at 0-based row ``index``."""
        with self._lock:
            ss = self._ss(spreadsheet_id)
            delete_dimension(ss, self._tab(ss, tab), "ROWS", index, index + count)

    @_moves_modified_time
    def insert_columns(self, spreadsheet_id: str, tab: str, index: int, count: int = 1) -> None:
        with self._lock:
            ss = self._ss(spreadsheet_id)
            insert_dimension(ss, self._tab(ss, tab), "COLUMNS", index, index + count)

    @_moves_modified_time
    def delete_columns(self, spreadsheet_id: str, tab: str, index: int, count: int = 1) -> None:
        with self._lock:
            ss = self._ss(spreadsheet_id)
            delete_dimension(ss, self._tab(ss, tab), "COLUMNS", index, index + count)

    @_moves_modified_time
    def append_rows(self, spreadsheet_id: str, tab: str, rows: Sequence[Sequence[Any]], *,
                    value_input_option: str = "RAW") -> int:
        """Staff edit: add rows below the last row holding a value; returns the first index."""
        with self._lock:
            ss = self._ss(spreadsheet_id)
            sheet = self._tab(ss, tab)
            start = sheet.value_extent()[0]
            self._fill(ss, sheet, start, 0, rows, value_input_option)
            return start

    @_moves_modified_time
    def sort_rows(self, spreadsheet_id: str, tab: str, column: int | str, *,
                  descending: bool = False, header_rows: int = 1) -> None:
        """Staff edit: sort the data rows (below ``header_rows``) by one column.

        ``column`` is a 0-based index or a header text of row 1.  Whole rows move (every
        column of the grid); developer metadata attached to rows stays, like sortRange.
        """
        with self._lock:
            ss = self._ss(spreadsheet_id)
            sheet = self._tab(ss, tab)
            if isinstance(column, str):
                header = [(_Renderer(ss).effective(sheet, 0, c, sheet.cell(0, c)) or "")
                          for c in range(sheet.col_count)]
                stripped = [str(h).strip() for h in header]
                if column.strip() not in stripped:
                    raise KeyError(f"no header {column!r} in {tab!r}: {header}")
                column = stripped.index(column.strip())
            end = max(sheet.value_extent()[0], header_rows)
            sort_rows_in(_Renderer(ss), sheet, header_rows, end, 0, sheet.col_count,
                         [(column, descending)])

    @_moves_modified_time
    def add_sheet(self, spreadsheet_id: str, title: str, rows: Sequence[Sequence[Any]] = (), *,
                  index: int | None = None, row_count: int = DEFAULT_ROW_COUNT,
                  column_count: int = DEFAULT_COLUMN_COUNT, sheet_id: int | None = None,
                  value_input_option: str = "RAW") -> int:
        """Staff edit: add a tab; returns its sheetId."""
        with self._lock:
            ss = self._ss(spreadsheet_id)
            props: dict = {"title": title, "gridProperties": {
                "rowCount": max(row_count, len(rows), 1),
                "columnCount": max(column_count, max((len(r) for r in rows), default=0), 1)}}
            if index is not None:
                props["index"] = index
            if sheet_id is not None:
                props["sheetId"] = sheet_id
            try:
                reply = _BatchUpdater(self, ss, None)._addSheet({"properties": props})
            except _RequestError as exc:
                raise ValueError(str(exc)) from None
            sheet = ss.sheet_by_id(reply["addSheet"]["properties"]["sheetId"])
            self._fill(ss, sheet, 0, 0, list(rows), value_input_option)
            return sheet.sheet_id

    @_moves_modified_time
    def delete_sheet(self, spreadsheet_id: str, tab: str) -> None:
        with self._lock:
            ss = self._ss(spreadsheet_id)
            sheet = self._tab(ss, tab)
            ss.sheets.remove(sheet)
            remove_sheet_attachments(ss, sheet.sheet_id)
            ss.reindex()

    @_moves_modified_time
    def rename_sheet(self, spreadsheet_id: str, tab: str, new_title: str) -> None:
        with self._lock:
            self._tab(self._ss(spreadsheet_id), tab).props["title"] = new_title

    @_moves_modified_time
    def resize_sheet(self, spreadsheet_id: str, tab: str, rows: int | None = None,
                     columns: int | None = None) -> None:
        """Change a tab's grid size (shrinking deletes what falls off)."""
        with self._lock:
            ss = self._ss(spreadsheet_id)
            sheet = self._tab(ss, tab)
            _BatchUpdater(self, ss, None)._resize(
                sheet, rows if rows is not None else sheet.row_count,
                columns if columns is not None else sheet.col_count)

    def developer_metadata(self, spreadsheet_id: str) -> list[dict]:
        """All developer metadata, as DeveloperMetadata objects of the API."""
        with self._lock:
            return [_md_out(md) for md in self._ss(spreadsheet_id).metadata]

    def protected_ranges(self, spreadsheet_id: str, tab: str | None = None) -> list[dict]:
        """ProtectedRange objects as spreadsheets.get returns them (editors included)."""
        with self._lock:
            ss = self._ss(spreadsheet_id)
            sheets = [self._tab(ss, tab)] if tab else ss.sheets
            return [_protected_out(pr, None, ss) for s in sheets for pr in s.protected_ranges]

    def protect_range(self, spreadsheet_id: str, tab: str, a1: str | None = None, *,
                      editors: Iterable[str] = (), warning_only: bool = False,
                      description: str | None = None) -> int:
        """Add a protected range as a person would (the owner); returns protectedRangeId."""
        with self._lock:
            ss = self._ss(spreadsheet_id)
            ref = self._ref(ss, tab, a1)
            gr: dict = {"sheetId": ref.sheet.sheet_id}
            if a1:
                gr.update({"startRowIndex": ref.r0, "endRowIndex": ref.r1,
                           "startColumnIndex": ref.c0, "endColumnIndex": ref.c1})
            pr: dict = {"range": gr, "editors": {"users": list(editors)}}
            if warning_only:
                pr["warningOnly"] = True
                pr.pop("editors")
            if description:
                pr["description"] = description
            reply = _BatchUpdater(self, ss, ss.owner or None)._addProtectedRange({"protectedRange": pr})
            return reply["addProtectedRange"]["protectedRange"]["protectedRangeId"]
