"""Extraction quality: does a watch fire on the article, and never on the page around it?

A watch alerts when its term appears in an article's title or main text, so what matters is
not how close the extracted text is to the annotated body character by character, but which
*terms* the matcher can find in it. This script measures exactly that on the shared corpus
(``articles/<id>.html`` with the human-annotated ``articleBody`` in ``<id>.json``).

Definitions, per page:

  term        a word of the folded text (:func:`alerts.textnorm.normalize`): a maximal run of
              the matcher's word characters (``\\w`` plus combining marks) with at least four
              letters, letters and marks only (no digits, no underscore), not in a short list
              of function words. These are the words someone could plausibly watch for.
  BODY        terms of the ground-truth ``articleBody`` that also occur in the visible page
              text (ground truth taken from elsewhere, such as image captions in scripts,
              cannot be asked of an extractor that only sees the page).
  PAGE        terms of the visible page text: the ``<body>`` with ``script``, ``style``,
              ``noscript`` and ``template`` removed, block elements separated by line breaks
              (so ``<li>Home</li><li>World</li>`` gives two words, as a reader sees them).
  HEADLINE    terms of the head's ``<title>``, ``og:title`` / ``twitter:title``, ``<h1>``: the title
              is legitimately matched (``title:`` watches exist), so its words count for
              neither side.
  BOILERPLATE PAGE - BODY - HEADLINE: terms a reader only sees in navigation, sidebars,
              "related" and "most read" lists, comments, footers, cookie banners ...

For an extractor's (title, text) on a page:

  recall       share of BODY terms that ``compile_query(parse_query(term)).match(title, text)``
               finds (an article that yields nothing finds none);
  false match  share of BOILERPLATE terms it finds: each is an alert on a word the article
               never said.

Both are reported micro-averaged (all terms of all pages pooled, the headline numbers) and
macro-averaged (mean of the per-page ratios, so that long pages do not dominate), with the
mean extraction time per page (wall clock of the extractor call alone, parsing included).

Matching a few thousand terms one regex each would take minutes, so the script folds the
extracted title and text once into a set of word tokens and looks every term up in it. For
the terms it measures this is the matcher's rule exactly: a term is a single run of word
characters, and the matcher's pattern ``(?<!W)term(?!W)`` on the folded text hits exactly when
the term is one maximal run of word characters there, i.e. one of the tokens. The two cases
where the matcher is not whole-word -- scripts written without spaces (CJK, Thai, Hangul:
substring match) and Arabic (proclitics may precede the term) -- go through the real
matcher instead. :func:`check_against_matcher` confirms the equivalence on real pages (the
test suite runs it).

The extractors compared in one run: trafilatura with its default settings (comments
included; the baseline), newswatch's :func:`spiders.extraction.extract_article`, and
readability-lxml (when installed). Columns: ``recall`` and ``false`` micro-averaged, each
followed by its macro average; ``ms/page``; ``false x`` and ``time x`` are ratios to the
baseline measured in the same run.

Usage, from the repository root in the project's virtualenv::

    python bench/extraction_quality.py [--corpus PATH] [--verbose] [--only NAME]

``--corpus`` defaults to ``$NEWSWATCH_CORPUS``, else ``../shared/corpus`` beside the
repository. ``--verbose`` lists, per extractor, the pages that miss the most body terms or
match the most boilerplate terms, with examples of each.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import lxml.etree
import lxml.html
from scrapy.http import HtmlResponse

from alerts.matcher import _SPACELESS_RANGES, CompiledQuery, _word_class, compile_query
from alerts.query import parse_query
from alerts.textnorm import normalize

__all__ = [
    "EXTRACTORS",
    "NEWSWATCH",
    "Measured",
    "Page",
    "check_against_matcher",
    "default_corpus",
    "load_pages",
    "measure",
    "terms_of",
]

REPO = Path(__file__).resolve().parent.parent

# Too common to be a keyword anyone watches; they are nearly always in the body anyway, so
# leaving them out only keeps the counts about words that carry meaning.
_FUNCTION_WORDS_TEXT = """
    about above after again against also although among another because been before being
    below between both could does doing down during each either else even ever every from
    further have having here hers herself himself into itself just more most much must
    myself neither never only other ours ourselves over same shall should some such than
    that their theirs them themselves then there these they this those through under until
    upon very what when where whether which while whom whose will with within without would
    your yours yourself yourselves said says were
