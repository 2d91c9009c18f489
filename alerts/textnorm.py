"""Text normalisation shared by watch queries and article text.

A query matches an article only if both sides are folded the same way, so every rule lives
here and nowhere else: compatibility forms (NFKC), case (casefold), diacritics of the
Latin, Greek, Cyrillic and Hebrew alphabets, and the spelling variation of written Arabic
(harakat, tatweel, hamza seats on alef, teh marbuta, Persian letter forms).

Normalisation works one original character at a time so that every output character can be
traced back to the character it came from: alerts quote the article as it was written, not
the folded text the matcher searched.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = ["normalize", "normalize_with_map", "term_words"]

# Combining marks that are diacritics on letters (Tadmūr, Ḥomṣ, Alép, Παλμύρα, ё, niqqud):
# dropping them is what "ignore diacritics" means.  Marks outside these blocks (Indic vowel
# signs, the Japanese voicing marks...) spell different letters and are kept.
_DIACRITIC_RANGES = (
    (0x0300, 0x036F),  # Combining Diacritical Marks
    (0x0483, 0x0489),  # Cyrillic titlo and friends
    (0x0591, 0x05C7),  # Hebrew points and cantillation
    (0x0610, 0x061A),  # Arabic honorific marks
    (0x064B, 0x065F),  # Arabic harakat (fatha, damma, kasra, tanwin, shadda, sukun...)
    (0x0670, 0x0670),  # Arabic superscript alef
    (0x06D6, 0x06ED),  # Quranic annotation marks
    (0x1AB0, 0x1AFF),  # Combining Diacritical Marks Extended
    (0x1DC0, 0x1DFF),  # Combining Diacritical Marks Supplement
    (0x20D0, 0x20FF),  # Combining marks for symbols
    (0xFE20, 0xFE2F),  # Combining half marks
)

# Characters whose NFKD decomposition must not be undone: in Russian "й" is a letter of its
# own, not "и" with a breve, and folding it would merge unrelated words.
_KEEP_WHOLE = frozenset("йЙ")

# Invisible characters that only steer rendering; an article may hide them inside a word
# ("Pal\u00admyra" with a soft hyphen), so they must not split it.
_INVISIBLE = frozenset(
    "\u00ad"  # soft hyphen
    "\u0640"  # Arabic tatweel (kashida): pure elongation
    "\u02be\u02bf\u02bb"  # transliteration hamza/ayn (Shiʿa = Shia)
    "\u034f"  # combining grapheme joiner
    "\u061c"  # Arabic letter mark
    "\u200c\u200d\u200e\u200f"  # ZWNJ, ZWJ, LRM, RLM
    "\u202a\u202b\u202c\u202d\u202e"  # bidi embeddings and overrides
    "\u2060\u2061\u2062\u2063\u2064"  # word joiner and invisible operators
    "\u2066\u2067\u2068\u2069"  # bidi isolates
    "\ufeff"  # BOM / zero-width no-break space
)

_REPLACE: dict[str, str] = {
    # Variants a writer picks freely; one spelling each so either matches the other.
    "\u0671": "\u0627",  # alef wasla -> alef (أ إ آ reach bare alef by dropping their hamza/madda)
    "\u0629": "\u0647",  # teh marbuta -> heh (حماة / حماه)
    "\u06cc": "\u064a",  # Farsi yeh -> Arabic yeh
    "\u06a9": "\u0643",  # keheh -> kaf
    "\u2018": "'",  # curly apostrophes, so Palmyra\u2019s and Palmyra's fold alike
    "\u2019": "'",
    "\u02bc": "'",  # modifier apostrophe is a *letter* to the regex engine; make it punctuation
    "\u2010": "-",  # typographic hyphens, so phrase words may be joined by any of them
    "\u2011": "-",
    "\u200b": " ",  # zero-width space separates words: keep it a separator
}


def _is_diacritic(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _DIACRITIC_RANGES)


@lru_cache(maxsize=65536)
def _fold_char(ch: str) -> str:
    """Fold one character; cached because articles reuse a small alphabet."""
    if ch in _INVISIBLE:
        return ""
    if ch in _REPLACE:
        return _REPLACE[ch]
    folded = unicodedata.normalize("NFKC", ch).casefold()
    if folded in _KEEP_WHOLE:
        return folded
    decomposed = unicodedata.normalize("NFKD", folded)
    kept = "".join(
        _REPLACE.get(c, c) for c in decomposed if not _is_diacritic(c) and c not in _INVISIBLE
    )
    # Recompose what NFKD split but was not a diacritic (Hangul syllables, kana voicing).
    return unicodedata.normalize("NFC", kept)


def normalize_with_map(text: str) -> tuple[str, list[int]]:
    """Fold ``text`` and say, for each output character, which input character produced it.

    The map is non-decreasing; input characters that fold to nothing (harakat, tatweel,
    combining accents) have no entry, and one that folds to several (``ß`` -> ``ss``) has
    several.
    """
    if text.isascii():
        return text.lower(), list(range(len(text)))
    index: list[int] = []
    return _fold(text, index), index


def _fold(text: str, index: list[int] | None) -> str:
    """The folding itself; the map is filled only when asked for (it costs more than the
    folding on most pages)."""
    out: list[str] = []  # pieces: whole ASCII runs, or the folding of one character
    for run in _ASCII_RUNS.finditer(text):
        i = run.start()
        if run.group().isascii():  # most of most pages: no per-character work
            out.append(run.group().lower())
            if index is not None:
                index.extend(range(i, run.end()))
            continue
        folded = _fold_char(run.group())
        if folded and out and unicodedata.combining(folded[0]):
            # A kept mark after its base (half-width ﾊ + ﾟ) must compose with it the way the
            # precomposed character (パ) folds, or the two spellings would not match.
            composed = unicodedata.normalize("NFC", out[-1][-1] + folded[0])
            if len(composed) == 1:
                out[-1] = out[-1][:-1] + composed
                folded = folded[1:]
        if folded:
            out.append(folded)
            if index is not None:
                index.extend([i] * len(folded))
    return "".join(out)


_ASCII_RUNS = re.compile(r"[\x00-\x7f]+|[^\x00-\x7f]", re.DOTALL)


def normalize(text: str) -> str:
    """Fold ``text`` exactly as :func:`normalize_with_map` does."""
    if text.isascii():
        return text.lower()
    return _fold(text, None)


_WORD_SEPARATOR = re.compile(r"[\s\-]+")


def term_words(text: str) -> tuple[str, ...]:
    """The folded words a query term must match, in order.

    Shared by the parser (to refuse a term with nothing left to match) and the matcher (to
    build its pattern) so both agree.  Hyphens separate words like spaces do, because
    writers hyphenate freely ("al-Assad", "al Assad").
    """
    return tuple(w for w in _WORD_SEPARATOR.split(normalize(text)) if w)
