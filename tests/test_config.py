"""The config file: what is accepted, and every mistake refused with file and line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from newswatch.config import find_config_path, load_config, parse_duration, parse_size
from newswatch.errors import ConfigError
from newswatch.scheduler.loading import load_checked_config
from tests.e2e import run_newswatch

CASES: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "data" / "broken_configs.yaml").read_text(encoding="utf-8")
)

EXAMPLE = Path(__file__).resolve().parent.parent / "deploy" / "newswatch.example.yaml"


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_broken_config_is_refused_at_its_line(case: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "newswatch.yaml"
    path.write_text(case["config"], encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_checked_config(path)
    assert refused.value.file == str(path)
    assert refused.value.line == case["line"], str(refused.value)
    assert case["reason"] in refused.value.reason
    assert "\n" not in str(refused.value)


def test_check_command_exits_2_with_file_line_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "newswatch.yaml"
    path.write_text(CASES[0]["config"], encoding="utf-8")
    result = run_newswatch("check", cwd=tmp_path)
    assert result.code == 2
    assert f"{path.name}:3: unknown key 'retenton'" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_command_on_missing_or_unreadable_file(tmp_path: Path) -> None:
    missing = run_newswatch("check", "-c", "nowhere.yaml", cwd=tmp_path)
    assert missing.code == 2 and "config file not found" in missing.stderr
    folder = tmp_path / "a-folder.yaml"
    folder.mkdir()
    unreadable = run_newswatch("check", "-c", str(folder), cwd=tmp_path)
    assert unreadable.code == 2 and "cannot read config file" in unreadable.stderr
    assert "Traceback" not in missing.stderr + unreadable.stderr


def test_example_config_is_valid_and_check_prints_it(tmp_path: Path) -> None:
    result = run_newswatch("check", "-c", str(EXAMPLE), cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert "valid" in result.stdout
    assert "outlets (" in result.stdout and "watches (" in result.stdout


def test_interpolation_defaults_and_values(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "outlets:\n  o: {domains: [a.example], feeds: [/rss]}\n"
        "channels:\n"
        "  hook: {type: webhook, url: 'https://h.example/${HOOK_PATH:-default}', secret: '${HOOK_SECRET}'}\n",
        encoding="utf-8",
    )
    loaded = load_config(path, environ={"HOOK_SECRET": "abc"})
    hook = loaded.config.channels["hook"]
    assert hook.url == "https://h.example/default"  # type: ignore[union-attr]
    assert hook.secret == "abc"  # type: ignore[union-attr]


def test_defaults_of_a_minimal_config(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("outlets:\n  o: {domains: [WWW.A.Example], pages: [/]}\n", encoding="utf-8")
    config = load_config(path).config
    assert config.store is None
    assert config.retention == timedelta(days=30) and config.max_age == timedelta(days=3)
    assert config.crawl.obey_robots and config.crawl.max_page_size == 5_000_000
    assert config.outlets["o"].domains == ["www.a.example"]
    assert config.outlets["o"].scheme == "https"


def test_config_path_precedence() -> None:
    assert find_config_path("given.yaml", {"NEWSWATCH_CONFIG": "env.yaml"}) == Path("given.yaml")
    assert find_config_path(None, {"NEWSWATCH_CONFIG": "env.yaml"}) == Path("env.yaml")
    assert find_config_path(None, {}) == Path("newswatch.yaml")


@pytest.mark.parametrize(
    ("text", "seconds"), [("30d", 2592000), ("10m", 600), ("20s", 20), ("1.5h", 5400), (45, 45)]
)
def test_durations(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(("text", "size"), [("5MB", 5_000_000), ("512KiB", 524288), (100, 100)])
def test_sizes(text: str | int, size: int) -> None:
    assert parse_size(text) == size


def test_email_addresses_are_checked_for_form_not_for_internet_delivery(tmp_path: Path) -> None:
    def channel(to: str) -> str:
        return (
            "outlets:\n  o: {domains: [a.example], feeds: [/rss]}\n"
            "channels:\n"
            f"  m: {{type: email, to: ['{to}'], from: nw@example.com, smtp: 'smtp://relay:25'}}\n"
        )

    path = tmp_path / "c.yaml"
    path.write_text(channel("desk@newsroom"), encoding="utf-8")  # an internal relay's name
    assert load_config(path).config.channels["m"].to == ["desk@newsroom"]  # type: ignore[union-attr]
    path.write_text(channel("desk@@newsroom"), encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_checked_config(path)
    assert refused.value.line == 4 and "not an email address" in refused.value.reason
