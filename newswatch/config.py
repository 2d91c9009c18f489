"""The config file as a typed model (SPEC §1), and loading it with errors that name file and line.

Validation that needs no stage lives here: types, unknown keys, durations and sizes, regexes,
cron strings, and references from watches to outlets and channels. Checks that need a stage
(query syntax, templates) are run by the command line through :meth:`LoadedConfig.error`, so they
report the same way.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from newswatch import __version__
from newswatch.errors import ConfigError
from newswatch.listen import is_loopback, split_listen
from newswatch.redact import redact_url
from newswatch.yamlsource import Located, read_yaml

__all__ = [
    "DEFAULT_USER_AGENT",
    "Channel",
    "Config",
    "ConsoleChannel",
    "EmailChannel",
    "LoadedConfig",
    "Outlet",
    "Watch",
    "WebhookChannel",
    "find_config_path",
    "load_config",
    "parse_duration",
    "parse_size",
]

DEFAULT_USER_AGENT = f"newswatch/{__version__} (+https://github.com/newswatch/newswatch)"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$"
)
_DIGEST = re.compile(r"^(immediate|hourly|daily@([01]\d|2[0-3]):[0-5]\d)$")


def parse_duration(value: Any) -> timedelta:
    """``30d``, ``10m``, ``20s``, ``1.5h``; a bare number means seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        found = _DURATION.match(value)
        if found:
            return timedelta(seconds=float(found.group(1)) * _DURATION_UNITS[found.group(2)])
    raise ValueError(f"not a duration: {value!r} (write e.g. 30s, 10m, 6h, 30d)")


def parse_size(value: Any) -> int:
    """``5MB`` (10^6 bytes), ``512KiB``; a bare number means bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        found = _SIZE.match(value)
        if found:
            unit = (found.group(2) or "b").lower()
            return int(float(found.group(1)) * _SIZE_UNITS[unit])
    raise ValueError(f"not a size: {value!r} (write e.g. 512KB, 5MB)")


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CrawlSettings(_Model):
    user_agent: str = DEFAULT_USER_AGENT
    obey_robots: bool = True
    timeout: Duration = timedelta(seconds=20)
    max_page_size: Size = 5_000_000
    concurrency: int = Field(default=32, ge=1, le=1024)
    mirror_cooldown: Duration = timedelta(minutes=10)  # a failed domain rests, doubling to 6 h
    # article fetches per outlet per poll, newest first: a feed of 100,000 items must not make
    # one poll endless; what is left stays unseen and is fetched by the next polls
    max_articles_per_poll: int = Field(default=500, ge=1)
    # a poll still running after this is cut short: what it found counts, the rest is dropped
    poll_timeout: Duration = timedelta(minutes=10)


class Outlet(_Model):
    domains: list[str] = Field(min_length=1)
    scheme: Literal["http", "https"] = "https"
    feeds: list[str] = []
    sitemaps: list[str] = []
    pages: list[str] = []
    articles: str | None = None
    every: Duration | None = None
    cron: str | None = None
    language: str | None = None

    @field_validator("domains")
    @classmethod
    def _domains(cls, domains: list[str]) -> list[str]:
        cleaned = [d.strip().lower().rstrip(".") for d in domains]
        for domain in cleaned:
            if not _DOMAIN.match(domain):
                raise ValueError(f"not a domain name: {domain!r} (no scheme, no path)")
        if len(set(cleaned)) != len(cleaned):
            raise ValueError("a domain is listed twice")
        return cleaned

    @field_validator("feeds", "sitemaps", "pages")
    @classmethod
    def _locations(cls, locations: list[str]) -> list[str]:
        for location in locations:
            if location.startswith("/"):
                continue
            parts = urlsplit(location)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"{location!r} is neither a path (/rss.xml) nor an absolute URL")
        return locations

    @field_validator("articles")
    @classmethod
    def _regex(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regex {pattern!r}: {exc}") from None
        return pattern

    @field_validator("cron")
    @classmethod
    def _cron(cls, expression: str | None) -> str | None:
        if expression is not None:
            try:
                CronTrigger.from_crontab(expression)
            except ValueError as exc:
                raise ValueError(f"invalid cron {expression!r}: {exc}") from None
        return expression

    @model_validator(mode="after")
    def _schedule(self) -> Outlet:
        if self.every is not None and self.cron is not None:
            raise ValueError("give either every or cron, not both")
        if not (self.feeds or self.sitemaps or self.pages):
            raise ValueError("an outlet needs at least one of feeds, sitemaps, pages")
        return self

    @property
    def interval(self) -> timedelta:
        """How often the outlet is polled: ``every`` (default 10 min), or a cron's next gap."""
        if self.cron:
            trigger = CronTrigger.from_crontab(self.cron, timezone=UTC)
            first = trigger.get_next_fire_time(None, datetime.now(UTC))
            second = (
                trigger.get_next_fire_time(first, first + timedelta(seconds=1)) if first else None
            )
            if first and second:
                return second - first
        return self.every or timedelta(minutes=10)


class Watch(_Model):
    query: str = Field(min_length=1)
    outlets: list[str] | None = None
    notify: list[str] = Field(min_length=1)
    digest: str = "immediate"

    @field_validator("digest")
    @classmethod
    def _digest(cls, digest: str) -> str:
        if not _DIGEST.match(digest):
            raise ValueError(f"digest must be immediate, hourly or daily@HH:MM, not {digest!r}")
        return digest


