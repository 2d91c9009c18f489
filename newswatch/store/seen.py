"""How a remembered article is written down: a short digest of its URL and its version as a number.

Remembering every article of 10,000 outlets for ``retention`` is the store's largest state, so
both backends keep it in the same compact form instead of the canonical URL and the version text:

- the URL becomes the first 8 bytes of its BLAKE2b digest. Articles are remembered per outlet, so
  a collision needs two of one outlet's articles within retention: with n of them the chance is
  about n² / 2⁶⁵ — 2·10⁻¹¹ for 30,000 (1,000 a day for 30 days), 2·10⁻⁷ over 10,000 such outlets.
  A collision would make a new article look seen; alerts themselves are claimed by the full URL.
- the version (``newswatch.article.version_of``: the feed's updated time as sortable text, or "")
  becomes whole seconds since 0001-01-01T00:00:00Z plus one, and "" becomes 0. That keeps the
  order ``is_unseen`` compares by and gives the very same text back, for any year a ``datetime``
  can hold, in 40 bits.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from newswatch.article import version_of

__all__ = ["DIGEST_SIZE", "VERSION_BITS", "decode_version", "encode_version", "url_digest"]

DIGEST_SIZE = 8
VERSION_BITS = 40  # 9999-12-31T23:59:59Z is about 3.2e11 seconds after the origin: under 2**40

_ORIGIN = datetime(1, 1, 1, tzinfo=UTC)
_VERSION_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # what version_of writes


def url_digest(url: str) -> bytes:
    """The key an article is remembered under within its outlet."""
    return hashlib.blake2b(url.encode(), digest_size=DIGEST_SIZE).digest()


def encode_version(version: str) -> int:
    """A version as a number that sorts like its text; ValueError for text version_of never writes."""
    if not version:
        return 0
    try:
        moment = datetime.strptime(version, _VERSION_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"not an article version (version_of's text or ''): {version!r}") from None
    since = moment - _ORIGIN
    return since.days * 86400 + since.seconds + 1


def decode_version(code: int) -> str:
    """The text ``encode_version`` was given."""
    if code == 0:
        return ""
    return version_of(_ORIGIN + timedelta(seconds=code - 1))