"""
_FUNCTION_WORDS = frozenset(_FUNCTION_WORDS_TEXT.split())

_MIN_LETTERS = 4

# Where the matcher does not apply its whole-word rule (see alerts.matcher): scripts written
# without spaces match as substrings, and Arabic proclitics may precede a term. Terms starting
# or ending in these ranges go through the real matcher.
_NOT_WHOLE_WORD = ((0x0600, 0x06FF), *_SPACELESS_RANGES)

_INLINE_TAGS = "a abbr acronym b bdi bdo big cite code data del dfn em font i ins kbd mark q s"
_INLINE_TAGS += " samp small span strike strong sub sup time tt u var wbr"
_INLINE = frozenset(_INLINE_TAGS.split())
_INVISIBLE = ("script", "style", "noscript", "template")

_word_runs: re.Pattern[str] | None = None


def _words() -> re.Pattern[str]:
    """Runs of the matcher's own word characters, so tokens split where its rule does."""
    global _word_runs
    if _word_runs is None:
        _word_runs = re.compile(f"{_word_class()}+")
    return _word_runs


def _is_term(word: str) -> bool:
    letters = 0
    for ch in word:
        if ch.isalpha():
            letters += 1
        elif not unicodedata.category(ch).startswith("M"):
            return False  # digits, underscore: numbers and codes are not keywords
    return letters >= _MIN_LETTERS and word not in _FUNCTION_WORDS


def _tokens(text: str) -> set[str]:
    return set(_words().findall(normalize(text)))


def terms_of(text: str) -> set[str]:
    """The measured terms of ``text`` (folded)."""
    # A term must fold to itself, or the matcher would look for a different string.
    return {w for w in _tokens(text) if _is_term(w) and normalize(w) == w}


def _whole_word(term: str) -> bool:
    return not any(lo <= ord(ch) <= hi for ch in (term[0], term[-1]) for lo, hi in _NOT_WHOLE_WORD)


_compiled: dict[str, CompiledQuery] = {}


def _matcher(term: str) -> CompiledQuery:
    if term not in _compiled:
        _compiled[term] = compile_query(parse_query(term))
    return _compiled[term]


def found_terms(terms: Iterable[str], title: str, text: str) -> set[str]:
    """The ``terms`` a watch would match in an article with this title and text."""
    tokens = _tokens(title) | _tokens(text)
    hits: set[str] = set()
    for term in terms:
        if _whole_word(term):
            if term in tokens:
                hits.add(term)
        elif _matcher(term).match(title, text) is not None:
            hits.add(term)
    return hits


def check_against_matcher(terms: Iterable[str], title: str, text: str) -> list[str]:
    """Terms where :func:`found_terms` and the real matcher disagree (should be none)."""
    terms = list(terms)
    fast = found_terms(terms, title, text)
    return [t for t in terms if (t in fast) != (_matcher(t).match(title, text) is not None)]


def _visible_text(root: lxml.html.HtmlElement) -> str:
    """The page text a reader sees, block elements kept apart."""
    body = root.find("body")
    if body is None:
        body = root
    parts: list[str] = []

    def walk(element: lxml.etree._Element) -> None:
        tag = element.tag if isinstance(element.tag, str) else ""
        if tag in _INVISIBLE or not tag:  # comments and processing instructions too
            if element.tail:
                parts.append(element.tail)
            return
        block = tag.lower() not in _INLINE
        if block:
            parts.append("\n")
        if element.text:
            parts.append(element.text)
        for child in element:
            walk(child)
        if block:
            parts.append("\n")
        if element.tail:
            parts.append(element.tail)

    walk(body)
    return "".join(parts)


