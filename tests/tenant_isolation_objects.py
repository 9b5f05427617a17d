"""The objects of tenant A the isolation meta-test (test_tenant_isolation.py) reaches for.

FACTORIES: one per path parameter, creating the object in tenant A; BODIES: a body each write
operation would accept if the object were the caller's own; READ_BACK: where the owner reads an
object back to show it unchanged.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from conftest import Org

API = "/api/v1"
Factory = Callable[[httpx.AsyncClient, dict[str, str], Org], Awaitable[str]]


async def _post(
    client: httpx.AsyncClient, headers: dict[str, str], path: str, body: dict[str, Any]
) -> str:
    r = await client.post(f"{API}{path}", headers=headers, json=body)
    assert r.status_code == 201, f"{path}: {r.status_code} {r.text}"
    return str(r.json()["id"])


async def _department(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    return await _post(c, h, "/departments", {"name": "售后服务部"})


async def _team(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    return await _post(c, h, "/teams", {"name": "VIP 专席"})


async def _role(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    return await _post(c, h, "/roles", {"name": "night-shift", "permissions": ["users.read"]})


async def _user(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    return str(org.users["agent"])


async def _key(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    return await _post(c, h, "/api-keys", {"name": "erp", "permissions": ["customers.read"]})


async def _customer(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    return await _post(
        c,
        h,
        "/customers",
        {
            "name": "王小明",
            "phone": "13912345678",
            "id_number": "11010519491231002X",
            "email": "wang@example.cn",
            "address": "上海市浦东新区世纪大道100号",
        },
    )


CONNECTOR_SPEC = """\
apiVersion: relaydesk.io/v1
kind: http
name: parcels
config:
  base_url: {type: string, required: true}
  token: {type: string, required: true, secret: true}
http: {base_url: "{{ config.base_url }}"}
auth: {type: bearer, token: "{{ config.token }}"}
actions:
  track_parcel:
    effect: read
    params: {parcel_no: {type: string, required: true}}
    request: {path: "/parcels/{{ params.parcel_no }}"}
"""


async def _connector_instance(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    config = {"base_url": "http://erp.example.com", "token": "t0ken-of-tenant-a"}
    return await _post(c, h, "/connector-instances", {"spec": CONNECTOR_SPEC, "config": config})


async def _connector_action(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    return "track_parcel"  # an action of the instance above


async def _inbox(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    return await _post(c, h, "/inboxes", {"name": "官网在线客服", "channel": "email"})


async def _conversation(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    customer = await _post(c, h, "/customers", {"name": "赵敏", "phone": "13700001111"})
    inbox = await _post(c, h, "/inboxes", {"name": "售后邮箱", "channel": "email"})
    return await _post(c, h, "/conversations", {
        "inbox_id": inbox, "customer_id": customer, "subject": "发票",
        "message": {"text": "您好"}})  # fmt: skip


async def _canned(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    return await _post(c, h, "/canned-responses",
                       {"shortcut": "bye", "title": "再见", "body": "感谢您的耐心"})  # fmt: skip


SAGA_DEFINITION = {
    "name": "track",
    "steps": [
        {
            "name": "track",
            "instance": "parcels-saga",
            "action": "track_parcel",
            "params": {"parcel_no": "SF1234567890"},
        }
    ],
}


async def _saga_setup(c: httpx.AsyncClient, h: dict[str, str]) -> str:
    """An instance and a saga definition "track" (once), for the two saga factories."""
    config = {"base_url": "http://erp.example.com", "token": "t0ken-of-tenant-a"}
    r = await c.post(
        f"{API}/connector-instances",
        headers=h,
        json={"name": "parcels-saga", "spec": CONNECTOR_SPEC, "config": config},
    )
    assert r.status_code in (201, 409), r.text
    r = await c.post(f"{API}/sagas/definitions", headers=h, json={"definition": SAGA_DEFINITION})
    assert r.status_code in (201, 409), r.text
    listed = (await c.get(f"{API}/sagas/definitions", headers=h)).json()["items"]
    return str(next(d["id"] for d in listed if d["name"] == "track"))


async def _saga_definition(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    return await _saga_setup(c, h)


async def _saga(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    await _saga_setup(c, h)
    r = await c.post(f"{API}/sagas", headers=h, json={"definition": "track", "input": {}})
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


RULE = {
    "name": "大单发货提醒",
    "trigger": {"type": "event", "event": "order.shipped"},
    "actions": [{"type": "notify", "params": {"role": "supervisor", "title": "大单"}}],
}


async def _rule(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    return await _post(c, h, "/rules", RULE)


async def _notification(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    return await _post(c, h, "/notifications/test", {})


async def _attribute(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    r = await c.post(f"{API}/customers/attribute-definitions", headers=h, json={
        "key": "vip_level", "label_zh": "VIP 等级", "label_en": "VIP level", "type": "enum",
        "options": ["金卡", "银卡"]})  # fmt: skip
    assert r.status_code == 201, r.text
    return "vip_level"


async def _identity(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    """The phone identity of the customer made by ``_customer`` (same number)."""
    r = await c.get(f"{API}/customers", headers=h, params={"identity": "13912345678"})
    return str(r.json()["items"][0]["identities"][0]["id"])


async def _suggestion(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    """A second customer with ``_customer``'s phone: a merge suggestion."""
    await _post(c, h, "/customers", {"name": "王小明", "phone": "139 1234 5678"})
    r = await c.get(f"{API}/customers/merge-suggestions", headers=h)
    return str(r.json()["items"][0]["id"])


