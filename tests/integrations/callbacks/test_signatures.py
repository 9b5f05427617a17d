"""Every signature scheme, against signatures computed here from the schemes' descriptions
(and, for Standard Webhooks, by the `standardwebhooks` package as an independent signer)."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import time
import types
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hooks_support import (
    APP_KEY,
    APP_SECRET,
    CONFIG,
    GITHUB_SECRET,
    HMAC_SECRET,
    SPEC,
    STRIPE_SECRET,
    SW_SECRET,
    TICKET_SECRET,
    compact,
    ticket_event,
    ticket_headers,
)
from standardwebhooks.webhooks import Webhook

from relaydesk.integrations import callback_parts, callbacks
from relaydesk.integrations.callbacks import (
    CallbackMisconfigured,
    IncomingCallback,
    InvalidSignature,
    TimestampOutOfTolerance,
    Verifier,
    make_verifier,
    payload_problems,
)
from relaydesk.integrations.spec import SignatureSpec, load_spec

CALLBACKS = load_spec(SPEC).callbacks


def verifier(name: str, config: dict[str, Any] | None = None) -> Verifier:
    return make_verifier(CALLBACKS[name].signature, config or CONFIG)


def incoming(
    body: bytes,
    headers: dict[str, str] | None = None,
    *,
    query: list[tuple[str, str]] | None = None,
    content_type: str = "application/json",
    path: str = "/hooks/acme/tickets/cb",
) -> IncomingCallback:
    query_string = urlencode(query or [])
    return IncomingCallback(
        "POST", path, httpx.Headers(headers or {}), query_string, body, content_type
    )


def hmac_hex(secret: str | bytes, message: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, message, hashlib.sha256).hexdigest()


# --- hmac_sha256_hex over "{timestamp}.{body}" ---------------------------------------------


def test_hmac_hex_accepts_the_ticket_systems_signature() -> None:
    body = compact(ticket_event())
    result = verifier("ticket_status_changed").verify(incoming(body, ticket_headers(body)))
    assert result.timestamp is not None and abs(result.timestamp - time.time()) < 5


def test_hmac_hex_is_case_insensitive_and_accepts_millisecond_timestamps() -> None:
    body = compact(ticket_event())
    stamp = str(int(time.time() * 1000))
    signature = hmac_hex(TICKET_SECRET, stamp.encode() + b"." + body).upper()
    headers = {"X-Ticket-Timestamp": stamp, "X-Ticket-Signature": signature}
    verifier("ticket_status_changed").verify(incoming(body, headers))


@pytest.mark.parametrize(
    "tamper",
    ["wrong secret", "body changed", "no signature", "fresh timestamp, old signature"],
)
def test_hmac_hex_rejects(tamper: str) -> None:
    body = compact(ticket_event())
    secret = "not-the-secret" if tamper == "wrong secret" else TICKET_SECRET
    headers = ticket_headers(body, secret=secret, at=time.time() - 100)
    if tamper == "body changed":
        body = body.replace(b"PROCESSING", b"RESOLVED")
    elif tamper == "no signature":
        del headers["X-Ticket-Signature"]
    elif tamper == "fresh timestamp, old signature":
        headers["X-Ticket-Timestamp"] = str(int(time.time()))
    with pytest.raises(InvalidSignature) as caught:
        verifier("ticket_status_changed").verify(incoming(body, headers))
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_signature"


@pytest.mark.parametrize("offset", [-301, 301, -3600, 86_400])
def test_a_timestamp_outside_the_tolerance_either_way_is_refused(offset: int) -> None:
    body, now = compact(ticket_event()), time.time()
    with pytest.raises(TimestampOutOfTolerance) as caught:
        verifier("ticket_status_changed").verify(
            incoming(body, ticket_headers(body, at=now + offset)), now=now
        )
    assert caught.value.status_code == 401
    assert caught.value.code == "timestamp_out_of_tolerance"
    assert "tolerance 300 s" in caught.value.message


@pytest.mark.parametrize("offset", [-299, 299])
def test_a_timestamp_inside_the_tolerance_either_way_is_accepted(offset: int) -> None:
    body, now = compact(ticket_event()), time.time()
    verifier("ticket_status_changed").verify(
        incoming(body, ticket_headers(body, at=now + offset)), now=now
    )


# --- hmac_sha256_base64 over "{id}:{body}" -------------------------------------------------


def test_hmac_base64_with_the_event_id_in_the_signed_payload() -> None:
    body = b"<event><eventId>E-1</eventId></event>"
    digest = hmac.new(HMAC_SECRET.encode(), b"E-1:" + body, hashlib.sha256).digest()
    check = verifier("tracking_xml")
    assert check.needs_event_id
    standard = base64.b64encode(digest).decode()
    check.verify(incoming(body, {"X-Signature": standard}), event_id="E-1")
    urlsafe = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    check.verify(incoming(body, {"X-Signature": urlsafe}), event_id="E-1")
    with pytest.raises(InvalidSignature):
        check.verify(incoming(body, {"X-Signature": standard}), event_id="E-2")
    with pytest.raises(InvalidSignature):
        check.verify(incoming(body, {"X-Signature": "not base64 at all!"}), event_id="E-1")


# --- github ---------------------------------------------------------------------------------


def test_github_sha256_prefix() -> None:
    body = b'{"head_commit":{"id":"abc"}}'
    good = "sha256=" + hmac_hex(GITHUB_SECRET, body)
    verifier("github_push").verify(incoming(body, {"X-Hub-Signature-256": good}))
    for bad in (good.removeprefix("sha256="), "sha1=" + good[7:], "sha256=" + "0" * 64):
        with pytest.raises(InvalidSignature):
            verifier("github_push").verify(incoming(body, {"X-Hub-Signature-256": bad}))


# --- stripe ---------------------------------------------------------------------------------


def stripe_header(body: bytes, t: int, *secrets: str) -> str:
    parts = [f"t={t}"] + [f"v1={hmac_hex(s, f'{t}.'.encode() + body)}" for s in secrets]
    return ",".join(parts)


def test_stripe_any_v1_matches_during_secret_rotation() -> None:
    body = b'{"id":"evt_1","type":"charge.succeeded"}'
    t = int(time.time())
    header = stripe_header(body, t, "whsec_old_secret", STRIPE_SECRET)
    result = verifier("stripe_event").verify(incoming(body, {"Stripe-Signature": header}))
    assert result.timestamp == t


def test_stripe_rejects_v0_only_wrong_signatures_and_old_or_future_t() -> None:
    body = b'{"id":"evt_1","type":"charge.succeeded"}'
    t = int(time.time())
    v0_only = f"t={t},v0={hmac_hex(STRIPE_SECRET, f'{t}.'.encode() + body)}"
    for header in (v0_only, stripe_header(body, t, "whsec_other"), "garbage"):
        with pytest.raises(InvalidSignature):
            verifier("stripe_event").verify(incoming(body, {"Stripe-Signature": header}))
    for offset in (-61, 61):  # this callback's tolerance is 60 s
        header = stripe_header(body, t + offset, STRIPE_SECRET)
        with pytest.raises(TimestampOutOfTolerance):
            verifier("stripe_event").verify(incoming(body, {"Stripe-Signature": header}), now=t)


# --- Standard Webhooks, signed by the standardwebhooks package ----------------------------------


def sw_headers(
    body: bytes, msg_id: str, at: dt.datetime, secret: str = SW_SECRET
) -> dict[str, str]:
    signature = Webhook(secret).sign(msg_id, at, body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signature}  # fmt: skip


def test_standard_webhooks_signed_by_the_reference_package() -> None:
    body = '{"data":{"id":"call_1","duration":42},"type":"call.ended","note":"通话结束"}'.encode()
    at = dt.datetime.now(dt.UTC)
    headers = sw_headers(body, "msg_2Lh9", at)
    headers["webhook-signature"] = "v1,bm90LXRoZS1zaWduYXR1cmU= " + headers["webhook-signature"]
    result = verifier("sw_event").verify(incoming(body, headers))
    assert result.message_id == "msg_2Lh9"
    assert result.timestamp == int(at.timestamp())
    # and the reference package accepts the same request (our reading of the spec is its own)
    Webhook(SW_SECRET).verify(body, headers)


def test_standard_webhooks_rejections() -> None:
    body = b'{"data":{"id":"call_1"}}'
    at = dt.datetime.now(dt.UTC)
    good = sw_headers(body, "msg_1", at)
    wrong_key = "whsec_" + base64.b64encode(b"another-key-of-thirty-two-bytes!").decode()
    cases = [
        sw_headers(body, "msg_1", at, secret=wrong_key),
        {**good, "webhook-id": "msg_2"},  # the id is signed
        {**good, "webhook-signature": good["webhook-signature"].replace("v1,", "v2,")},
        {k: v for k, v in good.items() if k != "webhook-id"},
    ]
    for headers in cases:
        with pytest.raises(InvalidSignature):
            verifier("sw_event").verify(incoming(body, headers))
    old = sw_headers(body, "msg_1", at - dt.timedelta(minutes=6))
    with pytest.raises(TimestampOutOfTolerance):
        verifier("sw_event").verify(incoming(body, old))


# --- app_key_sign -----------------------------------------------------------------------------


def md5_sign(params: dict[str, str], body: str, secret: str) -> str:
    """secret + k1v1k2v2 (sorted, no sign, no empty values) + body + secret, MD5, upper case."""
    keys = sorted(k for k, v in params.items() if k != "sign" and v != "")
    text = secret + "".join(k + params[k] for k in keys) + body + secret
    return hashlib.md5(text.encode()).hexdigest().upper()


def open_query(body: str, **overrides: str) -> list[tuple[str, str]]:
    params = {"appKey": APP_KEY, "timestamp": str(int(time.time() * 1000)), "nonce": "n0nce",
              "shop": "云栖", **overrides}  # fmt: skip
    params["sign"] = md5_sign(params, body, APP_SECRET)
    return list(params.items())


def test_app_key_sign_in_the_query() -> None:
    body = '{"notifyId":"N1","orderNo":"YQ20261121000001"}'
    check = verifier("open_notify")
    check.verify(incoming(body.encode(), query=open_query(body)))
    with pytest.raises(InvalidSignature):  # signed correctly, but by another app
        check.verify(incoming(body.encode(), query=open_query(body, appKey="intruder")))
    with pytest.raises(InvalidSignature):  # body changed after signing
        check.verify(incoming(body.replace("N1", "N2").encode(), query=open_query(body)))
    stale = open_query(body, timestamp=str(int((time.time() - 600) * 1000)))
    with pytest.raises(TimestampOutOfTolerance):
        check.verify(incoming(body.encode(), query=stale))


def signing_spec(placement: str, algorithm: str = "hmac_sha256") -> SignatureSpec:
    return SignatureSpec.model_validate({
        "scheme": "app_key_sign", "secret": APP_SECRET, "app_key": APP_KEY,
        "signing": {"algorithm": algorithm, "placement": placement, "timestamp_unit": "s",
                    "canonical": "{app_key}{timestamp}{nonce}{sorted_params}{body}",
                    "uppercase": False},
    })  # fmt: skip


def hmac_canonical(params: dict[str, str], body: str, stamp: str, nonce: str) -> str:
    pairs = "".join(k + params[k] for k in sorted(params) if params[k] != "")
    text = APP_KEY + stamp + nonce + pairs + body
    return hmac_hex(APP_SECRET, text.encode())


def test_app_key_sign_in_headers() -> None:
    body, stamp = '{"notifyId":"N1"}', str(int(time.time()))
    headers = {"appKey": APP_KEY, "timestamp": stamp, "nonce": "abc",
               "sign": hmac_canonical({"page": "1"}, body, stamp, "abc")}  # fmt: skip
    check = Verifier(signing_spec("header"), APP_SECRET, APP_KEY)
    check.verify(incoming(body.encode(), headers, query=[("page", "1")]))
    with pytest.raises(InvalidSignature):
        check.verify(incoming(body.encode(), headers, query=[("page", "2")]))


def test_app_key_sign_in_a_form_body() -> None:
    stamp = str(int(time.time()))
    fields = {"notifyId": "N9", "status": "PAID", "appKey": APP_KEY, "timestamp": stamp,
              "nonce": "xyz"}  # fmt: skip
    fields["sign"] = hmac_canonical(fields, "", stamp, "xyz")
    form = str(httpx.QueryParams(fields)).encode()
    check = Verifier(signing_spec("body"), APP_SECRET, APP_KEY)
    check.verify(incoming(form, content_type="application/x-www-form-urlencoded"))
    tampered = form.replace(b"PAID", b"REFUNDED")
    with pytest.raises(InvalidSignature):
        check.verify(incoming(tampered, content_type="application/x-www-form-urlencoded"))


# --- none, misconfiguration, constant time ----------------------------------------------------


def test_scheme_none_accepts_anything_because_the_spec_says_so() -> None:
    assert CALLBACKS["unsigned"].signature.scheme == "none"
    verifier("unsigned").verify(incoming(b'{"id": 1}'))


def test_a_spec_cannot_leave_the_scheme_out() -> None:
    with pytest.raises(ValueError, match="scheme"):
        SignatureSpec.model_validate({"secret": "x"})


def test_misconfigured_secrets_are_a_server_side_error() -> None:
    with pytest.raises(CallbackMisconfigured) as caught:
        verifier("ticket_status_changed", {**CONFIG, "callback_secret": ""})
    assert caught.value.status_code == 500
    with pytest.raises(CallbackMisconfigured):
        verifier("sw_event", {**CONFIG, "sw_secret": "whsec_***not base64***"})


def test_unknown_payload_placeholders_are_reported() -> None:
    spec = SignatureSpec.model_validate(
        {"scheme": "hmac_sha256_hex", "header": "X-Sig", "secret": "s", "payload": "{nonce}{body}"}
    )
    assert payload_problems(spec) == [
        "payload has unknown placeholder {nonce}; allowed: {body}, {id}, {timestamp}"
    ]
    assert payload_problems(CALLBACKS["ticket_status_changed"].signature) == []
    with pytest.raises(CallbackMisconfigured):
        Verifier(spec, "s", None)


def test_every_scheme_compares_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def spy(a: bytes, b: bytes) -> bool:
        calls.append(1)
        return hmac.compare_digest(a, b)

    spied = types.SimpleNamespace(new=hmac.new, compare_digest=spy)
    monkeypatch.setattr(callbacks, "hmac", spied)
    monkeypatch.setattr(callback_parts, "hmac", spied)
    body = compact(ticket_event())
    at = dt.datetime.now(dt.UTC)
    requests = {
        "ticket_status_changed": incoming(body, ticket_headers(body)),
        "github_push": incoming(body, {"X-Hub-Signature-256": "sha256=" + "0" * 64}),
        "stripe_event": incoming(body, {"Stripe-Signature": stripe_header(body, int(at.timestamp()),
                                                                          "x")}),
        "sw_event": incoming(body, sw_headers(body, "m", at)),
        "open_notify": incoming(body, query=open_query("other")),
    }
    for name, request in requests.items():
        calls.clear()
        with contextlib.suppress(InvalidSignature):
            verifier(name).verify(request)
        assert calls, f"{name} compared without hmac.compare_digest"
