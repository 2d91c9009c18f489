"""Redis memory per remembered article: one string per URL (before) against per-outlet tries of hashes.

Remembering what was seen is the store's largest state: 10,000 outlets x 100 articles a day x
30 days of retention is 30 million articles. This writes N articles into a flushed Redis database
twice, in the same command, and measures each layout:

  old   what RedisStore.mark_seen wrote before: ``SET newswatch:seen:<canonical URL> <version>
        EX <retention>``, one command per article, written directly by this script
  new   RedisStore.mark_seen(outlet, url, version) itself: per outlet, a trie of small hashes
        (8-byte URL digest -> 11-byte seen time and version), each kept a listpack

and reports, per remembered article: the sum of ``MEMORY USAGE <key> SAMPLES 0`` over
``SCAN MATCH newswatch:seen*`` (exact for every key, unaffected by other databases), and the
growth of ``INFO memory used_memory`` (server-wide: includes the expiry table and allocator
rounding, and other clients of the same server can disturb it), with new/old ratios. It also
times one write and one lookup (a hit) per article as the service does them: one round trip
each, no pipelining.

Outlets are named like config keys; URLs look like real canonical article URLs (80-120
characters: host, section, date, slug, id), from a seeded generator. "versions: yes" gives every
article a feed updated time (``version_of``), "no" gives none ("").

``--steady SECONDS`` adds the steady state the fresh writes above cannot show: articles keep
arriving for three retentions (of SECONDS, standing in for 30 days), so nodes split, age and are
swept as in service, and memory is counted per article still within retention.

Usage (from the repository root, in the project's virtualenv; the database is flushed):

    python bench/store_memory.py [--redis redis://127.0.0.1:6379/13 | --private]
                                 [--shapes 300x100,30x3000]
                                 [--steady 60 [--steady-outlets 4] [--steady-live 3000]]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from newswatch.article import version_of
from newswatch.store.redis import RedisStore
from tests.support.redis_server import RedisServer

RETENTION = timedelta(days=30)
PATTERN = "newswatch:seen*"
SECTIONS = ["world", "politics", "business", "middle-east", "europe", "sport", "culture", "tech"]
SLUG_WORDS = " ".join(
    [
        "minister says talks on border crossing will resume after ceasefire holds for third day",
        "as aid convoys reach the city and officials warn of shortages in hospitals across region",
        "parliament votes budget protest police arrest opposition leader election court ruling",
    ]
).split()


@dataclass(frozen=True)
class Remembered:
    outlet: str
    url: str
    version: str


@dataclass(frozen=True)
class Measured:
    keys: int
    usage: int  # sum of MEMORY USAGE over the seen keys
    used_memory: int  # growth of INFO used_memory
    write_us: float  # wall time per call, round trip included
    lookup_us: float
    write_redis_us: float  # Redis's own time per call (INFO commandstats)
    lookup_redis_us: float


def articles(outlets: int, per_outlet: int, versions: bool, seed: int = 7) -> list[Remembered]:
    rng = random.Random(seed)
    found = []
    for o in range(outlets):
        outlet = f"outlet-{o:04d}"
        host = f"https://www.{rng.choice(['daily', 'news', 'times', 'post'])}{o:04d}.example"
        for n in range(per_outlet):
            day = datetime(2026, rng.randint(1, 11), rng.randint(1, 28), tzinfo=UTC)
            head = f"{host}/{rng.choice(SECTIONS)}/{day:%Y/%m/%d}/"
            tail = f"-{rng.randrange(10**6, 10**7)}{n}.html"
            target = rng.randint(80, 120)
            slug = [rng.choice(SLUG_WORDS)]
            while len(head) + len("-".join(slug)) + len(tail) < target:
                slug.append(rng.choice(SLUG_WORDS))
            url = head + "-".join(slug) + tail
            updated = day + timedelta(seconds=rng.randrange(86400)) if versions else None
            found.append(Remembered(outlet, url, version_of(updated)))
    return found


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def command_usec(client: redis.Redis, command: str) -> tuple[int, int]:
    """(calls, microseconds) Redis has spent on ``command`` since its stats were last reset."""
    stats = client.info("commandstats").get(f"cmdstat_{command}", {})
    return int(stats.get("calls", 0)), int(stats.get("usec", 0))


def redis_us(client: redis.Redis, command: str, since: tuple[int, int]) -> float:
    calls, usec = command_usec(client, command)
    return (usec - since[1]) / max(1, calls - since[0])


def measure(
    client: redis.Redis,
    write: Callable[[Remembered], object],
    lookup: Callable[[Remembered], object],
    remembered: list[Remembered],
    commands: tuple[str, str],
) -> Measured:
    """``commands``: what Redis runs for a write and a lookup, for their share of commandstats
    (deltas, never a reset: the server may be shared)."""
    client.flushdb()
    before = used_memory(client)
    since = command_usec(client, commands[0])
    started = time.perf_counter()
    for article in remembered:
        write(article)
    write_us = (time.perf_counter() - started) / len(remembered) * 1e6
    write_redis_us = redis_us(client, commands[0], since)
    grown = used_memory(client) - before
    usage = 0
    keys = 0
    for key in client.scan_iter(match=PATTERN, count=1000):
        usage += int(client.memory_usage(key, samples=0) or 0)
        keys += 1
    sample = random.Random(11).sample(remembered, min(5000, len(remembered)))
    since = command_usec(client, commands[1])
    started = time.perf_counter()
    for article in sample:
        if lookup(article) != article.version:
            raise SystemExit(f"lost: {article}")
    lookup_us = (time.perf_counter() - started) / len(sample) * 1e6
    lookup_redis_us = redis_us(client, commands[1], since)
    return Measured(keys, usage, grown, write_us, lookup_us, write_redis_us, lookup_redis_us)


def node_shape(client: redis.Redis) -> str:
    """How the new layout's keys look: hashes by encoding, markers, fullest node, deepest path."""
    encodings: dict[str, int] = {}
    markers = 0
    fullest = 0
    deepest = 0
    for key in client.scan_iter(match=PATTERN, count=1000):
        kind = client.type(key)
        deepest = max(deepest, len(key.rpartition(":")[2]))
        if kind == "string":
            markers += 1
            continue
        encoding = client.object("encoding", key)
        encodings[encoding] = encodings.get(encoding, 0) + 1
        fullest = max(fullest, int(client.hlen(key)))
    hashes = ", ".join(f"{n} {encoding}" for encoding, n in sorted(encodings.items()))
    return f"hashes: {hashes}; markers: {markers}; fullest hash: {fullest}; deepest: {deepest} bits"


