"""Match one article against every watch in one pass, not one regex scan per watch.

Evaluating each watch's :class:`~newswatch.alerts.matcher.CompiledQuery` against every article costs a
full regex scan of the body per query leaf, so the time per article grows with the number of
watches.  A :class:`WatchSet` instead builds one Aho-Corasick automaton over the folded words
of every term of every watch, scans the folded title and body once, and only then evaluates
the few watches that could match.

The automaton finds *substrings*, which is what makes it safe across every rule of the
matcher: a leaf pattern is the term's folded words as literals with separators, boundaries
and (for Arabic) optional proclitics around them, so every word of a matching term occurs
verbatim in the folded field it matched.  Whole-word boundaries, CJK substrings, Arabic
prefixed forms, case and diacritics therefore need no rules of their own here: substring
occurrence is a superset, and the matcher's own compiled leaf pattern, tried only where the
term's first word occurs, settles it.  A truncated term (``Palmyr*``) is no exception: its last
word is the literal prefix, which occurs verbatim in any word it matches.

Soundness, which the tests check against evaluating every query on its own:

* a watch is looked at only if one of its *positive* terms (not under ``-``) has all its
  words in the title or the body.  The parser makes every query need a positive term (each
  AND has a positive operand, each OR alternative is positive); a hand-built tree that does
  not is looked at for every article instead;
* term presence is three-valued: present (the leaf pattern matched somewhere, so the
  matcher's search will too), absent (every place the match could start was tried), or
  unknown (too many places to try); the query is evaluated with Kleene logic and kept unless
  it is certainly false, so an exclusion never drops a watch on a guess;
* ``a NEAR/n b`` is certainly false when ``a`` or ``b`` is absent, and unknown otherwise:
  counting the words between them is the matcher's job, on the watches that get that far;
* the survivors are decided by :meth:`CompiledQuery.match_normalized` itself, so results,
  terms, fields and snippets are exactly the matcher's.
"""

from __future__ import annotations

import string
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import ahocorasick

from newswatch.alerts.matcher import CompiledQuery, Leaf, Match, NormalizedArticle
from newswatch.alerts.query import And, Near, Not, Or, Query, Term, needs_positive_term
from newswatch.alerts.textnorm import normalize

__all__ = ["WatchSet"]

# A leaf pattern may start before its first word only by Arabic proclitics glued to it, so the
# start lies in the run of non-separator characters that ends at the word.  Walking back over
# anything that is not a space or ASCII punctuation is a superset of the matcher's word class
# (``_`` is a word character, hence kept); past this many characters the presence of the term
# is left unknown rather than paid for (long unspaced runs of CJK text).
_MAX_WALK_BACK = 32
_STOPS_WALK_BACK = frozenset(string.punctuation.replace("_", ""))

_Tri = bool | None  # Kleene logic: True, False, or None for "not known without the matcher"
_Hits = dict[int, list[int]]  # automaton key id -> end index of every occurrence


@dataclass(frozen=True, eq=False)
class _Leaf:
    """One distinct term (its folded words): its automaton keys and the matcher's own leaf.

    The matcher leaf compiles its regex on first use, so building the set compiles nothing:
    only a term whose every word the automaton found in some article ever costs a compile.
    """

    keys: tuple[int, ...]  # one per folded word, in order
    first: int  # key of the first word: where a match of the pattern must begin
    first_len: int
    matcher_leaf: Leaf


# The query tree with every term replaced by the index of its leaf; evaluated once per
# candidate watch, so it avoids hashing Term dataclasses on every article.
@dataclass(frozen=True, slots=True)
class _LeafNode:
    leaf: int
    title_only: bool


@dataclass(frozen=True, slots=True)
class _NearNode:
    left: int
    right: int
    title_only: bool


@dataclass(frozen=True, slots=True)
class _NotNode:
    child: _Node


@dataclass(frozen=True, slots=True)
class _AndNode:
    children: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _OrNode:
    children: tuple[_Node, ...]


_Node = _LeafNode | _NearNode | _NotNode | _AndNode | _OrNode


