"""Article pages read in worker processes, so that the crawler's own thread only crawls.

Reading a page is CPU work: a millisecond or two for the first look that most pages stop at,
tens of milliseconds to judge a page where a watch term occurs. On the reactor thread every
millisecond of it stalls the downloads in flight, and one core of two stays idle. So the spider
hands each page to a pool of processes (one per core) and awaits the answer; the reactor keeps
crawling meanwhile. Memory stays flat without a queue of our own: a response awaiting its answer
still counts toward Scrapy's scraper slot (``SCRAPER_SLOT_MAX_ACTIVE_SIZE``), and Scrapy stops
taking new requests off its scheduler while the slot is full.

Each worker holds its own :class:`~newswatch.alerts.watchset.WatchSet` for the first look (building one
takes well under a second even for 10,000 watches). A reloaded config with other watches gets a
new pool; pages already handed to the old one are finished by it.

The workers are started by a fork server, not forked from the crawler: forking a process that
runs threads (Twisted's, Sentry's) can copy a lock held at that instant and deadlock the child.
What a worker logs is sent back and logged here, so it reaches the crawler's own log format
and Sentry like everything else.
"""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
import multiprocessing
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, TypeVar

from scrapy.http import HtmlResponse

from newswatch.alerts.query import parse_query
from newswatch.alerts.watchset import WatchSet
from newswatch.collection import settle
from newswatch.spiders.extraction import Reading, read_article
from newswatch.spiders.mirrors import Candidate, announced_hosts, page_tree
from newswatch.spiders.verification import page_fingerprint

__all__ = ["Look", "MirrorClues", "PageReader", "default_workers", "read_fetched"]

_T = TypeVar("_T")

logger = logging.getLogger("newswatch.crawl")

_watchset: WatchSet | None = None  # in a worker process: the watches of its pool


