"""Crawl-speed benchmark: `newswatch run --once` against a bare Scrapy spider on the same pages.

One command builds a local site of N outlets from the shared corpus, serves it with nginx, and
crawls it twice, first with a bare Scrapy spider, then with newswatch:

  site       each outlet ``outletNNNNN.bench.test`` has an RSS feed (``/rss.xml``) of
             ``--articles`` items, recent ``pubDate``s, linking to ``/news/K.html``: real article
             pages of the corpus (``articles/*.html``, cycled, real HTML). A share (``--share``,
             spread evenly over the outlets and over the positions in their feeds, no randomness) carries a watched term: the sentence ``INJECTED``
             (about Tadmur, i.e. Palmyra) is inserted as a paragraph right after the page's
             first body paragraph (the one that starts the human ``articleBody``; see
             ``inject`` for the pages where none is found). ``/robots.txt`` allows
             everything on every host. Unchanged pages are symlinks to the corpus files (never
             copied into the repository), so the site costs little disk.
  server     nginx (Debian package ``nginx-light``) as a forward proxy: both crawlers reach it
             through ``http_proxy`` and send absolute-URI requests; ``root sites/$host`` gives
             each host its own folder. One worker process: the machine this was written on has
             two cores, and the crawler under test needs one. Without nginx (or with
             ``--python-server``) the loopback ``MultiHostServer`` of ``tests/support/web.py``
             (pure Python, threads) stands in, and the numbers are marked as not comparable.
  bare       a Scrapy spider that downloads the same feeds and articles and does nothing else:
             a regex takes each item's ``<link>``; 64 requests in flight, robots.txt off, no
             AutoThrottle, ``CONCURRENT_REQUESTS_PER_DOMAIN`` as newswatch's
             ``spiders/settings.py`` sets it.
  newswatch  ``newswatch run --once`` with a Redis store (``--redis``, flushed before each
             run), ``crawl.concurrency: 64``, robots.txt obeyed (the default), ``--watches``
             distinct watches all notifying one ``console`` channel (the alerts go to a file).

Watches: ``tadmur`` (``Tadmur OR "تدمر"``, matched by the injected share) plus watches from
``bench/match_watches.py``'s generator (seeded; duplicates skipped), keeping only those whose
positive terms occur on no corpus page (its text, scripts and meta tags included), so that
exactly the injected share of pages mentions a watched term, as the speed target asks. The
generated watches are then checked with a real ``WatchSet`` before any crawl.

Measured, for each contender, each a subprocess timed by the wall clock from launch to exit
(interpreter start and imports included):

  pages      feed and article responses (2xx/304) in nginx's access log during the run;
             robots.txt is counted apart (only newswatch asks for it)
  pages/s    pages / seconds; "vs bare" is this over the bare spider's pages/s of the same run
  peak RSS   the largest sum of VmRSS over the subprocess and all its descendants, sampled
             from /proc every 0.1 s (a process pool's workers count; pages shared between
             forked processes count once per process, so this errs high)
  startup s  launch to the first request nginx logged
  tail s     the last request nginx logged to the contender's exit (what a run does once it
             has fetched everything: the last pages read, alerts delivered, shutdown)

Then, after the (last) newswatch run: Redis bytes per remembered article, the sum of ``MEMORY
USAGE key SAMPLES 0`` over every key matching ``newswatch:seen*`` (whatever their layout)
divided by the distinct article URLs newswatch fetched; and the build time of the WatchSet for
1,000 and 10,000 watches (the same generator; the first 1,000 are the crawl's), each in a fresh
subprocess, timed as ``AlertIntake`` builds it: ``parse_query`` on every watch, then
``WatchSet(...)``; imports are done before the clock starts. One article is matched right after
and timed on its own, so work a lazy build defers to first use is not hidden.

``--reading-only`` crawls nothing: it reads the same site's article pages in this process, one
by one, as the page readers would (``newswatch.spiders.analysis.read_fetched``, with the same
watches, and the mirror looks of a first poll: the first ``MAX_EXAMINED`` articles of each outlet
looked at for announced addresses, the first ``MAX_SAMPLES`` fingerprinted), and prints the CPU
time by kind of page. In the crawl the readers set the pace (bench/README.md), and this number
is free of the crawl's noise.

Linux only (/proc). Usage, from the repository root in the project's virtualenv, with Redis
running::

    python bench/crawl_speed.py [--outlets 300] [--articles 10] [--watches 1000] [--share 0.1]
                                [--corpus PATH] [--redis redis://127.0.0.1:6379/12] [--runs 1]
                                [--reading-only]

``--corpus`` defaults to ``$NEWSWATCH_CORPUS``, else ``../shared/corpus`` beside the repository.
The Redis database given by ``--redis`` is flushed.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import platform
import pwd
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol
from xml.sax.saxutils import escape

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SEED = 2026
WATCHED = "tadmur"
WATCHED_QUERY = 'Tadmur OR "تدمر"'  # Palmyra: one corpus page names it already
INJECTED = "Residents of Tadmur said the road into the old city reopened on Thursday morning."
NGINX_WORKERS = 1
SAMPLE_EVERY = 0.1  # seconds between two RSS samples of a contender's process tree

_P = re.compile(r"<p\b[^>]*>(.*?)</p\s*>", re.S | re.I)
_FIRST_P = re.compile(r"<p\b[^>]*>", re.I)
_TAG = re.compile(r"<[^>]+>")


def default_corpus() -> Path:
    raw = os.environ.get("NEWSWATCH_CORPUS")
    return Path(raw).expanduser() if raw else REPO.parent / "shared" / "corpus"


def host(i: int) -> str:
    return f"outlet{i:05d}.bench.test"


# --- the corpus pages and the site ---------------------------------------------------------------


@dataclass(frozen=True)
class CorpusPage:
    path: Path
    url: str
    title: str  # from the URL slug, as bench/match_watches.py titles them
    body: str  # the human articleBody


def load_pages(corpus: Path) -> list[CorpusPage]:
    from bench.match_watches import title_from_url

    pages = []
    for page in sorted((corpus / "articles").glob("*.html")):
        truth = json.loads(page.with_suffix(".json").read_text(encoding="utf-8"))
        url = truth.get("url") or ""
        pages.append(CorpusPage(page, url, title_from_url(url), truth.get("articleBody") or ""))
    if not pages:
        raise SystemExit(f"no article pages in {corpus / 'articles'}")
    return pages


def _text(fragment: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", fragment)).split())


def _in_body_text(page: str, at: int) -> bool:
    """Whether ``at`` lies in text a reader sees: in the body, not in a tag, script or style."""
    lower = page[:at].lower()
    return (
        lower.find("<body") >= 0
        and lower.rfind("<") < lower.rfind(">")
        and lower.rfind("<script") <= lower.rfind("</script")
        and lower.rfind("<style") <= lower.rfind("</style")
    )


def inject(page: str, body: str) -> tuple[str, str]:
    """The page with the INJECTED paragraph inside its article, and where it went.

    Right after the ``<p>`` that holds the start of one of the body's first paragraphs; else
    just before that text where a reader sees it; else after the page's first ``<p>``.
    """
    sentence = f"<p>{INJECTED}</p>"
    paragraphs = [" ".join(p.split()) for p in body.split("\n") if len(p.split()) >= 8]
    for paragraph in paragraphs[:3]:
        start = " ".join(paragraph.split()[:6])
        for found in _P.finditer(page):
            if start in _text(found.group(1)):
                return page[: found.end()] + sentence + page[found.end() :], "body paragraph"
    for paragraph in paragraphs[:3]:
        start = paragraph[:24]
        for form in (start, html.escape(start, quote=False)):
            at = page.find(form)
            while at > 0 and not _in_body_text(page, at):
                at = page.find(form, at + 1)
            if at > 0:
                return page[:at] + sentence + page[at:], "before body text"
    first = _FIRST_P.search(page)
    at = first.start() if first else page.lower().find("<body")
    return page[:at] + sentence + page[at:], "first <p>"


@dataclass
class Site:
    root: Path  # <tmp>/sites: one folder per host
    feeds: int = 0
    articles: int = 0
    injected: int = 0
    placements: dict[str, int] | None = None


def injected_at(index: int, share: Fraction) -> bool:
    """Spreads the share evenly over the article indices: 0.1 is every tenth article."""
    return int((index + 1) * share) > int(index * share)


def feed_position(outlet: int, n: int, articles: int) -> int:
    """Where the share falls in each feed: a position that turns with the outlet, so the
    pages carrying the term sit as often among an outlet's newest articles as among its
    oldest. (Always the same position would put them all at the head or the tail of the
    crawl, as one burst of judging, which real news does not do.)"""
    return (n + outlet) % articles


def build_site(
    root: Path, pages: list[CorpusPage], outlets: int, articles: int, share: Fraction
) -> Site:
    site = Site(root, placements=defaultdict(int))
    injected: dict[int, tuple[bytes, str]] = {}
    now = datetime.now(UTC)
    for i in range(outlets):
        folder = root / host(i)
        (folder / "news").mkdir(parents=True)
        (folder / "robots.txt").write_text("User-agent: *\nDisallow:\n")
        items = []
        for n in range(articles):
            index = i * articles + n
            which = index % len(pages)
            page = pages[which]
            target = folder / "news" / f"{n}.html"
            if injected_at(i * articles + feed_position(i, n, articles), share):
                if which not in injected:
                    text, where = inject(page.path.read_text(encoding="utf-8"), page.body)
                    injected[which] = (text.encode("utf-8"), where)
                target.write_bytes(injected[which][0])
                site.injected += 1
                assert site.placements is not None
                site.placements[injected[which][1]] += 1
            else:
                target.symlink_to(page.path)
            published = now - timedelta(minutes=n + 1)
            url = f"http://{host(i)}/news/{n}.html"
            items.append(
                f"<item><title>{escape(page.title)}</title><link>{url}</link>"
                f'<guid isPermaLink="true">{url}</guid>'
                f"<pubDate>{format_datetime(published)}</pubDate></item>"
            )
            site.articles += 1
        (folder / "rss.xml").write_text(
            '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>Outlet {i}</title><link>http://{host(i)}/</link>"
            f"<description>Bench outlet {i}</description>" + "".join(items) + "</channel></rss>\n",
            encoding="utf-8",
        )
        site.feeds += 1
    return site


# --- watches -------------------------------------------------------------------------------------


def page_texts(pages: list[CorpusPage]) -> list[str]:
    """Every word a crawler could see on each page, and more: text, scripts, meta content,
    the text the page readers scan (image alt texts and form fields included), the feed title,
    and the injected sentence (so it can trigger no other watch)."""
    import lxml.html
    from scrapy.http import HtmlResponse

    from newswatch.spiders.metadata import glance

    texts = []
    for page in pages:
        body = page.path.read_bytes()
        tree = lxml.html.fromstring(body)
        meta = " ".join(str(v) for v in tree.xpath("//meta/@content"))
        first = glance(HtmlResponse(page.url, body=body).text, page.url)
        seen = first.visible_text if first is not None else ""
        texts.append("\n".join((page.title, tree.text_content(), meta, seen, INJECTED)))
    return texts


def generate_watches(count: int, texts: list[str], seed: int = SEED) -> list[str]:
    """``tadmur`` and ``count - 1`` distinct generated queries none of whose positive terms
    has all its words on any page (the superset test the WatchSet's ``mentioned`` makes).

    Acceptance looks at each candidate alone, in the generator's order, so the first 1,000 of
    10,000 are the 1,000.
    """
    import ahocorasick

    from bench.match_watches import watch_query
    from newswatch.alerts.query import parse_query
    from newswatch.alerts.textnorm import normalize, term_words

    plain = [normalize(text.replace(INJECTED, " ")) for text in texts]
    for term in parse_query(WATCHED_QUERY).terms():
        words = term_words(term.text)
        if any(all(w in text for w in words) for text in plain):
            raise SystemExit(f"a corpus page mentions {term.text!r} already: pick another term")
    folded = [normalize(text) for text in texts]

    rng = random.Random(seed)
    accepted = [WATCHED_QUERY]
    tried = {WATCHED_QUERY}
    while len(accepted) < count:
        batch: list[tuple[str, list[tuple[str, ...]]]] = []
        while len(batch) < max(500, 2 * (count - len(accepted))):
            query = watch_query(rng)
            if query in tried:
                continue
            tried.add(query)
            terms = [term_words(t.text) for t in parse_query(query).terms()]
            batch.append((query, terms))
        automaton = ahocorasick.Automaton()
        for _, terms in batch:
            for words in terms:
                for word in words:
                    automaton.add_word(word, word)
        automaton.make_automaton()
        on_page = [{word for _, word in automaton.iter(text)} for text in folded]
        for query, terms in batch:
            if not any(all(w in found for w in words) for words in terms for found in on_page):
                accepted.append(query)
                if len(accepted) == count:
                    break
    return accepted


def check_watches(queries: list[str], texts: list[str], injected_page: str) -> None:
    """The crawl's watches, built as newswatch builds them: no plain page may mention one,
    an injected page must."""
    from newswatch.alerts.query import parse_query
    from newswatch.alerts.watchset import WatchSet

    watchset = WatchSet({f"w{i}": parse_query(q) for i, q in enumerate(queries)})
    plain = [t.replace(INJECTED, " ") for t in texts]
    mentioned = sum(watchset.mentioned(text) for text in plain)
    if mentioned or not watchset.mentioned(injected_page):
        raise SystemExit(
            f"watch check failed: {mentioned} plain pages mention a watch; the injected page "
            f"{'does' if watchset.mentioned(injected_page) else 'does not'}"
        )


def config_yaml(outlets: int, queries: list[str], redis_url: str, concurrency: int) -> str:
    lines = [
        f"store: {redis_url}",
        "retention: 30d",
        "max_age: 30d",
        "crawl:",
        f"  concurrency: {concurrency}",
        "outlets:",
    ]
    for i in range(outlets):
        lines.append(f"  o{i:05d}: {{domains: [{host(i)}], scheme: http, feeds: [/rss.xml]}}")
    lines.append("watches:")
    for n, query in enumerate(queries):
        name = WATCHED if n == 0 else f"w{n:05d}"
        lines.append(
            f"  {name}: {{query: {json.dumps(query, ensure_ascii=False)}, notify: [console]}}"
        )
    lines += ["channels:", "  console: {type: console}"]
    return "\n".join(lines) + "\n"


# --- the server ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    """One request the server answered."""

    at: float | None  # epoch seconds, when the server logged it (None: not known)
    status: int
    host: str
    path: str


class Server(Protocol):
    name: str
    comparable: bool
    proxy_url: str

    def mark(self) -> int: ...

    def hits_since(self, mark: int) -> list[Hit]: ...

    def close(self) -> None: ...


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Nginx:
    """nginx in the foreground (``daemon off``), all its files in ``folder``."""

    comparable = True

    def __init__(self, binary: str, folder: Path, sites: Path) -> None:
        self.folder = folder
        self.log = folder / "access.log"
        self.port = free_port()
        self.proxy_url = f"http://127.0.0.1:{self.port}"
        version = subprocess.run([binary, "-v"], capture_output=True, text=True).stderr.strip()
        self.name = f"{version.split(': ')[-1]}, {NGINX_WORKERS} worker"
        conf = folder / "nginx.conf"
        conf.write_text(self.conf(sites))
        self.log.touch()
        self.process = subprocess.Popen(
            [binary, "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log")],
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            if self.process.poll() is not None:
                raise SystemExit(f"nginx exited {self.process.returncode}: {self.errors()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.close()
                    raise SystemExit(
                        f"nginx did not listen on {self.port}: {self.errors()}"
                    ) from None
                time.sleep(0.05)

    def conf(self, sites: Path) -> str:
        folder = self.folder
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
        temp = "\n".join(
            f"  {kind}_temp_path {folder / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        return f"""{user}worker_processes {NGINX_WORKERS};
daemon off;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} warn;
events {{ worker_connections 4096; }}
http {{
  types {{ text/html html; application/rss+xml xml; text/plain txt; }}
  default_type application/octet-stream;
  charset utf-8;
{temp}
  log_format bench '$msec $status $host $request_uri';
  access_log {self.log} bench;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 65;
  keepalive_requests 100000;
  open_file_cache max=20000 inactive=120s;
  server {{
    listen 127.0.0.1:{self.port} default_server;
    server_name _;
    root {sites}/$host;
    location / {{ }}
  }}
}}
"""

    def errors(self) -> str:
        path = self.folder / "error.log"
        return path.read_text()[-2000:] if path.exists() else ""

    def mark(self) -> int:
        return self.log.stat().st_size

    def hits_since(self, mark: int) -> list[Hit]:
        with self.log.open("rb") as log:
            log.seek(mark)
            lines = log.read().decode("utf-8", "replace").splitlines()
        hits = []
        for line in lines:
            at, status, name, path = line.split(" ", 3)
            hits.append(Hit(float(at), int(status), name, path))
        return hits

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class PythonServer:
    """The fallback: tests/support/web.py's threaded MultiHostServer, the site held in memory."""

    comparable = False
    name = "tests/support/web.py MultiHostServer (Python threads): NOT comparable"

    def __init__(self, sites: Path) -> None:
        from tests.support.web import MultiHostServer

        self.web = MultiHostServer().start()
        self.proxy_url = self.web.proxy_url
        types = {".html": "text/html; charset=utf-8", ".xml": "application/rss+xml"}
        blobs: dict[Path, bytes] = {}
        for folder in sites.iterdir():
            site = self.web.site(folder.name)
            for file in folder.rglob("*.*"):
                real = file.resolve()
                if real not in blobs:
                    blobs[real] = real.read_bytes()
                content_type = types.get(file.suffix, "text/plain; charset=utf-8")
                site.add("/" + file.relative_to(folder).as_posix(), blobs[real], content_type)

    def mark(self) -> int:
        return len(self.web.requests)

    def hits_since(self, mark: int) -> list[Hit]:
        hits = []
        for r in self.web.requests[mark:]:
            site = self.web.get_site(r.host)
            found = site is not None and site.get(r.path) is not None
            hits.append(Hit(None, 200 if found else 404, r.host, r.path))
        return hits

    def close(self) -> None:
        self.web.stop()


