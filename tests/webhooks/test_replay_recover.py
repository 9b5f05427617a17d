"""Replay one message (to one or every endpoint), recover every failed delivery since T, and
the ``webhook.send`` rule action."""

from __future__ import annotations

import uuid
from typing import Any, cast

import httpx
from conftest import Org, login
from standardwebhooks import Webhook
from webhook_support import (  # noqa: F401 - fixtures
    API,
    Receiver,
    clock_fixture,
    create_endpoint,
    deliveries,
    publish,
    receiver_fixture,
    receiver_server_fixture,
    run_due,
    wh_fixture,
)

from relaydesk.automation.actions import ActionContext, ActionFailed, action_type
from relaydesk.kit.db import Database, utcnow
from relaydesk.webhooks import rule_actions  # noqa: F401 - registers webhook.send
from relaydesk.webhooks.runtime import WebhookRuntime, configure


async def test_replay_one_message_to_one_or_all_endpoints(
    client: httpx.AsyncClient, org_a: Org, db: Database, wh: WebhookRuntime, receiver: Receiver
) -> None:
    owner = await login(client, org_a, "owner")
    first = await create_endpoint(client, owner, receiver.url("ok"), event_types=["custom.*"])
    second = await create_endpoint(client, owner, receiver.url("ok"), event_types=["custom.ping"])
    await create_endpoint(client, owner, receiver.url("ok"), event_types=["order.*"])
    await publish(db, org_a.id, "custom.ping", {"n": 1})
    await run_due(db)
    [message] = (await client.get(f"{API}/messages", headers=owner)).json()["items"]
    replay = f"{API}/messages/{message['id']}/replay"

    r = await client.post(replay, headers=owner, json={"endpoint_id": second["id"]})
    assert r.status_code == 202, r.text
    [again] = r.json()["deliveries"]
    assert again["trigger"] == "replay" and again["endpoint_id"] == second["id"]
    r = await client.post(replay, headers=owner)  # every enabled endpoint it matches
    assert {d["endpoint_id"] for d in r.json()["deliveries"]} == {first["id"], second["id"]}
    await run_due(db)
    hits = receiver.of("ok")
    assert len(hits) == 5
    assert {h.headers["webhook-id"] for h in hits} == {message["id"]}, "the same webhook-id"
    assert Webhook(second["secret"]).verify(hits[2].body, hits[2].headers)["data"] == {"n": 1}

    r = await client.post(replay, headers=owner, json={"endpoint_id": str(uuid.uuid4())})
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["loc"] == ["body", "endpoint_id"]
    await client.patch(f"{API}/endpoints/{first['id']}", headers=owner, json={"enabled": False})
    r = await client.post(replay, headers=owner, json={"endpoint_id": first["id"]})
    assert r.status_code == 409 and r.json()["error"]["code"] == "endpoint_disabled"
    assert (
        await client.post(f"{API}/messages/{uuid.uuid4()}/replay", headers=owner)
    ).status_code == 404


async def test_recover_failed_deliveries_since_t(
    client: httpx.AsyncClient, org_a: Org, db: Database, wh: WebhookRuntime, receiver: Receiver
) -> None:
    configure(schedule=(0,), breaker_threshold=100)  # one attempt: failures are final at once
    owner = await login(client, org_a, "owner")
    created = await create_endpoint(client, owner, receiver.url("flaky"))
    receiver.script = [500, 500, 500]
    await publish(db, org_a.id, "custom.ping", {"n": "before"})
    await run_due(db)
    since = utcnow()
    await publish(db, org_a.id, "custom.ping", {"n": "after-1"})
    await publish(db, org_a.id, "custom.ping", {"n": "after-2"})
    await run_due(db)
    assert [r.status for r in await deliveries(db, org_a.id)] == ["failed"] * 3

    recover = f"{API}/endpoints/{created['id']}/recover"
    r = await client.post(recover, headers=owner, json={"since": since.isoformat()})
    assert r.status_code == 200, r.text
    assert r.json() == {"recovered": 2, "more": False}
    await run_due(db)
    rows = await deliveries(db, org_a.id)
    assert [(r.trigger, r.status) for r in rows] == [
        ("event", "failed"), ("event", "failed"), ("event", "failed"),
        ("recover", "succeeded"), ("recover", "succeeded"),
    ]  # fmt: skip
    assert rows[0].superseded_by is None and {rows[1].superseded_by, rows[2].superseded_by} == {
        rows[3].id, rows[4].id}  # fmt: skip
    sent = sorted(h.body.decode() for h in receiver.of("flaky")[3:])
    assert '"after-1"' in sent[0] and '"after-2"' in sent[1]
    r = await client.post(recover, headers=owner, json={"since": since.isoformat()})
    assert r.json() == {"recovered": 0, "more": False}, "recovered only once"

    r = await client.post(recover, headers=owner, json={"since": "2026-01-01T00:00:00"})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == ["body", "since"]
    r = await client.post(recover, headers=owner, json={
        "since": since.isoformat(), "until": since.isoformat()})  # fmt: skip
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == ["body", "until"]
    await client.patch(f"{API}/endpoints/{created['id']}", headers=owner, json={"enabled": False})
    r = await client.post(recover, headers=owner, json={"since": since.isoformat()})
    assert r.status_code == 409
    reader = await login(client, org_a, "read-only")
    r = await client.post(recover, headers=reader, json={"since": since.isoformat()})
    assert r.status_code == 403


async def test_webhook_send_rule_action(
    client: httpx.AsyncClient, org_a: Org, db: Database, wh: WebhookRuntime, receiver: Receiver
) -> None:
    owner = await login(client, org_a, "owner")
    created = await create_endpoint(client, owner, receiver.url("ok"), event_types=["order.*"])
    action = action_type("webhook.send")
    assert action is not None and action.transactional and action.permission == "webhooks.manage"
    params = action.params_model.model_validate({
        "endpoint_id": created["id"], "event_type": "custom.vip_alert",
        "payload": {"customer_phone": "13912345678", "text": "VIP 客户来电"},
    })  # fmt: skip
    async with db.job(org_a.id) as session:
        ctx = cast(Any, ActionContext)(
            db=db, tenant_id=org_a.id, principal=None, runtime=None, rule_id=uuid.uuid4(),
            rule_name="vip", execution_id=uuid.uuid4(), step_id="s1", trigger=None, context={},
            idempotency_key="k", session=session,
        )  # fmt: skip
        output = await action.run(ctx, params)
        assert action.check is not None
        assert await action.check(session, {"endpoint_id": created["id"]}, frozenset()) == []
        missing = await action.check(session, {"endpoint_id": str(uuid.uuid4())}, frozenset())
        assert missing and missing[0][0] == ("endpoint_id",)
    assert isinstance(output, dict) and output["endpoint_id"] == created["id"]
    await run_due(db)
    [hit] = receiver.of("ok")
    body = Webhook(created["secret"]).verify(hit.body, hit.headers)
    assert body["type"] == "custom.vip_alert"
    assert body["data"] == {"customer_phone": "139****5678", "text": "VIP 客户来电"}

    await client.patch(f"{API}/endpoints/{created['id']}", headers=owner, json={"enabled": False})
    async with db.job(org_a.id) as session:
        ctx.session = session
        try:
            await action.run(ctx, params)
        except ActionFailed as exc:
            assert exc.code == "endpoint_disabled"
        else:  # pragma: no cover - failure
            raise AssertionError("a disabled endpoint must fail the step")
