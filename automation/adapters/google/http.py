"""Every HTTP request of the Google backend goes through `SheetsHTTPClient`, a subclass of
gspread's `HTTPClient`. It adds what gspread leaves to the caller:

- `api_endpoint` (SPEC 5, 7): the scheme, host and port of https://sheets.googleapis.com, and of
  https://www.googleapis.com (Drive), are replaced; the paths stay. Tokens come from the key
  file's own `token_uri`.
- A timeout on every request (connect and read), the token endpoint's included.
- Retries of 429, 5xx, connection errors, timeouts and a failing token endpoint, with capped
  exponential backoff and jitter, inside a total time budget. gspread's own
  `BackoffHTTPClient` retries without end (6.2.1), so it is not used.
- The Sheets request quota shared by every center using the same key file
  (automation/ratelimit.py); Drive requests have their own quota and do not take from it.
- `request_count`: the Sheets API requests this client made (retries included; token
  requests are not Sheets requests and are not counted), for the operator's log line;
  `drive_request_count` likewise for Drive.

Sleeping and the clock come from a `RetryPolicy`, so tests count seconds instead of waiting.

A write that failed in a way that may still have been applied (a 5xx, a timeout or a dropped
connection after the body was sent) is not simply sent again: the caller passes
`already_applied`, asked before each re-send, so a write is never applied twice.
"""

from __future__ import annotations

import random
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable

import requests
from google.auth import exceptions as auth_exceptions
from gspread.exceptions import APIError
from gspread.http_client import HTTPClient

GOOGLE_SHEETS_ORIGIN = "https://sheets.googleapis.com"
GOOGLE_APIS_ORIGIN = "https://www.googleapis.com"  # Drive v3
DRIVE_PATH = "/drive/"
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait for Google, and how to wait.

    A request is retried while the time spent since its first attempt, plus the next pause,
    stays within `budget_seconds`. Pauses double from `first_pause` up to `max_pause`, each
    scaled by a random factor in [0.5, 1) (so many workers do not retry in step)."""

    budget_seconds: float = 60.0
    first_pause: float = 1.0
    max_pause: float = 16.0
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    monotonic: Callable[[], float] = field(default=time.monotonic, compare=False)
    jitter: Callable[[], float] = field(default=random.random, compare=False)

    def pause(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        base = min(self.max_pause, self.first_pause * 2 ** (attempt - 1))
        pause = base * (0.5 + 0.5 * self.jitter())
        if retry_after is not None:  # the server said how long; never wait less, nor past the cap
            pause = max(pause, min(retry_after, self.max_pause))
        return pause

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout, self.read_timeout)


# Production default. Tests replace it (or pass their own policy to the backend) so that a
# "60-second" storm of failures takes no real time.
DEFAULT_RETRY = RetryPolicy()


class GoogleUnreachable(Exception):
    """Google (the Sheets API or the token endpoint) kept failing for the whole time budget.
    `reason` is a short text safe to show: a status code or the kind of network failure."""

    def __init__(self, reason: str, attempts: int, seconds: float):
        super().__init__(reason)
        self.reason = reason
        self.attempts = attempts
        self.seconds = seconds


class CredentialsRefused(Exception):
    """The token endpoint refused the service-account key (revoked, deleted, wrong key):
    retrying cannot help. `reason` is Google's error text (it never contains a token)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def normalize_endpoint(text: str) -> str:
    """`http://127.0.0.1:8080/` → `http://127.0.0.1:8080`; ValueError when it is not a bare
    scheme://host[:port]."""
    parts = urllib.parse.urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/") \
            or parts.query or parts.fragment:
        raise ValueError(text)
    return f"{parts.scheme}://{parts.netloc}"


