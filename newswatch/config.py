"""The config file as a typed model, and loading it with errors that name file and line.

Validation that needs no stage lives here: types, unknown keys, durations and sizes, regexes,
cron strings, addresses, URLs, and references from watches to outlets and channels. Checks that
need a stage (query syntax, templates) are handed in by the command line as ``checks``, so they
report the same way, in the same run: every problem of a file is reported at once.

The model is also the config's JSON Schema (``newswatch schema``): each field's docstring is its
description there, so editors show the same words as docs/configuration.md.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit

import email_validator
from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    WithJsonSchema,
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
    "Check",
    "Config",
    "ConsoleChannel",
    "EmailChannel",
    "LoadedConfig",
    "Outlet",
    "Watch",
    "WebhookChannel",
    "config_schema",
    "find_config_path",
    "format_duration",
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


def _email_address(value: str) -> str:
    """A bare address (it is also the SMTP envelope sender), checked for form, never by DNS.

    An address need not be deliverable on the internet (``desk@newsroom`` through an internal
    relay is fine); the names email-validator holds reserved (``.local``, ``localhost``,
    ``.test``, ...) are refused all the same.
    """
    try:
        email_validator.validate_email(
            value, check_deliverability=False, globally_deliverable=False
        )
    except email_validator.EmailNotValidError as exc:
        raise ValueError(f"not an email address: {value!r} ({exc})") from None
    return value


def _listen_address(value: str) -> str:
    """``host:port`` or ``[v6]:port``, refused here rather than by a traceback at ``run``."""
    example = "(write e.g. 127.0.0.1:8787, 0.0.0.0:8787 or [::1]:8787)"
    try:
        host, port = split_listen(value)
    except ValueError:
        port = 0
    if not port or not value.rpartition(":")[0]:
        raise ValueError(f"listen must be host:port, not {value!r} {example}")
    if value.startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"listen: {host!r} is not an IPv6 address {example}") from None
    elif not _DOMAIN.match(host.lower()):
        raise ValueError(f"listen: {host!r} is neither an IP address nor a host name {example}")
    return value


# Patterns for the JSON Schema only (the validators above are the judges at load): a ${VAR} is
# accepted wherever a value can come from the environment.
_VAR_PATTERN = r"\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}"
_DURATION_SCHEMA = {
    "anyOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": rf"^\s*(\d+(\.\d+)?\s*(ms|s|m|h|d|w)|{_VAR_PATTERN})\s*$"},
    ],
    "examples": ["30s", "10m", "6h", "30d"],
}
_SIZE_SCHEMA = {
    "anyOf": [
        {"type": "integer", "minimum": 0},
        {
            "type": "string",
            "pattern": rf"^\s*(\d+(\.\d+)?\s*([KMG]i?B|B)?|{_VAR_PATTERN})\s*$",
        },
    ],
    "examples": ["512KB", "5MB"],
}


def format_duration(value: timedelta) -> str:
    """The shortest way to write ``value`` in the config's own units (``10m``, not ``PT10M``)."""
    seconds = value.total_seconds()
    for unit in ("w", "d", "h", "m", "s"):
        count = seconds / _DURATION_UNITS[unit]
        if count >= 1 and count == int(count):
            return f"{int(count)}{unit}"
    return f"{round(seconds * 1000)}ms"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, when_used="json"),
    WithJsonSchema(_DURATION_SCHEMA, mode="validation"),
]
Size = Annotated[int, BeforeValidator(parse_size), WithJsonSchema(_SIZE_SCHEMA, mode="validation")]
EmailAddress = Annotated[
    str,
    AfterValidator(_email_address),
    WithJsonSchema({"type": "string", "format": "email"}, mode="validation"),
]
ListenAddress = Annotated[
    str,
    AfterValidator(_listen_address),
    WithJsonSchema(
        {"type": "string", "pattern": r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$"},
        mode="validation",
    ),
]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, use_attribute_docstrings=True
    )


