"""Content fingerprints: the same story re-published under another URL is the same story.

Outlets re-post articles under new URLs (a new section, a slug fix, a copy without a canonical
link), often with a changed byline or an added line. The fingerprint is a MinHash of the word
3-shingles of the normalised title and text (64 permutations of 32 bits); the share of equal
positions between two fingerprints estimates the Jaccard similarity of their shingle sets.
Measured on the 121 ground-truth bodies of the shared corpus: unrelated pairs reach at most 0.19;
copies with a byline and an update line added, the last 20 or first 10 words cut, or punctuation
changed are 0.75 or more (one of 400 at 0.67); a correction line added to a 60-word story gives
0.86. A copy is therefore "0.7 or more". Fingerprints are computed only for articles that match
a watch and kept only for those that alerted, so comparing is cheap.

Fingerprints are stored and compared across versions, so the values are fixed: the coefficients,
the blake2b shingle hash and the formula ``((a*h + b) % P) & MASK`` must never change. They are
computed on the crawler's reactor thread, so the formula runs in numpy (the 64 permutations
against every shingle at once, exact modulo the Mersenne prime 2^61-1 in uint64) instead of a
Python loop, and the blake2b of each shingle is a copy of one prepared hasher: on the corpus
bodies about 1 ms per article instead of about 9.5 ms, a third of it now the text normalisation.
The pure-Python formula is kept in tests/test_fingerprint.py as the reference for the values.
"""

from __future__ import annotations

import hashlib
import random
import threading

import numpy as np
import numpy.typing as npt

from newswatch.alerts.textnorm import normalize

__all__ = ["SIMILAR", "fingerprint", "is_copy", "similarity"]

SIMILAR = 0.7
_PERMUTATIONS = 64
_PRIME = (1 << 61) - 1
_MASK = (1 << 32) - 1
_SHINGLE = 3
_rng = random.Random(20161203)  # fixed: fingerprints must compare across runs and versions
_COEFFICIENTS = [
    (_rng.randrange(1, _PRIME), _rng.randrange(0, _PRIME)) for _ in range(_PERMUTATIONS)
]

_UInt64s = npt.NDArray[np.uint64]
# Copying a prepared blake2b is cheaper than making one with digest_size=8 for every shingle.
_BLAKE2B_8 = hashlib.blake2b(digest_size=8)

# numpy scalars, not Python ints, so that every operation stays in uint64.
_P = np.uint64(_PRIME)
_LOW32 = np.uint64(_MASK)
_LOW31 = np.uint64((1 << 31) - 1)
_LOW30 = np.uint64((1 << 30) - 1)
_ONE = np.uint64(1)
_30 = np.uint64(30)
_31 = np.uint64(31)
_61 = np.uint64(61)
# Each a (< 2^61) split as a = a_high * 2^31 + a_low, as columns that broadcast over shingles.
_A = np.array([a for a, _ in _COEFFICIENTS], dtype=np.uint64)
_A_LOW = (_A & _LOW31)[:, np.newaxis]  # < 2^31
_A_HIGH = (_A >> _31)[:, np.newaxis]  # < 2^30
_A_HIGH_TWICE = _A_HIGH * np.uint64(2)  # 2^62 = 2 (mod P) folds the high x high product
_B = np.array([b for _, b in _COEFFICIENTS], dtype=np.uint64)[:, np.newaxis]

# Shingles go through the 64 permutations this many at a time, in three 64 x _CHUNK uint64
# arrays (768 KiB) kept per thread: fresh arrays of that size come from the OS each call and
# faulting their pages in cost half as much again as the arithmetic (measured on the corpus).
_CHUNK = 512
_workspace = threading.local()


def fingerprint(title: str, text: str) -> str:
    """512 hex digits: for each permutation, the least shingle value as 8 hex digits."""
    minimums = _minimums(_shingle_hashes(normalize(f"{title}\n{text}").split()))
    return minimums.astype(">u4").tobytes().hex()  # 8 hex digits per permutation, as f"{:08x}"