def check_server(server: Server) -> None:
    """One request of each kind through the proxy, before anything is measured."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": server.proxy_url}))
    for path, expected in (
        ("/rss.xml", b"<rss"),
        ("/news/0.html", b"<"),
        ("/robots.txt", b"User-agent"),
    ):
        url = f"http://{host(0)}{path}"
        with opener.open(url, timeout=10) as response:
            body = response.read()
            if response.status != 200 or expected not in body:
                raise SystemExit(f"the local site does not answer {url} as expected")


# --- running a contender -------------------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                data = stat.read()
        except OSError:
            continue
        fields = data[data.rindex(b")") + 2 :].split()  # the name may hold spaces and parens
        children[int(fields[1])].append(int(entry.name))
    return children


_PAGE = os.sysconf("SC_PAGE_SIZE")


_TICKS = os.sysconf("SC_CLK_TCK")


def tree_rss(root: int, cpu: dict[int, float] | None = None) -> int:
    """Bytes resident in ``root`` and all its descendants right now; with ``cpu``, also
    records each one's CPU seconds so far (user + system)."""
    children = _children()
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        try:
            with open(f"/proc/{pid}/statm", "rb") as statm:
                total += int(statm.read().split()[1]) * _PAGE
            if cpu is not None:
                with open(f"/proc/{pid}/stat", "rb") as stat:
                    data = stat.read()
                fields = data[data.rindex(b")") + 2 :].split()
                cpu[pid] = (int(fields[11]) + int(fields[12])) / _TICKS
        except (OSError, IndexError, ValueError):
            pass
        stack.extend(children.get(pid, ()))
    return total


