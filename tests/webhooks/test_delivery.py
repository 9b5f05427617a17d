"""From an event to a signed POST on a real receiver: signatures (checked by the independent
``standardwebhooks`` package, also during a rotation overlap), masking by default and clear
data only for include_pii endpoints (audited), the retry schedule, the test message and the
read API."""

from __future__ import annotations

import datetime as dt
import json

import httpx
from conftest import Org, login
from sqlalchemy import select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from webhook_support import (  # noqa: F401 - fixtures
    API,
    ORDER,
    Clock,
    Receiver,
    clock_fixture,
    create_endpoint,
    deliveries,
    pending_jobs,
    publish,
    receiver_fixture,
    receiver_server_fixture,
    run_due,
    wh_fixture,
)

from relaydesk.audit.models import AuditEntry
from relaydesk.kit.db import Database
from relaydesk.webhooks.runtime import DEFAULT_SCHEDULE, WebhookRuntime, configure


async def test_event_is_delivered_signed_masked_and_clear_only_where_allowed(
    client: httpx.AsyncClient, org_a: Org, db: Database, wh: WebhookRuntime, receiver: Receiver
) -> None:
    owner = await login(client, org_a, "owner")
    masked = await create_endpoint(client, owner, receiver.url("ok"), event_types=["order.*"])
    clear = await create_endpoint(
        client, owner, receiver.url("ok"), event_types=["order.shipped"], include_pii=True
    )
    await create_endpoint(client, owner, receiver.url("ok"), event_types=["customer.*"])
    envelope = await publish(db, org_a.id, "order.shipped", ORDER)

    assert await run_due(db) == ["done", "done"]
    hits = receiver.of("ok")
    assert len(hits) == 2
    bodies = {}
    for hit in hits:
        assert hit.headers["content-type"] == "application/json"
        for endpoint in (masked, clear):
            try:
                bodies[endpoint["id"]] = Webhook(endpoint["secret"]).verify(hit.body, hit.headers)
            except WebhookVerificationError:
                continue
    assert set(bodies) == {masked["id"], clear["id"]}, "each hit verifies with its own secret"
    assert hits[0].headers["webhook-id"] == hits[1].headers["webhook-id"]

    data = bodies[masked["id"]]
    assert data["type"] == "order.shipped" and data["timestamp"].endswith("Z")
    assert data["data"]["customer_phone"] == "139****5678"
    assert data["data"]["receiver_address"] == "广东省深圳市南山区****"
    assert data["data"]["remark"] == "请联系 137****1111"
    assert data["data"]["order_no"] == ORDER["order_no"]
    assert {k: bodies[clear["id"]]["data"][k] for k in ORDER} == ORDER

    messages = (await client.get(f"{API}/messages", headers=owner)).json()["items"]
    assert len(messages) == 1 and messages[0]["event_id"] == str(envelope.id)
    assert messages[0]["id"] == hits[0].headers["webhook-id"]
    assert messages[0]["payload"]["customer_phone"] == "139****5678"
    detail = (await client.get(f"{API}/messages/{messages[0]['id']}", headers=owner)).json()
    assert {d["status"] for d in detail["deliveries"]} == {"succeeded"}
    assert {d["clear_pii"] for d in detail["deliveries"]} == {True, False}
    one = (
        await client.get(f"{API}/deliveries/{detail['deliveries'][0]['id']}", headers=owner)
    ).json()
    [attempt] = one["attempts_log"]
    assert attempt["outcome"] == "succeeded" and attempt["status_code"] == 200
    assert attempt["latency_ms"] > 0
    assert len(attempt["response_body"]) == 1024, "bodies are truncated to 1 KB"
    assert attempt["response_body"].startswith("received 139****1111")

    async with db.job(org_a.id) as session:
        audit = (await session.scalars(
            select(AuditEntry).where(AuditEntry.action == "webhook.pii_sent")
        )).all()  # fmt: skip
    assert len(audit) == 1 and audit[0].details["endpoints"] == [clear["id"]]


