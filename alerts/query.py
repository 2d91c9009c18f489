"""The watch query language, parsed into an immutable tree.

Grammar, loosest binding first (as in Google: OR binds tighter than the implied AND, so a
top-level ``-x`` excludes from the whole query)::

    query   := or or*                        juxtaposition means AND
    or      := unary ("OR" unary)*
    unary   := "-" near | near               "-" glued to what it excludes
    near    := primary ("NEAR/" N primary)?  both within N words, any order; terms only
    primary := "title:" primary | atom       "title:" glued to what it restricts
    atom    := TERM | TERM "*" | '"' PHRASE '"' | "(" query ")"

Only the uppercase words ``OR`` and ``NEAR/N`` are operators, so ``or`` and ``near`` can still be
searched for.  Uppercase ``AND``, ``NOT`` and a bare ``NEAR`` are refused rather than searched
for: someone who writes them means an operator, and silently looking for the word "and" would
quietly change their watch.  ``Palmyr*`` is a word prefix of at least three letters; inside
quotes ``*`` is an ordinary character.

Until the Google precedence, juxtaposition bound tighter than OR (``a b OR c`` meant
``(a b) OR c``).  :func:`legacy_reading` still parses that way, so that a config written for
it is told which watches now read differently instead of being silently changed.

Queries are checked when the config loads, so everything that cannot be what the user meant
is an error with a column, not a watch that never (or always) fires.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from newswatch.alerts.textnorm import term_words
from newswatch.errors import QuerySyntaxError

__all__ = [
    "And",
    "Near",
    "Not",
    "Or",
    "Query",
    "Term",
    "explain",
    "legacy_reading",
    "needs_positive_term",
    "parse_query",
    "walk",
]

_QUOTES = frozenset('"\u201c\u201d\u201e')  # word processors turn " into curly quotes
_TITLE = "title:"
_NEAR = re.compile(r"NEAR/(\d+)")
MAX_NEAR = 100  # words; beyond that "near" is most of an article
MIN_PREFIX = 3  # letters before "*": "Pa*" would match half the language


@dataclass(frozen=True)
class Query:
    """Base of the query tree: :class:`Term`, :class:`Near`, :class:`Not`, :class:`And` and
    :class:`Or` are the whole, closed set of nodes; code that walks the tree matches on them."""

    def terms(self) -> list[Term]:
        """Terms the article must show for an alert to name them, in query order, once each.

        Excluded terms are left out: they explain why an article did *not* alert.
        """
        seen: list[Term] = []
        for node in walk(self, into_exclusions=False):
            if isinstance(node, Term) and node not in seen:
                seen.append(node)
        return seen


@dataclass(frozen=True)
class Term(Query):
    text: str  # as written, without quotes or the prefix star
    phrase: bool = False
    title_only: bool = False
    prefix: bool = False  # the last word may go on: Palmyr* is Palmyra, Palmyras, Palmyrene

    @property
    def label(self) -> str:
        """How alerts name the term: as the user wrote it, quotes and ``title:`` left out."""
        return f"{self.text}*" if self.prefix else self.text

    def __str__(self) -> str:
        body = f'"{self.text}"' if self.phrase else self.label
        return f"{_TITLE}{body}" if self.title_only else body


@dataclass(frozen=True)
class Near(Query):
    """Both terms in the same field with at most ``distance`` words between them."""

    left: Term
    right: Term
    distance: int

    def __str__(self) -> str:
        return f"{self.left} NEAR/{self.distance} {self.right}"


@dataclass(frozen=True)
class Not(Query):
    child: Query

    def __str__(self) -> str:
        return f"-{_grouped(self.child, (And, Or, Near))}"


@dataclass(frozen=True)
class And(Query):
    children: tuple[Query, ...]

    def __str__(self) -> str:
        # OR binds tighter, so the parentheses are not needed; they are kept because a
        # reader who learnt the other precedence (or this program's old one) needs them.
        return " ".join(_grouped(c, (Or,)) for c in self.children)


@dataclass(frozen=True)
class Or(Query):
    children: tuple[Query, ...]

    def __str__(self) -> str:
        return " OR ".join(_grouped(c, (And,)) for c in self.children)


def _grouped(node: Query, kinds: tuple[type[Query], ...]) -> str:
    return f"({node})" if isinstance(node, kinds) else str(node)


def walk(node: Query, *, into_exclusions: bool = True) -> list[Query]:
    """Every node of the tree, parents before children, in query order.

    A list built with a stack, not nested generators: building a WatchSet walks every query
    twice, and 10,000 watches felt the difference.
    """
    nodes: list[Query] = []
    stack = [node]
    while stack:
        current = stack.pop()
        nodes.append(current)
        match current:
            case Near():
                stack += (current.right, current.left)
            case Not():
                if into_exclusions:
                    stack.append(current.child)
            case And() | Or():
                stack.extend(reversed(current.children))
    return nodes


def needs_positive_term(node: Query) -> bool:
    """Whether ``node`` can only hold when one of its positive terms is present.

    The parser refuses a query for which this is false (only exclusions), and the WatchSet
    relies on the same rule to skip a watch none of whose terms occurs.
    """
    match node:
        case Term() | Near():
            return True
        case Not():
            return False
        case And(children):
            return any(needs_positive_term(c) for c in children)
        case Or(children):
            return all(needs_positive_term(c) for c in children)
    raise TypeError(node)


def _title_only(node: Query) -> Query:
    match node:
        case Term():
            return replace(node, title_only=True)
        case Near(left, right, distance):
            return Near(replace(left, title_only=True), replace(right, title_only=True), distance)
        case Not(child):
            return Not(_title_only(child))
        case And(children):
            return And(tuple(_title_only(c) for c in children))
        case Or(children):
            return Or(tuple(_title_only(c) for c in children))
    raise TypeError(node)


def explain(node: Query, indent: str = "") -> list[str]:
    """The tree in words, one node a line, children indented: what ``check --explain`` prints
    so that a user can see how the parser grouped their query before trusting it."""
    match node:
        case Term():
            if node.prefix and len(term_words(node.text)) > 1:
                what = f'the phrase "{node.text}", its last word with any ending'
            elif node.prefix:
                what = f'a word starting with "{node.text}"'
            elif len(term_words(node.text)) > 1:
                what = f'the phrase "{node.text}"'
            else:
                what = f'the word "{node.text}"'
            where = "in the title" if node.title_only else "in the title or the text"
            return [f"{indent}{what}, {where}"]
        case Near(left, right, distance):
            head = f"{indent}both, at most {distance} words apart, in either order:"
            return [head, *explain(left, indent + "  "), *explain(right, indent + "  ")]
        case Not(child):
            return [f"{indent}but not:", *explain(child, indent + "  ")]
        case And(children):
            return [f"{indent}all of:", *(ln for c in children for ln in explain(c, indent + "  "))]
        case Or(children):
            return [f"{indent}any of:", *(ln for c in children for ln in explain(c, indent + "  "))]
    raise TypeError(node)


# --- tokens -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # "(" ")" "OR" "NEAR" "-" "title:" "term"
    column: int  # 1-based
    text: str = ""
    phrase: bool = False
    prefix: bool = False
    distance: int = 0


def _word_token(word: str, col: int, operator_allowed: bool) -> _Token:
    """An unquoted word: an operator, a (possibly truncated) term, or an error."""
    near = _NEAR.fullmatch(word)
    if operator_allowed and word == "OR":
        return _Token("OR", col)
    if operator_allowed and near:
        distance = int(near.group(1))
        if not 1 <= distance <= MAX_NEAR:
            raise QuerySyntaxError(f"NEAR/{distance}: the distance must be 1 to {MAX_NEAR}", col)
        return _Token("NEAR", col, distance=distance)
    if operator_allowed and (word in ("AND", "NOT") or word.startswith("NEAR")):
        hints = {
            "AND": "juxtapose terms: 'a b' means both",
            "NOT": "use '-term'",
        }
        hint = hints.get(word, "write NEAR/5 for 'within 5 words'")
        name = word if word in hints else "NEAR"
        msg = f"'{word}' is not an operator; {hint} (quote \"{name}\" to search the word)"
        raise QuerySyntaxError(msg, col)
    stem, prefix = (word[:-1], True) if word.endswith("*") else (word, False)
    star = stem.find("*")
    if star >= 0:
        raise QuerySyntaxError("'*' only truncates: put it at the end of a word", col + star)
    words = term_words(stem)
    if not words:
        raise QuerySyntaxError(f"term {word!r} has nothing left to match", col)
    if prefix and sum(ch.isalnum() for ch in words[-1]) < MIN_PREFIX:
        raise QuerySyntaxError(
            f"{word!r}: put at least {MIN_PREFIX} letters before '*'", col + len(word) - 1
        )
    return _Token("term", col, stem, prefix=prefix)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        col = i + 1
        if ch.isspace():
            i += 1
        elif ch in "()":
            tokens.append(_Token(ch, col))
            i += 1
        elif ch == "-" or text.startswith(_TITLE, i):
            kind = "-" if ch == "-" else _TITLE
            i += len(kind)
            nxt = text[i] if i < n else ""
            nested = kind == _TITLE and text.startswith(_TITLE, i)
            if not nxt or nxt.isspace() or nxt in ")-" or nested:
                what = "a term, a phrase or '('"
                raise QuerySyntaxError(f"'{kind}' must be directly followed by {what}", col)
            tokens.append(_Token(kind, col))
        elif ch in _QUOTES:
            end = next((j for j in range(i + 1, n) if text[j] in _QUOTES), -1)
            if end < 0:
                raise QuerySyntaxError("unterminated quote: the phrase has no closing '\"'", col)
            phrase = text[i + 1 : end]
            if not term_words(phrase):
                raise QuerySyntaxError("empty phrase: put words between the quotes", col)
            tokens.append(_Token("term", col, phrase.strip(), phrase=True))
            i = end + 1
        else:
            j = i
            while (
                j < n and not text[j].isspace() and text[j] not in "()" and text[j] not in _QUOTES
            ):
                j += 1
            prefixed = bool(tokens) and tokens[-1].kind in ("-", _TITLE)
            tokens.append(_word_token(text[i:j], col, operator_allowed=not prefixed))
            i = j
    return tokens


# --- parser -------------------------------------------------------------------------------

_ONLY_EXCLUSIONS = "only exclusions here: '-' removes articles, add a term to look for"


class _Parser:
    """Recursive descent; ``legacy`` swaps the two loosest levels back to the old precedence
    (juxtaposition tighter than OR), for :func:`legacy_reading` only."""

    def __init__(self, tokens: list[_Token], legacy: bool = False) -> None:
        self.tokens = tokens
        self.pos = 0
        self.legacy = legacy

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def parse_group(self) -> Query:
        """What a whole query, or the inside of parentheses, holds."""
        if self.legacy:
            return self.parse_alternatives(lambda: self.parse_sequence(self.parse_unary))
        return self.parse_sequence(lambda: self.parse_alternatives(self.parse_unary))

    def parse_alternatives(self, operand: Callable[[], Query]) -> Query:
        first = self.peek()
        if first is not None and first.kind == "OR":
            raise QuerySyntaxError("'OR' needs a term before it", first.column)
        alternatives = [operand()]
        starts = [first]
        while (token := self.peek()) is not None and token.kind == "OR":
            self.take()
            after = self.peek()
            if after is None or after.kind in ("OR", ")"):
                raise QuerySyntaxError("'OR' needs a term after it", token.column)
            starts.append(after)
            alternatives.append(operand())
        if len(alternatives) == 1:
            return alternatives[0]
        for alternative, start in zip(alternatives, starts, strict=True):
            if not needs_positive_term(alternative) and start is not None:
                raise QuerySyntaxError(_ONLY_EXCLUSIONS, start.column)
        flat = [g for a in alternatives for g in (a.children if isinstance(a, Or) else (a,))]
        return Or(tuple(flat))

    def parse_sequence(self, operand: Callable[[], Query]) -> Query:
        operands: list[Query] = []
        start = self.peek()
        while (token := self.peek()) is not None and token.kind != ")":
            if token.kind == "OR" and (self.legacy or operands):
                break
            operands.append(operand())
        if start is None:
            raise QuerySyntaxError("empty query", 1)
        if not operands:  # only a stray ")" can stop a sequence before its first operand
            raise QuerySyntaxError("unbalanced parenthesis: this ')' has no '('", start.column)
        if not any(needs_positive_term(o) for o in operands):
            raise QuerySyntaxError(_ONLY_EXCLUSIONS, start.column)
        if len(operands) == 1:
            return operands[0]
        flat = [g for o in operands for g in (o.children if isinstance(o, And) else (o,))]
        return And(tuple(flat))

    def parse_unary(self) -> Query:
        token = self.peek()
        if token is not None and token.kind == "-":
            self.take()
            child = self.parse_primary()
            after = self.peek()
            if after is not None and after.kind == "NEAR":
                raise QuerySyntaxError(
                    "'-' before NEAR is unclear: write -(a NEAR/5 b) to exclude the pair",
                    token.column,
                )
            return Not(child)
        return self.parse_near()

    def parse_near(self) -> Query:
        left = self.parse_primary()
        operator = self.peek()
        if operator is None or operator.kind != "NEAR":
            return left
        self.take()
        after = self.peek()
        if after is None or after.kind in ("OR", "NEAR", ")"):
            raise QuerySyntaxError("'NEAR' needs a term or a phrase after it", operator.column)
        right = self.parse_primary()
        if not isinstance(left, Term) or not isinstance(right, Term):
            raise QuerySyntaxError(
                "NEAR joins a term or phrase on each side, not a group", operator.column
            )
        if left.title_only != right.title_only:
            raise QuerySyntaxError(
                "both sides of NEAR are looked for in one place: write title:(a NEAR/5 b)",
                operator.column,
            )
        following = self.peek()
        if following is not None and following.kind == "NEAR":
            raise QuerySyntaxError(
                "NEAR joins two terms: write (a NEAR/5 b) (b NEAR/5 c) for three",
                following.column,
            )
        return Near(left, right, operator.distance)

    def parse_primary(self) -> Query:
        token = self.take()
        if token.kind == _TITLE:
            return _title_only(self.parse_primary())
        if token.kind == "term":
            return Term(token.text, phrase=token.phrase, prefix=token.prefix)
        if token.kind == "(":
            inner = self.peek()
            if inner is not None and inner.kind == ")":
                raise QuerySyntaxError("empty parentheses", token.column)
            node = self.parse_group()
            close = self.peek()
            if close is None or close.kind != ")":
                raise QuerySyntaxError(
                    "unbalanced parenthesis: this '(' is never closed", token.column
                )
            self.take()
            return node
        if token.kind == "OR":
            raise QuerySyntaxError("'OR' needs a term before it", token.column)
        if token.kind == "NEAR":
            raise QuerySyntaxError("'NEAR' needs a term or a phrase before it", token.column)
        # The tokenizer guarantees "-" and "title:" are followed by an atom, so only a
        # stray ")" reaches here.
        raise QuerySyntaxError("unbalanced parenthesis: this ')' has no '('", token.column)


def _parse(text: str, legacy: bool) -> Query:
    tokens = _tokenize(text)
    if not tokens:
        raise QuerySyntaxError("empty query", 1)
    parser = _Parser(tokens, legacy)
    query = parser.parse_group()
    leftover = parser.peek()
    if leftover is not None:  # parse_group stops early only at a ")" it did not open
        raise QuerySyntaxError("unbalanced parenthesis: this ')' has no '('", leftover.column)
    return query


def parse_query(text: str) -> Query:
    """Parse a watch query, raising :class:`QuerySyntaxError` with a 1-based column."""
    return _parse(text, legacy=False)


def legacy_reading(text: str) -> Query | None:
    """How ``text`` read before OR bound tighter than juxtaposition, when that differs from how
    it reads now (or now does not parse); None when nothing changed or it never parsed.

    Compared as trees: both parsers keep the written order and flatten alike, so equal
    groupings give equal trees.
    """
    if "OR" not in text:  # without OR the two precedences read everything alike
        return None
    try:
        old = _parse(text, legacy=True)
    except QuerySyntaxError:
        return None
    try:
        new = parse_query(text)
    except QuerySyntaxError:
        return old
    return None if old == new else old
