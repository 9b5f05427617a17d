"""客户关系管理 (CRM) — contacts, member tier, tags and notes; OAuth 2.0 client credentials.

``POST /oauth/token`` (RFC 6749 §4.4: client id/secret by HTTP Basic or in the form body)
gives a Bearer token valid ``expires_in`` seconds (300 by default). Every ``/api/v1`` call
needs it; an expired or unknown one is ``401 {"error": "invalid_token"}``. Times are ISO 8601
with the +08:00 offset (unlike the order system's wall-clock strings); the member tier is
the Chinese label (普通/银卡/金卡/钻石).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from relaydesk.demo_systems import credentials
from relaydesk.demo_systems._web import SHANGHAI, BodyError, now_local, read_fields
from relaydesk.demo_systems.dataset import MOBILE_RE, TIER_LABELS
from relaydesk.demo_systems.seed_service import Contact, Note, seed_contacts

__all__ = ["CrmConfig", "CrmState", "create_crm_app"]

SCOPES = ("contacts.read", "contacts.write")


@dataclass
class CrmConfig:
    clients: dict[str, str] = field(
        default_factory=lambda: {credentials.CRM_CLIENT_ID: credentials.CRM_CLIENT_SECRET}
    )
    token_ttl_seconds: int = 300
    clock: Callable[[], float] = time.time


class CrmError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


@dataclass
class CrmState:
    contacts: dict[str, Contact]
    tokens: dict[str, tuple[float, frozenset[str]]] = field(default_factory=dict)
    tokens_issued: int = 0
    next_note: int = 0


def _iso(value: dt.datetime) -> str:
    return value.replace(tzinfo=SHANGHAI).isoformat()


def _note(n: Note) -> dict[str, Any]:
    return {
        "id": n.note_id,
        "content": n.content,
        "author": n.author,
        "createdAt": _iso(n.created_at),
    }


def _contact(c: Contact) -> dict[str, Any]:
    p = c.person
    return {
        "id": p.crm_id,
        "name": p.name,
        "mobile": p.mobile,
        "email": p.email,
        "gender": "男" if p.gender == "M" else "女",
        "city": p.city,
        "address": p.address,
        "company": p.company,
        "memberTier": TIER_LABELS[p.tier],
        "source": p.source,
        "owner": c.owner,
        "tags": list(c.tags),
        "createdAt": _iso(c.created_at),
        "lastContactAt": _iso(c.last_contact_at),
    }


def _client_credentials(request: Request, form: dict[str, Any]) -> tuple[str, str]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            raw = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise CrmError(401, "invalid_client", "malformed Basic credentials") from None
        client_id, _, client_secret = raw.partition(":")
        return unquote(client_id), unquote(client_secret)
    return str(form.get("client_id", "")), str(form.get("client_secret", ""))


def create_crm_app(config: CrmConfig | None = None) -> FastAPI:
    cfg = config or CrmConfig()
    state = CrmState({c.person.crm_id: c for c in seed_contacts()})
    state.next_note = 50_001 + sum(len(c.notes) for c in state.contacts.values())
    app = FastAPI(title="云栖优选 CRM (demo)", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.crm = state

    @app.exception_handler(CrmError)
    async def _crm_error(_: Request, exc: CrmError) -> JSONResponse:
        headers = None
        if exc.status == 401 and exc.error == "invalid_token":
            headers = {
                "WWW-Authenticate": f'Bearer error="invalid_token", '
                f'error_description="{exc.description}"'
            }
        elif exc.status == 401:
            headers = {"WWW-Authenticate": 'Basic realm="crm"'}
        return JSONResponse(
            {"error": exc.error, "error_description": exc.description},
            status_code=exc.status,
            headers=headers,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {
                "error": "not_found" if exc.status_code == 404 else "invalid_request",
                "error_description": str(exc.detail),
            },
            status_code=exc.status_code,
        )

    @app.post("/oauth/token")
    async def token(request: Request) -> JSONResponse:
        try:
            form = await read_fields(request)
        except BodyError as exc:
            raise CrmError(400, "invalid_request", str(exc)) from None
        client_id, client_secret = _client_credentials(request, form)
        expected = cfg.clients.get(client_id)
        if expected is None or not hmac.compare_digest(expected, client_secret):
            raise CrmError(401, "invalid_client", "unknown client or wrong secret")
        if form.get("grant_type") != "client_credentials":
            raise CrmError(400, "unsupported_grant_type", "only client_credentials is supported")
        requested = str(form.get("scope") or " ".join(SCOPES)).split()
        if any(s not in SCOPES for s in requested):
            raise CrmError(400, "invalid_scope", f"scopes are: {' '.join(SCOPES)}")
        access_token = secrets.token_urlsafe(24)
        now = cfg.clock()
        state.tokens = {t: v for t, v in state.tokens.items() if v[0] > now}
        state.tokens[access_token] = (now + cfg.token_ttl_seconds, frozenset(requested))
        state.tokens_issued += 1
        return JSONResponse(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": cfg.token_ttl_seconds,
                "scope": " ".join(requested),
            },
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    def bearer(scope: str) -> Callable[[Request], Any]:
        async def check(request: Request) -> None:
            header = request.headers.get("authorization", "")
            if not header.lower().startswith("bearer "):
                raise CrmError(401, "invalid_token", "missing Bearer token")
            found = state.tokens.get(header[7:].strip())
            if found is None:
                raise CrmError(401, "invalid_token", "unknown token")
            if found[0] <= cfg.clock():
                raise CrmError(401, "invalid_token", "the access token expired")
            if scope not in found[1]:
                raise CrmError(403, "insufficient_scope", f"needs scope {scope}")

        return check

    read, write = Depends(bearer("contacts.read")), Depends(bearer("contacts.write"))

    def contact(contact_id: str) -> Contact:
        found = state.contacts.get(contact_id)
        if found is None:
            raise CrmError(404, "not_found", f"contact {contact_id} does not exist")
        return found

    async def body(request: Request) -> dict[str, Any]:
        try:
            return await read_fields(request, form=False)
        except BodyError as exc:
            raise CrmError(400, "invalid_request", str(exc)) from None

    @app.get("/api/v1/contacts", dependencies=[read])
    async def search(mobile: str = "", name: str = "") -> dict[str, Any]:
        if not mobile and not name:
            raise CrmError(400, "invalid_request", "give mobile or name")
        if mobile and not MOBILE_RE.match(mobile.removeprefix("+86")):
            raise CrmError(400, "invalid_request", "mobile must be an 11-digit mainland number")
        found = [
            _contact(c)
            for c in state.contacts.values()
            if (not mobile or c.person.mobile == mobile.removeprefix("+86"))
            and (not name or name in c.person.name)
        ]
        return {"data": found, "total": len(found)}

    @app.get("/api/v1/contacts/{contact_id}", dependencies=[read])
    async def get_contact(contact_id: str) -> dict[str, Any]:
        return _contact(contact(contact_id))

    @app.get("/api/v1/contacts/{contact_id}/tags", dependencies=[read])
    async def list_tags(contact_id: str) -> dict[str, Any]:
        return {"tags": list(contact(contact_id).tags)}

    @app.post("/api/v1/contacts/{contact_id}/tags", dependencies=[write])
    async def add_tags(contact_id: str, request: Request) -> dict[str, Any]:
        target, data = contact(contact_id), await body(request)
        tags = data.get("tags", [data["tag"]] if "tag" in data else None)
        if (
            not isinstance(tags, list)
            or not tags
            or any(not isinstance(t, str) or not 1 <= len(t.strip()) <= 20 for t in tags)
        ):
            raise CrmError(400, "invalid_request", "tags: a list of 1-20 character strings")
        added = [t.strip() for t in tags if t.strip() not in target.tags]
        target.tags.extend(dict.fromkeys(added))
        return {"tags": list(target.tags), "added": list(dict.fromkeys(added))}

    @app.delete("/api/v1/contacts/{contact_id}/tags/{tag}", dependencies=[write])
    async def remove_tag(contact_id: str, tag: str) -> dict[str, Any]:
        target = contact(contact_id)
        if tag in target.tags:
            target.tags.remove(tag)
        return {"tags": list(target.tags)}

    @app.get("/api/v1/contacts/{contact_id}/notes", dependencies=[read])
    async def list_notes(contact_id: str) -> dict[str, Any]:
        notes = sorted(contact(contact_id).notes, key=lambda n: n.created_at, reverse=True)
        return {"data": [_note(n) for n in notes], "total": len(notes)}

    @app.post("/api/v1/contacts/{contact_id}/notes", dependencies=[write], status_code=201)
    async def add_note(contact_id: str, request: Request) -> dict[str, Any]:
        target, data = contact(contact_id), await body(request)
        content = data.get("content")
        if not isinstance(content, str) or not 1 <= len(content.strip()) <= 2000:
            raise CrmError(400, "invalid_request", "content: 1-2000 characters")
        author = data.get("author") or "Relaydesk"
        note = Note(f"N{state.next_note}", content.strip(), str(author)[:50], now_local())
        state.next_note += 1
        target.notes.append(note)
        target.last_contact_at = note.created_at
        return _note(note)

    @app.delete("/api/v1/contacts/{contact_id}/notes/{note_id}", dependencies=[write])
    async def delete_note(contact_id: str, note_id: str) -> Response:
        target = contact(contact_id)
        kept = [n for n in target.notes if n.note_id != note_id]
        if len(kept) == len(target.notes):
            raise CrmError(404, "not_found", f"note {note_id} does not exist")
        target.notes = kept
        return Response(status_code=204)

    return app
