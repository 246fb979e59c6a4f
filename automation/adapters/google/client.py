"""The service-account key file, the google-auth credentials and the gspread client, and the
translation of Google's answers into the worker's errors (SPEC 5 exit codes).

No message built here contains a token, a private key or owner data: only file paths, config
keys, the spreadsheet key, the service account's e-mail and Google's own error text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gspread
from google.oauth2 import _client as oauth_client
from google.oauth2 import service_account
from gspread.exceptions import APIError, NoValidUrlKeyFound
from gspread.utils import extract_id_from_url

from ...errors import BackendUnavailableError, ConfigError, SheetUnusableError
from .http import CredentialsRefused, GoogleUnreachable, RetryPolicy, SheetsHTTPClient

# Drive's read-only metadata scope: one files.get of modifiedTime tells an idle cycle (SPEC 7).
SCOPES = ("https://www.googleapis.com/auth/spreadsheets", "https://www.googleapis.com/auth/drive.metadata.readonly")
_KEY_FIELDS = ("client_email", "private_key", "token_uri")
_SPREADSHEET_KEY = re.compile(r"^[A-Za-z0-9_-]{10,}$")


class ServiceAccountCredentials(service_account.Credentials):
    """google-auth's service-account credentials, without google-auth's own token retries.

    google-auth retries a failing token endpoint three times with real `time.sleep` pauses of
    its own; the worker's HTTP client already retries a retryable token failure inside its
    time budget and with its injectable clock, so the two would multiply. Everything else —
    the signed JWT grant, the token endpoint call, expiry — is google-auth's."""

    def _perform_refresh_token(self, request):
        if self._use_self_signed_jwt():
            return super()._perform_refresh_token(request)
        assertion = self._make_authorization_grant_assertion()
        self.token, self.expiry, _ = oauth_client.jwt_grant(request, self._token_uri, assertion, can_retry=False)


@dataclass(frozen=True)
class Where:
    """What messages name: the center, its place in the config, the config file."""

    center: str
    index: int  # 1-based position in [[centers]]
    source: Path

    def key(self, name: str) -> str:
        return f"centers[{self.index}]（{self.center}）.{name}"


def spreadsheet_key(text: str, where: Where) -> str:
    """The spreadsheet key of `spreadsheet = "<key or URL>"`."""
    value = text.strip()
    if "/" in value or value.startswith("http"):
        try:
            value = extract_id_from_url(value)
        except NoValidUrlKeyFound:
            value = ""
    if not _SPREADSHEET_KEY.match(value):
        raise ConfigError(
            f"設定檔 {where.source}：{where.key('spreadsheet')} 不是試算表的 key 或網址：{text!r}；"
            f"請從瀏覽器地址欄複製，例如 https://docs.google.com/spreadsheets/d/<key>/edit"
        )
    return value


def load_key_file(path: Path, where: Where) -> dict:
    """The key file's JSON, checked to be a service-account key (ConfigError otherwise)."""
    name = where.key("credentials")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"設定檔 {where.source}：{name} 指向的服務帳號金鑰檔 {path} 不存在；"
            f"請在 Google Cloud 控制台為服務帳號建立 JSON 金鑰，下載後填寫其路徑（見 docs/google-sheets.md）"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"設定檔 {where.source}：{name} 的金鑰檔 {path} 無法讀取（{type(error).__name__}）") from None
    try:
        info = json.loads(text)
    except ValueError:
        raise ConfigError(
            f"設定檔 {where.source}：{name} 的金鑰檔 {path} 不是有效的 JSON；請重新下載服務帳號的 JSON 金鑰"
        ) from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise ConfigError(
            f"設定檔 {where.source}：{name} 的金鑰檔 {path} 不是服務帳號金鑰（type 應為 \"service_account\"）；"
            f"請下載「服務帳號」的 JSON 金鑰，而不是 OAuth 用戶端密鑰"
        )
    missing = [key for key in _KEY_FIELDS if not isinstance(info.get(key), str) or not info[key]]
    if missing:
        raise ConfigError(
            f"設定檔 {where.source}：{name} 的金鑰檔 {path} 缺少 {'、'.join(missing)}；請重新下載服務帳號的 JSON 金鑰"
        )
    return info


