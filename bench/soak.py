"""Soak benchmark: `newswatch run` on N outlets every S seconds for M minutes, end to end.

The speed target asks for a 30-minute soak of 2,000 outlets polled every 2 minutes, one new
article per outlet per poll, whose p95 detection latency (article published on the local site
-> alert accepted by the local SMTP server) stays under one interval plus 15 s, with flat RSS.
The defaults are that run.

Set-up, all in this process and on loopback:

  web     the multi-host server of ``tests/support/web.py`` (reached through ``http_proxy``):
          outlet ``outletNNNNN.bench.test`` serves ``/rss.xml`` (the newest ``FEED_ITEMS``
          items, fixed ``pubDate``s, an ETag) and ``/news/K.html`` (``bench/poll_outlets.py``'s
          page with about 80 seeded words of its own: see ``ARTICLE``). Each outlet starts with
          ``SEED_ARTICLES`` articles that name no watched term (the first poll remembers them,
          no alert).
  smtp    ``tests/support/smtp.py``'s aiosmtpd sink on a free port, recording for each message
          only the time it was accepted and which article it is (from the subject).
  config  every outlet ``every: S``; one watch ``palmyra`` (``Palmyra OR Tadmur``) notifying an
          ``email`` channel at that sink; Redis store (``--redis``, flushed first); ``/metrics``
          on a free port.

After ``--warmup`` seconds (default one interval: the first poll of every outlet), every outlet
gets one new article per interval, outlet i at phase i/N of the interval, so publications are
spread evenly and independently of when the service polls. Each new article's title is
``Outlet I story K on trade talks in Palmyra``: it names the watched term, so each must give
exactly one email. Its publish time is ``time.time()`` when the bench puts the page and the
new feed on the site; the feed's ``pubDate`` and the page's ``article:published_time`` say the
same. Publishing stops after ``--minutes``; the service then gets up to one interval + 60 s to
deliver what is still due, and is stopped with SIGTERM.

Reported: published / alerted / missing / duplicate / unknown emails; latency (SMTP accept
time - publish time) p50, p95, max over all published articles, a missing one counting as
never delivered, with PASS/FAIL for p95 < interval + 15 s (exit status 1 on FAIL) and p95 per
window of publication time; RSS of the service's whole process tree (the service, its fork
server and page-reading workers; sampled from /proc every 5 s with ``bench/crawl_speed.py``'s
``tree_rss``; pages shared between forked processes count once per process, so this errs
high) at 5 minutes (or half the run, if shorter), at the end of publishing, the peak, the
ratio end / 5-min, and one sample a minute; the service tree's CPU; the service's own counters
from ``/metrics``; whether this process kept up (web requests/s, a probe feed fetch timed every
sample, publication lag, this process's CPU); Redis ``used_memory`` at start and end.

Linux only (/proc). From the repository root, in the project's virtualenv, with Redis running::

    python bench/soak.py [--outlets 2000] [--every 120] [--minutes 30] [--warmup SECONDS]
                         [--redis redis://127.0.0.1:6379/14]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.crawl_speed import tree_rss
from bench.poll_outlets import host
from tests.support.smtp import ReceivedMail, SmtpSink
from tests.support.web import MultiHostServer

SEED_ARTICLES = 2  # per outlet at the start, naming no watched term
FEED_ITEMS = 10  # newest items a feed lists; older pages are taken off the site
SAMPLE_EVERY = 5.0  # seconds between two RSS samples (and web probes)
SLACK = 15.0  # the requirement: p95 < one interval + 15 s
PROBE_HOST = "probe.bench.test"
# bench/poll_outlets.py's page, with a body of its own for every article: the service suppresses
# an alert for a near-copy (MinHash of title + text, per watch and outlet, alerts/fingerprint.py)
# of a story it already alerted on, so one fixed body would alert once per outlet, ever.
ARTICLE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta property="article:published_time" content="{published}"></head><body>
<nav><a href="/">Home</a></nav><article><h1>{title}</h1>
{paragraphs}
</article><footer>All rights reserved.</footer></body></html>"""
WORDS = """
officials said talks would resume next week after pause several days according statement
published thursday ministry foreign affairs analysts expect negotiations focus trade energy
prices border crossings government minister parliament opposition election vote council city
residents protest police army forces region province capital village road bridge airport port
market bank budget tax inflation growth exports imports oil gas water power grid drought flood
harvest wheat farmers workers union strike court judge ruling appeal law reform agency report
survey data record increase decrease million billion percent early late morning evening night
spokesman president prime leader delegation envoy summit meeting agreement deal plan proposal
project company factory plant investors shares hospital doctors patients school students
teachers university museum heritage site ancient ruins archaeologists restoration tourists
visitors season festival weather storm winds temperatures coast north south east west central
local national international regional security aid convoy refugees camps families children
""".split()  # noqa: SIM905 (150 words: a list literal would take 150 lines)


