"""Priority routing from connector data, against the real demo CRM on loopback: a VIP's
conversation goes to the VIP team ahead of earlier ones; everyone else is routed normally,
also when the CRM is slow or down (with the reason); rules are validated and per tenant."""

from __future__ import annotations

import uuid

import httpx
from conftest import login, settle
from fastapi import FastAPI
from priority_support import (
    API,
    NORMAL,
    VIP,
    Crm,
    add_rule,
    connect_crm,
    crm,
    customer_writes,
    decision,
    desk,
    go_online,
    start_crm,
    state,
    vip_rule,
)
from sqlalchemy import func, select

from relaydesk.audit.models import AuditEntry
from relaydesk.integrations.models import ConnectorCall
from relaydesk.kit.db import Database
from relaydesk.routing import service

__all__ = ["crm"]  # the module-scoped demo CRM fixture


async def calls(db: Database, tenant_id: uuid.UUID) -> list[ConnectorCall]:
    async with db.job(tenant_id) as session:
        return list(await session.scalars(select(ConnectorCall).order_by(ConnectorCall.id)))


async def audit_rows(db: Database, tenant_id: uuid.UUID, action: str) -> list[AuditEntry]:
    async with db.job(tenant_id) as session:
        stmt = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list(await session.scalars(stmt))


async def test_vip_routing_from_crm_data(
    client: httpx.AsyncClient, app: FastAPI, db: Database, crm: Crm
) -> None:
    d = await desk(client, app, db, "prio-vip")
    await connect_crm(client, d.owner, crm.url)
    rule = await add_rule(client, d.owner, vip_rule(d.vip_team))
    assert rule["permission"] == "connector_action:crm.find_contact_by_mobile"
    assert rule["skills"] == ["vip"] and rule["instance"] == "crm"
    # two normal members write first; nobody is online, so they wait in 售后一组's queue
    first = await customer_writes(client, db, d, "张伟", NORMAL["张伟"])
    second = await customer_writes(client, db, d, "杨磊", NORMAL["杨磊"])
    await settle(db)
    vip = await customer_writes(client, db, d, "李娜", VIP["李娜"])  # a diamond member
    await settle(db)
    c = await state(db, d.org, vip)
    assert (c.priority, str(c.team_id), c.assignee_id) == ("urgent", d.vip_team, None)
    assert "vip" in c.tags
    for normal in (first, second):
        n = await state(db, d.org, normal)
        assert (n.priority, str(n.team_id), n.assignee_id) == ("normal", d.normal_team, None)
        assert "vip" not in n.tags

    # the agent (both teams, skill vip, room for one) comes online: the VIP, who wrote last,
    # is served first
    await go_online(client, d.org, "agent", capacity=1, skills=["vip"])
    await settle(db)
    agent = d.org.users["agent"]
    assert (await state(db, d.org, vip)).assignee_id == agent
    assert (await state(db, d.org, first)).assignee_id is None
    assert (await state(db, d.org, second)).assignee_id is None

    supervisor = await login(client, d.org, "supervisor")
    why = await decision(client, supervisor, vip)
    assert why["outcome"] == "matched" and why["rule_id"] == rule["id"]
    assert (why["priority"], why["team_id"], why["skills"]) == ("urgent", d.vip_team, ["vip"])
    assert why["checks"][0]["result"] == "matched" and why["checks"][0]["call_id"]
    normal_why = await decision(client, supervisor, first)
    assert normal_why["outcome"] == "no_match" and normal_why["priority"] is None
    assert normal_why["checks"][0]["result"] == "no_match"

    # each lookup went through the hub: call log and audit, as the rule's own identity,
    # the customer's mobile masked in both
    logged = await calls(db, d.org.id)
    assert [x.outcome for x in logged] == ["success"] * 3
    assert {(x.actor_type, x.actor_id) for x in logged} == {("routing_rule", rule["id"])}
    assert all(VIP["李娜"] not in str(x.params) for x in logged)
    called = await audit_rows(db, d.org.id, "connector.action_called")
    assert len(called) == 3 and {a.actor_type for a in called} == {"routing_rule"}
    assert str(why["checks"][0]["call_id"]) in {a.details["call_id"] for a in called}
    applied = await audit_rows(db, d.org.id, "routing.priority_applied")
    assert [str(a.target_id) for a in applied] == [str(vip)]

    # the VIP is done: the agent's next one is the oldest waiting conversation
    agent_headers = await login(client, d.org, "agent")
    r = await client.patch(f"{API}/conversations/{vip}", headers=agent_headers,
                           json={"status": "resolved"})  # fmt: skip
    assert r.status_code == 200, r.text
    await settle(db)
    assert (await state(db, d.org, first)).assignee_id == agent
    assert (await state(db, d.org, second)).assignee_id is None