def run(url: str, outlets: int, per_outlet: int) -> None:
    client = redis.Redis.from_url(url, decode_responses=True)
    store = RedisStore.from_url(url, RETENTION)
    total = outlets * per_outlet
    ttl = int(RETENTION.total_seconds())
    print(
        f"\n{outlets} outlets x {per_outlet} articles = {total:,} remembered articles, "
        f"retention {RETENTION.days} days; trie nodes of at most {store.node_articles} articles"
    )
    print(
        f"{'':<32}{'':>9}{'':>7}{'B/article':^25}{'us per call, wall':^20}{'us per call, Redis':^20}"
    )
    print(
        f"{'layout':<32}{'versions':>9}{'keys':>7}{'MEMORY USAGE':>13}{'used_memory':>12}"
        f"{'write':>10}{'lookup':>10}{'write':>10}{'lookup':>10}"
    )
    for versions in (False, True):
        remembered = articles(outlets, per_outlet, versions)
        store.seen_version("warm-up", "https://example.com/")  # load the scripts first
        old = measure(
            client,
            lambda a: client.set(f"newswatch:seen:{a.url}", a.version, ex=ttl),
            lambda a: client.get(f"newswatch:seen:{a.url}"),
            remembered,
            ("set", "get"),
        )
        new = measure(
            client,
            lambda a: store.mark_seen(a.outlet, a.url, a.version),
            lambda a: store.seen_version(a.outlet, a.url),
            remembered,
            ("evalsha", "evalsha"),
        )
        shape = node_shape(client)
        label = "yes" if versions else "no"
        for name, m in (
            ("old: string per URL + TTL", old),
            ("new: per-outlet trie of hashes", new),
        ):
            print(
                f"{name:<32}{label:>9}{m.keys:>7}{m.usage / total:>13.1f}"
                f"{m.used_memory / total:>12.1f}{m.write_us:>10.1f}{m.lookup_us:>10.1f}"
                f"{m.write_redis_us:>10.1f}{m.lookup_redis_us:>10.1f}"
            )
        print(
            f"{'ratio new/old':<32}{label:>9}{'':>7}{new.usage / old.usage:>13.3f}"
            f"{new.used_memory / old.used_memory:>12.3f}{new.write_us / old.write_us:>10.2f}"
            f"{new.lookup_us / old.lookup_us:>10.2f}{new.write_redis_us / old.write_redis_us:>10.2f}"
            f"{new.lookup_redis_us / old.lookup_redis_us:>10.2f}"
        )
        print(f"  new layout {shape}")
    client.flushdb()
    client.close()
    store.close()