def paragraphs(i: int, k: int, first: str) -> str:
    """Three paragraphs of about 80 words, different for every (outlet, article)."""
    rng = random.Random(i * 1_000_003 + k)
    sentences = [first]
    for _ in range(5):
        words = rng.choices(WORDS, k=rng.randint(9, 15))
        sentences.append(" ".join(words).capitalize() + ".")
    return "\n".join(f"<p>{' '.join(sentences[n : n + 2])}</p>" for n in range(0, 6, 2))


_STORY = re.compile(r"Outlet (\d+) story (\d+)\b")
_URL = re.compile(r"outlet(\d{5})\.bench\.test/news/(\d+)\.html")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# --- the outlets ---------------------------------------------------------------------------------


def title(i: int, k: int) -> str:
    watched = k >= SEED_ARTICLES
    return f"Outlet {i} story {k} on trade talks" + (" in Palmyra" if watched else "")


@dataclass
class Outlets:
    """The local site: what each outlet has published, and when (``time.time()``)."""

    web: MultiHostServer
    items: list[list[tuple[int, float]]] = field(default_factory=list)
    published: dict[tuple[int, int], float] = field(default_factory=dict)  # watched only

    def seed(self, count: int) -> None:
        now = time.time()
        for i in range(count):
            self.items.append([])
            for k in range(SEED_ARTICLES):
                self._put(i, k, now - 60 * (SEED_ARTICLES - k))

    def publish(self, i: int) -> float:
        """Outlet i's next article, on the site now; returns its publish time."""
        k = self.items[i][-1][0] + 1
        published = time.time()
        self._put(i, k, published)
        self.published[(i, k)] = published
        return published

    def _put(self, i: int, k: int, published: float) -> None:
        site = self.web.site(host(i))
        when = datetime.fromtimestamp(published, UTC)
        headline = title(i, k)
        page = ARTICLE.format(
            title=headline, published=when.isoformat(), paragraphs=paragraphs(i, k, headline + ".")
        )
        site.add(f"/news/{k}.html", page)
        items = self.items[i]
        items.append((k, published))
        while len(items) > FEED_ITEMS:
            site.remove(f"/news/{items.pop(0)[0]}.html")
        feed = feed_xml(i, items)
        etag = '"' + hashlib.sha1(feed.encode()).hexdigest()[:16] + '"'
        site.add("/rss.xml", feed, content_type="application/rss+xml", headers={"ETag": etag})


def feed_xml(i: int, items: list[tuple[int, float]]) -> str:
    entries = "".join(
        f"<item><title>{title(i, k)}</title><link>http://{host(i)}/news/{k}.html</link>"
        f"<pubDate>{format_datetime(datetime.fromtimestamp(t, UTC))}</pubDate></item>"
        for k, t in reversed(items)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Outlet {i}</title>{entries}</channel></rss>"
    )


# --- the mail server -----------------------------------------------------------------------------


