"""Request signing of Chinese open platforms (appKey + timestamp + nonce + sign): the
``signing`` auth kind of connector specs (see auth.py, which re-exports it)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import string
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx

from relaydesk.integrations.auth_base import AuthHandler
from relaydesk.integrations.auth_base import spec_value as _get

__all__ = ["DEFAULT_CANONICAL", "PLACEHOLDERS", "SigningAuth", "canonical_string", "sign"]

DEFAULT_CANONICAL = "{secret}{sorted_params}{body}{secret}"
PLACEHOLDERS = frozenset(
    {"secret", "app_key", "timestamp", "nonce", "sorted_params", "sorted_query", "body"}
    | {"method", "path"}
)
_FORM = "application/x-www-form-urlencoded"


# --- request signing (Chinese open platforms: appKey + timestamp + nonce + sign) -------------


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _pairs(params: Mapping[str, Any], exclude: str) -> list[tuple[str, str]]:
    """Sorted (key, text) of the non-empty params; lists and objects as compact JSON."""
    pairs = [(k, _text(v)) for k, v in params.items() if k != exclude and v is not None]
    return sorted((k, v) for k, v in pairs if v != "")


def canonical_string(
    spec: object,
    *,
    params: Mapping[str, Any],
    body: str | bytes = "",
    secret: str,
    app_key: str,
    timestamp: str,
    nonce: str,
    method: str = "GET",
    path: str = "/",
) -> str:
    """The string that is hashed: the spec's ``canonical`` with its placeholders filled in."""
    pairs = _pairs(params, _get(spec, "sign_param", "sign"))
    values = {
        "secret": secret,
        "app_key": app_key,
        "timestamp": timestamp,
        "nonce": nonce,
        "sorted_params": "".join(k + v for k, v in pairs),
        "sorted_query": "&".join(f"{k}={v}" for k, v in pairs),
        "body": body.decode("utf-8") if isinstance(body, bytes) else body,
        "method": method.upper(),
        "path": path,
    }

    # str.format syntax ({{ and }} are literal braces), but only bare names: no attribute
    # access, conversions or format specs, so a pattern can never reach into objects
    out: list[str] = []
    pattern = _get(spec, "canonical", DEFAULT_CANONICAL)
    for literal, name, fmt, conversion in string.Formatter().parse(pattern):
        out.append(literal)
        if name is None:
            continue
        if name not in values or fmt or conversion:
            raise ValueError(f"signing: unknown placeholder {{{name}}} in canonical")
        out.append(values[name])
    return "".join(out)


_DIGESTS: dict[str, Callable[[bytes, bytes], str]] = {
    "md5": lambda _key, text: hashlib.md5(text, usedforsecurity=False).hexdigest(),
    "sha256": lambda _key, text: hashlib.sha256(text).hexdigest(),
    "hmac_sha256": lambda key, text: hmac.new(key, text, hashlib.sha256).hexdigest(),
    "hmac_md5": lambda key, text: hmac.new(key, text, hashlib.md5).hexdigest(),
}


def sign(
    spec: object,
    params: Mapping[str, Any],
    body: str | bytes,
    secret: str,
    app_key: str,
    timestamp: str,
    nonce: str,
    method: str = "GET",
    path: str = "/",
) -> str:
    """The ``sign`` value of a request; a receiver verifies by recomputing it (compare with
    :func:`hmac.compare_digest`).

    ``params``: every parameter sent with the request except ``sign`` -- query parameters
    (repeated ones joined by commas), form fields or top-level JSON fields when the signature
    travels in the body, and the appKey/timestamp/nonce parameters unless they travel in
    headers. Empty values are skipped; lists and objects are compact JSON. ``body``: the raw body
    text (empty when the signature travels in the body: its fields are params then).
    """
    algorithm = _get(spec, "algorithm", "md5")
    if algorithm not in _DIGESTS:
        raise ValueError(f"signing: unknown algorithm {algorithm!r}")
    text = canonical_string(
        spec, params=params, body=body, secret=secret, app_key=app_key,
        timestamp=timestamp, nonce=nonce, method=method, path=path,
    )  # fmt: skip
    digest = _DIGESTS[algorithm](secret.encode("utf-8"), text.encode("utf-8"))
    return digest.upper() if _get(spec, "uppercase", True) else digest


