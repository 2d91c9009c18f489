"""Large inputs are streamed or refused with a clear, counted reason, through
the real ``newswatch`` command against the local multi-host server."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.e2e import (
    PALMYRA,
    PRIMARY,
    config_text,
    newswatch_command,
    run_newswatch,
    write_config,
)
from tests.support.outlet_site import FixtureArticle, OutletSite, _rss
from tests.support.smtp import SmtpSink
from tests.support.web import MultiHostServer
from tests.support.webhook import WebhookReceiver

pytestmark = pytest.mark.e2e

SITEMAP_HEAD = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
    b'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">\n'
)

# Runs the command, then prints the peak resident memory of its process tree. It is a fresh
# interpreter on purpose: RUSAGE_CHILDREN is the largest of all the children a process has
# waited for, so measured in the test process it would include every earlier run of the
# session. Here the only child is the newswatch run (Linux counts a child's own waited-for
# children in, so the page-reader workers are included: the number is the largest of them).
MEASURE = textwrap.dedent(
    """
    import resource, subprocess, sys
    code = subprocess.run(sys.argv[1:]).returncode
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"PEAK_KB {peak} RC {code}", file=sys.stderr)
    """
)


def big_sitemap(palmyra_url: str, size: int) -> bytes:
    """An archive sitemap of ``size`` bytes: old entries, one recent Palmyra article midway."""
    entry = (
        "<url><loc>http://{host}/Detail/2020/01/01/archive-{n:07d}.html</loc>"
        "<lastmod>2020-01-01T00:00:00Z</lastmod></url>\n"
    )
    parts = [SITEMAP_HEAD]
    total = len(SITEMAP_HEAD)
    n = 0
    while total < size:
        if n == 200_000:
            recent = PALMYRA.published.isoformat()
            parts.append(
                f"<url><loc>{palmyra_url}</loc><news:news><news:publication_date>{recent}"
                "</news:publication_date></news:news></url>\n".encode()
            )
        line = entry.format(host=PRIMARY, n=n).encode()
        parts.append(line)
        total += len(line)
        n += 1
    parts.append(b"</urlset>\n")
    return b"".join(parts)


def test_a_45_mb_sitemap_is_read_as_a_stream_within_200_mb(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    site = OutletSite(web, [PRIMARY])
    site.add_article(PALMYRA, in_feed=False, on_homepage=False)
    plain = big_sitemap(f"http://{PRIMARY}{PALMYRA.path}", 45 * 1024 * 1024)
    compressed = gzip.compress(plain, compresslevel=9, mtime=0)
    assert len(compressed) < 5_000_000 < len(plain)  # within crawl.max_page_size: 5 MB
    # the same 45 MB twice: sent with Content-Encoding: gzip, and as a .gz file
    web.site(PRIMARY).add(
        "/big.xml", compressed, "application/xml", headers={"Content-Encoding": "gzip"}
    )
    web.site(PRIMARY).add("/big.xml.gz", compressed, "application/x-gzip")
    del plain
    write_config(
        tmp_path,
        config_text(
            None,
            smtp,
            webhook,
            domains=[PRIMARY],
            extra_outlet="sitemaps: [/big.xml, /big.xml.gz]",
        ),
    )
    env = dict(os.environ, **web.proxy_env())
    env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost"
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, *newswatch_command(), "run", "--once"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    log = done.stderr
    peak_line = [line for line in log.splitlines() if line.startswith("PEAK_KB ")][-1]
    peak_kb, code = int(peak_line.split()[1]), int(peak_line.split()[3])
    print(f"compressed {len(compressed)} B; peak {peak_kb / 1024:.0f} MB")
    assert code == 0, log
    assert peak_kb < 200 * 1024, f"peak {peak_kb / 1024:.0f} MB\n{log}"
    [post] = webhook.wait_for(1)
    assert post.json()["article"]["url"] == f"http://{PRIMARY}{PALMYRA.path}"
    assert [r.path for r in web.requests].count(PALMYRA.path) == 1
    assert not [r for r in web.requests if "/archive-" in r.path]  # older than max_age
    assert "read only in part" not in log and "errors:" not in log, log  # read whole, cleanly
    assert len(webhook.posts) == 1


def huge_feed(items: int) -> str:
    fillers = [
        FixtureArticle(
            path=f"/Detail/2026/11/27/filler-{n}.html",
            title=f"Filler {n}",
            paragraphs=["Wheat prices were steady on Thursday."],
        )
        for n in range(items)
    ]
    return _rss(PRIMARY, fillers)


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_an_oversized_feed_is_a_counted_feed_error_not_an_unreachable_outlet(
    tmp_path: Path,
    web: MultiHostServer,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
    encoding: str,
) -> None:
    site = OutletSite(web, [PRIMARY])
    site.add_article(PALMYRA)  # on the homepage (and in the feed, replaced below)
    feed = huge_feed(2_000).encode()
    assert len(feed) > 200_000
    if encoding == "gzip":  # small on the wire, over the limit once decompressed
        body = gzip.compress(feed, mtime=0)
        assert len(body) < 100_000
        web.site(PRIMARY).add(
            "/rss.xml", body, "application/rss+xml", headers={"Content-Encoding": "gzip"}
        )
    else:
        web.site(PRIMARY).add("/rss.xml", feed, "application/rss+xml")
    config = config_text(None, smtp, webhook, domains=[PRIMARY, "mirror.pressdesk.test"]).replace(
        "timeout: 5s", "timeout: 5s\n          max_page_size: 100KB"
    )
    write_config(tmp_path, config)
    result = run_newswatch("run", "--once", cwd=tmp_path, web=web, timeout=60)

    log = result.stderr
    assert result.code == 0, log
    assert (
        f"pressdesk: http://{PRIMARY}/rss.xml failed: feed too large: "
        "over crawl.max_page_size (100000 bytes)"
    ) in log, log
    assert "unreachable" not in log, log
    assert "pressdesk: polled in" in log and "feed_too_large: 1" in log, log
    assert not web.requests_for("mirror.pressdesk.test")  # the domain answered: no failover
    [post] = webhook.wait_for(1)
    assert post.json()["article"]["url"] == f"http://{PRIMARY}{PALMYRA.path}"
    status = run_newswatch("status", cwd=tmp_path)
    assert "feed_too_large" in status.stdout, status.stdout


def test_an_outlet_whose_only_feed_is_oversized_is_not_reported_unreachable(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    OutletSite(web, [PRIMARY])
    web.site(PRIMARY).add("/rss.xml", huge_feed(2_000), "application/rss+xml")
    config = (
        config_text(None, smtp, webhook, domains=[PRIMARY, "mirror.pressdesk.test"])
        .replace("timeout: 5s", "timeout: 5s\n          max_page_size: 100KB")
        .replace("            pages: [/]\n", "")
    )
    write_config(tmp_path, config)

    result = run_newswatch("run", "--once", cwd=tmp_path, web=web, timeout=60)

    log = result.stderr
    assert result.code == 0, log
    assert "feed too large: over crawl.max_page_size (100000 bytes)" in log, log
    assert "unreachable" not in log and "pressdesk: polled in" in log, log
    assert not web.requests_for("mirror.pressdesk.test")
    status = run_newswatch("status", cwd=tmp_path)
    assert "feed_too_large" in status.stdout and "unreachable" not in status.stdout.lower()