class TimedSink(SmtpSink):
    """The test suite's SMTP sink, keeping only (accept time, article) of each message.

    Thousands of messages an hour: the raw mail is not kept.
    """

    def __init__(self) -> None:
        super().__init__()
        self.received: list[tuple[float, tuple[int, int] | None]] = []
        self._lock = threading.Lock()

    def _record(self, mail: ReceivedMail) -> None:
        accepted = time.time()
        found = _STORY.search(mail.subject) or _URL.search(mail.text_body())
        article = (int(found.group(1)), int(found.group(2))) if found else None
        with self._lock:
            self.received.append((accepted, article))

    def snapshot(self) -> list[tuple[float, tuple[int, int] | None]]:
        with self._lock:
            return list(self.received)


# --- the service ---------------------------------------------------------------------------------


def config(args: argparse.Namespace, smtp_url: str, port: int) -> str:
    lines = [f"store: {args.redis}", "outlets:"]
    for i in range(args.outlets):
        lines += [
            f"  o{i}:",
            f"    domains: [{host(i)}]",
            "    scheme: http",
            "    feeds: [/rss.xml]",
            f"    every: {args.every}s",
        ]
    lines += [
        "watches:",
        "  palmyra: {query: 'Palmyra OR Tadmur', notify: [mail]}",
        "channels:",
        "  mail:",
        "    type: email",
        "    to: [analyst@example.com]",
        "    from: newswatch@example.com",
        f"    smtp: {smtp_url}",
        "service:",
        f"  listen: 127.0.0.1:{port}",
    ]
    return "\n".join(lines) + "\n"


def metrics(port: int) -> dict[str, float]:
    """The service's counters summed over outlets (``polls`` and ``deliveries`` by result)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        text = opener.open(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
    except OSError:
        return {}
    sums: dict[str, float] = defaultdict(float)
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        metric = name.split("{", 1)[0]
        if not metric.startswith("newswatch_") or metric.endswith(
            ("_created", "_timestamp_seconds")
        ):
            continue
        result = re.search(r'result="([^"]*)"', name)
        sums[metric + (f":{result.group(1)}" if result else "")] += float(value)
    return dict(sums)


def log_summary(path: Path) -> list[str]:
    """Warnings and errors of the service's JSON log, counted by message (first 80 chars)."""
    counts: Counter[str] = Counter()
    with path.open(encoding="utf-8", errors="replace") as log:
        for line in log:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("level") in ("warning", "error", "critical"):
                message = re.sub(r"\d+", "N", str(entry.get("message", "")))[:80]
                counts[f"{entry['level']}: {message}"] += 1
    return [f"{n} x {message}" for message, n in counts.most_common(5)]


# --- measuring -----------------------------------------------------------------------------------


def delivered(sink: TimedSink, outlets: Outlets) -> bool:
    arrived = {article for _, article in sink.snapshot()}
    return all(article in arrived for article in outlets.published)


def percentile(ordered: list[float], p: float) -> float:
    """Nearest rank; ``inf`` entries (never delivered) sort last."""
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)] if ordered else math.nan


def seconds(value: float) -> str:
    return "never" if math.isinf(value) else f"{value:.1f}"


@dataclass
class Sample:
    elapsed: float
    tree_kib: int
    main_kib: int


