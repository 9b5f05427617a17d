"""Helpers shared by the integration-service and connector-API tests: specs, a scripted fake
external system (an Executor injected into the RuntimeRegistry), a sleep that records waits."""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx
from fastapi import FastAPI

from relaydesk.integrations.api import router
from relaydesk.integrations.auth import AuthHandler
from relaydesk.integrations.models import ConnectorInstance
from relaydesk.integrations.registry import RuntimeRegistry
from relaydesk.integrations.runtime.base import CallContext, RawResult
from relaydesk.integrations.spec import ConnectorSpec, load_spec
from relaydesk.kit.ids import uuid7

API = "/api/v1"
TOKEN = "tok-Zq8v-SECRET-4711"
ORDER_NO = "YQ2024000001"
CLEAR_PHONE = "13912345678"
CLEAR_NAME = "张伟"
CLEAR_ADDRESS = "北京市朝阳区建国路88号华贸中心3号楼1201室"

ORDERS_SPEC = """\
apiVersion: relaydesk.io/v1
kind: http
name: orders
title: 订单系统
config:
  base_url: {type: string, required: true}
  token: {type: string, required: true, secret: true}
  shop: {type: string, default: main}
  page_size: {type: integer}
http: {base_url: "{{ config.base_url }}"}
auth: {type: bearer, token: "{{ config.token }}"}
resilience:
  timeout_seconds: 2
  retries: {max_attempts: 3, initial_backoff_seconds: 0.01, max_backoff_seconds: 5, jitter: false}
  circuit_breaker: {failure_threshold: 3, reset_seconds: 30}
  cache: {ttl_seconds: 60, stale_seconds: 3600}
  retry_after_floor_seconds: 1
errors:
  - {when: {body: "code == 'ORDER_SHIPPED'"}, then: fail, message: "订单已发货，不能修改地址",
     code: order_shipped}
  - {when: {status: [404]}, then: ignore}
actions:
  get_order:
    title: 查询订单
    effect: read
    cache: true
    params:
      order_no: {type: string, required: true, pattern: "^[A-Z0-9]{6,32}$"}
      page: {type: integer, default: 1, minimum: 1}
    request: {path: "/api/orders/{{ params.order_no }}", query: {page: "{{ params.page }}"}}
    response: {select: data}
    output: order
    mapping:
      fields:
        order_no: {expr: orderNo, type: string, required: true}
        status: {expr: status, type: string, values: {"1": pending, "2": paid, "3": shipped}}
        paid_at: {expr: payTime, type: datetime, format: "%Y-%m-%d %H:%M:%S"}
        total: {expr: amount, type: decimal}
        receiver_name: {expr: receiver.name, type: string}
        receiver_phone: {expr: receiver.mobile, type: string}
    pii: {receiver_phone: phone, receiver_name: name}
  change_address:
    title: 修改收货地址
    effect: write
    params:
      order_no: {type: string, required: true}
      address: {type: string, required: true, pii: address}
      phone: {type: string, pii: phone}
    request:
      method: POST
      path: "/api/orders/{{ params.order_no }}/address"
      body: {address: "{{ params.address }}", phone: "{{ params.phone }}"}
  cancel_order:
    effect: write
    idempotent: true
    params: {order_no: {type: string, required: true}}
    request: {method: POST, path: "/api/orders/{{ params.order_no }}/cancel"}
"""

FINANCE_SPEC = """\
apiVersion: relaydesk.io/v1
kind: http
name: finance
title: 财务系统
config:
  base_url: {type: string, required: true}
http: {base_url: "{{ config.base_url }}"}
actions:
  list_invoices:
    title: 发票列表
    effect: read
    params: {customer_id: {type: string, required: true}}
    request: {path: "/invoices", query: {customer: "{{ params.customer_id }}"}}
    response: {select: invoices}
    many: true
"""


def order_body(**overrides: Any) -> dict[str, Any]:
    data = {
        "orderNo": ORDER_NO, "status": 2, "payTime": "2024-05-01 10:00:00", "amount": "99.50",
        "receiver": {"name": CLEAR_NAME, "mobile": CLEAR_PHONE},
    }  # fmt: skip
    data.update(overrides)
    return {"code": 0, "data": data}


