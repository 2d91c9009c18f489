"""Detection quality: does a watch fire on what an article says, and never on the page around it?

A watch alerts when its phrase sits in an article's title or main content. This script asks
that question directly, the way a watch does, on every dev set of the shared corpus: each
*probe* is a phrase watched as a quoted query (``"the phrase"``), matched whole-word with the
product's normalisation (:func:`newswatch.alerts.matcher.compile_query`) against the title and text that
an extractor gives for the page.

  recall       share of *main-text probes* that match: phrases a reader finds in the article
  false alerts share of *furniture probes* that match: phrases that sit only in the page's
               navigation, "most read" and "related" boxes, comments, banners or footer

The three sets, each reported on its own:

  boilerplate  ``boilerplate_cases.json``: each page's annotated ``with`` strings are the
               main-text probes; its ``without`` strings are the furniture probes when they are
               visible on the page and neither occur in a ``with`` string nor in the headline
               (``<title>``, ``og:title``, ``<h1>``: a title match is a legitimate alert).
               Also broken down by the page's language (``<html lang>``, else the country the
               case names).
  articles     ``articles/`` with the human ``articleBody``: three phrases of four words from
               the body's paragraphs (first, middle, last) that are visible on the page are the
               main-text probes; up to three lines of visible text (two to twelve words) that
               occur neither in the body nor in the headline are the furniture probes.
  readability  ``readability_pages/``: the same two kinds of probes, with Readability.js's
               ``expected.html`` in place of a human body. That reference is another
               extractor's output, so read these columns as agreement with Readability.js, not
               as truth.

Probes are chosen by position, never at random, so every run measures the same phrases.

Extractors compared in one run: trafilatura with its default settings (the baseline of the
ratios), resiliparse's main-content extraction and readability-lxml when installed (``pip
install -e '.[bench]'``), and newswatch's own :func:`newswatch.spiders.extraction.extract_article`.
That judges a page as if every word were watched, so every block holds a watched term and the
full judging decides: the first stage of the judging, which decides per watch, is measured by
``bench/fit_placement.py`` instead. ``ms/page`` is the wall clock of the extractor call alone,
parsing included.

Usage, from the repository root in the project's virtualenv::

    python bench/detection_quality.py [--corpus PATH] [--set NAME] [--only NAME] [--misses N]

``--corpus`` defaults to ``$NEWSWATCH_CORPUS``, else ``../shared/corpus`` beside the repository.
``--misses N`` prints, for newswatch, up to N missed main-text probes and N false alerts.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import lxml.etree
import lxml.html
from scrapy.http import HtmlResponse

from newswatch.alerts.matcher import CompiledQuery, compile_query
from newswatch.alerts.query import parse_query
from newswatch.errors import QuerySyntaxError

__all__ = [
    "EXTRACTORS",
    "NEWSWATCH",
    "Page",
    "Scored",
    "default_corpus",
    "load_articles",
    "load_boilerplate",
    "load_readability",
    "score",
    "visible_lines",
]

REPO = Path(__file__).resolve().parent.parent

_INLINE_TAGS = "a abbr acronym b bdi bdo big cite code data del dfn em font i ins kbd mark q s"
_INLINE_TAGS += " samp small span strike strong sub sup time tt u var wbr label"
_INLINE = frozenset(_INLINE_TAGS.split())
_INVISIBLE = frozenset({"script", "style", "noscript", "template", "rt", "rp", "head"})
_PHRASE_WORDS = 4
_FURNITURE_WORDS = (2, 12)
_PROBES_PER_PAGE = 3
_FURNITURE_SLACK = 3  # words a furniture line may hold beyond the phrase (a count, a date)
_REGION_LANGUAGE = {"DE": "de", "AT": "de", "CH": "de", "FR": "fr", "IT": "it", "UK": "en"}
_REGION_LANGUAGE |= {"US": "en", "NO": "no", "CZ": "cs", "UA": "uk", "BRA": "pt"}
_SPANISH = ("PER", "VEN", "CHL", "ARG", "URY", "COL", "PRY")


@dataclass(frozen=True)
class Page:
    """One page with the phrases a watch must and must not fire on."""

    dataset: str
    page_id: str
    url: str
    html: str
    language: str
    main: tuple[str, ...]
    furniture: tuple[str, ...]
    reference: str = ""  # the whole main text, where the set has one (not boilerplate cases)


# --- probes ------------------------------------------------------------------------------


@cache
def probe_query(phrase: str) -> CompiledQuery | None:
    """The phrase as a watch writes it: one quoted phrase (None when it holds no word)."""
    cleaned = " ".join(phrase.replace('"', " ").split())
    if not cleaned:
        return None
    try:
        return compile_query(parse_query(f'"{cleaned}"'))
    except QuerySyntaxError:
        return None


def _matches(phrase: str, title: str, text: str) -> bool:
    query = probe_query(phrase)
    return query is not None and query.match(title, text) is not None


def visible_lines(root: lxml.html.HtmlElement) -> list[str]:
    """The page's text as a reader sees it, one line per block element."""
    body = root.find("body")
    parts: list[str] = []

    def walk(element: lxml.etree._Element) -> None:
        tag = element.tag.lower() if isinstance(element.tag, str) else ""
        if not tag or tag in _INVISIBLE:  # comments, processing instructions, scripts
            if element.tail:
                parts.append(element.tail)
            return
        block = tag not in _INLINE
        parts.append("\n" if block else "")
        parts.append(element.text or "")
        for child in element:
            walk(child)
        parts.append("\n" if block else "")
        parts.append(element.tail or "")

    walk(body if body is not None else root)
    return [line for line in (" ".join(p.split()) for p in "".join(parts).split("\n")) if line]


