"""Who may read the page: anyone on a loopback listen without a token, else only a request that
carries ``service.auth`` as a bearer token or through basic auth.

Browsers ask for basic auth by themselves (after the 401's ``WWW-Authenticate``), scripts and
Prometheus send a bearer token: both carry the same one secret, so there is one thing to rotate.
"""

from __future__ import annotations

import base64
import binascii
import hmac

__all__ = ["CHALLENGE", "authorized"]

CHALLENGE = 'Basic realm="newswatch", charset="UTF-8"'


def authorized(header: str | None, token: str) -> bool:
    """``Authorization: Bearer <token>``, or ``Basic`` whose password (any user name) or whole
    ``user:password`` is the token; compared in constant time."""
    if not header or not token:
        return False
    scheme, _, value = header.strip().partition(" ")
    expected = token.encode()
    if scheme.lower() == "bearer":
        return hmac.compare_digest(value.strip().encode(), expected)
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    _, _, password = decoded.partition(b":")
    whole = hmac.compare_digest(decoded, expected)
    return hmac.compare_digest(password, expected) or whole
