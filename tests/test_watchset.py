"""WatchSet: one automaton pass per article must give exactly what every watch alone gives.

The candidate filter is only worth having if it never drops a watch the matcher would fire,
so the main tests are properties: every query of tests/data/query_cases.yaml against every
article there, and seeded random queries against random texts built from the spellings that
stress the filter (substrings of longer words, Arabic proclitics, CJK without spaces, case,
diacritics, hyphens and apostrophes).  The smaller tests pin down that it does filter.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from newswatch.alerts.matcher import Match, NormalizedArticle, compile_query
from newswatch.alerts.query import And, Near, Not, Or, Query, Term, parse_query
from newswatch.alerts.watchset import WatchSet
from newswatch.errors import QuerySyntaxError

CASES = yaml.safe_load((Path(__file__).parent / "data" / "query_cases.yaml").read_text("utf-8"))


def _one_by_one(queries: Mapping[str, Query], title: str, body: str) -> dict[str, list[Match]]:
    """The reference: every watch's CompiledQuery on its own, as intake used to do."""
    article = NormalizedArticle.from_text(title, body)
    found: dict[str, list[Match]] = {}
    for name, query in queries.items():
        result = compile_query(query).match_normalized(article)
        if result is not None:
            found[name] = result
    return found


def _assert_same(queries: Mapping[str, Query], articles: list[tuple[str, str]]) -> int:
    """Compare on every article; returns how many (watch, article) pairs matched."""
    watchset = WatchSet(queries)
    compiled = {name: compile_query(q) for name, q in queries.items()}
    matched = 0
    for title, body in articles:
        article = NormalizedArticle.from_text(title, body)
        expected = {
            name: r
            for name, c in compiled.items()
            if (r := c.match_normalized(article)) is not None
        }
        got = watchset.matches_normalized(article)
        assert got == expected, (title, body)
        assert list(got) == list(expected), "results come back in watch order"
        assert set(watchset.candidates(article)) >= set(expected)
        matched += len(got)
    return matched


def test_every_case_query_against_every_case_article() -> None:
    queries = {f"case{i}": parse_query(c["query"]) for i, c in enumerate(CASES)}
    articles = [(c["title"] or "", c["body"] or "") for c in CASES]
    assert _assert_same(queries, articles) >= sum(c["match"] for c in CASES)


# --- random queries and texts --------------------------------------------------------------

# Spellings of a few names and their look-alikes: each is a substring, prefix, suffix, case,
# accent or script variant of another, so a filter that is not a superset shows up quickly.
_SPELLINGS = [
    "Palmyra",
    "palmyra",
    "PALMYRA",
    "Palmyrene",
    "NeoPalmyra",
    "Palmyra's",
    "Palmyra\u2019s",
    "Pal\u00admyra",
    "palmyra2",
    "the_palmyra",
    "#Palmyra",
    "Tadmur",
    "Tadm\u016br",
    "Tadmu\u0304r",
    "al-Assad",
    "al",
    "Assad",
    "Al Assad",
    "Iran",
    "Iranian",
    "ran",
    "a",
    "offensive",
    "offensives",
    "Russia",
    "Russian",
    "Homs",
    "\u1e24om\u1e63",
    "Stra\u00dfe",
    "Strasse",
    "\ufb01nance",
    "finance",
    "d'Alep",
    "Alép",
    "Alépins",
    "تدمر",
    "تَدْمُر",
    "بتدمر",
    "وتدمر",
    "والتدمر",
    "للتدمر",
    "تدمرية",
    "تـدمـــر",
    "الأسد",
    "الاسد",
    "والأسد",
    "للأسد",
    "اسد",
    "إدلب",
    "ادلب",
    "حماة",
    "حماه",
    "Пальмира",
    "Пальмиру",
    "ПАЛЬМИРЫ",
    "ПАЛЬМИРА",
    "Пальмирский",
    "НеоПальмира",
    "ёлка",
    "елка",
    "Παλμύρα",
    "ΠΑΛΜΥΡΑ",
    "Παλμύρας",
    "巴尔米拉",
    "叙利亚巴尔米拉古城",
    "古城",
    "巴尔",
    "パルミラ",
    "\uff8a\uff9f\uff99\uff90\uff97",
    "팔미라에서",
    "팔미라",
    "पुर",
    "पुराना",
]
_SEPARATORS = [" ", " ", " ", "-", ", ", "\n", "  ", "", "'", ". ", "(", ")", "\u200b"]
_QUERY_WORDS = [
    "Palmyra",
    "palmyra",
    "Palmyrene",
    "Tadmur",
    "Tadmūr",
    "al-Assad",
    "Assad",
    "al",
    "Iran",
    "ran",
    "a",
    "offensive",
    "Russia",
    "Homs",
    "Strasse",
    "finance",
    "Alep",
    "تدمر",
    "الأسد",
    "اسد",
    "إدلب",
    "حماة",
    "Пальмира",
    "елка",
    "Παλμύρα",
    "巴尔米拉",
    "古城",
    "パルミラ",
    "팔미라",
    "पुर",
    "Palmyra's",
]
# Truncated terms: each is a prefix of some spellings above, in several scripts.
_PREFIXES = ["Palmyr*", "palm*", "Tadm*", "Ass*", "al-Ass*", "Пальмир*", "تدم*", "الأس*", "ran*"]


