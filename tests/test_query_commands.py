"""The query language at the front door, through the real ``newswatch`` command.

``check`` names every watch whose meaning changed when OR came to bind tighter than
juxtaposition, and ``--explain`` shows how one query is grouped; ``try`` fetches pages through
the local multi-host server as a poll would and says what matched, and where a term that did
not count sat.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from newswatch.spiders.placement import furniture_phrase
from tests.e2e import HARVEST, MIRROR, PALMYRA, PRIMARY, run_newswatch, write_config
from tests.support.outlet_site import render_article
from tests.support.web import MultiHostServer

pytestmark = pytest.mark.e2e

USER_AGENT = "newswatch-try-test/1.0"
CONFIG = f"""
    crawl:
      user_agent: {USER_AGENT}
    outlets:
      pressdesk:
        domains: [{PRIMARY}, {MIRROR}]
        scheme: http
        feeds: [/rss.xml]
    watches:
      palmyra:
        query: 'Palmyra OR Tadmur OR "تدمر" -"Palmyra, New York"'
        notify: [terminal]
      harvest-rye:
        query: 'harvest rye'
        notify: [terminal]
      grouped:
        query: '(Palmyra OR Tadmur) museum'
        notify: [terminal]
      syria:
        query: 'Syria Palmyra OR Tadmur'
        notify: [terminal]
      near:
        query: 'Пальмир* NEAR/5 музей'
        notify: [terminal]
    channels:
      terminal:
        type: console
