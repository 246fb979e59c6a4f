"""Pausing Python's cyclic garbage collector while a cycle runs.

A cycle over a big sheet allocates millions of small objects (the rows read, cell texts, the
cells to write) that all live until the cycle ends. The cyclic collector cannot free any of
them (they are not garbage yet), but it keeps walking them: on a 400,000-row sheet a large share
of the cycle's CPU went to collections that found nothing. Reference counting still frees
everything as usual while the collector is paused; only reference cycles wait for it to resume.

Process-wide, and safe with several centers in threads at once: the collector is paused while
at least one cycle runs, and resumes when the last one ends (unless it was off before).
"""

from __future__ import annotations

import functools
import gc
import threading

_lock = threading.Lock()
_running = 0
_was_enabled = False


def pause() -> None:
    global _running, _was_enabled
    with _lock:
        if _running == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _running += 1


def resume() -> None:
    global _running
    with _lock:
        _running -= 1
        if _running == 0 and _was_enabled:
            gc.enable()


def collector_paused(function):
    """Decorator: run `function` with the cyclic garbage collector paused."""

    @functools.wraps(function)
    def paused(*args, **kwargs):
        pause()
        try:
            return function(*args, **kwargs)
        finally:
            resume()

    return paused