def probe(opener: urllib.request.OpenerDirector) -> float:
    """Milliseconds for one full feed fetch through the local web server."""
    started = time.perf_counter()
    try:
        opener.open(f"http://{PROBE_HOST}/rss.xml", timeout=30).read()
    except OSError:
        return math.inf
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outlets", type=int, default=2000)
    parser.add_argument("--every", type=int, default=120, help="poll interval and publish period")
    parser.add_argument("--minutes", type=float, default=30, help="soak length (publishing)")
    parser.add_argument("--warmup", type=float, help="seconds before publishing (default: every)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14", help="flushed first")
    args = parser.parse_args()
    warmup = args.every if args.warmup is None else args.warmup
    duration = args.minutes * 60
    limit = args.every + SLACK

    client = redis.Redis.from_url(args.redis)
    client.flushdb()
    port = free_port()
    sink = TimedSink()
    with (
        MultiHostServer() as web,
        sink,
        tempfile.TemporaryDirectory() as tmp,
    ):
        outlets = Outlets(web)
        outlets.seed(args.outlets)
        web.site(PROBE_HOST).add(
            "/rss.xml", feed_xml(0, outlets.items[0]), content_type="application/rss+xml"
        )
        folder = Path(tmp)
        (folder / "newswatch.yaml").write_text(config(args, sink.url, port))
        env = {**os.environ, **web.proxy_env(), "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"}
        command = [str(Path(sys.executable).parent / "newswatch"), "run", "--log-format", "json"]
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": web.proxy_url}))
        redis_start = int(client.info("memory")["used_memory"])
        usage_start = resource.getrusage(resource.RUSAGE_SELF)
        with (folder / "service.log").open("wb") as log:
            process = subprocess.Popen(
                command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=log
            )
        launched = time.monotonic()
        offset = time.time() - launched  # monotonic -> wall clock
        samples: list[Sample] = []
        cpu: dict[int, float] = {}
        probes: list[float] = []
        lags: list[float] = []
        requests: Counter[str] = Counter()
        cycle = position = 0
        next_sample = launched
        drain_until = launched + duration + args.every + 60
        end_sample: Sample | None = None
        try:
            while (now := time.monotonic()) < drain_until and process.poll() is None:
                while now - launched < duration:  # publish what is due
                    due = launched + warmup + (cycle + position / args.outlets) * args.every
                    if due > now or due - launched >= duration:
                        break
                    lags.append(outlets.publish(position) - offset - due)
                    position += 1
                    if position == args.outlets:
                        cycle, position = cycle + 1, 0
                if now >= next_sample:
                    samples.append(
                        Sample(
                            now - launched, tree_rss(process.pid, cpu) // 1024, rss_kib(process.pid)
                        )
                    )
                    if end_sample is None and now - launched >= duration:
                        end_sample = samples[-1]
                    probes.append(probe(opener))
                    log_now = web.requests
                    web.clear_log()
                    requests.update(
                        "feeds"
                        if r.path == "/rss.xml"
                        else "articles"
                        if r.path.startswith("/news/")
                        else "other"
                        for r in log_now
                        if r.host != PROBE_HOST
                    )
                    next_sample += SAMPLE_EVERY
                    if now - launched >= duration and delivered(sink, outlets):
                        break  # draining, and everything published was delivered
                time.sleep(0.05)
            early = process.poll()
            service_metrics = metrics(port)
            stopped = time.monotonic()
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=90)
        finally:
            if process.poll() is None:
                process.kill()
        usage_end = resource.getrusage(resource.RUSAGE_SELF)
        redis_end = int(client.info("memory")["used_memory"])
        warnings = log_summary(folder / "service.log")
        with (folder / "service.log").open(encoding="utf-8", errors="replace") as log_file:
            log_tail = list(deque(log_file, maxlen=20))
        received = sink.snapshot()

    if early is not None or not samples:
        tail = "".join(log_tail) or "(no log)"
        raise SystemExit(f"the service exited early (code {early}); its log ends:\n{tail}")

    # --- latency ---
    first: dict[tuple[int, int], float] = {}
    copies: Counter[tuple[int, int]] = Counter()
    unknown = 0
    for accepted, article in received:
        if article not in outlets.published:
            unknown += 1
            continue
        assert article is not None
        copies[article] += 1
        first.setdefault(article, accepted - outlets.published[article])
    published = len(outlets.published)
    missing = published - len(first)
    duplicates = sum(n - 1 for n in copies.values())
    latencies = sorted(first.get(a, math.inf) for a in outlets.published)
    p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
    window = 300.0 if duration >= 900 else 60.0
    by_window: dict[int, list[float]] = {}
    for article, at in outlets.published.items():
        by_window.setdefault(int((at - offset - launched) // window), []).append(
            first.get(article, math.inf)
        )

    # --- report ---
    wall = stopped - launched
    print(
        f"soak: {args.outlets} outlets every {args.every}s for {args.minutes:g} min "
        f"(first article {warmup:g}s after launch, then one per outlet per interval, spread evenly); "
        f"stopped at {wall / 60:.1f} min; exit code {code}"
    )
    print(
        f"emails: published {published}, alerted {len(first)}, missing {missing}, "
        f"duplicates {duplicates}, unknown {unknown}"
    )
    print(
        f"latency s (publish -> SMTP accept; missing = never): p50 {seconds(p50)}, "
        f"p95 {seconds(p95)}, max {seconds(latencies[-1] if latencies else math.nan)}"
    )
    print(
        f"p95 by {window / 60:g}-min window of publication (min after launch): "
        + " | ".join(
            f"{w * window / 60:g}-{(w + 1) * window / 60:g}: {seconds(percentile(sorted(v), 0.95))}"
            for w, v in sorted(by_window.items())
        )
    )
    verdict = "PASS" if p95 < limit else "FAIL"
    print(
        f"{verdict}: p95 {seconds(p95)} s {'<' if p95 < limit else '>='} {limit:g} s (interval + {SLACK:g} s)"
    )

    m = service_metrics
    expected = args.outlets * (1 + int(wall // args.every))
    print(
        f"service /metrics: polls ok {m.get('newswatch_polls_total:ok', 0):.0f}, unreachable "
        f"{m.get('newswatch_polls_total:unreachable', 0):.0f} (schedule allows ~{expected}); "
        f"pages {m.get('newswatch_pages_total', 0):.0f}, new articles "
        f"{m.get('newswatch_articles_total', 0):.0f}, alerts {m.get('newswatch_alerts_total', 0):.0f}, "
        f"crawl errors {m.get('newswatch_crawl_errors_total', 0):.0f}; deliveries "
        + ", ".join(
            f"{k.split(':', 1)[1]} {v:.0f}"
            for k, v in m.items()
            if k.startswith("newswatch_deliveries")
        )
        + f"; outbox pending {m.get('newswatch_outbox_pending', 0):.0f}"
    )
    print("service warnings/errors: " + ("; ".join(warnings) if warnings else "none"))

    reference = min(300.0, duration / 2)
    at_ref = next((s for s in samples if s.elapsed >= reference), samples[0])
    end = end_sample or samples[-1]
    peak = max(samples, key=lambda s: s.tree_kib)
    peak_main = max(s.main_kib for s in samples)
    print(
        f"RSS MiB, service process tree [main process alone]: at {at_ref.elapsed / 60:.1f} min "
        f"{at_ref.tree_kib / 1024:.0f} [{at_ref.main_kib / 1024:.0f}], end {end.tree_kib / 1024:.0f} "
        f"[{end.main_kib / 1024:.0f}] at {end.elapsed / 60:.1f} min, peak {peak.tree_kib / 1024:.0f} "
        f"at {peak.elapsed / 60:.1f} min [{peak_main / 1024:.0f}]; end/{reference / 60:g}-min "
        f"{end.tree_kib / at_ref.tree_kib:.2f}x [{end.main_kib / at_ref.main_kib:.2f}x]"
    )
    per_minute = [
        next(s for s in samples if s.elapsed >= t)
        for t in range(60, int(samples[-1].elapsed) + 1, 60)
    ]
    print("RSS MiB each minute (tree): " + " ".join(f"{s.tree_kib / 1024:.0f}" for s in per_minute))
    print(
        f"service tree CPU: {sum(cpu.values()):.0f} s, {sum(cpu.values()) / wall:.2f} cores on average"
    )

    own = (usage_end.ru_utime + usage_end.ru_stime) - (usage_start.ru_utime + usage_start.ru_stime)
    ordered = sorted(probes)
    print(
        f"local web server: {sum(requests.values()) / wall:.1f} req/s on average (feeds "
        f"{requests['feeds']}, articles {requests['articles']}, other {requests['other']}); "
        f"probe feed fetch ms p50 {percentile(ordered, 0.5):.1f}, p95 {percentile(ordered, 0.95):.1f}, "
        f"max {ordered[-1]:.1f}; publication lag s max {max(lags, default=0):.2f}; "
        f"bench process CPU {own / wall:.0%} of a core"
    )
    print(f"Redis used_memory MiB: start {redis_start / 2**20:.2f}, end {redis_end / 2**20:.2f}")
    if verdict == "FAIL":
        raise SystemExit(1)


if __name__ == "__main__":
    main()