def _shingle_hashes(words: list[str]) -> _UInt64s:
    """The 64-bit big-endian blake2b of every word 3-shingle, as the stored values were made.

    A text of fewer than three words is one shingle of all its words (the empty string for an
    empty text). Repeated shingles are kept: the minimum over them is the one over the set.
    Each word is encoded once and joined as bytes (UTF-8 of a join is the join of the UTF-8s),
    and the digests are read in one go, so the loop does little but hash.
    """
    if len(words) < _SHINGLE:
        shingles = [" ".join(words).encode()]
    else:
        encoded = [word.encode() for word in words]
        columns = (encoded[i:] for i in range(_SHINGLE))  # the shingles starting at each word
        shingles = list(map(b" ".join, zip(*columns, strict=False)))  # stop at the last full one
    digests = []
    for shingle in shingles:
        blake2b = _BLAKE2B_8.copy()
        blake2b.update(shingle)
        digests.append(blake2b.digest())
    return np.frombuffer(b"".join(digests), dtype=">u8").astype(np.uint64)


def _minimums(hashes: _UInt64s) -> _UInt64s:
    """For each permutation (a, b), the least ``((a*h + b) % P) & MASK`` over the hashes ``h``.

    Exact in uint64 with no product past 2^64: ``h`` is first reduced below 2^61, then ``a`` and
    ``h`` are split into 31-bit low and 30-bit high halves and the partial products are folded
    with 2^61 = 1 (mod P), so that every sum stays below 2^63 + 2^61 + 2^32.
    """
    reduced = (hashes & _P) + (hashes >> _61)  # = h (mod P), <= 2^61 + 6
    reduced = (reduced & _P) + (reduced >> _61)  # = h (mod P), < 2^61
    h_low = reduced & _LOW31  # < 2^31
    h_high = reduced >> _31  # < 2^30
    workspace = _thread_workspace()
    best = np.full(_PERMUTATIONS, _MASK, dtype=np.uint64)
    for start in range(0, len(reduced), _CHUNK):
        low = h_low[start : start + _CHUNK]
        high = h_high[start : start + _CHUNK]
        total, middle, scratch = (
            rows[: _PERMUTATIONS * len(low)].reshape(_PERMUTATIONS, len(low)) for rows in workspace
        )
        # a*h = a_high*h_high*2^62 + (a_high*h_low + a_low*h_high)*2^31 + a_low*h_low
        np.multiply(_A_HIGH_TWICE, high, out=total)  # a_high*h_high*2^62 (mod P), < 2^61
        np.multiply(_A_HIGH, low, out=middle)
        np.multiply(_A_LOW, high, out=scratch)
        middle += scratch  # < 2^62
        np.multiply(_A_LOW, low, out=scratch)
        total += scratch  # < 2^61 + 2^62
        # middle*2^31 = (middle >> 30)*2^61 + (middle & LOW30)*2^31, and 2^61 = 1 (mod P)
        np.right_shift(middle, _30, out=scratch)
        total += scratch  # + < 2^32
        middle &= _LOW30
        middle <<= _31
        total += middle  # + < 2^61
        total += _B  # + < 2^61, so total < 2^63 + 2^61 + 2^32
        np.bitwise_and(total, _P, out=scratch)
        total >>= _61
        scratch += total  # r = a*h + b (mod P), r <= P + 5
        # r mod P is r, or r - P = (r + 1) - 2^61 when r >= P; either way its low 32 bits are
        # those of r + ((r + 1) >> 61), as 2^61 has none.
        np.add(scratch, _ONE, out=total)
        total >>= _61
        total += scratch
        total &= _LOW32
        np.minimum(best, total.min(axis=1), out=best)
    return best


def _thread_workspace() -> _UInt64s:
    """Three flat arrays of 64 x _CHUNK for _minimums, made once per thread and reused."""
    workspace: _UInt64s | None = getattr(_workspace, "arrays", None)
    if workspace is None:
        workspace = _workspace.arrays = np.empty((3, _PERMUTATIONS * _CHUNK), dtype=np.uint64)
    return workspace


def similarity(first: str, second: str) -> float:
    if len(first) != len(second) or not first:
        return 0.0
    pairs = range(0, len(first), 8)
    return sum(first[i : i + 8] == second[i : i + 8] for i in pairs) / len(pairs)


def is_copy(candidate: str, earlier: list[str]) -> bool:
    return any(similarity(candidate, other) >= SIMILAR for other in earlier)
