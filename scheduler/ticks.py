"""The outlets' ticks: one APScheduler job per outlet, interval or cron, with jitter.

Kept apart from the run loop because who ticks is a decision of its own: alone on the embedded
store the service always ticks; on Redis only the holder of the schedule's lease does
(``newswatch.scheduler.workers``), and a process that gains or loses the lease adds or drops
these jobs while its delivery and housekeeping jobs run on.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.interval import IntervalTrigger

from newswatch.config import Config

__all__ = ["Ticks"]

PREFIX = "poll:"


class Ticks:
    def __init__(self, scheduler: Any, on_tick: Callable[[str], None]) -> None:
        """``scheduler``: the service's running APScheduler; ``on_tick(outlet)`` runs in one of
        its pool threads at each tick."""
        self.scheduler = scheduler
        self.on_tick = on_tick

    def schedule(self, config: Config) -> None:
        """Add or update every outlet's job; a reload keeps each known outlet's next tick, and
        only new outlets (or all of them, when ticking starts) are polled at once."""
        from apscheduler.triggers.cron import CronTrigger

        now = datetime.now(UTC)
        for job in self.scheduler.get_jobs():
            if job.id.startswith(PREFIX) and job.id.removeprefix(PREFIX) not in config.outlets:
                job.remove()
        for name, outlet in config.outlets.items():
            seconds = outlet.interval.total_seconds()
            jitter = int(min(60, seconds / 10)) or None
            trigger: Any
            if outlet.cron:
                trigger = CronTrigger.from_crontab(outlet.cron, timezone=UTC)
                trigger.jitter = jitter
            else:
                trigger = _PhasedInterval(
                    seconds=seconds,
                    jitter=jitter,
                    timezone=UTC,
                    start_date=self._phase_start(name, seconds, now),
                )
            self.scheduler.add_job(
                self.on_tick,
                trigger,
                args=[name],
                id=PREFIX + name,
                name=f"poll {name}",
                replace_existing=True,
                # interval outlets are polled at once; cron ones at their first firing (None
                # here would add the job paused)
                next_run_time=self._first_run(
                    PREFIX + name, trigger.get_next_fire_time(None, now) if outlet.cron else now
                ),
            )

    def clear(self) -> None:
        """Stop ticking (the lease went to another process)."""
        for job in self.scheduler.get_jobs():
            if job.id.startswith(PREFIX):
                job.remove()

    @property
    def active(self) -> bool:
        return any(job.id.startswith(PREFIX) for job in self.scheduler.get_jobs())

    def next_poll(self, outlet: str) -> datetime | None:
        """When the outlet's next tick is due here (read from the health server's threads)."""
        job = self.scheduler.get_job(PREFIX + outlet) if self.scheduler.running else None
        return job.next_run_time if job is not None else None

    def _phase_start(self, outlet: str, seconds: float, now: datetime) -> datetime:
        """When the outlet's ticks after the first begin: its phase in the interval, kept
        across reloads while the interval stays the same."""
        job = self.scheduler.get_job(PREFIX + outlet)
        trigger = job.trigger if job is not None else None
        if isinstance(trigger, _PhasedInterval) and trigger.interval_length == seconds:
            return trigger.start_date
        return now + timedelta(seconds=seconds * (0.5 + _phase(outlet)))

    def _first_run(self, job_id: str, default: datetime | None) -> datetime | None:
        job = self.scheduler.get_job(job_id)
        return job.next_run_time if job is not None else default


def _phase(outlet: str) -> float:
    """The outlet's place in its interval, in [0, 1): the same at every start and in every
    process, and spread evenly over many outlets."""
    return zlib.crc32(outlet.encode()) / 2**32


class _PhasedInterval(IntervalTrigger):
    """An interval trigger whose first tick (at once) is followed by ``start_date``, then
    every interval: each outlet keeps its own phase within the interval.

    Outlets started together must not be polled together ever after. APScheduler's jitter
    does not spread them (each tick is the previous one plus the interval), and 2,000 outlets
    polled in one burst every interval delayed their alerts by the burst's crawling and
    mailing (bench/README.md, "Soak").
    """

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if previous_fire_time is not None and previous_fire_time < self.start_date:
            previous_fire_time = None  # the first tick came before the phase: go to it
        return super().get_next_fire_time(previous_fire_time, now)
