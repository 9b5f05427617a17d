"""The demo "refund" saga against the real demo systems: the happy path, a refused refund
rolled back (ticket closed with the reason), events, audit and call log."""

from __future__ import annotations

import httpx
from sagas.saga_fixtures import *  # noqa: F403 - the saga fixtures
from sagas.saga_support import API, BIG_ORDER, ORDER, Systems, drive, events_of, saga, start
from sqlalchemy import select

from relaydesk.audit.models import AuditEntry
from relaydesk.integrations.models import ConnectorCall
from relaydesk.kit.db import Database


async def test_refund_runs_every_step_and_completes(
    client: httpx.AsyncClient, owner: dict[str, str], refund: str, systems: Systems,
    db: Database,
) -> None:  # fmt: skip
    r = await start(client, owner, ORDER)
    assert r.status_code == 202, r.text
    started = r.json()
    assert started["status"] == "running" and started["definition_version"] == 1
    assert [s["status"] for s in started["steps"]] == ["pending"] * 4
    assert systems.tickets_for(ORDER["order_no"]) == [], "nothing runs inside the request"

    await drive(db)
    body = await saga(client, owner, started["id"])
    assert body["status"] == "completed", body
    assert body["finished_at"] is not None and body["error"] is None
    steps = {s["name"]: s for s in body["steps"]}
    assert [s["status"] for s in body["steps"]] == ["succeeded"] * 4
    assert all(s["attempts"] == 1 and s["call_id"] for s in body["steps"])

    # the ticket system, the order system and the CRM each hold exactly what the saga wrote
    (ticket,) = systems.tickets_for(ORDER["order_no"])
    assert steps["ticket"]["output"]["ticket_no"] == ticket.ticket_no
    assert ticket.category == "退款售后" and started["id"].replace("-", "") in ticket.content
    (refund_row,) = [r for r in systems.refunds_for(ORDER["order_no"]) if r.status == "PENDING"]
    assert refund_row.out_refund_no == f"{started['id'].replace('-', '')}-1"
    assert steps["refund"]["output"]["refund_id"] == refund_row.refund_id
    contact = systems.state("crm").contacts[steps["contact"]["output"][0]["id"]]
    (note,) = [n for n in contact.notes if n.note_id == steps["note"]["output"]["id"]]
    assert refund_row.refund_id in note.content and ticket.ticket_no in note.content
    assert steps["note"]["compensation"]["action"] == "crm.delete_note"
    assert steps["ticket"]["compensation"] == {
        "status": "none", "action": "tickets.close_ticket", "attempts": 0, "params": None,
        "error": None, "call_id": None, "at": None}  # fmt: skip

    # one event, in the transaction that completed it; the calls are audited as the starter
    (event,) = await events_of(db)
    assert event.type == "saga.completed" and event.key == started["id"]
    assert event.payload["input"]["customer_mobile"] != ORDER["customer_mobile"], "masked"
    assert [s["status"] for s in event.payload["steps"]] == ["succeeded"] * 4
    async with db.job(system=True) as session:
        calls = (await session.execute(select(ConnectorCall))).scalars().all()
        audited = (await session.execute(
            select(AuditEntry).where(AuditEntry.action.in_(("saga.started",
                                                            "connector.action_called")))
        )).scalars().all()  # fmt: skip
    assert sorted(c.action for c in calls) == sorted(
        ["create_ticket", "request_refund", "find_contact_by_mobile", "add_note"]
    )
    assert all(c.priority == "background" and c.outcome == "success" for c in calls)
    assert {a.action for a in audited} == {"saga.started", "connector.action_called"}
    assert all("saga refund" in (a.actor_label or "") for a in audited
               if a.action == "connector.action_called")  # fmt: skip


async def test_refused_refund_closes_the_ticket_with_the_reason(
    client: httpx.AsyncClient, owner: dict[str, str], refund: str, systems: Systems,
    db: Database,
) -> None:  # fmt: skip
    r = await start(client, owner, BIG_ORDER)
    assert r.status_code == 202, r.text
    await drive(db)

    body = await saga(client, owner, r.json()["id"])
    assert body["status"] == "compensated", body
    assert body["error"]["step"] == "refund" and body["error"]["code"] == "refund_needs_review"
    steps = {s["name"]: s for s in body["steps"]}
    assert [steps[n]["status"] for n in ("ticket", "refund", "contact", "note")] == [
        "succeeded",
        "failed",
        "cancelled",
        "cancelled",
    ]
    assert steps["refund"]["attempts"] == 1, "a refusal is not retried"
    undo = steps["ticket"]["compensation"]
    assert undo["status"] == "done" and undo["attempts"] == 1 and undo["call_id"]
    assert undo["action"] == "tickets.close_ticket"

    (ticket,) = systems.tickets_for(BIG_ORDER["order_no"])
    assert ticket.status == "CLOSED"
    assert ticket.ticket_no == steps["ticket"]["output"]["ticket_no"]
    remark = ticket.history[-1].remark
    assert remark.startswith("退款未完成：") and "5000.00" in remark, remark
    assert systems.refunds_for(BIG_ORDER["order_no"]) == [], "the order system refused it"

    (event,) = await events_of(db)
    assert event.type == "saga.compensated"
    assert event.payload["error"]["code"] == "refund_needs_review"
    assert event.payload["steps"][0]["compensation"] == "done"
    listed = await client.get(f"{API}/sagas?status=compensated", headers=owner)
    assert [s["id"] for s in listed.json()["items"]] == [body["id"]]
    assert listed.json()["items"][0]["steps"] is None
