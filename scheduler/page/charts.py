"""The page's two small charts as data: the 24-hour strip of an outlet's polls and the 30-day
bars of a watch's alerts. Templates draw them as inline SVG, so the page needs no script and no
second request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["Bar", "Cell", "daily_bars", "poll_strip"]

STRIP_CELLS = 96  # 15 minutes each
_WORST = {"unreachable": 3, "mirror": 2, "ok": 1}


@dataclass(frozen=True)
class Cell:
    """One slot of the strip: the worst outcome of its polls (``none``: no poll then)."""

    start: datetime
    outcome: str
    polls: int


@dataclass(frozen=True)
class Bar:
    day: str  # YYYY-MM-DD (UTC)
    count: int
    height: float  # 0..1 of the tallest bar


def poll_strip(history: list[tuple[float, str]], now: datetime) -> list[Cell]:
    """The last 24 hours in STRIP_CELLS slots, oldest first. A slot shows its worst poll: one
    unreachable poll in a quarter hour is what an analyst needs to see."""
    width = timedelta(hours=24) / STRIP_CELLS
    start = now - timedelta(hours=24)
    worst: list[str] = ["none"] * STRIP_CELLS
    polls = [0] * STRIP_CELLS
    for at, outcome in history:
        index = int((datetime.fromtimestamp(at, UTC) - start) / width)
        if 0 <= index < STRIP_CELLS:
            polls[index] += 1
            if _WORST.get(outcome, 0) > _WORST.get(worst[index], 0):
                worst[index] = outcome
    return [Cell(start + i * width, worst[i], polls[i]) for i in range(STRIP_CELLS)]


def daily_bars(moments: list[float], now: datetime, days: int) -> list[Bar]:
    """Alerts per UTC day for the last ``days`` days, today last."""
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    counts = [0] * days
    for moment in moments:
        index = (datetime.fromtimestamp(moment, UTC).date() - first).days
        if 0 <= index < days:
            counts[index] += 1
    tallest = max(counts) or 1
    return [
        Bar((first + timedelta(days=i)).isoformat(), count, count / tallest)
        for i, count in enumerate(counts)
    ]