async def test_non_vip_customers_get_normal_routing(
    client: httpx.AsyncClient, app: FastAPI, db: Database, crm: Crm
) -> None:
    d = await desk(client, app, db, "prio-normal")
    await connect_crm(client, d.owner, crm.url)
    await add_rule(client, d.owner, vip_rule(d.vip_team))
    await go_online(client, d.org, "admin")  # 售后一组
    await go_online(client, d.org, "agent", skills=["vip"])  # VIP 专席 (and 售后一组)
    normal = await customer_writes(client, db, d, "张伟", NORMAL["张伟"])
    unknown = await customer_writes(client, db, d, "路人甲", "13900001234")  # not in the CRM
    no_phone = await customer_writes(client, db, d, "访客", None)
    await settle(db)
    for conversation in (normal, unknown, no_phone):
        c = await state(db, d.org, conversation)
        assert (c.priority, str(c.team_id)) == ("normal", d.normal_team)
        assert c.assignee_id in (d.org.users["admin"], d.org.users["agent"])
        assert "vip" not in c.tags
    assert (await decision(client, d.owner, unknown))["outcome"] == "no_match"
    why = await decision(client, d.owner, no_phone)
    assert why["outcome"] == "no_match" and why["checks"][0]["result"] == "not_applicable"
    assert "mobile" in why["checks"][0]["reason"]
    assert len(await calls(db, d.org.id)) == 2  # nothing asked for the customer without phone

    # a disabled rule is not evaluated at all
    rule_id = (await client.get(f"{API}/routing/priority-rules", headers=d.owner)).json()[0]["id"]
    r = await client.put(f"{API}/routing/priority-rules/{rule_id}", headers=d.owner,
                         json=vip_rule(d.vip_team, enabled=False))  # fmt: skip
    assert r.status_code == 200 and r.json()["enabled"] is False
    vip = await customer_writes(client, db, d, "赵敏", VIP["赵敏"])
    await settle(db)
    assert (await state(db, d.org, vip)).priority == "normal"
    r = await client.get(f"{API}/routing/conversations/{vip}/decision", headers=d.owner)
    assert r.status_code == 404


async def test_crm_slow_or_down_routes_normally_with_the_reason(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    d = await desk(client, app, db, "prio-down")
    own = await start_crm()
    try:
        await connect_crm(client, d.owner, own.url)
        rule = await add_rule(client, d.owner, vip_rule(d.vip_team, timeout_seconds=0.3))
        await go_online(client, d.org, "admin")
        own.switch.delay = 1.5  # slower than the rule's timeout
        slow = await customer_writes(client, db, d, "李娜", VIP["李娜"])
        await settle(db)
        own.switch.delay = 0.0
    finally:
        await own.server.stop()
    # time enough for the connector's retries: the answer is the system's own failure
    r = await client.put(f"{API}/routing/priority-rules/{rule['id']}", headers=d.owner,
                         json=vip_rule(d.vip_team, timeout_seconds=5))  # fmt: skip
    assert r.status_code == 200, r.text
    down = await customer_writes(client, db, d, "赵敏", VIP["赵敏"])  # the CRM is gone
    await settle(db)
    admin = d.org.users["admin"]
    for conversation in (slow, down):
        c = await state(db, d.org, conversation)
        assert (c.priority, str(c.team_id), c.assignee_id) == ("normal", d.normal_team, admin)
    supervisor = await login(client, d.org, "supervisor")
    why = await decision(client, supervisor, slow)
    assert why["outcome"] == "failed" and why["checks"][0]["result"] == "failed"
    assert "crm.find_contact_by_mobile" in why["reason"] and "timeout" in why["reason"]
    assert "routed normally" in why["reason"]
    why = await decision(client, supervisor, down)
    assert why["outcome"] == "failed" and why["checks"][0]["call_id"]
    assert "crm.find_contact_by_mobile: connection_failed" in why["reason"]
    logged = await calls(db, d.org.id)
    assert [x.outcome for x in logged] == ["error", "error"]
    assert logged[0].error_code == "timeout"
    failures = [a for a in await audit_rows(db, d.org.id, "connector.action_called")
                if a.outcome == "failure"]  # fmt: skip
    assert len(failures) == 2


async def test_priority_rule_validation_and_isolation(
    client: httpx.AsyncClient, app: FastAPI, db: Database, crm: Crm
) -> None:
    d = await desk(client, app, db, "prio-rules")
    other = await desk(client, app, db, "prio-other")
    await connect_crm(client, d.owner, crm.url)
    url = f"{API}/routing/priority-rules"
    bad = {
        "instance": ({"instance": "erp"}, ["body", "instance"]),
        "action": ({"action": "find_by_mood"}, ["body", "action"]),
        "writes": ({"action": "add_tag"}, ["body", "action"]),
        "param": ({"params": {"phone": "{{ customer.phone }}"}}, ["body", "params", "phone"]),
        "root": ({"params": {"mobile": "{{ event.payload.mobile }}"}},
                 ["body", "params", "mobile"]),
        "required": ({"params": {}}, ["body", "params", "mobile"]),
        "literal": ({"params": {"mobile": "12345"}}, ["body", "params", "mobile"]),
        "jmespath": ({"condition": "result[0].tier =="}, ["body", "condition"]),
        "condition": ({"condition": "tier == 'gold'"}, ["body", "condition"]),
        "team": ({"team_id": other.vip_team}, ["body", "team_id"]),
        "nothing": ({"priority": None, "team_id": None, "skills": []}, ["body", "priority"]),
        "timeout": ({"timeout_seconds": 60}, ["body", "timeout_seconds"]),
    }  # fmt: skip
    for case, (change, loc) in bad.items():
        r = await client.post(url, headers=d.owner, json=vip_rule(d.vip_team, **change))
        assert r.status_code == 422, (case, r.text)
        assert r.json()["error"]["details"][0]["loc"] == loc, (case, r.text)
    rule = await add_rule(client, d.owner, vip_rule(d.vip_team))
    r = await client.post(url, headers=d.owner, json=vip_rule(d.vip_team))
    assert r.status_code == 409 and r.json()["error"]["code"] == "rule_exists"
    assert (await client.post(url, headers=await login(client, d.org, "agent"),
                              json=vip_rule(d.vip_team))).status_code == 403  # fmt: skip
    # least privilege: managing teams is not enough, the author must be able to run the lookup
    role = {"name": "routing-admin", "permissions": ["teams.manage"]}
    r = await client.post(f"{API}/roles", headers=d.owner, json=role)
    assert r.status_code == 201, r.text
    r = await client.patch(f"{API}/users/{d.org.users['supervisor']}", headers=d.owner,
                           json={"roles": ["routing-admin"]})  # fmt: skip
    assert r.status_code == 200, r.text
    r = await client.post(url, headers=await login(client, d.org, "supervisor"),
                          json=vip_rule(d.vip_team, name="mine"))  # fmt: skip
    assert r.status_code == 403 and r.json()["error"]["code"] == "least_privilege"

    # another organisation sees none of it
    one = f"{url}/{rule['id']}"
    for method, body in (("GET", None), ("PUT", vip_rule(other.vip_team)), ("DELETE", None)):
        r = await client.request(method, one, headers=other.owner, json=body)
        assert r.status_code == 404, (method, r.text)
    assert (await client.get(url, headers=other.owner)).json() == []
    conversation = await customer_writes(client, db, d, "张伟", NORMAL["张伟"])
    r = await client.get(f"{API}/routing/conversations/{conversation}/decision",
                         headers=other.owner)  # fmt: skip
    assert r.status_code == 404

    # the owner changes and deletes the rule; each change is audited
    r = await client.put(one, headers=d.owner, json=vip_rule(d.vip_team, priority="high"))
    assert r.status_code == 200 and r.json()["priority"] == "high"
    assert (await client.delete(one, headers=d.owner)).status_code == 204
    assert (await client.get(one, headers=d.owner)).status_code == 404
    async with db.job(d.org.id) as session:
        n = await session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action.like("routing.priority_rule_%")))  # fmt: skip
    assert n == 3