def _headline_text(root: lxml.html.HtmlElement) -> str:
    # //head/title: an inline <svg> has <title>s of its own ("Menu", "Facebook")
    pieces = [str(t) for t in root.xpath("//head/title//text() | //h1//text()")]
    pieces += [
        str(c)
        for c in root.xpath(
            "//meta[@property='og:title' or @name='og:title' or @name='twitter:title']/@content"
        )
    ]
    return "\n".join(pieces)


@dataclass(frozen=True)
class Page:
    """One corpus page with the terms a correct extractor must and must not let match."""

    page_id: str
    url: str
    html: str
    body: frozenset[str]
    boilerplate: frozenset[str]


def _decoded(path: Path, url: str) -> str:
    """Decode as the crawler does: Scrapy's charset detection on the raw bytes."""
    return HtmlResponse(url=url, body=path.read_bytes()).text


def load_pages(corpus: Path) -> list[Page]:
    """Every ``articles/`` page of the corpus with its BODY and BOILERPLATE terms."""
    pages: list[Page] = []
    for path in sorted((corpus / "articles").glob("*.html")):
        truth = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        url = str(truth["url"])
        html = _decoded(path, url)
        root = lxml.html.document_fromstring(html)
        visible = terms_of(_visible_text(root))
        truth_terms = terms_of(str(truth.get("articleBody") or ""))
        headline = terms_of(_headline_text(root))
        pages.append(
            Page(
                page_id=path.stem,
                url=url,
                html=html,
                body=frozenset(truth_terms & visible),
                boilerplate=frozenset(visible - truth_terms - headline),
            )
        )
    return pages


Extractor = Callable[[str, str], "tuple[str, str] | None"]


def _trafilatura_defaults(html: str, url: str) -> tuple[str, str] | None:
    import trafilatura

    document = trafilatura.bare_extraction(html, url=url, with_metadata=True)
    if document is None or isinstance(document, dict):
        return None
    return document.title or "", document.text or ""


def _newswatch(html: str, url: str) -> tuple[str, str] | None:
    from spiders.extraction import extract_article

    extracted = extract_article(html, url)
    return None if extracted is None else (extracted.title, extracted.text)


def _readability(html: str, url: str) -> tuple[str, str] | None:
    from readability import Document

    document = Document(html, url=url)
    summary = document.summary(html_partial=True)
    root = lxml.html.fragment_fromstring(summary, create_parent="div")
    return document.short_title() or "", _visible_text(root)


def _readability_available() -> bool:
    try:
        import readability  # noqa: F401
    except ImportError:
        return False
    return True


NEWSWATCH = "newswatch extract_article"
EXTRACTORS: dict[str, Extractor] = {  # the first is the baseline of the ratios
    "trafilatura (defaults)": _trafilatura_defaults,
    NEWSWATCH: _newswatch,
}
if _readability_available():
    EXTRACTORS["readability-lxml"] = _readability


@dataclass(frozen=True)
class PageResult:
    page: Page
    found_body: frozenset[str]
    false_hits: frozenset[str]
    seconds: float

    @property
    def recall(self) -> float:
        return len(self.found_body) / len(self.page.body) if self.page.body else 1.0

    @property
    def false_rate(self) -> float:
        boiler = self.page.boilerplate
        return len(self.false_hits) / len(boiler) if boiler else 0.0


@dataclass(frozen=True)
class Measured:
    """One extractor over the corpus."""

    name: str
    pages: list[PageResult]

    @property
    def recall(self) -> float:
        """Micro: found body terms / body terms, all pages pooled."""
        total = sum(len(r.page.body) for r in self.pages)
        return sum(len(r.found_body) for r in self.pages) / total if total else 1.0

    @property
    def false_rate(self) -> float:
        """Micro: matched boilerplate terms / boilerplate terms, all pages pooled."""
        total = sum(len(r.page.boilerplate) for r in self.pages)
        return sum(len(r.false_hits) for r in self.pages) / total if total else 0.0

    @property
    def recall_macro(self) -> float:
        return sum(r.recall for r in self.pages) / len(self.pages) if self.pages else 1.0

    @property
    def false_rate_macro(self) -> float:
        return sum(r.false_rate for r in self.pages) / len(self.pages) if self.pages else 0.0

    @property
    def ms_per_page(self) -> float:
        return 1000 * sum(r.seconds for r in self.pages) / len(self.pages) if self.pages else 0.0


