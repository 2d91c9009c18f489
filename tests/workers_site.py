"""A local site of many outlets and the config of several ``newswatch run`` processes on one Redis.

Shared by tests/test_workers.py and bench/workers.py: each outlet is a host of the local
multi-host server with a feed and article pages; the config polls them every few seconds.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
from pathlib import Path

from tests.e2e import newswatch_command
from tests.support.outlet_site import FixtureArticle, OutletSite
from tests.support.smtp import SmtpSink
from tests.support.web import MultiHostServer
from tests.support.webhook import WebhookReceiver

WORDS = [
    "amber",
    "basalt",
    "cedar",
    "delta",
    "ember",
    "fjord",
    "garnet",
    "harbor",
    "indigo",
    "juniper",
    "kestrel",
    "lagoon",
    "meadow",
    "nectar",
    "orchard",
    "pepper",
    "quarry",
    "raven",
    "saffron",
    "timber",
    "umber",
    "valley",
    "walnut",
    "yarrow",
    "zephyr",
    "bridge",
    "canal",
    "depot",
    "engine",
    "factory",
    "granary",
    "hospital",
    "island",
    "jetty",
    "kiln",
    "lighthouse",
    "market",
    "needle",
    "office",
    "pier",
    "quay",
    "railway",
    "school",
    "tannery",
    "university",
    "vineyard",
    "warehouse",
]


def outlet_host(number: int) -> str:
    return f"www.outlet-{number:02d}.test"


def matching_article(outlet: int, serial: int) -> FixtureArticle:
    """An article that the watch `palmyra` matches, with text of its own: near-duplicates in one
    outlet would be recognised as one story and alerted once."""
    pick = random.Random(outlet * 1000 + serial)

    def sentence() -> str:
        return " ".join(pick.choice(WORDS) for _ in range(14)).capitalize() + "."

    return FixtureArticle(
        path=f"/Detail/2026/12/01/story-{serial}.html",
        title=f"Palmyra report {serial} from outlet {outlet}",
        paragraphs=[
            f"Correspondents wrote from Palmyra in dispatch {serial}. "
            + " ".join(sentence() for _ in range(4)),
            " ".join(sentence() for _ in range(5)),
        ],
    )


def build_site(web: MultiHostServer, outlets: int) -> list[OutletSite]:
    sites = []
    for number in range(outlets):
        site = OutletSite(web, [outlet_host(number)])
        site.add_article(matching_article(number, 0))
        sites.append(site)
    return sites


def workers_config(
    store: str,
    outlets: int,
    every: str,
    smtp: SmtpSink | None = None,
    webhook: WebhookReceiver | None = None,
    *,
    extra_outlets: str = "",
    lease: str = "2s",
    requeue_after: str = "5s",
    polls_in_flight: int = 8,
) -> str:
    lines = [
        f"store: {store}",
        "max_age: 3d",
        "crawl:",
        "  timeout: 10s",
        "  obey_robots: false",
        "workers:",
        f"  lease: {lease}",
        f"  requeue_after: {requeue_after}",
        f"  polls_in_flight: {polls_in_flight}",
        "outlets:",
    ]
    for number in range(outlets):
        lines += [
            f"  outlet-{number:02d}:",
            f"    domains: [{outlet_host(number)}]",
            "    scheme: http",
            "    feeds: [/rss.xml]",
            "    articles: '^/Detail/'",
            f"    every: {every}",
        ]
    lines.append(extra_outlets.rstrip())
    notify = [c for c, present in (("analysts", smtp), ("siem", webhook)) if present]
    lines += ["watches:", "  palmyra:", "    query: Palmyra", f"    notify: [{', '.join(notify)}]"]
    lines.append("channels:")
    if smtp is not None:
        lines += [
            "  analysts:",
            "    type: email",
            "    to: [analyst@example.org]",
            "    from: newswatch@example.org",
            f"    smtp: {smtp.url}",
        ]
    if webhook is not None:
        lines += ["  siem:", "    type: webhook", f"    url: {webhook.url}", "    format: json"]
    if not notify:
        lines += ["  terminal:", "    type: console"]
        lines[lines.index("    notify: []")] = "    notify: [terminal]"
    return "\n".join(line for line in lines if line) + "\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_worker(
    folder: Path, web: MultiHostServer, index: int, listen_port: int | None = None
) -> subprocess.Popen[bytes]:
    """One ``newswatch run`` in ``folder`` (its config there), logging to ``worker-<index>.log``."""
    env = {
        **os.environ,
        **web.proxy_env(),
        "no_proxy": "127.0.0.1,localhost",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    args = [
        *newswatch_command(),
        "run",
        *(["-v"] if os.environ.get("NEWSWATCH_TEST_VERBOSE") else []),
    ]
    work = folder / f"worker-{index}"
    work.mkdir(exist_ok=True)
    config = folder / "newswatch.yaml"
    text = config.read_text(encoding="utf-8")
    text += f"service:\n  listen: 127.0.0.1:{listen_port or free_port()}\n"
    (work / "newswatch.yaml").write_text(text, encoding="utf-8")
    with (folder / f"worker-{index}.log").open("w") as log:
        return subprocess.Popen(args, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