class CrawlSettings(_Model):
    """How outlets are fetched. Every key is optional."""

    user_agent: str = DEFAULT_USER_AGENT
    """The User-Agent header of every request."""
    obey_robots: bool = True
    """Honour each domain's robots.txt."""
    timeout: Duration = timedelta(seconds=20)
    """How long one request may take."""
    max_page_size: Size = 5_000_000
    """Larger responses are dropped (5MB = 5,000,000 bytes; 512KiB = 524,288)."""
    concurrency: int = Field(default=32, ge=1, le=1024)
    """Requests in flight at once, over all outlets; each domain is paced by AutoThrottle."""
    mirror_cooldown: Duration = timedelta(minutes=10)
    """How long a domain that failed a whole poll rests before it is tried first again; it
    doubles with each failed poll, up to 6 h."""
    max_articles_per_poll: int = Field(default=500, ge=1)
    """Article fetches per outlet per poll, newest first; the rest are fetched by later polls
    (a feed of 100,000 items must not make one poll endless)."""
    poll_timeout: Duration = timedelta(minutes=10)
    """A poll still running after this is cut short: what it found counts, the rest is dropped."""
    dark_after: int = Field(default=3, ge=1)
    """An outlet unreachable on every domain for this many polls in a row is dark: /healthz
    reports it and the ``notices`` channels are told once (and once again when it recovers)."""


class Outlet(_Model):
    """A news outlet: its domains (primary first, then mirrors) and where its articles are
    listed. At least one of feeds, sitemaps or pages is needed."""

    domains: list[str] = Field(min_length=1)
    """Host names, primary first, then mirrors tried when it fails (no scheme, no path)."""
    scheme: Literal["http", "https"] = "https"
    """The scheme of every domain."""
    feeds: list[str] = []
    """RSS or Atom feeds: paths tried on the live domain (/rss.xml) or absolute URLs."""
    sitemaps: list[str] = []
    """Sitemaps and Google News sitemaps: paths or absolute URLs."""
    pages: list[str] = []
    """HTML pages whose links lead to articles: paths or absolute URLs."""
    articles: str | None = None
    """A regular expression on the URL path that marks article links (e.g. ^/Detail/\\d{4}/)."""
    every: Duration | None = None
    """How often the outlet is polled (default 10m); or give ``cron``."""
    cron: str | None = None
    """A five-field cron expression (UTC) for the polls, instead of ``every``."""
    language: str | None = None
    """A hint for text extraction (en, ar, ru, ...)."""
    discover_mirrors: Literal["auto", "suggest", "off"] = "suggest"
    """Addresses the outlet announces for itself (in its pages, redirects, mirror lists):
    ``auto`` adds those verified to serve its articles after ``domains``, ``suggest`` only
    reports them, ``off`` ignores them."""
    mirror_lists: list[str] = []
    """URLs of mirror lists the outlet publishes (JSON or plain text lists of domains)."""

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
            if not _is_web_url(location):
                raise ValueError(f"{location!r} is neither a path (/rss.xml) nor an absolute URL")
        return locations

    @field_validator("discover_mirrors", mode="before")
    @classmethod
    def _policy(cls, policy: object) -> object:
        """YAML reads a bare ``off`` as false: that is what the user wrote."""
        return "off" if policy is False else policy

    @field_validator("mirror_lists")
    @classmethod
    def _mirror_lists(cls, locations: list[str]) -> list[str]:
        for location in locations:
            if not _is_web_url(location):
                raise ValueError(f"{location!r} is not an absolute http(s) URL")
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
    """Keywords to look for, and the channels told when an article matches."""

    query: str = Field(min_length=1)
    """Google-Alerts-like: words, "phrases", OR, -exclusions, (groups), title:, NEAR/5, prefix*."""
    outlets: list[str] | None = None
    """Outlet names this watch looks at (default: every outlet)."""
    notify: list[str] = Field(min_length=1)
    """Channel names that receive its alerts."""
    digest: str = Field(default="immediate", json_schema_extra={"pattern": _DIGEST.pattern})
    """immediate (default), hourly, or daily@HH:MM (UTC): one email or post listing the alerts."""

    @field_validator("digest")
    @classmethod
    def _digest(cls, digest: str) -> str:
        if not _DIGEST.match(digest):
            raise ValueError(f"digest must be immediate, hourly or daily@HH:MM, not {digest!r}")
        return digest


