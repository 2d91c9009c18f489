"""The watch query language, parsed into an immutable tree.

Grammar, loosest binding first::

    query   := and ("OR" and)*
    and     := unary unary*                  juxtaposition means AND
    unary   := "-" primary | primary         "-" glued to what it excludes
    primary := "title:" atom | atom          "title:" glued to what it restricts
    atom    := TERM | '"' PHRASE '"' | "(" query ")"

Only the uppercase word ``OR`` is an operator, so ``or`` can still be searched for.  Uppercase
``AND`` and ``NOT`` are refused rather than searched for: someone who writes them means an
operator, and silently looking for the word "and" would quietly change their watch.

Queries are checked when the config loads, so everything that cannot be what the user meant
is an error with a column, not a watch that never (or always) fires.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from alerts.textnorm import term_words
from newswatch.errors import QuerySyntaxError

__all__ = ["And", "Not", "Or", "Query", "Term", "parse_query"]

_QUOTES = frozenset('"\u201c\u201d\u201e')  # word processors turn " into curly quotes
_TITLE = "title:"


@dataclass(frozen=True)
class Query:
    """Base of the query tree; each node knows its positive leaves and its canonical text."""

    def terms(self) -> list[Term]:
        """Terms the article must show for an alert to name them, in query order, once each.

        Excluded terms are left out: they explain why an article did *not* alert.
        """
        seen: list[Term] = []
        for term in self._positive():
            if term not in seen:
                seen.append(term)
        return seen

    def _positive(self) -> list[Term]:
        raise NotImplementedError


@dataclass(frozen=True)
class Term(Query):
    text: str
    phrase: bool = False
    title_only: bool = False

    def _positive(self) -> list[Term]:
        return [self]

    def __str__(self) -> str:
        body = f'"{self.text}"' if self.phrase else self.text
        return f"{_TITLE}{body}" if self.title_only else body


@dataclass(frozen=True)
class Not(Query):
    child: Query

    def _positive(self) -> list[Term]:
        return []

    def __str__(self) -> str:
        inner = str(self.child)
        return f"-({inner})" if isinstance(self.child, And | Or) else f"-{inner}"


@dataclass(frozen=True)
class And(Query):
    children: tuple[Query, ...]

    def _positive(self) -> list[Term]:
        return [t for c in self.children for t in c._positive()]

    def __str__(self) -> str:
        return " ".join(f"({c})" if isinstance(c, Or) else str(c) for c in self.children)


@dataclass(frozen=True)
class Or(Query):
    children: tuple[Query, ...]

    def _positive(self) -> list[Term]:
        return [t for c in self.children for t in c._positive()]

    def __str__(self) -> str:
        return " OR ".join(str(c) for c in self.children)


# --- tokens -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # "(" ")" "OR" "-" "title:" "term"
    column: int  # 1-based
    text: str = ""
    phrase: bool = False


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
            word = text[i:j]
            prefixed = bool(tokens) and tokens[-1].kind in ("-", _TITLE)
            if word == "OR" and not prefixed:
                tokens.append(_Token("OR", col))
            elif word in ("AND", "NOT") and not prefixed:
                hint = "juxtapose terms: 'a b' means both" if word == "AND" else "use '-term'"
                msg = f"'{word}' is not an operator; {hint} (quote \"{word}\" to search the word)"
                raise QuerySyntaxError(msg, col)
            elif not term_words(word):
                raise QuerySyntaxError(f"term {word!r} has nothing left to match", col)
            else:
                tokens.append(_Token("term", col, word))
            i = j
    return tokens


# --- parser -------------------------------------------------------------------------------


def _is_positive(node: Query) -> bool:
    if isinstance(node, Not):
        return False
    if isinstance(node, Or):
        return all(_is_positive(c) for c in node.children)
    if isinstance(node, And):
        return any(_is_positive(c) for c in node.children)
    return True


def _title_only(node: Query) -> Query:
    if isinstance(node, Term):
        return replace(node, title_only=True)
    if isinstance(node, Not):
        return Not(_title_only(node.child))
    if isinstance(node, And):
        return And(tuple(_title_only(c) for c in node.children))
    if isinstance(node, Or):
        return Or(tuple(_title_only(c) for c in node.children))
    raise TypeError(node)


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def parse_or(self) -> Query:
        first = self.peek()
        if first is not None and first.kind == "OR":
            raise QuerySyntaxError("'OR' needs a term before it", first.column)
        alternatives = [self.parse_and()]
        while (token := self.peek()) is not None and token.kind == "OR":
            self.take()
            after = self.peek()
            if after is None or after.kind in ("OR", ")"):
                raise QuerySyntaxError("'OR' needs a term after it", token.column)
            alternatives.append(self.parse_and())
        if len(alternatives) == 1:
            return alternatives[0]
        flat = [g for a in alternatives for g in (a.children if isinstance(a, Or) else (a,))]
        return Or(tuple(flat))

    def parse_and(self) -> Query:
        operands: list[Query] = []
        start = self.peek()
        while (token := self.peek()) is not None and token.kind not in ("OR", ")"):
            operands.append(self.parse_unary())
        if start is None:
            raise QuerySyntaxError("empty query", 1)
        if not operands:  # only a stray ")" can stop an AND before its first operand
            raise QuerySyntaxError("unbalanced parenthesis: this ')' has no '('", start.column)
        if not any(_is_positive(o) for o in operands):
            raise QuerySyntaxError(
                "only exclusions here: '-' removes articles, add a term to look for", start.column
            )
        if len(operands) == 1:
            return operands[0]
        flat = [g for o in operands for g in (o.children if isinstance(o, And) else (o,))]
        return And(tuple(flat))

    def parse_unary(self) -> Query:
        token = self.peek()
        if token is not None and token.kind == "-":
            self.take()
            return Not(self.parse_primary())
        return self.parse_primary()

    def parse_primary(self) -> Query:
        token = self.take()
        if token.kind == _TITLE:
            return _title_only(self.parse_primary())
        if token.kind == "term":
            return Term(token.text, phrase=token.phrase)
        if token.kind == "(":
            inner = self.peek()
            if inner is not None and inner.kind == ")":
                raise QuerySyntaxError("empty parentheses", token.column)
            node = self.parse_or()
            close = self.peek()
            if close is None or close.kind != ")":
                raise QuerySyntaxError(
                    "unbalanced parenthesis: this '(' is never closed", token.column
                )
            self.take()
            return node
        # The tokenizer guarantees "-" and "title:" are followed by an atom, so only a
        # stray ")" reaches here.
        raise QuerySyntaxError("unbalanced parenthesis: this ')' has no '('", token.column)


def parse_query(text: str) -> Query:
    """Parse a watch query, raising :class:`QuerySyntaxError` with a 1-based column."""
    tokens = _tokenize(text)
    if not tokens:
        raise QuerySyntaxError("empty query", 1)
    parser = _Parser(tokens)
    query = parser.parse_or()
    leftover = parser.peek()
    if leftover is not None:  # parse_or stops early only at a ")" it did not open
        raise QuerySyntaxError("unbalanced parenthesis: this ')' has no '('", leftover.column)
    return query
