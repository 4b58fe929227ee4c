"""Shoptet webhook notifications: the signature Shoptet computes, checking it, and reading the body."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from conveyor.commerce.shoptet.webhooks import SIGNATURE_HEADER, parse_notification, sign, verify

KEY = "8a5e881b19ad6cc0bc986587b22e30be"  # the shape of a key from POST /api/webhooks/renew-signature-key
BODY = (
    b'{"eshopId":222651,"event":"order:create","eventCreated":"2019-01-08T15:13:39+0100","eventInstance":"2018000057"}'
)


def test_signature_is_lowercase_hex_hmac_sha1_of_the_raw_body() -> None:
    # PHP: hash_hmac('sha1', $rawBody, $signatureKey), as Shoptet's SDK computes it.
    expected = hmac.new(KEY.encode(), BODY, hashlib.sha1).hexdigest()
    assert sign(BODY, KEY) == expected
    assert len(expected) == 40 and expected == expected.lower()


def test_the_signature_of_the_body_verifies() -> None:
    assert verify(BODY, sign(BODY, KEY), KEY)


def test_uppercase_hex_and_surrounding_whitespace_still_verify() -> None:
    assert verify(BODY, f"  {sign(BODY, KEY).upper()}\n", KEY)


def test_a_changed_body_does_not_verify() -> None:
    tampered = BODY.replace(b"2018000057", b"2018000058")
    assert not verify(tampered, sign(BODY, KEY), KEY)


def test_re_serialised_json_does_not_verify_so_the_raw_bytes_must_be_used() -> None:
    reserialised = json.dumps(json.loads(BODY)).encode()
    assert not verify(reserialised, sign(BODY, KEY), KEY)


def test_another_key_does_not_verify() -> None:
    assert not verify(BODY, sign(BODY, "another-key"), KEY)


@pytest.mark.parametrize("header", [None, "", "not-hex", "é" * 40])
def test_a_missing_or_garbage_header_does_not_verify(header: str | None) -> None:
    assert not verify(BODY, header, KEY)


def test_an_empty_key_never_verifies() -> None:
    assert not verify(BODY, sign(BODY, ""), "")


def test_the_header_name_is_shoptets() -> None:
    assert SIGNATURE_HEADER == "Shoptet-Webhook-Signature"


def test_a_notification_body_parses_with_an_aware_event_time() -> None:
    notification = parse_notification(BODY)
    assert notification.eshop_id == 222651
    assert notification.event == "order:create"
    assert notification.event_instance == "2018000057"
    assert notification.event_created == datetime(2019, 1, 8, 15, 13, 39, tzinfo=timezone(timedelta(hours=1)))


def test_a_notification_dumps_back_to_shoptets_field_names() -> None:
    assert parse_notification(BODY).model_dump(by_alias=True, mode="json", exclude_none=True) == json.loads(BODY)


def test_redelivered_notifications_share_a_dedupe_key_and_others_do_not() -> None:
    first, again = parse_notification(BODY), parse_notification(BODY)
    other = parse_notification(BODY.replace(b"order:create", b"order:update"))
    assert first.dedupe_key == again.dedupe_key
    assert first.dedupe_key != other.dedupe_key


def test_a_full_payload_notification_keeps_its_payload() -> None:
    body = json.dumps(
        {
            "eshopId": 1,
            "event": "product:create",
            "eventCreated": "2025-05-19T10:00:00+0200",
            "eventInstance": "c9e976a5-340b-11e4-b500-ac162d8a2454",
            "payload": {"data": {"product": {"guid": "c9e976a5-340b-11e4-b500-ac162d8a2454"}}},
        }
    ).encode()
    assert parse_notification(body).payload == {"data": {"product": {"guid": "c9e976a5-340b-11e4-b500-ac162d8a2454"}}}


def test_a_body_without_the_instance_is_refused() -> None:
    with pytest.raises(ValidationError):
        parse_notification(b'{"eshopId":1,"event":"order:create","eventCreated":"2019-01-08T15:13:39+0100"}')
