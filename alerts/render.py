"""Rendering alerts with Jinja2: the built-in ``templates/`` with the user's folder in front.

HTML is autoescaped (article text is untrusted), every template renders with StrictUndefined so
a typo fails when the config is checked rather than in a 3 a.m. send, and all templates render
in Jinja2's sandbox, since a user's folder can override any of them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox
from markupsafe import Markup, escape

import newswatch
from newswatch.config import Config
from newswatch.errors import TemplateError

__all__ = ["TEMPLATE_NAMES", "Renderer", "builtin_templates_dir", "one_line", "webhook_template"]

TEMPLATE_NAMES = (
    "email_subject.txt",
    "email.txt",
    "email.html",
    "digest_subject.txt",
    "digest.txt",
    "digest.html",
    "slack.json",
    "discord.json",
    "notice_subject.txt",
    "notice.txt",
    "notice.html",
    "notice_slack.json",
    "notice_discord.json",
)
MAX_SUBJECT = 200


def builtin_templates_dir() -> Path:
    """Inside the installed package (wheel), else the source checkout's top-level folder."""
    packaged = Path(newswatch.__file__).parent / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "templates"


def one_line(text: str, limit: int = MAX_SUBJECT) -> str:
    """Collapse every kind of line break and whitespace run; shorten with an ellipsis."""
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _highlight(match: dict[str, Any]) -> Markup:
    snippet: str = match["snippet"]
    start, end = match.get("mark") or (0, 0)
    return (
        escape(snippet[:start])
        + Markup('<mark style="background:#ffe066;color:#000;">')
        + escape(snippet[start:end])
        + Markup("</mark>")
        + escape(snippet[end:])
    )


class Renderer:
    def __init__(self, user_folder: Path | None = None) -> None:
        folders = [str(user_folder)] if user_folder else []
        folders.append(str(builtin_templates_dir()))
        self.env = jinja2.sandbox.SandboxedEnvironment(
            loader=jinja2.FileSystemLoader(folders),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["highlight"] = _highlight
        self.env.filters["slack_escape"] = _slack_escape

    @classmethod
    def for_config(cls, config: Config) -> Renderer:
        return cls(Path(config.templates) if config.templates else None)

    def render(self, name: str, alert: dict[str, Any]) -> str:
        """The template rendered for ``alert``; any failure is a TemplateError naming the
        template and, where the traceback says, its line (``None[:10]`` on an alert without a
        date is a TypeError raised from the template, not a Jinja2 error)."""
        try:
            template = self.env.get_template(name)
        except jinja2.TemplateNotFound:
            raise TemplateError(f"template {name!r} not found") from None
        except jinja2.TemplateError as exc:  # a syntax error: Jinja2 names the line
            raise TemplateError(f"template {name!r} failed: {exc}") from None
        try:
            return template.render(alert=alert)
        except Exception as exc:  # the sandbox's SecurityError and undefined names included
            line = _template_line(exc, template.filename)
            where = f"template {name!r}" + (f" line {line}" if line else "")
            raise TemplateError(f"{where} failed: {type(exc).__name__}: {exc}") from None

    def subject(self, alert: dict[str, Any]) -> str:
        return one_line(self.render(f"{_kind(alert)}_subject.txt", alert))

    def text(self, alert: dict[str, Any]) -> str:
        return self.render(f"{_kind(alert)}.txt", alert)

    def html(self, alert: dict[str, Any]) -> str:
        return self.render(f"{_kind(alert)}.html", alert)


def _template_line(exc: BaseException, filename: str | None) -> int | None:
    """The line of the template where ``exc`` was raised: Jinja2 rewrites tracebacks so that
    a template's frames carry its file name and line."""
    line = None
    traceback = exc.__traceback__
    while traceback is not None:
        if filename and traceback.tb_frame.f_code.co_filename == filename:
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


def _kind(alert: dict[str, Any]) -> str:
    if "notice" in alert:
        return "notice"
    return "digest" if "digest" in alert else "email"


def webhook_template(alert: dict[str, Any], format: str) -> str:
    """``slack.json`` for an alert or digest, ``notice_slack.json`` for a notice (its own file,
    so a user's older override of ``slack.json`` keeps working)."""
    return f"notice_{format}.json" if "notice" in alert else f"{format}.json"


def _slack_escape(text: object) -> str:
    """Slack's mrkdwn treats & < > as markup; everything else is literal."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