class _ArticleScan:
    """One article's automaton hits and the term presences worked out from them (memoised)."""

    def __init__(self, article: NormalizedArticle, title: _Hits, body: _Hits) -> None:
        self.article = article
        self.title = title
        self.body = body
        self._present: dict[tuple[int, bool], _Tri] = {}

    def in_field(self, leaf: _Leaf, text: str, hits: _Hits) -> _Tri:
        """Whether the leaf pattern matches ``text``: tried only where its first word occurs."""
        if any(k not in hits for k in leaf.keys):
            return False  # a word of the term is not even a substring
        unknown = False
        pattern = leaf.matcher_leaf.pattern
        for end in hits[leaf.first]:
            start = end - leaf.first_len + 1
            if pattern.match(text, start):
                return True
            at, walked = start, 0
            while at > 0 and not text[at - 1].isspace() and text[at - 1] not in _STOPS_WALK_BACK:
                at -= 1
                walked += 1
                if walked > _MAX_WALK_BACK:
                    unknown = True
                    break
                if pattern.match(text, at):
                    return True
        return None if unknown else False

    def present(self, leaf_id: int, leaf: _Leaf, title_only: bool) -> _Tri:
        """Term presence as the matcher decides it: the title, then (unless title:) the body."""
        key = (leaf_id, title_only)
        if key in self._present:
            return self._present[key]
        result = self.in_field(leaf, self.article.title_norm, self.title)
        if result is not True and not title_only:
            body = self.in_field(leaf, self.article.body_norm, self.body)
            result = True if body is True else (None if None in (result, body) else False)
        self._present[key] = result
        return result


