"""The XML negotiation middleware on a small app: what reaches handlers, what leaves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse, StreamingResponse

from relaydesk.errors import NotFound
from relaydesk.kit import errorhandlers
from relaydesk.kit.xml_negotiation import XmlNegotiationMiddleware
from relaydesk.kit.xmlio import parse_xml


def make_app() -> FastAPI:
    app = FastAPI()
    errorhandlers.install(app)

    @app.post("/api/v1/things")
    async def echo(request: Request) -> dict[str, Any]:
        return {
            "content_type": request.headers.get("content-type"),
            "content_length": request.headers.get("content-length"),
            "body": (await request.body()).decode(),
        }

    @app.get("/api/v1/things/missing")
    async def missing() -> None:
        raise NotFound("thing 42 not found")

    @app.get("/api/v1/things/text")
    async def text() -> PlainTextResponse:
        return PlainTextResponse("plain 文本")

    @app.get("/api/v1/things/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"one,"
            yield b"two"

        return StreamingResponse(chunks(), media_type="text/csv")

    @app.delete("/api/v1/things/1", status_code=204)
    async def delete() -> Response:
        return Response(status_code=204)

    @app.post("/api/v1/thingsother")
    async def other(request: Request) -> dict[str, str]:
        return {"body": (await request.body()).decode()}

    app.add_middleware(XmlNegotiationMiddleware, path_prefixes=("/api/v1/things",))
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


async def test_xml_body_reaches_the_handler_as_json(client: httpx.AsyncClient) -> None:
    body = "<r><name>张三</name><tags><item>a</item></tags><none nil=\"true\"/></r>".encode()
    r = await client.post("/api/v1/things", content=body,
                          headers={"Content-Type": "application/xml; charset=utf-8"})
    seen = r.json()
    assert seen["content_type"] == "application/json"
    assert seen["body"] == '{"name": "张三", "tags": ["a"], "none": null}'
    assert seen["content_length"] == str(len(seen["body"].encode()))


async def test_charset_parameter_is_honoured_without_a_declaration(
    client: httpx.AsyncClient,
) -> None:
    body = "<r><city>广州</city></r>".encode("gb18030")
    r = await client.post("/api/v1/things", content=body,
                          headers={"Content-Type": "text/xml; charset=GB18030"})
    assert r.json()["body"] == '{"city": "广州"}'


async def test_empty_xml_body_is_handed_on_empty(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/things", content=b"",
                          headers={"Content-Type": "application/xml"})
    assert r.json()["body"] == ""


async def test_json_bodies_and_other_paths_are_untouched(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/things", json={"a": 1})
    assert r.json()["content_type"] == "application/json"
    other = await client.post("/api/v1/thingsother", content=b"<r/>",
                              headers={"Content-Type": "application/xml",
                                       "Accept": "application/xml"})
    assert other.headers["content-type"] == "application/json"
    assert other.json() == {"body": "<r/>"}


async def test_responses_become_xml_when_accept_prefers_it(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/things", json={"a": 1},
                          headers={"Accept": "application/xml;q=0.9, application/json;q=0.5"})
    assert r.headers["content-type"] == "application/xml; charset=utf-8"
    assert r.headers["content-length"] == str(len(r.content))
    assert r.headers["vary"] == "Accept"
    assert parse_xml(r.content)["body"] == '{"a":1}'
    assert r.content.split(b"\n", 1)[1].startswith(b"<response>")

    json_preferred = await client.post(
        "/api/v1/things", json={"a": 1},
        headers={"Accept": "application/json, application/xml;q=0.5"},
    )
    assert json_preferred.headers["content-type"] == "application/json"


async def test_errors_become_an_error_element(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/things/missing", headers={"Accept": "text/xml"})
    assert r.status_code == 404
    assert r.content.split(b"\n", 1)[1].startswith(b"<error><code>not_found</code>")
    assert parse_xml(r.content)["message"] == "thing 42 not found"


async def test_bad_xml_is_refused_before_the_handler(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/things", content=b"<r><a></r>",
                          headers={"Content-Type": "application/xml"})
    assert r.status_code == 400
    assert r.json()["error"]["details"] == {
        "line": 1, "column": 9, "reason": "mismatched tag",
    }
    bomb = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]>'
            b"<l><v>&b;</v></l>")
    r = await client.post("/api/v1/things", content=bomb,
                          headers={"Content-Type": "text/xml", "Accept": "application/xml"})
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/xml; charset=utf-8"
    assert "not allowed" in parse_xml(r.content)["message"]


async def test_unknown_charset_is_400(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/things", content=b"<r/>",
                          headers={"Content-Type": "application/xml; charset=klingon"})
    assert r.status_code == 400
    assert "klingon" in r.json()["error"]["message"]


async def test_non_json_and_empty_responses_pass_through(client: httpx.AsyncClient) -> None:
    xml = {"Accept": "application/xml"}
    text = await client.get("/api/v1/things/text", headers=xml)
    assert text.text == "plain 文本" and text.headers["content-type"].startswith("text/plain")
    stream = await client.get("/api/v1/things/stream", headers=xml)
    assert stream.text == "one,two"
    deleted = await client.delete("/api/v1/things/1", headers=xml)
    assert deleted.status_code == 204 and deleted.content == b""
