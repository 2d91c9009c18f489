"""Polls per second with 1, 2 and 3 `newswatch run` processes sharing one Redis.

Many outlets on the local multi-host server are polled every second: more than the processes can
do, so the schedule holder's ticks wait in the queue (one per outlet at most) and what is measured
is how many polls the processes finish. Each run starts a private Redis afresh, waits until every
outlet was polled once (the first poll fetches the articles: not measured), then counts the polls
done in a window, from each process's count in the store. Polls here are mostly one conditional
feed request answered 304: the per-poll overhead, the part that several processes share out.

    python bench/workers.py [--outlets 1000] [--window 20] [--processes 1 2 3]
                            [--polls-in-flight 32]

On one machine the processes share its cores with each other, with the local site and with
Redis: past the number of cores, more processes cannot add polls per second (bench/README.md).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.redis_server import RedisServer
from tests.support.web import MultiHostServer
from tests.workers_site import build_site, start_worker, workers_config


def polls_done(client: redis.Redis) -> dict[str, int]:
    return {
        key.removeprefix("newswatch:worker:"): int(client.hget(key, "polls") or 0)
        for key in client.scan_iter("newswatch:worker:*")
    }


def measure(
    outlets: int, processes: int, window: float, in_flight: int
) -> tuple[float, dict[str, int], float, float, float]:
    """(polls per second, polls per process in the window, CPU seconds of the processes, of
    this process (the local site) and of Redis)."""
    with RedisServer() as server, MultiHostServer() as web:
        build_site(web, outlets)
        folder = Path(tempfile.mkdtemp(prefix="bench-workers-"))
        config = workers_config(
            server.url,
            outlets,
            "1s",
            lease="5s",
            requeue_after="30s",
            polls_in_flight=in_flight,
        )
        (folder / "newswatch.yaml").write_text(config)
        client = redis.Redis.from_url(server.url, decode_responses=True)
        started = [start_worker(folder, web, i) for i in range(processes)]
        try:
            deadline = time.monotonic() + 120
            while (
                sum(polls_done(client).values()) < 2 * outlets
                or len(polls_done(client)) < processes
            ):
                if time.monotonic() > deadline:
                    raise SystemExit(f"the processes did not start: see {folder}")
                time.sleep(0.5)
            before, cpu_before = polls_done(client), _cpu([p.pid for p in started])
            site_before, redis_before = _own_cpu(), _redis_cpu(client)
            time.sleep(window)
            after, cpu_after = polls_done(client), _cpu([p.pid for p in started])
            site_cpu, redis_cpu = _own_cpu() - site_before, _redis_cpu(client) - redis_before
        finally:
            for process in started:
                process.send_signal(signal.SIGTERM)
            for process in started:
                process.wait(timeout=60)
        done = {name: after[name] - before.get(name, 0) for name in after}
        return sum(done.values()) / window, done, cpu_after - cpu_before, site_cpu, redis_cpu


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def _redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _cpu(pids: list[int]) -> float:
    """User + system CPU seconds of the processes so far (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outlets", type=int, default=1000)
    parser.add_argument("--window", type=float, default=20.0, help="seconds measured")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument(
        "--polls-in-flight", type=int, default=32, help="workers.polls_in_flight of each process"
    )
    args = parser.parse_args()
    print(
        f"{os.cpu_count()} cores; {args.outlets} outlets every 1s; {args.window:.0f}s measured; "
        f"workers.polls_in_flight {args.polls_in_flight}"
    )
    print("CPU in cores: the newswatch processes / the local site (this process) / Redis")
    print("processes  polls/s  CPU newswatch  site  Redis  load(1m)  polls per process")
    for n in args.processes:
        rate, done, cpu, site, red = measure(args.outlets, n, args.window, args.polls_in_flight)
        spread = ", ".join(str(count) for _, count in sorted(done.items()))
        w = args.window
        load = os.getloadavg()[0]  # the machine's, other work included
        print(
            f"{n:9d}  {rate:7.1f}  {cpu / w:13.2f}  {site / w:4.2f}  {red / w:5.2f}  "
            f"{load:8.2f}  {spread}"
        )


if __name__ == "__main__":
    main()
