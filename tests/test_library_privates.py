"""The few private names of third-party libraries the worker still uses, where the library offers
no public way (tests/test_code_shape.py lists them). Each test here fails loudly, naming what to
replace, when an upgrade of the pinned library changes what the worker relies on."""

from __future__ import annotations

import inspect
import io
from copy import copy

import openpyxl
import pytest
from google.oauth2 import _client as oauth_client
from google.oauth2 import service_account


def test_openpyxl_keeps_a_sheets_cells_in_a_dict_by_row_and_column():
    """workbook.py looks cells up in `Worksheet._cells` (init's last used column, a protected
    tab's locked cells): the public `iter_rows` creates an empty cell for every gap, which the
    next save writes."""
    sheet = openpyxl.Workbook().active
    sheet.cell(row=3, column=2, value="x")
    assert isinstance(sheet._cells, dict), "openpyxl changed Worksheet._cells: rewrite workbook._last_used_column and _blocked_in_book"
    assert list(sheet._cells) == [(3, 2)] and sheet._cells[(3, 2)].value == "x", \
        "openpyxl changed Worksheet._cells keys: rewrite workbook._last_used_column and _blocked_in_book"
    list(sheet.iter_rows(values_only=True))
    assert len(sheet._cells) > 1, "iter_rows no longer fills gaps: workbook._last_used_column could use it instead"


def test_openpyxl_keeps_a_cells_style_record_in_style_and_copies_it_before_a_change():
    """workbook_tabs.SharedLooks gives cells that look alike copies of one style record
    (`Cell._style`), and a later change to one cell's format leaves the others as they were."""
    from openpyxl.styles import Font

    sheet = openpyxl.Workbook().active
    first, second = sheet["A1"], sheet["A2"]
    first.font = Font(bold=True)
    record = first._style
    assert type(record).__name__ == "StyleArray", "openpyxl changed Cell._style: rewrite workbook_tabs.SharedLooks"
    second._style = copy(record)  # a copy: openpyxl changes a cell's record in place
    assert second.font.b, "openpyxl no longer reads a cell's format from Cell._style: rewrite SharedLooks"
    second.font = Font(italic=True)
    assert first.font.b and not first.font.i, "a copied Cell._style is no longer the cell's own: rewrite SharedLooks"


def test_openpyxl_lists_a_sheets_pictures_and_gives_their_bytes_only_privately():
    """workbook.py gives each picture its bytes back before a second save (`Worksheet._images`,
    `Image._data()`): openpyxl closes the stream it reads them from while saving."""
    pytest.importorskip("PIL", reason="openpyxl keeps pictures only with Pillow installed")
    from openpyxl.drawing.image import Image
    from PIL import Image as PillowImage

    picture = io.BytesIO()
    PillowImage.new("RGB", (2, 2), "red").save(picture, format="png")
    book = openpyxl.Workbook()
    book.active.add_image(Image(io.BytesIO(picture.getvalue())), "A1")
    saved = io.BytesIO()
    book.save(saved)
    loaded = openpyxl.load_workbook(io.BytesIO(saved.getvalue()))
    images = loaded.active._images
    assert len(images) == 1, "openpyxl changed Worksheet._images: rewrite workbook._keep_pictures_saveable"
    data = images[0]._data()
    assert data.startswith(b"\x89PNG"), "openpyxl changed Image._data(): rewrite workbook._keep_pictures_saveable"
    assert not any(name for name in ("images", "pictures") if hasattr(loaded.active, name)), \
        "openpyxl now lists pictures publicly: use that in workbook._keep_pictures_saveable"


def test_google_auth_token_refresh_hooks_the_worker_overrides():
    """client.ServiceAccountCredentials replaces `_perform_refresh_token` to call `jwt_grant`
    without google-auth's own sleeping retries (the worker retries on its injectable clock)."""
    credentials = service_account.Credentials
    for name in ("_perform_refresh_token", "_use_self_signed_jwt", "_make_authorization_grant_assertion"):
        assert callable(getattr(credentials, name, None)), \
            f"google-auth removed Credentials.{name}: rewrite client.ServiceAccountCredentials"
    assert "_perform_refresh_token" in inspect.getsource(credentials.refresh), \
        "google-auth's refresh no longer goes through _perform_refresh_token: rewrite client.ServiceAccountCredentials"
    assert "_token_uri" in inspect.getsource(credentials.__init__), \
        "google-auth renamed Credentials._token_uri: rewrite client.ServiceAccountCredentials"
    assert "can_retry" in inspect.signature(oauth_client.jwt_grant).parameters, \
        "google-auth's jwt_grant lost can_retry: rewrite client.ServiceAccountCredentials"