@dataclass(frozen=True)
class Result:
    contender: str
    run: int
    seconds: float
    peak_rss: int
    pages: int
    robots: int
    other: int  # responses that are neither a page nor robots.txt, or not 2xx/304
    startup: float | None
    tail: float | None
    cpu: float  # CPU seconds of the process tree (last sample of each process)
    main_cpu: float  # of the contender's own process: the thread that crawls, and its helpers
    article_urls: frozenset[str]
    output: str  # the last of the contender's stderr, for the report


def run_contender(
    contender: str, run: int, command: list[str], env: dict[str, str], server: Server, folder: Path
) -> Result:
    mark = server.mark()
    out = folder / f"{contender.split()[0]}-{run}.out"
    err = folder / f"{contender.split()[0]}-{run}.err"
    peak = 0
    cpu: dict[int, float] = {}
    done = threading.Event()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        launched = time.time()
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=folder, env=env, stdout=stdout, stderr=stderr)

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, tree_rss(process.pid, cpu))
                done.wait(SAMPLE_EVERY)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = process.wait()
        seconds = time.perf_counter() - started
        exited = time.time()
        done.set()
        sampler.join()
    if code != 0:
        sys.stderr.write(err.read_text(errors="replace")[-3000:])
        raise SystemExit(f"{contender} exited {code}")
    hits = server.hits_since(mark)
    ok = [h for h in hits if 200 <= h.status < 300 or h.status == 304]
    pages = [h for h in ok if h.path != "/robots.txt"]
    robots = [h for h in ok if h.path == "/robots.txt"]
    first = min((h.at for h in hits if h.at is not None), default=None)
    last = max((h.at for h in hits if h.at is not None), default=None)
    return Result(
        contender=contender,
        run=run,
        seconds=seconds,
        peak_rss=peak,
        pages=len(pages),
        robots=len(robots),
        other=len(hits) - len(pages) - len(robots),
        startup=first - launched if first is not None else None,
        tail=exited - last if last is not None else None,
        cpu=sum(cpu.values()),
        main_cpu=cpu.get(process.pid, 0.0),
        article_urls=frozenset(h.host + h.path for h in pages if h.path.startswith("/news/")),
        output=(out.read_text(errors="replace") + err.read_text(errors="replace"))[-400:],
    )


