"""Attachment stores: local files, and an S3-compatible bucket (moto's S3 server on loopback,
with our Signature V4 checked against botocore's signer)."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from email_servers import free_port

from relaydesk.channels.email.storage import (
    LocalStorage,
    S3Storage,
    attachment_key,
    storage_from_settings,
)
from relaydesk.config import Settings

moto_server = pytest.importorskip("moto.server")
botocore_auth = pytest.importorskip("botocore.auth")


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


async def test_s3_store_puts_gets_and_answers_exists(s3_endpoint: str) -> None:
    store = S3Storage(s3_endpoint, "relaydesk-files", "AKIDEXAMPLE", "secret", prefix="t1/")
    async with httpx.AsyncClient() as client:  # the operator creates the bucket
        url = f"{s3_endpoint}/relaydesk-files"
        assert (await client.put(url, headers=store.sign("PUT", url, b""))).status_code == 200
    data = "发票 PDF".encode() * 100
    key, digest = attachment_key(uuid.uuid4(), data)
    assert not await store.exists(key)
    await store.put(key, data, "application/pdf")
    assert await store.exists(key) and await store.get(key) == data
    assert digest == hashlib.sha256(data).hexdigest()
    with pytest.raises(FileNotFoundError):
        await store.get(key + "x")
    with pytest.raises(ValueError, match="invalid storage key"):
        await store.get("../other-bucket/x")
    await store.aclose()


def test_signature_v4_matches_botocore() -> None:
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    store = S3Storage("https://s3.cn-north-1.example.com:8443", "bucket", "AKID", "SECRET",
                      region="cn-north-1")  # fmt: skip
    url = store._url("attachments/ab/abcdef")
    payload = b"hello attachment"
    at = dt.datetime(2026, 11, 21, 8, 30, tzinfo=dt.UTC)
    ours = store.sign("PUT", url, payload, now=at)

    request = AWSRequest(method="PUT", url=url, data=payload)
    auth = botocore_auth.S3SigV4Auth(Credentials("AKID", "SECRET"), "s3", "cn-north-1")
    request.context["timestamp"] = at.strftime("%Y%m%dT%H%M%SZ")
    request.context["payload_signing_enabled"] = True
    auth._modify_request_before_signing(request)
    canonical = auth.canonical_request(request)
    signature = auth.signature(auth.string_to_sign(request, canonical), request)
    assert ours["authorization"].endswith(f"Signature={signature}")
    assert "SignedHeaders=host;x-amz-content-sha256;x-amz-date" in ours["authorization"]


def test_the_settings_choose_the_store(tmp_path: Path) -> None:
    settings = Settings(environment="test", data_dir=tmp_path)
    local = storage_from_settings(settings)
    assert isinstance(local, LocalStorage) and local.root == tmp_path / "files"
