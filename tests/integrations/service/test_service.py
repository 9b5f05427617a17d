"""IntegrationService and InstanceService with a database: the unit of work, background
callers, tenant-scoped permission catalogues, config rules."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from conftest import Org, make_org
from integrations.service.hub_support import (
    CLEAR_NAME,
    CLEAR_PHONE,
    FINANCE_SPEC,
    ORDER_NO,
    ORDERS_SPEC,
    TOKEN,
    FakeSystem,
    fake_registry,
)
from sqlalchemy import func, select

from relaydesk.audit.models import AuditEntry
from relaydesk.auth.principal import Principal
from relaydesk.errors import Forbidden, NotFound, ValidationFailed
from relaydesk.integrations.instances import (
    InstanceService,
    parse_spec,
    spec_problems,
    validate_config,
)
from relaydesk.integrations.models import ConnectorCall
from relaydesk.integrations.schemas import InstanceIn
from relaydesk.integrations.service import IntegrationService, system_principal
from relaydesk.kit.crypto import Keyring, generate_key, parse_key
from relaydesk.kit.db import Database
from relaydesk.kit.metrics import REGISTRY

KEYRING = Keyring([parse_key(generate_key())])


def principal(org: Org, *permissions: str) -> Principal:
    return Principal(
        kind="user", id=uuid.uuid4(), tenant_id=org.id, tenant_slug=org.slug, label="tester",
        permissions=frozenset(permissions),
    )  # fmt: skip


async def make_instance(db: Database, org: Org, spec: str = ORDERS_SPEC) -> uuid.UUID:
    config = {"base_url": "http://erp.example.com"}
    if spec is ORDERS_SPEC:
        config["token"] = TOKEN
    async with db.job(org.id) as session:
        service = InstanceService(session, system_principal(org.id, org.slug), KEYRING)
        instance, _, _ = await service.create(InstanceIn(spec=spec, config=config))
        return instance.id


async def counts(db: Database, org: Org) -> tuple[int, int]:
    async with db.job(org.id) as session:
        calls = (await session.execute(select(func.count()).select_from(ConnectorCall))).scalar()
        audit = (
            await session.execute(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "connector.action_called")
            )
        ).scalar()
    return int(calls or 0), int(audit or 0)


async def test_call_log_and_audit_row_belong_to_the_callers_unit_of_work(
    db: Database, org_a: Org
) -> None:
    instance_id = await make_instance(db, org_a)
    system = FakeSystem()
    registry = fake_registry(system)
    calls_before = REGISTRY.get_sample_value(
        "relaydesk_connector_calls_total",
        {"connector": "orders", "action": "cancel_order", "outcome": "success"},
    ) or 0.0
    with pytest.raises(RuntimeError):
        async with db.job(org_a.id) as session:
            service = IntegrationService(session, system_principal(org_a.id, "acme"), registry,
                                         KEYRING)  # fmt: skip
            outcome = await service.run_action(instance_id, "get_order", {"order_no": ORDER_NO})
            assert outcome.ok
            raise RuntimeError("the caller's work failed afterwards")
    assert await counts(db, org_a) == (0, 0), "rolled back with the caller's work"

    async with db.job(org_a.id) as session:
        service = IntegrationService(session, system_principal(org_a.id, "acme", "rules"),
                                     registry, KEYRING)  # fmt: skip
        outcome = await service.run_action(
            "orders", "cancel_order", {"order_no": ORDER_NO}, priority="background"
        )
    assert outcome.ok and await counts(db, org_a) == (1, 1)
    labels = {"connector": "orders", "action": "cancel_order", "outcome": "success"}
    assert REGISTRY.get_sample_value("relaydesk_connector_calls_total", labels) == calls_before + 1
    latency = {"connector": "orders", "action": "cancel_order"}
    assert REGISTRY.get_sample_value("relaydesk_connector_call_duration_seconds_count", latency)
    async with db.job(org_a.id) as session:
        call = (await session.execute(select(ConnectorCall))).scalar_one()
    assert (call.priority, call.actor_type, call.action) == ("background", "system", "cancel_order")
    await registry.aclose()


async def test_a_split_call_masks_by_role_and_records_in_the_callers_session(
    db: Database, org_a: Org
) -> None:
    """call() / outcome() / record_call(): what rules, saga steps and panels use to keep their
    unit of work closed while the system answers."""
    instance_id = await make_instance(db, org_a)
    registry = fake_registry(FakeSystem())
    async with db.job(org_a.id) as session:
        loaded = InstanceService(session, system_principal(org_a.id, org_a.slug), KEYRING)
        instance = await loaded.find(instance_id)
        spec = loaded.spec_of(instance)
    no_session: Any = None
    agent = IntegrationService(no_session, principal(org_a, "orders.read"), registry, KEYRING)
    started = time.perf_counter()
    execution = await agent.call(instance, spec, "get_order", {"order_no": ORDER_NO, "page": 1})
    assert execution.ok  # no session was needed for the call itself
    masked = agent.outcome(instance, spec, "get_order", execution, started=started)
    assert masked.data["receiver_phone"] == "139****5678"
    assert masked.data["receiver_name"] != CLEAR_NAME
    pii_viewer = principal(org_a, "orders.read", "customers.pii.view")
    viewer = IntegrationService(no_session, pii_viewer, registry, KEYRING)
    clear = viewer.outcome(instance, spec, "get_order", execution, started=started)
    assert clear.data["receiver_phone"] == CLEAR_PHONE and clear.call_id != masked.call_id
    assert masked.latency_ms >= 0
    async with db.job(org_a.id) as session:
        recorder = IntegrationService(session, principal(org_a, "orders.read"), registry, KEYRING)
        await recorder.record_call(instance, spec, "get_order", {"order_no": ORDER_NO}, execution,
                                   masked, priority="background")  # fmt: skip
    assert await counts(db, org_a) == (1, 1)
    async with db.job(org_a.id) as session:
        call = (await session.execute(select(ConnectorCall))).scalar_one()
    assert (call.id, call.priority, call.cached) == (masked.call_id, "background", False)
    await registry.aclose()


async def test_permission_is_checked_before_params_and_other_tenants_see_nothing(
    db: Database, org_a: Org, org_b: Org
) -> None:
    instance_id = await make_instance(db, org_a, FINANCE_SPEC)
    registry = fake_registry(FakeSystem())
    async with db.job(org_a.id) as session:
        service = IntegrationService(session, principal(org_a, "connectors.read"), registry,
                                     KEYRING)  # fmt: skip
        with pytest.raises(Forbidden):
            await service.run_action(instance_id, "list_invoices", {"bogus": 1})
        allowed = IntegrationService(
            session, principal(org_a, "connector_action:finance.list_invoices"), registry, KEYRING
        )
        with pytest.raises(ValidationFailed) as exc:
            await allowed.run_action(instance_id, "list_invoices", {"bogus": 1})
        assert {tuple(d["loc"]) for d in exc.value.details} == {
            ("params", "customer_id"), ("params", "bogus"),
        }  # fmt: skip
    async with db.job(org_b.id) as session:
        service = IntegrationService(session, system_principal(org_b.id, "globex"), registry,
                                     KEYRING)  # fmt: skip
        for ref in (instance_id, str(instance_id), "finance"):
            with pytest.raises(NotFound):
                await service.run_action(ref, "list_invoices", {"customer_id": "C1"})
    await registry.aclose()


async def test_action_permissions_are_listed_per_organisation(db: Database, org_a: Org) -> None:
    await make_instance(db, org_a, FINANCE_SPEC)
    other = await make_org(db, "initech", roles=("admin",))
    async with db.job(org_a.id) as session:
        mine = await InstanceService(session, principal(org_a), KEYRING).action_permissions()
    assert mine == {
        "connector_action:finance.list_invoices": "Run 发票列表 on the 财务系统 connector"
    }
    async with db.job(other.id) as session:
        theirs = await InstanceService(session, principal(other), KEYRING).action_permissions()
    assert theirs == {}


def test_config_rules_and_unreadable_specs() -> None:
    spec = parse_spec(ORDERS_SPEC)
    assert validate_config(spec, {"base_url": "x", "token": "t", "page_size": 5}) == {
        "base_url": "x", "token": "t", "shop": "main", "page_size": 5,
    }  # fmt: skip
    with pytest.raises(ValidationFailed) as exc:
        validate_config(spec, {"base_url": True, "token": "t", "page_size": True})
    assert [d["loc"][-1] for d in exc.value.details] == ["base_url", "page_size"]
    previous = {"base_url": "x", "token": "old"}
    kept = validate_config(spec, {"base_url": "y"}, previous=previous)
    assert kept["token"] == "old", "a secret left out of an update is kept"
    cleared = validate_config(parse_spec(FINANCE_SPEC), {"base_url": "y"}, previous=previous)
    assert cleared == {"base_url": "y"}

    problems = spec_problems("apiVersion: relaydesk.io/v1\x7f\n")
    assert len(problems) == 1 and "invalid YAML" in problems[0].message
    problems = spec_problems({"apiVersion": "relaydesk.io/v1", "kind": "http", "name": "a\x7f"})
    assert {p.path for p in problems} == {"name", "http"}


async def test_a_systems_error_text_is_stored_and_published_masked(
    db: Database, org_a: Org
) -> None:
    """A system that answers "no customer 13912345678" must not put the clear number in the
    call log that agents read, nor in the connector.action_failed event."""
    from relaydesk.events.models import OutboxEvent
    from relaydesk.integrations.resilience import ErrorKind
    from relaydesk.integrations.runtime.base import ExecutorError

    instance_id = await make_instance(db, org_a)
    system = FakeSystem()
    system.push(ExecutorError(ErrorKind.system, "no customer 13912345678 in 华东区", "not_found"))
    registry = fake_registry(system)
    async with db.job(org_a.id) as session:
        service = IntegrationService(session, system_principal(org_a.id, "acme"), registry,
                                     KEYRING)  # fmt: skip
        outcome = await service.run_action(instance_id, "get_order", {"order_no": ORDER_NO})
    assert not outcome.ok
    async with db.job(org_a.id) as session:
        call = (await session.execute(select(ConnectorCall))).scalar_one()
        failed = [e for e in await session.scalars(select(OutboxEvent))
                  if e.type == "connector.action_failed"]  # fmt: skip
    assert call.error_message is not None and "13912345678" not in call.error_message
    assert "139****5678" in call.error_message and "华东区" in call.error_message
    assert failed and all("13912345678" not in str(e.payload) for e in failed)
    await registry.aclose()