async def _app(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    return await _post(c, h, "/apps", {"name": "ERP", "url": "https://erp.example.com/embed"})


async def _webhook_endpoint(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    hook = {"url": "http://127.0.0.1:9/hook", "allow_network": ["127.0.0.1"]}
    return await _post(c, h, "/webhooks/endpoints", hook)


async def _webhook_test(c: httpx.AsyncClient, h: dict[str, str]) -> dict[str, Any]:
    endpoint = await _webhook_endpoint(c, h, Org(uuid.uuid4(), "x"))
    r = await c.post(f"{API}/webhooks/endpoints/{endpoint}/test", headers=h, json={})
    assert r.status_code == 202, r.text
    return dict(r.json())


async def _webhook_message(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    return str((await _webhook_test(c, h))["message_id"])


async def _webhook_delivery(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    return str((await _webhook_test(c, h))["id"])


async def _panel(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    config = {"base_url": "http://erp.example.com", "token": "t0ken-of-tenant-a"}
    await _post(c, h, "/connector-instances",
                {"name": "parcels-panel", "spec": CONNECTOR_SPEC, "config": config})  # fmt: skip
    r = await c.post(
        f"{API}/customer-panels",
        headers=h,
        json={
            "key": "parcel",
            "title_zh": "包裹",
            "title_en": "Parcel",
            "instance": "parcels-panel",
            "action": "track_parcel",
            "params": {"parcel_no": "{{ customer.attributes.parcel_no }}"},
        },
    )
    assert r.status_code == 201, r.text
    return "parcel"


async def _dead_letter(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    """A consumer gave up on an event of tenant A (no API makes one: written like the bus)."""
    from relaydesk.events.models import EventFailure
    from relaydesk.events.outbox import emit

    db = c._transport.app.state.db  # type: ignore[attr-defined]
    async with db.job(org.id) as session:
        event = await emit(session, "custom.isolation", {"n": 1}, tenant_id=org.id)
        failure = EventFailure(tenant_id=org.id, consumer="webhooks", event_id=event.id,
                               event_type=event.type, attempts=8, error="boom", dead=True,
                               event_key=event.key)  # fmt: skip
        session.add(failure)
        await session.flush()
        return str(failure.id)


async def _event(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    from relaydesk.events.outbox import emit

    db = c._transport.app.state.db  # type: ignore[attr-defined]
    async with db.job(org.id) as session:
        return str((await emit(session, "custom.isolation", {"n": 2}, tenant_id=org.id)).id)


PRIORITY_RULE = {
    "name": "丢件优先", "instance": "parcels-routing", "action": "track_parcel",
    "params": {"parcel_no": "{{ customer.attributes.parcel_no }}"},
    "condition": "result.status == 'lost'", "priority": "urgent",
}  # fmt: skip


async def _priority_rule(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    config = {"base_url": "http://erp.example.com", "token": "t0ken-of-tenant-a"}
    await _post(c, h, "/connector-instances",
                {"name": "parcels-routing", "spec": CONNECTOR_SPEC, "config": config})  # fmt: skip
    return await _post(c, h, "/routing/priority-rules", PRIORITY_RULE)


async def _message(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    customer = await _post(c, h, "/customers", {"name": "周芷若", "phone": "13700002222"})
    inbox = await _post(c, h, "/inboxes", {"name": "附件邮箱", "channel": "email"})
    conversation = await _post(c, h, "/conversations",
                               {"inbox_id": inbox, "customer_id": customer})  # fmt: skip
    return await _post(c, h, f"/conversations/{conversation}/messages",
                       {"text": "附件见内", "private": True})  # fmt: skip


async def _attachment_index(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    return "0"  # attachments are addressed by position in their message


FACTORIES: dict[str, Factory] = {
    "message_id": _message,
    "index": _attachment_index,
    "priority_rule_id": _priority_rule,
    "department_id": _department,
    "team_id": _team,
    "role_id": _role,
    "user_id": _user,
    "key_id": _key,
    "customer_id": _customer,
    "attribute_key": _attribute,
    "identity_id": _identity,
    "suggestion_id": _suggestion,
    "instance_id": _connector_instance,
    "action": _connector_action,
    "inbox_id": _inbox,
    "conversation_id": _conversation,
    "canned_id": _canned,
    "saga_definition_id": _saga_definition,
    "saga_id": _saga,
    "rule_id": _rule,
    "app_id": _app,
    "panel_key": _panel,
    "dead_letter_id": _dead_letter,
    "event_id": _event,
    "webhook_endpoint_id": _webhook_endpoint,
    "webhook_message_id": _webhook_message,
    "webhook_delivery_id": _webhook_delivery,
    "notification_id": _notification,
}

# a body each write operation would accept if the object were the caller's own
BODIES: dict[tuple[str, str], Any] = {
    ("put", "/api/v1/routing/priority-rules/{priority_rule_id}"): {
        **PRIORITY_RULE,
        "name": "hijacked",
    },
    ("post", "/api/v1/customers/{customer_id}/identities"): {"kind": "visitor", "value": "v-1"},
    ("post", "/api/v1/customers/{customer_id}/merge"): {
        "merge_ids": ["00000000-0000-7000-8000-000000000000"]
    },
    ("post", "/api/v1/customers/{customer_id}/split"): {
        "identity_ids": ["00000000-0000-7000-8000-000000000000"]
    },
    ("patch", "/api/v1/customers/attribute-definitions/{attribute_key}"): {"label_en": "hijacked"},
    ("patch", "/api/v1/inboxes/{inbox_id}"): {"name": "hijacked"},
    ("put", "/api/v1/routing/teams/{team_id}"): {"mode": "least_busy"},
    ("patch", "/api/v1/apps/{app_id}"): {"enabled": False},
    ("patch", "/api/v1/customer-panels/{panel_key}"): {"title_en": "hijacked"},
    ("patch", "/api/v1/webhooks/endpoints/{webhook_endpoint_id}"): {"enabled": False},
    ("post", "/api/v1/webhooks/endpoints/{webhook_endpoint_id}/rotate-secret"): {},
    ("post", "/api/v1/webhooks/endpoints/{webhook_endpoint_id}/test"): {},
    ("post", "/api/v1/webhooks/endpoints/{webhook_endpoint_id}/recover"): {
        "since": "2026-01-01T00:00:00Z"
    },
    ("post", "/api/v1/webhooks/messages/{webhook_message_id}/replay"): {},
    ("post", "/api/v1/apps/{app_id}/context"): {},
    ("put", "/api/v1/rules/{rule_id}"): {**RULE, "name": "hijacked"},
    ("post", "/api/v1/rules/{rule_id}/dry-run"): {
        "event": {"type": "order.shipped", "payload": {"order_no": "YQ1"}}
    },
    ("put", "/api/v1/sagas/definitions/{saga_definition_id}"): {"definition": SAGA_DEFINITION},
    ("patch", "/api/v1/conversations/{conversation_id}"): {"status": "resolved"},
    ("post", "/api/v1/conversations/{conversation_id}/assign"): {"assignee_id": None},
    ("post", "/api/v1/conversations/{conversation_id}/read"): None,
    ("post", "/api/v1/conversations/{conversation_id}/messages"): {"text": "hijacked"},
    ("post", "/api/v1/conversations/{conversation_id}/call"): {},
    ("patch", "/api/v1/canned-responses/{canned_id}"): {"title": "hijacked"},
    ("post", "/api/v1/canned-responses/{canned_id}/render"): {
        "conversation_id": "00000000-0000-7000-8000-000000000000"
    },
    ("patch", "/api/v1/departments/{department_id}"): {"name": "hijacked"},
    ("patch", "/api/v1/teams/{team_id}"): {"name": "hijacked"},
    ("put", "/api/v1/teams/{team_id}/members"): {"user_ids": []},
    ("patch", "/api/v1/roles/{role_id}"): {"description": "hijacked"},
    ("patch", "/api/v1/users/{user_id}"): {"display_name": "hijacked"},
    ("post", "/api/v1/users/{user_id}/unlock"): None,
    ("post", "/api/v1/users/{user_id}/password"): {"password": "hijacked-password-123"},
    ("patch", "/api/v1/customers/{customer_id}"): {"name": "hijacked"},
    ("post", "/api/v1/customers/{customer_id}/reveal"): {"field": "phone"},
    ("patch", "/api/v1/connector-instances/{instance_id}"): {"enabled": False},
    ("post", "/api/v1/connector-instances/{instance_id}/actions/{action}/run"): {
        "params": {"parcel_no": "SF1234567890"}
    },
}
# read-backs that show an object is unchanged (owner of A)
READ_BACK = {
    "priority_rule_id": "/routing/priority-rules/{}",
    "department_id": "/departments/{}",
    "team_id": "/teams/{}",
    "role_id": "/roles/{}",
    "user_id": "/users/{}",
    "customer_id": "/customers/{}",
    "attribute_key": "/customers/attribute-definitions/{}",
    "instance_id": "/connector-instances/{}",
    "inbox_id": "/inboxes/{}",
    "conversation_id": "/conversations/{}",
    "saga_definition_id": "/sagas/definitions/{}",
    "saga_id": "/sagas/{}",
    "rule_id": "/rules/{}",
    "app_id": "/apps/{}",
    "panel_key": "/customer-panels/{}",
    "webhook_endpoint_id": "/webhooks/endpoints/{}",
    "webhook_message_id": "/webhooks/messages/{}",
    "webhook_delivery_id": "/webhooks/deliveries/{}",
}