def _headline(root: lxml.html.HtmlElement) -> str:
    pieces = [str(t) for t in root.xpath("//head/title//text() | //h1//text()")]
    pieces += [
        str(c)
        for c in root.xpath(
            "//meta[@property='og:title' or @name='og:title' or @name='twitter:title']/@content"
        )
    ]
    return "\n".join(pieces)


def _spread(items: list[str], count: int) -> list[str]:
    """``count`` items spread evenly over ``items`` (first, middle, last for three)."""
    if len(items) <= count:
        return items
    step = (len(items) - 1) / (count - 1)
    return [items[round(i * step)] for i in range(count)]


def whole_words(phrase: str, visible: str) -> str | None:
    """``phrase`` cut to the whole words a watch can find on the page, or None.

    Annotators cut strings mid-word ("ei potenziellen" of "bei potenziellen"); a watch matches
    whole words only, so a partial first or last word is dropped.
    """
    words = phrase.split()
    for cut in (words, words[1:], words[:-1], words[1:-1]):
        candidate = " ".join(cut)
        if candidate and _matches(candidate, "", visible):
            return candidate
    return None


def _only_in_furniture(phrase: str, lines: list[str]) -> bool:
    """Whether every line holding ``phrase`` is the phrase itself, give or take a few words.

    Annotators picked strings they saw in the furniture, but a short one ("für", "More",
    "KULTUR") often occurs in the article too; such a phrase is not a furniture probe.
    """
    holding = [line for line in lines if _matches(phrase, "", line)]
    if len(holding) == 1:
        return True
    limit = len(phrase.split()) + _FURNITURE_SLACK
    return all(len(line.split()) <= limit for line in holding)


