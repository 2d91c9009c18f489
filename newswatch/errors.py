"""The one error hierarchy of newswatch.

NewswatchError                 root: every expected failure; the CLI prints it without a traceback
├── ConfigError                the config file is unreadable or invalid (exit 2), with file and line;
│                              one error carries every problem found, so one run shows them all
├── UsageError                 a command names what does not exist or cannot be acted on (exit 2)
├── StoreError                 the state store cannot be reached or used
├── CrawlError                 the crawl itself could not run (Scrapy refused to start it)
├── QuerySyntaxError           a watch query does not parse (column given); surfaces as ConfigError
├── TemplateError              a template is missing or does not render
└── DeliveryError              a channel did not accept an alert (it stays pending)
    ├── PermanentDeliveryError the server refused it for good (bad recipient, 4xx webhook)
    ├── ChannelDown            the server did not answer: the channel's other alerts wait too
    └── PartialRefusal         an email reached some recipients: the others are kept
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ChannelDown",
    "ConfigError",
    "CrawlError",
    "DeliveryError",
    "NewswatchError",
    "PartialRefusal",
    "PermanentDeliveryError",
    "QuerySyntaxError",
    "StoreError",
    "TemplateError",
    "UsageError",
]


class NewswatchError(Exception):
    """Root of every failure newswatch expects and reports in one line."""


class ConfigError(NewswatchError):
    """The config is refused; the message is ``file:line: reason`` when the line is known."""

    def __init__(self, reason: str, *, file: str | None = None, line: int | None = None) -> None:
        self.reason = reason
        self.file = file
        self.line = line
        self.problems: tuple[ConfigError, ...] = (self,)
        where = file or ""
        if file and line:
            where = f"{file}:{line}"
        super().__init__(f"{where}: {reason}" if where else reason)

    @classmethod
    def combine(cls, problems: Sequence[ConfigError]) -> ConfigError:
        """One error for several problems, in file order: a file with four mistakes is fixed
        after one run, not four. Its ``file``, ``line`` and ``reason`` are those of the first;
        its text is one line per problem."""
        ordered = sorted(problems, key=lambda p: p.line or 0)
        if len(ordered) == 1:
            return ordered[0]
        first = ordered[0]
        combined = cls(first.reason, file=first.file, line=first.line)
        combined.problems = tuple(ordered)
        combined.args = ("\n".join(str(p) for p in ordered),)
        return combined


class UsageError(NewswatchError):
    """The command line names an alert, channel or watch that does not exist, or one it must not
    act on (``discard`` of a channel still in the config): exit 2, nothing changed."""


class StoreError(NewswatchError):
    """The state store (Redis or the embedded one) failed."""


class CrawlError(NewswatchError):
    """The crawl did not run at all: no outlet was polled (each outlet's own failures are
    results, not this)."""


class QuerySyntaxError(NewswatchError):
    """A watch query does not parse; ``column`` is 1-based within the query text."""

    def __init__(self, message: str, column: int) -> None:
        self.message = message
        self.column = column
        super().__init__(f"column {column}: {message}")


class TemplateError(NewswatchError):
    """A template is missing or fails to render."""


class DeliveryError(NewswatchError):
    """A channel did not accept an alert; it stays pending and is retried."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds the server asked us to wait (HTTP Retry-After)


class PermanentDeliveryError(DeliveryError):
    """A channel refused an alert in a way retrying cannot fix."""


class ChannelDown(DeliveryError):
    """The channel's server did not answer (refused, unreachable, silent past the deadline): its
    other alerts in this run are put off too instead of each waiting out the same failure."""


class PartialRefusal(DeliveryError):
    """Some recipients of an email accepted the alert and ``refused`` did not: only those are
    tried again (or, when every refusal was permanent, the entry is dead-lettered for them)."""

    def __init__(self, message: str, refused: tuple[str, ...], permanent: bool) -> None:
        super().__init__(message)
        self.refused = refused
        self.permanent = permanent