async def test_rotation_overlap_sends_both_signatures(
    client: httpx.AsyncClient, org_a: Org, db: Database, wh: WebhookRuntime, receiver: Receiver,
    clock: Clock,
) -> None:  # fmt: skip
    owner = await login(client, org_a, "owner")
    created = await create_endpoint(client, owner, receiver.url("ok"))
    old = created["secret"]
    r = await client.post(f"{API}/endpoints/{created['id']}/rotate-secret", headers=owner,
                          json={"overlap_seconds": 3600})  # fmt: skip
    new = r.json()["secret"]

    await publish(db, org_a.id, "custom.ping", {"n": 1})
    await run_due(db)
    [hit] = receiver.of("ok")
    assert len(hit.headers["webhook-signature"].split(" ")) == 2
    assert Webhook(new).verify(hit.body, hit.headers)["data"] == {"n": 1}
    assert Webhook(old).verify(hit.body, hit.headers)["data"] == {"n": 1}

    clock.advance(seconds=3601)  # the overlap is over: only the new secret signs
    await publish(db, org_a.id, "custom.ping", {"n": 2})
    await run_due(db)
    hit = receiver.of("ok")[1]
    assert len(hit.headers["webhook-signature"].split(" ")) == 1
    assert Webhook(new).verify(hit.body, hit.headers)["data"] == {"n": 2}
    try:
        Webhook(old).verify(hit.body, hit.headers)
    except WebhookVerificationError:
        pass
    else:  # pragma: no cover - failure
        raise AssertionError("the old secret still verifies after the overlap")


async def test_retries_follow_the_schedule_then_fail(
    client: httpx.AsyncClient, org_a: Org, db: Database, wh: WebhookRuntime, receiver: Receiver,
    clock: Clock,
) -> None:  # fmt: skip
    configure(breaker_threshold=100)  # the breaker is tested on its own
    owner = await login(client, org_a, "owner")
    await create_endpoint(client, owner, receiver.url("fail"))
    await publish(db, org_a.id, "custom.ping", {})
    assert await run_due(db) == ["done"]  # the job ran; the attempt failed
    for expected in DEFAULT_SCHEDULE[1:]:
        [job] = await pending_jobs(db)
        delay = (job.run_at - clock.now).total_seconds()
        assert expected * 0.9 - 0.01 <= delay <= expected * 1.1 + 0.01, (expected, delay)
        clock.now = job.run_at
        assert await run_due(db, now=job.run_at) == ["done"]
    assert await pending_jobs(db) == []
    [row] = await deliveries(db, org_a.id)
    assert row.status == "failed" and row.attempts == len(DEFAULT_SCHEDULE) == 8
    assert row.last_status_code == 500 and row.next_attempt_at is None
    hits = receiver.of("fail")
    assert len(hits) == 8 and len({h.headers["webhook-id"] for h in hits}) == 1
    detail = (await client.get(f"{API}/deliveries/{row.id}", headers=owner)).json()
    assert [a["attempt"] for a in detail["attempts_log"]] == list(range(1, 9))
    assert detail["attempts_log"][-1]["next_attempt_at"] is None
    assert detail["attempts_log"][0]["error"] == "HTTP 500"
    total = sum(DEFAULT_SCHEDULE)
    assert total > 24 * 3600, "retries span more than a day"


async def test_test_message_and_listings(
    client: httpx.AsyncClient, org_a: Org, db: Database, wh: WebhookRuntime, receiver: Receiver
) -> None:
    owner = await login(client, org_a, "owner")
    created = await create_endpoint(client, owner, receiver.url("ok"), enabled=False)
    r = await client.post(f"{API}/endpoints/{created['id']}/test", headers=owner, json={})
    assert r.status_code == 202, r.text
    delivery = r.json()
    assert delivery["trigger"] == "test" and delivery["status"] == "pending"
    await run_due(db)
    [hit] = receiver.of("ok")
    body = Webhook(created["secret"]).verify(hit.body, hit.headers)
    assert body["type"] == "webhook.test" and body["data"]["endpoint_id"] == created["id"]
    listed = (
        await client.get(f"{API}/deliveries?endpoint_id={created['id']}&status=succeeded",
                         headers=owner)
    ).json()["items"]  # fmt: skip
    assert [d["id"] for d in listed] == [delivery["id"]]
    assert (await client.get(f"{API}/deliveries?status=failed", headers=owner)).json()[
        "items"
    ] == []
    r = await client.post(f"{API}/endpoints/{created['id']}/test", headers=owner,
                          json={"event_type": "Not A Type"})  # fmt: skip
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == ["body", "event_type"]
    messages = (await client.get(f"{API}/messages?event_type=webhook.test", headers=owner)).json()
    assert len(messages["items"]) == 1 and messages["items"][0]["origin"] == "test"
    assert json.loads(hit.body)["timestamp"] <= dt.datetime.now(dt.UTC).isoformat() + "Z"