def _middle_phrase(paragraph: str) -> str:
    words = paragraph.split()
    start = max(0, (len(words) - _PHRASE_WORDS) // 2)
    return " ".join(words[start : start + _PHRASE_WORDS])


def _text_probes(
    reference: str, lines: list[str], headline: str
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Main-text probes from ``reference``'s paragraphs, furniture probes from page lines."""
    visible = "\n".join(lines)
    paragraphs = [p for p in re.split(r"\n\s*\n|\n", reference) if len(p.split()) >= _PHRASE_WORDS]
    main = [
        phrase
        for phrase in (_middle_phrase(p) for p in paragraphs)
        if _matches(phrase, "", visible)
    ]
    low, high = _FURNITURE_WORDS
    furniture = [
        line
        for line in dict.fromkeys(lines)
        if low <= len(line.split()) <= high
        and probe_query(line) is not None
        and not _matches(line, headline, reference)
    ]
    return (
        tuple(_spread(main, _PROBES_PER_PAGE)),
        tuple(_spread(furniture, _PROBES_PER_PAGE)),
    )


# --- the three sets ----------------------------------------------------------------------


def _decoded(raw: bytes, url: str) -> str:
    """Decode as the crawler does: Scrapy's charset detection on the raw bytes."""
    return HtmlResponse(url=url, body=raw).text


def _root(html: str) -> lxml.html.HtmlElement:
    return lxml.html.document_fromstring(html.encode("utf-8"), parser=_parser())


@cache
def _parser() -> lxml.html.HTMLParser:
    return lxml.html.HTMLParser(encoding="utf-8")


def _page_language(root: lxml.html.HtmlElement) -> str:
    lang = root.get("lang") or root.get("{http://www.w3.org/XML/1998/namespace}lang") or ""
    return lang.split("-")[0].split("_")[0].strip().lower()


def load_boilerplate(corpus: Path) -> list[Page]:
    cases = json.loads((corpus / "boilerplate_cases.json").read_text(encoding="utf-8"))["cases"]
    pages = []
    for case in cases:
        path = corpus / "boilerplate_pages" / f"{case['id']}.html.gz"
        url = case["url"] if case["url"].startswith("http") else "http://example.org/page.html"
        html = _decoded(gzip.decompress(path.read_bytes()), url)
        root = _root(html)
        headline = _headline(root)
        withs = "\n".join(case["with"])
        visible = "\n".join(visible_lines(root))
        lines = visible_lines(root)
        furniture = tuple(
            phrase
            for phrase in (whole_words(p, visible) for p in case["without"])
            if phrase
            and not _matches(phrase, headline, withs)
            and _only_in_furniture(phrase, lines)
        )
        region = (case.get("metadata") or {}).get("region") or ""
        language = _page_language(root) or (
            "es" if region in _SPANISH else _REGION_LANGUAGE.get(region, "?")
        )
        main = tuple(filter(None, (whole_words(p, visible) for p in case["with"])))
        pages.append(Page("boilerplate", case["id"], url, html, language, main, furniture))
    return pages


def load_articles(corpus: Path) -> list[Page]:
    pages = []
    for path in sorted((corpus / "articles").glob("*.html")):
        truth = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        url = str(truth["url"])
        html = _decoded(path.read_bytes(), url)
        root = _root(html)
        main, furniture = _text_probes(
            str(truth.get("articleBody") or ""), visible_lines(root), _headline(root)
        )
        body = str(truth.get("articleBody") or "")
        pages.append(Page("articles", path.stem, url, html, "en", main, furniture, body))
    return pages


def load_readability(corpus: Path) -> list[Page]:
    pages = []
    for folder in sorted(p for p in (corpus / "readability_pages").iterdir() if p.is_dir()):
        url = "http://fakehost/test/page.html"
        html = _decoded((folder / "source.html").read_bytes(), url)
        root = _root(html)
        expected = lxml.html.fragment_fromstring(
            (folder / "expected.html").read_text(encoding="utf-8"), create_parent="div"
        )
        reference = "\n".join(visible_lines(expected))
        main, furniture = _text_probes(reference, visible_lines(root), _headline(root))
        language = _page_language(root)
        pages.append(
            Page("readability", folder.name, url, html, language, main, furniture, reference)
        )
    return pages


LOADERS: dict[str, Callable[[Path], list[Page]]] = {
    "articles": load_articles,
    "boilerplate": load_boilerplate,
    "readability": load_readability,
}


# --- extractors --------------------------------------------------------------------------

Extractor = Callable[[str, str], "tuple[str, str] | None"]


def _trafilatura_defaults(html: str, url: str) -> tuple[str, str] | None:
    import trafilatura

    document = trafilatura.bare_extraction(html, url=url, with_metadata=True)
    if document is None or isinstance(document, dict):
        return None
    return document.title or "", document.text or ""


def _resiliparse(html: str, url: str) -> tuple[str, str] | None:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    tree = HTMLTree.parse(html)
    return tree.title or "", extract_plain_text(tree, main_content=True)


def _readability(html: str, url: str) -> tuple[str, str] | None:
    from readability import Document

    document = Document(html, url=url)
    summary = document.summary(html_partial=True)
    root = lxml.html.fragment_fromstring(summary, create_parent="div")
    return document.short_title() or "", "\n".join(visible_lines(root))


def _newswatch(html: str, url: str) -> tuple[str, str] | None:
    from newswatch.spiders.extraction import extract_article

    extracted = extract_article(html, url)
    return None if extracted is None else (extracted.title, extracted.text)


def _installed(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


NEWSWATCH = "newswatch"
EXTRACTORS: dict[str, Extractor] = {"trafilatura (defaults)": _trafilatura_defaults}
if _installed("resiliparse"):
    EXTRACTORS["resiliparse"] = _resiliparse
if _installed("readability"):
    EXTRACTORS["readability-lxml"] = _readability
EXTRACTORS[NEWSWATCH] = _newswatch


# --- scoring -----------------------------------------------------------------------------


@dataclass
class Scored:
    """One extractor over one set of pages: probe counts, per language, and misses."""

    name: str
    main: int = 0
    found: int = 0
    furniture: int = 0
    false: int = 0
    seconds: float = 0.0
    pages: int = 0
    by_language: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0] * 4))
    missed: list[tuple[Page, str]] = field(default_factory=list)
    false_hits: list[tuple[Page, str]] = field(default_factory=list)

    def count(self, page: Page, phrase: str, hit: bool, *, furniture: bool) -> None:
        """One probe's outcome: a hit is a found mention, or a false alert for furniture."""
        by_language = self.by_language[page.language]
        at = 2 if furniture else 0
        by_language[at] += 1
        by_language[at + 1] += hit
        if furniture:
            self.furniture += 1
            self.false += hit
            if hit:
                self.false_hits.append((page, phrase))
        else:
            self.main += 1
            self.found += hit
            if not hit:
                self.missed.append((page, phrase))

    @property
    def recall(self) -> float:
        return self.found / self.main if self.main else 1.0

    @property
    def false_rate(self) -> float:
        return self.false / self.furniture if self.furniture else 0.0

    @property
    def ms_per_page(self) -> float:
        return 1000 * self.seconds / self.pages if self.pages else 0.0