def proxy_env(proxy_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "http_proxy": proxy_url,
        "HTTP_PROXY": proxy_url,
        "https_proxy": proxy_url,  # a stray https URL must not leave the machine
        "HTTPS_PROXY": proxy_url,
        "no_proxy": "",
        "NO_PROXY": "",
    }


def per_domain_limit() -> int:
    from newswatch.config import CrawlSettings
    from newswatch.spiders.settings import scrapy_settings

    limit: int = scrapy_settings(CrawlSettings())["CONCURRENT_REQUESTS_PER_DOMAIN"]
    return limit


# --- the bare spider (runs in its own process: --bare) ---------------------------------------------


def run_bare(outlets: int, concurrency: int, per_domain: int) -> None:
    """Download every feed and the articles it links to; nothing else."""
    import scrapy
    from scrapy.crawler import CrawlerProcess

    links = re.compile(rb"<item>.*?<link>([^<]+)</link>", re.S)

    class BareSpider(scrapy.Spider):
        name = "bare"

        async def start(self) -> AsyncIterator[Any]:
            for i in range(outlets):
                yield scrapy.Request(f"http://{host(i)}/rss.xml", callback=self.parse_feed)

        def parse_feed(self, response: Any) -> Iterator[Any]:
            for link in links.findall(response.body):
                yield scrapy.Request(link.decode(), callback=self.parse_article)

        def parse_article(self, response: Any) -> None:
            return None

    process = CrawlerProcess(
        {
            "CONCURRENT_REQUESTS": concurrency,
            "CONCURRENT_REQUESTS_PER_DOMAIN": per_domain,
            "ROBOTSTXT_OBEY": False,
            "AUTOTHROTTLE_ENABLED": False,
            "COOKIES_ENABLED": False,
            "TELNETCONSOLE_ENABLED": False,
            "REMOTE_CONTROL_ENABLED": False,
            "RETRY_TIMES": 1,
            "LOG_LEVEL": "WARNING",
        }
    )
    crawler = process.create_crawler(BareSpider)
    process.crawl(crawler)
    process.start()
    stats = crawler.stats.get_stats()
    print(json.dumps({"responses": stats.get("downloader/response_count", 0)}))