class WatchSet:
    """Every watch's query, matched against an article in one scan of its folded text.

    ``queries`` maps watch names to parsed queries; results come back in that order.
    """

    def __init__(self, queries: Mapping[str, Query]) -> None:
        self.names: list[str] = list(queries)
        shared: dict[tuple[tuple[str, ...], bool], Leaf] = {}  # one leaf per distinct term
        self.compiled: list[CompiledQuery] = [CompiledQuery(q, shared) for q in queries.values()]
        self._leaves: list[_Leaf] = []
        self._leaf_ids: dict[tuple[tuple[str, ...], bool], int] = {}  # by Leaf.key
        self._words: dict[str, int] = {}
        # Key of a first word -> leaves starting with it, with the watches for which that leaf
        # is a positive term (a reason to look at the watch at all).
        self._triggers: dict[int, list[tuple[_Leaf, list[int]]]] = {}
        trigger_watches: dict[int, list[int]] = defaultdict(list)
        self._plans: list[_Node] = []
        self._always: list[int] = []  # watches that might match without a positive term
        for index, (query, compiled) in enumerate(
            zip(queries.values(), self.compiled, strict=True)
        ):
            self._plans.append(self._plan(query, compiled))
            if not needs_positive_term(query):
                self._always.append(index)
            for term in compiled.terms:
                leaf_id = self._leaf_ids[compiled.leaves[term].key]
                if index not in trigger_watches[leaf_id]:
                    trigger_watches[leaf_id].append(index)
        for leaf_id, watches in trigger_watches.items():
            leaf = self._leaves[leaf_id]
            self._triggers.setdefault(leaf.first, []).append((leaf, watches))
        self._automaton: Any = None
        if self._words:
            self._automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
            for word, key in self._words.items():
                self._automaton.add_word(word, key)
            self._automaton.make_automaton()

    def __len__(self) -> int:
        return len(self.names)

    def _leaf(self, term: Term, compiled: CompiledQuery) -> int:
        """The leaf of ``term``, shared by every watch whose term folds to the same words.

        The pattern depends on the folded words alone; ``title:`` only changes where it is
        looked for, so it is kept on the plan node, not the leaf.  The matcher leaf is the
        watch's own CompiledQuery's, so a presence found here is one ``match_normalized``
        finds too, with the same regex.
        """
        leaf = compiled.leaves[term]
        key = leaf.key
        leaf_id = self._leaf_ids.get(key)
        if leaf_id is None:
            keys = tuple(self._words.setdefault(w, len(self._words)) for w in leaf.words)
            leaf_id = self._leaf_ids[key] = len(self._leaves)
            self._leaves.append(_Leaf(keys, keys[0], len(leaf.anchor), leaf))
        return leaf_id

    def _plan(self, node: Query, compiled: CompiledQuery) -> _Node:
        match node:
            case Term():
                return _LeafNode(self._leaf(node, compiled), node.title_only)
            case And():
                return _AndNode(tuple(self._plan(c, compiled) for c in node.children))
            case Or():
                return _OrNode(tuple(self._plan(c, compiled) for c in node.children))
            case Not():
                return _NotNode(self._plan(node.child, compiled))
            case Near():
                leaves = self._leaf(node.left, compiled), self._leaf(node.right, compiled)
                return _NearNode(*leaves, node.left.title_only)
        raise TypeError(node)

    def _scan(self, text: str) -> _Hits:
        hits: _Hits = defaultdict(list)
        if self._automaton is not None and text:
            for end, key in self._automaton.iter(text):
                hits[key].append(end)
        return hits

    def _holds(self, node: _Node, scan: _ArticleScan) -> _Tri:
        """The query under Kleene logic: False only when it certainly does not match.

        A NEAR is False when one of its terms is absent and unknown otherwise: how far apart
        the two are is the matcher's to count, on the few watches that get that far.
        """
        # The plan's own node types, not the query's: isinstance is the cheapest dispatch,
        # and this runs for every candidate watch of every article.
        if isinstance(node, _LeafNode):
            return scan.present(node.leaf, self._leaves[node.leaf], node.title_only)
        if isinstance(node, _AndNode):
            result: _Tri = True
            for c in node.children:
                value = self._holds(c, scan)
                if value is False:
                    return False
                if value is None:
                    result = None
            return result
        if isinstance(node, _OrNode):
            result = False
            for c in node.children:
                value = self._holds(c, scan)
                if value is True:
                    return True
                if value is None:
                    result = None
            return result
        if isinstance(node, _NotNode):
            value = self._holds(node.child, scan)
            return None if value is None else not value
        pair = (node.left, node.right)
        both = [scan.present(i, self._leaves[i], node.title_only) for i in pair]
        return False if False in both else None

    def _candidates(self, article: NormalizedArticle) -> list[int]:
        scan = _ArticleScan(article, self._scan(article.title_norm), self._scan(article.body_norm))
        touched: set[int] = set(self._always)
        for hits in (scan.title, scan.body):
            for key in hits:
                for leaf, watches in self._triggers.get(key, ()):
                    if all(k in hits for k in leaf.keys):
                        touched.update(watches)
        return [i for i in sorted(touched) if self._holds(self._plans[i], scan) is not False]

    def mentioned(self, text: str) -> bool:
        """Whether any watch's positive term could occur in ``text`` (a page's whole text).

        Exclusions are ignored on purpose: an excluded phrase seen in a sidebar must not hide
        a page whose article still matches. A superset, so a page answering False needs no
        judging of where its words sit.
        """
        if self._always:
            return True
        hits = self._scan(normalize(text))
        for key in hits:
            for leaf, _watches in self._triggers.get(key, ()):
                if all(k in hits for k in leaf.keys):
                    return True
        return False

    def candidates(self, article: NormalizedArticle) -> list[str]:
        """Watches left for the matcher to decide: a superset of those that match.

        For benchmarks and tests; :meth:`matches_normalized` is what callers want.
        """
        return [self.names[i] for i in self._candidates(article)]

    def matches(self, title: str, body: str) -> dict[str, list[Match]]:
        """Convenience for one article given as text; folds it once for all watches."""
        return self.matches_normalized(NormalizedArticle.from_text(title, body))

    def matches_normalized(self, article: NormalizedArticle) -> dict[str, list[Match]]:
        """Watch name -> the matcher's matches, for every watch whose query matches.

        Exactly ``{name: m for name, q in queries if (m := q.match_normalized(article)) is not
        None}``, in watch order, without running the matcher on watches that cannot match.
        """
        found: dict[str, list[Match]] = {}
        for i in self._candidates(article):
            result = self.compiled[i].match_normalized(article)
            if result is not None:
                found[self.names[i]] = result
        return found
