"""A worker dies while a step's call is in flight: the system did the work, the answer never
came back. Its job's lease expires and another worker carries on: an idempotent step is sent
again (the system de-duplicates), a non-idempotent one is verified (found: no duplicate) or,
without verify, marked unknown and the earlier steps are undone. Compensations are recorded
once and a repeated undo counts as done."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
from conftest import login, make_org
from sagas.saga_fixtures import *  # noqa: F403 - the saga fixtures
from sagas.saga_support import (
    API,
    BIG_ORDER,
    ORDER,
    Systems,
    cancel_when,
    connect,
    count,
    demo_systems,
    drive,
    events_of,
    run_jobs,
    saga,
    start,
)
from sqlalchemy import select

from relaydesk.app import create_app
from relaydesk.cli.serve import prepare_database
from relaydesk.config import SecuritySettings, Settings
from relaydesk.demo.sagas import REFUND
from relaydesk.integrations.models import ConnectorCall
from relaydesk.jobs import JobRunner, enqueue
from relaydesk.kit.db import Database
from relaydesk.sagas.api import router
from relaydesk.sagas.calls import bind_runtime
from relaydesk.sagas.models import Saga
from relaydesk.sagas.state import STEP_JOB, UNDO_JOB

LEASE = 0.3


async def _kill_during(db: Database, systems: Systems, system: str, method: str, path: str) -> None:
    """Run due jobs in a worker that is killed once ``system`` has done the ``method path``
    request (its answer held back); then wait until the dead worker's lease has expired."""
    gate = systems.gates[system]
    gate.hold(method, path)
    worker = asyncio.create_task(JobRunner(db, concurrency=1, lease_seconds=LEASE).run_once())
    await cancel_when(gate.arrived, worker)
    gate.open()
    await asyncio.sleep(LEASE + 0.05)


async def test_killed_during_the_refund_call_resumes_without_duplicates(
    client: httpx.AsyncClient, owner: dict[str, str], refund: str, systems: Systems,
    db: Database,
) -> None:  # fmt: skip
    saga_id = (await start(client, owner, ORDER)).json()["id"]
    await run_jobs(db, 1)  # step 1: the ticket
    await _kill_during(db, systems, "orders", "POST", "/refunds")

    stuck = await saga(client, owner, saga_id)
    assert stuck["status"] == "running"
    assert [s["status"] for s in stuck["steps"]][:2] == ["succeeded", "running"]
    (made,) = systems.refunds_for(ORDER["order_no"])  # it happened; Relaydesk does not know

    await drive(db)  # another worker: request_refund is idempotent (out_refund_no), sent again
    body = await saga(client, owner, saga_id)
    assert body["status"] == "completed", body
    steps = {s["name"]: s for s in body["steps"]}
    assert steps["refund"]["attempts"] == 2 and steps["ticket"]["attempts"] == 1
    assert systems.refunds_for(ORDER["order_no"]) == [made], "the same refund, not a second"
    assert steps["refund"]["output"]["refund_id"] == made.refund_id
    assert len(systems.tickets_for(ORDER["order_no"])) == 1, "no duplicate ticket"
    assert [e.type for e in await events_of(db)] == ["saga.completed"]


async def test_killed_during_ticket_creation_finds_the_ticket_instead_of_a_second(
    client: httpx.AsyncClient, owner: dict[str, str], refund: str, systems: Systems,
    db: Database,
) -> None:  # fmt: skip
    saga_id = (await start(client, owner, ORDER)).json()["id"]
    await _kill_during(db, systems, "tickets", "POST", "/tickets")
    (ticket,) = systems.tickets_for(ORDER["order_no"])

    await drive(db)  # create_ticket is not idempotent: verify looks for the saga's reference
    body = await saga(client, owner, saga_id)
    assert body["status"] == "completed", body
    first = body["steps"][0]
    assert first["output"]["ticket_no"] == ticket.ticket_no
    assert first["attempts"] == 2, "the lost call and the verification, no second create"
    assert systems.tickets_for(ORDER["order_no"]) == [ticket]
    async with db.job(system=True) as session:
        calls = (await session.execute(select(ConnectorCall.action))).scalars().all()
    assert sorted(calls) == sorted(["list_tickets_by_mobile", "request_refund",
                                    "find_contact_by_mobile", "add_note"])  # fmt: skip


NOTE_ONLY: dict[str, Any] = {
    "name": "ticket-and-note",
    "input": REFUND["input"],
    "steps": [REFUND["steps"][0] | {"verify": None}, REFUND["steps"][2],
              {k: v for k, v in REFUND["steps"][3].items() if k != "when"}
              | {"params": {"contact_id": "{{ steps.contact.output[0].id }}",
                            "content": "退款 {{ input.order_no }}"}}],
}  # fmt: skip