"""


def test_check_names_each_watch_whose_reading_changed(tmp_path: Path) -> None:
    write_config(tmp_path, CONFIG)
    result = run_newswatch("check", cwd=tmp_path)
    assert result.code == 0, result.stderr
    warnings = [line for line in result.stdout.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: watch 'palmyra' reads differently since OR binds tighter than juxtaposition"
        ' now: was Palmyra OR Tadmur OR ("تدمر" -"Palmyra, New York")'
        ' | now (Palmyra OR Tadmur OR "تدمر") -"Palmyra, New York"',
        "warning: watch 'syria' reads differently since OR binds tighter than juxtaposition"
        " now: was (Syria Palmyra) OR Tadmur | now Syria (Palmyra OR Tadmur)",
    ]
    assert "Traceback" not in result.stderr


def test_a_query_that_only_the_old_precedence_accepts_is_refused_with_its_old_reading(
    tmp_path: Path,
) -> None:
    write_config(tmp_path, CONFIG.replace("'harvest rye'", "'harvest OR -rye wheat'"))
    result = run_newswatch("check", cwd=tmp_path)
    assert result.code == 2
    assert "newswatch.yaml:13: watch 'harvest-rye'" in result.stderr
    assert "column 12: only exclusions here" in result.stderr
    assert "it used to read as harvest OR (-rye wheat)" in result.stderr


def test_check_explain_prints_the_tree_in_words(tmp_path: Path) -> None:
    write_config(tmp_path, CONFIG)
    result = run_newswatch("check", "--explain", "palmyra", cwd=tmp_path)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:9] == [
        'watch palmyra: Palmyra OR Tadmur OR "تدمر" -"Palmyra, New York"',
        'read as: (Palmyra OR Tadmur OR "تدمر") -"Palmyra, New York"',
        "all of:",
        "  any of:",
        '    the word "Palmyra", in the title or the text',
        '    the word "Tadmur", in the title or the text',
        '    the word "تدمر", in the title or the text',
        "  but not:",
        '    the phrase "Palmyra, New York", in the title or the text',
    ]
    assert lines[9].startswith("warning: watch 'palmyra' reads differently")

    near = run_newswatch("check", "--explain", "near", cwd=tmp_path)
    assert near.stdout.splitlines()[2:] == [
        "both, at most 5 words apart, in either order:",
        '  a word starting with "Пальмир", in the title or the text',
        '  the word "музей", in the title or the text',
    ]
    unknown = run_newswatch("check", "--explain", "nosuch", cwd=tmp_path)
    assert unknown.code == 2
    assert "unknown watch 'nosuch'" in unknown.stderr and "Traceback" not in unknown.stderr


# --- newswatch try ----------------------------------------------------------------------------

SIDEBAR_PATH = "/Detail/2026/11/27/harvest.html"
GONE_PATH = "/Detail/2026/11/27/gone.html"
MOST_READ = (
    '<aside class="most-read"><h2>Most read</h2><ul>'
    '<li><a href="/Detail/2026/11/26/museum.html">Palmyra museum reopens to visitors</a></li>'
    '<li><a href="/Detail/2026/11/26/roads.html">Flooding closes roads in the south</a></li>'
    "</ul></aside>"
)


def _serve(web: MultiHostServer) -> None:
    article = render_article(PALMYRA, f"http://{PRIMARY}{PALMYRA.path}")
    sidebar = render_article(HARVEST, f"http://{PRIMARY}{SIDEBAR_PATH}")
    sidebar = sidebar.replace("</main>", f"{MOST_READ}</main>")
    for host in (PRIMARY, MIRROR):
        web.site(host).add(PALMYRA.path, article)
        web.site(host).add(SIDEBAR_PATH, sidebar)
    web.site("down.example.test").mode = "refuse"


def _section(stdout: str, start: str) -> list[str]:
    """The headline line starting with ``start`` and the indented lines under it."""
    lines = stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(start))
    section = [lines[at]]
    for line in lines[at + 1 :]:
        if not line.startswith("  "):
            break
        section.append(line)
    return section


def test_try_judges_fetched_pages_as_a_poll_would(tmp_path: Path, web: MultiHostServer) -> None:
    write_config(tmp_path, CONFIG)
    _serve(web)
    article = f"http://{MIRROR}{PALMYRA.path}"  # through a mirror
    sidebar = f"http://{PRIMARY}{SIDEBAR_PATH}"
    gone = f"http://{PRIMARY}{GONE_PATH}"
    down = "http://down.example.test/story.html"
    result = run_newswatch(
        "try",
        'Palmyra OR Tadmur -"Palmyra, New York"',
        article,
        sidebar,
        gone,
        down,
        cwd=tmp_path,
        web=web,
    )
    assert result.code == 0, result.stderr
    out = result.stdout
    assert out.startswith('query: (Palmyra OR Tadmur) -"Palmyra, New York"\n')
    assert "warning: before OR bound tighter than juxtaposition this read as" in out

    assert _section(out, article) == [
        f"{article}: matched",
        f"  outlet pressdesk, article http://{PRIMARY}{PALMYRA.path}",
        f"  title: {PALMYRA.title}",
        "  Palmyra (title): Army retakes [Palmyra]'s ancient citadel",
    ]
    assert _section(out, sidebar) == [
        f"{sidebar}: not matched",
        f"  outlet pressdesk, article {sidebar}",
        f"  title: {HARVEST.title}",
        "  term Palmyra occurs in a sidebar, not counted: [Palmyra] museum reopens to visitors",
    ]
    assert _section(out, gone) == [f"{gone}: not read: HTTP 404 Not Found"]
    (down_line,) = _section(out, down)
    assert down_line.startswith(f"{down}: not read: ")

    # Only where asked, as the crawl settings say: the pages named and their robots.txt.
    asked = {(r.host, r.path) for r in web.requests}
    assert asked == {
        (MIRROR, "/robots.txt"),
        (MIRROR, PALMYRA.path),
        (PRIMARY, "/robots.txt"),
        (PRIMARY, SIDEBAR_PATH),
        (PRIMARY, GONE_PATH),
        ("down.example.test", "/robots.txt"),
        ("down.example.test", "/story.html"),
    }
    assert {r.headers.get("user-agent") for r in web.requests} == {USER_AGENT}


def test_try_obeys_robots_txt_and_works_on_files_without_a_config(
    tmp_path: Path, web: MultiHostServer
) -> None:
    _serve(web)
    web.site(PRIMARY).add("/robots.txt", "User-agent: *\nDisallow: /Detail/\n", "text/plain")
    page = tmp_path / "saved.html"
    page.write_text(render_article(PALMYRA, "http://example.org/a"), encoding="utf-8")
    menu = tmp_path / "menu.html"  # no article at all: only a menu names Palmyra
    menu.write_text(
        "<html><head><title>Press Desk: World</title></head><body><header><nav>"
        '<a href="/">Home</a> <a href="/palmyra/">Palmyra</a></nav></header><footer><p>'
        "© Press Desk. All rights reserved. Contact us about licensing.</p></footer></body></html>",
        encoding="utf-8",
    )
    result = run_newswatch(
        "try",
        "Пальмир* OR Palmyr* NEAR/4 colonnade",
        f"http://{PRIMARY}{PALMYRA.path}",
        str(page),
        str(menu),
        cwd=tmp_path,  # no newswatch.yaml here: default crawl settings
        web=web,
    )
    assert result.code == 0, result.stderr
    assert (
        f"http://{PRIMARY}{PALMYRA.path}: not read: robots.txt disallows it, so a poll would "
        "not fetch it"
    ) in result.stdout
    assert (PRIMARY, PALMYRA.path) not in {(r.host, r.path) for r in web.requests}
    section = _section(result.stdout, f"{page} (")
    assert section[0].endswith(": not matched")  # colonnade is 8 words after the Palmyra of
    assert any("term Palmyr* (title, the query as a whole did not hold)" in ln for ln in section)
    assert any("term colonnade (body, the query as a whole did not hold)" in ln for ln in section)
    assert _section(result.stdout, f"{menu} (")[1:] == [
        "  title: Press Desk: World",
        "  no article text found on the page: a poll alerts nothing from it",
        "  term Palmyr* occurs in a navigation menu, not counted: Home [Palmyra]",
    ]


def test_try_refuses_a_bad_query(tmp_path: Path) -> None:
    result = run_newswatch("try", "Pa* museum", "page.html", cwd=tmp_path)
    assert result.code == 2
    assert "query 'Pa* museum': column 3: 'Pa*': put at least 3 letters before '*'" in (
        result.stderr
    )


@pytest.mark.parametrize(
    ("name", "phrase"),
    [
        ("mostread", "in a 'most read' list"),
        ("popular", "in a 'most read' list"),
        ("related", "in a 'related stories' list"),
        ("comments", "in the comments"),
        ("nav", "in a navigation menu"),
        ("navigation", "in a navigation menu"),
        ("aside", "in a sidebar"),
        ("complementary", "in a sidebar"),
        ("contentinfo", "in the page footer"),
        ("cookie", "in a cookie or consent notice"),
        ("form", "in a part of the page marked 'form'"),
    ],
)
def test_try_says_where_furniture_sits_in_words(name: str, phrase: str) -> None:
    """The names :func:`newswatch.spiders.placement.named_furniture` gives, as ``try`` prints them."""
    assert furniture_phrase(name) == phrase