def measure(name: str, extractor: Extractor, pages: Iterable[Page]) -> Measured:
    """Run ``extractor`` on every page and score what a watch would match in its output."""
    results: list[PageResult] = []
    for page in pages:
        started = time.perf_counter()
        out = extractor(page.html, page.url)
        seconds = time.perf_counter() - started
        title, text = out if out is not None else ("", "")
        hits = found_terms(page.body | page.boilerplate, title, text)
        results.append(
            PageResult(
                page=page,
                found_body=frozenset(hits & page.body),
                false_hits=frozenset(hits & page.boilerplate),
                seconds=seconds,
            )
        )
    return Measured(name, results)


def default_corpus() -> Path:
    raw = os.environ.get("NEWSWATCH_CORPUS")
    return Path(raw).expanduser() if raw else REPO.parent / "shared" / "corpus"


def _table(results: list[Measured]) -> Iterator[str]:
    base = results[0]
    yield (
        f"{'extractor':<27} {'recall':>7} {'(macro)':>8} {'false':>7} {'(macro)':>8} "
        f"{'ms/page':>8} {'false x':>8} {'time x':>7}"
    )
    for m in results:
        false_x = m.false_rate / base.false_rate if base.false_rate else float("nan")
        time_x = m.ms_per_page / base.ms_per_page if base.ms_per_page else float("nan")
        yield (
            f"{m.name:<27} {m.recall:>7.3f} {m.recall_macro:>8.3f} {m.false_rate:>7.3f} "
            f"{m.false_rate_macro:>8.3f} {m.ms_per_page:>8.1f} {false_x:>8.2f} {time_x:>7.2f}"
        )


def _worst(measured: Measured, count: int) -> Iterator[str]:
    yield f"\n== {measured.name}: most body terms missed"
    by_miss = sorted(measured.pages, key=lambda r: len(r.page.body) - len(r.found_body))
    for r in reversed(by_miss[-count:]):
        missed = sorted(r.page.body - r.found_body)
        if not missed:
            break
        yield (
            f"  recall {r.recall:.2f} ({len(missed)}/{len(r.page.body)} missed) {r.page.page_id[:12]}"
            f" {r.page.url}\n      e.g. {' '.join(missed[:15])}"
        )
    yield f"== {measured.name}: most boilerplate terms matched"
    by_false = sorted(measured.pages, key=lambda r: len(r.false_hits))
    for r in reversed(by_false[-count:]):
        if not r.false_hits:
            break
        yield (
            f"  false {r.false_rate:.2f} ({len(r.false_hits)}/{len(r.page.boilerplate)}) "
            f"{r.page.page_id[:12]} {r.page.url}\n      e.g. {' '.join(sorted(r.false_hits)[:15])}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--corpus", type=Path, default=default_corpus())
    parser.add_argument("--verbose", action="store_true", help="list the worst pages")
    parser.add_argument("--only", action="append", help="extractor name prefix (repeatable)")
    parser.add_argument("--worst", type=int, default=8, help="pages listed with --verbose")
    args = parser.parse_args(argv)
    if not (args.corpus / "articles").is_dir():
        parser.error(f"no articles/ in corpus {args.corpus} (set --corpus or NEWSWATCH_CORPUS)")
    pages = load_pages(args.corpus)
    body = sum(len(p.body) for p in pages)
    boiler = sum(len(p.boilerplate) for p in pages)
    print(
        f"corpus {args.corpus / 'articles'}: {len(pages)} pages, "
        f"{body} body terms, {boiler} boilerplate-only terms"
    )
    chosen = [
        (name, fn)
        for name, fn in EXTRACTORS.items()
        if not args.only or any(name.startswith(o) for o in args.only)
    ]
    results: list[Measured] = []
    for name, fn in chosen:
        fn(pages[0].html, pages[0].url)  # warm-up: imports and caches are not per-page cost
        results.append(measure(name, fn, pages))
    for line in _table(results):
        print(line)
    if args.verbose:
        for m in results:
            for line in _worst(m, args.worst):
                print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