# --- WatchSet build time (runs in its own process: --build-time FILE) -------------------------------


def time_reading(sites: Path, outlets: int, articles: int, queries: list[str]) -> None:
    """The readers' share of a crawl, in this process: every article page of ``sites`` read as
    a page reader reads it in a first poll, CPU time by kind of page."""
    from newswatch.alerts.query import parse_query
    from newswatch.alerts.watchset import WatchSet
    from newswatch.collection import settle
    from newswatch.mirrors import MAX_SAMPLES
    from newswatch.spiders.analysis import Look, read_fetched
    from newswatch.spiders.mirror_checks import MAX_EXAMINED

    watchset = WatchSet({f"w{i}": parse_query(q) for i, q in enumerate(queries)})
    settle()  # as a page reader does once it has its watches
    work = []
    for i in range(outlets):
        for n in range(articles):  # the order a poll reads them in: newest first
            examine, sample = n < MAX_EXAMINED, n < MAX_SAMPLES
            look = Look((host(i),) if examine else None, sample) if examine or sample else None
            body = (sites / host(i) / "news" / f"{n}.html").read_bytes()
            work.append((body, f"http://{host(i)}/news/{n}.html", look))
    # Every feed item of the site has a pubDate, so the crawl reads every page as ``dated``.
    for body, url, look in work[:20]:  # imports and caches
        read_fetched(watchset, body, url, b"text/html", look, dated=True)
    cpu: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    for body, url, look in work:
        started = time.process_time()
        reading, _clues = read_fetched(watchset, body, url, b"text/html", look, dated=True)
        kind = "unreadable" if reading is None else "judged" if reading.judged else "not judged"
        kind += ", mirror look" if look is not None else ""
        cpu[kind] += time.process_time() - started
        count[kind] += 1
    print(f"reading alone: {len(work):,} article pages, {len(queries):,} watches, one process")
    print(f"{'pages':<26} {'count':>6} {'CPU s':>7} {'ms a page':>10}")
    for kind in sorted(cpu):
        print(
            f"{kind:<26} {count[kind]:6,d} {cpu[kind]:7.2f} {1000 * cpu[kind] / count[kind]:10.2f}"
        )
    print(f"{'all':<26} {len(work):6,d} {sum(cpu.values()):7.2f}")