async def test_unknown_outcome_without_verify_undoes_the_rest_and_asks_a_person(
    client: httpx.AsyncClient, owner: dict[str, str], connected: dict[str, str],
    systems: Systems, db: Database,
) -> None:  # fmt: skip
    r = await client.post(f"{API}/sagas/definitions", headers=owner,
                          json={"definition": NOTE_ONLY})  # fmt: skip
    assert r.status_code == 201, r.text
    saga_id = (await start(client, owner, ORDER, definition="ticket-and-note")).json()["id"]
    await run_jobs(db, 2)  # the ticket, the contact
    await _kill_during(db, systems, "crm", "POST", "/notes")

    await drive(db)
    body = await saga(client, owner, saga_id)
    assert body["status"] == "failed", body
    note = body["steps"][2]
    assert note["status"] == "unknown" and note["attempts"] == 1, "not sent a second time"
    assert "check crm by hand" in note["attention"]
    assert body["error"]["code"] == "outcome_unknown"
    (ticket,) = systems.tickets_for(ORDER["order_no"])
    assert ticket.status == "CLOSED", "the steps before were undone"
    assert "outcome unknown" in ticket.history[-1].remark
    (event,) = await events_of(db)
    assert event.type == "saga.failed" and "check crm by hand" in event.payload["attention"][0]


async def test_compensation_killed_in_flight_is_not_applied_twice(
    client: httpx.AsyncClient, owner: dict[str, str], refund: str, systems: Systems,
    db: Database,
) -> None:  # fmt: skip
    saga_id = (await start(client, owner, BIG_ORDER)).json()["id"]
    await run_jobs(db, 2)  # the ticket; the refund, refused
    await _kill_during(db, systems, "tickets", "POST", "/close")
    (ticket,) = systems.tickets_for(BIG_ORDER["order_no"])
    assert ticket.status == "CLOSED"
    assert (await saga(client, owner, saga_id))["status"] == "compensating"

    await drive(db)  # sent again: ticket_closed is one of its done_codes
    body = await saga(client, owner, saga_id)
    assert body["status"] == "compensated", body
    undo = body["steps"][0]["compensation"]
    assert undo["status"] == "done" and undo["attempts"] == 2
    assert [h.new_status for h in ticket.history].count("CLOSED") == 1

    # the jobs are delivered again (at least once): nothing more happens
    calls = await count(db, ConnectorCall)
    tenant = await _tenant(db, saga_id)
    async with db.job(tenant) as session:
        for kind in (UNDO_JOB, STEP_JOB):
            await enqueue(session, kind, {"saga_id": saga_id, "position": 0}, tenant_id=tenant)
    await drive(db)
    assert await count(db, ConnectorCall) == calls
    assert (await saga(client, owner, saga_id)) == body
    assert [e.type for e in await events_of(db)] == ["saga.compensated"]


async def _tenant(db: Database, saga_id: str) -> uuid.UUID:
    async with db.job(system=True) as session:
        row = await session.get(Saga, uuid.UUID(saga_id))
        assert row is not None
        return row.tenant_id


WORKER = """
import asyncio
import relaydesk.models
import relaydesk.sagas.runner
from relaydesk.config import get_settings
from relaydesk.jobs import JobRunner
from relaydesk.kit.db import Database

async def main():
    db = Database.from_url(get_settings().database_url)
    await JobRunner(db, lease_seconds=1.0, poll_seconds=0.05).run_forever(asyncio.Event())

asyncio.run(main())
"""


async def test_sigkilled_worker_process_is_taken_over(tmp_path: Path) -> None:
    """A real worker process (SQLite file) killed with SIGKILL while the ticket system has
    created the ticket; a worker in this process takes the job over when the lease ends."""
    secret = "sagas-test-secret-" + "k" * 40
    settings = Settings(data_dir=tmp_path / "var", security=SecuritySettings(secret_key=secret))  # type: ignore[arg-type]
    await prepare_database(settings)
    db = Database.from_url(settings.database_url)
    app = create_app(settings, db=db)
    app.include_router(router, prefix=API)
    bind_runtime(db, app.state.connectors, app.state.keyring)
    env = {**os.environ, "RELAYDESK_DATA_DIR": str(settings.data_dir),
           "RELAYDESK_SECURITY__SECRET_KEY": secret, "RELAYDESK_LOG_LEVEL": "WARNING"}  # fmt: skip
    try:
        org = await make_org(db, "acme")
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with (
            demo_systems() as systems,
            httpx.AsyncClient(transport=transport, base_url="http://t") as client,
        ):
            owner = await login(client, org, "owner")
            await connect(client, owner, systems.urls)
            r = await client.post(f"{API}/sagas/definitions", headers=owner,
                                  json={"definition": REFUND})  # fmt: skip
            assert r.status_code == 201, r.text
            gate = systems.gates["tickets"]
            gate.hold("POST", "/tickets")
            saga_id = (await start(client, owner, ORDER)).json()["id"]
            log = (tmp_path / "worker.log").open("wb")
            worker = await asyncio.create_subprocess_exec(
                sys.executable, "-c", WORKER, env=env, stdout=log, stderr=log
            )
            try:
                await asyncio.wait_for(gate.arrived.wait(), 15)
            except TimeoutError:
                raise AssertionError((tmp_path / "worker.log").read_text()[-3000:]) from None
            finally:
                worker.kill()
                await worker.wait()
                log.close()
            gate.open()
            (ticket,) = systems.tickets_for(ORDER["order_no"])
            assert (await saga(client, owner, saga_id))["steps"][0]["status"] == "running"

            await asyncio.sleep(1.1)  # the dead worker's lease
            await drive(db)
            body = await saga(client, owner, saga_id)
            assert body["status"] == "completed", body
            assert body["steps"][0]["output"]["ticket_no"] == ticket.ticket_no
            assert systems.tickets_for(ORDER["order_no"]) == [ticket]
            assert len(systems.refunds_for(ORDER["order_no"])) == 1
    finally:
        await app.state.connectors.aclose()
        await db.dispose()
