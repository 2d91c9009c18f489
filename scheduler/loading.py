"""Loading the config with every check, including those that need a stage.

Query syntax belongs to ``alerts/`` and templates to ``templates/``; the core cannot check them,
so they are checked here, right after the core's own validation, and reported with the config's
file and line like any other config error.

Queries are also read the way they were read before OR bound tighter than juxtaposition
(SPEC §3), so that a watch whose meaning changed is named, never silently changed.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

from alerts.delivery import sample_alert
from alerts.digest import build_digest
from alerts.query import legacy_reading, parse_query
from alerts.render import TEMPLATE_NAMES, Renderer
from newswatch.config import Config, LoadedConfig, load_config
from newswatch.errors import QuerySyntaxError, TemplateError

__all__ = ["load_checked_config", "reading_changes"]

logger = logging.getLogger("newswatch")


def load_checked_config(path: Path, *, warn: bool = True) -> LoadedConfig:
    """The config with every check; ``warn`` logs each watch whose reading changed (``check``
    prints them instead)."""
    loaded = load_config(path)
    config = loaded.config
    for name, watch in config.watches.items():
        try:
            parse_query(watch.query)
        except QuerySyntaxError as exc:
            old = legacy_reading(watch.query)
            hint = (
                f"; it used to read as {old}: write that, parentheses and all, to keep it"
                if old is not None
                else ""
            )
            raise loaded.error(
                ("watches", name, "query"), f"watch {name!r}: query {watch.query!r}: {exc}{hint}"
            ) from None
    if warn:
        for line in reading_changes(config):
            logger.warning("%s", line)
    if config.templates and not Path(config.templates).is_dir():
        raise loaded.error(("templates",), f"templates folder {config.templates!r} does not exist")
    _check_templates(loaded)
    return loaded


def reading_changes(config: Config) -> list[str]:
    """One line for each watch whose query means something else since OR binds tighter than
    juxtaposition: the watch, how it read before and how it reads now, both with explicit
    parentheses so either can be pasted back to choose it."""
    lines = []
    for name, watch in config.watches.items():
        old = legacy_reading(watch.query)
        if old is not None:
            lines.append(
                f"watch {name!r} reads differently since OR binds tighter than juxtaposition "
                f"now: was {old} | now {parse_query(watch.query)}"
            )
    return lines


def _check_templates(loaded: LoadedConfig) -> None:
    """Render every template with sample alerts (full, and without any optional field) and a
    sample digest, as sends will."""
    renderer = Renderer.for_config(loaded.config)
    alerts = [sample_alert(), sample_alert(sparse=True)]  # full, and with every optional empty
    digest = build_digest("test-alert", datetime.now(UTC), [*alerts, sample_alert()])
    for template in TEMPLATE_NAMES:
        samples = [digest] if template.startswith("digest") else alerts
        if template.endswith(".json"):
            samples = [*alerts, digest]
        for sample in samples:
            try:
                rendered = renderer.render(template, sample)
                if template.endswith(".json"):
                    json.loads(rendered)
            except TemplateError as exc:
                raise loaded.error(("templates",), str(exc)) from None
            except ValueError as exc:
                raise loaded.error(
                    ("templates",), f"template {template!r} is not valid JSON: {exc}"
                ) from None
