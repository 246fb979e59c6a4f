"""pytest fixtures for the Google Sheets stand-in.

Load with ``pytest_plugins = ["tests.standin.pytest_plugin"]`` in ``tests/conftest.py``.

* ``sheets_standin`` -- a running :class:`~tests.standin.sheets_api.SheetsStandin` (fresh per
  test, stopped afterwards); ``.base_url`` replaces ``https://sheets.googleapis.com``,
  ``.token_uri`` is the OAuth token endpoint.
* ``service_account`` -- a :class:`ServiceAccount`: a real key file in ``tmp_path`` whose
  ``token_uri`` is the stand-in's, its public key registered with the stand-in.
* ``gspread_client`` -- a real ``gspread.Client`` authorised through the real google-auth
  service-account flow against the stand-in (see :func:`standin_http_client`).
* ``no_external_network`` -- refuses DNS resolution of every non-loopback host name for the
  test (``sheets_standin`` uses it).  Why: google-auth >= 2.5x starts a background
  "Regional Access Boundary" lookup (``GET https://iamcredentials.googleapis.com/v1/projects/-/
  serviceAccounts/<email>/allowedLocations``) after a service-account token refresh, whatever
  the key file's ``token_uri`` says.  With this fixture that lookup fails at once (as it does
  offline; google-auth ignores the failure) instead of leaving the machine.  The host names
  refused are listed in ``sheets_standin.blocked_hosts``.
"""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path
from typing import Any, Iterator

import pytest

from .service_account import make_service_account_file
from .sheets_api import SHEETS_ORIGIN, SheetsStandin

SHEETS_SCOPES = ["https://www.googleapis.com/auth/spreadsheets"]


@dataclasses.dataclass(frozen=True)
class ServiceAccount:
    """A generated service-account key registered with the stand-in."""

    path: Path
    email: str
    key_id: str
    info: dict


def standin_http_client(base_url: str) -> type:
    """A ``gspread.http_client.HTTPClient`` subclass sending Sheets requests to ``base_url``.

    gspread builds absolute ``https://sheets.googleapis.com/v4/...`` URLs; this subclass
    rewrites that prefix and leaves everything else (auth, retries, errors) to gspread.
    Use it as ``gspread.Client(creds, http_client=standin_http_client(standin.base_url))``.
    """
    from gspread.http_client import HTTPClient

    class StandinHTTPClient(HTTPClient):
        def request(self, method: str, endpoint: str, *args: Any, **kwargs: Any):  # type: ignore[override]
            if endpoint.startswith(SHEETS_ORIGIN):
                endpoint = base_url + endpoint[len(SHEETS_ORIGIN):]
            return super().request(method, endpoint, *args, **kwargs)

    StandinHTTPClient.base_url = base_url
    return StandinHTTPClient


def make_gspread_client(standin: SheetsStandin, key_file: str | Path,
                        scopes: list[str] | None = None) -> Any:
    """A real gspread client using the real google-auth token flow against ``standin``."""
    import gspread
    from google.oauth2.service_account import Credentials

    creds = Credentials.from_service_account_file(str(key_file), scopes=scopes or SHEETS_SCOPES)
    return gspread.Client(creds, http_client=standin_http_client(standin.base_url))


_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "ip6-localhost"})


@pytest.fixture
def no_external_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Refuse DNS resolution of non-loopback host names; returns the names refused."""
    refused: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def loopback_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is None or name in _LOOPBACK_NAMES or str(name).startswith("127."):
            return real_getaddrinfo(host, *args, **kwargs)
        refused.append(str(name))
        raise socket.gaierror(socket.EAI_NONAME, f"non-loopback network is blocked in tests: {name}")

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)
    return refused


@pytest.fixture
def sheets_standin(no_external_network: list[str]) -> Iterator[SheetsStandin]:
    standin = SheetsStandin().start()
    standin.blocked_hosts = no_external_network  # type: ignore[attr-defined]
    try:
        yield standin
    finally:
        standin.stop()


@pytest.fixture
def service_account(sheets_standin: SheetsStandin, tmp_path: Path) -> ServiceAccount:
    path = tmp_path / "service-account.json"
    info = make_service_account_file(path, sheets_standin.token_uri, standin=sheets_standin)
    return ServiceAccount(path, info["client_email"], info["private_key_id"], info)


@pytest.fixture
def gspread_client(sheets_standin: SheetsStandin, service_account: ServiceAccount) -> Any:
    return make_gspread_client(sheets_standin, service_account.path)
