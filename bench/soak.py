"""Soak benchmark: `newswatch run` polling N outlets every S seconds for M minutes.

The outlets live on the local multi-host server (in this process); every outlet gets a new
article every two minutes. Measured: the service's resident memory (sampled every 5 s: at one
minute, at the end, and the peak), Redis memory (`used_memory`) at the start and the end, and
the polls completed (from /metrics). Growth is reported as end / one-minute ratios, so a leak
shows as a ratio well above 1.

    python bench/soak.py [--outlets 200] [--every 10] [--minutes 10] [--redis redis://127.0.0.1:6379/14]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.poll_outlets import host, publish
from tests.support.web import MultiHostServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def polls(port: int) -> float:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        text = opener.open(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except OSError:
        return 0.0
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("newswatch_polls_total")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outlets", type=int, default=200)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14", help="flushed first")
    args = parser.parse_args()

    client = redis.Redis.from_url(args.redis)
    client.flushdb()
    port = free_port()
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
        "  palmyra: {query: 'Palmyra OR Tadmur', notify: [log]}",
        "channels:",
        "  log: {type: console}",
        "service:",
        f"  listen: 127.0.0.1:{port}",
    ]
    with MultiHostServer() as web, tempfile.TemporaryDirectory() as tmp:
        for i in range(args.outlets):
            publish(web, i, 2, with_etag=True)
        Path(tmp, "newswatch.yaml").write_text("\n".join(lines) + "\n")
        env = {**os.environ, **web.proxy_env(), "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"}
        command = [str(Path(sys.executable).parent / "newswatch"), "run", "--log-format", "json"]
        redis_start = int(client.info("memory")["used_memory"])
        process = subprocess.Popen(
            command, cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        started = time.monotonic()
        samples: list[tuple[float, int]] = []
        articles = 2
        next_article = started + 120
        try:
            while (elapsed := time.monotonic() - started) < args.minutes * 60:
                time.sleep(5)
                samples.append((elapsed, rss_kib(process.pid)))
                if time.monotonic() >= next_article:
                    articles += 1
                    for i in range(args.outlets):
                        publish(web, i, articles, with_etag=True)
                    next_article += 120
            done_polls = polls(port)
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
        redis_end = int(client.info("memory")["used_memory"])

    at_minute = next((rss for t, rss in samples if t >= 60), samples[0][1])
    end = samples[-1][1]
    peak = max(rss for _, rss in samples)
    expected = args.outlets * args.minutes * 60 / args.every
    print(f"{args.outlets} outlets every {args.every}s for {args.minutes} min; exit code {code}")
    print(f"polls completed: {done_polls:.0f} (schedule allows {expected:.0f})")
    print(
        f"RSS MiB: at 1 min {at_minute / 1024:.1f}, end {end / 1024:.1f}, peak {peak / 1024:.1f}; end/1-min {end / at_minute:.2f}x"
    )
    print(f"Redis used_memory MiB: start {redis_start / 2**20:.2f}, end {redis_end / 2**20:.2f}")


if __name__ == "__main__":
    main()