class SigningAuth(AuthHandler):
    """Adds appKey, timestamp, nonce and sign to the query, the headers or the body."""

    def __init__(
        self,
        spec: object,
        *,
        clock: Callable[[], float] = time.time,
        nonce: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self.spec = spec
        self.app_key: str = _get(spec, "app_key", "")
        self._secret: str = _get(spec, "secret", "")
        self.placement: str = _get(spec, "placement", "query")
        if self.placement not in ("query", "header", "body"):
            raise ValueError(
                f"signing: placement must be query, header or body ({self.placement!r})"
            )
        self.sign_param: str = _get(spec, "sign_param", "sign")
        self._names = {
            "app_key": _get(spec, "app_key_param", "appKey"),
            "timestamp": _get(spec, "timestamp_param", "timestamp"),
            "nonce": _get(spec, "nonce_param", "nonce"),
        }
        self._unit: str = _get(spec, "timestamp_unit", "ms")
        self._clock, self._nonce = clock, nonce

    def _timestamp(self) -> str:
        now = self._clock()
        return str(int(now * 1000) if self._unit == "ms" else int(now))

    async def apply(self, request: httpx.Request) -> httpx.Request:
        raw = await request.aread()
        values = {"app_key": self.app_key, "timestamp": self._timestamp(), "nonce": self._nonce()}
        protocol = {self._names[k]: v for k, v in values.items() if self._names[k]}
        # a repeated query parameter is signed as its values joined by commas
        query = request.url.params
        params: dict[str, Any] = {k: ",".join(query.get_list(k)) for k in query}
        body_text = raw.decode("utf-8")
        body_fields: dict[str, Any] | None = None
        if self.placement == "body":
            body_fields = self._body_fields(request, body_text)
            params.update(body_fields)
            body_text = ""  # the body's fields are signed as params
        if self.placement in ("query", "body"):
            params.update(protocol)
        signature = sign(
            self.spec,
            params,
            body_text,
            self._secret,
            self.app_key,
            values["timestamp"],
            values["nonce"],
            request.method,
            request.url.path,
        )
        if self.placement == "header":
            for name, value in {**protocol, self.sign_param: signature}.items():
                request.headers[name] = value
            return request
        if self.placement == "query":
            request.url = request.url.copy_merge_params({**protocol, self.sign_param: signature})
            return request
        assert body_fields is not None
        return _rebuild_body(request, {**body_fields, **protocol, self.sign_param: signature})

    @staticmethod
    def _body_fields(request: httpx.Request, text: str) -> dict[str, Any]:
        ctype = request.headers.get("content-type", "")
        if not text:
            return {}
        if ctype.startswith(_FORM):
            return dict(parse_qsl(text, keep_blank_values=True))
        with contextlib.suppress(ValueError):
            data = json.loads(text)
            if isinstance(data, dict):
                return data
        raise ValueError("signing with placement body needs a JSON object or form body")


def _rebuild_body(request: httpx.Request, fields: dict[str, Any]) -> httpx.Request:
    headers = httpx.Headers(request.headers)
    if headers.get("content-type", "").startswith(_FORM):
        content = urlencode({k: _text(v) for k, v in fields.items()}).encode()
    else:
        headers["Content-Type"] = "application/json"
        content = json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()
    headers.pop("Content-Length", None)
    headers.pop("Transfer-Encoding", None)
    return httpx.Request(
        request.method, request.url, headers=headers, content=content, extensions=request.extensions
    )
