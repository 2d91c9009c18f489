"""The config for people and editors: every mistake in one run, ``-c`` anywhere, the JSON Schema
(printed, shipped, and checked by a real validator against every example config), and a reference
in docs/ instead of pointers to a file the repository does not have."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from newswatch.config import config_schema, load_config
from tests.e2e import run_newswatch

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_SCHEMA = ROOT / "newswatch" / "config.schema.json"
REFERENCE = ROOT / "docs" / "configuration.md"
DEPLOY_CONFIGS = [
    ROOT / "deploy" / "newswatch.example.yaml",
    ROOT / "deploy" / "newswatch.compose.yaml",
]

FOUR_MISTAKES = """\
outlets:
  o: {domains: [a.example], feeds: [/rss]}
retenton: 30d
service:
  listen: localhost
channels:
  m: {type: email, to: [not-an-address], from: n@example.org, smtp: "smtp://mail.example.org:25"}
watches:
  w: {query: 'Palmyra', notify: [m, nowhere]}
"""


def test_check_reports_every_mistake_in_one_run(tmp_path: Path) -> None:
    path = tmp_path / "newswatch.yaml"
    path.write_text(FOUR_MISTAKES, encoding="utf-8")
    result = run_newswatch("check", cwd=tmp_path)
    assert result.code == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"newswatch: config refused: {path.name}:3: unknown key 'retenton' (did you mean 'retention'?)",
        f"newswatch: config refused: {path.name}:5: service.listen: listen must be host:port, not "
        "'localhost' (write e.g. 127.0.0.1:8787, 0.0.0.0:8787 or [::1]:8787)",
        f"newswatch: config refused: {path.name}:7: channels.m.to.0: not an email address: "
        "'not-an-address' (An email address must have an @-sign.)",
        f"newswatch: config refused: {path.name}:9: watch 'w' notifies unknown channel 'nowhere' "
        "(channels: m)",
    ]


@pytest.mark.parametrize("where", ["before", "after"])
def test_config_option_before_or_after_the_command(where: str, tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.yaml"
    path.write_text("outlets:\n  o: {domains: [a.example], feeds: [/rss]}\n", encoding="utf-8")
    args = ["-c", str(path), "check"] if where == "before" else ["check", "-c", str(path)]
    result = run_newswatch(*args, cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert f"{path}: valid" in result.stdout


def test_schema_command_prints_the_shipped_schema(tmp_path: Path) -> None:
    result = run_newswatch("schema", cwd=tmp_path)
    assert result.code == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed == config_schema()
    assert printed == json.loads(SHIPPED_SCHEMA.read_text(encoding="utf-8")), (
        "newswatch/config.schema.json is stale: newswatch schema > newswatch/config.schema.json"
    )


def _properties(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name, definition in {"Config": schema, **schema["$defs"]}.items():
        for key, prop in definition.get("properties", {}).items():
            found[f"{name}.{key}"] = prop
    return found


def test_every_key_of_the_schema_is_described_and_documented() -> None:
    reference = REFERENCE.read_text(encoding="utf-8")
    for where, prop in _properties(config_schema()).items():
        key = where.split(".")[-1]
        if key == "type":
            continue  # a channel's tag: its values are described by each channel
        described = prop.get("description") or prop.get("$ref") or prop.get("allOf")
        assert described, f"{where} has no description in the schema"
        assert re.search(rf"\b{re.escape(key)}\b", reference), f"{key} not in docs/configuration.md"


def test_example_configs_name_the_schema_for_editors() -> None:
    for path in DEPLOY_CONFIGS:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first == "# yaml-language-server: $schema=../newswatch/config.schema.json", path
        assert (path.parent / "../newswatch/config.schema.json").resolve() == SHIPPED_SCHEMA


def _reference_examples(tmp_path: Path, document: Path = REFERENCE) -> list[Path]:
    """The YAML blocks of ``document`` that are whole config files."""
    blocks = re.findall(r"```yaml\n(.*?)```", document.read_text(encoding="utf-8"), re.S)
    files = []
    for index, block in enumerate(block for block in blocks if "outlets:" in block):
        path = tmp_path / f"{document.stem}-{index}.yaml"
        path.write_text(block, encoding="utf-8")
        files.append(path)
    assert files, f"{document.name} shows no whole config"
    return files


def test_example_configs_load(tmp_path: Path) -> None:
    for path in [*DEPLOY_CONFIGS, *_reference_examples(tmp_path)]:
        load_config(
            path,
            environ={"NEWSWATCH_STORE": "redis://127.0.0.1:6379/0", "NEWSWATCH_TOKEN": "t0ken"},
        )


CHECK_JSONSCHEMA = shutil.which("check-jsonschema")


@pytest.mark.skipif(
    CHECK_JSONSCHEMA is None, reason="check-jsonschema is not installed (pip install -e '.[test]')"
)
def test_check_jsonschema_accepts_every_example_and_refuses_mistakes(tmp_path: Path) -> None:
    assert CHECK_JSONSCHEMA is not None
    examples = [
        *DEPLOY_CONFIGS,
        *_reference_examples(tmp_path),
        *_reference_examples(tmp_path, ROOT / "README.md"),
    ]
    accepted = subprocess.run(
        [CHECK_JSONSCHEMA, "--schemafile", str(SHIPPED_SCHEMA), *map(str, examples)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text(FOUR_MISTAKES, encoding="utf-8")
    refused = subprocess.run(
        [CHECK_JSONSCHEMA, "--schemafile", str(SHIPPED_SCHEMA), str(broken)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 1
    assert "retenton" in refused.stdout and "localhost" in refused.stdout


MISSING = "SP" + "EC"  # spelt in two so that this file does not name it


def test_project_files_do_not_point_at_a_file_the_repository_lacks() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in tracked:
        if name.endswith((".py", ".md", ".yaml", ".toml", ".service")) or name.endswith(
            "Dockerfile"
        ):
            text = (ROOT / name).read_text(encoding="utf-8")
            assert not re.search(rf"\b{MISSING}\b", text), f"{name} refers to {MISSING}.md"
