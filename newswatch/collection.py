"""Garbage collection set for a process that crawls or reads pages for as long as it lives.

A crawl allocates many short-lived objects (requests, responses, Deferreds, parsed pages) on
top of a large heap that lives as long as the process: Scrapy, Twisted, lxml, trafilatura and
their module state, the config, the watches. With CPython's default thresholds (700, 10, 10)
every ten young collections trigger a middle one, and every ten of those a full one, and each
full collection walks that whole heap again. bench/crawl_speed.py measured it with
``gc.callbacks``: 1.7-1.8 of the crawling process's 12.6-13.1 CPU-seconds went to collecting
(2,070 collections), and a fifth of a bare Scrapy spider's.

So, once a process has imported and built what it will keep: :func:`gc.freeze` moves every
object alive then into a generation that collections never walk (the objects stay alive, as
they would anyway), and young collections come every 10,000 allocations instead of 700. Cyclic
garbage still goes at the next collection; it only waits a little longer to be found.
"""

from __future__ import annotations

import gc

__all__ = ["settle"]

YOUNG_THRESHOLD = 10_000


def settle() -> None:
    """Freeze what is alive now and make young collections rarer. Call it once per process,
    when startup is over: what it freezes is never collected, even once it is garbage."""
    gc.collect()  # startup's own garbage goes first, or it would be frozen too
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