class SheetsHTTPClient(HTTPClient):
    """gspread's HTTP client with the endpoint rewrite, timeouts, bounded retries, quota and
    counting described in the module docstring. Build it with `factory(...)`, which gspread's
    `Client(auth, http_client=...)` then calls with the credentials."""

    base_url: str = GOOGLE_SHEETS_ORIGIN
    retry: RetryPolicy = DEFAULT_RETRY
    limiter: Any = None

    @classmethod
    def factory(cls, *, base_url: str | None, retry: RetryPolicy, limiter: Any = None):
        def make(auth, session=None):
            client = cls(auth, session)
            client.base_url = base_url or GOOGLE_SHEETS_ORIGIN
            client.retry = retry
            client.limiter = limiter
            client.set_timeout(retry.timeout)
            return client
        return make

    def __init__(self, auth, session=None):
        super().__init__(auth, session)
        self.request_count = 0
        self.drive_request_count = 0
        # A response hook sees every Sheets API response, also the second attempt google-auth's
        # AuthorizedSession makes itself after refreshing an expired token (a 401).
        self.session.hooks.setdefault("response", []).append(self._count_response)

    def _count_response(self, response, *args, **kwargs):
        if is_drive(response.request.url if response.request is not None else ""):
            self.drive_request_count += 1
        else:
            self.request_count += 1
        return response

    def rewrite(self, endpoint: str) -> str:
        for origin in (GOOGLE_SHEETS_ORIGIN, GOOGLE_APIS_ORIGIN):
            if endpoint.startswith(origin):
                return self.base_url + endpoint[len(origin):]
        return endpoint

    def request(self, method: str, endpoint: str, params=None, data=None, json=None, files=None,
                headers=None, *, already_applied: Callable[[], bool] | None = None) -> requests.Response | None:
        """Send one request, retrying as the policy allows.

        Returns the response (2xx), or None when `already_applied` said a write that failed
        ambiguously had in fact been applied. Raises gspread's APIError for an answer that
        retrying cannot change (4xx other than 429), GoogleUnreachable when the budget ran
        out, CredentialsRefused when the token endpoint refused the key."""
        policy = self.retry
        url = self.rewrite(endpoint)
        started = policy.monotonic()
        attempt = 0
        while True:
            attempt += 1
            if self.limiter is not None and not is_drive(url):
                self.limiter.acquire()
            retry_after = None
            maybe_applied = False
            try:
                response = self.session.request(method=method, url=url, params=params, data=data, json=json,
                                                files=files, headers=headers, timeout=self.timeout)
            except auth_exceptions.RefreshError as error:
                if not error.retryable:
                    raise CredentialsRefused(_refresh_reason(error)) from None
                reason = f"OAuth 權杖端點 {_refresh_reason(error)}"
            except auth_exceptions.TransportError:
                reason = "無法連接 OAuth 權杖端點"
            except requests.exceptions.ConnectTimeout:
                reason = "連接逾時"
            except requests.exceptions.Timeout:
                if not is_drive(url):
                    self.request_count += 1  # it reached the server, which counts it
                reason, maybe_applied = "等待回應逾時", True
            except requests.exceptions.ConnectionError:
                reason, maybe_applied = "網絡連接失敗", True
            else:
                if response.ok:
                    return response
                if response.status_code not in RETRYABLE_STATUSES:
                    raise APIError(response)
                reason = f"HTTP {response.status_code}"
                maybe_applied = response.status_code != 429  # quota refusals are never applied
                retry_after = _retry_after(response)
            pause = policy.pause(attempt, retry_after)
            spent = policy.monotonic() - started
            if spent + pause > policy.budget_seconds:
                raise GoogleUnreachable(reason, attempt, spent)
            policy.sleep(pause)
            if maybe_applied and already_applied is not None and already_applied():
                return None


def is_drive(url: str) -> bool:
    return DRIVE_PATH in urllib.parse.urlsplit(url).path[:8]


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _refresh_reason(error: auth_exceptions.RefreshError) -> str:
    """google-auth's RefreshError text is "error: description" from the token endpoint's JSON
    body, plus that body as a dict; neither holds a token or key."""
    text = str(error.args[0]) if error.args else type(error).__name__
    return text[:200]
