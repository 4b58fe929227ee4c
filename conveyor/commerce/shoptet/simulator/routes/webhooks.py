"""``/api/webhooks``: registering, listing and deleting webhooks, and renewing the signature key."""

from __future__ import annotations

import json
import secrets

from fastapi import FastAPI, Request, Response

from conveyor.commerce.shoptet.simulator.responses import ApiError, envelope, page_params, paginate
from conveyor.commerce.shoptet.simulator.state import Simulator, Webhook

# Webhook event types from the spec's code list that the simulator accepts for registration.
WEBHOOK_EVENTS = frozenset(
    [
        "availability:create", "availability:update", "availability:delete", "brand:create", "brand:update",
        "brand:delete", "category:create", "category:update", "category:delete", "creditNote:create",
        "creditNote:delete", "creditNote:update", "customer:create", "customer:update", "customer:disableOrders",
        "customer:enableOrders", "customer:import", "customer:delete", "customerGroup:create", "customerGroup:update",
        "customerGroup:delete", "deliveryNote:create", "deliveryNote:delete", "deliveryNote:update",
        "discountCoupon:create", "discountCoupon:delete", "discountCoupon:update", "eshop:currencies",
        "eshop:billingInformation", "eshop:settingsInformation", "eshop:design", "eshop:mandatoryFields",
        "eshop:projectDomain", "invoice:create", "invoice:delete", "invoice:update", "job:finished",
        "mailingListEmail:create", "mailingListEmail:delete", "order:cancel", "order:create", "order:delete",
        "order:paid", "order:update", "orderHistoryRemarks:change", "orderStatusesList:change", "pricelist:create",
        "pricelist:delete", "paymentMethod:change", "proformaInvoice:create", "proformaInvoice:delete",
        "proformaInvoice:update", "projectReview:create", "productReview:created", "proofPayment:create",
        "proofPayment:delete", "proofPayment:update", "quantityDiscount:create", "quantityDiscount:update",
        "quantityDiscount:delete", "salesChannel:create", "salesChannel:update", "salesChannel:delete",
        "shipment:create", "shipment:update", "shipment:fail", "shippingMethod:change", "sectionArticle:create",
        "sectionArticle:update", "sectionArticle:delete", "shippingRequest:cancelled", "shippingRequest:confirmed",
        "stock:movement", "stock:inStock", "stock:soldOut", "stock:minStockSupplyReached", "supplier:create",
        "supplier:update", "supplier:delete", "warranty:create", "warranty:update", "warranty:delete", "product:create",
        "product:update", "product:delete", "productVariant:create", "productVariant:update", "productVariant:delete",
        "productVariantPrice:update", "category:massCreate", "category:massUpdate", "category:massDelete",
        "discountCoupon:massCreate", "discountCoupon:massDelete", "invoice:massUpdate", "order:massCreate",
        "order:massUpdate", "order:massPaid", "quantityDiscount:massDelete", "quantityDiscount:massUpdate",
    ]
)  # fmt: skip


def add_routes(app: FastAPI, sim: Simulator) -> None:
    @app.get("/api/webhooks")
    async def list_webhooks(request: Request) -> Response:
        page, per_page = page_params(request, 20, 500)
        hooks = [h.as_json() for h in sorted(sim.webhooks.values(), key=lambda h: h.id)]
        window, paginator = paginate(len(hooks), page, per_page)
        return envelope(request, {"webhooks": hooks[window], "paginator": paginator})

    @app.post("/api/webhooks")
    async def register_webhooks(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise ApiError(422, "invalid-request-data", "Request body is not valid JSON.", "body") from None
        items = body.get("data") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            raise ApiError(400, "invalid-request-data", 'Expected {"data": [{"event": …, "url": …}, …]}.', "data")
        if len(items) > 50:
            raise ApiError(400, "invalid-request-data", f"At most 50 webhooks per call, {len(items)} given.", "data")
        wanted: list[tuple[str, str, str | None]] = []
        for n, item in enumerate(items):
            where = f"data[{n}]"
            if not isinstance(item, dict) or set(item) - {"event", "url", "sendPayload"}:
                raise ApiError(400, "invalid-request-data", "Each webhook has only event, url and sendPayload.", where)
            event, url, payload = item.get("event"), item.get("url"), item.get("sendPayload")
            if event not in WEBHOOK_EVENTS:
                raise ApiError(400, "invalid-request-data", f'Unknown webhook event "{event}".', f"{where}.event")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")) or len(url) > 2000:
                raise ApiError(
                    400,
                    "invalid-request-data",
                    "url must be an http(s) URL of at most 2000 characters.",
                    f"{where}.url",
                )
            if payload not in (None, "full"):
                raise ApiError(
                    400, "invalid-request-data", 'sendPayload must be "full" or null.', f"{where}.sendPayload"
                )
            wanted.append((event, url, payload))
        now = sim.clock()
        with sim.lock:
            taken = {h.event for h in sim.webhooks.values()}
            new_events = [w[0] for w in wanted]
            for event in new_events:
                if event in taken or new_events.count(event) > 1:
                    raise ApiError(422, "webhook-already-exists", "Webhook already exists for this event", event)
            events = taken | set(new_events)
            if {"order:cancel", "order:update"} <= events:
                raise ApiError(
                    409,
                    "webhook-conflict",
                    "order:cancel cannot be registered together with order:update.",
                    "order:cancel",
                )
            created = []
            for event, url, payload in wanted:
                hook = Webhook(next(sim.webhook_ids), event, url, now, now, payload)
                sim.webhooks[hook.id] = hook
                created.append(hook.as_json())
        return envelope(request, {"webhooks": created}, status=201)

    @app.get("/api/webhooks/{webhook_id}")
    async def get_webhook(webhook_id: str, request: Request) -> Response:
        return envelope(request, {"webhook": _find_webhook(sim, webhook_id).as_json()})

    @app.delete("/api/webhooks/{webhook_id}")
    async def delete_webhook(webhook_id: str, request: Request) -> Response:
        hook = _find_webhook(sim, webhook_id)
        with sim.lock:
            sim.webhooks.pop(hook.id, None)
        return envelope(request, None)

    @app.post("/api/webhooks/renew-signature-key")
    async def renew_signature_key(request: Request) -> Response:
        sim.signature_key = secrets.token_hex(16)  # each call makes a new key, as Shoptet's does
        return envelope(request, {"signatureKey": sim.signature_key})


def _find_webhook(sim: Simulator, raw_id: str) -> Webhook:
    hook = sim.webhooks.get(int(raw_id)) if raw_id.isdigit() else None
    if hook is None:
        raise ApiError(404, "webhook-not-found", f'Webhook with id "{raw_id}" not found.', raw_id)
    return hook