def connect(info: dict, path: Path, where: Where, *, base_url: str | None, retry: RetryPolicy,
            limiter: Any = None) -> gspread.Client:
    """A gspread client over our HTTP client, authorised by the service account."""
    try:
        credentials = ServiceAccountCredentials.from_service_account_info(info, scopes=list(SCOPES))
    except (ValueError, TypeError):
        raise ConfigError(
            f"設定檔 {where.source}：{where.key('credentials')} 的金鑰檔 {path} 的 private_key 無法讀取；"
            f"請重新下載服務帳號的 JSON 金鑰"
        ) from None
    return gspread.Client(credentials, http_client=SheetsHTTPClient.factory(base_url=base_url, retry=retry,
                                                                             limiter=limiter))


class ErrorTranslator:
    """Google's answers → the worker's errors, naming what to fix."""

    def __init__(self, where: Where, key: str, client_email: str, key_path: Path):
        self.where = where
        self.key = key
        self.client_email = client_email
        self.key_path = key_path

    def translate(self, error: BaseException, *, writing: bool = False) -> Exception:
        where = self.where
        prefix = f"服務中心「{where.center}」"
        if isinstance(error, CredentialsRefused):
            return ConfigError(
                f"設定檔 {where.source}：{where.key('credentials')} 的服務帳號金鑰（{self.key_path}）被 Google 拒絕"
                f"（credentials rejected：{error.reason}）；金鑰可能已被撤銷或刪除，請在 Google Cloud 控制台為 "
                f"{self.client_email} 建立新金鑰"
            )
        if isinstance(error, GoogleUnreachable):
            return BackendUnavailableError(
                f"{prefix}：Google 試算表暫時無法連接（{error.reason}，{error.attempts} 次嘗試，"
                f"{error.seconds:.0f} 秒）；{'本次寫入未完成，' if writing else ''}下次運行重試"
            )
        if isinstance(error, PermissionError) or (isinstance(error, APIError) and _status(error) == 403):
            if writing:
                return SheetUnusableError(
                    f"{prefix}：服務帳號 {self.client_email} 無權編輯試算表 {self.key}"
                    f"（{_message(error) or 'PERMISSION_DENIED'}）；請以「編輯者」身分共用給它，"
                    f"並確認受保護範圍允許它編輯"
                )
            return SheetUnusableError(
                f"{prefix}：試算表 {self.key} 未共用給服務帳號；請在試算表的「共用」中加入 "
                f"{self.client_email}（編輯者），本次未寫入任何內容"
            )
        if isinstance(error, gspread.SpreadsheetNotFound) or (isinstance(error, APIError) and _status(error) == 404):
            return SheetUnusableError(
                f"{prefix}：找不到試算表 {self.key}；請檢查設定檔 {where.source} 的 {where.key('spreadsheet')}，"
                f"本次未寫入任何內容"
            )
        if isinstance(error, APIError) and _status(error) == 401:
            return ConfigError(
                f"設定檔 {where.source}：{where.key('credentials')} 的服務帳號 {self.client_email} 取得的權杖"
                f"不被接受（credentials rejected）；請檢查金鑰是否有效"
            )
        if isinstance(error, APIError):
            return SheetUnusableError(
                f"{prefix}：Google 試算表 {self.key} 拒絕了請求（HTTP {_status(error)}：{_message(error)}）"
                f"{'；本次寫入未完成' if writing else '；本次未寫入任何內容'}"
            )
        return error if isinstance(error, Exception) else RuntimeError(str(error))


def _status(error: APIError) -> int:
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None) or int(getattr(error, "code", 0) or 0)


def _message(error: BaseException) -> str:
    if isinstance(error, APIError):
        return str(error.error.get("message", ""))[:300]
    cause = error.__cause__
    return _message(cause) if isinstance(cause, APIError) else ""
