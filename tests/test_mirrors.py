"""Candidate mirrors and their verification, piece by piece (the whole is in
tests/test_mirror_discovery.py): what counts as an announced address, what a mirror list gives,
where a candidate may live, and what verdict its answers earn."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from newswatch.alerts.notices import Notices, mirror_found
from newswatch.alerts.render import Renderer
from newswatch.alerts.webhook import webhook_body
from newswatch.config import load_config
from newswatch.health import OutletStatus
from newswatch.mirrors import ArticleSample, DiscoveredMirror
from newswatch.scheduler.health import Metrics, ServiceHealth
from newswatch.scheduler.status import render_status
from newswatch.spiders.mirrors import Candidate, announced_hosts, host_of, hosts_in_list
from newswatch.spiders.poll import MAX_CANDIDATES, OutletPoll
from newswatch.spiders.verification import (
    Check,
    addresses_problem,
    compare,
    page_fingerprint,
    system_resolver,
    verdict,
)
from newswatch.store import open_store

PAGE = "http://www.presstv.ir/Detail/2026/11/27/palmyra.html"
OWN = ["www.presstv.ir", "www.presstv.com"]


def hosts(html: str) -> dict[str, str]:
    return {c.host: c.announced_as for c in announced_hosts(html, PAGE, OWN)}


def test_a_host_name_written_in_the_text_with_or_without_a_scheme_is_a_candidate() -> None:
    html = (
        "<html><body><article><p>Palmyra news.</p></article><footer><p>Press TV's website can "
        "also be accessed at the following alternate addresses: www.presstv.co.uk and "
        "https://presstv.tv/</p></footer></body></html>"
    )
    assert hosts(html) == {"www.presstv.co.uk": "text", "presstv.tv": "text"}
    [first, _] = announced_hosts(html, PAGE, OWN)
    assert first == Candidate("www.presstv.co.uk", "text", PAGE)


def test_in_any_script_around_it() -> None:
    html = (
        "<body><p>يمكنكم متابعة موقعنا على العنوان البديل presstv.co.uk أيضاً</p>"
        "<p>Наше зеркало:presstv.tv.</p></body>"
    )
    assert set(hosts(html)) == {"presstv.co.uk", "presstv.tv"}


def test_what_only_looks_like_a_host_name_is_not_one() -> None:
    html = (
        "<body><p>Write to news@presstv.co.uk, read report.pdf or index.html, e.g. in the U.S.; "
        "the outlet's own www.presstv.com and WWW.PRESSTV.IR are not candidates, nor 10.0.0.1."
        "</p><script>var cdn = 'cdn.example.net';</script></body>"
    )
    assert hosts(html) == {}


def test_only_text_a_reader_sees_names_candidates_however_deep_it_sits() -> None:
    html = (
        "<body><div><script>var mirror = 'presstv.net';</script>Our mirror: presstv.tv"
        "<style>/* mirror presstv.org */</style><!-- mirror presstv.info --> and "
        "<noscript>mirror presstv.biz</noscript>presstv.co.uk</div>"
        + "<div>" * 250
        + "also at the alternate address presstv.us"
        + "</div>" * 250
        + "</body>"
    )
    assert hosts(html) == {"presstv.tv": "text", "presstv.co.uk": "text", "presstv.us": "text"}


def test_a_site_an_article_merely_mentions_is_no_candidate_one_bearing_the_outlets_name_is() -> (
    None
):
    html = (
        "<body><p>The footage was first posted on www.youtube.com and reported by bbc.co.uk, "
        "as Reuters.com confirmed.</p><p>Follow presstv.tv</p></body>"
    )
    assert hosts(html) == {"presstv.tv": "text"}


def test_links_count_when_their_text_or_sentence_announces_them() -> None:
    html = (
        '<body><p>Our new mirror: <a href="https://ptv-mirror.net/">click here</a></p>'
        '<p><a href="https://www.presstv.co.uk/">www.presstv.co.uk</a></p>'
        '<p>Partner sites: <a href="https://partner.org/">our partners</a></p></body>'
    )
    assert hosts(html) == {"ptv-mirror.net": "link", "www.presstv.co.uk": "link"}


def test_link_relations_to_another_domain() -> None:
    html = (
        '<html><head><link rel="canonical" href="https://www.presstv.ir/x">'
        '<link rel="alternate" hreflang="fa" href="https://farsi.presstv.co.uk/x">'
        '<link rel="alternate" type="application/rss+xml" href="https://feeds.example.com/r">'
        '<meta property="og:url" content="https://presstv.tv/x"></head><body></body></html>'
    )
    assert hosts(html) == {"farsi.presstv.co.uk": "rel=alternate", "presstv.tv": "og:url"}
    canonical = '<html><head><link rel="canonical" href="https://presstv.tv/x"></head></html>'
    assert hosts(canonical) == {"presstv.tv": "rel=canonical"}


def test_mirror_lists_as_json_or_plain_text() -> None:
    assert hosts_in_list(
        b'{"mirrors": [{"url": "https://www.presstv.co.uk/"}, "presstv.tv"], "updated": 3}'
    ) == ["www.presstv.co.uk", "presstv.tv"]
    assert hosts_in_list(b"www.presstv.co.uk\nhttps://presstv.tv/home\n\nnot a domain\n") == [
        "www.presstv.co.uk",
        "presstv.tv",
    ]
    assert hosts_in_list(b"<html>nothing here</html>") == []
    assert host_of("HTTPS://WWW.PressTV.co.uk:443/x") == "www.presstv.co.uk"


@pytest.mark.parametrize(
    ("addresses", "problem"),
    [
        (["127.0.0.1"], "loopback"),
        (["10.1.2.3"], "private"),
        (["192.168.0.5"], "private"),
        (["169.254.169.254"], "link-local"),
        (["fe80::1"], "link-local"),
        (["::ffff:127.0.0.1"], "loopback"),
        (["93.184.215.14", "10.0.0.1"], "private"),  # one internal address is enough
    ],
)
def test_a_candidate_resolving_to_an_internal_address_is_rejected(
    addresses: list[str], problem: str
) -> None:
    found = addresses_problem(addresses)
    assert found is not None and problem in found


def test_public_addresses_pass_and_the_system_resolver_answers() -> None:
    assert addresses_problem(["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]) is None
    assert "127.0.0.1" in system_resolver("localhost") or "::1" in system_resolver("localhost")
    assert system_resolver("no-such-host.invalid") == []


ARTICLE = (
    "<html><head><title>Army retakes Palmyra</title></head><body><nav><p>Home</p></nav>"
    "<article><p>Government forces said on Sunday they had pushed militants out of the "
    "historic centre of Palmyra after weeks of fighting around the desert city.</p>"
    "<p>Archaeologists warned that the colonnade had been badly damaged.</p></article>"
    "<footer><p>{footer}</p></footer></body></html>"
)


def test_the_same_page_under_another_footer_has_the_same_fingerprint() -> None:
    original = page_fingerprint(ARTICLE.format(footer="Copyright"))
    copy = page_fingerprint(ARTICLE.format(footer="Also at www.presstv.co.uk"))
    other = page_fingerprint(
        "<html><head><title>Casino</title></head><body><p>Free spins and bonuses for every "
        "new player who signs up today at our casino.</p></body></html>"
    )
    assert original is not None and original == copy
    assert compare("/a", original, copy).similarity == 1.0
    assert (compare("/a", original, other).similarity or 0) < 0.3
    assert compare("/a", original, None).similarity == 0.0
    assert page_fingerprint("<html><body><nav><p>Only furniture</p></nav></body></html>") is None


def test_verdicts() -> None:
    same, other = Check("/a", 1.0), Check("/b", 0.1)
    state, text = verdict([same, Check("/b", 0.9)], attempts=0)
    assert state == "verified" and "served 2 of 2 recent articles the same" in text
    # one article the same is not enough: a site quoting one story is no mirror
    assert verdict([same, other], 0)[0] == "rejected"
    assert verdict([Check("/a", 0.0, answer="HTTP 404")] * 2, 0) == (
        "rejected",
        "serves other content: 0 of 2 recent articles the same; answered HTTP 404",
    )
    unresolved = [Check("", answer="resolves to 10.0.0.1, a private address")]
    assert verdict(unresolved, 0)[0] == "rejected"
    silent = [same, Check("/b", error="Connection refused")]
    assert verdict(silent, 0)[0] == "candidate"  # no answer: asked again by a later poll
    assert verdict(silent, 2)[0] == "rejected"  # ... three times at most
    # a poll cut short before every answer came proves nothing against the candidate
    state, text = verdict([Check("/a", 0.1)], 0, complete=False)
    assert state == "candidate" and "the poll ended before every answer came" in text


def _config(tmp_path: Path, policy: str) -> object:
    (tmp_path / "c.yaml").write_text(
        "outlets:\n  presstv:\n    domains: [www.presstv.ir, www.presstv.com]\n"
        f"    feeds: [/rss]\n    discover_mirrors: {policy}\n"
        "channels:\n  ops: {type: console}\nnotices: [ops]\n"
    )
    return load_config(tmp_path / "c.yaml").config


def _status_with_mirrors() -> OutletStatus:
    now = datetime.now(UTC)
    status = OutletStatus()
    status.mirrors["www.presstv.co.uk"] = DiscoveredMirror(
        "www.presstv.co.uk", "text", PAGE, now - timedelta(hours=1), "verified", now, "served 2"
    )
    status.mirrors["decoy.net"] = DiscoveredMirror(
        "decoy.net", "redirect", PAGE, now, "rejected", now, "serves other content"
    )
    status.add_samples([ArticleSample("/a", "f" * 512), ArticleSample("/b", "e" * 512)])
    return status


def test_discovered_mirrors_survive_json_and_only_auto_adopts_them(tmp_path: Path) -> None:
    status = OutletStatus.from_json(_status_with_mirrors().to_json())
    assert status.adopted_mirrors() == ["www.presstv.co.uk"]
    assert [s.path for s in status.samples] == ["/a", "/b"]
    status.add_samples([ArticleSample("/c", "d" * 512), ArticleSample("/a", "c" * 512)])
    assert [s.path for s in status.samples] == ["/c", "/a", "/b"]  # newest first, one a path
    for policy, domains in (
        ("auto", [*OWN, "www.presstv.co.uk"]),
        ("suggest", OWN),
        ("off", OWN),
    ):
        outlet = _config(tmp_path, policy).outlets["presstv"]  # type: ignore[attr-defined]
        poll = OutletPoll("presstv", outlet, status, timedelta(minutes=10))
        assert poll.domains == domains
        poll.note_candidate(Candidate("decoy.net", "text", PAGE))  # remembered as rejected
        poll.note_candidate(Candidate("new.presstv.tv", "text", PAGE))
        assert list(poll.candidates) == ([] if policy == "off" else ["new.presstv.tv"])


def test_status_metrics_and_the_notice_say_where_and_how(tmp_path: Path) -> None:
    config = _config(tmp_path, "auto")
    status = _status_with_mirrors()
    store = open_store(None, timedelta(days=1), tmp_path / "state")
    try:
        store.save_outlet_status("presstv", status.to_json())
        text = render_status(config, store)  # type: ignore[arg-type]
    finally:
        store.close()
    assert "discovered mirrors (discover_mirrors: auto):" in text
    assert (
        f"www.presstv.co.uk: verified, in use after the configured domains; announced as text "
        f"at {PAGE}" in text
    )
    assert f"decoy.net: rejected; announced as redirect at {PAGE}" in text
    assert "serves other content" in text

    metrics = Metrics()
    ServiceHealth(config, metrics).load({"presstv": status})  # type: ignore[arg-type]
    rendered = metrics.render().decode()
    assert 'newswatch_mirrors_discovered{outlet="presstv",state="verified"} 1.0' in rendered
    assert 'newswatch_mirrors_discovered{outlet="presstv",state="rejected"} 1.0' in rendered

    notice = mirror_found("presstv", status.mirrors["www.presstv.co.uk"], "suggest")
    again = mirror_found("presstv", status.mirrors["www.presstv.co.uk"], "suggest")
    assert notice["id"] == again["id"]  # one event, one notice
    assert notice["notice"]["kind"] == "mirror_found"
    assert "announced as text at" in notice["notice"]["text"]
    assert "add it to the outlet's domains" in notice["notice"]["text"]


def test_the_mirror_notice_renders_for_every_channel_kind_and_is_queued_once(
    tmp_path: Path,
) -> None:
    notice = mirror_found("presstv", _status_with_mirrors().mirrors["www.presstv.co.uk"], "auto")
    renderer = Renderer()
    assert renderer.subject(notice) == (
        "[newswatch] outlet presstv has a new mirror: www.presstv.co.uk"
    )
    assert "tries it after the configured domains" in renderer.text(notice)
    assert "www.presstv.co.uk" in renderer.html(notice)
    assert b'"kind":"mirror_found"' in webhook_body(notice)
    for template in ("notice_slack.json", "notice_discord.json"):
        assert "www.presstv.co.uk" in renderer.render(template, notice)
    store = open_store(None, timedelta(days=1), tmp_path / "state")
    try:
        assert Notices(store, ["ops"]).send(notice)
        assert not Notices(store, ["ops"]).send(notice)  # seen again by a later poll
    finally:
        store.close()


def test_a_verified_mirror_is_checked_again_and_dropped_once_it_serves_other_content(
    tmp_path: Path,
) -> None:
    outlet = _config(tmp_path, "auto").outlets["presstv"]  # type: ignore[attr-defined]
    status = _status_with_mirrors()
    mirror = status.mirrors["www.presstv.co.uk"]
    store = open_store(None, timedelta(days=1), tmp_path / "state")
    try:
        fresh = OutletPoll("presstv", outlet, status, timedelta(minutes=10))
        assert fresh.to_verify() == []  # checked just now: trusted as it is

        mirror.checked = datetime.now(UTC) - timedelta(days=2)
        silent = OutletPoll("presstv", outlet, status, timedelta(minutes=10))
        assert silent.to_verify() == ["www.presstv.co.uk"]
        silent.expected_checks["www.presstv.co.uk"] = 2
        for path in ("/a", "/b"):
            silent.record_check("www.presstv.co.uk", Check(path, error="Connection refused"))
        silent.finish(store)
        assert mirror.state == "verified"  # blocked for now proves nothing against it
        assert mirror.verdict.startswith("still trusted: ")

        mirror.checked = datetime.now(UTC) - timedelta(days=2)
        lapsed = OutletPoll("presstv", outlet, status, timedelta(minutes=10))
        lapsed.expected_checks["www.presstv.co.uk"] = 2
        for path in ("/a", "/b"):
            lapsed.record_check("www.presstv.co.uk", Check(path, 0.05))
        lapsed.finish(store)
        assert mirror.state == "rejected"
        after = OutletPoll("presstv", outlet, status, timedelta(minutes=10))
        assert after.domains == OWN  # no longer in the failover order
    finally:
        store.close()


def test_announced_addresses_go_before_mere_mentions_and_each_kind_is_capped(
    tmp_path: Path,
) -> None:
    outlet = _config(tmp_path, "suggest").outlets["presstv"]  # type: ignore[attr-defined]
    poll = OutletPoll("presstv", outlet, OutletStatus(), timedelta(minutes=10))
    assert poll.brand == "presstv"
    for n in range(MAX_CANDIDATES + 5):  # an article citing many other sites
        poll.note_candidate(Candidate(f"site{n}.com", "text", PAGE))
    poll.note_candidate(Candidate("www.presstv.co.uk", "text", PAGE))  # bears the outlet's name
    poll.note_candidate(Candidate("ptv-new.net", "redirect", PAGE))
    assert len(poll.candidates) == MAX_CANDIDATES + 2
    assert poll.to_verify() == ["www.presstv.co.uk", "ptv-new.net", "site0.com"]


def test_names_past_the_cap_of_live_lookup_threads_wait_for_a_later_poll() -> None:
    from types import SimpleNamespace

    from newswatch.spiders.mirror_checks import MAX_LOOKUP_THREADS, MirrorChecks

    asked: list[str] = []
    counted: list[str] = []
    checks = MirrorChecks()
    checks.context = SimpleNamespace(resolver=asked.append)  # type: ignore[assignment]
    checks._lookup_threads = MAX_LOOKUP_THREADS  # as many as may live, all still hanging
    checks._stat = lambda key, count=1: counted.append(key)  # type: ignore[method-assign]
    poll = SimpleNamespace(lookups={})
    outcome: list[object] = []
    checks._lookup(poll, "www.presstv.co.uk").addCallback(outcome.append)  # type: ignore[arg-type]
    assert outcome == [None]  # not resolved in this poll: it stays a candidate
    assert asked == [] and checks._lookup_threads == MAX_LOOKUP_THREADS
    assert counted == ["newswatch/mirror_lookups_put_off"]
