"""Signatures checked by the independent ``standardwebhooks`` package; masking of payloads."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from webhook_support import ORDER

from relaydesk.kit.masking import PiiKind
from relaydesk.webhooks.payloads import body_bytes, kind_of, mask_payload, matches, pii_paths
from relaydesk.webhooks.signing import InvalidSecret, generate_secret, headers, parse_secret


def test_generated_secrets_follow_the_format() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_")
    assert len(parse_secret(secret)) == 32
    assert generate_secret() != secret


@pytest.mark.parametrize(
    "bad", ["abc", "whsec_", "whsec_!!!notbase64", "whsec_" + "QUFB" * 2, "sk_" + "A" * 40]
)
def test_invalid_secrets_are_refused(bad: str) -> None:
    with pytest.raises(InvalidSecret):
        parse_secret(bad)


def test_standardwebhooks_verifies_our_signature() -> None:
    secret = generate_secret()
    body = body_bytes("order.shipped", dt.datetime.now(dt.UTC), {"order_no": "SO1", "名": "王"})
    signed = headers([parse_secret(secret)], "msg_1", int(time.time()), body)
    assert Webhook(secret).verify(body, signed) == json.loads(body)
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(body, signed)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", signed)


def test_both_secrets_verify_during_an_overlap() -> None:
    new, old = generate_secret(), generate_secret()
    body = b'{"type":"x.y","timestamp":"2026-01-01T00:00:00Z","data":{}}'
    signed = headers([parse_secret(new), parse_secret(old)], "msg_2", int(time.time()), body)
    assert len(signed["webhook-signature"].split(" ")) == 2
    assert all(part.startswith("v1,") for part in signed["webhook-signature"].split(" "))
    Webhook(new).verify(body, signed)
    Webhook(old).verify(body, signed)


def test_body_has_the_recommended_shape() -> None:
    when = dt.datetime(2026, 11, 21, 8, 0, tzinfo=dt.UTC)
    doc = json.loads(body_bytes("order.shipped", when, {"a": 1}))
    assert doc == {"type": "order.shipped", "timestamp": "2026-11-21T08:00:00Z", "data": {"a": 1}}


def test_order_payloads_are_masked_by_the_catalogue_paths() -> None:
    masked = mask_payload(ORDER, pii_paths("order.shipped"))
    assert masked["customer_phone"] == "139****5678"
    assert masked["receiver_phone"] == "138****1234"
    assert masked["receiver_name"] == "王**"
    assert masked["receiver_address"] == "广东省深圳市南山区****"
    assert masked["remark"] == "请联系 137****1111"  # free text scanned too
    assert masked["order_no"] == ORDER["order_no"]
    assert masked["tracking_no"] == ORDER["tracking_no"]
    assert ORDER["customer_phone"] == "13912345678"  # the input is not changed


def test_nested_and_list_paths() -> None:
    payload = {"items": [{"phone": "13912345678"}, {"phone": None}], "who": {"email": "ab@x.cn"}}
    out = mask_payload(payload, ("items[].phone", "who.email"))
    assert out == {
        "items": [{"phone": "139****5678"}, {"phone": None}],
        "who": {"email": "a*@x.cn"},
    }


@pytest.mark.parametrize(
    ("path", "kind"),
    [("customer_phone", PiiKind.PHONE), ("email", PiiKind.EMAIL), ("receiver_name", PiiKind.NAME),
     ("a.receiver_address", PiiKind.ADDRESS), ("id_card", PiiKind.ID_CARD),
     ("bank_card_no", PiiKind.BANK_CARD), ("nickname_x", PiiKind.NAME), ("other", PiiKind.GENERIC)],
)  # fmt: skip
def test_kind_of_field_names(path: str, kind: PiiKind) -> None:
    assert kind_of(path) == kind


def test_filters() -> None:
    assert matches(["*"], "order.shipped")
    assert matches(["order.*"], "order.shipped")
    assert not matches(["order.*"], "orders.shipped")
    assert matches(["ticket.status_changed", "order.paid"], "order.paid")
    assert not matches(["order.paid"], "order.shipped")
