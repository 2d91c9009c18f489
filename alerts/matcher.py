"""Decide whether an article matches a watch query, and quote where it does.

Matching runs on folded text (see :mod:`newswatch.alerts.textnorm`) so case, accents and Arabic
spelling variants do not matter, while snippets are cut from the original text through the
index map, so an alert shows what the outlet actually wrote.

One watch is checked against many articles and one article against many watches: an article
is folded once (:class:`NormalizedArticle`) for all the watches that look at it, and each
distinct term gets one regex, compiled the first time an article shows its first word
(:class:`Leaf`), because compiling is what a large watch list would otherwise spend its
start-up and every reload on.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache
from typing import Literal

from newswatch.alerts.query import And, Near, Not, Or, Query, Term, walk
from newswatch.alerts.textnorm import normalize_with_map, term_words

__all__ = ["CompiledQuery", "Leaf", "Match", "NormalizedArticle", "compile_query"]

Field = Literal["title", "body"]

CONTEXT_WORDS = 15  # each side of the match: about 30 words of context in all
CONTEXT_CHARS = 160  # cap per side, for scripts written without spaces (CJK, Thai)
ELLIPSIS = "\u2026"

# Scripts written without spaces between words: a whole-word rule would never match inside
# a sentence, so their terms match as substrings.  Korean is spaced, but particles are glued
# to nouns (서울에서 = "in Seoul"), so it is treated the same way.
_SPACELESS_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x1100, 0x11FF),  # Hangul jamo
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3130, 0x318F),  # Hangul compatibility jamo
    (0x31F0, 0x31FF),  # Katakana extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x3FFFF),  # CJK extensions B and later
)

# Arabic glues conjunctions, prepositions and the article to the next word (بتدمر "in
# Palmyra", وتدمر "and Palmyra", الجيش "the army"); a whole-word rule alone would miss most
# mentions, so these proclitics may precede a term that starts with an Arabic letter.
_ARABIC_PROCLITICS = (
    "(?:[\u0648\u0641]?(?:[\u0628\u0643\u0644]?\u0627\u0644|\u0644\u0644|[\u0628\u0643\u0644])?)"
)
_SNIPPET_WORD = re.compile(r"\S+")
_SPACES = re.compile(r"\s+")


def _in_ranges(ch: str, ranges: tuple[tuple[int, int], ...]) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in ranges)


@cache
def _word_class() -> str:
    """Regex class of word characters: ``\\w`` plus combining marks.

    Python's ``\\w`` excludes marks, which would let a term end in the middle of a Devanagari
    or Thai word at a vowel sign; folding already removed the marks that are mere accents.

    Built once, but ``re`` cannot share a compiled piece between patterns: its 299 ranges are
    parsed again, character by character, for each boundary of each term (about 1 ms a term).
    That is why :class:`Leaf` compiles a term's pattern only when an article needs it.
    """
    marks: list[tuple[int, int]] = []
    # Above plane 1 the only marks are the variation selectors; skipping the empty planes
    # keeps the first compile fast.
    for cp in (*range(0x20000), *range(0xE0100, 0xE01F0)):
        if unicodedata.category(chr(cp)).startswith("M"):
            if marks and marks[-1][1] == cp - 1:
                marks[-1] = (marks[-1][0], cp)
            else:
                marks.append((cp, cp))
    spans = "".join(f"{chr(lo)}-{chr(hi)}" if hi > lo else chr(lo) for lo, hi in marks)
    return f"[\\w{spans}]"


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_" or unicodedata.category(ch).startswith("M")


@cache
def _word_run() -> re.Pattern[str]:
    """A run of word characters: what NEAR counts as a word (compiled once, see _word_class)."""
    return re.compile(f"{_word_class()}+")


# Keyed by the folded words, not the Term: "Palmyra", title:Palmyra and "palmyra" in hundreds of
# watches, and the same terms again after a reload, share one regex.  Bounded, because a
# compiled pattern weighs about 10 kB and a service reloads for months; a Leaf keeps its own.
@lru_cache(maxsize=4096)
def _leaf_regex(words: tuple[str, ...], prefix: bool = False) -> re.Pattern[str]:
    """The term's words as literals between separators, whole words, Arabic proclitics allowed
    before; with ``prefix`` the last word may go on (and the mark takes the whole word)."""
    parts: list[str] = []
    for k, word in enumerate(words):
        if k:
            spaceless = _in_ranges(words[k - 1][-1], _SPACELESS_RANGES) and _in_ranges(
                word[0], _SPACELESS_RANGES
            )
            parts.append(r"[\s\-]*" if spaceless else r"[\s\-]+")
        parts.append(re.escape(word))
    first, last = words[0][0], words[-1][-1]
    word_class = _word_class()
    left = right = ""
    if _is_word_char(first) and not _in_ranges(first, _SPACELESS_RANGES):
        left = f"(?<!{word_class})"
        if "\u0600" <= first <= "\u06ff":
            left += _ARABIC_PROCLITICS
    if prefix:
        parts.append(f"{word_class}*")
    elif _is_word_char(last) and not _in_ranges(last, _SPACELESS_RANGES):
        right = f"(?!{word_class})"
    return re.compile(f"{left}(?P<t>{''.join(parts)}){right}")


class Leaf:
    """One term's folded words, with the regex that decides a match where its first word occurs.

    The regex is compiled on first use: at about 1 ms a term (see :func:`_word_class`), a
    service with 10,000 watches would spend many seconds compiling at start and on every
    reload, while an article only ever looks at the few terms whose first word it contains.
    """

    __slots__ = ("_pattern", "anchor", "prefix", "words")

    def __init__(self, words: tuple[str, ...], prefix: bool = False) -> None:
        self.words = words
        self.prefix = prefix
        self.anchor = words[0]  # where a match of the pattern must begin, for str.find
        self._pattern: re.Pattern[str] | None = None

    @property
    def key(self) -> tuple[tuple[str, ...], bool]:
        """What decides the pattern: terms with the same key share one leaf."""
        return self.words, self.prefix

    @property
    def pattern(self) -> re.Pattern[str]:
        pattern = self._pattern
        if pattern is None:
            pattern = self._pattern = _leaf_regex(self.words, self.prefix)
        return pattern


@dataclass(frozen=True)
class _Words:
    spans: list[tuple[int, int]]
    ends: list[int]  # the spans' ends, for bisecting

    @classmethod
    def of(cls, text: str) -> _Words:
        spans = [m.span() for m in _SNIPPET_WORD.finditer(text)]
        return cls(spans, [end for _, end in spans])


@dataclass(frozen=True, eq=False)
class NormalizedArticle:
    """An article folded once, shared by every watch checked against it."""

    title: str
    body: str
    title_norm: str
    title_map: list[int]
    body_norm: str
    body_map: list[int]

    @cached_property
    def title_words(self) -> _Words:
        """Word spans of the original title, found once for every snippet cut from it."""
        return _Words.of(self.title)

    @cached_property
    def body_words(self) -> _Words:
        return _Words.of(self.body)

    @cached_property
    def title_word_starts(self) -> list[int]:
        """Where each word of the folded title starts, to count words for NEAR."""
        return [m.start() for m in _word_run().finditer(self.title_norm)]

    @cached_property
    def body_word_starts(self) -> list[int]:
        return [m.start() for m in _word_run().finditer(self.body_norm)]

    @classmethod
    def from_text(cls, title: str, body: str) -> NormalizedArticle:
        title_norm, title_map = normalize_with_map(title)
        body_norm, body_map = normalize_with_map(body)
        return cls(title, body, title_norm, title_map, body_norm, body_map)


@dataclass(frozen=True)
class Match:
    """One watched term found in an article, quoted from the original text.

    ``snippet[mark_start:mark_end]`` is the matched text as the outlet wrote it (runs of
    whitespace collapsed, like the rest of the snippet), for highlighting.
    """

    term: str
    field: Literal["title", "body"]
    snippet: str
    mark_start: int
    mark_end: int


@dataclass(frozen=True)
class _Hit:
    field: Field
    start: int  # in the original text of that field
    end: int


_MAX_PROCLITIC = 4  # the longest Arabic prefix the patterns accept (و + بال)


def _search(leaf: Leaf, norm: str, begin: int = 0) -> tuple[int, int] | None:
    """The span of the first match of ``leaf.pattern`` in ``norm`` whose term starts at
    ``begin`` or later, tried only where the term's first word occurs.

    The leading word-boundary lookbehind keeps the regex engine from skipping ahead to the
    literal, so a plain search walks the whole text for every term; ``str.find`` jumps.  A
    text without the first word does not even need the pattern compiled.
    """
    pos = norm.find(leaf.anchor, begin)
    if pos == -1:
        return None
    pattern, anchor = leaf.pattern, leaf.anchor
    while pos != -1:
        for start in range(max(0, pos - _MAX_PROCLITIC), pos + 1):
            found = pattern.match(norm, start)
            if found is not None and found.start("t") == pos:
                return found.span("t")
        pos = norm.find(anchor, pos + 1)
    return None


def _occurrences(leaf: Leaf, norm: str) -> Iterator[tuple[int, int]]:
    """Every match of the term, in order (NEAR needs them all, a term alone the first)."""
    found = _search(leaf, norm)
    while found is not None:
        yield found
        found = _search(leaf, norm, found[0] + 1)


def _field(article: NormalizedArticle, field: Field) -> tuple[str, list[int], str]:
    if field == "title":
        return article.title_norm, article.title_map, article.title
    return article.body_norm, article.body_map, article.body


def _hit(article: NormalizedArticle, field: Field, start: int, end: int) -> _Hit:
    """The folded span ``[start, end)`` of a field as a span of its original text."""
    _, index, original = _field(article, field)
    # Characters folded to nothing right after the match (harakat, a combining accent on the
    # last letter) belong to it: stop at the next character that produced folded text.
    orig_end = index[end] if end < len(index) else len(original)
    return _Hit(field, index[start], max(orig_end, index[end - 1] + 1))


def _locate(leaf: Leaf, article: NormalizedArticle, field: Field) -> _Hit | None:
    found = _search(leaf, article.title_norm if field == "title" else article.body_norm)
    return None if found is None else _hit(article, field, *found)


def _near(
    left: Leaf, right: Leaf, distance: int, article: NormalizedArticle, field: Field
) -> tuple[_Hit, _Hit] | None:
    """The first pair of occurrences of the two leaves with at most ``distance`` words between
    them, in either order, neither overlapping the other; None when there is none."""
    norm = _field(article, field)[0]
    if norm.find(left.anchor) == -1 or norm.find(right.anchor) == -1:
        return None
    starts = article.title_word_starts if field == "title" else article.body_word_starts

    def words(spans: Iterator[tuple[int, int]]) -> list[tuple[int, int, int, int]]:
        """Each span with the index of its first and last word."""
        return [
            (s, e, bisect.bisect_right(starts, s) - 1, bisect.bisect_right(starts, e - 1) - 1)
            for s, e in spans
        ]

    lefts = words(_occurrences(left, norm))
    rights = words(_occurrences(right, norm)) if lefts else []
    best: tuple[int, int, int, int, int] | None = None  # where it starts, spans of both
    for firsts, seconds, swapped in ((lefts, rights, False), (rights, lefts, True)):
        second_words = [w for _, _, w, _ in seconds]  # non-decreasing: spans come in order
        for s, e, _, last in firsts:
            # From the first occurrence that starts in the word where this one ends: in text
            # without spaces (CJK) or with glued words, two terms can share a word.
            at = bisect.bisect_left(second_words, last)
            while at < len(seconds) and second_words[at] <= last + 1 + distance:
                s2, e2 = seconds[at][:2]
                if s2 >= e:
                    pair = (s2, e2, s, e) if swapped else (s, e, s2, e2)
                    if best is None or min(s, s2) < best[0]:
                        best = (min(s, s2), *pair)
                    break
                at += 1
            else:
                continue
            break
    if best is None:
        return None
    _, s1, e1, s2, e2 = best
    return _hit(article, field, s1, e1), _hit(article, field, s2, e2)


def _snippet(text: str, words: _Words, start: int, end: int) -> tuple[str, int, int]:
    """About CONTEXT_WORDS words either side of ``text[start:end]``, whitespace collapsed;
    ``spans`` are the word spans of ``text``."""
    spans, ends = words.spans, words.ends
    first = bisect.bisect_right(ends, start)
    last = bisect.bisect_left(ends, end)
    lo = max(0, first - CONTEXT_WORDS)
    hi = min(len(spans), last + CONTEXT_WORDS + 1)
    cut_left, cut_right = lo > 0, hi < len(spans)
    left_at, right_at = spans[lo][0], spans[hi - 1][1]
    if start - left_at > CONTEXT_CHARS:
        left_at, cut_left = start - CONTEXT_CHARS, True
        space = _SPACES.search(text, left_at, start)
        if space is not None:  # do not open on half a word when a whole one is at hand
            left_at = space.end()
    if right_at - end > CONTEXT_CHARS:
        right_at, cut_right = end + CONTEXT_CHARS, True
        spaces = list(_SPACES.finditer(text, end, right_at))
        if spaces:
            right_at = spaces[-1].start()
    before = _SPACES.sub(" ", text[left_at:start]).lstrip()
    marked = _SPACES.sub(" ", text[start:end])
    after = _SPACES.sub(" ", text[end:right_at]).rstrip()
    prefix = ELLIPSIS if cut_left else ""
    suffix = ELLIPSIS if cut_right else ""
    mark_start = len(prefix) + len(before)
    return prefix + before + marked + after + suffix, mark_start, mark_start + len(marked)


class CompiledQuery:
    """A query with one :class:`Leaf` per term, reusable across articles.

    ``shared`` maps folded words to leaves for many queries at once (a WatchSet passes one):
    a term in many watches is then one leaf, compiled once for all of them.
    """

    def __init__(
        self, query: Query, shared: dict[tuple[tuple[str, ...], bool], Leaf] | None = None
    ) -> None:
        self.query = query
        self.leaves: dict[Term, Leaf] = {}  # every term, excluded ones too
        self.terms = query.terms()  # the ones an alert names, worked out once
        shared = {} if shared is None else shared
        for term in walk(query):
            if isinstance(term, Term) and term not in self.leaves:
                key = (term_words(term.text), term.prefix)
                leaf = shared.get(key)
                if leaf is None:
                    leaf = shared[key] = Leaf(*key)
                self.leaves[term] = leaf

    def match(self, title: str, body: str) -> list[Match] | None:
        """Convenience for one watch; prefer :meth:`match_normalized` across many."""
        return self.match_normalized(NormalizedArticle.from_text(title, body))

    def match_normalized(self, article: NormalizedArticle) -> list[Match] | None:
        """``None`` when the article does not match, else the positive terms it shows."""
        hits: dict[Term, _Hit | None] = {}
        shown: dict[Term, _Hit] = {}  # a NEAR's terms are quoted where they are near

        def find(term: Term) -> _Hit | None:
            if term not in hits:
                leaf = self.leaves[term]
                hit = _locate(leaf, article, "title")
                if hit is None and not term.title_only:
                    hit = _locate(leaf, article, "body")
                hits[term] = hit
            return hits[term]

        def near(node: Near) -> bool:
            fields: tuple[Field, ...] = ("title",) if node.left.title_only else ("title", "body")
            left, right = self.leaves[node.left], self.leaves[node.right]
            for field in fields:
                pair = _near(left, right, node.distance, article, field)
                if pair is not None:
                    shown.setdefault(node.left, pair[0])
                    shown.setdefault(node.right, pair[1])
                    return True
            return False

        def holds(node: Query) -> bool:
            match node:  # no captures: see WatchSet._holds
                case Term():
                    return find(node) is not None
                case Near():
                    return near(node)
                case Not():
                    return not holds(node.child)
                case And():
                    return all(holds(c) for c in node.children)
                case Or():
                    return any(holds(c) for c in node.children)
            raise TypeError(node)

        if not holds(self.query):
            return None
        matches: list[Match] = []
        named: set[str] = set()
        for term in self.terms:
            hit = (shown.get(term) if shown else None) or find(term)
            label = term.label
            if hit is None or label in named:
                continue
            named.add(label)
            if hit.field == "title":
                text, spans = article.title, article.title_words
            else:
                text, spans = article.body, article.body_words
            snippet, mark_start, mark_end = _snippet(text, spans, hit.start, hit.end)
            matches.append(Match(label, hit.field, snippet, mark_start, mark_end))
        return matches


def compile_query(query: Query) -> CompiledQuery:
    """Prepare ``query`` once so each article costs only regex searches (see :class:`Leaf`)."""
    return CompiledQuery(query)
