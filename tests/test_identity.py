"""Article identity: every way of reaching an article gives the same canonical URL."""

from __future__ import annotations

import pytest

from newswatch.identity import alert_id, canonical_url

DOMAINS = ["www.presstv.ir", "www.presstv.com", "www.presstv.co.uk"]
CANONICAL = "https://www.presstv.ir/Detail/2016/03/18/456.html"


@pytest.mark.parametrize(
    "url",
    [
        "https://www.presstv.ir/Detail/2016/03/18/456.html",
        "http://www.presstv.com/Detail/2016/03/18/456.html",
        "https://WWW.PRESSTV.CO.UK:443/Detail/2016/03/18/456.html#comments",
        "https://www.presstv.co.uk/Detail/2016/03/18/456.html?utm_source=rss&utm_medium=feed",
        "https://www.presstv.ir/Detail/2016/03/18/456.html?fbclid=abc&gclid=def",
    ],
)
def test_mirror_tracking_and_fragment_variants_are_one_article(url: str) -> None:
    assert canonical_url(url, DOMAINS, "https") == CANONICAL


def test_meaningful_query_parameters_are_kept_and_sorted() -> None:
    url = "https://www.presstv.com/Story?utm_campaign=x&page=2&id=7"
    assert canonical_url(url, DOMAINS, "https") == "https://www.presstv.ir/Story?id=7&page=2"


@pytest.mark.parametrize(
    "url",
    ["https://presstv.ir.evil.example/Detail/1", "https://example.org/", "mailto:a@b", "not a url"],
)
def test_links_outside_the_outlet_have_no_canonical_url(url: str) -> None:
    assert canonical_url(url, DOMAINS, "https") is None


def test_alert_id_is_stable_and_distinct() -> None:
    assert alert_id("palmyra", CANONICAL) == alert_id("palmyra", CANONICAL)
    assert alert_id("palmyra", CANONICAL) != alert_id("tadmur", CANONICAL)
    assert len(alert_id("palmyra", CANONICAL)) == 32
