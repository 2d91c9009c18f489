"""Loading the config with every check, including those that need a stage.

Query syntax belongs to ``alerts/`` and templates to ``templates/``; the core cannot check them,
so they are checked here, right after the core's own validation, and reported with the config's
file and line like any other config error.

Queries are also read the way they were read before OR bound tighter than juxtaposition,
so that a watch whose meaning changed is named, never silently changed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from newswatch.alerts.delivery import sample_alert
from newswatch.alerts.digest import build_digest
from newswatch.alerts.notices import sample_notice
from newswatch.alerts.query import legacy_reading, parse_query
from newswatch.alerts.render import TEMPLATE_NAMES, Renderer
from newswatch.config import Config, LoadedConfig, load_config
from newswatch.errors import ConfigError, QuerySyntaxError, TemplateError
from newswatch.yamlsource import Located

__all__ = ["load_checked_config", "reading_changes"]

logger = logging.getLogger("newswatch")


def load_checked_config(path: Path, *, warn: bool = True) -> LoadedConfig:
    """Every problem of the file in one error; templates are rendered only once the rest is
    valid (rendering needs a valid config). ``warn`` logs each watch whose reading changed
    (``check`` prints them instead)."""
    loaded = load_config(path, checks=[_check_queries, _check_templates_folder])
    if warn:
        for line in reading_changes(loaded.config):
            logger.warning("%s", line)
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


def _check_queries(source: Located) -> Iterator[ConfigError]:
    watches = source.data.get("watches")
    for name, watch in (watches if isinstance(watches, dict) else {}).items():
        query = watch.get("query") if isinstance(watch, dict) else None
        if not isinstance(query, str) or not query:
            continue  # the model reports a missing or mistyped query
        try:
            parse_query(query)
        except QuerySyntaxError as exc:
            old = legacy_reading(query)
            hint = (
                f"; it used to read as {old}: write that, parentheses and all, to keep it"
                if old is not None
                else ""
            )
            yield source.error(
                ("watches", name, "query"), f"watch {name!r}: query {query!r}: {exc}{hint}"
            )


def _check_templates_folder(source: Located) -> Iterator[ConfigError]:
    folder = source.data.get("templates")
    if isinstance(folder, str) and folder and not Path(folder).is_dir():
        yield source.error(("templates",), f"templates folder {folder!r} does not exist")


def _check_templates(loaded: LoadedConfig) -> None:
    """Render every template with sample alerts (full, and without any optional field) and a
    sample digest, as sends will."""
    renderer = Renderer.for_config(loaded.config)
    alerts = [sample_alert(), sample_alert(sparse=True)]  # full, and with every optional empty
    digest = build_digest("test-alert", datetime.now(UTC), [*alerts, sample_alert()])
    notice = sample_notice()
    for template in TEMPLATE_NAMES:
        samples = [digest] if template.startswith("digest") else alerts
        if template.endswith(".json"):
            samples = [*alerts, digest]
        if template.startswith("notice"):
            samples = [notice]
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