class EmailChannel(_Model):
    """Alerts by email: multipart text and HTML."""

    type: Literal["email"]
    to: list[EmailAddress] = Field(min_length=1)
    """Recipient addresses."""
    from_: EmailAddress = Field(alias="from")
    """The sender address (also the SMTP envelope sender)."""
    smtp: str
    """smtp://user:${SMTP_PASSWORD}@host:587 (STARTTLS when offered) or smtps://host:465
    (implicit TLS); credentials are never sent over a connection without TLS."""

    @field_validator("smtp")
    @classmethod
    def _smtp(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname or not _has_valid_port(url):
            raise ValueError(
                f"smtp must look like smtp://host:587 or smtps://host:465, not {redact_url(url)!r}"
            )
        return url


class WebhookChannel(_Model):
    """Alerts as HTTP POSTs: newswatch JSON, or Slack's or Discord's message format."""

    type: Literal["webhook"]
    url: str
    """The http(s):// address posted to."""
    secret: str | None = None
    """Signs every post: X-Newswatch-Signature is sha256=<HMAC-SHA256 of the body>."""
    format: Literal["json", "slack", "discord"] = "json"
    """json (the newswatch document), slack or discord."""

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        if not _is_web_url(url):
            raise ValueError(
                f"webhook url must be http(s)://..., not {redact_url(url, hide_path=True)!r}"
            )
        return url


class ConsoleChannel(_Model):
    """Alerts printed to stdout as text: the first-run default, nothing to set up."""

    type: Literal["console"]


Channel = Annotated[EmailChannel | WebhookChannel | ConsoleChannel, Field(discriminator="type")]


class DeliverySettings(_Model):
    """How long delivery may take, so one silent server never holds the others back."""

    timeout: Duration = timedelta(seconds=60)
    """One send: connect and the whole exchange."""
    run_timeout: Duration = timedelta(minutes=4)
    """One delivery run; what it did not reach stays pending for the next."""


class WorkerSettings(_Model):
    """Several ``newswatch run`` processes on one Redis store: how they share the work.

    One process at a time holds the schedule (a lease it renews) and queues each outlet's polls;
    every process takes polls from that queue. The embedded store serves one process only."""

    lease: Duration = timedelta(seconds=15)
    """How long the schedule holder's lease lasts unrenewed: when the holder dies, another
    process takes the schedule over within this time."""
    requeue_after: Duration = timedelta(seconds=60)
    """A poll taken by a process that stopped answering is queued again after this long (more
    than lease, so the dead process's hold on the outlet has lapsed by then)."""
    polls_in_flight: int = Field(default=32, ge=1, le=1024)
    """Polls one process runs at once; more wait in the shared queue for any process."""

    @model_validator(mode="after")
    def _requeue_after_lease(self) -> WorkerSettings:
        if self.lease < timedelta(seconds=1):
            raise ValueError("workers.lease must be at least 1s")
        if self.requeue_after <= self.lease:
            raise ValueError(
                f"workers.requeue_after ({format_duration(self.requeue_after)}) must be longer "
                f"than workers.lease ({format_duration(self.lease)})"
            )
        return self


class SentrySettings(_Model):
    """Errors of crawls, deliveries and scheduling sent to Sentry, without secrets."""

    dsn: str = ""
    """The project's DSN; empty = off."""
    environment: str = "production"
    """The environment events are filed under."""


class ServiceSettings(_Model):
    """The HTTP endpoint of ``newswatch run``: the page, /livez, /healthz and /metrics."""

    listen: ListenAddress = "127.0.0.1:8787"
    """host:port serving the page, /livez, /healthz and /metrics."""
    auth: str = ""
    """A token: `Authorization: Bearer <auth>`, or basic auth whose password (or whole
    user:password) is it. Required when listen is not a loopback address: the page shows every
    alert."""

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
    """newswatch: keyword alerts for news outlets and their mirrors."""

    store: str | None = None
    """redis://host:6379/0 (production); absent = an embedded store in ./newswatch-state/."""
    retention: Duration = timedelta(days=30)
    """How long seen articles and sent alerts are remembered."""
    max_age: Duration = timedelta(days=3)
    """Articles published longer ago are remembered, never alerted (a new watch or outlet does
    not flood); an article without a date counts as new."""
    crawl: CrawlSettings = CrawlSettings()
    delivery: DeliverySettings = DeliverySettings()
    outlets: dict[str, Outlet] = Field(min_length=1)
    """Outlets by name."""
    watches: dict[str, Watch] = {}
    """Watches by name."""
    channels: dict[str, Channel] = {}
    """Channels by name: where alerts go."""
    templates: str | None = None
    """A folder whose files override the built-in templates by name."""
    sentry: SentrySettings = SentrySettings()
    service: ServiceSettings = ServiceSettings()
    workers: WorkerSettings = WorkerSettings()
    notices: list[str] = []
    """Channel names told when an outlet goes dark or recovers."""

    @field_validator("store")
    @classmethod
    def _store(cls, url: str | None) -> str | None:
        if url and (
            urlsplit(url).scheme not in ("redis", "rediss", "unix") or not _has_valid_port(url)
        ):
            raise ValueError(
                "store must be a redis:// URL (or absent for the embedded store), "
                f"not {redact_url(url)!r}"
            )
        return url or None


def _has_valid_port(url: str) -> bool:
    try:
        urlsplit(url).port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        return False
    return True


def _is_web_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and _has_valid_port(url)


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
    """``-c`` wins, then ``$NEWSWATCH_CONFIG``, then ``./newswatch.yaml``."""
    environ = os.environ if environ is None else environ
    return Path(given or environ.get("NEWSWATCH_CONFIG") or "newswatch.yaml")


Check = Callable[[Located], Iterable[ConfigError]]
"""A check a stage adds to loading (query syntax, say): it reads the raw data, which may be
invalid elsewhere, and yields a problem for each mistake it finds."""


def load_config(
    path: Path, environ: Mapping[str, str] | None = None, checks: Sequence[Check] = ()
) -> LoadedConfig:
    """Read and validate ``path``; raises one ConfigError holding every problem found."""
    source = read_yaml(path, environ)
    if not isinstance(source.data, dict):
        raise ConfigError(
            "the config must be a mapping of keys (store, outlets, ...)", file=source.file, line=1
        )
    problems: list[ConfigError] = []
    config: Config | None = None
    try:
        config = Config.model_validate(source.data)
    except ValidationError as exc:
        problems += _validation_problems(exc, source)
    problems += _check_references(source)
    for check in checks:
        problems += check(source)
    if problems:
        raise ConfigError.combine(problems)
    assert config is not None
    return LoadedConfig(config=config, source=source)


def config_schema() -> dict[str, Any]:
    """The JSON Schema of the config file, for editors and for ``check-jsonschema``."""
    schema = Config.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
        "title": "newswatch config",
    }


