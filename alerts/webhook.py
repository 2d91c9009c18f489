"""Webhook alerts: JSON with an id header and an HMAC signature, or Slack / Discord.

``json`` posts the exact body the README shows (a digest posts its alerts' bodies in a list);
``slack`` and ``discord`` post those services' own message formats, rendered from the
``slack.json`` / ``discord.json`` templates. A 307/308 is posted again to its new address; a
301/302/303 is an error naming it (following would turn the POST into a GET without the alert);
a timeout or a 5xx is retried later, a 429's Retry-After is honoured.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from newswatch.alerts.render import Renderer, webhook_template
from newswatch.config import WebhookChannel
from newswatch.errors import ChannelDown, DeliveryError, PermanentDeliveryError, TemplateError
from newswatch.redact import hide_url_paths, redact_url

__all__ = ["post_webhook", "sign", "webhook_body"]


def _alert_body(alert: dict[str, Any]) -> dict[str, Any]:
    return {
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


def webhook_body(alert: dict[str, Any]) -> bytes:
    """The webhook body of the README: the stored alert without its rendering hints (snippet marks)."""
    if "notice" in alert:
        body = {"id": alert["id"], "notice": alert["notice"], "detected_at": alert["detected_at"]}
    elif "digest" in alert:
        body = {
            "id": alert["id"],
            "watch": alert["watch"],
            "digest": alert["digest"],
            "alerts": [_alert_body(item) for item in alert["alerts"]],
            "detected_at": alert["detected_at"],
        }
    else:
        body = _alert_body(alert)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def post_webhook(
    client: httpx.AsyncClient, channel: WebhookChannel, alert: dict[str, Any], renderer: Renderer
) -> None:
    if channel.format == "json":
        body = webhook_body(alert)
    else:
        rendered = renderer.render(webhook_template(alert, channel.format), alert)
        try:
            body = json.dumps(json.loads(rendered), ensure_ascii=False).encode()
        except ValueError as exc:
            raise TemplateError(
                f"template {channel.format}.json is not valid JSON: {exc}"
            ) from None
    headers = {"Content-Type": "application/json", "X-Newswatch-Id": alert["id"]}
    if channel.secret:
        headers["X-Newswatch-Signature"] = sign(body, channel.secret)
    url, shown = channel.url, redact_url(channel.url, hide_path=True)
    for _ in range(_MAX_REDIRECTS + 1):
        try:
            response = await client.post(url, content=body, headers=headers, follow_redirects=False)
        except httpx.HTTPError as exc:
            failure = hide_url_paths(f"{type(exc).__name__}: {exc}")
            down = isinstance(exc, httpx.TransportError)  # no answer: the channel waits
            raise (ChannelDown if down else DeliveryError)(
                f"webhook {shown} failed: {failure}"
            ) from None
        if response.status_code not in (307, 308) or "location" not in response.headers:
            break
        url = str(response.url.join(response.headers["location"]))  # the same POST, again
    if response.is_success:
        return
    error = f"webhook {shown} answered HTTP {response.status_code}"
    if response.is_redirect and "location" in response.headers:
        # 301 / 302 / 303 turn a POST into a GET without the alert: following one would ack an
        # alert that never arrived. The user has to point the channel at the new address.
        moved = redact_url(str(response.url.join(response.headers["location"])), hide_path=True)
        raise DeliveryError(f"{error}: moved to {moved}; update the channel's url")
    if response.status_code == 429:
        raise DeliveryError(error, retry_after=_retry_after(response))
    if 400 <= response.status_code < 500 and response.status_code != 408:
        raise PermanentDeliveryError(error)
    raise DeliveryError(error, retry_after=_retry_after(response))


_MAX_REDIRECTS = 5  # 307 / 308 only: they keep the method and the body


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())
