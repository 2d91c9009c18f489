"""Watch queries: normalisation, parsing, matching and snippets.

The matching rules are data (tests/data/query_cases.yaml) so that a new language or edge case
is one line; parser errors and snippets are tables here because they assert positions.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from newswatch.alerts.matcher import (
    CONTEXT_WORDS,
    ELLIPSIS,
    Match,
    NormalizedArticle,
    compile_query,
)
from newswatch.alerts.query import And, Near, Not, Or, Term, explain, legacy_reading, parse_query
from newswatch.alerts.textnorm import normalize, normalize_with_map, term_words
from newswatch.errors import NewswatchError, QuerySyntaxError

CASES_FILE = Path(__file__).parent / "data" / "query_cases.yaml"
CASE_KEYS = {"query", "title", "body", "match", "terms", "fields"}


def _load_cases() -> list[dict[str, Any]]:
    data = yaml.safe_load(CASES_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, list)
    return data


CASES = _load_cases()


def _match(query: str, title: str, body: str) -> list[Match] | None:
    return compile_query(parse_query(query)).match(title, body)


# --- the data file itself ----------------------------------------------------------------


def test_case_file_is_well_formed() -> None:
    """A typo in a key would silently turn a case into a weaker one."""
    assert len(CASES) >= 100
    for case in CASES:
        assert set(case) <= CASE_KEYS, case
        assert {"query", "title", "body", "match"} <= set(case), case
        assert isinstance(case["match"], bool), case
        if not case["match"]:
            assert "terms" not in case and "fields" not in case, case
        if "fields" in case:
            assert "terms" in case and len(case["fields"]) == len(case["terms"]), case
    assert any(c["match"] for c in CASES) and any(not c["match"] for c in CASES)


# --- matching ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{i}:{c['query']}|{c['body'][:20]}" for i, c in enumerate(CASES)]
)
def test_query_case(case: dict[str, Any]) -> None:
    result = _match(case["query"], case["title"] or "", case["body"] or "")
    if not case["match"]:
        assert result is None
        return
    assert result is not None
    assert result, "a matching query names at least one term"
    if "terms" in case:
        assert [m.term for m in result] == case["terms"]
    if "fields" in case:
        assert [m.field for m in result] == case["fields"]
    for m in result:
        source = case["title"] if m.field == "title" else case["body"]
        marked = m.snippet[m.mark_start : m.mark_end]
        assert marked, m
        assert normalize(marked).replace(" ", "") != ""
        assert _collapse(marked) in _collapse(source)


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_normalized_article_is_shared_between_queries() -> None:
    article = NormalizedArticle.from_text("Tadmūr retaken", "Russian jets over Palmyra's ruins")
    palmyra = compile_query(parse_query("Palmyra"))
    tadmur = compile_query(parse_query("title:Tadmur Russian"))
    homs = compile_query(parse_query("Homs"))
    assert palmyra.match_normalized(article) == palmyra.match(article.title, article.body)
    got = tadmur.match_normalized(article)
    assert got is not None
    assert [(m.term, m.field) for m in got] == [("Tadmur", "title"), ("Russian", "body")]
    assert homs.match_normalized(article) is None


def test_compiled_query_is_reusable() -> None:
    compiled = compile_query(parse_query("Palmyra -Russia"))
    assert compiled.match("", "Palmyra") is not None
    assert compiled.match("", "Palmyra Russia") is None
    assert compiled.match("", "Palmyra") is not None


# --- snippets ----------------------------------------------------------------------------


def _words(n: int, stem: str) -> str:
    return " ".join(f"{stem}{i}" for i in range(n))


def _only(result: list[Match] | None) -> Match:
    assert result is not None and len(result) == 1
    return result[0]


def test_snippet_marks_the_original_spelling() -> None:
    m = _only(_match("Tadmur", "", "Government forces retook Tadmūr on Sunday."))
    assert m.snippet == "Government forces retook Tadmūr on Sunday."
    assert m.snippet[m.mark_start : m.mark_end] == "Tadmūr"


def test_snippet_mark_keeps_trailing_combining_mark() -> None:
    m = _only(_match("cafe", "", "un cafe\u0301 noir"))
    assert m.snippet[m.mark_start : m.mark_end] == "cafe\u0301"


def test_snippet_mark_of_ligature_and_full_width() -> None:
    m = _only(_match("finance", "", "the \ufb01nance ministry"))
    assert m.snippet[m.mark_start : m.mark_end] == "\ufb01nance"
    m = _only(_match("Palmyra", "", "x \uff30\uff41\uff4c\uff4d\uff59\uff52\uff41 y"))
    assert m.snippet[m.mark_start : m.mark_end] == "\uff30\uff41\uff4c\uff4d\uff59\uff52\uff41"


def test_snippet_mark_in_arabic_keeps_harakat_and_drops_proclitic() -> None:
    m = _only(_match("تدمر", "", "دخلت القوات بِتَدْمُـرَ اليوم"))
    assert m.snippet[m.mark_start : m.mark_end] == "تَدْمُـرَ"


def test_snippet_has_about_thirty_words_around_the_first_occurrence() -> None:
    body = f"{_words(50, 'a')} Palmyra {_words(50, 'b')} Palmyra {_words(10, 'c')}"
    m = _only(_match("Palmyra", "", body))
    assert m.snippet.startswith(ELLIPSIS) and m.snippet.endswith(ELLIPSIS)
    words = m.snippet.strip(ELLIPSIS).split(" ")
    assert len(words) == 31  # ~15 words each side, as the alert formats promise
    assert CONTEXT_WORDS == 15
    assert words[0] == f"a{50 - CONTEXT_WORDS}" and words[-1] == f"b{CONTEXT_WORDS - 1}"
    assert words[CONTEXT_WORDS] == "Palmyra"
    assert m.snippet[m.mark_start : m.mark_end] == "Palmyra"
    assert m.snippet[m.mark_start - 4 : m.mark_start] == "a49 "


def test_snippet_not_cut_has_no_ellipsis() -> None:
    m = _only(_match("Palmyra", "", f"Palmyra {_words(5, 'w')}"))
    assert m.snippet == f"Palmyra {_words(5, 'w')}"
    assert (m.mark_start, m.mark_end) == (0, 7)


def test_snippet_cut_on_one_side_only() -> None:
    m = _only(_match("Palmyra", "", f"{_words(3, 'w')} Palmyra {_words(40, 'z')}"))
    assert not m.snippet.startswith(ELLIPSIS) and m.snippet.endswith(ELLIPSIS)
    assert m.snippet.startswith("w0 w1 w2 Palmyra z0")
    assert m.snippet.count(" ") == 3 + 15


def test_snippet_collapses_whitespace_and_mark_spans_a_phrase() -> None:
    body = "Reports:\n\n  the   Palmyra\n\toffensive\r\nbegan   today."
    m = _only(_match('"Palmyra offensive"', "", body))
    assert m.term == "Palmyra offensive"
    assert m.snippet == "Reports: the Palmyra offensive began today."
    assert m.snippet[m.mark_start : m.mark_end] == "Palmyra offensive"


def test_snippet_comes_from_the_title_when_found_there() -> None:
    m = _only(_match("Palmyra", "Palmyra’s museum reopens", "Palmyra " + _words(40, "b")))
    assert m.field == "title"
    assert m.snippet == "Palmyra’s museum reopens"
    assert m.snippet[m.mark_start : m.mark_end] == "Palmyra"


def test_snippet_is_bounded_for_text_without_spaces() -> None:
    body = "叙" * 1000 + "巴尔米拉" + "亚" * 1000
    m = _only(_match("巴尔米拉", "", body))
    assert m.snippet[m.mark_start : m.mark_end] == "巴尔米拉"
    assert 40 < len(m.snippet) < 400
    assert m.snippet.startswith(ELLIPSIS) and m.snippet.endswith(ELLIPSIS)


def test_each_term_gets_its_own_snippet() -> None:
    body = f"Tadmur {_words(40, 'x')} Palmyra end"
    result = _match("Palmyra OR Tadmur", "", body)
    assert result is not None
    assert [m.term for m in result] == ["Palmyra", "Tadmur"]
    palmyra, tadmur = result
    assert palmyra.snippet.endswith("Palmyra end") and palmyra.snippet.startswith(ELLIPSIS)
    assert tadmur.snippet.startswith("Tadmur x0") and tadmur.snippet.endswith(ELLIPSIS)
    for m in result:
        assert m.snippet[m.mark_start : m.mark_end] == m.term


def test_near_quotes_each_term_where_the_two_are_near() -> None:
    body = f"Palmyra fell. {_words(20, 'w')} Later the Palmyra museum reopened."
    result = _match("museum NEAR/2 Palmyr*", "", body)
    assert result is not None
    museum, palmyra = result
    assert (museum.term, palmyra.term) == ("museum", "Palmyr*")
    assert palmyra.snippet.endswith("Later the Palmyra museum reopened.")
    assert palmyra.snippet[palmyra.mark_start : palmyra.mark_end] == "Palmyra"
    assert palmyra.snippet[palmyra.mark_end :].startswith(" museum")
    assert _match("museum NEAR/2 Palmyr*", "", "Palmyra fell. " + _words(20, "w")) is None


def test_truncated_term_marks_the_whole_word() -> None:
    m = _only(_match("Пальмир*", "", "Бои за Пальмиру продолжаются"))
    assert m.term == "Пальмир*"
    assert m.snippet[m.mark_start : m.mark_end] == "Пальмиру"
    m = _only(_match("تدم*", "", "دخلت القوات بِتَدْمُـرَ اليوم"))
    assert m.snippet[m.mark_start : m.mark_end] == "تَدْمُـرَ"


def test_match_is_frozen() -> None:
    m = _only(_match("Palmyra", "", "Palmyra"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.term = "x"  # type: ignore[misc]


# --- parsing -----------------------------------------------------------------------------


def test_parse_tree_shapes() -> None:
    a, b, c = Term("a"), Term("b"), Term("c")
    assert parse_query("a") == a
    assert parse_query("a b OR c") == And((a, Or((b, c))))  # OR binds tighter, as in Google
    assert parse_query("a (b OR c)") == And((a, Or((b, c))))
    assert parse_query("(a b) OR c") == Or((And((a, b)), c))
    assert parse_query("a OR b -c") == And((Or((a, b)), Not(c)))  # excludes from the whole
    assert parse_query("-c a OR b") == And((Not(c), Or((a, b))))
    assert parse_query("a OR b c OR d") == And((Or((a, b)), Or((c, Term("d")))))
    assert parse_query("a OR b OR c") == Or((a, b, c))
    assert parse_query("((a))") == a
    assert parse_query('-"x y" a') == And((Not(Term("x y", phrase=True)), a))
    assert parse_query('title:"x y"') == Term("x y", phrase=True, title_only=True)
    assert parse_query("title:(a OR b -c)") == And(
        (
            Or((Term("a", title_only=True), Term("b", title_only=True))),
            Not(Term("c", title_only=True)),
        )
    )
    assert parse_query("a or b") == And((a, Term("or"), b))
    assert parse_query("-OR a") == And((Not(Term("OR")), a))
    assert parse_query("Palmyra's") == Term("Palmyra's")
    assert parse_query("Palmyr*") == Term("Palmyr", prefix=True)
    assert parse_query('"Palmyr*"') == Term("Palmyr*", phrase=True)
    assert parse_query("-Palmyr* x") == And((Not(Term("Palmyr", prefix=True)), Term("x")))
    assert parse_query('a NEAR/5 "b c"') == Near(a, Term("b c", phrase=True), 5)
    assert parse_query("x a NEAR/5 b OR c") == And((Term("x"), Or((Near(a, b, 5), c))))
    assert parse_query("title:(a NEAR/2 b)") == Near(
        Term("a", title_only=True), Term("b", title_only=True), 2
    )
    assert parse_query("x -(a NEAR/2 b)") == And((Term("x"), Not(Near(a, b, 2))))
    assert parse_query("a near b") == And((a, Term("near"), b))
    assert parse_query("-NEAR/5 a") == And((Not(Term("NEAR/5")), a))


def test_terms_lists_positive_leaves_in_order_once() -> None:
    q = parse_query('Palmyra -Russia ("Palmyra offensive" OR title:Tadmur) OR Palmyra')
    assert q.terms() == [
        Term("Palmyra"),
        Term("Palmyra offensive", phrase=True),
        Term("Tadmur", title_only=True),
    ]


@pytest.mark.parametrize(
    "query",
    [
        "Palmyra",
        'Palmyra -"Palmyra, New York"',
        "(Palmyra OR Tadmur) Russia -(concert OR festival)",
        'title:"Palmyra offensive" OR تدمر',
        "-title:Palmyra Syria",
        'Palmyra OR Tadmur OR "تدمر" -"Palmyra, New York"',
        "(a b) OR c",
        'Palmyr* NEAR/5 "museum director" -(x NEAR/2 y)',
        "title:(Пальмир* NEAR/3 музей) OR تدم*",
    ],
)
def test_str_round_trips(query: str) -> None:
    parsed = parse_query(query)
    assert parse_query(str(parsed)) == parsed


def test_query_tree_is_frozen() -> None:
    term = parse_query("Palmyra")
    assert isinstance(term, Term)
    with pytest.raises(dataclasses.FrozenInstanceError):
        term.text = "x"  # type: ignore[misc]


SYNTAX_ERRORS = [
    ("", 1, "empty query"),
    ("   ", 1, "empty query"),
    ("(Palmyra", 1, "never closed"),
    ("a ((b) c", 3, "never closed"),
    ("Palmyra)", 8, "has no '('"),
    ("(a OR b))", 9, "has no '('"),
    (")a", 1, "has no '('"),
    ('"Palmyra', 1, "unterminated quote"),
    ('Palmyra "offensive', 9, "unterminated quote"),
    ('a ""', 3, "empty phrase"),
    ('a " - "', 3, "empty phrase"),
    ('title:""', 7, "empty phrase"),
    ("OR Palmyra", 1, "before"),
    ("Palmyra OR", 9, "after"),
    ("Palmyra OR OR Tadmur", 9, "after"),
    ("(Palmyra OR) x", 10, "after"),
    ("-Palmyra", 1, "only exclusions"),
    ("-Palmyra -Tadmur", 1, "only exclusions"),
    ("Palmyra OR -Tadmur", 12, "only exclusions"),
    ("-(Palmyra Tadmur)", 1, "only exclusions"),
    ("a -(-b)", 5, "only exclusions"),
    ("()", 1, "empty parentheses"),
    ("a ( ) b", 3, "empty parentheses"),
    ("a - b", 3, "'-' must be directly followed"),
    ("a -", 3, "'-' must be directly followed"),
    ("--a b", 1, "'-' must be directly followed"),
    ("title:", 1, "'title:' must be directly followed"),
    ("title: a", 1, "'title:' must be directly followed"),
    ("title:title:a", 1, "'title:' must be directly followed"),
    ("title:-a", 1, "'title:' must be directly followed"),
    ("a AND b", 3, "'AND' is not an operator"),
    ("NOT a", 1, "'NOT' is not an operator"),
    ("a \u0640", 3, "nothing left to match"),
    ("a OR -b c", 6, "only exclusions"),
    ("Pa*", 3, "at least 3 letters before '*'"),
    ("تد*", 3, "at least 3 letters before '*'"),
    ("Pal*ra", 4, "put it at the end of a word"),
    ("Palmyra **", 9, "put it at the end of a word"),
    ("*", 1, "nothing left to match"),
    ("a NEAR b", 3, "'NEAR' is not an operator; write NEAR/5"),
    ("a NEAR/x b", 3, "'NEAR/x' is not an operator"),
    ("a NEAR/0 b", 3, "distance must be 1 to 100"),
    ("a NEAR/101 b", 3, "distance must be 1 to 100"),
    ("NEAR/3 a", 1, "'NEAR' needs a term or a phrase before it"),
    ("a NEAR/3", 3, "'NEAR' needs a term or a phrase after it"),
    ("a NEAR/3 OR b", 3, "'NEAR' needs a term or a phrase after it"),
    ("(a b) NEAR/3 c", 7, "not a group"),
    ("a NEAR/3 (b OR c)", 3, "not a group"),
    ("a NEAR/3 b NEAR/3 c", 12, "NEAR joins two terms"),
    ("title:a NEAR/3 b", 9, "write title:(a NEAR/5 b)"),
    ("-a NEAR/3 b", 1, "write -(a NEAR/5 b)"),
]


@pytest.mark.parametrize(("query", "column", "message"), SYNTAX_ERRORS)
def test_syntax_error(query: str, column: int, message: str) -> None:
    with pytest.raises(QuerySyntaxError) as raised:
        parse_query(query)
    assert raised.value.column == column
    assert message in raised.value.message
    assert str(raised.value).startswith(f"column {column}: ")
    assert isinstance(raised.value, NewswatchError)


# --- normalisation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("Tadmūr", "tadmur"),
        ("Ḥomṣ", "homs"),
        ("Alép", "alep"),
        ("ALEP", "alep"),
        ("Straße", "strasse"),
        ("ΠΑΛΜΥΡΑΣ", "παλμυρασ"),
        ("Παλμύρας", "παλμυρασ"),
        ("Пальмира", "пальмира"),
        ("ёлка", "елка"),
        ("Йемен", "йемен"),
        ("تَدْمُـر", "تدمر"),
        ("أإآٱا", "ااااا"),
        ("Palmyra’s", "palmyra's"),
        ("\uff30\uff41\uff4c", "pal"),
        ("Pal\u00admyra", "palmyra"),
        ("パ", "パ"),
        ("\uff8a\uff9f", "パ"),
        ("가", "가"),
    ],
)
def test_normalize(raw: str, folded: str) -> None:
    assert normalize(raw) == folded
    assert normalize_with_map(raw)[0] == folded


@pytest.mark.parametrize(
    "text",
    [
        "Forces retook Tadmūr — Ḥomṣ next; Straße ﬁnance",
        "دخلت القوات بِتَدْمُـرَ وأإآٱ",
        "ΠΑΛΜΥΡΑ Пальмира ёлка 巴尔米拉 ﾊﾟﾙﾐﾗ cafe\u0301",
        "plain ascii text",
    ],
)
def test_normalize_map_points_at_source_characters(text: str) -> None:
    folded, index = normalize_with_map(text)
    assert normalize(text) == folded  # folded alike without the map
    assert len(index) == len(folded)
    assert index == sorted(index)
    assert all(0 <= i < len(text) for i in index)
    # Every folded character comes from the original character it points at, or from that
    # character composed with the marks that follow it.
    for j, i in enumerate(index):
        nxt = index[j + 1] if j + 1 < len(index) and index[j + 1] > i else len(text)
        assert folded[j] in normalize(text[i:nxt]) or folded[j] in normalize(text[i])
    assert normalize(folded) == folded


def test_term_words_split_on_spaces_and_hyphens() -> None:
    assert term_words("  Palmyra-Offensive  now ") == ("palmyra", "offensive", "now")
    assert term_words(" - ") == ()


# --- the old precedence, and the tree in words -----------------------------------------------


@pytest.mark.parametrize(
    ("query", "old"),
    [
        (
            'Palmyra OR Tadmur OR "تدمر" -"Palmyra, New York"',
            'Palmyra OR Tadmur OR ("تدمر" -"Palmyra, New York")',
        ),
        ("a b OR c", "(a b) OR c"),
        ("-x a OR b", "(-x a) OR b"),
        ("a OR -c b", "a OR (-c b)"),  # refused now: the alternative "-c" excludes only
    ],
)
def test_legacy_reading_of_queries_whose_meaning_changed(query: str, old: str) -> None:
    before = legacy_reading(query)
    assert before is not None and str(before) == old
    with pytest.raises(QuerySyntaxError) if "OR -" in query else _nothing():
        assert parse_query(query) != before


@pytest.mark.parametrize(
    "query",
    ["Palmyra", "a b", "a OR b OR c", "a (b OR c)", "(a b) OR c", "a -b", "Palmyr* NEAR/3 x", ")"],
)
def test_legacy_reading_is_none_when_nothing_changed(query: str) -> None:
    assert legacy_reading(query) is None


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_explain_says_how_the_query_is_grouped() -> None:
    query = parse_query('Palmyra OR Tadmur -"Palmyra, New York" title:(Пальмир* NEAR/5 музей)')
    assert explain(query) == [
        "all of:",
        "  any of:",
        '    the word "Palmyra", in the title or the text',
        '    the word "Tadmur", in the title or the text',
        "  but not:",
        '    the phrase "Palmyra, New York", in the title or the text',
        "  both, at most 5 words apart, in either order:",
        '    a word starting with "Пальмир", in the title',
        '    the word "музей", in the title',
    ]