def _validation_problems(exc: ValidationError, source: Located) -> list[ConfigError]:
    problems: dict[tuple[int | None, str], ConfigError] = {}  # one line per mistake, not per rule
    for error in exc.errors():
        problem = source.error(_data_path(error["loc"]), _reason(error))
        problems.setdefault((problem.line, problem.reason), problem)
    return list(problems.values())


_TAGS = ("email", "webhook", "console")


def _data_path(loc: tuple[int | str, ...]) -> tuple[str | int, ...]:
    """pydantic puts the union member's tag in paths (``channels.x.email.to``); drop it."""
    return tuple(part for part in loc if part not in _TAGS)


def _reason(error: Any) -> str:
    loc = _data_path(error["loc"])
    name = ".".join(str(part) for part in loc) or "config"
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        close = difflib.get_close_matches(key, _known_keys(error["loc"][:-1]), n=1, cutoff=0.6)
        return f"unknown key {key!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
    if kind == "missing":
        return f"missing required key {name!r}"
    if kind == "union_tag_invalid" or kind == "union_tag_not_found":
        return f"{name}: type must be one of email, webhook, console"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{name}: {message}"


def _known_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The keys the model accepts at ``loc`` (pydantic's path, union tags included)."""
    node: Any = Config
    for part in loc:
        node = _unwrap(node)
        if isinstance(node, type) and issubclass(node, BaseModel):
            fields = {f.alias or n: f for n, f in node.model_fields.items()}
            fields.update(node.model_fields)
            if part not in fields:
                return []
            node = fields[str(part)].annotation
        elif get_origin(node) is dict:
            node = get_args(node)[1]
        elif get_origin(node) is list:
            node = get_args(node)[0]
        elif get_origin(node) in (Union, types.UnionType):
            members = [_unwrap(m) for m in get_args(node)]
            node = next((m for m in members if _tag_of(m) == part), None)
        else:
            return []
    node = _unwrap(node)
    if isinstance(node, type) and issubclass(node, BaseModel):
        return [f.alias or n for n, f in node.model_fields.items()]
    return []


def _unwrap(node: Any) -> Any:
    """``Annotated[X, ...]`` is X; ``X | None`` is X."""
    while True:
        if get_origin(node) is Annotated:
            node = get_args(node)[0]
        elif get_origin(node) in (Union, types.UnionType) and type(None) in get_args(node):
            rest = [a for a in get_args(node) if a is not type(None)]
            node = rest[0] if len(rest) == 1 else Union[tuple(rest)]  # noqa: UP007
        else:
            return node


def _tag_of(model: Any) -> str | None:
    if isinstance(model, type) and issubclass(model, BaseModel) and "type" in model.model_fields:
        args = get_args(model.model_fields["type"].annotation)
        return str(args[0]) if args else None
    return None


def _names(data: Any) -> list[str]:
    return [str(key) for key in data] if isinstance(data, dict) else []


def _check_references(source: Located) -> list[ConfigError]:
    """Names used where they are defined elsewhere; read from the raw data, so these are found
    in the same run as a type mistake somewhere else."""
    data = source.data
    channels = _names(data.get("channels"))
    outlets = _names(data.get("outlets"))
    known = ", ".join(sorted(channels)) or "none defined"
    problems: list[ConfigError] = []

    def channel_refs(names: Any, path: tuple[str | int, ...], who: str) -> None:
        for index, channel in enumerate(names if isinstance(names, list) else []):
            if isinstance(channel, str) and channel not in channels:
                problems.append(
                    source.error(
                        (*path, index), f"{who} unknown channel {channel!r} (channels: {known})"
                    )
                )

    watches = data.get("watches")
    for name, watch in (watches if isinstance(watches, dict) else {}).items():
        if not isinstance(watch, dict):
            continue
        channel_refs(watch.get("notify"), ("watches", name, "notify"), f"watch {name!r} notifies")
        names = watch.get("outlets")
        for index, outlet in enumerate(names if isinstance(names, list) else []):
            if isinstance(outlet, str) and outlet not in outlets:
                problems.append(
                    source.error(
                        ("watches", name, "outlets", index),
                        f"watch {name!r} names unknown outlet {outlet!r}",
                    )
                )
    channel_refs(data.get("notices"), ("notices",), "notices names")
    return problems