async def test_drain_waits_only_for_rules_still_to_decide(
    client: httpx.AsyncClient, app: FastAPI, db: Database, crm: Crm
) -> None:
    """A new conversation whose ``routing.assign`` job is still queued is left to its rules;
    one whose job ran without deciding (it was assigned then and has been put back in the
    queue since) is drained at once, not after UNDECIDED_GRACE."""
    d = await desk(client, app, db, "prio-drain")
    await connect_crm(client, d.owner, crm.url)
    await add_rule(client, d.owner, vip_rule(d.vip_team))

    # a customer writes: the bus enqueues the routing.assign job, which has not run yet
    new = await customer_writes(client, db, d, "张伟", NORMAL["张伟"])
    await settle(db, jobs=False)
    async with db.job(d.org.id) as session:
        assert new not in {c.id for c in await service.waiting(session)}
    await settle(db)  # the rules decided (no match): it waits in the queue like any other
    async with db.job(d.org.id) as session:
        assert new in {c.id for c in await service.waiting(session)}

    # the agent starts a conversation: theirs from the start, so its job decides nothing
    agent = d.org.users["agent"]
    agent_headers = await login(client, d.org, "agent")
    r = await client.post(f"{API}/customers", headers=d.owner, json={"name": "杨磊"})
    assert r.status_code == 201, r.text
    r = await client.post(f"{API}/conversations", headers=agent_headers, json={
        "inbox_id": str(d.inbox), "customer_id": r.json()["id"], "subject": "回访",
        "message": {"text": "您好，订单已经发出"}})  # fmt: skip
    assert r.status_code == 201, r.text
    started = uuid.UUID(r.json()["id"])
    await settle(db)
    assert (await state(db, d.org, started)).assignee_id == agent
    # a supervisor puts it back in the team's queue while nobody is online ...
    r = await client.post(f"{API}/conversations/{started}/assign",
                          headers=await login(client, d.org, "supervisor"),
                          json={"assignee_id": None, "team_id": d.normal_team})  # fmt: skip
    assert r.status_code == 200, r.text
    await settle(db)
    assert (await state(db, d.org, started)).assignee_id is None
    # ... and the agent coming online takes it at once (and the other one waiting)
    await go_online(client, d.org, "agent")
    await settle(db)
    assert (await state(db, d.org, started)).assignee_id == agent
    assert (await state(db, d.org, new)).assignee_id == agent
