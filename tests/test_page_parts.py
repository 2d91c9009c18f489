"""The page's parts without a browser or a service: who may read it, what a listen address is,
the charts, the marked snippets, and what the page does with hostile or secret data in the store.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from newswatch.config import Config, load_config
from newswatch.errors import ConfigError
from newswatch.listen import is_loopback, split_listen
from newswatch.scheduler.page import PageApp
from newswatch.scheduler.page.auth import authorized
from newswatch.scheduler.page.charts import STRIP_CELLS, daily_bars, poll_strip
from newswatch.scheduler.page.snippets import marked
from newswatch.store import Store, open_store
from tests.e2e import write_config

TOKEN = "tok-3fG9"
HOOK_SECRET = "sign-8Hq2"


def basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        (f"Bearer {TOKEN}", True),
        (f"bearer  {TOKEN}", True),
        ("Bearer tok-3fG", False),
        (basic(f"analyst:{TOKEN}"), True),  # any user, the token as password
        (basic(f":{TOKEN}"), True),
        (basic(f"{TOKEN}:x"), False),
        ("Basic not-base64!", False),
        (f"Token {TOKEN}", False),
        (None, False),
        ("", False),
    ],
)
def test_authorized(header: str | None, ok: bool) -> None:
    assert authorized(header, TOKEN) is ok


def test_basic_auth_with_a_user_and_password_token() -> None:
    assert authorized(basic("ops:pw-77aa"), "ops:pw-77aa")
    assert authorized(basic("other:pw-77aa"), "ops:pw-77aa") is False
    assert authorized("Bearer ", "") is False  # no token configured: nothing matches


@pytest.mark.parametrize(
    ("listen", "host", "loopback"),
    [
        ("127.0.0.1:8787", "127.0.0.1", True),
        ("127.8.9.10:80", "127.8.9.10", True),
        ("[::1]:8787", "::1", True),
        ("localhost:8787", "localhost", True),
        (":8787", "127.0.0.1", True),
        ("0.0.0.0:8787", "0.0.0.0", False),
        ("[::]:8787", "::", False),
        ("192.168.1.5:8787", "192.168.1.5", False),
        ("newswatch.internal:8787", "newswatch.internal", False),
    ],
)
def test_listen_addresses(listen: str, host: str, loopback: bool) -> None:
    assert split_listen(listen)[0] == host
    assert is_loopback(host) is loopback


CONFIG = f"""
    outlets:
      pressdesk:
        domains: [www.pressdesk.test, mirror.pressdesk.test]
        feeds: [/rss.xml]
    watches:
      palmyra:
        query: Palmyra
        notify: [siem]
    channels:
      siem:
        type: webhook
        url: https://hooks.example.org/secret-path-Zr4
        secret: {HOOK_SECRET}
    service:
      listen: LISTEN
