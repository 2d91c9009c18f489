"""Running the real ``newswatch`` command against the local servers, as a user would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from tests.support.web import MultiHostServer

SECRET = "s3cret-for-tests"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def newswatch_command() -> list[str]:
    """The installed console script when there is one (it is what users run)."""
    script = Path(sys.executable).parent / "newswatch"
    if script.exists():
        return [str(script)]
    found = shutil.which("newswatch")
    if found:
        return [found]
    return [sys.executable, "-c", "from scheduler.cli import main; raise SystemExit(main())"]


def run_newswatch(
    *args: str, cwd: Path, web: MultiHostServer | None = None, timeout: float = 120
) -> Result:
    env = dict(os.environ)
    if web is not None:
        env.update(web.proxy_env())
    # loopback services (SMTP, webhooks) are reached directly, never through the proxy
    env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost"
    done = subprocess.run(
        [*newswatch_command(), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def write_config(folder: Path, text: str) -> Path:
    path = folder / "newswatch.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path
