"""Poll-cycle benchmark: many outlets on the local multi-host server, polled by `newswatch run --once`.

Phases, each one `newswatch run --once` over every outlet:

  cold       every feed and article is new (seeds the store)
  baseline   nothing changed, the server ignores validators: every feed answers 200 in full
  unchanged  nothing changed, conditional GET: every feed answers 304
  one-new    one new article in every outlet's feed

Reported: seconds per poll cycle, requests made, and the ratios unchanged/baseline and
one-new/baseline, all measured in the same run. Usage:

    python bench/poll_outlets.py [--outlets 1000] [--store redis://127.0.0.1:6379/15]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.web import MultiHostServer

ARTICLE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta property="article:published_time" content="{published}"></head><body>
<nav><a href="/">Home</a></nav><article><h1>{title}</h1>
<p>{title}. Officials said the talks would resume next week after a pause of several days,
according to a statement published on Thursday by the ministry of foreign affairs.</p>
<p>Analysts expect the negotiations to focus on trade, energy prices and border crossings.</p>
</article><footer>All rights reserved.</footer></body></html>"""


def host(i: int) -> str:
    return f"outlet{i:05d}.bench.test"


def publish(web: MultiHostServer, i: int, articles: int, with_etag: bool) -> None:
    site = web.site(host(i))
    now = datetime.now(UTC)
    items = []
    for n in range(articles):
        path = f"/news/{n}.html"
        published = now - timedelta(minutes=n)
        title = f"Outlet {i} story {n} on trade talks" + (
            " in Palmyra" if n == 0 and i % 10 == 0 else ""
        )
        site.add(path, ARTICLE.format(title=title, published=published.isoformat()))
        items.append(
            f"<item><title>{title}</title><link>http://{host(i)}{path}</link>"
            f"<pubDate>{format_datetime(published)}</pubDate></item>"
        )
    feed = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        + "".join(reversed(items))
        + "</channel></rss>"
    )
    headers = (
        {"ETag": '"' + hashlib.sha1(feed.encode()).hexdigest()[:16] + '"'} if with_etag else {}
    )
    site.add("/rss.xml", feed, content_type="application/rss+xml", headers=headers)


def config(outlets: int, store: str | None) -> str:
    lines = [f"store: {store}" if store else "# embedded store", "outlets:"]
    for i in range(outlets):
        lines += [
            f"  o{i}:",
            f"    domains: [{host(i)}]",
            "    scheme: http",
            "    feeds: [/rss.xml]",
        ]
    lines += [
        "watches:",
        "  palmyra: {query: 'Palmyra OR Tadmur', notify: [log]}",
        "channels:",
        "  log: {type: console}",
    ]
    return "\n".join(lines) + "\n"


def run_once(folder: Path, web: MultiHostServer) -> tuple[float, int, int]:
    web.clear_log()
    env = {**os.environ, **web.proxy_env()}
    command = [str(Path(sys.executable).parent / "newswatch"), "run", "--once"]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-3000:])
        raise SystemExit(f"run --once exited {done.returncode}")
    requests = [r for r in web.requests if r.path != "/robots.txt"]
    return seconds, len(requests), sum(1 for r in requests if r.path.startswith("/news/"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outlets", type=int, default=1000)
    parser.add_argument("--articles", type=int, default=3, help="articles per feed at the start")
    parser.add_argument("--store", default=None, help="redis:// URL (default: embedded store)")
    args = parser.parse_args()

    with MultiHostServer() as web, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "newswatch.yaml").write_text(config(args.outlets, args.store))
        if args.store:
            import redis

            redis.Redis.from_url(args.store).flushdb()
        for i in range(args.outlets):
            publish(web, i, args.articles, with_etag=True)
        results: dict[str, tuple[float, int, int]] = {}
        results["cold"] = run_once(folder, web)
        for i in range(args.outlets):  # same content, no validators: every poll is a full 200
            publish(web, i, args.articles, with_etag=False)
        results["baseline"] = run_once(folder, web)
        for i in range(args.outlets):
            publish(web, i, args.articles, with_etag=True)
        run_once(folder, web)  # the feeds' new ETags are learned here
        results["unchanged"] = run_once(folder, web)
        for i in range(args.outlets):
            publish(web, i, args.articles + 1, with_etag=True)
        results["one-new"] = run_once(folder, web)

    base = results["baseline"][0]
    print(f"{args.outlets} outlets, store: {args.store or 'embedded'}")
    print(f"{'phase':<10} {'seconds':>8} {'requests':>9} {'articles':>9} {'vs baseline':>12}")
    for phase, (seconds, requests, articles) in results.items():
        print(f"{phase:<10} {seconds:8.1f} {requests:9d} {articles:9d} {seconds / base:11.2f}x")


if __name__ == "__main__":
    main()