def score(name: str, extractor: Extractor, pages: Iterable[Page]) -> Scored:
    """Run ``extractor`` on every page and count the probes a watch would fire on."""
    scored = Scored(name)
    for page in pages:
        started = time.perf_counter()
        out = extractor(page.html, page.url)
        scored.seconds += time.perf_counter() - started
        scored.pages += 1
        title, text = out if out is not None else ("", "")
        for phrase in page.main:
            scored.count(page, phrase, _matches(phrase, title, text), furniture=False)
        for phrase in page.furniture:
            scored.count(page, phrase, _matches(phrase, title, text), furniture=True)
    return scored


def default_corpus() -> Path:
    raw = os.environ.get("NEWSWATCH_CORPUS")
    return Path(raw).expanduser() if raw else REPO.parent / "shared" / "corpus"


def _table(dataset: str, pages: list[Page], results: list[Scored]) -> Iterator[str]:
    base = results[0]
    main = sum(len(p.main) for p in pages)
    furniture = sum(len(p.furniture) for p in pages)
    yield f"\n{dataset}: {len(pages)} pages, {main} main-text probes, {furniture} furniture probes"
    yield f"  {'extractor':<24} {'recall':>7} {'false':>7} {'ms/page':>8} {'missed x':>9} {'false x':>8}"
    for m in results:
        missed_x = (1 - m.recall) / (1 - base.recall) if base.recall < 1 else float("nan")
        false_x = m.false_rate / base.false_rate if base.false_rate else float("nan")
        yield (
            f"  {m.name:<24} {m.recall:>7.3f} {m.false_rate:>7.3f} {m.ms_per_page:>8.1f}"
            f" {missed_x:>9.2f} {false_x:>8.2f}"
        )


def _languages(results: list[Scored]) -> Iterator[str]:
    languages = sorted(
        results[0].by_language, key=lambda lang: -sum(results[0].by_language[lang][::2])
    )
    yield "  by language (recall / false alerts, probes main+furniture):"
    yield "  " + f"{'lang':<6}{'probes':>9}" + "".join(f"  {m.name[:22]:>22}" for m in results)
    for lang in languages:
        c = results[0].by_language[lang]
        cells = []
        for m in results:
            n_main, found, n_furn, false = m.by_language[lang]
            recall = f"{found / n_main:.3f}" if n_main else "  -  "
            false_rate = f"{false / n_furn:.3f}" if n_furn else "  -  "
            cells.append(f"  {recall + ' / ' + false_rate:>22}")
        yield f"  {lang:<6}{c[0]:>4}+{c[2]:<4}" + "".join(cells)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--corpus", type=Path, default=default_corpus())
    parser.add_argument("--set", action="append", choices=sorted(LOADERS), help="repeatable")
    parser.add_argument("--only", action="append", help="extractor name prefix (repeatable)")
    parser.add_argument("--misses", type=int, default=0, help="list newswatch's misses")
    args = parser.parse_args(argv)
    if not (args.corpus / "articles").is_dir():
        parser.error(f"no articles/ in corpus {args.corpus} (set --corpus or NEWSWATCH_CORPUS)")
    chosen = [
        (name, fn)
        for name, fn in EXTRACTORS.items()
        if not args.only or any(name.startswith(o) for o in args.only)
    ]
    for dataset in args.set or list(LOADERS):
        pages = LOADERS[dataset](args.corpus)
        results = []
        for name, fn in chosen:
            fn(pages[0].html, pages[0].url)  # warm-up: imports and caches are not per-page cost
            results.append(score(name, fn, pages))
        for line in _table(dataset, pages, results):
            print(line, flush=True)
        if dataset == "boilerplate":
            for line in _languages(results):
                print(line)
        for m in results:
            if m.name == NEWSWATCH and args.misses:
                for page, phrase in m.missed[: args.misses]:
                    print(f"    MISSED {page.page_id[:40]:<40} {phrase[:90]!r}")
                for page, phrase in m.false_hits[: args.misses]:
                    print(f"    FALSE  {page.page_id[:40]:<40} {phrase[:90]!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
