"""Redaction: no credential and no webhook path ever reaches the screen, a log or Sentry.

One source of truth for what is secret in a config (:func:`secrets_of`) and one way to hide it:

- :func:`redact_url` shows a URL without its password (``redis://:***@host:6379/0``,
  ``smtp://user:***@host:587``), and for a webhook without its path and query either
  (``https://hooks.example.com/***``): chat and SIEM hooks carry their token in the path.
- :class:`Redactor` replaces, in any text, the config's secrets, the password of any URL, and
  the path of any URL on a webhook's host. ``check``, config errors, ``status`` and Sentry use it.
- :class:`RedactingFilter` applies it to every log record on a handler (message, arguments and
  traceback, before any formatter, so text and JSON logs alike); records of httpx, which only
  ever talks to webhooks, lose the path of every URL they name, a redirect's target included.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from newswatch.config import Channel, Config

__all__ = [
    "MASK",
    "RedactingFilter",
    "Redactor",
    "channel_address",
    "hide_url_paths",
    "protect_logs",
    "redact_url",
    "secrets_of",
]

MASK = "***"
_MIN_SECRET = 4  # shorter strings would mangle unrelated text; URL rules still hide them
_SECRET_PARAMS = frozenset(
    {"password", "pass", "pwd", "secret", "token", "access_token", "api_key", "apikey", "key"}
)
_SCHEME = r"\b[a-z][a-z0-9+.-]*://"
_USERINFO_PASSWORD = re.compile(rf"({_SCHEME}[^\s/?#@:'\"<>]*:)[^\s/?#'\"<>]+@", re.IGNORECASE)
_ANY_URL_PATH = re.compile(rf"({_SCHEME}[^\s/?#'\"<>]+)[/?#][^\s'\"<>]*", re.IGNORECASE)
_WEBHOOK_LOGGERS = ("httpx", "httpcore")
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message"}


def redact_url(url: str, *, hide_path: bool = False) -> str:
    """``url`` fit to print: the password replaced by ``***``; with ``hide_path`` (webhooks)
    the path, query and fragment too. Scheme, user, host and port stay, so the user can see
    which server is meant. A value that is no URL keeps nothing that could be a secret."""
    try:
        parts = urlsplit(url.strip()) if "://" in url else None
    except ValueError:  # e.g. an unclosed "[" of an IPv6 address
        parts = None
    if parts is None or not parts.netloc:
        # e.g. "user:pw@host:587" or "hooks.example.com/T0KEN": keep only the host-like part
        text = url.strip()
        if "@" in text:
            text = MASK + "@" + text.rsplit("@", 1)[1]
        if hide_path and "/" in text:
            text = text.split("/", 1)[0] + "/" + MASK
        return text
    userinfo, _, hostport = parts.netloc.rpartition("@")
    netloc = hostport
    if userinfo:
        user, colon, _password = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{hostport}" if colon else f"{userinfo}@{hostport}"
    shown = f"{parts.scheme}://{netloc}"
    if hide_path:
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            shown += "/" + MASK
        else:
            shown += parts.path
        return shown
    shown += parts.path
    if parts.query:
        shown += "?" + "&".join(_redact_param(param) for param in parts.query.split("&"))
    return shown


def _redact_param(param: str) -> str:
    name, equals, _value = param.partition("=")
    return f"{name}={MASK}" if equals and name.lower() in _SECRET_PARAMS else param


def channel_address(channel: Channel) -> str | None:
    """Where a channel sends, fit to print: its SMTP server or webhook host, without secrets."""
    from newswatch.config import EmailChannel, WebhookChannel

    if isinstance(channel, EmailChannel):
        return redact_url(channel.smtp)
    if isinstance(channel, WebhookChannel):
        return redact_url(channel.url, hide_path=True)
    return None


def secrets_of(config: Config) -> list[str]:
    """Every string in the config that must never be printed: the passwords of the store's and
    the SMTP URLs (as written and decoded), webhook secrets, the Sentry DSN and the page's token."""
    from newswatch.config import EmailChannel, WebhookChannel

    found: list[str] = []

    def password_of(url: str | None) -> None:
        if not url:
            return
        try:
            password = urlsplit(url).password
        except ValueError:
            return
        if password:
            found.extend((password, unquote(password)))

    password_of(config.store)
    for channel in config.channels.values():
        if isinstance(channel, EmailChannel):
            password_of(channel.smtp)
        elif isinstance(channel, WebhookChannel):
            password_of(channel.url)
            if channel.secret:
                found.append(channel.secret)
    if config.sentry.dsn:
        found.append(config.sentry.dsn)
    if config.service.auth:  # the page's token, and its halves when it is user:password
        found.append(config.service.auth)
        found.extend(part for part in config.service.auth.split(":", 1)[1:] if part)
    unique = sorted({secret for secret in found if len(secret) >= _MIN_SECRET}, key=len)
    return unique[::-1]  # longest first, so no secret is left half-replaced by a shorter one


