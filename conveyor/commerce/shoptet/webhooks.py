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
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import ValidationError

from conveyor import Conveyor
from conveyor.commerce import store
from conveyor.commerce.shoptet import sync
from conveyor.commerce.shoptet.errors import PipelineError, WebhookPayloadError, WebhookSignatureError
from conveyor.commerce.shoptet.models import ShoptetDateTime, ShoptetModel
from conveyor.commerce.shoptet.pacing import retry_after_seconds
from conveyor.commerce.shoptet.pack import PLATFORM, api_credentials, pack_of
from conveyor.commerce.store import Shop

SIGNATURE_HEADER = "Shoptet-Webhook-Signature"
"""The request header carrying the signature."""

log = logging.getLogger("conveyor.commerce.shoptet")


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


# ---------------------------------------------------------------------------------------------- receiving
#: Webhook events that make a targeted fetch of the order they name.
ORDER_EVENTS = frozenset({"order:create", "order:update", "order:cancel", "order:paid", "order:delete"})


#: What :func:`register_webhooks` registers by default: new and changed orders, and finished snapshots.
DEFAULT_WEBHOOK_EVENTS = ("order:create", "order:update", "job:finished")


@dataclass(frozen=True)
class WebhookResult:
    """What :func:`handle_webhook` did with a notification (answer 200 in every case)."""

    shop_id: int
    event: str
    instance: str
    #: The recorded event's id; None for a repeated identity (redelivery, or a second event in the same second).
    event_id: int | None
    duplicate: bool
    #: The fetch job an order event caused (a burst for one order shares one job), else None.
    job_id: int | None = None
    execution_id: int | None = None

    @property
    def action(self) -> str:
        """One line for logs and the HTTP answer."""
        if self.duplicate and self.job_id is not None:
            return f"repeated {self.event} {self.instance} (same eventCreated): fetching it (job {self.job_id})"
        if self.duplicate:
            return f"duplicate {self.event} {self.instance}: ignored"
        if self.job_id is not None:
            return f"{self.event} {self.instance}: fetching it (job {self.job_id})"
        if self.event == "job:finished":
            return f"job:finished {self.instance}: recorded (wakes the snapshot waiting for it)"
        return f"{self.event} {self.instance}: recorded"


def handle_webhook(app: Conveyor, raw_body: bytes, signature: str | None) -> WebhookResult:
    """Accept one Shoptet notification (``POST /webhooks/shoptet``).

    Which shop sent it is decided by the signature itself, before the body is parsed: the raw bytes are
    checked against each Shoptet shop's signature key, and the shop whose key signs them is the sender (its
    stored ``eshop_id``, when set, must match the body's). No match: :class:`WebhookSignatureError` (answer
    401), nothing recorded or enqueued. The event is recorded once (a repeated delivery is acknowledged and
    counted); an order event queues ``shoptet.orders.fetch_one`` in the same transaction (one waiting job per
    order, however many events arrive; a repeated one too, as it may be a second change in the same
    second); ``job:finished`` wakes the snapshot waiting for that export."""
    pack = pack_of(app)
    if not signature:
        raise WebhookSignatureError("the Shoptet-Webhook-Signature header is missing")
    with app.read_transaction() as conn:
        shops = [
            (s, store.shop_credentials(conn, pack.cipher, s.id)) for s in store.list_shops(conn, platform=PLATFORM)
        ]
    signed_by = [
        (s, c) for s, c in shops if c.get("signature_key") and verify(raw_body, signature, str(c["signature_key"]))
    ]
    if not signed_by:
        raise WebhookSignatureError("the webhook signature matches no Shoptet shop's signature key")
    try:
        notification = parse_notification(raw_body)
    except ValidationError as exc:
        raise WebhookPayloadError(f"the webhook body is not a Shoptet notification: {exc.errors()[0]['msg']}") from None
    candidates = [(s, c) for s, c in signed_by if c.get("eshop_id") in (None, notification.eshop_id)]
    exact = [(s, c) for s, c in candidates if c.get("eshop_id") == notification.eshop_id]
    chosen = exact or candidates
    if not chosen:
        raise WebhookPayloadError(
            f"eshopId {notification.eshop_id} is not the e-shop of shop {signed_by[0][0].name!r}, whose key signed it"
        )
    shop = chosen[0][0]
    created = notification.event_created.timestamp() if notification.event_created else time.time()
    job_id = execution_id = None
    with app.transaction() as conn:
        event_id = store.record_webhook_event(conn, shop.id, notification.event, notification.event_instance, created)
        if event_id is None:
            # Same (event, instance, eventCreated): a redelivery, or a second change of the order in the same
            # second (eventCreated has 1 s resolution). Count it; an order event still fetches the order: the
            # fetch is idempotent (import by diff) and a waiting fetch absorbs it, so a redelivery costs at
            # most one "unchanged" read while a real second change is never lost.
            store.count_repeat_delivery(conn, shop.id, notification.event, notification.event_instance, created)
        if notification.event in ORDER_EVENTS:
            execution_id, job_id = sync.enqueue_run(
                conn, pack.tasks["shoptet.orders.fetch_one"], [shop.id, notification.event_instance],
                shop_id=shop.id, pipeline="orders.fetch_one", trigger="webhook",
            )  # fmt: skip
    result = WebhookResult(
        shop_id=shop.id,
        event=notification.event,
        instance=notification.event_instance,
        event_id=event_id,
        duplicate=event_id is None,
        job_id=job_id,
        execution_id=execution_id,
    )
    log.info("shop %s webhook: %s", shop.name, result.action)
    return result