def _random_text(rng: random.Random, longest: int) -> str:
    parts: list[str] = []
    for _ in range(rng.randint(0, longest)):
        parts.append(rng.choice(_SPELLINGS))
        parts.append(rng.choice(_SEPARATORS))
    return "".join(parts)


def _random_term(rng: random.Random, title: bool | None = None) -> str:
    if title is None:
        title = rng.random() < 0.15
    if rng.random() < 0.15:
        return ("title:" if title else "") + rng.choice(_PREFIXES)
    n = rng.choice([1, 1, 1, 2, 2, 3])
    words = [rng.choice(_QUERY_WORDS) for _ in range(n)]
    if n == 1 and rng.random() < 0.7:
        text = words[0]
    else:
        joiner = rng.choice([" ", "-", " "])
        text = '"' + joiner.join(words) + '"'
    return ("title:" if title else "") + text


def _random_near(rng: random.Random) -> str:
    title = rng.random() < 0.15
    near = f"NEAR/{rng.choice([1, 1, 2, 3, 5])}"
    return f"{_random_term(rng, title)} {near} {_random_term(rng, title)}"


def _random_query_text(rng: random.Random, depth: int = 0) -> str:
    operands: list[str] = []
    for _ in range(rng.choice([1, 1, 2, 2, 3])):
        if depth < 2 and rng.random() < 0.25:
            operand = "(" + _random_query_text(rng, depth + 1) + ")"
        elif rng.random() < 0.2:
            operand = _random_near(rng)
            operand = f"({operand})" if rng.random() < 0.5 else operand
        else:
            operand = _random_term(rng)
        if rng.random() < 0.25:
            operand = "-" + operand
        operands.append(operand)
    text = " ".join(operands)
    if rng.random() < 0.35:
        text += " OR " + _random_query_text(rng, depth + 1)
    return text


def _random_tree(rng: random.Random, depth: int = 0) -> Query:
    """A tree the parser would refuse (only exclusions, double negation), built by hand."""
    if depth >= 2 or rng.random() < 0.4:
        text = rng.choice(_QUERY_WORDS)
        return Term(text, phrase=rng.random() < 0.2, title_only=rng.random() < 0.2)
    kind = rng.choice(["and", "or", "not", "near"])
    if kind == "near":
        title = rng.random() < 0.2
        left, right = (Term(rng.choice(_QUERY_WORDS), title_only=title) for _ in "lr")
        return Near(left, right, rng.randint(1, 4))
    if kind == "not":
        return Not(_random_tree(rng, depth + 1))
    children = tuple(_random_tree(rng, depth + 1) for _ in range(rng.randint(2, 3)))
    return And(children) if kind == "and" else Or(children)


