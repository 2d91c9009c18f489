"""The outlets' ticks (``newswatch.scheduler.ticks``) on a real APScheduler: polled at once on
start, then each outlet at its own phase of the interval, so outlets started together are not
polled in one burst every interval after."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from newswatch.config import Config, load_config
from newswatch.scheduler.ticks import Ticks


def _config(tmp_path: Path, outlets: int, every: str = "120s") -> Config:
    path = tmp_path / "newswatch.yaml"
    lines = ["outlets:"]
    lines += [
        f"  o{i}: {{domains: [o{i}.example], feeds: [/rss], every: {every}}}"
        for i in range(outlets)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_config(path).config


@pytest.fixture
def scheduler() -> Iterator[BackgroundScheduler]:
    running = BackgroundScheduler(timezone=UTC)
    running.start(paused=True)  # jobs are added and their times worked out; none runs
    yield running
    running.shutdown(wait=False)


def test_outlets_are_polled_at_once_then_spread_over_their_interval(
    tmp_path: Path, scheduler: BackgroundScheduler
) -> None:
    ticks = Ticks(scheduler, on_tick=lambda outlet: None)
    started = datetime.now(UTC)
    ticks.schedule(_config(tmp_path, 200))
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert len(jobs) == 200
    assert all(job.next_run_time <= started + timedelta(seconds=1) for job in jobs.values())

    # the tick after the first: half an interval to one and a half, spread evenly
    second = [
        job.trigger.get_next_fire_time(job.next_run_time, job.next_run_time) - started
        for job in jobs.values()
    ]
    seconds = sorted(s.total_seconds() for s in second)
    assert seconds[0] >= 60 - 1 and seconds[-1] <= 180 + 12 + 1  # jitter: up to 12 s
    quarters = [sum(60 + 30 * q <= s < 60 + 30 * (q + 1) for s in seconds) for q in range(4)]
    assert min(quarters) >= 30, quarters  # 50 each if perfectly even

    # and from then on every interval (plus its jitter)
    job = jobs["poll:o7"]
    first_after = job.trigger.get_next_fire_time(job.next_run_time, job.next_run_time)
    then = job.trigger.get_next_fire_time(first_after, first_after)
    assert timedelta(seconds=120) <= then - first_after <= timedelta(seconds=132)


def test_a_reload_keeps_each_outlets_phase(tmp_path: Path, scheduler: BackgroundScheduler) -> None:
    ticks = Ticks(scheduler, on_tick=lambda outlet: None)
    ticks.schedule(_config(tmp_path, 3))
    phases = {job.id: job.trigger.start_date for job in scheduler.get_jobs()}
    ticks.schedule(_config(tmp_path, 4))  # one outlet more
    after = {job.id: job.trigger.start_date for job in scheduler.get_jobs()}
    assert {k: after[k] for k in phases} == phases
    ticks.schedule(_config(tmp_path, 4, every="60s"))  # another interval: another phase
    assert all(job.trigger.start_date != phases.get(job.id) for job in scheduler.get_jobs())