def register_webhooks(
    app: Conveyor,
    shop_id: int,
    url: str,
    *,
    events: Sequence[str] = DEFAULT_WEBHOOK_EVENTS,
    renew_signature_key: bool = False,
) -> list[str]:
    """Register this installation's webhook ``url`` for ``events`` at Shoptet; returns the events newly
    registered (those already registered are left alone).

    Snapshots need ``job:finished`` registered (Shoptet refuses them otherwise). Shoptet hands out the
    signature key only by renewing it, so the key is renewed and stored in the shop's credentials when none
    is stored yet, or when ``renew_signature_key``. A 423 (the same request still running at Shoptet) or
    429 (rate limit) is retried after ``Retry-After`` (or a short back-off), up to
    :data:`WEBHOOK_REQUEST_ATTEMPTS` times: Shoptet ran nothing for either answer."""
    pack = pack_of(app)
    with app.read_transaction() as conn:
        shop = store.get_shop(conn, shop_id)
    creds = pack.credentials(shop.id)
    headers = {**api_credentials(pack, shop, creds).auth_headers(), "Content-Type": "application/json"}
    with httpx.Client(base_url=shop.base_url, headers=headers, timeout=30.0) as http:
        if renew_signature_key or not creds.get("signature_key"):
            data = _answer(_send(http, "POST", "/api/webhooks/renew-signature-key"), shop, "renewing the signature key")
            creds["signature_key"] = str(data["signatureKey"])
            with app.transaction() as conn:
                store.set_shop_credentials(conn, pack.cipher, shop.id, creds)
        data = _answer(_send(http, "GET", "/api/webhooks", params={"itemsPerPage": 500}), shop, "listing webhooks")
        registered = {hook.get("event") for hook in data.get("webhooks") or []}
        new = [event for event in events if event not in registered]
        if new:
            body = {"data": [{"event": event, "url": url} for event in new]}
            _answer(_send(http, "POST", "/api/webhooks", json=body), shop, "registering webhooks")
    log.info("shop %s: webhooks registered for %s", shop.name, ", ".join(new) or "nothing new")
    return new


#: Attempts of one webhook-management request answered 423 or 429.
WEBHOOK_REQUEST_ATTEMPTS = 6


def _send(http: httpx.Client, method: str, path: str, *, sleep: Any = time.sleep, **kwargs: Any) -> httpx.Response:
    """One webhook-management request, retried while Shoptet answers 423 (locked) or 429 (rate limited)."""
    for attempt in range(WEBHOOK_REQUEST_ATTEMPTS):
        response = http.request(method, path, **kwargs)
        if response.status_code not in (423, 429) or attempt == WEBHOOK_REQUEST_ATTEMPTS - 1:
            return response
        wait = retry_after_seconds(response.headers.get("Retry-After"), time.time())
        sleep(min(30.0, wait if wait is not None else 0.5 * 2**attempt))
    raise AssertionError("unreachable")  # pragma: no cover


def _answer(response: httpx.Response, shop: Shop, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400 or not isinstance(body, dict):
        errors = body.get("errors") if isinstance(body, dict) else None
        detail = errors[0].get("message") if errors else response.text[:200]
        raise PipelineError(f"shop {shop.name}: {what} failed: HTTP {response.status_code}: {detail}")
    data = body.get("data")
    return data if isinstance(data, dict) else {}
