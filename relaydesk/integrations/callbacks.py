"""Inbound callback signatures: the schemes of ``SignatureSpec`` and timestamp tolerance.

``hmac_sha256_hex`` / ``hmac_sha256_base64``
    HMAC-SHA256 over ``payload`` (default ``{body}``; ``{timestamp}`` is the raw
    ``timestamp_header`` value, ``{body}`` the raw body bytes, ``{id}`` the event id from the
    body) in ``header``: hex (any case) or base64 (standard or URL-safe, padding optional).
``github``
    ``X-Hub-Signature-256: sha256=<hex>``, HMAC-SHA256 of the body.
``stripe``
    ``Stripe-Signature: t=<unix s>,v1=<hex>[,v1=...]`` over ``{t}.{body}``; any ``v1``.
``standard_webhooks``
    ``webhook-id``, ``webhook-timestamp`` (unix s), ``webhook-signature`` (space-separated
    ``v1,<base64>``) over ``{id}.{timestamp}.{body}``, keyed with the base64-decoded secret
    (``whsec_`` prefix optional); any ``v1``.
``app_key_sign``
    appKey, timestamp, nonce and sign in the query, headers or body (``signing.placement``);
    the sign is recomputed with :func:`relaydesk.integrations.auth.sign`, exactly as Relaydesk
    signs its own requests, and the appKey must equal ``app_key`` when the spec gives one.
``none``
    No verification; a spec has to say ``scheme: none`` explicitly.

Comparisons are constant-time. A timestamp (``timestamp_header`` for the hmac schemes; always
for stripe, standard_webhooks, app_key_sign) must lie within ``tolerance_seconds`` of now in
both directions; hmac timestamps >= 10^11 are milliseconds. Failures raise
:class:`InvalidSignature` or :class:`TimestampOutOfTolerance` (401); a secret that cannot verify
anything raises :class:`CallbackMisconfigured` (500, so the sender keeps retrying).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from typing import Any

from relaydesk.integrations.auth import sign
from relaydesk.integrations.callback_parts import (
    PAYLOAD_PLACEHOLDERS,
    CallbackMisconfigured,
    IncomingCallback,
    InvalidSignature,
    TimestampOutOfTolerance,
    Verification,
    payload_problems,
)
from relaydesk.integrations.callback_parts import any_same as _any_same
from relaydesk.integrations.callback_parts import b64_bytes as _b64_bytes
from relaydesk.integrations.callback_parts import body_fields as _body_fields
from relaydesk.integrations.callback_parts import check_window as _check_window
from relaydesk.integrations.callback_parts import joined_query as _joined_query
from relaydesk.integrations.callback_parts import parse_pattern as _parse_pattern
from relaydesk.integrations.callback_parts import same as _same
from relaydesk.integrations.callback_parts import same_text as _same_text
from relaydesk.integrations.callback_parts import seconds as _seconds
from relaydesk.integrations.callback_parts import secret_text as _secret_text
from relaydesk.integrations.callback_parts import text_of as _text
from relaydesk.integrations.spec_models.callback import SignatureSpec

__all__ = [
    "PAYLOAD_PLACEHOLDERS",
    "CallbackMisconfigured",
    "IncomingCallback",
    "InvalidSignature",
    "TimestampOutOfTolerance",
    "Verification",
    "Verifier",
    "make_verifier",
    "payload_problems",
]

_WEBHOOK_ID = "webhook-id"
_WEBHOOK_TIMESTAMP = "webhook-timestamp"


# --- the verifier ----------------------------------------------------------------------------

_Check = Callable[["Verifier", IncomingCallback, "str | None", float], Verification]


class Verifier:
    """Checks one callback's signature; built once per (instance, version, callback)."""

    def __init__(self, spec: SignatureSpec, secret: str | None, app_key: str | None) -> None:
        self.spec = spec
        self.scheme = spec.scheme
        self.tolerance = spec.tolerance_seconds
        self.app_key = app_key
        self._secret = secret or ""
        self._key = self._secret.encode("utf-8")
        self._parts: list[tuple[bytes, str | None]] = []
        if spec.scheme != "none" and not secret:
            raise CallbackMisconfigured("callback secret is empty: set it in the instance config")
        if spec.scheme.startswith("hmac_"):
            try:
                parts = _parse_pattern(spec.payload)
            except ValueError as exc:
                raise CallbackMisconfigured(f"callback signature: {exc}") from None
            self._parts = [(literal.encode("utf-8"), name) for literal, name in parts]
        if spec.scheme == "standard_webhooks":
            raw = self._secret.removeprefix("whsec_")
            key = _b64_bytes(raw)
            if not key:
                raise CallbackMisconfigured("a Standard Webhooks secret is whsec_ + base64")
            self._key = key
        #: the key's HMAC state, computed once: each check copies it (signing material that
        #: stays with the instance's version, as this verifier does)
        self._mac = hmac.new(self._key, digestmod=hashlib.sha256)
        self._check: _Check = _CHECKS[spec.scheme]

    @property
    def needs_event_id(self) -> bool:
        """The signed payload contains ``{id}``: parse the body (for the id) before verifying."""
        return any(name == "id" for _, name in self._parts)

    def verify(
        self, request: IncomingCallback, *, event_id: str | None = None, now: float | None = None
    ) -> Verification:
        """Raise :class:`InvalidSignature`/:class:`TimestampOutOfTolerance` unless it checks out."""
        return self._check(self, request, event_id, time.time() if now is None else now)

    def _hmac(self, message: bytes) -> bytes:
        """HMAC-SHA256 of ``message`` with the verifier's key."""
        mac = self._mac.copy()
        mac.update(message)
        return mac.digest()

    # -- schemes --

    def _none(self, request: IncomingCallback, event_id: str | None, now: float) -> Verification:
        return Verification()

    def _hmac_scheme(
        self, request: IncomingCallback, event_id: str | None, now: float
    ) -> Verification:
        header = self.spec.signature_header or ""
        given = request.header(header)
        if not given:
            raise InvalidSignature(f"The callback has no {header} header")
        raw_timestamp = (
            request.header(self.spec.timestamp_header) if self.spec.timestamp_header else None
        )
        values = {"timestamp": (raw_timestamp or "").encode("utf-8"), "body": request.body,
                  "id": (event_id or "").encode("utf-8")}  # fmt: skip
        message = b"".join(
            literal + (values[name] if name else b"") for literal, name in self._parts
        )
        digest = self._hmac(message)
        if self.scheme == "hmac_sha256_hex":
            ok = _same(digest.hex(), given.lower())
        else:
            decoded = _b64_bytes(given)
            ok = decoded is not None and hmac.compare_digest(digest, decoded)
        if not ok:
            raise InvalidSignature()
        if not self.spec.timestamp_header:
            return Verification()
        timestamp = _seconds(raw_timestamp)
        _check_window(timestamp, self.tolerance, now)
        return Verification(timestamp)

    def _github(self, request: IncomingCallback, event_id: str | None, now: float) -> Verification:
        header = self.spec.signature_header or ""
        given = request.header(header) or ""
        prefix, _, value = given.partition("=")
        if prefix.lower() != "sha256" or not value:
            raise InvalidSignature(f"The callback has no {header}: sha256=<hex> header")
        if not _same(self._hmac(request.body).hex(), value.lower()):
            raise InvalidSignature()
        if not self.spec.timestamp_header:
            return Verification()
        timestamp = _seconds(request.header(self.spec.timestamp_header))
        _check_window(timestamp, self.tolerance, now)
        return Verification(timestamp)

    def _stripe(self, request: IncomingCallback, event_id: str | None, now: float) -> Verification:
        header = self.spec.signature_header or ""
        raw_t, signatures = None, []
        for item in (request.header(header) or "").split(","):
            key, _, value = item.strip().partition("=")
            if key == "t":
                raw_t = value
            elif key == "v1" and value:
                signatures.append(value.lower())
        if raw_t is None or not signatures:
            raise InvalidSignature(f"The callback has no {header}: t=...,v1=... header")
        expected = self._hmac(raw_t.encode("utf-8") + b"." + request.body).hex()
        if not _any_same(expected, signatures):
            raise InvalidSignature()
        timestamp = _seconds(raw_t, "s")
        _check_window(timestamp, self.tolerance, now)
        return Verification(timestamp)

    def _standard(
        self, request: IncomingCallback, event_id: str | None, now: float
    ) -> Verification:
        message_id = request.header(_WEBHOOK_ID)
        raw_t = request.header(self.spec.timestamp_header or _WEBHOOK_TIMESTAMP)
        header = self.spec.signature_header or ""
        given = request.header(header)
        if not message_id or not raw_t or not given:
            raise InvalidSignature(
                f"The callback needs the {_WEBHOOK_ID}, "
                f"{self.spec.timestamp_header or _WEBHOOK_TIMESTAMP} and {header} headers"
            )
        signed = f"{message_id}.{raw_t}.".encode() + request.body
        expected = base64.b64encode(self._hmac(signed)).decode("ascii")
        candidates = [
            value for version, _, value in (p.partition(",") for p in given.split())
            if version == "v1"
        ]  # fmt: skip
        if not _any_same(expected, candidates):
            raise InvalidSignature()
        timestamp = _seconds(raw_t, "s")
        _check_window(timestamp, self.tolerance, now)
        return Verification(timestamp, message_id)

    def _app_key_sign(
        self, request: IncomingCallback, event_id: str | None, now: float
    ) -> Verification:
        signing = self.spec.signing
        assert signing is not None  # the spec model requires it for this scheme
        names = (signing.sign_param, signing.app_key_param, signing.timestamp_param,
                 signing.nonce_param)  # fmt: skip
        params: dict[str, Any] = _joined_query(request.query())
        body: str | bytes = request.body
        if signing.placement == "header":
            found = {name: request.header(name) or "" for name in names if name}
        else:
            if signing.placement == "body":
                params.update(_body_fields(request))
                body = ""  # the body's fields are signed as params
            found = {name: _text(params.get(name)) for name in names if name}
        given = found.pop(signing.sign_param, "")
        params.pop(signing.sign_param, None)
        app_key = found.get(signing.app_key_param, "")
        raw_t = found.get(signing.timestamp_param, "")
        if not given:
            raise InvalidSignature(f"The callback has no {signing.sign_param}")
        if self.app_key is not None and not _same_text(self.app_key, app_key):
            raise InvalidSignature(f"The callback's {signing.app_key_param} is unknown")
        try:
            nonce = found.get(signing.nonce_param, "")
            expected = sign(signing, params, body, self._secret, app_key, raw_t, nonce,
                            request.method, request.path)  # fmt: skip
        except (UnicodeDecodeError, ValueError):
            raise InvalidSignature("The callback cannot be signed as declared") from None
        if not _same(expected.lower(), given.lower()):
            raise InvalidSignature()
        timestamp = _seconds(raw_t, signing.timestamp_unit)
        _check_window(timestamp, self.tolerance, now)
        return Verification(timestamp)


_CHECKS: dict[str, _Check] = {
    "none": Verifier._none,
    "hmac_sha256_hex": Verifier._hmac_scheme,
    "hmac_sha256_base64": Verifier._hmac_scheme,
    "github": Verifier._github,
    "stripe": Verifier._stripe,
    "standard_webhooks": Verifier._standard,
    "app_key_sign": Verifier._app_key_sign,
}


def make_verifier(spec: SignatureSpec, config: Mapping[str, Any]) -> Verifier:
    """A :class:`Verifier` with ``secret`` and ``app_key`` rendered from the instance config."""
    secret = _secret_text(spec.secret, config, "secret")
    app_key = _secret_text(spec.app_key, config, "app_key")
    return Verifier(spec, secret, app_key)
