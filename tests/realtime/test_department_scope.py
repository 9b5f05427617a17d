"""Department scope on the agents' WebSocket: a department-scoped agent gets the events of
their department's conversations only, live and on resume, as the REST API shows them; an
event about a conversation of no department or of another department is not theirs."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
from admin.admin_helpers import create_role, create_user, login_as
from conftest import PASSWORD, Org, login
from conversations.conversations_support import customer_says, make_customer, make_inbox
from fastapi import FastAPI
from realtime_support import connect, connect_ready, deliver, frames_until_ready, serve
from sqlalchemy import update

from relaydesk.conversations.models import Conversation
from relaydesk.kit.db import Database
from relaydesk.tenancy.models import Department


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


async def _events(ws: object, quiet: float = 0.5) -> list[dict[str, object]]:
    """Every event frame until the socket has been quiet for ``quiet`` seconds."""
    out = []
    while True:
        try:
            frame = json.loads(await asyncio.wait_for(ws.recv(), quiet))  # type: ignore[attr-defined]
        except TimeoutError:
            return out
        if frame["type"] == "event":
            out.append(frame)


async def test_a_department_scoped_agent_gets_only_their_departments_conversations(
    app: FastAPI, client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    owner_headers = await login(client, org_a, "owner")
    async with db.job(org_a.id) as session:
        north, south = Department(tenant_id=org_a.id, name="北区"), Department(
            tenant_id=org_a.id, name="南区")  # fmt: skip
        session.add_all([north, south])
        await session.flush()
        north_id, south_id = north.id, south.id
    await create_role(client, owner_headers, "north-agent", ["conversations.read"],
                      scope="department")  # fmt: skip
    await create_user(client, owner_headers, "north@acme.example.com", PASSWORD,
                      ["north-agent"], department_id=str(north_id))  # fmt: skip
    north_agent = _token(await login_as(client, org_a.slug, "north@acme.example.com", PASSWORD))
    owner = _token(owner_headers)
    inbox = await make_inbox(db, org_a)
    conversations: dict[str, uuid.UUID] = {}
    for name, department in (("north", north_id), ("south", south_id), ("none", None)):
        customer = await make_customer(db, org_a, name=f"客户 {name}")
        conversation, _, _ = await customer_says(db, org_a, inbox, customer, f"你好 {name}")
        async with db.job(org_a.id) as session:
            await session.execute(update(Conversation).where(Conversation.id == conversation)
                                  .values(department_id=department))  # fmt: skip
        conversations[name] = conversation
    first = (await deliver(db))[-1]

    async with serve(app) as url:
        scoped, everyone = await connect_ready(url, north_agent), await connect_ready(url, owner)
        for name in conversations:
            customer = await make_customer(db, org_a, name=f"{name} again")
            await customer_says(db, org_a, inbox, customer, "hello")  # a new conversation
        for name, conversation in conversations.items():
            async with db.job(org_a.id) as session:
                row = await session.get(Conversation, conversation)
                assert row is not None
                await customer_says(db, org_a, inbox, row.customer_id, f"还在吗 {name}")
        await deliver(db, first)
        live_scoped = await _events(scoped)
        live_all = await _events(everyone)
        await scoped.close()
        await everyone.close()
        assert {f["payload"]["conversation_id"] for f in live_scoped} == {
            str(conversations["north"])
        }
        assert str(conversations["south"]) in {f["payload"]["conversation_id"] for f in live_all}
        assert str(conversations["none"]) in {f["payload"]["conversation_id"] for f in live_all}

        resumed = await connect(url, north_agent, after=str(first))
        replayed, _ = await frames_until_ready(resumed)
        await resumed.close()
        shown = {f["payload"]["conversation_id"] for f in replayed if f.get("type") == "event"}
        assert shown == {str(conversations["north"])}