def _webhook_origins(config: Config) -> list[str]:
    """A regex for each webhook's scheme, userinfo, host and port (the default port optional)."""
    from newswatch.config import WebhookChannel

    origins = set()
    for channel in config.channels.values():
        if isinstance(channel, WebhookChannel):
            try:
                parts = urlsplit(channel.url)
                host, port = parts.hostname, parts.port
            except ValueError:
                continue
            if host:
                where = f":{port}" if port not in (None, 80, 443) else r"(?::(?:80|443))?"
                origins.add(rf"https?://(?:[^\s/?#@'\"<>]*@)?{re.escape(host)}{where}")
    return sorted(origins)


class Redactor:
    """Hides secrets in text; with no config it still hides the password of every URL."""

    def __init__(self, secrets: Iterable[str] = (), webhook_origins: Iterable[str] = ()) -> None:
        """``webhook_origins``: regexes of the scheme-to-port part of URLs whose path is hidden."""
        self.secrets = sorted(
            {secret for secret in secrets if len(secret) >= _MIN_SECRET}, key=len, reverse=True
        )
        self.origins = sorted(set(webhook_origins))
        origins = "|".join(self.origins)
        self._webhook_urls = (
            re.compile(rf"\b((?:{origins}))(?=[/?#])[^\s'\"<>]*", re.IGNORECASE)
            if origins
            else None
        )

    @classmethod
    def for_config(cls, config: Config) -> Redactor:
        return cls(secrets_of(config), _webhook_origins(config))

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        if "://" in text:
            text = _USERINFO_PASSWORD.sub(rf"\g<1>{MASK}@", text)
            if self._webhook_urls is not None:
                text = self._webhook_urls.sub(rf"\g<1>/{MASK}", text)
        return text

    def hide_url_paths(self, text: str) -> str:
        """Also hide the path of every URL: for text about webhook traffic only."""
        return hide_url_paths(self(text))

    def merged(self, other: Redactor) -> Redactor:
        """Hides what either hides: log lines of the old config may still be on their way."""
        return Redactor([*self.secrets, *other.secrets], [*self.origins, *other.origins])


def hide_url_paths(text: str) -> str:
    """``text`` with the password and the path, query and fragment of every URL hidden."""
    if "://" not in text:
        return text
    text = _USERINFO_PASSWORD.sub(rf"\g<1>{MASK}@", text)
    return _ANY_URL_PATH.sub(rf"\g<1>/{MASK}", text)


class RedactingFilter(logging.Filter):
    """A handler filter: rewrites each record so no formatter can print a secret."""

    _formatter = logging.Formatter()

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or Redactor()

    def filter(self, record: logging.LogRecord) -> bool:
        redact = (
            self.redactor.hide_url_paths
            if record.name.startswith(_WEBHOOK_LOGGERS)
            else self.redactor
        )
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a broken format string: show it, hidden, as it is
            message = f"{record.msg} {record.args}"
        record.msg, record.args = redact(message), ()
        for key, value in vars(record).items():  # fields given as ``extra=`` (JSON lines)
            if key not in _RECORD_FIELDS and isinstance(value, str):
                setattr(record, key, redact(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def protect_logs(config: Config | None = None) -> None:
    """Put a filter hiding ``config``'s secrets on every handler of the root logger; after a
    reload it hides the secrets of the previous configs too."""
    redactor = Redactor.for_config(config) if config is not None else Redactor()
    for handler in logging.getLogger().handlers:
        for existing in handler.filters:
            if isinstance(existing, RedactingFilter):
                existing.redactor = existing.redactor.merged(redactor)
                break
        else:
            handler.addFilter(RedactingFilter(redactor))
