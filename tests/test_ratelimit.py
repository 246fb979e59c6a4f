"""The request budget per service account (issue 5): at most N requests in any 60 seconds.

The limiter's clock is injected: `sleep` moves a counter instead of waiting."""

from __future__ import annotations

import http.server
import threading

import requests

from automation.ratelimit import RateLimiter, limit_session, limiter_for


class FakeTime:
    def __init__(self):
        self.now = 1000.0
        self.lock = threading.Lock()

    def monotonic(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def test_never_more_than_the_budget_in_any_sliding_minute():
    clock = FakeTime()
    limiter = RateLimiter(60, monotonic=clock.monotonic, sleep=clock.sleep)
    moments = []
    for _ in range(300):
        limiter.acquire()
        moments.append(clock.now)
    for start, moment in enumerate(moments):
        in_window = sum(1 for later in moments[start:] if later < moment + 60)
        assert in_window <= 60
    # …and it is not needlessly slow: 300 requests take about 300 / 50 per minute after the burst.
    assert moments[9] == moments[0]  # a burst of 10 goes at once
    assert 5 * 60 <= moments[-1] - moments[0] <= 6 * 60


def test_threads_sharing_a_limiter_are_served_in_turn():
    """With a frozen clock every acquisition beyond the burst reserves the next slot; whatever
    the interleaving of 8 threads, the waits handed out are exactly 1.2 s, 2.4 s, … apart."""
    waits, guard = [], threading.Lock()
    limiter = RateLimiter(60, monotonic=lambda: 0.0, sleep=lambda seconds: None)

    def worker():
        for _ in range(10):
            waited = limiter.acquire()
            with guard:
                waits.append(round(waited, 6))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert limiter.acquired == 80
    assert sorted(waits) == [0.0] * 10 + [round(1.2 * k, 6) for k in range(1, 71)]


def test_one_limiter_per_credentials_file(tmp_path):
    key = tmp_path / "service-account.json"
    same = limiter_for(key, 60)
    assert limiter_for(str(tmp_path / "." / "service-account.json"), 60) is same
    assert limiter_for(tmp_path / "other.json", 60) is not same
    assert limiter_for(key, 30).requests_per_minute == 30


def test_a_requests_session_waits_for_the_limiter_before_each_request():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        clock = FakeTime()
        limiter = RateLimiter(12, monotonic=clock.monotonic, sleep=clock.sleep)
        session = limit_session(requests.Session(), limiter)
        for _ in range(5):
            assert session.get(f"http://127.0.0.1:{server.server_port}/v4/spreadsheets/x").status_code == 200
        assert limiter.acquired == 5
        assert clock.now - 1000.0 == 5 * 6.0 - 2 * 6.0  # burst 2, then one every 6 s at 12/min - 2
    finally:
        server.shutdown()
        server.server_close()
