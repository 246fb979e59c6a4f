"""Keeping within Google's request quota: one token bucket per service account.

Google Sheets allows 60 read and 60 write requests per minute per user (a service account is a
user) and refuses the excess with HTTP 429. Centers are handled concurrently, and centers that
share a credentials file share that quota, so they share one `RateLimiter` (see `limiter_for`).
A backend calls `acquire()` before each request; it returns at once while the budget lasts and
otherwise blocks just long enough.

Guarantee: at most `requests_per_minute` acquisitions in any sliding 60-second window. A plain
bucket refilled at N per minute with room for B tokens allows B + N in a minute, so the bucket
holds B = max(1, N // 6) and refills at (N - B) per minute: B + (N - B) = N. With the default 60 a
burst of 10 goes at once and the rest are spaced 1.2 s apart.

The clock is injected (`monotonic`, `sleep`) so tests count instead of waiting.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable


class RateLimiter:
    """A thread-safe token bucket. `acquire()` blocks until a request may go.

    API for backends:
        limiter = limiter_for(center.credentials, config.schedule.google_requests_per_minute)
        limiter.acquire()          # before every HTTP request to the Sheets API
        limiter.acquire(tokens=2)  # a call known to cost two requests
    """

    def __init__(self, requests_per_minute: int, *, burst: int | None = None,
                 monotonic: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        if requests_per_minute < 1:
            raise ValueError("requests_per_minute must be at least 1")
        self.requests_per_minute = requests_per_minute
        self.burst = burst if burst is not None else max(1, requests_per_minute // 6)
        if not 1 <= self.burst <= requests_per_minute:
            raise ValueError("burst must be between 1 and requests_per_minute")
        refill_per_minute = requests_per_minute - self.burst if requests_per_minute > self.burst else requests_per_minute
        self.refill_per_second = max(refill_per_minute, 1) / 60.0
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(self.burst)
        self._updated = monotonic()
        self.acquired = 0  # total tokens handed out (for logs and tests)
        self.waited_seconds = 0.0  # total time callers were held back

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.refill_per_second)
        self._updated = now

    def acquire(self, tokens: int = 1) -> float:
        """Take `tokens`, waiting if the budget is spent; returns the seconds waited.

        Callers are served in the order they asked: each one reserves its tokens at once (the
        balance may go negative) and then sleeps until the bucket has paid that debt."""
        if tokens < 1:
            return 0.0
        with self._lock:
            self._refill(self._monotonic())
            self._tokens -= tokens
            self.acquired += tokens
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.refill_per_second
            self.waited_seconds += wait
        if wait > 0:
            self._sleep(wait)
        return wait

    def try_acquire(self, tokens: int = 1) -> bool:
        """Take `tokens` only if that needs no waiting."""
        with self._lock:
            self._refill(self._monotonic())
            if self._tokens < tokens:
                return False
            self._tokens -= tokens
            self.acquired += tokens
            return True


_registry_lock = threading.Lock()
_registry: dict[str, RateLimiter] = {}


def limiter_key(credentials: str | Path) -> str:
    """Centers using the same key file are the same Google user: they share a limiter."""
    return str(Path(credentials).expanduser().resolve())


def limiter_for(credentials: str | Path, requests_per_minute: int = 60) -> RateLimiter:
    """The process-wide limiter of a service account (by its credentials file).

    A changed rate (config reloaded) replaces the limiter; the same rate returns the same one."""
    key = limiter_key(credentials)
    with _registry_lock:
        limiter = _registry.get(key)
        if limiter is None or limiter.requests_per_minute != requests_per_minute:
            limiter = _registry[key] = RateLimiter(requests_per_minute)
        return limiter


def limit_session(session, limiter: RateLimiter):
    """Make every request of a `requests.Session` (e.g. gspread's AuthorizedSession) wait for
    `limiter` first. Returns the session. Token refreshes use their own transport and are not
    counted (they go to the OAuth endpoint, not the Sheets quota)."""
    original = session.request

    def request(method, url, *args, **kwargs):
        limiter.acquire()
        return original(method, url, *args, **kwargs)

    session.request = request
    return session
