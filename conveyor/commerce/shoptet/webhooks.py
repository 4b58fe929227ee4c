"""Shoptet webhook notifications: checking their signature and reading their body.

Shoptet signs each notification with the shop's signature key (``POST /api/webhooks/renew-signature-key``
makes a new one) and sends ``Shoptet-Webhook-Signature: hex(HMAC-SHA1(key, raw body))`` in lowercase, as
its PHP SDK checks with ``hash_hmac('sha1', ...)``. Verify the **raw** bytes before parsing anything:
re-serialised JSON would not hash the same.

The body names the entity only (``eventInstance``: an order code, a product guid, a job id…), so the
receiver fetches the entity itself. Shoptet sends no event id and may deliver a notification more than
once, in any order: :attr:`WebhookNotification.dedupe_key` is what identifies one.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from conveyor.commerce.shoptet.models import ShoptetDateTime, ShoptetModel

SIGNATURE_HEADER = "Shoptet-Webhook-Signature"
"""The request header carrying the signature."""


def sign(body: bytes, key: str) -> str:
    """The signature Shoptet sends for ``body``: lowercase hex HMAC-SHA1 keyed with the signature key."""
    return hmac.new(key.encode(), body, hashlib.sha1).hexdigest()


def verify(body: bytes, header: str | None, key: str) -> bool:
    """True when ``header`` (the ``Shoptet-Webhook-Signature`` value, None if absent) signs ``body``.

    The comparison takes the same time wherever the strings differ, so an attacker cannot learn the
    signature byte by byte from response times. Surrounding whitespace and hex case are forgiven."""
    if not header or not key:
        return False
    expected = sign(body, key).encode()
    given = header.strip().lower().encode("utf-8", "replace")
    return hmac.compare_digest(expected, given)


class WebhookNotification(ShoptetModel):
    """The body of a notification: ``{eshopId, event, eventCreated, eventInstance}``.

    A webhook registered with ``sendPayload: "full"`` may also carry ``payload`` (the entity as the GET
    endpoint returns it) for the few events that support it; it is kept as received."""

    eshop_id: int
    event: str
    event_created: ShoptetDateTime | None = None
    event_instance: str
    payload: dict[str, Any] | None = None

    @property
    def dedupe_key(self) -> tuple[int, str, str, str | None]:
        """``(eshopId, event, eventInstance, eventCreated)``: identical for a redelivered notification."""
        created = self.event_created.isoformat() if self.event_created else None
        return (self.eshop_id, self.event, self.event_instance, created)


def parse_notification(body: bytes) -> WebhookNotification:
    """Parse a notification body (after :func:`verify`); raises pydantic's ``ValidationError`` if it is not one."""
    return WebhookNotification.model_validate_json(body)
