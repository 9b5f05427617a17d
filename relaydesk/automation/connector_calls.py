"""Running a connector action as a rule: lookups and the ``connector.run`` action.

:meth:`IntegrationService.run_action` does everything in one unit of work, including the
HTTP call; a request may do that, but a rule runs in the background and must not hold a
write transaction (on SQLite, *the* write lock) while another system answers. So this runs
the same pipeline in three parts: resolve and check (a read-only session), call (no
session: :meth:`IntegrationService.call`), record the call log and audit rows (one short
write: :meth:`IntegrationService.record_call`). The checks and records are the service's
own: same permission check, same masking, same audit row (``connector.action_called`` with
the rule as actor).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.auth.principal import Principal
from relaydesk.automation.actions import ActionFailed
from relaydesk.automation.runtime import AutomationRuntime
from relaydesk.errors import AppError
from relaydesk.integrations.instances import instance_spec
from relaydesk.integrations.models import ConnectorInstance
from relaydesk.integrations.outcome import ActionOutcome
from relaydesk.integrations.repository import ConnectorInstanceRepository
from relaydesk.integrations.service import IntegrationService
from relaydesk.integrations.spec import ConnectorSpec, action_permission, validate_params
from relaydesk.kit.db import Database, declare_read_only, scope_session

#: the HTTP part of a call touches no session; the service only needs one to be constructed
_NO_SESSION: Any = None

__all__ = [
    "ResolvedAction", "call_connector", "find_instance", "outcome_failure", "read_session",
    "resolve_action",
]  # fmt: skip


@asynccontextmanager
async def read_session(db: Database, tenant_id: uuid.UUID) -> AsyncIterator[AsyncSession]:
    """A tenant-scoped session that only reads (no write lock, no transaction on SQLite)."""
    async with db.sessionmaker() as session:
        scope_session(session, tenant_id)
        if not db.shares_connection:
            await declare_read_only(session, db.dialect)
        yield session  # closing ends it; what was loaded stays readable (detached)


@dataclass(frozen=True)
class ResolvedAction:
    instance: ConnectorInstance
    spec: ConnectorSpec
    name: str
    effect: str  # read | write
    idempotent: bool
    permission: str


async def find_instance(session: AsyncSession, ref: str) -> ConnectorInstance | None:
    """By name (rules name instances) or id, in the session's tenant."""
    repo = ConnectorInstanceRepository(session)
    instance = await repo.by_name(ref)
    if instance is None:
        try:
            instance = await repo.get(uuid.UUID(ref))
        except ValueError:
            return None
    return instance


async def resolve_action(session: AsyncSession, instance_ref: str, action_name: str
                         ) -> ResolvedAction:  # fmt: skip
    """The instance and action, or :class:`ActionFailed` saying why they cannot be used."""
    instance = await find_instance(session, instance_ref)
    if instance is None:
        raise ActionFailed(f"connector instance {instance_ref!r} not found",
                           code="instance_not_found")  # fmt: skip
    spec = instance_spec(instance)
    action = spec.actions.get(action_name)
    if action is None:
        raise ActionFailed(f"connector {spec.name!r} has no action {action_name!r}",
                           code="action_not_found")  # fmt: skip
    permission = action_permission(spec, action_name)
    return ResolvedAction(
        instance, spec, action_name, action.effect, bool(action.idempotent), permission
    )


async def call_connector(
    db: Database,
    runtime: AutomationRuntime,
    principal: Principal,
    instance_ref: str,
    action_name: str,
    params: Mapping[str, Any],
    *,
    read_only: bool = False,
    session: AsyncSession | None = None,
) -> ActionOutcome:
    """Run one action for ``principal``; ``read_only`` refuses write actions (lookups).

    Without ``session`` (a rule's execution) the call runs in three parts, see the module
    docstring; a request (a dry run) passes its own unit of work, which then holds the reads
    and the records, like the connector API's run endpoint.
    """
    started = time.perf_counter()
    if session is not None:
        target = await resolve_action(session, instance_ref, action_name)
    else:
        async with read_session(db, principal.tenant_id) as reader:
            target = await resolve_action(reader, instance_ref, action_name)
    service = IntegrationService(session or _NO_SESSION, principal, runtime.registry,
                                 runtime.keyring)  # fmt: skip
    if read_only and target.effect != "read":
        raise ActionFailed(f"{target.spec.name}.{action_name} writes to the system; a lookup "
                           "may only read", code="not_read_only")  # fmt: skip
    if not principal.has(target.permission):
        raise ActionFailed(f"the rule's run_as lacks {target.permission}", code="forbidden")
    if not target.instance.enabled:
        raise ActionFailed(f"connector instance {target.instance.name!r} is disabled",
                           code="connector_disabled")  # fmt: skip
    try:
        clean = validate_params(target.spec, action_name, params)
    except AppError as exc:
        raise ActionFailed(f"parameters: {exc.message}", code="invalid_params",
                           output={"details": exc.details}) from None  # fmt: skip
    # the service's own call, masking and records (see the module docstring)
    execution = await service.call(
        target.instance, target.spec, action_name, clean, priority="background"
    )
    outcome = service.outcome(target.instance, target.spec, action_name, execution,
                              started=started)  # fmt: skip
    if session is not None:
        await service.record_call(target.instance, target.spec, action_name, clean, execution,
                                  outcome, priority="background")  # fmt: skip
        return outcome
    async with db.job(principal.tenant_id) as writer:
        recorder = IntegrationService(writer, principal, runtime.registry, runtime.keyring)
        await recorder.record_call(target.instance, target.spec, action_name, clean, execution,
                                   outcome, priority="background")  # fmt: skip
    return outcome


def outcome_failure(outcome: ActionOutcome) -> ActionFailed:
    error = outcome.error
    message = error.message if error is not None else "the call failed"
    code = error.code if error is not None else "failed"
    return ActionFailed(message, code=code, output=outcome.model_dump(mode="json", by_alias=True))