@pytest.mark.parametrize("seed", range(6))
def test_random_queries_against_random_texts(seed: int) -> None:
    rng = random.Random(seed)
    queries: dict[str, Query] = {}
    while len(queries) < 250:
        text = _random_query_text(rng)
        try:
            queries[f"q{len(queries)}:{text}"] = parse_query(text)
        except QuerySyntaxError:
            continue
    for i in range(40):
        queries[f"tree{i}"] = _random_tree(rng)
    articles = [(_random_text(rng, 4), _random_text(rng, 30)) for _ in range(150)]
    assert _assert_same(queries, articles) > 100, "the texts should make some watches match"


# --- it filters -----------------------------------------------------------------------------


def _watchset(*queries: str) -> WatchSet:
    return WatchSet({q: parse_query(q) for q in queries})


def _candidates(watchset: WatchSet, title: str, body: str) -> list[str]:
    return watchset.candidates(NormalizedArticle.from_text(title, body))


def test_only_watches_with_a_present_term_are_evaluated() -> None:
    ws = _watchset("Palmyra", "Homs OR Aleppo", '"Palmyra offensive"', "Iran", "تدمر", "巴尔米拉")
    assert _candidates(ws, "", "Fighting near PALMYRA and the Palmyrene Iranian empire") == [
        "Palmyra"
    ]
    assert _candidates(ws, "", "the offensive near Palmyra") == ["Palmyra"]
    assert _candidates(ws, "Aleppo", "") == ["Homs OR Aleppo"]
    assert _candidates(ws, "", "آثار تدمرية") == []
    assert _candidates(ws, "", "دخلت القوات بِتَدْمُـرَ") == ["تدمر"]
    assert _candidates(ws, "", "叙利亚巴尔米拉古城") == ["巴尔米拉"]


def test_exclusions_and_title_prune_before_the_matcher() -> None:
    ws = _watchset("Palmyra -Russia", "title:Palmyra", "Palmyra Russia")
    assert _candidates(ws, "", "Palmyra and Russia") == ["Palmyra Russia"]
    assert _candidates(ws, "", "Palmyra and Russian jets") == ["Palmyra -Russia"]
    assert _candidates(ws, "Palmyra", "") == ["Palmyra -Russia", "title:Palmyra"]


def test_unknown_presence_keeps_the_watch() -> None:
    """A term glued to a long unspaced run is not tried everywhere: the matcher decides."""
    glued = "巴" * 40 + "Russia"
    ws = _watchset("Palmyra -Russia", "Russia")
    assert _candidates(ws, "", f"Palmyra {glued}") == ["Palmyra -Russia", "Russia"]
    assert list(ws.matches("", f"Palmyra {glued}")) == ["Palmyra -Russia"]


def test_results_are_the_matchers() -> None:
    ws = _watchset("Tadmur", "Palmyra Russia", "Homs")
    title, body = "Tadmūr retaken", "Russian jets over Palmyra; Russia says"
    got = ws.matches(title, body)
    assert got == _one_by_one(ws_queries(ws), title, body)
    assert [(m.term, m.field) for m in got["Tadmur"]] == [("Tadmur", "title")]
    assert got["Tadmur"][0].snippet == "Tadmūr retaken"


def ws_queries(ws: WatchSet) -> dict[str, Query]:
    return {name: compiled.query for name, compiled in zip(ws.names, ws.compiled, strict=True)}


def test_queries_without_a_positive_term_are_always_evaluated() -> None:
    """The parser refuses them, but a WatchSet built from trees must not drop them."""
    queries: dict[str, Query] = {
        "not": Not(Term("Russia")),
        "or": Or((Term("Palmyra"), Not(Term("Homs")))),
    }
    ws = WatchSet(queries)
    assert ws.matches("", "nothing here") == {"not": [], "or": []}
    assert ws.matches("", "Homs and Russia") == {}
    assert ws.matches("", "Homs and Palmyra") == _one_by_one(queries, "", "Homs and Palmyra")