def steady(url: str, outlets: int, live: int, seconds: float) -> None:
    """Articles arrive at a constant rate for three retentions, so nodes split, age and get swept
    as in service; then memory is counted per article still within retention.

    Retention is ``seconds`` instead of 30 days (the Redis clock cannot be sped up); what matters,
    writes to a node per retention, is the same as in service when an outlet has ``live``
    articles within retention.
    """
    client = redis.Redis.from_url(url, decode_responses=True)
    client.flushdb()
    store = RedisStore(client, timedelta(seconds=seconds), node_articles=_node_articles(url))
    pool = articles(outlets, live * 4, versions=True)
    by_outlet = [pool[o * live * 4 : (o + 1) * live * 4] for o in range(outlets)]
    interval = seconds / live  # per outlet
    started = time.time()
    written: list[float] = []
    n = 0
    while n < live * 3:
        due = started + n * interval
        if due > time.time():
            time.sleep(due - time.time())
        for o in range(outlets):
            article = by_outlet[o][n]
            store.mark_seen(article.outlet, article.url, article.version)
        written.append(time.time())
        n += 1
    now = time.time()
    remembered = outlets * sum(1 for at in written if now - at < seconds)
    usage = 0
    stored = 0
    for key in client.scan_iter(match=PATTERN, count=1000):
        usage += int(client.memory_usage(key, samples=0) or 0)
        if client.type(key) == "hash":
            stored += int(client.hlen(key))
    print(
        f"\nsteady state: {outlets} outlets, {live:,} articles each within a retention of "
        f"{seconds:g} s, written evenly for {now - started:.0f} s\n"
        f"  remembered {remembered:,}; entries stored {stored:,} ({stored / remembered:.2f} per "
        f"remembered article); MEMORY USAGE {usage / remembered:.1f} B per remembered article"
    )
    print(f"  {node_shape(client)}")
    client.flushdb()
    store.close()


def _node_articles(url: str) -> int:
    store = RedisStore.from_url(url, RETENTION)
    found = store.node_articles
    store.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--redis", default="redis://127.0.0.1:6379/13", help="a database this may flush"
    )
    parser.add_argument(
        "--private",
        action="store_true",
        help="start a throw-away redis-server (default config) instead: used_memory and"
        " commandstats then see this script alone",
    )
    parser.add_argument(
        "--shapes",
        default="300x100,30x3000",
        help="OUTLETSxARTICLES, comma separated: 30x3000 is one month of 100 articles a day",
    )
    parser.add_argument(
        "--steady",
        type=float,
        default=0,
        metavar="SECONDS",
        help="also run the steady state with this retention (60 gives 3 minutes)",
    )
    parser.add_argument("--steady-outlets", type=int, default=4)
    parser.add_argument("--steady-live", type=int, default=3000)
    args = parser.parse_args()
    if args.private:
        with RedisServer() as server:
            args.redis = server.url
            bench(args)
    else:
        bench(args)


def bench(args: argparse.Namespace) -> None:
    client = redis.Redis.from_url(args.redis, decode_responses=True)
    server = client.info("server")["redis_version"]
    limit = client.config_get("hash-max-listpack-entries")
    client.close()
    print(f"Redis {server} at {args.redis}; server hash-max-listpack-entries: {limit}")
    for shape in args.shapes.split(","):
        outlets, per_outlet = (int(part) for part in shape.lower().split("x"))
        run(args.redis, outlets, per_outlet)
    if args.steady:
        steady(args.redis, args.steady_outlets, args.steady_live, args.steady)


if __name__ == "__main__":
    main()
