"""Webhook alerts (SPEC §5): the exact JSON body, the alert id header and an HMAC signature."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx

from newswatch.config import WebhookChannel
from newswatch.errors import DeliveryError, PermanentDeliveryError

__all__ = ["post_webhook", "sign", "webhook_body"]


def webhook_body(alert: dict[str, Any]) -> bytes:
    """SPEC §5's body: the stored alert without its rendering hints (snippet marks)."""
    body = {
        "id": alert["id"],
        "watch": alert["watch"],
        "outlet": alert["outlet"],
        "article": alert["article"],
        "matches": [
            {"term": m["term"], "field": m["field"], "snippet": m["snippet"]}
            for m in alert["matches"]
        ],
        "detected_at": alert["detected_at"],
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_webhook(client: httpx.Client, channel: WebhookChannel, alert: dict[str, Any]) -> None:
    if channel.format != "json":
        raise PermanentDeliveryError(f"webhook format {channel.format!r} is not supported yet")
    body = webhook_body(alert)
    headers = {"Content-Type": "application/json", "X-Newswatch-Id": alert["id"]}
    if channel.secret:
        headers["X-Newswatch-Signature"] = sign(body, channel.secret)
    try:
        response = client.post(channel.url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise DeliveryError(
            f"webhook {_safe(channel.url)} failed: {exc or type(exc).__name__}"
        ) from None
    if response.is_success:
        return
    error = f"webhook {_safe(channel.url)} answered HTTP {response.status_code}"
    if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
        raise PermanentDeliveryError(error)
    raise DeliveryError(error)


def _safe(url: str) -> str:
    """Webhook URLs often carry a token in the path: log scheme and host only."""
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}{':' + str(parsed.port) if parsed.port else ''}/…"