def answer(
    body: Any = None, status: int = 200, headers: Mapping[str, str] | None = None
) -> RawResult:
    return RawResult(
        status=status, headers=dict(headers or {}), data=body, body_json=body,
        request_line="GET /fake", extra={"bytes": 0 if body is None else 10},
    )  # fmt: skip


Answer = RawResult | BaseException | Callable[[str, Mapping[str, Any]], RawResult]


class FakeSystem:
    """An external system whose answers the test scripts: queued answers first (a RawResult,
    an exception to raise, or a function of (action, params)), then ``default``."""

    def __init__(self, default: Answer | None = None) -> None:
        self.queue: deque[Answer] = deque()
        self.default: Answer = default if default is not None else answer(order_body())
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.order: list[str] = []  # labels of calls, for ordering tests
        self.built: list[Mapping[str, Any]] = []  # the configs executors were built with

    def push(self, *answers: Answer) -> None:
        self.queue.extend(answers)

    def factory(
        self, spec: ConnectorSpec, config: Mapping[str, Any], allow: Sequence[str]
    ) -> FakeExecutor:
        self.built.append(dict(config))
        return FakeExecutor(self)


class FakeExecutor:
    def __init__(self, system: FakeSystem) -> None:
        self.system = system

    async def execute(self, action: str, params: Mapping[str, Any], ctx: CallContext) -> RawResult:
        self.system.calls.append((action, dict(params)))
        item = self.system.queue.popleft() if self.system.queue else self.system.default
        if isinstance(item, BaseException):
            raise item
        if callable(item):
            return item(action, params)
        return item

    async def aclose(self) -> None:
        pass


class RecordingAuth(AuthHandler):
    def __init__(self) -> None:
        self.invalidations = 0

    def invalidate(self, request: httpx.Request | None = None) -> None:
        self.invalidations += 1


class Sleeper:
    """A sleep that records the waits and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def fake_registry(
    system: FakeSystem,
    sleeper: Sleeper | None = None,
    *,
    auth: AuthHandler | None = None,
    clock: Clock | None = None,
) -> RuntimeRegistry:
    return RuntimeRegistry(
        executor_factory=system.factory,
        http_factory=lambda spec, config, allow: httpx.AsyncClient(),
        auth_factory=(lambda spec, config, http: auth) if auth is not None else None,
        sleep=sleeper or Sleeper(),
        cache_clock=clock or Clock(),
        monotonic=clock or Clock(),
    )


def fake_instance(
    spec_text: str = ORDERS_SPEC, *, allow: list[str] | None = None
) -> tuple[ConnectorInstance, ConnectorSpec]:
    """An instance row that is never stored (pipeline tests without a database)."""
    spec = load_spec(spec_text)
    instance = ConnectorInstance(
        id=uuid7(), tenant_id=uuid.uuid4(), name=spec.name, connector=spec.name,
        spec=spec.to_document(), version=1, allow_network=allow or [], enabled=True,
        sandbox=False,
    )  # fmt: skip
    return instance, spec


def mount(app: FastAPI, registry: RuntimeRegistry) -> FastAPI:
    """The connector router on the conftest app (until relaydesk.app mounts it) + registry."""
    if not any(
        getattr(route, "path", "").startswith(f"{API}/connector-instances") for route in app.routes
    ):
        app.include_router(router, prefix=API)
    app.state.connectors = registry
    return app


def instance_body(
    spec: str = ORDERS_SPEC, *, base_url: str = "http://erp.example.com", **overrides: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "spec": spec,
        "config": {"base_url": base_url, "token": TOKEN},
    }
    if spec is FINANCE_SPEC:
        body["config"] = {"base_url": base_url}
    body.update(overrides)
    return body


async def audit_rows(db: Any, tenant_id: uuid.UUID, action: str) -> list[Any]:
    """The tenant's audit rows of one action, oldest first."""
    from sqlalchemy import select

    from relaydesk.audit.models import AuditEntry

    async with db.job(tenant_id) as session:
        stmt = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
        return list((await session.execute(stmt)).scalars().all())
