"""Loading the config with every check, including those that need a stage.

Query syntax belongs to ``alerts/`` and templates to ``templates/``; the core cannot check them,
so they are checked here, right after the core's own validation, and reported with the config's
file and line like any other config error.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from alerts.delivery import sample_alert
from alerts.digest import build_digest
from alerts.query import parse_query
from alerts.render import TEMPLATE_NAMES, Renderer
from newswatch.config import LoadedConfig, load_config
from newswatch.errors import QuerySyntaxError, TemplateError

__all__ = ["load_checked_config"]


def load_checked_config(path: Path) -> LoadedConfig:
    loaded = load_config(path)
    config = loaded.config
    for name, watch in config.watches.items():
        try:
            parse_query(watch.query)
        except QuerySyntaxError as exc:
            raise loaded.error(
                ("watches", name, "query"), f"watch {name!r}: query {watch.query!r}: {exc}"
            ) from None
    if config.templates and not Path(config.templates).is_dir():
        raise loaded.error(("templates",), f"templates folder {config.templates!r} does not exist")
    _check_templates(loaded)
    return loaded


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
