"""Tests of the local Google Sheets API / OAuth stand-in in ``tests/standin``.

They drive the stand-in over real HTTP with the real clients (google-auth's service-account
token flow, gspread, google-auth's ``AuthorizedSession``) and finish with a replay of the
Google traffic recorded by the gspread project (``test_replay_of_recorded_google_traffic``).
"""

from __future__ import annotations

import base64
import collections
import datetime as dt
import json
import time
import urllib.parse
from pathlib import Path

import google.auth.exceptions
import google.auth.transport.requests
import gspread
import pytest
import requests
from google.auth.transport.requests import AuthorizedSession
from google.oauth2.service_account import Credentials

# The fixtures are imported so this module also runs before tests/conftest.py loads the plugin
# (``pytest_plugins = ["tests.standin.pytest_plugin"]``); with the plugin loaded they are the same.
from tests.standin.pytest_plugin import (  # noqa: F401 - fixtures used by the tests below
    SHEETS_SCOPES,
    gspread_client,
    no_external_network,
    service_account,
    sheets_standin,
)
from tests.standin.service_account import make_service_account_file, public_key_pem
from tests.standin.sheets_api import (
    CELL_LIMIT,
    MAX_BODY_BYTES,
    SheetsStandin,
    _BatchUpdater,
    classify,
)

CASSETTES = Path("/work/shared/reference/gspread-cassettes")
READONLY_SCOPES = ["https://www.googleapis.com/auth/spreadsheets.readonly"]


# ---------------------------------------------------------------------------------- helpers


def q(a1: str) -> str:
    """Percent-encode an A1 range for a URL path, as gspread does."""
    return urllib.parse.quote(a1, safe="")


def session_for(key_file: Path, scopes: list[str] | None = None) -> AuthorizedSession:
    creds = Credentials.from_service_account_file(str(key_file), scopes=scopes or SHEETS_SCOPES)
    return AuthorizedSession(creds)


class Api:
    """Tiny REST helper over a real google-auth AuthorizedSession."""

    def __init__(self, standin: SheetsStandin, session: requests.Session, spreadsheet_id: str):
        self.base = f"{standin.base_url}/v4/spreadsheets/{spreadsheet_id}"
        self.session = session

    def get(self, a1: str, **params):
        return self.session.get(f"{self.base}/values/{q(a1)}", params=params)

    def put(self, a1: str, values, option: str = "RAW", **params):
        return self.session.put(f"{self.base}/values/{q(a1)}",
                                params={"valueInputOption": option, **params}, json={"values": values})

    def batch(self, *requests_):
        return self.session.post(f"{self.base}:batchUpdate", json={"requests": list(requests_)})

    def meta(self, **params):
        return self.session.get(self.base, params=params)


@pytest.fixture
def session(service_account) -> AuthorizedSession:
    return session_for(service_account.path)


def error_of(response: requests.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]


# ------------------------------------------------------------------- gspread end to end


def test_gspread_client_with_real_service_account_flow(sheets_standin, service_account,
                                                       gspread_client):
    sid = sheets_standin.create_spreadsheet(
        "前臺接待", sheets={
            "接待業主情況記錄": [["接待日期", "房號", "事由"],
                         [dt.date(2026, 11, 27), "A-101", "漏水"]],
            "Sheet 2": [["x", "y"]],
        }, shared_with=[service_account.email])

    sh = gspread_client.open_by_key(sid)
    assert sh.title == "前臺接待"
    assert [ws.title for ws in sh.worksheets()] == ["接待業主情況記錄", "Sheet 2"]
    ws = sh.worksheet("接待業主情況記錄")
    assert ws.id == 0 and ws.row_count == 1000 and ws.col_count == 26
    assert ws.get_all_values() == [["接待日期", "房號", "事由"], ["2026-11-27", "A-101", "漏水"]]
    assert ws.get("A2", value_render_option="UNFORMATTED_VALUE") == [[46353]]

    ranges = sh.values_batch_get(["'Sheet 2'!A:B", "接待業主情況記錄!B1:C"])["valueRanges"]
    assert [r["range"] for r in ranges] == ["'Sheet 2'!A1:B1000", "接待業主情況記錄!B1:C1000"]
    assert ranges[0]["values"] == [["x", "y"]]
    assert ws.batch_get(["A1:A2", "C2"]) == [[["接待日期"], ["2026-11-27"]], [["漏水"]]]

    ws.update([["=1+2", "=2026"]], "D1", value_input_option="USER_ENTERED")
    ws.update([["=1+2"]], "F1", value_input_option="RAW")
    assert ws.get("D1:F1") == [["3", "2026", "=1+2"]]
    assert ws.get("D1:F1", value_render_option="FORMULA") == [["=1+2", "=2026", "=1+2"]]

    ws.append_rows([["2026-11-28", "B-2", "噪音"], ["", "C-3"]], value_input_option="RAW")
    ws.batch_update([{"range": "E3:E4", "values": [["e3"], ["e4"]]}])
    assert sheets_standin.get_values(sid, "接待業主情況記錄", "A3:E4") == [
        ["2026-11-28", "B-2", "噪音", "", "e3"], ["", "C-3", "", "", "e4"]]

    new = sh.add_worksheet("周報", rows=20, cols=5)
    assert new.id != 0 and sheets_standin.sheet_titles(sid)[-1] == "周報"
    sh.batch_update({"requests": [{"updateSheetProperties": {
        "properties": {"sheetId": 0, "gridProperties": {"frozenRowCount": 1}},
        "fields": "gridProperties.frozenRowCount"}}]})
    assert sh.worksheet("接待業主情況記錄").frozen_row_count == 1

    stats = sheets_standin.stats
    assert stats["token"] == 1  # one real JWT-bearer grant for the whole session
    assert stats["spreadsheets.batchUpdate"] == 2 and stats.batch_request_kinds["addSheet"] == 1
    assert stats["values.append"] == 1 and stats["values.batchUpdate"] == 1
    assert all(r.email == service_account.email for r in sheets_standin.requests_of("values.get"))
    # google-auth's background "Regional Access Boundary" lookup is the only attempt to leave
    # the machine; the no_external_network fixture refuses it (see pytest_plugin.py).
    assert set(sheets_standin.blocked_hosts) <= {"iamcredentials.googleapis.com"}


def test_gspread_sees_google_errors(sheets_standin, service_account, gspread_client):
    with pytest.raises(gspread.exceptions.SpreadsheetNotFound):
        gspread_client.open_by_key("1NoSuchSpreadsheet")
    private = sheets_standin.create_spreadsheet("private")
    with pytest.raises(PermissionError) as info:  # gspread 6 maps Google's 403 to this
        gspread_client.open_by_key(private)
    response = info.value.__cause__.response
    assert response.status_code == 403 and response.json()["error"]["status"] == "PERMISSION_DENIED"


# ---------------------------------------------------------------------- token endpoint