def test_empty_watchset() -> None:
    ws = WatchSet({})
    assert len(ws) == 0
    assert ws.matches("Palmyra", "Palmyra") == {}


# --- scale -----------------------------------------------------------------------------------

_SYLLABLES = ("ka", "ri", "to", "ma", "ne", "lo", "den", "sha", "bur", "mor", "lin", "tra")


def _made_up_name(rng: random.Random) -> str:
    """A name from the long tail of what thousands of users watch."""
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()


def _many_watches(count: int, rng: random.Random) -> tuple[dict[str, Query], list[str]]:
    """``count`` distinct queries: the case table's, the stress queries', and a long tail of
    made-up names alone, in phrases, with OR, AND, exclusions and title: (returned too)."""
    texts: dict[str, None] = dict.fromkeys(c["query"] for c in CASES)
    while len(texts) < 1500:
        texts[_random_query_text(rng)] = None
    names: list[str] = []
    while len(texts) < count:
        name = _made_up_name(rng)
        names.append(name)
        other = rng.choice(_QUERY_WORDS)
        shapes = [name, f'"{name} {_made_up_name(rng)}"', f"{name} OR {other}"]
        shapes += [f"{name} -{other}", f"title:{name}", f"{other} {name}"]
        shapes += [f"{name[:-1]}*", f"{name} NEAR/3 {other}"]
        texts[rng.choice(shapes)] = None
    queries: dict[str, Query] = {}
    for text in texts:
        try:
            queries[text] = parse_query(text)
        except QuerySyntaxError:
            continue  # a case that tests a syntax error, or a random one the parser refuses
    while len(queries) < count:
        name = _made_up_name(rng)
        queries.setdefault(f'"{name} {name}"', parse_query(f'"{name} {name}"'))
    return queries, names


def test_ten_thousand_watches_build_without_compiling_and_match_as_each_alone() -> None:
    """The service's scale: building compiles no regex (about 1 ms a term, so seconds at start
    and on every reload); matching compiles only the terms articles show, and gives exactly
    what every watch evaluated on its own gives."""
    rng = random.Random(10_000)
    queries, names = _many_watches(10_000, rng)
    assert len(queries) == 10_000
    watchset = WatchSet(queries)
    leaves = [leaf for compiled in watchset.compiled for leaf in compiled.leaves.values()]
    assert not [leaf for leaf in leaves if leaf._pattern is not None], "built lazily"
    assert len({id(leaf) for leaf in leaves}) == len({leaf.key for leaf in leaves}), "shared"

    articles = [(c["title"] or "", c["body"] or "") for c in CASES[::12]]
    for _ in range(10):
        tail = " ".join(rng.choice(names) for _ in range(5))
        articles.append((_random_text(rng, 4), f"{_random_text(rng, 30)} {tail}."))
    reference = {name: compile_query(q) for name, q in queries.items()}
    matched = 0
    for title, body in articles:
        article = NormalizedArticle.from_text(title, body)
        expected = {
            name: r
            for name, c in reference.items()
            if (r := c.match_normalized(article)) is not None
        }
        got = watchset.matches_normalized(article)
        assert got == expected, (title, body)
        assert list(got) == list(expected)
        matched += len(got)
    assert matched > 1000, "the articles should make many watches match"
    distinct = {leaf.key: leaf for leaf in leaves}.values()
    compiled = [leaf for leaf in distinct if leaf._pattern is not None]
    assert 0 < len(compiled) < len(distinct) // 4, "only terms the articles show are compiled"
    solo = next(name for name in names if name in queries)  # a watch of one made-up name
    assert solo in watchset.matches("", f"news from {solo.upper()} today")