def time_build(job_file: Path) -> None:
    """Prints the seconds to parse and to build, the first match's ms and the peak RSS."""
    from newswatch.alerts.query import parse_query
    from newswatch.alerts.watchset import WatchSet

    job = json.loads(job_file.read_text(encoding="utf-8"))
    queries: list[str] = job["queries"]
    started = time.perf_counter()
    parsed = {f"w{i}": parse_query(q) for i, q in enumerate(queries)}
    parsed_at = time.perf_counter()
    watchset = WatchSet(parsed)
    built_at = time.perf_counter()
    found = watchset.matches(job["title"], job["body"])
    matched_at = time.perf_counter()
    if WATCHED_QUERY in queries and "w0" not in found:
        raise SystemExit("the first-match article does not match the watched term")
    peak = re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text())
    print(
        json.dumps(
            {
                "parse": parsed_at - started,
                "build": built_at - parsed_at,
                "first_match_ms": (matched_at - built_at) * 1000,
                "rss_mb": int(peak.group(1)) / 1024 if peak else 0.0,
            }
        )
    )


def build_times(
    queries: list[str], sizes: list[int], article: tuple[str, str], folder: Path
) -> list[tuple[int, dict[str, float]]]:
    """Each size in a fresh process, so no cache of an earlier build helps."""
    rows = []
    for size in sizes:
        path = folder / f"watches-{size}.json"
        job = {"queries": queries[:size], "title": article[0], "body": article[1]}
        path.write_text(json.dumps(job, ensure_ascii=False), encoding="utf-8")
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--build-time", str(path)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            sys.stderr.write(done.stderr[-3000:])
            raise SystemExit(f"the build-time run for {size} watches exited {done.returncode}")
        rows.append((size, json.loads(done.stdout.strip().splitlines()[-1])))
    return rows