def test_token_endpoint_verifies_signature_key_and_account(sheets_standin, tmp_path):
    standin = sheets_standin
    email = "worker@proj.iam.gserviceaccount.com"
    good = make_service_account_file(tmp_path / "good.json", standin.token_uri, email, standin=standin)
    # Same account, key never registered (e.g. a key made in another project's console).
    make_service_account_file(tmp_path / "rogue.json", standin.token_uri, email)
    make_service_account_file(tmp_path / "stranger.json", standin.token_uri,
                              "nobody@proj.iam.gserviceaccount.com")

    def refresh(name: str) -> Credentials:
        creds = Credentials.from_service_account_file(str(tmp_path / name), scopes=SHEETS_SCOPES)
        creds.refresh(google.auth.transport.requests.Request())
        return creds

    assert refresh("good.json").token.startswith("ya29.")
    with pytest.raises(google.auth.exceptions.RefreshError, match="Invalid JWT Signature"):
        refresh("rogue.json")
    with pytest.raises(google.auth.exceptions.RefreshError, match="account not found"):
        refresh("stranger.json")

    standin.revoke_key(good["private_key_id"])
    with pytest.raises(google.auth.exceptions.RefreshError) as info:
        refresh("good.json")
    assert info.value.args[1] == {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
    standin.delete_account(email)
    with pytest.raises(google.auth.exceptions.RefreshError, match="Invalid grant: account not found"):
        refresh("good.json")


def _jwt(info: dict, **claims) -> str:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    now = int(time.time())
    payload = {"iss": info["client_email"], "scope": SHEETS_SCOPES[0],
               "aud": "https://oauth2.googleapis.com/token", "iat": now, "exp": now + 3600}
    payload.update(claims)

    def b64(obj) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    signing_input = f"{b64({'alg': 'RS256', 'typ': 'JWT', 'kid': info['private_key_id']})}.{b64(payload)}"
    key = serialization.load_pem_private_key(info["private_key"].encode(), password=None)
    sig = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()


def test_token_endpoint_checks_grant_audience_and_lifetime(sheets_standin, service_account):
    url, info = sheets_standin.token_uri, service_account.info
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

    ok = requests.post(url, data={"grant_type": grant, "assertion": _jwt(info)})
    assert ok.status_code == 200
    assert set(ok.json()) == {"access_token", "expires_in", "token_type"}
    assert ok.json()["expires_in"] == 3599 and ok.json()["token_type"] == "Bearer"
    own_aud = requests.post(url, data={"grant_type": grant, "assertion": _jwt(info, aud=url)})
    assert own_aud.status_code == 200

    bad = requests.post(url, data={"grant_type": "password", "assertion": _jwt(info)})
    assert bad.status_code == 400 and bad.json()["error"] == "unsupported_grant_type"
    wrong_aud = requests.post(url, data={"grant_type": grant,
                                         "assertion": _jwt(info, aud="https://example.com/token")})
    assert wrong_aud.status_code == 400 and "audience" in wrong_aud.json()["error_description"]
    expired = requests.post(url, data={"grant_type": grant, "assertion": _jwt(
        info, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)})
    assert expired.status_code == 400 and expired.json()["error"] == "invalid_grant"
    too_long = requests.post(url, data={"grant_type": grant, "assertion": _jwt(
        info, exp=int(time.time()) + 7200)})
    assert too_long.status_code == 400
    tampered = _jwt(info)[:-6] + "AAAAAA"
    sig = requests.post(url, data={"grant_type": grant, "assertion": tampered})
    assert sig.json() == {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}


def test_token_endpoint_faults(sheets_standin, service_account):
    sheets_standin.inject_fault(500, kinds="token")
    creds = Credentials.from_service_account_file(str(service_account.path), scopes=SHEETS_SCOPES)
    creds.refresh(google.auth.transport.requests.Request())  # google-auth retries a 500 once
    assert sheets_standin.stats["token"] == 2
    assert [r.status for r in sheets_standin.requests_of("token")] == [500, 200]

    sheets_standin.inject_fault(503, count=1, kinds=["token"])
    r = requests.post(sheets_standin.token_uri, data={"grant_type": "x"})
    assert r.status_code == 503 and r.json()["error"] == "internal_failure"


def test_expired_and_revoked_tokens(sheets_standin, service_account, session):
    sid = sheets_standin.create_spreadsheet(shared_with=[service_account.email])
    api = Api(sheets_standin, session, sid)
    assert api.meta().status_code == 200
    sheets_standin.expire_tokens()
    assert api.meta().status_code == 200  # AuthorizedSession refreshes on 401 and retries
    assert sheets_standin.stats["token"] == 2 and sheets_standin.stats.statuses[401] == 1

    no_auth = requests.get(api.base)
    assert no_auth.status_code == 401
    assert error_of(no_auth)["status"] == "UNAUTHENTICATED"
    bogus = requests.get(api.base, headers={"Authorization": "Bearer ya29.forged"})
    assert bogus.status_code == 401 and "invalid authentication credentials" in error_of(bogus)["message"]


# -------------------------------------------------------------------- access and sharing


def test_sharing_roles_and_scopes(sheets_standin, service_account, tmp_path):
    standin = sheets_standin
    sid = standin.create_spreadsheet(sheets={"Log": [["a"]]}, shared_with={service_account.email: "reader"})
    api = Api(standin, session_for(service_account.path), sid)
    assert api.get("Log!A1").json()["values"] == [["a"]]
    denied = api.put("Log!A1", [["b"]])
    assert denied.status_code == 403
    assert error_of(denied) == {"code": 403, "message": "The caller does not have permission",
                                "status": "PERMISSION_DENIED"}
    standin.share(sid, service_account.email, "writer")
    assert api.put("Log!A1", [["b"]]).status_code == 200

    readonly = Api(standin, session_for(service_account.path, READONLY_SCOPES), sid)
    assert readonly.get("Log!A1").status_code == 200
    scoped = readonly.put("Log!A1", [["c"]])
    assert scoped.status_code == 403 and error_of(scoped)["message"] == \
        "Request had insufficient authentication scopes."

    standin.unshare(sid, service_account.email)
    assert api.get("Log!A1").status_code == 403
    missing = Api(standin, api.session, "1NoSuchId").meta()
    assert missing.status_code == 404
    assert error_of(missing) == {"code": 404, "message": "Requested entity was not found.",
                                 "status": "NOT_FOUND"}


# ------------------------------------------------------------------------- values API


def test_value_ranges_and_trimming(sheets_standin, service_account, session):
    standin = sheets_standin
    sid = standin.create_spreadsheet(sheets={
        "接待業主情況記錄": [["h1", "h2", "", "h4"], ["", "b2"], [], ["a4", "", "", ""]],
        "It's a tab": [["x", "y"]],
        "Sheet 3": [],
        "D3": [["cell-like title"]],
    }, shared_with=[service_account.email])
    api = Api(standin, session, sid)

    whole = api.get("接待業主情況記錄").json()
    assert whole == {"range": "接待業主情況記錄!A1:Z1000", "majorDimension": "ROWS",
                     "values": [["h1", "h2", "", "h4"], ["", "b2"], [], ["a4"]]}
    assert api.get("'接待業主情況記錄'!A2:E").json()["range"] == "接待業主情況記錄!A2:E1000"
    assert api.get("接待業主情況記錄!A:E").json()["range"] == "接待業主情況記錄!A1:E1000"
    assert api.get("接待業主情況記錄!B2").json() == {
        "range": "接待業主情況記錄!B2", "majorDimension": "ROWS", "values": [["b2"]]}
    assert api.get("接待業主情況記錄!D4:A1").json()["range"] == "接待業主情況記錄!A1:D4"
    assert api.get("接待業主情況記錄!1:2").json()["values"] == [["h1", "h2", "", "h4"], ["", "b2"]]
    assert api.get("接待業主情況記錄!A1:B2", majorDimension="COLUMNS").json()["values"] == [
        ["h1"], ["h2", "b2"]]
    assert api.get("'It''s a tab'!A1:B1").json() == {
        "range": "'It''s a tab'!A1:B1", "majorDimension": "ROWS", "values": [["x", "y"]]}
    empty = api.get("Sheet 3").json()
    assert empty == {"range": "'Sheet 3'!A1:Z1000", "majorDimension": "ROWS"}  # no "values"
    assert api.get("'D3'!A1").json()["range"] == "'D3'!A1"
    assert api.get("A1").json()["range"] == "接待業主情況記錄!A1"  # no title: first sheet

    unparsable = api.get("NoSuchTab!A1")
    assert unparsable.status_code == 400
    assert error_of(unparsable)["message"] == "Unable to parse range: NoSuchTab!A1"
    beyond = api.get("接待業主情況記錄!A1:A1001")
    assert error_of(beyond)["message"] == (
        "Range (接待業主情況記錄!A1:A1001) exceeds grid limits. Max rows: 1000, max columns: 26")


def test_value_input_and_render_options(sheets_standin, service_account, session):
    standin = sheets_standin
    sid = standin.create_spreadsheet(sheets={"T": []}, shared_with=[service_account.email],
                                     locale="en_US")
    api = Api(standin, session, sid)
    raw = api.put("T!A1", [["=1+2", "0042", True, 1.5, 7]], "RAW").json()
    assert raw == {"spreadsheetId": sid, "updatedRange": "T!A1:E1", "updatedRows": 1,
                   "updatedColumns": 5, "updatedCells": 5}
    api.put("T!A2", [["=1+2", "0042", "'0042", "2020-01-01", "2026-03-10 14:30", "12%", "TRUE",
                      "=A2*2", "=SUM(A1:A2)"]], "USER_ENTERED")

    formatted = api.get("T!A1:I2").json()["values"]
    assert formatted == [["=1+2", "0042", "TRUE", "1.5", "7"],
                         ["3", "42", "0042", "2020-01-01", "2026-03-10 14:30", "12%", "TRUE", "6",
                          "=SUM(A1:A2)"]]
    unformatted = api.get("T!A1:I2", valueRenderOption="UNFORMATTED_VALUE").json()["values"]
    assert unformatted == [["=1+2", "0042", True, 1.5, 7],
                           [3, 42, "0042", 43831, 46091.604166666664, 0.12, True, 6, "=SUM(A1:A2)"]]
    as_strings = api.get("T!D2", valueRenderOption="UNFORMATTED_VALUE",
                         dateTimeRenderOption="FORMATTED_STRING").json()["values"]
    assert as_strings == [["2020-01-01"]]
    formulas = api.get("T!A2:I2", valueRenderOption="FORMULA").json()["values"][0]
    assert formulas[0] == "=1+2" and formulas[7] == "=A2*2" and formulas[3] == 43831

    # null leaves a cell alone, "" clears it; typed cells keep their formats.
    api.put("T!A1:B1", [[None, ""]], "RAW")
    assert standin.get_values(sid, "T", "A1:B1") == [["=1+2"]]
    bad = api.put("T!A1", "X")
    assert error_of(bad)["message"] == ("Invalid value at 'data.values' "
                                        "(type.googleapis.com/google.protobuf.ListValue), \"X\"")
    missing_option = api.session.put(f"{api.base}/values/{q('T!A1')}", json={"values": [["x"]]})
    assert error_of(missing_option)["message"] == "'valueInputOption' is required but not specified"


def test_value_writes_respect_the_grid(sheets_standin, service_account, session):
    standin = sheets_standin
    sid = standin.create_spreadsheet(sheets={"T": {"rows": [], "row_count": 3, "column_count": 2}},
                                     shared_with=[service_account.email])
    api = Api(standin, session, sid)
    past_rows = api.put("T!A3", [["a"], ["b"]])
    assert past_rows.status_code == 400
    assert error_of(past_rows)["message"] == "Range (T!A3:A4) exceeds grid limits. Max rows: 3, max columns: 2"
    outside = api.put("T!A1:B1", [["a", "b", "c"]])
    assert error_of(outside)["message"].startswith("Requested writing within range [T!A1:B1]")
    # values.append grows the sheet (as Google's does); values.update never does.
    appended = api.session.post(f"{api.base}/values/{q('T')}:append",
                                params={"valueInputOption": "RAW"},
                                json={"values": [["r1"], ["r2"], ["r3"], ["r4", "x", "y"]]}).json()
    assert appended["updates"]["updatedRange"] == "T!A1:C4"
    assert standin.sheet_properties(sid, "T")["gridProperties"] == {"rowCount": 4, "columnCount": 3}
    again = api.session.post(f"{api.base}/values/{q('T!A1')}:append",
                             params={"valueInputOption": "RAW", "insertDataOption": "INSERT_ROWS"},
                             json={"values": [["r5"]]}).json()
    assert again["tableRange"] == "T!A1:C4" and again["updates"]["updatedRange"] == "T!A5"


def test_clear_batch_get_batch_update_batch_clear(sheets_standin, service_account, session):
    standin = sheets_standin
    sid = standin.create_spreadsheet(sheets={"A": [["1", "2"], ["3", "4"]], "B": [["x"]]},
                                     shared_with=[service_account.email])
    api = Api(standin, session, sid)
    res = session.post(f"{api.base}/values:batchUpdate", json={
        "valueInputOption": "USER_ENTERED",
        "data": [{"range": "A!C1", "values": [["5"]]}, {"range": "B!A2:A3", "values": [["y"], ["z"]]}],
    }).json()
    assert res["totalUpdatedCells"] == 3 and res["totalUpdatedSheets"] == 2
    assert [r["updatedRange"] for r in res["responses"]] == ["A!C1", "B!A2:A3"]
    got = session.get(f"{api.base}/values:batchGet",
                      params={"ranges": ["A!A1:C1", "B"], "valueRenderOption": "UNFORMATTED_VALUE"}).json()
    assert [v.get("values") for v in got["valueRanges"]] == [[["1", "2", 5]], [["x"], ["y"], ["z"]]]
    cleared = session.post(f"{api.base}/values/{q('A!A1:B1')}:clear").json()
    assert cleared == {"spreadsheetId": sid, "clearedRange": "A!A1:B1"}
    cleared = session.post(f"{api.base}/values:batchClear", json={"ranges": ["A", "B!A1"]}).json()
    assert cleared["clearedRanges"] == ["A!A1:Z1000", "B!A1"]
    assert standin.get_values(sid, "A") == []
    assert standin.get_values(sid, "B", pad=False) == [[], ["y"], ["z"]]


# ------------------------------------------------------------------------- batchUpdate


def test_batch_update_is_atomic(sheets_standin, service_account, session):
    standin = sheets_standin
    sid = standin.create_spreadsheet(sheets={"Log": [["a"]]}, shared_with=[service_account.email])
    api = Api(standin, session, sid)
    before = standin.metadata(sid, include_grid_data=True)
    failed = api.batch(
        {"updateCells": {"start": {"sheetId": 0, "rowIndex": 0, "columnIndex": 0},
                         "rows": [{"values": [{"userEnteredValue": {"stringValue": "changed"}}]}],
                         "fields": "userEnteredValue"}},
        {"addSheet": {"properties": {"title": "New"}}},
        {"addSheet": {"properties": {"title": "new"}}},
    )
    assert failed.status_code == 400
    assert error_of(failed) == {"code": 400, "status": "INVALID_ARGUMENT", "message":
                                'Invalid requests[2].addSheet: A sheet with the name "new" already '
                                "exists. Please enter another name."}
    assert standin.metadata(sid, include_grid_data=True) == before

    # Writing past the grid fails unless the same batch grows the grid first.
    write = {"updateCells": {"start": {"sheetId": 0, "rowIndex": 1000, "columnIndex": 0},
                             "rows": [{"values": [{"userEnteredValue": {"numberValue": 1}}]}],
                             "fields": "userEnteredValue"}}
    too_far = api.batch(write)
    assert error_of(too_far)["message"] == (
        "Invalid requests[0].updateCells: GridCoordinate.rowIndex[1000] is after last row in grid[999]")
    grown = api.batch({"appendDimension": {"sheetId": 0, "dimension": "ROWS", "length": 1}}, write)
    assert grown.json() == {"spreadsheetId": sid, "replies": [{}, {}]}
    assert standin.get_cell(sid, "Log", "A1001") == 1

    unsupported = api.batch({"mergeCells": {"range": {"sheetId": 0}, "mergeType": "MERGE_ALL"}})
    assert unsupported.status_code == 400 and standin.unsupported_requests["mergeCells"] == 1
    unknown = api.batch({"frobnicate": {}})
    assert "Unknown name \"frobnicate\"" in error_of(unknown)["message"]


def test_limits_cells_and_payload(sheets_standin, service_account, session):
    standin = sheets_standin
    sid = standin.create_spreadsheet(shared_with=[service_account.email])
    api = Api(standin, session, sid)
    huge = api.batch({"updateSheetProperties": {
        "properties": {"sheetId": 0, "gridProperties": {"rowCount": CELL_LIMIT // 26 + 1}},
        "fields": "gridProperties.rowCount"}})
    assert error_of(huge)["message"] == (
        "Invalid requests[0].updateSheetProperties: This action would increase the number of "
        "cells in the workbook above the limit of 10000000 cells.")
    fits = api.batch({"updateSheetProperties": {
        "properties": {"sheetId": 0, "gridProperties": {"rowCount": CELL_LIMIT // 26}},
        "fields": "gridProperties.rowCount"}})
    assert fits.status_code == 200
    too_many = api.batch({"addSheet": {"properties": {"title": "more"}}})
    assert "above the limit of 10000000 cells" in error_of(too_many)["message"]

    big_row = ["x" * 1000] * 26
    body = {"values": [big_row] * (MAX_BODY_BYTES // 26000 + 1)}
    too_big = session.put(f"{api.base}/values/{q('Sheet1!A1')}", params={"valueInputOption": "RAW"},
                          json=body)
    assert too_big.status_code == 400
    assert error_of(too_big)["message"] == "Request payload size exceeds the limit: 10485760 bytes."


def test_sheet_properties_requests(sheets_standin, service_account, session):
    standin = sheets_standin
    sid = standin.create_spreadsheet(sheets={"A": [["1"], ["2"], ["3"]], "B": []},
                                     shared_with=[service_account.email])
    api = Api(standin, session, sid)
    reply = api.batch({"addSheet": {"properties": {"title": "周報", "index": 0,
                                                   "gridProperties": {"rowCount": 5, "columnCount": 3,
                                                                      "frozenRowCount": 1}}}}).json()
    props = reply["replies"][0]["addSheet"]["properties"]
    assert set(props) == {"sheetId", "title", "index", "sheetType", "gridProperties"}
    assert props["index"] == 0 and props["gridProperties"] == {"rowCount": 5, "columnCount": 3,
                                                               "frozenRowCount": 1}
    assert standin.sheet_titles(sid) == ["周報", "A", "B"]
    assert api.batch({"updateSheetProperties": {"properties": {"sheetId": 0, "title": "A2",
                                                               "gridProperties": {"rowCount": 2}},
                                                "fields": "title,gridProperties.rowCount"}}).ok
    assert standin.get_values(sid, "A2") == [["1"], ["2"]]
    assert api.batch({"updateSpreadsheetProperties": {"properties": {"title": "新名"},
                                                      "fields": "title"}}).ok
    assert api.meta(fields="properties.title").json() == {"properties": {"title": "新名"}}
    hide_all = api.batch(*[{"updateSheetProperties": {"properties": {"sheetId": sheet_id, "hidden": True},
                                                     "fields": "hidden"}}
                           for sheet_id in [0, props["sheetId"], standin.metadata(sid)["sheets"][2]["properties"]["sheetId"]]])
    assert "You can't hide all the sheets in a document." in error_of(hide_all)["message"]
    assert api.batch({"deleteSheet": {"sheetId": props["sheetId"]}}).ok
    assert standin.sheet_titles(sid) == ["A2", "B"]


def test_update_cells_repeat_cell_validation_and_formats(sheets_standin, service_account, session):
    standin = sheets_standin
    sid = standin.create_spreadsheet(sheets={"T": [["keep", "old"]]}, shared_with=[service_account.email])
    api = Api(standin, session, sid)
    ok = api.batch(
        {"repeatCell": {"range": {"sheetId": 0, "startRowIndex": 1, "startColumnIndex": 0,
                                  "endColumnIndex": 1},
                        "cell": {"userEnteredFormat": {"numberFormat": {"type": "DATE",
                                                                        "pattern": "yyyy/mm/dd"}}},
                        "fields": "userEnteredFormat.numberFormat"}},
        {"updateCells": {"range": {"sheetId": 0, "startRowIndex": 0, "endRowIndex": 2,
                                   "startColumnIndex": 1, "endColumnIndex": 3},
                         "rows": [{"values": [{"userEnteredValue": {"formulaValue": "=1/4"}},
                                              {"userEnteredValue": {"boolValue": False}}]},
                                  {"values": [{"userEnteredValue": {"stringValue": "=not a formula"}}]}],
                         "fields": "userEnteredValue"}},
        {"updateCells": {"start": {"sheetId": 0, "rowIndex": 1, "columnIndex": 0},
                         "rows": [{"values": [{"userEnteredValue": {"numberValue": 46353}}]}],
                         "fields": "userEnteredValue"}},
        {"setDataValidation": {"range": {"sheetId": 0, "startRowIndex": 1, "endRowIndex": 3,
                                         "startColumnIndex": 3, "endColumnIndex": 4},
                               "rule": {"condition": {"type": "ONE_OF_LIST",
                                                      "values": [{"userEnteredValue": "滿意"}]},
                                        "strict": True, "showCustomUi": True}}},
    )
    assert ok.json()["replies"] == [{}, {}, {}, {}]
    assert standin.get_values(sid, "T") == [["keep", "0.25", "FALSE"], ["2026/11/27", "=not a formula", ""]]
    assert standin.cell_data(sid, "T", "D2")["dataValidation"]["condition"]["type"] == "ONE_OF_LIST"
    grid = api.meta(ranges="T!A2:B2", fields="sheets.data.rowData.values(formattedValue,effectiveValue)").json()
    assert grid == {"sheets": [{"data": [{"rowData": [{"values": [
        {"effectiveValue": {"numberValue": 46353}, "formattedValue": "2026/11/27"},
        {"effectiveValue": {"stringValue": "=not a formula"}, "formattedValue": "=not a formula"}]}]}]}]}

    # a ``range`` with fewer rows than it spans clears the masked fields of the rest
    api.batch({"updateCells": {"range": {"sheetId": 0, "startRowIndex": 0, "endRowIndex": 2,
                                         "startColumnIndex": 1, "endColumnIndex": 3},
                               "rows": [{"values": [{"userEnteredValue": {"stringValue": "only"}}]}],
                               "fields": "userEnteredValue"}})
    assert standin.get_values(sid, "T", "B1:C2", pad=False) == [["only"]]


def test_sort_range(sheets_standin, service_account, session):
    standin = sheets_standin
    rows = [["房號", "n"], ["B", 2], ["a", 10], ["", 1], ["C", "x"], ["b", True]]
    sid = standin.create_spreadsheet(sheets={"T": rows}, shared_with=[service_account.email])
    api = Api(standin, session, sid)
    assert api.batch({"sortRange": {"range": {"sheetId": 0, "startRowIndex": 1, "endRowIndex": 6,
                                              "startColumnIndex": 0, "endColumnIndex": 2},
                                    "sortSpecs": [{"dimensionIndex": 1, "sortOrder": "ASCENDING"}]}}).ok
    assert standin.get_values(sid, "T", "A2:B6") == [["", "1"], ["B", "2"], ["a", "10"], ["C", "x"], ["b", "TRUE"]]
    assert api.batch({"sortRange": {"range": {"sheetId": 0, "startRowIndex": 1, "endRowIndex": 6,
                                              "startColumnIndex": 0, "endColumnIndex": 2},
                                    "sortSpecs": [{"dimensionIndex": 0, "sortOrder": "DESCENDING"}]}}).ok
    assert [r[0] for r in standin.get_values(sid, "T", "A2:B6")] == ["C", "B", "b", "a", ""]


def test_protected_ranges(sheets_standin, service_account, session, tmp_path):
    standin = sheets_standin
    sid = standin.create_spreadsheet(sheets={"Log": [["h1", "h2", "主管審核"]]},
                                     shared_with=[service_account.email])
    api = Api(standin, session, sid)
    reply = api.batch({"addProtectedRange": {"protectedRange": {
        "range": {"sheetId": 0, "startColumnIndex": 2, "endColumnIndex": 3},
        "description": "主管審核", "editors": {"users": ["manager@example.com"]}}}}).json()
    pr = reply["replies"][0]["addProtectedRange"]["protectedRange"]
    assert pr == {"protectedRangeId": pr["protectedRangeId"],
                  "range": {"startColumnIndex": 2, "endColumnIndex": 3}, "description": "主管審核",
                  "requestingUserCanEdit": True, "editors": {"users": ["manager@example.com"]}}
    warn = api.batch({"addProtectedRange": {"protectedRange": {
        "range": {"sheetId": 0, "startColumnIndex": 0, "endColumnIndex": 1}, "warningOnly": True}}}).json()
    warn_id = warn["replies"][0]["addProtectedRange"]["protectedRange"]["protectedRangeId"]
    listed = api.meta().json()["sheets"][0]["protectedRanges"]
    assert [p["protectedRangeId"] for p in listed] == [pr["protectedRangeId"], warn_id]
    assert listed[0]["editors"] == {"users": ["manager@example.com", service_account.email]}
    assert listed[1]["warningOnly"] is True

    # Another account that is not an editor may not write into the protected column.
    other = make_service_account_file(tmp_path / "other.json", standin.token_uri,
                                      "clerk@standin-project.iam.gserviceaccount.com", standin=standin)
    standin.share(sid, other["client_email"])
    clerk = Api(standin, session_for(tmp_path / "other.json"), sid)
    refused = clerk.put("Log!C2", [["ok"]])
    assert refused.status_code == 400 and "protected cell" in error_of(refused)["message"]
    assert clerk.put("Log!A2", [["warning-only is fine"]]).status_code == 200
    assert api.put("Log!C2", [["editor may"]]).status_code == 200

    assert api.batch({"updateProtectedRange": {"protectedRange": {
        "protectedRangeId": pr["protectedRangeId"], "editors": {"users": [other["client_email"]]}},
        "fields": "editors"}}).ok
    assert clerk.put("Log!C2", [["now allowed"]]).status_code == 200
    assert api.batch({"deleteProtectedRange": {"protectedRangeId": warn_id}}).ok
    gone = api.batch({"deleteProtectedRange": {"protectedRangeId": warn_id}})
    assert error_of(gone)["message"] == f"Invalid requests[0].deleteProtectedRange: No protected range with id: {warn_id}"
    # protection set by a person through the hook binds the service account too
    standin.protect_range(sid, "Log", "B1:B", editors=["manager@example.com"])
    assert api.put("Log!B5", [["x"]]).status_code == 400


def test_developer_metadata_moves_with_rows(sheets_standin, service_account, session):
    standin = sheets_standin
    rows = [["記錄編號"], ["R20261127-001"], ["R20261127-002"], ["R20261127-003"]]
    sid = standin.create_spreadsheet(sheets={"Log": rows}, shared_with=[service_account.email])
    api = Api(standin, session, sid)
    created = api.batch(*[{"createDeveloperMetadata": {"developerMetadata": {
        "metadataKey": "record_id", "metadataValue": rows[i][0], "visibility": "DOCUMENT",
        "location": {"dimensionRange": {"sheetId": 0, "dimension": "ROWS", "startIndex": i,
                                        "endIndex": i + 1}}}}} for i in (1, 2, 3)]).json()
    md = created["replies"][0]["createDeveloperMetadata"]["developerMetadata"]
    assert md["location"] == {"locationType": "ROW", "dimensionRange": {
        "dimension": "ROWS", "startIndex": 1, "endIndex": 2}}
    assert set(md) == {"metadataId", "metadataKey", "metadataValue", "location", "visibility"}

    standin.insert_rows(sid, "Log", 1, [["staff inserted"]])  # staff insert a row above
    standin.delete_rows(sid, "Log", 3)                          # and delete R20261127-002
    found = session.post(f"{api.base}/developerMetadata:search", json={"dataFilters": [
        {"developerMetadataLookup": {"metadataKey": "record_id"}}]}).json()
    places = {m["developerMetadata"]["metadataValue"]: m["developerMetadata"]["location"]["dimensionRange"]["startIndex"]
              for m in found["matchedDeveloperMetadata"]}
    assert places == {"R20261127-001": 2, "R20261127-003": 3}
    assert standin.get_values(sid, "Log", "A3:A4") == [["R20261127-001"], ["R20261127-003"]]

    by_range = session.post(f"{api.base}/developerMetadata:search",
                            json={"dataFilters": [{"a1Range": "Log!A4"}]}).json()
    assert [m["developerMetadata"]["metadataValue"] for m in by_range["matchedDeveloperMetadata"]] == ["R20261127-003"]
    one = session.get(f"{api.base}/developerMetadata/{md['metadataId']}").json()
    assert one["metadataValue"] == "R20261127-001"
    grid = api.meta(ranges="Log!A1:A4", fields="sheets.data.rowMetadata").json()
    row_md = grid["sheets"][0]["data"][0]["rowMetadata"]
    assert [len(r.get("developerMetadata", [])) for r in row_md] == [0, 0, 1, 1]
    deleted = api.batch({"deleteDeveloperMetadata": {"dataFilter": {"developerMetadataLookup": {
        "metadataValue": "R20261127-003"}}}}).json()
    assert len(deleted["replies"][0]["deleteDeveloperMetadata"]["deletedDeveloperMetadata"]) == 1
    assert len(standin.developer_metadata(sid)) == 1


def test_conditional_formats(sheets_standin, service_account, session):
    standin = sheets_standin
    sid = standin.create_spreadsheet(sheets={"Log": [["狀態"], ["逾期"]]}, shared_with=[service_account.email])
    api = Api(standin, session, sid)
    rule = {"ranges": [{"sheetId": 0, "startRowIndex": 1, "startColumnIndex": 0, "endColumnIndex": 1}],
            "booleanRule": {"condition": {"type": "TEXT_EQ", "values": [{"userEnteredValue": "逾期"}]},
                            "format": {"backgroundColor": {"red": 1}}}}
    assert api.batch({"addConditionalFormatRule": {"rule": rule, "index": 0}}).json()["replies"] == [{}]
    listed = api.meta().json()["sheets"][0]["conditionalFormats"]
    assert listed[0]["ranges"] == [{"startRowIndex": 1, "startColumnIndex": 0, "endColumnIndex": 1}]
    standin.insert_rows(sid, "Log", 0, count=2)
    assert api.meta().json()["sheets"][0]["conditionalFormats"][0]["ranges"][0]["startRowIndex"] == 3
    deleted = api.batch({"deleteConditionalFormatRule": {"sheetId": 0, "index": 0}}).json()
    assert deleted["replies"][0]["deleteConditionalFormatRule"]["rule"]["booleanRule"] == rule["booleanRule"]
    assert "conditionalFormats" not in api.meta().json()["sheets"][0]


def test_insert_and_delete_dimension_requests(sheets_standin, service_account, session):
    standin = sheets_standin
    sid = standin.create_spreadsheet(sheets={"T": [["a", "b", "c"], ["1", "2", "3"]]},
                                     shared_with=[service_account.email])
    api = Api(standin, session, sid)
    assert api.batch({"insertDimension": {"range": {"sheetId": 0, "dimension": "COLUMNS",
                                                    "startIndex": 1, "endIndex": 2}}},
                     {"deleteDimension": {"range": {"sheetId": 0, "dimension": "ROWS",
                                                    "startIndex": 0, "endIndex": 1}}}).ok
    assert standin.get_values(sid, "T") == [["1", "", "2", "3"]]
    assert standin.sheet_properties(sid, "T")["gridProperties"] == {"rowCount": 999, "columnCount": 27}
    everything = api.batch({"deleteDimension": {"range": {"sheetId": 0, "dimension": "ROWS",
                                                          "startIndex": 0, "endIndex": 999}}})
    assert "You can't delete all the rows on the sheet." in error_of(everything)["message"]


def test_spreadsheet_get_fields_and_grid_data(sheets_standin, service_account, session):
    standin = sheets_standin
    sid = standin.create_spreadsheet("Doc", sheets={"A": [["x", 1]], "B": [["y"]]},
                                     shared_with=[service_account.email])
    api = Api(standin, session, sid)
    meta = api.meta(includeGridData="false").json()
    assert list(meta) == ["spreadsheetId", "properties", "sheets", "spreadsheetUrl"]
    assert meta["properties"]["locale"] == "zh_CN" and meta["properties"]["timeZone"] == "Asia/Shanghai"
    assert all("data" not in s for s in meta["sheets"])
    assert api.meta(fields="sheets.properties(title,index)").json() == {
        "sheets": [{"properties": {"title": "A", "index": 0}}, {"properties": {"title": "B", "index": 1}}]}
    grid = api.meta(includeGridData="true", ranges="B!A1:B2").json()
    assert [s["properties"]["title"] for s in grid["sheets"]] == ["B"]
    data = grid["sheets"][0]["data"][0]
    assert data["rowData"] == [{"values": [{"userEnteredValue": {"stringValue": "y"},
                                            "effectiveValue": {"stringValue": "y"},
                                            "formattedValue": "y"}]}]
    assert data["rowMetadata"] == [{"pixelSize": 21}] * 2 and len(data["columnMetadata"]) == 2


def test_spreadsheets_create(sheets_standin, service_account, session):
    created = session.post(f"{sheets_standin.base_url}/v4/spreadsheets", json={
        "properties": {"title": "新表"}, "sheets": [{"properties": {"title": "接待"}}]}).json()
    assert created["properties"]["title"] == "新表"
    assert [s["properties"]["title"] for s in created["sheets"]] == ["接待"]
    assert sheets_standin.sheet_titles(created["spreadsheetId"]) == ["接待"]


# ------------------------------------------------------------------ hooks and faults


def test_hooks_simulate_staff_between_read_and_write(sheets_standin, service_account, gspread_client):
    standin = sheets_standin
    sid = standin.create_spreadsheet(sheets={"Log": [["房號", "狀態"], ["A-1", ""], ["B-2", ""]]},
                                     shared_with=[service_account.email])
    ws = gspread_client.open_by_key(sid).worksheet("Log")
    assert ws.get_all_values()[1] == ["A-1", ""]
    seen = []

    def staff(method: str, path: str) -> None:
        seen.append((method, classify(method, path)))
        if classify(method, path) == "values.update":
            standin.insert_rows(sid, "Log", 1, [["Z-9", "staff row"]])
            standin.before_request = None

    standin.before_request = staff
    ws.update([["處理中"]], "B2")  # the worker believed B2 was A-1's status
    assert seen == [("PUT", "values.update")]
    assert standin.get_values(sid, "Log") == [["房號", "狀態"], ["Z-9", "處理中"], ["A-1", ""], ["B-2", ""]]

    standin.sort_rows(sid, "Log", "房號", descending=True)
    standin.set_values(sid, "Log", "C1", [["備註"], ["x"]])
    standin.rename_sheet(sid, "Log", "Renamed")
    standin.delete_rows(sid, "Renamed", 3)
    assert standin.get_values(sid, "Renamed") == [["房號", "狀態", "備註"], ["Z-9", "處理中", "x"], ["B-2", "", ""]]
    assert standin.add_sheet(sid, "Extra", [["e"]]) != 0
    standin.delete_sheet(sid, "Extra")
    assert standin.sheet_titles(sid) == ["Renamed"]


def test_fault_injection_statuses_and_counts(sheets_standin, service_account, session):
    standin = sheets_standin
    sid = standin.create_spreadsheet(sheets={"T": [["a"]]}, shared_with=[service_account.email])
    api = Api(standin, session, sid)
    api.get("T")  # fetch a token first: faults skip the token endpoint by default
    standin.inject_fault(429)
    standin.inject_fault(500)
    standin.inject_fault(503, count=2, kinds=["values.get"])
    first = api.put("T!A1", [["x"]])
    assert first.status_code == 429 and error_of(first)["status"] == "RESOURCE_EXHAUSTED"
    assert "Write requests" in error_of(first)["message"]
    second = api.get("T")
    assert second.status_code == 500 and error_of(second) == {
        "code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}
    third = api.meta()
    assert third.status_code == 200  # 503 only applies to values.get
    assert [api.get("T").status_code for _ in range(3)] == [503, 503, 200]
    assert standin.get_values(sid, "T") == [["a"]]  # the faulted write never happened
    assert standin.stats.statuses[503] == 2 and not standin.pending_faults()

    standin.inject_fault(500, after_apply=True)
    assert api.put("T!A1", [["applied"]]).status_code == 500
    assert standin.get_values(sid, "T") == [["applied"]]  # ...but it did happen this time


def test_delay_makes_the_client_time_out(sheets_standin, service_account, session):
    standin = sheets_standin
    sid = standin.create_spreadsheet(sheets={"T": [["a"]]}, shared_with=[service_account.email])
    api = Api(standin, session, sid)
    api.meta()
    standin.inject_delay(2.0, kinds="values.update", after_apply=True)
    with pytest.raises(requests.exceptions.ReadTimeout):
        session.put(f"{api.base}/values/{q('T!A1')}", params={"valueInputOption": "RAW"},
                    json={"values": [["late"]]}, timeout=0.3)
    assert standin.get_values(sid, "T") == [["late"]]
    assert api.get("T").status_code == 200  # the server stays usable

    standin.latency = 0.15
    started = time.monotonic()
    api.get("T")
    assert time.monotonic() - started >= 0.15
    standin.latency = 0


def test_request_log_and_byte_counts(sheets_standin, service_account, session):
    standin = sheets_standin
    sid = standin.create_spreadsheet(sheets={"T": []}, shared_with=[service_account.email])
    api = Api(standin, session, sid)
    standin.reset_log()
    api.put("'T'!A1:B1", [["x", "y"]], "USER_ENTERED")
    api.batch({"appendDimension": {"sheetId": 0, "dimension": "ROWS", "length": 5}})
    log = standin.requests_of("values.update", "spreadsheets.batchUpdate")
    assert [(r.method, r.kind, r.status) for r in log] == [
        ("PUT", "values.update", 200), ("POST", "spreadsheets.batchUpdate", 200)]
    assert log[0].range == "'T'!A1:B1" and log[0].spreadsheet_id == sid
    assert log[0].query == {"valueInputOption": ["USER_ENTERED"]}
    assert log[0].body == {"values": [["x", "y"]]}
    assert log[1].body["requests"][0]["appendDimension"]["length"] == 5
    stats = standin.stats
    assert stats.api_total == 2 and stats.bytes_in == sum(r.bytes_in for r in standin.requests)
    assert stats.bytes_out == sum(r.bytes_out for r in standin.requests) > 0


def test_concurrent_clients_are_serialised(sheets_standin, service_account):
    import threading

    standin = sheets_standin
    sid = standin.create_spreadsheet(sheets={"Log": [["n"]]}, shared_with=[service_account.email])
    errors: list[BaseException] = []

    def client(k: int) -> None:
        try:
            api = Api(standin, session_for(service_account.path), sid)
            for i in range(10):
                r = api.session.post(f"{api.base}/values/{q('Log!A1')}:append",
                                     params={"valueInputOption": "RAW"}, json={"values": [[f"{k}-{i}"]]})
                assert r.status_code == 200, r.text
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and not standin.hook_errors
    values = [row[0] for row in standin.get_values(sid, "Log")[1:]]
    assert sorted(values) == sorted(f"{k}-{i}" for k in range(6) for i in range(10))


def test_service_account_file_format(tmp_path, sheets_standin):
    info = make_service_account_file(tmp_path / "k.json", sheets_standin.token_uri)
    on_disk = json.loads((tmp_path / "k.json").read_text())
    assert on_disk == info
    assert info["type"] == "service_account" and info["token_uri"] == sheets_standin.token_uri
    assert info["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert {"project_id", "private_key_id", "client_email", "client_id", "auth_uri",
            "client_x509_cert_url"} <= set(info)
    assert public_key_pem(info).startswith(b"-----BEGIN PUBLIC KEY-----")
    creds = Credentials.from_service_account_file(str(tmp_path / "k.json"))
    assert creds.service_account_email == info["client_email"]


# --------------------------------------------------------------------- fidelity replay

#: Endpoints the worker uses; interactions on them are replayed and compared.
COMPARED_KINDS = ("spreadsheets.get", "values.get", "values.batchGet", "spreadsheets.batchUpdate",
                  "values.update", "values.append", "values.clear", "values.batchUpdate",
                  "values.batchClear")
#: Responses allowed to differ in values (their structure must still match), and why.
KNOWN_VALUE_DIFFERENCES = {
    ("WorksheetTest.test_auto_resize_columns.json", 8):
        "autoResizeDimensions is accepted as a no-op, so column A keeps pixelSize 100",
    ("WorksheetTest.test_auto_resize_columns.json", 17):
        "autoResizeDimensions is accepted as a no-op, so column A keeps pixelSize 100",
}
_ID_KEYS = ("sheetId", "protectedRangeId", "metadataId")
#: The batchUpdate request kinds the worker sends (automation/adapters/google/): the replay
#: reports which of them the recordings exercise; those must all have been compared.
WORKER_BATCH_KINDS = ("addSheet", "updateSheetProperties", "updateCells", "repeatCell", "appendCells",
                      "appendDimension", "setDataValidation", "addConditionalFormatRule",
                      "updateConditionalFormatRule", "addProtectedRange", "updateProtectedRange",
                      "deleteProtectedRange", "createDeveloperMetadata", "updateDeveloperMetadata")


def _json_kind(v) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"  # JSON has one number type: 1 and 1.0 are the same value
    if v is None:
        return "null"
    return {str: "string", list: "array", dict: "object"}[type(v)]


def structure_diff(recorded, ours, path: str = "$") -> list[str]:
    """Differences of keys, array lengths and value types, recursively."""
    if _json_kind(recorded) != _json_kind(ours):
        return [f"{path}: {_json_kind(recorded)} recorded, {_json_kind(ours)} here"]
    diffs: list[str] = []
    if isinstance(recorded, dict):
        diffs += [f"{path}.{k}: missing here" for k in sorted(recorded.keys() - ours.keys())]
        diffs += [f"{path}.{k}: not in the recording" for k in sorted(ours.keys() - recorded.keys())]
        for k in recorded.keys() & ours.keys():
            diffs += structure_diff(recorded[k], ours[k], f"{path}.{k}")
    elif isinstance(recorded, list):
        if len(recorded) != len(ours):
            diffs.append(f"{path}: {len(recorded)} items recorded, {len(ours)} here")
        for i, (a, b) in enumerate(zip(recorded, ours)):
            diffs += structure_diff(a, b, f"{path}[{i}]")
    return diffs


def _remap_ids(obj, mapping: dict):
    if isinstance(obj, dict):
        return {k: (mapping.get(v, v) if k in _ID_KEYS and isinstance(v, int) else _remap_ids(v, mapping))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [_remap_ids(x, mapping) for x in obj]
    return obj


def _learn_ids(recorded, ours, mapping: dict) -> None:
    if isinstance(recorded, dict) and isinstance(ours, dict):
        for k in recorded.keys() & ours.keys():
            if k in _ID_KEYS and isinstance(recorded[k], int) and isinstance(ours[k], int):
                mapping[recorded[k]] = ours[k]
            else:
                _learn_ids(recorded[k], ours[k], mapping)
    elif isinstance(recorded, list) and isinstance(ours, list):
        for a, b in zip(recorded, ours):
            _learn_ids(a, b, mapping)


class CassetteReplay:
    """Replays the gspread project's recorded Google traffic against the stand-in.

    Method.  Each cassette is replayed from its start in order.  Interactions with the Sheets
    API on an endpoint the worker uses (:data:`COMPARED_KINDS`) are sent to the stand-in --
    same method, path, query string and body, with a token from the real google-auth
    service-account flow -- and the answer is compared with the recording: the status code,
    and the JSON structure (keys, array lengths, value types, recursively).  Exact equality
    after mapping ids is counted too and required except for :data:`KNOWN_VALUE_DIFFERENCES`.

    How the state the recordings imply is recreated, and the deliberate differences:

    * Drive API calls are not replayed (the worker does not use Drive).  A Drive
      ``files.create`` of a spreadsheet creates it in the stand-in with the recorded id and
      Google's defaults for a new spreadsheet (one "Sheet1", id 0, 1000 x 26, en_US, Etc/GMT),
      shared with the service account; ``files.delete`` deletes it.  A Drive copy or CSV
      import changes a spreadsheet in ways the stand-in cannot know, so that spreadsheet is
      marked diverged and its later interactions are skipped.
    * Spreadsheets the recording never creates: one answered with 403 is created unshared
      (someone else's); one answered with 200 (``openall`` lists pre-existing files) is
      recreated from that first recorded answer (title, locale, time zone, sheet ids, titles
      and sizes) -- those comparisons only test what the stand-in adds.
    * Google picks random sheetId / protectedRangeId / metadataId values; so does the stand-in.
      Ids learnt from replies are mapped in later request bodies and before exact comparison.
    * The replay's service account has the recording's e-mail, so protected-range editors
      lists can match exactly.
    * A batchUpdate containing a request kind the stand-in does not implement (mergeCells,
      named ranges, basic filters, dimension groups, copyPaste, ...) is skipped and its
      spreadsheet marked diverged (its later interactions are skipped and listed).
    * ``autoResizeDimensions`` is a validated no-op in the stand-in: the column width Google
      computed cannot be reproduced (structure still matches).
    """

    def __init__(self, standin: SheetsStandin, session: requests.Session, email: str) -> None:
        self.standin = standin
        self.session = session
        self.email = email
        self.compared: collections.Counter = collections.Counter()
        self.failed: collections.Counter = collections.Counter()
        self.exact: collections.Counter = collections.Counter()
        self.skipped: collections.Counter = collections.Counter()
        self.failures: list[str] = []
        self.inexact: list[tuple[str, int]] = []
        self.batch_kinds: collections.Counter = collections.Counter()  # sub-requests compared

    def run(self, paths) -> None:
        for path in paths:
            self.replay(path)

    def replay(self, path: Path) -> None:
        diverged: dict[str, str] = {}
        ids: dict[int, int] = {}
        for n, interaction in enumerate(json.loads(path.read_text())["interactions"]):
            req, resp = interaction["request"], interaction["response"]
            url = urllib.parse.urlsplit(req["uri"])
            status = resp["status"]["code"]
            try:
                body = json.loads(req["body"]) if req["body"] else None
            except ValueError:
                body = req["body"]
            recorded_text = resp["body"]["string"]
            if url.netloc != "sheets.googleapis.com":
                self._drive(req, url, body, recorded_text, diverged)
                continue
            kind = classify(req["method"], url.path)
            sid = urllib.parse.unquote(url.path.split("/")[3].split(":")[0])
            if kind not in COMPARED_KINDS:
                self.skipped[f"Sheets endpoint not used by the worker: {kind}"] += 1
                continue
            if sid in diverged:
                self.skipped[f"spreadsheet state diverged after {diverged[sid]}"] += 1
                continue
            if kind == "spreadsheets.batchUpdate":
                missing = sorted({k for r in body["requests"] for k in r
                                  if not hasattr(_BatchUpdater, "_" + k)})
                if missing:
                    diverged[sid] = "batchUpdate " + "+".join(missing)
                    self.skipped[f"batchUpdate with unimplemented {'+'.join(missing)}"] += 1
                    continue
            self._implied_spreadsheet(sid, kind, status, recorded_text)
            self._compare(path.name, n, req, url, body, kind, status, recorded_text, ids)

    def _drive(self, req, url, body, recorded_text, diverged) -> None:
        method, path = req["method"], url.path
        if method == "POST" and path == "/drive/v3/files" and isinstance(body, dict) \
                and body.get("mimeType") == "application/vnd.google-apps.spreadsheet":
            sid = json.loads(recorded_text)["id"]
            self.standin.delete_spreadsheet(sid)
            self.standin.create_spreadsheet(body["name"], spreadsheet_id=sid, shared_with=[self.email],
                                            locale="en_US", time_zone="Etc/GMT")
            self.skipped["Drive files.create (state recreated in the stand-in)"] += 1
        elif method == "DELETE":
            self.standin.delete_spreadsheet(path.rsplit("/", 1)[1])
            self.skipped["Drive files.delete (state removed from the stand-in)"] += 1
        elif method == "GET":
            self.skipped["Drive files.get / files.list"] += 1
        else:
            changed = [p for p in path.split("/") if len(p) > 30]
            if recorded_text:
                changed.append(json.loads(recorded_text).get("id"))
            what = "copy" if path.endswith("/copy") else "CSV import"
            for sid in filter(None, changed):
                diverged[sid] = f"Drive {what}"
            self.skipped[f"Drive {what}"] += 1

    def _implied_spreadsheet(self, sid, kind, status, recorded_text) -> None:
        if sid in self.standin.spreadsheet_ids():
            return
        if status == 403:
            self.standin.create_spreadsheet("someone else's", spreadsheet_id=sid, shared_with=[])
        elif status == 200 and kind == "spreadsheets.get":
            recorded = json.loads(recorded_text)
            sheets = {s["properties"]["title"]: {
                "rows": [], "sheet_id": s["properties"]["sheetId"],
                "row_count": s["properties"]["gridProperties"]["rowCount"],
                "column_count": s["properties"]["gridProperties"]["columnCount"],
            } for s in recorded["sheets"]}
            self.standin.create_spreadsheet(
                recorded["properties"]["title"], sheets, [self.email], spreadsheet_id=sid,
                locale=recorded["properties"]["locale"], time_zone=recorded["properties"]["timeZone"])
            self.skipped["pre-existing spreadsheet recreated from its first recorded GET (still compared)"] += 1

    def _compare(self, name, n, req, url, body, kind, status, recorded_text, ids) -> None:
        target = self.standin.base_url + url.path + ("?" + url.query if url.query else "")
        data = json.dumps(_remap_ids(body, ids)).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        response = self.session.request(req["method"], target, data=data, headers=headers)
        recorded = json.loads(recorded_text) if recorded_text else None
        ours = response.json() if response.content else None
        self.compared[kind] += 1
        if kind == "spreadsheets.batchUpdate":
            self.batch_kinds.update(k for r in body.get("requests", []) for k in r)
        diffs = [] if response.status_code == status else [
            f"status {status} recorded, {response.status_code} here"]
        diffs += structure_diff(recorded, ours)
        _learn_ids(recorded, ours, ids)
        if diffs:
            self.failed[kind] += 1
            self.failures.append(f"{name}#{n} {req['method']} {urllib.parse.unquote(url.path)}: "
                                 + "; ".join(diffs[:5]))
        elif _remap_ids(ours, {v: k for k, v in ids.items()}) == recorded:
            self.exact[kind] += 1
        else:
            self.inexact.append((name, n))

    def report(self) -> str:
        lines = [f"{'endpoint':26} {'compared':>8} {'passed':>7} {'failed':>7} {'exact':>6}"]
        for kind in COMPARED_KINDS:
            c, f = self.compared[kind], self.failed[kind]
            lines.append(f"{kind:26} {c:8d} {c - f:7d} {f:7d} {self.exact[kind]:6d}")
        total, failed = sum(self.compared.values()), sum(self.failed.values())
        lines.append(f"{'total':26} {total:8d} {total - failed:7d} {failed:7d} {sum(self.exact.values()):6d}")
        worker = [f"{k} {self.batch_kinds[k]}" for k in WORKER_BATCH_KINDS if self.batch_kinds[k]]
        unrecorded = [k for k in WORKER_BATCH_KINDS if not self.batch_kinds[k]]
        lines.append("worker's batchUpdate kinds compared: " + ", ".join(worker))
        lines.append("worker's batchUpdate kinds not in the recordings: " + ", ".join(unrecorded))
        lines.append("skipped interactions:")
        lines += [f"  {count:4d}  {why}" for why, count in self.skipped.most_common()]
        return "\n".join(lines)


def test_replay_of_recorded_google_traffic(sheets_standin, tmp_path, capsys):
    """Structure (and, with two documented exceptions, exact content) of every recorded answer
    on the endpoints the worker uses must match what the stand-in answers.  See
    :class:`CassetteReplay` for the method and the deliberate differences."""
    cassettes = sorted(CASSETTES.glob("*.json"))
    if not cassettes:
        pytest.skip(f"no cassettes in {CASSETTES}")
    email = "telegram-budgeter@telegram-budgeter.iam.gserviceaccount.com"  # the recording's account
    make_service_account_file(tmp_path / "replay.json", sheets_standin.token_uri, email,
                              standin=sheets_standin)
    replay = CassetteReplay(sheets_standin, session_for(tmp_path / "replay.json"), email)
    replay.run(cassettes)
    with capsys.disabled():
        print(f"\nGoogle Sheets stand-in fidelity replay ({len(cassettes)} cassettes):\n{replay.report()}")
    assert not replay.failures, "\n".join(replay.failures[:30])
    assert sum(replay.compared.values()) > 1000
    assert all(replay.compared[kind] for kind in COMPARED_KINDS)
    assert set(replay.inexact) <= set(KNOWN_VALUE_DIFFERENCES), replay.inexact
    # The endpoints and request kinds the worker uses that Google's recordings exercise.
    assert replay.compared["values.batchGet"] and replay.compared["spreadsheets.get"]
    assert {k for k in WORKER_BATCH_KINDS if replay.batch_kinds[k]} >= {
        "addSheet", "updateSheetProperties", "updateCells", "repeatCell", "setDataValidation",
        "addProtectedRange", "deleteProtectedRange"}