def default_workers() -> int:
    """One worker per core this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class PageReader:
    """Reads article pages for one set of watches: in ``workers`` processes, or in this one
    when ``workers`` is 0."""

    def __init__(self, queries: Mapping[str, str], workers: int) -> None:
        self.queries = dict(queries)
        self.workers = workers
        self._watchset = _watch_set(self.queries) if workers == 0 else None
        self._pool: Executor | None = None
        self._logs: logging.handlers.QueueListener | None = None  # the workers' log records
        self._closed = False
        self._lock = threading.Lock()  # the pool is started from a thread of its own, too

    def start(self) -> None:
        """Start the workers now, from another thread, so that the crawl does not wait.

        Starting the fork server and its workers takes about half a second (they import the
        extraction libraries); on the reactor thread that would stall every download.
        """
        if self._watchset is None:
            threading.Thread(target=self._warm_up, name="page readers", daemon=True).start()

    def _warm_up(self) -> None:
        try:
            pool = self._executor()
            for future in [pool.submit(_ready) for _ in range(self.workers)]:
                future.result()
        except Exception:  # a reader that fails to start is reported by the first page
            logger.debug("page readers did not start ahead of the crawl", exc_info=True)

    async def read(
        self,
        body: bytes,
        url: str,
        content_type: bytes | None = None,
        look: Look | None = None,
        dated: bool = False,
    ) -> tuple[Reading | None, MirrorClues | None]:
        """The page read as :func:`newswatch.spiders.extraction.read_article` does (None when it
        holds nothing to read), and with ``look`` what it says about its outlet's other
        addresses; (None, None) when its worker died (logged; the page is read again next poll).

        The page goes to the worker as the bytes that came off the wire and is decoded there,
        as Scrapy would decode it (``content_type`` is the response's header): decoding 180 KB
        and pickling the text again cost the crawler's thread a fifth of a millisecond a page.
        Reading and looking are one task, so the page crosses to a worker and is decoded once.
        ``dated`` as for :func:`~newswatch.spiders.extraction.read_article`.
        """
        arguments = (body, url, content_type, look, dated)
        if self._watchset is not None:
            return read_fetched(self._watchset, *arguments)
        answer = await self._in_worker(
            lambda: read_fetched(self._here(), *arguments), _read_in_worker, *arguments
        )
        return answer if answer is not None else (None, None)

    async def _in_worker(
        self, here: Callable[[], _T], task: Callable[..., _T], *args: Any
    ) -> _T | None:
        """``task(*args)`` in a worker; None when the worker died. Where no worker can start,
        ``here()`` does the work in this process, from then on."""
        try:
            future: Future[_T] = self._executor().submit(task, *args)
            return await asyncio.wrap_future(future)
        except BrokenProcessPool:
            logger.error("a page reader died reading %s; starting new ones", args[1])
            with self._lock:
                self._end_pool()
            return None
        except (OSError, NotImplementedError) as exc:  # no processes here (no sem_open, a sandbox)
            logger.error("page readers cannot start (%s): pages are read in this process", exc)
            self._here()
            return here()

    def _here(self) -> WatchSet:
        """The watches, for reading pages in this process."""
        if self._watchset is None:
            self._watchset = _watch_set(self.queries)
        return self._watchset

    def close(self, wait: bool = True) -> None:
        """Let the pool finish what it was given, then end its processes; no more reading.

        ``wait``: return only when the processes have ended. A crawl that ends must wait: a
        worker still starting (the pool starts its second one when the first is busy) would
        find the pool's semaphores gone with this process and print a traceback. A reload
        does not wait: the old pool finishes in the background while the new one reads.
        """
        with self._lock:
            self._closed = True
            self._end_pool(wait)

    def _end_pool(self, wait: bool = False) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait)
            self._pool = None
        if self._logs is not None:
            self._logs.stop()  # what the workers logged until now is handled first
            self._logs = None

    def _executor(self) -> Executor:
        with self._lock:
            if self._closed:
                raise RuntimeError("the page reader is closed")
            if self._pool is None:
                context = multiprocessing.get_context("forkserver")
                # Every worker runs the command's script again as it starts (multiprocessing's
                # spawn preparation), and so imports the whole command line interface: about
                # a second of CPU each. Preloaded here, it is imported once, by the fork
                # server, and its children find it imported. ("__main__" in the preload list
                # would be the documented way; Python 3.11's fork server ignores it.)
                context.set_forkserver_preload(
                    ["newswatch.scheduler.cli", "newswatch.spiders.analysis"]
                )
                records: multiprocessing.Queue[logging.LogRecord] = context.Queue()
                self._logs = logging.handlers.QueueListener(records, _LogHere())
                self._logs.start()
                self._pool = ProcessPoolExecutor(
                    self.workers,
                    mp_context=context,
                    initializer=_start_worker,
                    initargs=(self.queries, records, logging.getLogger().getEffectiveLevel()),
                )
            return self._pool


class _LogHere(logging.Handler):
    """Hands a worker's record to the logger of the same name in this process."""

    def handle(self, record: logging.LogRecord) -> bool:
        logger = logging.getLogger(record.name)
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:  # handle() does the work
        pass


def _watch_set(queries: Mapping[str, str]) -> WatchSet:
    return WatchSet({name: parse_query(query) for name, query in queries.items()})


def _start_worker(
    queries: dict[str, str], records: multiprocessing.Queue[logging.LogRecord], level: int
) -> None:
    global _watchset
    root = logging.getLogger()
    root.handlers = [logging.handlers.QueueHandler(records)]
    root.setLevel(level)
    _watchset = _watch_set(queries)
    settle()


def _ready() -> None:
    """A worker's first task: proves it is up."""


def _read_in_worker(
    body: bytes, url: str, content_type: bytes | None, look: Look | None, dated: bool
) -> tuple[Reading | None, MirrorClues | None]:
    assert _watchset is not None, "started without its watches"
    return read_fetched(_watchset, body, url, content_type, look, dated)


@dataclass(frozen=True)
class Look:
    """What mirror discovery asks of an article page besides its reading."""

    known: tuple[str, ...] | None  # the outlet's host names: look for others it announces
    sample: bool  # its content fingerprint is wanted


@dataclass(frozen=True)
class MirrorClues:
    """What an article page says about its outlet's other addresses (mirror discovery)."""

    candidates: tuple[Candidate, ...]
    fingerprint: str | None  # the page's content fingerprint, when it was asked for as a sample


def read_fetched(
    watchset: WatchSet,
    body: bytes,
    url: str,
    content_type: bytes | None,
    look: Look | None,
    dated: bool = False,
) -> tuple[Reading | None, MirrorClues | None]:
    """All a page reader does with one fetched page, in this process: decode it, read it for
    ``watchset``, and look for mirror clues when ``look`` asks (bench/crawl_speed.py's
    ``--reading-only`` times exactly this)."""
    html = _decoded(body, url, content_type)
    reading = read_article(html, url, watchset.mentioned, dated=dated)
    return reading, _clues(html, url, look) if look is not None else None


def _clues(html: str, url: str, look: Look) -> MirrorClues:
    if look.known is None and not look.sample:
        return MirrorClues((), None)
    tree = page_tree(html)
    if tree is None:
        return MirrorClues((), None)
    candidates = tuple(announced_hosts(tree, url, look.known)) if look.known is not None else ()
    return MirrorClues(candidates, page_fingerprint(tree) if look.sample else None)


def _decoded(body: bytes, url: str, content_type: bytes | None) -> str:
    headers = {b"Content-Type": content_type} if content_type else None
    return HtmlResponse(url, body=body, headers=headers).text  # Scrapy's own decoding