# --- Redis ---------------------------------------------------------------------------------------


def seen_bytes(redis_url: str) -> tuple[int, int]:
    """Keys under ``newswatch:seen`` and their ``MEMORY USAGE`` in bytes, whatever the layout."""
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = total = 0
    for key in client.scan_iter(match="newswatch:seen*", count=1000):
        keys += 1
        total += int(client.memory_usage(key, samples=0) or 0)
    client.close()
    return keys, total


def flush(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        client.flushdb()
    except redis.RedisError as exc:
        raise SystemExit(f"cannot flush the Redis store {redis_url}: {exc}") from None
    finally:
        client.close()


# --- the report ----------------------------------------------------------------------------------


def report(
    args: argparse.Namespace,
    site: Site,
    pages: list[CorpusPage],
    server: Server,
    results: list[Result],
    redis_row: tuple[int, int, int],
    builds: list[tuple[int, dict[str, float]]],
    load: float,
) -> None:
    cpus = os.cpu_count()
    print(
        f"{args.outlets} outlets x {args.articles} articles: {site.feeds} feeds, "
        f"{site.articles} article pages cycled from {len(pages)} corpus pages, "
        f"{site.injected} with {WATCHED_QUERY.split()[0]!r} injected ({dict(site.placements or {})})"
    )
    print(
        f"{args.watches:,} watches; server: {server.name}; {cpus} CPUs; "
        f"Python {platform.python_version()}; load average before the runs: {load:.2f}"
    )
    if not server.comparable:
        print("!! not nginx: these numbers are NOT comparable with the README's.")
        print("!! `apt-get install nginx-light` gives the real setup.")
    print()
    print(
        f"{'contender':<14} {'pages':>6} {'seconds':>8} {'pages/s':>8} {'peak RSS MB':>12}"
        f" {'vs bare':>8} {'startup s':>10} {'tail s':>7} {'CPU s':>6} {'main CPU s':>10}"
    )
    bare_rate: dict[int, float] = {}
    for r in results:
        rate = r.pages / r.seconds
        if r.contender == "bare scrapy":
            bare_rate[r.run] = rate
        label = r.contender if args.runs == 1 else f"{r.contender} #{r.run + 1}"
        startup = f"{r.startup:10.2f}" if r.startup is not None else f"{'-':>10}"
        tail = f"{r.tail:7.2f}" if r.tail is not None else f"{'-':>7}"
        print(
            f"{label:<14} {r.pages:6d} {r.seconds:8.1f} {rate:8.1f} {r.peak_rss / 2**20:12.0f}"
            f" {rate / bare_rate[r.run]:7.2f}x {startup} {tail} {r.cpu:6.1f} {r.main_cpu:10.1f}"
        )
    print()
    print(
        "vs bare = pages/s over the bare spider's pages/s in the same run; pages = feed and article"
    )
    print("responses in the server's log; peak RSS = process tree, sampled every 0.1 s;")
    print("CPU s = user + system seconds of the process tree, main = the contender's own process.")
    for r in results:
        extra = f", {r.other} other responses" if r.other else ""
        print(f"  {r.contender} #{r.run + 1}: {r.robots} robots.txt requests{extra}")
    expected = site.feeds + site.articles
    for r in results:
        if r.pages != expected:
            print(
                f"  !! {r.contender} #{r.run + 1} fetched {r.pages} pages, the site has {expected}"
            )
    for r in results:
        if r.contender == "newswatch":
            sent = re.findall(r"delivery: (\d+) sent", r.output)
            if sent:
                print(
                    f"  newswatch #{r.run + 1}: {sent[-1]} alerts delivered ({site.injected} pages injected)"
                )
    keys, total, articles = redis_row
    print()
    per_article = f"{total / articles:.0f}" if articles else "-"
    print(
        f"Redis ({args.redis}): {articles:,} articles remembered (distinct article URLs fetched),"
        f" {keys:,} keys under newswatch:seen*, {total:,} bytes (MEMORY USAGE):"
        f" {per_article} bytes per article"
    )
    print()
    print("WatchSet build, a fresh process each, as AlertIntake builds it (parse_query, then")
    print("WatchSet); then one article matched (work a lazy build defers shows up there):")
    print(
        f"{'watches':>8} {'parse s':>8} {'WatchSet s':>11} {'total s':>8}"
        f" {'1st match ms':>13} {'peak RSS MB':>12}"
    )
    for size, row in builds:
        print(
            f"{size:8,d} {row['parse']:8.3f} {row['build']:11.3f} {row['parse'] + row['build']:8.3f}"
            f" {row['first_match_ms']:13.1f} {row['rss_mb']:12.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--outlets", type=int, default=300)
    parser.add_argument("--articles", type=int, default=10, help="articles per outlet's feed")
    parser.add_argument("--watches", type=int, default=1000)
    parser.add_argument("--share", default="0.1", help="share of articles carrying a watched term")
    parser.add_argument("--corpus", type=Path, default=default_corpus())
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/12", help="flushed first")
    parser.add_argument("--runs", type=int, default=1, help="bare then newswatch, this many times")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight, both")
    parser.add_argument("--build-sizes", default="1000,10000")
    parser.add_argument(
        "--python-server",
        action="store_true",
        help="serve with tests/support/web.py even when nginx is installed (not comparable)",
    )
    parser.add_argument(
        "--profile", type=Path, help="run newswatch under cProfile, its stats to this file"
    )
    parser.add_argument(
        "--reading-only",
        action="store_true",
        help="crawl nothing: time the readers' work on the same pages, in this process",
    )
    parser.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--per-domain", type=int, default=4, help=argparse.SUPPRESS)
    parser.add_argument("--build-time", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.bare:
        run_bare(args.outlets, args.concurrency, args.per_domain)
        return
    if args.build_time:
        time_build(args.build_time)
        return

    share = Fraction(args.share)
    if not (args.corpus / "articles").is_dir():
        raise SystemExit(f"no corpus at {args.corpus} (give --corpus or set NEWSWATCH_CORPUS)")
    pages = load_pages(args.corpus)
    texts = page_texts(pages)
    sizes = [int(s) for s in args.build_sizes.split(",") if s and not args.reading_only]
    queries = generate_watches(max([args.watches, *sizes]), texts)
    if not args.reading_only:
        flush(args.redis)

    with tempfile.TemporaryDirectory(prefix="newswatch-crawl-speed-") as tmp:
        folder = Path(tmp)
        site = build_site(folder / "sites", pages, args.outlets, args.articles, share)
        injected_page = next(
            (
                p.read_text(encoding="utf-8")
                for p in (folder / "sites").rglob("*.html")
                if not p.is_symlink()
            ),
            INJECTED,
        )
        check_watches(queries[: args.watches], texts, injected_page)
        if args.reading_only:
            time_reading(folder / "sites", args.outlets, args.articles, queries[: args.watches])
            return
        config = folder / "newswatch.yaml"
        config.write_text(
            config_yaml(args.outlets, queries[: args.watches], args.redis, args.concurrency),
            encoding="utf-8",
        )
        binary = shutil.which("nginx") or next(
            (b for b in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(b).exists()), None
        )
        server: Server
        if binary and not args.python_server:
            (folder / "nginx").mkdir()
            server = Nginx(binary, folder / "nginx", folder / "sites")
        else:
            print("no nginx: falling back to tests/support/web.py (NOT comparable;")
            print("`apt-get install nginx-light` gives the real setup)", flush=True)
            server = PythonServer(folder / "sites")
        try:
            check_server(server)
            load = os.getloadavg()[0]  # other work on the machine skews every number
            env = proxy_env(server.proxy_url)
            bare = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--bare",
                f"--outlets={args.outlets}",
                f"--concurrency={args.concurrency}",
                f"--per-domain={per_domain_limit()}",
            ]
            profile = ["-m", "cProfile", "-o", str(args.profile)] if args.profile else []
            newswatch = [
                *([sys.executable, *profile] if profile else []),
                str(Path(sys.executable).parent / "newswatch"),
                "run",
                "--once",
                "-c",
                str(config),
            ]
            results: list[Result] = []
            for run in range(args.runs):
                results.append(run_contender("bare scrapy", run, bare, env, server, folder))
                flush(args.redis)
                results.append(run_contender("newswatch", run, newswatch, env, server, folder))
            keys, total = seen_bytes(args.redis)
            articles = len(results[-1].article_urls)
        finally:
            server.close()
        article = (pages[0].title, f"{pages[0].body}\n\n{INJECTED}")
        builds = build_times(queries, sizes, article, folder)
        report(args, site, pages, server, results, (keys, total, articles), builds, load)


if __name__ == "__main__":
    main()
