"""The change signal of a Google spreadsheet (SPEC 7): one Drive v3 `files.get` of its
`modifiedTime`, with Google's own time of the answer (the `Date` header).

The Sheets API has no cheaper way to tell that nothing changed; Drive's metadata costs one
request of Drive's own quota and none of the Sheets quota. The stamp pairs modifiedTime with
the server's time, so change_policy compares two readings of Google's clock, never ours.

When Drive cannot answer (the Drive API not enabled in the project, the scope not granted, the
file not visible to Drive) the worker falls back to a full read every cycle and says so once per
service account and process.
"""

from __future__ import annotations

import email.utils
import logging
import threading
import urllib.parse

from gspread.exceptions import APIError

from ...domain.change_policy import STAMP_DRIVE
from ...logs import event_record
from .http import GOOGLE_APIS_ORIGIN

log = logging.getLogger("automation.google")
FILES_URL = GOOGLE_APIS_ORIGIN + "/drive/v3/files/{key}"
PARAMS = {"fields": "modifiedTime", "supportsAllDrives": "true"}

warned_accounts: set[str] = set()  # service accounts already warned about in this process
_warned_lock = threading.Lock()


def modified_stamp(http, key: str, *, center: str, account: str) -> dict | None:
    """{"kind": "drive", "modified": modifiedTime, "server_time": Date as ISO}, or None when
    Drive refused to tell (warned once per process). Google unreachable and a refused key raise
    as for any request (GoogleUnreachable, CredentialsRefused)."""
    try:
        response = http.request("get", FILES_URL.format(key=urllib.parse.quote(key, safe="")), params=PARAMS)
    except APIError as error:
        _warn_once(account, center, _reason(error))
        return None
    try:
        modified = response.json()["modifiedTime"]
        server_time = email.utils.parsedate_to_datetime(response.headers["Date"])
    except (KeyError, ValueError, TypeError):
        _warn_once(account, center, "回應缺少 modifiedTime 或 Date")
        return None
    if server_time.tzinfo is None:
        return None
    return {"kind": STAMP_DRIVE, "modified": str(modified), "server_time": server_time.isoformat()}


def _reason(error: APIError) -> str:
    try:
        body = error.response.json().get("error", {})
        status = body.get("code", error.response.status_code)
        reasons = [item.get("reason", "") for item in body.get("errors", []) if isinstance(item, dict)]
        return f"HTTP {status}{'，' + reasons[0] if reasons and reasons[0] else ''}"
    except (AttributeError, ValueError):
        return type(error).__name__


def _warn_once(account: str, center: str, reason: str) -> None:
    with _warned_lock:
        if account in warned_accounts:
            return
        warned_accounts.add(account)
    event_record(log, logging.WARNING, "drive_unavailable",
                 f"服務中心「{center}」：服務帳號 {account} 無法用 Drive API 讀取試算表的修改時間（{reason}）；"
                 f"此後每次運行都完整讀取試算表（Sheets 請求較多）。請在該 Google Cloud 項目中啟用 Google Drive API"
                 f"（見 docs/google-sheets.md）；本進程只提示一次", center=center, account=account, reason=reason)
