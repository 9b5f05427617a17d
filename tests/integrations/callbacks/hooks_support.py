"""Helpers for the callback tests: a connector spec with one callback per signature scheme,
connector instances inserted directly, the hooks router mounted on the test app, and signers
written from the schemes' public descriptions (not from relaydesk's code)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select

from relaydesk.config import Settings
from relaydesk.events.models import OutboxEvent
from relaydesk.integrations import secrets
from relaydesk.integrations.hooks_api import mount
from relaydesk.integrations.models import CallbackInbox, ConnectorInstance
from relaydesk.integrations.spec import load_spec
from relaydesk.kit.crypto import Keyring
from relaydesk.kit.db import Database
from relaydesk.kit.ids import uuid7

TICKET_SECRET = "yq-tickets-callback-secret-3e7b"
HMAC_SECRET = "logistics-hmac-secret"
GITHUB_SECRET = "gh-secret"
STRIPE_SECRET = "whsec_stripe_test_secret"
SW_SECRET = "whsec_" + base64.b64encode(b"standard-webhooks-key-0123456789").decode()
APP_KEY, APP_SECRET = "shop-7", "open-platform-secret"

SPEC = """
apiVersion: relaydesk.io/v1
kind: http
name: tickets
title: 工单系统
config:
  callback_secret: {type: string, required: true, secret: true}
  hmac_secret: {type: string, secret: true}
  github_secret: {type: string, secret: true}
  stripe_secret: {type: string, secret: true}
  sw_secret: {type: string, secret: true}
  app_key: {type: string}
  app_secret: {type: string, secret: true}
http:
  base_url: "http://127.0.0.1:1"
callbacks:
  ticket_status_changed:
    signature:
      scheme: hmac_sha256_hex
      header: X-Ticket-Signature
      secret: "{{ config.callback_secret }}"
      payload: "{timestamp}.{body}"
      timestamp_header: X-Ticket-Timestamp
      tolerance_seconds: 300
    event_id: eventId
    event_type:
      expr: eventType
      values: {TICKET_STATUS_CHANGED: ticket.status_changed}
    entity_key: ticketNo
    entity_version: version
    mapping:
      fields:
        ticket_no: {expr: ticketNo, type: string, required: true}
        status:
          expr: newStatus
          type: string
          values: {NEW: new, PROCESSING: open, PENDING: pending, RESOLVED: solved, CLOSED: closed}
        changed_at: {expr: changedAt, type: datetime, format: "%Y-%m-%d %H:%M:%S"}
        version: {expr: version, type: integer}
  tracking_xml:
    signature:
      scheme: hmac_sha256_base64
      header: X-Signature
      secret: "{{ config.hmac_secret }}"
      payload: "{id}:{body}"
    event_id: eventId
    event_type: custom.tracking_updated
    entity_key: waybillNo
    entity_version: updatedAt
  github_push:
    signature: {scheme: github, secret: "{{ config.github_secret }}"}
    event_id: head_commit.id
    event_type: custom.code_pushed
  stripe_event:
    signature: {scheme: stripe, secret: "{{ config.stripe_secret }}", tolerance_seconds: 60}
    event_id: id
    event_type: {expr: type, values: {charge.succeeded: custom.payment_succeeded}}
  sw_event:
    signature: {scheme: standard_webhooks, secret: "{{ config.sw_secret }}"}
    event_id: data.id
    event_type: custom.call_ended
  open_notify:
    signature:
      scheme: app_key_sign
      secret: "{{ config.app_secret }}"
      app_key: "{{ config.app_key }}"
      signing: {algorithm: md5, placement: query, timestamp_unit: ms}
    event_id: notifyId
    event_type: order.paid
    mapping:
      fields:
        order_no: {expr: orderNo, type: string, required: true}
  unsigned:
    signature: {scheme: none}
    event_id: id
    event_type: custom.test_pinged
"""

CONFIG = {
    "callback_secret": TICKET_SECRET,
    "hmac_secret": HMAC_SECRET,
    "github_secret": GITHUB_SECRET,
    "stripe_secret": STRIPE_SECRET,
    "sw_secret": SW_SECRET,
    "app_key": APP_KEY,
    "app_secret": APP_SECRET,
}


def mount_hooks(app: FastAPI) -> None:
    """Include the hooks router unless app.py already does."""
    mount(app)


async def make_instance(
    db: Database,
    settings: Settings,
    tenant_id: uuid.UUID,
    *,
    name: str = "tickets",
    spec_text: str = SPEC,
    config: dict[str, Any] | None = None,
    enabled: bool = True,
    sandbox: bool = False,
) -> ConnectorInstance:
    spec = load_spec(spec_text)
    instance = ConnectorInstance(
        name=name, connector=spec.name, title=spec.title or "", spec=spec.to_document(),
        enabled=enabled, sandbox=sandbox,
    )  # fmt: skip
    instance.id = uuid7()
    instance.tenant_id = tenant_id
    secrets.encrypt_config(Keyring.from_settings(settings), instance, config or CONFIG)
    async with db.job(tenant_id) as session:
        session.add(instance)
    return instance


async def outbox_events(db: Database, tenant_id: uuid.UUID) -> list[OutboxEvent]:
    """The tenant's events in the outbox, in emission order."""
    async with db.job(tenant_id) as session:
        return list(await session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)))


async def inbox_rows(db: Database, tenant_id: uuid.UUID) -> list[CallbackInbox]:
    async with db.job(tenant_id) as session:
        rows = await session.scalars(select(CallbackInbox).order_by(CallbackInbox.created_at))
        return list(rows)


async def inbox_count(db: Database, tenant_id: uuid.UUID) -> int:
    async with db.job(tenant_id) as session:
        count = await session.scalar(select(func.count()).select_from(CallbackInbox))
        return int(count or 0)


# --- independent signers ---------------------------------------------------------------------


def compact(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def ticket_event(version: int = 2, **extra: Any) -> dict[str, Any]:
    return {
        "eventId": f"evt_{uuid.uuid4().hex}", "eventType": "TICKET_STATUS_CHANGED",
        "ticketNo": "GD202611210001", "version": version, "oldStatus": "NEW",
        "newStatus": "PROCESSING", "operator": "张伟", "remark": "",
        "changedAt": "2026-11-21 10:22:00", "customerMobile": "13812345678", "orderNo": None,
        **extra,
    }  # fmt: skip


def ticket_headers(body: bytes, *, secret: str = TICKET_SECRET, at: float | None = None) -> dict[
    str, str
]:
    """hex(HMAC-SHA256(secret, f"{timestamp}.{body}")) as the legacy ticket system sends it."""
    stamp = str(int(time.time() if at is None else at))
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json; charset=utf-8",
        "X-Ticket-Timestamp": stamp,
        "X-Ticket-Signature": digest,
    }
