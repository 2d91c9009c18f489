"""Read a YAML file into plain data while remembering the line of every key and item.

pydantic reports errors as paths (``("watches", "palmyra", "notify", 1)``); a user needs a line
number. Composing the YAML node graph ourselves (instead of ``yaml.safe_load``) keeps each node's
mark, so every path can be mapped back to the line where it was written. ``${VAR}`` and
``${VAR:-default}`` are expanded in scalar strings here, after parsing, so a value taken from the
environment can never change the structure of the file or shift its lines.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from newswatch.errors import ConfigError

__all__ = ["Located", "read_yaml"]

Path_ = tuple[str | int, ...]

# libyaml's parser when PyYAML was built with it: the same nodes and marks, several times faster
# (a config of 10,000 watches took 3.5 s to compose in pure Python, and a reload waits for it).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class Located:
    """Plain data from a YAML file and the line (1-based) of every path in it."""

    file: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None

    def error(self, path: Path_, reason: str) -> ConfigError:
        return ConfigError(reason, file=self.file, line=self.line_of(path))


def read_yaml(path: Path, environ: Mapping[str, str] | None = None) -> Located:
    """Parse ``path``; every failure becomes a ConfigError naming the file and line."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("config file not found", file=file) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file: {exc}", file=file) from None
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(f"invalid YAML: {exc.problem or exc}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=file) from None
    located = Located(file=file, data=None)
    if node is None:
        located.data = {}
        return located
    located.lines[()] = node.start_mark.line + 1  # errors about the whole file point at its start
    builder = _Builder(located, os.environ if environ is None else environ)
    located.data = builder.build(node, ())
    return located


class _Builder:
    """Walks the node graph once, recording lines and constructing plain values."""

    def __init__(self, out: Located, environ: Mapping[str, str]) -> None:
        self.out = out
        self.environ = environ
        self.constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node, path: Path_) -> Any:
        out = self.out
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = self.scalar(key_node)
                if not isinstance(key, str | int | bool) or isinstance(key, bool):
                    raise ConfigError(
                        "keys must be plain names", file=out.file, line=key_node.start_mark.line + 1
                    )
                key = str(key)
                child = (*path, key)
                if key in result:
                    raise ConfigError(
                        f"duplicate key {key!r}", file=out.file, line=key_node.start_mark.line + 1
                    )
                out.lines[child] = key_node.start_mark.line + 1
                result[key] = self.build(value_node, child)
            return result
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                child = (*path, index)
                out.lines[child] = item.start_mark.line + 1
                items.append(self.build(item, child))
            return items
        value = self.scalar(node)
        if isinstance(value, str) and "${" in value:
            value = _interpolate(value, self.environ, out, node.start_mark.line + 1)
        return value

    def scalar(self, node: yaml.Node) -> Any:
        """Resolve a scalar by the safe loader's own rules (ints, bools, nulls, timestamps)."""
        return self.constructor.construct_object(node, deep=True)


def _interpolate(value: str, environ: Mapping[str, str], out: Located, line: int) -> str:
    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = environ.get(name)
        if default is not None and not found:
            return default  # ${VAR:-default}: unset or empty takes the default
        if found is not None:
            return found
        raise ConfigError(
            f"environment variable {name} is not set (write ${{{name}:-}} to allow empty)",
            file=out.file,
            line=line,
        )

    return _VAR.sub(replace, value)
