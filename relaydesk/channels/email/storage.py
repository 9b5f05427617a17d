"""Where attachment bytes live: content-addressed blobs behind a small interface.

Keys are ``attachments/<tenant id>/<sha256[:2]>/<sha256>``: the same file received twice (or
the same mail processed again after a crash) is stored once, and a key never names a path
outside the store. :class:`LocalStorage` (files under the data directory) is the default, an
S3-compatible bucket (:class:`S3Storage`) when the settings configure one. Generic on purpose,
so that it can move to ``relaydesk/kit/storage.py`` when other channels store files too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import os
import re
import uuid
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import httpx

__all__ = ["BlobStorage", "LocalStorage", "S3Storage", "attachment_key", "storage_from_settings"]

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*(/[A-Za-z0-9][A-Za-z0-9._\-]*)*$")


class BlobStorage(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes: ...

    async def exists(self, key: str) -> bool: ...


def attachment_key(tenant_id: uuid.UUID, data: bytes) -> tuple[str, str]:
    """(storage key, sha256 hex) of an attachment's bytes."""
    digest = hashlib.sha256(data).hexdigest()
    return f"attachments/{tenant_id}/{digest[:2]}/{digest}", digest


class LocalStorage:
    """Blobs as files under ``root`` (written to a temporary name, then renamed)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if not _KEY.match(key) or ".." in key:
            raise ValueError(f"invalid storage key {key!r}")
        return self.root / key

    def _put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._put, key, data)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._path(key).read_bytes)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).exists)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


class S3Storage:
    """Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, OSS/COS S3 endpoints).

    Path-style URLs (``<endpoint>/<bucket>/<prefix><key>``) signed with AWS Signature V4; the
    endpoint is the operator's configuration, not a tenant's, so it may be on the intranet.
    """

    def __init__(self, endpoint: str, bucket: str, access_key: str, secret_key: str, *,
                 region: str = "us-east-1", prefix: str = "",
                 client: httpx.AsyncClient | None = None) -> None:  # fmt: skip
        self.endpoint = endpoint.rstrip("/")
        self.bucket, self.prefix, self.region = bucket, prefix, region
        self._access, self._secret = access_key, secret_key
        self._client = client or httpx.AsyncClient(timeout=30.0, follow_redirects=False)

    def _url(self, key: str) -> str:
        if not _KEY.match(key) or ".." in key:
            raise ValueError(f"invalid storage key {key!r}")
        path = quote(f"/{self.bucket}/{self.prefix}{key}", safe="/-_.~")
        return f"{self.endpoint}{path}"

    def sign(self, method: str, url: str, payload: bytes, now: dt.datetime | None = None,
             ) -> dict[str, str]:  # fmt: skip
        """The headers that authenticate the request (AWS Signature Version 4)."""
        now = now or dt.datetime.now(dt.UTC)
        amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        parts = urlsplit(url)
        payload_hash = hashlib.sha256(payload).hexdigest()
        headers = {"host": parts.netloc, "x-amz-content-sha256": payload_hash,
                   "x-amz-date": amz_date}  # fmt: skip
        signed = ";".join(sorted(headers))
        canonical = "\n".join([
            method, parts.path or "/", parts.query,
            "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)), signed, payload_hash,
        ])  # fmt: skip
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                             hashlib.sha256(canonical.encode()).hexdigest()])  # fmt: skip
        key = _hmac(("AWS4" + self._secret).encode(), day)
        for part in (self.region, "s3", "aws4_request"):
            key = _hmac(key, part)
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={self._access}/{scope}, "
                                    f"SignedHeaders={signed}, Signature={signature}")  # fmt: skip
        del headers["host"]
        return headers

    async def _send(self, method: str, key: str, data: bytes = b"",
                    extra: dict[str, str] | None = None) -> httpx.Response:  # fmt: skip
        url = self._url(key)
        headers = {**self.sign(method, url, data), **(extra or {})}
        response = await self._client.request(method, url, content=data or None, headers=headers)
        if response.status_code >= 400 and response.status_code != 404:
            raise OSError(f"S3 {method} {key}: HTTP {response.status_code} {response.text[:200]}")
        return response

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await self._send("PUT", key, data, {"content-type": content_type})

    async def get(self, key: str) -> bytes:
        response = await self._send("GET", key)
        if response.status_code == 404:
            raise FileNotFoundError(key)
        return response.content

    async def exists(self, key: str) -> bool:
        return (await self._send("HEAD", key)).status_code != 404

    async def aclose(self) -> None:
        await self._client.aclose()


def storage_from_settings(settings: Any) -> BlobStorage:
    """``settings.storage`` (backend ``local`` | ``s3``) or files under ``data_dir/files``."""
    conf = getattr(settings, "storage", None)
    if conf is not None and getattr(conf, "backend", "local") == "s3":

        def secret(value: Any) -> str:
            return str(value.get_secret_value() if hasattr(value, "get_secret_value") else value)

        return S3Storage(conf.s3_endpoint, conf.s3_bucket, secret(conf.s3_access_key),
                         secret(conf.s3_secret_key), region=conf.s3_region,
                         prefix=conf.s3_prefix)  # fmt: skip
    return LocalStorage(Path(settings.data_dir) / "files")
