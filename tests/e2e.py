"""Running the real ``newswatch`` command against the local servers, as a user would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.outlet_site import FixtureArticle
from tests.support.smtp import SmtpSink
from tests.support.web import MultiHostServer
from tests.support.webhook import WebhookReceiver

SECRET = "s3cret-for-tests"
PRIMARY, MIRROR = "www.pressdesk.test", "mirror.pressdesk.test"

PALMYRA = FixtureArticle(
    path="/Detail/2026/11/27/palmyra.html",
    title="Army retakes Palmyra's ancient citadel",
    paragraphs=[
        "Government forces said on Sunday they had pushed militants out of the historic "
        "centre of Palmyra after weeks of fighting around the desert city.",
        "Archaeologists warned that the Roman-era colonnade had been badly damaged and "
        "called for an international survey before any restoration work begins.",
        "Residents who fled to Homs last year said they hoped to return before winter.",
    ],
)
HARVEST = FixtureArticle(
    path="/Detail/2026/11/27/harvest.html",
    title="Wheat harvest beats expectations",
    paragraphs=[
        "Farmers in the north reported the best wheat harvest in a decade, helped by late "
        "rains and lower fuel prices, the agriculture ministry said in a statement.",
        "Exports are expected to resume next month through the southern ports.",
    ],
)
OLD_PALMYRA = FixtureArticle(
    path="/Detail/2026/11/10/palmyra-archive.html",
    title="Palmyra museum reopens",
    paragraphs=[
        "The museum of Palmyra reopened its doors to visitors after a long restoration "
        "of the galleries damaged during the fighting in the desert city.",
    ],
    published=datetime.now(UTC) - timedelta(days=10),
)


def config_text(
    store: str | None,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
    *,
    domains: list[str] | None = None,
    cooldown: str = "10m",
    extra_outlet: str = "",
) -> str:
    store_line = f"store: {store}" if store else "# embedded store"
    return f"""
        {store_line}
        max_age: 3d
        crawl:
          timeout: 5s
          mirror_cooldown: {cooldown}
        outlets:
          pressdesk:
            {extra_outlet}
            domains: [{", ".join(domains or [PRIMARY, MIRROR])}]
            scheme: http
            feeds: [/rss.xml]
            pages: [/]
            articles: '^/Detail/\\d{{4}}/'
        watches:
          palmyra:
            query: 'Palmyra OR Tadmur OR "تدمر"'
            notify: [analysts, siem]
          harvest-rye:
            query: 'harvest rye'
            notify: [analysts]
        channels:
          analysts:
            type: email
            to: [analyst@example.org]
            from: newswatch@example.org
            smtp: {smtp.url}
          siem:
            type: webhook
            url: {webhook.url}
            secret: ${{WEBHOOK_SECRET:-{SECRET}}}
            format: json
    """


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
    return [
        sys.executable,
        "-c",
        "from newswatch.scheduler.cli import main; raise SystemExit(main())",
    ]


def run_newswatch(
    *args: str,
    cwd: Path,
    web: MultiHostServer | None = None,
    timeout: float = 120,
    dns: dict[str, str] | None = None,
) -> Result:
    """``dns``: run under ``tests.support.fake_dns``, these names resolving to these addresses
    and no other name resolving at all."""
    env = dict(os.environ)
    command = newswatch_command()
    if dns is not None:
        command = [sys.executable, "-m", "tests.support.fake_dns"]
        env["NEWSWATCH_TEST_DNS"] = json.dumps(dns)
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    if web is not None:
        env.update(web.proxy_env())
    # loopback services (SMTP, webhooks) are reached directly, never through the proxy
    env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost"
    done = subprocess.run(
        [*command, *args],
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