"""


def test_config_refuses_a_non_loopback_listen_without_auth(tmp_path: Path) -> None:
    path = write_config(tmp_path, CONFIG.replace("LISTEN", "0.0.0.0:8787"))
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert refused.value.line == 14  # service:
    assert "not a loopback address: set service.auth" in refused.value.reason
    write_config(tmp_path, CONFIG.replace("LISTEN", f"0.0.0.0:8787\n      auth: {TOKEN}"))
    assert load_config(path).config.service.auth == TOKEN
    write_config(tmp_path, CONFIG.replace("LISTEN", '"[::1]:8787"'))
    assert load_config(path).config.service.auth == ""


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Config, Store]]:
    write_config(tmp_path, CONFIG.replace("LISTEN", "127.0.0.1:8787"))
    config = load_config(tmp_path / "newswatch.yaml").config
    store = open_store(None, timedelta(days=30), tmp_path / "state")
    yield config, store
    store.close()


def page(config: Config, store: Store, listen: str = "127.0.0.1:8787") -> PageApp:
    return PageApp(lambda: config, store, listen)


def test_loopback_without_a_token_is_open_and_a_token_is_asked_for_when_set(setup) -> None:
    config, store = setup
    answer = page(config, store).handle("/", None, "127.0.0.1:8787")
    assert answer is not None and answer.status == 200
    with_token = config.model_copy(
        update={"service": config.service.model_copy(update={"auth": TOKEN})}
    )
    app = page(with_token, store)
    refused = app.handle("/alerts", None, None)
    assert refused is not None and refused.status == 401
    assert ("WWW-Authenticate", 'Basic realm="newswatch", charset="UTF-8"') in refused.headers
    answer = app.handle("/alerts", f"Bearer {TOKEN}", None)
    assert answer is not None and answer.status == 200
    assert app.handle("/healthz", None, None) is None  # the probe stays open: the server answers
    assert app.handle("/metrics", f"Bearer {TOKEN}", None) is None
    refused_metrics = app.handle("/metrics", None, None)
    assert refused_metrics is not None and refused_metrics.status == 401


def test_off_loopback_without_a_token_nothing_is_shown_even_if_the_config_let_it_through(
    setup,
) -> None:
    config, store = setup  # a config object built around the loader's check
    answer = page(config, store, "0.0.0.0:8787").handle("/", None, None)
    assert answer is not None and answer.status == 401


def test_hostile_article_text_is_escaped_and_secrets_in_stored_errors_are_hidden(setup) -> None:
    config, store = setup
    alert = {
        "id": "x1",
        "watch": "palmyra",
        "outlet": "pressdesk",
        "detected_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "article": {"url": "javascript:alert(1)", "title": "<script>alert(1)</script> Palmyra"},
        "matches": [
            {"term": "Palmyra", "field": "title", "snippet": "<b>x</b> Palmyra", "mark": [9, 16]}
        ],
    }
    assert store.claim("palmyra", "https://www.pressdesk.test/a", alert, ["siem"])
    [entry] = store.take_due("siem", "test", time.time(), 60)
    store.dead_letter(entry, f"POST https://hooks.example.org/secret-path-Zr4 {HOOK_SECRET}", 1.0)
    for path in ("/", "/alerts", "/watches", "/watches/palmyra.atom"):
        answer = page(config, store).handle(path, None, None)
        assert answer is not None and answer.status == 200, path
        body = answer.body.decode()
        assert "<script>" not in body and "secret-path-Zr4" not in body, path
        assert HOOK_SECRET not in body, path
        assert 'href="javascript:' not in body, path
        if path == "/alerts":
            assert "&lt;b&gt;x&lt;/b&gt; <mark>Palmyra</mark>" in body
            assert 'data-state="dead"' in body


def test_an_unreadable_store_is_a_503_not_a_crash(setup) -> None:
    config, store = setup
    store.close()
    answer = page(config, store).handle("/", None, None)
    assert answer is not None and answer.status == 503


def test_poll_strip_shows_the_worst_poll_of_each_slot() -> None:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    t = now.timestamp()
    cells = poll_strip([(t - 60, "ok"), (t - 50, "unreachable"), (t - 40, "mirror")], now)
    assert len(cells) == STRIP_CELLS
    assert cells[-1].outcome == "unreachable" and cells[-1].polls == 3
    assert {cell.outcome for cell in cells[:-1]} == {"none"}
    old = poll_strip([(t - 25 * 3600, "unreachable")], now)  # older than the strip
    assert {cell.outcome for cell in old} == {"none"}


def test_daily_bars_count_alerts_per_utc_day() -> None:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    day = 86400
    bars = daily_bars([now.timestamp(), now.timestamp() - 1, now.timestamp() - 2 * day], now, 30)
    assert len(bars) == 30 and bars[-1].day == "2026-11-27"
    assert [b.count for b in bars[-3:]] == [1, 0, 2]
    assert bars[-1].height == 1.0 and bars[-3].height == 0.5


def test_marked_escapes_and_falls_back_to_the_term() -> None:
    assert str(marked({"snippet": "a <i>Palmyra</i>", "mark": [5, 12]})) == (
        "a &lt;i&gt;<mark>Palmyra</mark>&lt;/i&gt;"
    )
    assert str(marked({"snippet": "in palmyra today", "term": "Palmyra"})) == (
        "in <mark>palmyra</mark> today"
    )
    assert str(marked({"snippet": "nothing", "mark": [3, 99]})) == "nothing"


def test_alerts_are_paged_newest_first_and_filtered(setup) -> None:
    config, store = setup
    now = time.time()
    for n in range(30):
        alert = {
            "id": f"a{n:02}",
            "watch": "palmyra",
            "outlet": "pressdesk",
            "detected_at": datetime.fromtimestamp(now - 3600 + n, UTC).isoformat(),
            "article": {"url": f"https://www.pressdesk.test/{n}", "title": f"Palmyra {n}"},
            "matches": [],
        }
        store.claim("palmyra", alert["article"]["url"], alert, ["siem"])
    app = page(config, store)

    def ids(target: str) -> list[str]:
        answer = app.handle(target, None, None)
        assert answer is not None and answer.status == 200
        body = answer.body.decode()
        return [part.split('"', 1)[0] for part in body.split('data-id="')[1:]]

    first = ids("/alerts")
    assert first == [f"a{n:02}" for n in range(29, 4, -1)]  # 25, newest first
    assert ids("/alerts?page=2") == [f"a{n:02}" for n in range(4, -1, -1)]
    assert ids("/alerts?page=x") == first
    assert ids("/alerts?outlet=pressdesk&watch=palmyra&page=2")[-1] == "a00"
    assert ids("/alerts?outlet=elsewhere") == []
    body = app.handle("/alerts?watch=palmyra", None, None)
    assert body is not None and b'href="/alerts?watch=palmyra&amp;page=2"' in body.body