class EmailChannel(_Model):
    type: Literal["email"]
    to: list[str] = Field(min_length=1)
    from_: str = Field(alias="from")
    smtp: str

    @field_validator("smtp")
    @classmethod
    def _smtp(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(
                f"smtp must look like smtp://host:587 or smtps://host:465, not {redact_url(url)!r}"
            )
        return url


class WebhookChannel(_Model):
    type: Literal["webhook"]
    url: str
    secret: str | None = None
    format: Literal["json", "slack", "discord"] = "json"

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"webhook url must be http(s)://..., not {redact_url(url, hide_path=True)!r}"
            )
        return url


class ConsoleChannel(_Model):
    type: Literal["console"]


Channel = Annotated[EmailChannel | WebhookChannel | ConsoleChannel, Field(discriminator="type")]


class DeliverySettings(_Model):
    """How long delivery may take, so one silent server never holds the others back."""

    timeout: Duration = timedelta(seconds=60)  # one send: connect and the whole exchange
    run_timeout: Duration = timedelta(minutes=4)  # one delivery run; what is left stays pending


class SentrySettings(_Model):
    dsn: str = ""
    environment: str = "production"


class ServiceSettings(_Model):
    listen: str = "127.0.0.1:8787"
    # A token: ``Authorization: Bearer <auth>``, or basic auth whose password (or whole
    # ``user:password``) is it. Required off loopback: the page shows every alert.
    auth: str = ""

    @model_validator(mode="after")
    def _auth_off_loopback(self) -> ServiceSettings:
        host, _ = split_listen(self.listen)
        if not self.auth and not is_loopback(host):
            raise ValueError(
                f"listen {self.listen!r} is not a loopback address: set service.auth "
                "(e.g. auth: ${NEWSWATCH_TOKEN}) so the page asks for it"
            )
        return self


class Config(_Model):
    store: str | None = None
    retention: Duration = timedelta(days=30)
    max_age: Duration = timedelta(days=3)
    crawl: CrawlSettings = CrawlSettings()
    delivery: DeliverySettings = DeliverySettings()
    outlets: dict[str, Outlet] = Field(min_length=1)
    watches: dict[str, Watch] = {}
    channels: dict[str, Channel] = {}
    templates: str | None = None
    sentry: SentrySettings = SentrySettings()
    service: ServiceSettings = ServiceSettings()

    @field_validator("store")
    @classmethod
    def _store(cls, url: str | None) -> str | None:
        if url and urlsplit(url).scheme not in ("redis", "rediss", "unix"):
            raise ValueError(
                "store must be a redis:// URL (or absent for the embedded store), "
                f"not {redact_url(url)!r}"
            )
        return url or None


@dataclass(frozen=True)
class LoadedConfig:
    """A valid config and where it came from, so later checks can point at a line too."""

    config: Config
    source: Located

    def error(self, path: tuple[str | int, ...], reason: str) -> ConfigError:
        return self.source.error(path, reason)

    @property
    def file(self) -> str:
        return self.source.file


def find_config_path(given: str | None, environ: Mapping[str, str] | None = None) -> Path:
    """``-c`` wins, then ``$NEWSWATCH_CONFIG``, then ``./newswatch.yaml`` (SPEC §1)."""
    environ = os.environ if environ is None else environ
    return Path(given or environ.get("NEWSWATCH_CONFIG") or "newswatch.yaml")


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> LoadedConfig:
    source = read_yaml(path, environ)
    if not isinstance(source.data, dict):
        raise ConfigError(
            "the config must be a mapping of keys (store, outlets, ...)", file=source.file, line=1
        )
    try:
        config = Config.model_validate(source.data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise source.error(_data_path(first["loc"]), _reason(first)) from None
    _check_references(config, source)
    return LoadedConfig(config=config, source=source)


def _data_path(loc: tuple[int | str, ...]) -> tuple[str | int, ...]:
    """pydantic puts the union member's tag in paths (``channels.x.email.to``); drop it."""
    return tuple(part for part in loc if part not in ("email", "webhook", "console"))


def _reason(error: Any) -> str:
    loc = _data_path(error["loc"])
    name = ".".join(str(part) for part in loc) or "config"
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"unknown key {loc[-1]!r}"
    if kind == "missing":
        return f"missing required key {name!r}"
    if kind == "union_tag_invalid" or kind == "union_tag_not_found":
        return f"{name}: type must be one of email, webhook, console"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{name}: {message}"


def _check_references(config: Config, source: Located) -> None:
    for name, watch in config.watches.items():
        for index, channel in enumerate(watch.notify):
            if channel not in config.channels:
                known = ", ".join(sorted(config.channels)) or "none defined"
                raise source.error(
                    ("watches", name, "notify", index),
                    f"watch {name!r} notifies unknown channel {channel!r} (channels: {known})",
                )
        for index, outlet in enumerate(watch.outlets or []):
            if outlet not in config.outlets:
                raise source.error(
                    ("watches", name, "outlets", index),
                    f"watch {name!r} names unknown outlet {outlet!r}",
                )
