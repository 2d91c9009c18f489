"""Content fingerprints give exactly the values of the original formula, bit for bit.

Fingerprints are kept in the store and compared with those of later versions, so the numpy
implementation must give the same 512 hex digits as the pure-Python formula it replaced. That
formula is kept here as the reference, with its coefficients drawn again from the fixed seed, and
one value computed by the original code is pinned so that the reference itself cannot drift.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from newswatch.alerts.fingerprint import _CHUNK, _minimums, fingerprint, is_copy, similarity
from newswatch.alerts.textnorm import normalize

_PRIME = (1 << 61) - 1
_MASK = (1 << 32) - 1
_seed = random.Random(20161203)
_COEFFICIENTS = [(_seed.randrange(1, _PRIME), _seed.randrange(0, _PRIME)) for _ in range(64)]


def reference_minimums(hashes: Iterable[int]) -> list[int]:
    values = list(hashes)
    return [min(((a * h + b) % _PRIME) & _MASK for h in values) for a, b in _COEFFICIENTS]


def reference_fingerprint(title: str, text: str) -> str:
    """The original implementation (before numpy), unchanged."""
    words = normalize(f"{title}\n{text}").split()
    shingles = {
        int.from_bytes(
            hashlib.blake2b(" ".join(words[i : i + 3]).encode(), digest_size=8).digest(), "big"
        )
        for i in range(max(1, len(words) - 3 + 1))
    }
    return "".join(f"{value:08x}" for value in reference_minimums(shingles))


# Computed by the original implementation, before numpy.
PALMYRA = (
    "3948e7bb0bdd16052c9edc3557641e390f460d03203c7de61f0ab33949978501"
    "01b32de317b518851d7e7a5d1595053b2024058e14f79741123549ab13983536"
    "010cd77108372b7d436d8b5a05d1ab0401dff35e2056724e0c57cbbe096db3d3"
    "3a2429ca004c2f841374adc322ee423a2f99fdeb0224b7b7024392540092ddd6"
    "408646d722f39de25eeb56c7361bc7570927da151b06404f12250da807e3a943"
    "1639629d020ae22d0a3ff17a043ff23e12adc2870626fce30ad6b23938de0c86"
    "53ca5ca305a5ecdc1f0fcbce0e0f9c743324a21b5a3e1f212b5d349b2921f066"
    "026bc13112f37877247e7fe0088558ef1dc755a105bd4da310e9b980005e84a3"
)


def test_a_stored_fingerprint_is_still_computed() -> None:
    title, text = (
        "Army retakes Palmyra",
        "Forces entered the ancient city on Sunday, officials said.",
    )
    assert fingerprint(title, text) == PALMYRA
    assert reference_fingerprint(title, text) == PALMYRA


_LINES = (
    "army retakes Palmyra forces entered the ancient city on Sunday officials said",
    "Tadmūr Ḥomṣ Alép Παλμύρα الجيش يستعيد مدينة تدمر الأثرية حماة حماه",
    "Войска вошли в древний город Пальмира Ёлка йогурт 東京 パ ﾊﾟ 😀",
    "Pal\u00admyra Palmyra\u2019s al-Assad e\u0301 ß ﬁ 1,000 — « » ; ? !",
)
_VOCABULARY = [word for line in _LINES for word in line.split()]


def _random_text(rng: random.Random, words: int) -> str:
    separators = [" ", " ", " ", "\n", "\n\n", "\t", " \u200b "]
    return "".join(rng.choice(_VOCABULARY) + rng.choice(separators) for _ in range(words))


CASES = [
    ("", ""),
    ("", "word"),
    ("Palmyra", ""),
    ("two words", ""),
    ("", "three words here"),
    ("one", "two three"),
    ("  \t", "\n \u200b "),
    ("الجيش يستعيد تدمر", "Войска вошли в древний город Пальмира в воскресенье."),
    ("Παλμύρα", "東京 パ ﾊﾟ 😀 Pal\u00admyra ß ﬁ"),
    ("", "again " * 40),  # every shingle the same
    ("", " ".join(f"w{i}" for i in range(_CHUNK + 2))),  # exactly one block of shingles
    ("", " ".join(f"w{i}" for i in range(_CHUNK + 3))),  # one more than a block
    ("", " ".join(f"w{i}" for i in range(3 * _CHUNK + 50))),
]


@pytest.mark.parametrize(("title", "text"), CASES)
def test_fingerprint_equals_the_reference_formula(title: str, text: str) -> None:
    assert fingerprint(title, text) == reference_fingerprint(title, text)


def test_fingerprint_equals_the_reference_formula_on_random_texts() -> None:
    rng = random.Random(20260527)
    for _ in range(120):
        title = _random_text(rng, rng.choice([0, 1, 2, 3, 8]))
        text = _random_text(rng, rng.choice([0, 1, 2, 3, rng.randrange(4, 1500)]))
        assert fingerprint(title, text) == reference_fingerprint(title, text), (title, text)


def _hashes_hitting(residue: int) -> list[int]:
    """For every permutation, 64-bit hashes h with (a*h + b) % P == residue: the sums the
    uint64 arithmetic reduces last land on P or just above it for these."""
    hashes = []
    for a, b in _COEFFICIENTS:
        h = (residue - b) * pow(a, -1, _PRIME) % _PRIME
        hashes += [h + k * _PRIME for k in range(9) if h + k * _PRIME < 1 << 64]
    return hashes


EDGE_HASHES = [0, 1, 2, _PRIME - 1, _PRIME, _PRIME + 1, 1 << 61, (1 << 61) + 6, 1 << 62]
EDGE_HASHES += [(1 << 63) - 1, 1 << 63, 8 * _PRIME, (1 << 64) - 8, (1 << 64) - 2, (1 << 64) - 1]


@pytest.mark.parametrize("residue", [0, 1, 2, 3, 4, 5, 6, _MASK, _MASK + 1, _PRIME - 1])
def test_minimums_are_exact_where_the_reduction_is_closest_to_p(residue: int) -> None:
    hashes = _hashes_hitting(residue)
    for i in range(0, len(hashes), 9):  # each permutation's own hashes, then all at once
        some = hashes[i : i + 9]
        assert _minimums(np.array(some, dtype=np.uint64)).tolist() == reference_minimums(some)
    assert _minimums(np.array(hashes, dtype=np.uint64)).tolist() == reference_minimums(hashes)


def test_minimums_are_exact_on_edge_and_random_hashes() -> None:
    for h in EDGE_HASHES:
        assert _minimums(np.array([h], dtype=np.uint64)).tolist() == reference_minimums([h])
    assert _minimums(np.array(EDGE_HASHES, dtype=np.uint64)).tolist() == reference_minimums(
        EDGE_HASHES
    )
    rng = random.Random(7)
    for size in [1, 2, 5, _CHUNK - 1, _CHUNK, _CHUNK + 1, 2 * _CHUNK + 7]:
        hashes = [rng.getrandbits(64) for _ in range(size)]
        assert _minimums(np.array(hashes, dtype=np.uint64)).tolist() == reference_minimums(hashes)


def test_threads_each_get_the_same_values() -> None:
    rng = random.Random(11)
    texts = [_random_text(rng, 300 + 200 * i) for i in range(8)]
    expected = [reference_fingerprint("", text) for text in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(3):
            assert list(pool.map(lambda text: fingerprint("", text), texts)) == expected


def test_a_copy_with_a_byline_is_a_copy_and_another_story_is_not() -> None:
    rng = random.Random(5)
    story = _random_text(rng, 200)
    original = fingerprint("Army retakes Palmyra", story)
    copy = fingerprint("Army retakes Palmyra", f"By Staff Writer\n{story}\nUpdated at noon.")
    other = fingerprint("Army retakes Palmyra", _random_text(rng, 200))
    assert similarity(original, original) == 1.0
    assert is_copy(copy, [other, original])
    assert not is_copy(other, [original])


def test_corpus_article_bodies_give_the_reference_values(corpus_dir: Path) -> None:
    """Real article text: 121 bodies from many outlets and languages."""
    bodies = [
        json.loads(path.read_text(encoding="utf-8"))["articleBody"]
        for path in sorted((corpus_dir / "articles").glob("*.json"))
    ]
    assert len(bodies) >= 100
    for body in bodies:
        title = body.split("\n", 1)[0][:80]
        assert fingerprint(title, body) == reference_fingerprint(title, body)
        assert fingerprint("", body) == reference_fingerprint("", body)
