"""Request signing (appKey + timestamp + nonce + sorted params/body → sign), checked against
digests computed independently here with hashlib/hmac."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from urllib.parse import parse_qsl

import httpx
import pytest

from relaydesk.integrations.auth import SigningAuth, make_auth, sign


@dataclass
class SigningSpec:
    """Stands in for the spec model, with the design's defaults."""

    type: str = "signing"
    app_key: str = "AK1"
    secret: str = "sek"
    algorithm: str = "md5"
    sign_param: str = "sign"
    timestamp_param: str = "timestamp"
    nonce_param: str = "nonce"
    app_key_param: str = "appKey"
    timestamp_unit: str = "ms"
    placement: str = "query"
    canonical: str = "{secret}{sorted_params}{body}{secret}"
    uppercase: bool = True


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def test_taobao_style_md5() -> None:
    spec = SigningSpec(algorithm="md5", canonical="{secret}{sorted_params}{secret}")
    params = {
        "method": "taobao.item.get",
        "app_key": "12345678",
        "timestamp": "2016-01-01 12:00:00",
        "v": "2.0",
        "sign_method": "md5",
        "fields": "num_iid,title",
        "num_iid": 11223344,
        "sign": "stale value is never signed",
        "session": "",  # empty values are skipped
    }
    expected = _md5(
        "helloworld"
        "app_key12345678"
        "fieldsnum_iid,title"
        "methodtaobao.item.get"
        "num_iid11223344"
        "sign_methodmd5"
        "timestamp2016-01-01 12:00:00"
        "v2.0"
        "helloworld"
    ).upper()
    got = sign(spec, params, "", "helloworld", "12345678", "", "", "POST", "/router/rest")
    assert got == expected
    assert len(got) == 32 and got.isupper()


def test_hmac_sha256_with_chinese_values() -> None:
    spec = SigningSpec(
        algorithm="hmac_sha256", canonical="{app_key}{timestamp}{nonce}{sorted_query}"
    )
    params = {
        "receiverName": "张三",
        "orderNo": "E20240501001",
        "address": "上海市浦东新区世纪大道100号",
    }
    message = (
        "AK1" + "1714550400000" + "n0nce"
        "address=上海市浦东新区世纪大道100号&orderNo=E20240501001&receiverName=张三"
    )
    expected = hmac.new(b"sek", message.encode("utf-8"), hashlib.sha256).hexdigest()
    args = (params, "", "sek", "AK1", "1714550400000", "n0nce")
    assert sign(spec, *args) == expected.upper()
    spec.uppercase = False
    assert sign(spec, *args) == expected


def test_sha256_over_method_path_and_body() -> None:
    spec = SigningSpec(algorithm="sha256", canonical="{method}\n{path}\n{timestamp}\n{body}")
    body = '{"orderNo":"E1","备注":"尽快发货"}'
    expected = hashlib.sha256(f"POST\n/api/orders\n1714550400\n{body}".encode()).hexdigest().upper()
    assert sign(
        spec, {}, body.encode(), "sek", "AK1", "1714550400", "n", "post", "/api/orders"
    ) == (expected)


def test_canonical_uses_format_syntax_with_literal_braces() -> None:
    spec = SigningSpec(algorithm="sha256", uppercase=False, canonical="{{{app_key}}}|{timestamp}")
    expected = hashlib.sha256(b"{AK1}|1714550400").hexdigest()
    assert sign(spec, {}, "", "sek", "AK1", "1714550400", "n") == expected


def test_bad_canonical_or_algorithm_is_rejected() -> None:
    for pattern in ("{secret}{password}", "{secret.__class__}", "{secret!r}", "{body:>99}"):
        with pytest.raises(ValueError, match="unknown placeholder"):
            sign(SigningSpec(canonical=pattern), {}, "", "s", "a", "1", "n")
    with pytest.raises(ValueError, match="unknown algorithm"):
        sign(SigningSpec(algorithm="crc32"), {}, "", "s", "a", "1", "n")


def _auth(spec: SigningSpec) -> SigningAuth:
    return SigningAuth(spec, clock=lambda: 1714550400.123, nonce=lambda: "abc123")


async def test_query_placement_signs_query_and_protocol_params() -> None:
    auth = _auth(SigningSpec())
    request = await auth.apply(
        httpx.Request("GET", "https://orders.example/api/orders?status=paid&page=1&buyer=李四")
    )
    sent = dict(request.url.params)
    assert sent["appKey"] == "AK1"
    assert sent["timestamp"] == "1714550400123"
    assert sent["nonce"] == "abc123"
    expected = _md5(
        "sekappKeyAK1buyer李四nonceabc123page1statuspaidtimestamp1714550400123sek"
    ).upper()
    assert sent["sign"] == expected


async def test_header_placement_signs_the_raw_body() -> None:
    spec = SigningSpec(
        placement="header",
        algorithm="hmac_sha256",
        timestamp_unit="s",
        app_key_param="X-App-Key",
        timestamp_param="X-Timestamp",
        nonce_param="X-Nonce",
        sign_param="X-Sign",
        canonical="{app_key}{timestamp}{nonce}{body}",
    )
    body = json.dumps({"orderNo": "E1", "address": "北京市朝阳区"}, ensure_ascii=False)
    request = await _auth(spec).apply(
        httpx.Request(
            "POST",
            "https://orders.example/api/orders/E1/address",
            content=body.encode(),
            headers={"Content-Type": "application/json"},
        )
    )
    assert request.content == body.encode()
    assert request.headers["X-App-Key"] == "AK1"
    assert request.headers["X-Timestamp"] == "1714550400"
    message = ("AK1" + "1714550400" + "abc123" + body).encode()
    assert (
        request.headers["X-Sign"] == hmac.new(b"sek", message, hashlib.sha256).hexdigest().upper()
    )
    assert "sign" not in request.url.params


async def test_body_placement_adds_fields_to_a_json_body() -> None:
    spec = SigningSpec(placement="body")
    request = await _auth(spec).apply(
        httpx.Request(
            "POST",
            "https://orders.example/api/refunds",
            json={"orderNo": "E1", "reason": "不想要了", "items": [{"sku": "S1", "qty": 2}]},
        )
    )
    sent = json.loads(request.content)
    assert request.headers["Content-Length"] == str(len(request.content))
    assert sent["appKey"] == "AK1" and sent["nonce"] == "abc123"
    expected = _md5(
        "sek"
        "appKeyAK1"
        'items[{"sku":"S1","qty":2}]'
        "nonceabc123"
        "orderNoE1"
        "reason不想要了"
        "timestamp1714550400123"
        "sek"
    ).upper()
    assert sent["sign"] == expected
    # the receiver verifies with the same public function
    received = {k: v for k, v in sent.items() if k != "sign"}
    assert sign(spec, received, "", "sek", "AK1", sent["timestamp"], sent["nonce"]) == sent["sign"]


async def test_body_placement_with_a_form_body() -> None:
    spec = SigningSpec(placement="body", algorithm="hmac_sha256", uppercase=False)
    async with httpx.AsyncClient() as http:
        assert isinstance(make_auth(spec, {}, http), SigningAuth)
    request = await _auth(spec).apply(
        httpx.Request("POST", "https://erp.example/api", data={"member": "王五", "points": "10"})
    )
    sent = dict(parse_qsl(request.content.decode()))
    canonical = "sekappKeyAK1member王五nonceabc123points10timestamp1714550400123sek"
    assert sent["sign"] == hmac.new(b"sek", canonical.encode(), hashlib.sha256).hexdigest()
    assert sent["member"] == "王五"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
