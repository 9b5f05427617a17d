"""The order system's request signing (appKey + timestamp + nonce + sign) and rate limit.

Written independently of Relaydesk's client-side signer on purpose: the two meet only in the
canonical string documented in docs/demo-systems.md::

    canonical = secret + k1 + v1 + k2 + v2 + ... + body + secret
    sign      = upper(hex(md5(utf8(canonical))))

where k1, k2, ... are the query parameters sorted by name (byte order), ``sign`` itself and
parameters with an empty value left out, values as decoded from the query string (a repeated
parameter's values joined by commas, in order); ``body`` is the raw request body (empty for
GET). ``appKey``, ``timestamp`` (Unix milliseconds) and ``nonce`` are query parameters too,
so they are part of the string.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

__all__ = ["AuthError", "OrdersGuard", "canonical_string", "sign"]


def canonical_string(params: Mapping[str, str], body: str, secret: str) -> str:
    pairs = sorted((k, v) for k, v in params.items() if k != "sign" and v != "")
    return secret + "".join(k + v for k, v in pairs) + body + secret


def sign(params: Mapping[str, str], body: str, secret: str) -> str:
    digest = hashlib.md5(canonical_string(params, body, secret).encode(), usedforsecurity=False)
    return digest.hexdigest().upper()


class AuthError(Exception):
    """Refused before any business logic: HTTP 401 (or 429), ``{"code", "msg"}`` body."""

    def __init__(self, code: str, msg: str, status: int = 401, retry_after: int | None = None):
        super().__init__(msg)
        self.code, self.msg, self.status, self.retry_after = code, msg, status, retry_after


@dataclass
class OrdersGuard:
    """Checks signature, timestamp window, rate (per appKey and second) and nonce reuse."""

    apps: Mapping[str, str]  # appKey -> secret
    tolerance_seconds: int = 300
    rate_per_second: int = 50
    clock: Callable[[], float] = time.time
    _nonces: OrderedDict[tuple[str, str], float] = field(default_factory=OrderedDict)
    _windows: dict[str, tuple[int, int]] = field(default_factory=dict)

    def check(self, query: list[tuple[str, str]], body: bytes) -> str:
        """Return the caller's appKey or raise :class:`AuthError`."""
        params: dict[str, str] = {}
        for key, value in query:  # a repeated parameter is signed as its values joined by ","
            params[key] = f"{params[key]},{value}" if key in params else value
        missing = [k for k in ("appKey", "timestamp", "nonce", "sign") if not params.get(k)]
        if missing:
            raise AuthError("SIGN_MISSING", f"缺少签名参数: {', '.join(missing)}")
        app_key = params["appKey"]
        secret = self.apps.get(app_key)
        if secret is None:
            raise AuthError("APP_KEY_INVALID", "appKey 不存在或已停用")
        now = self.clock()
        try:
            stamp = int(params["timestamp"]) / 1000
        except ValueError:
            raise AuthError("TIMESTAMP_EXPIRED", "timestamp 必须是毫秒级 Unix 时间戳") from None
        if abs(now - stamp) > self.tolerance_seconds:
            raise AuthError(
                "TIMESTAMP_EXPIRED",
                f"请求时间戳与服务器时间相差超过 {self.tolerance_seconds} 秒",
            )
        try:
            text = body.decode()
        except UnicodeDecodeError:
            raise AuthError("SIGN_INVALID", "请求体不是 UTF-8 编码") from None
        if not hmac.compare_digest(sign(params, text, secret), params["sign"].upper()):
            raise AuthError("SIGN_INVALID", "签名错误")
        self._take_rate(app_key, now)
        self._take_nonce(app_key, params["nonce"], now)
        return app_key

    def _take_rate(self, app_key: str, now: float) -> None:
        second = int(now)
        start, count = self._windows.get(app_key, (second, 0))
        if start != second:
            start, count = second, 0
        if count >= self.rate_per_second:
            raise AuthError(
                "RATE_LIMITED",
                f"请求过于频繁，每个 appKey 每秒最多 {self.rate_per_second} 次",
                status=429,
                retry_after=1,
            )
        self._windows[app_key] = (start, count + 1)

    def _take_nonce(self, app_key: str, nonce: str, now: float) -> None:
        while self._nonces:
            oldest_key, expires = next(iter(self._nonces.items()))
            if expires > now:
                break
            del self._nonces[oldest_key]
        if (app_key, nonce) in self._nonces:
            raise AuthError("NONCE_REPLAYED", "nonce 已使用过，请勿重放请求")
        # remembered for twice the window: a timestamp up to `tolerance` ahead stays valid
        self._nonces[(app_key, nonce)] = now + 2 * self.tolerance_seconds
