"""Helpers of the priority routing tests: the real demo CRM on loopback, an organisation with
a normal team (the inbox's) and a VIP team, the CRM connector instance and a VIP rule made
through the API, customers with trusted phones, and reading conversations back."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from conftest import Org, login, make_org
from conversations.conversations_support import customer_says, make_inbox
from customer360.c360_support import Switch, instance_body
from fastapi import FastAPI

from relaydesk.automation.runtime import AutomationRuntime, bind_runtime
from relaydesk.conversations.models import Conversation
from relaydesk.demo_systems.crm import create_crm_app
from relaydesk.demo_systems.runner import RunningServer, start_server
from relaydesk.kit.db import Database

API = "/api/v1"
#: demo CRM contacts: 李娜 is a diamond member, 赵敏 gold; 张伟 and 杨磊 are normal members
VIP = {"李娜": "13063420097", "赵敏": "13476694409"}
NORMAL = {"张伟": "13937704964", "杨磊": "17768110162"}
VIP_CONDITION = "contains(['gold', 'diamond'], result[0].tier)"


@dataclass
class Crm:
    server: RunningServer
    switch: Switch

    @property
    def url(self) -> str:
        return self.server.url


async def start_crm() -> Crm:
    switch = Switch(create_crm_app())
    return Crm(await start_server(switch, "127.0.0.1", 0, "crm"), switch)


@pytest.fixture(scope="module")
async def crm() -> AsyncIterator[Crm]:
    """The demo CRM, shared by a module's tests (they only read from it)."""
    running = await start_crm()
    try:
        yield running
    finally:
        await running.server.stop()


@dataclass
class Desk:
    """An organisation set up for priority routing."""

    org: Org
    owner: dict[str, str]
    inbox: uuid.UUID
    normal_team: str
    vip_team: str


def bind(app: FastAPI, db: Database) -> None:
    """Background work (the routing job) uses the app's connector runtimes and keyring."""
    bind_runtime(db, AutomationRuntime(registry=app.state.connectors,
                                       keyring=app.state.keyring))  # fmt: skip


async def desk(client: httpx.AsyncClient, app: FastAPI, db: Database, slug: str) -> Desk:
    """Teams: 售后一组 (the inbox's: the admin and the agent) and VIP 专席 (the agent; its
    routing knows the skill vip, so a conversation tagged vip needs an agent who has it)."""
    bind(app, db)
    org = await make_org(db, slug, roles=("owner", "supervisor", "agent", "admin"))
    owner = await login(client, org, "owner")
    teams = {}
    for name, members in (("售后一组", ["admin", "agent"]), ("VIP 专席", ["agent"])):
        r = await client.post(f"{API}/teams", headers=owner, json={"name": name})
        assert r.status_code == 201, r.text
        teams[name] = r.json()["id"]
        r = await client.put(f"{API}/teams/{teams[name]}/members", headers=owner,
                             json={"user_ids": [str(org.users[m]) for m in members]})  # fmt: skip
        assert r.status_code == 200, r.text
    r = await client.put(f"{API}/routing/teams/{teams['VIP 专席']}", headers=owner,
                         json={"skills": ["vip"]})  # fmt: skip
    assert r.status_code == 200, r.text
    inbox = await make_inbox(db, org, team_id=uuid.UUID(teams["售后一组"]))
    return Desk(org, owner, inbox, teams["售后一组"], teams["VIP 专席"])


async def connect_crm(client: httpx.AsyncClient, owner: dict[str, str], url: str,
                      name: str = "crm") -> str:  # fmt: skip
    body = {**instance_body("crm", {"crm": url}), "name": name}
    r = await client.post(f"{API}/connector-instances", headers=owner, json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def vip_rule(team: str, **changes: Any) -> dict[str, Any]:
    """The body of the VIP rule: CRM gold/diamond members → urgent, ``team``, skill vip."""
    return {
        "name": "CRM 金卡/钻石会员 → VIP 专席", "instance": "crm",
        "action": "find_contact_by_mobile",
        "params": {"mobile": "{{ customer.phone_national }}"},
        "condition": VIP_CONDITION, "priority": "urgent", "team_id": team,
        "skills": ["VIP"], "timeout_seconds": 3, **changes,
    }  # fmt: skip


async def add_rule(client: httpx.AsyncClient, owner: dict[str, str], body: dict[str, Any]
                   ) -> dict[str, Any]:  # fmt: skip
    r = await client.post(f"{API}/routing/priority-rules", headers=owner, json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def go_online(client: httpx.AsyncClient, org: Org, role: str, capacity: int = 5,
                    skills: list[str] | None = None) -> None:  # fmt: skip
    headers = await login(client, org, role)
    body: dict[str, Any] = {"status": "online", "capacity": capacity}
    if skills is not None:
        body["skills"] = skills
    r = await client.put(f"{API}/routing/presence/me", headers=headers, json=body)
    assert r.status_code == 200, r.text


async def customer_writes(client: httpx.AsyncClient, db: Database, d: Desk, name: str,
                          phone: str | None) -> uuid.UUID:  # fmt: skip
    """A customer (entered by staff: the phone is a trusted identity) writes in: a new
    conversation in the inbox of 售后一组."""
    body: dict[str, Any] = {"name": name} | ({"phone": phone} if phone else {})
    r = await client.post(f"{API}/customers", headers=d.owner, json=body)
    assert r.status_code == 201, r.text
    conversation, _, _ = await customer_says(db, d.org, d.inbox, uuid.UUID(r.json()["id"]), "在吗")
    return conversation


async def state(db: Database, org: Org, conversation_id: uuid.UUID) -> Conversation:
    async with db.job(org.id) as session:
        found = await session.get(Conversation, conversation_id)
        assert found is not None
        return found


async def decision(client: httpx.AsyncClient, headers: dict[str, str],
                   conversation_id: uuid.UUID) -> dict[str, Any]:  # fmt: skip
    r = await client.get(f"{API}/routing/conversations/{conversation_id}/decision",
                         headers=headers)  # fmt: skip
    assert r.status_code == 200, r.text
    return dict(r.json())
