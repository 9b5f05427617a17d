"""The ``saga.start`` rule action: a rule starts a saga as its own service identity.

It only writes to Relaydesk's database (the saga, its steps, the first step's job), so it is
*transactional*: it runs in the unit of work that records the rule step, exactly once. The
saga then runs on its own; its final event (``saga.completed`` / ``compensated`` /
``failed``) is caused by the rule's trigger, one automation hop deeper (loop protection).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.auth.principal import Principal
from relaydesk.automation.actions import ActionContext, ActionFailed, ActionType, register_action
from relaydesk.errors import AppError
from relaydesk.sagas.calls import bind_runtime
from relaydesk.sagas.definition import SagaDocument
from relaydesk.sagas.planning import SpecLookup, plan_saga
from relaydesk.sagas.repository import DefinitionRepository
from relaydesk.sagas.service import SagaService

__all__ = ["SagaStartParams"]


class SagaStartParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    definition: str = Field(min_length=1, max_length=63, description="The saga's name")
    input: dict[str, Any] = Field(
        default_factory=dict, description="Its input; values may be {{ }} templates"
    )


async def _start(ctx: ActionContext, params: SagaStartParams) -> dict[str, Any]:
    assert ctx.session is not None
    bind_runtime(ctx.db, ctx.runtime.registry, ctx.runtime.keyring)
    try:
        saga, _ = await SagaService(ctx.session, ctx.principal).start(
            params.definition, params.input, cause=ctx.trigger
        )
    except AppError as exc:
        raise ActionFailed(exc.message, code=exc.code) from None
    return {"saga_id": str(saga.id), "definition": saga.definition_name,
            "version": saga.definition_version, "status": saga.status}  # fmt: skip


async def _check(
    session: AsyncSession, raw: Mapping[str, Any], run_as: frozenset[str]
) -> list[tuple[tuple[str | int, ...], str]]:
    """When the rule is saved: the definition exists and run_as covers every call it makes."""
    name = raw.get("definition")
    if not isinstance(name, str):
        return []
    row = await DefinitionRepository(session).by_name(name)
    if row is None:
        return [(("definition",), f"no saga definition named {name!r}")]
    tenant_id = session.info.get("tenant_id") or uuid.UUID(int=0)
    who = Principal(kind="system", id=uuid.UUID(int=0), tenant_id=tenant_id, tenant_slug="",
                    label="rule", permissions=run_as)  # fmt: skip
    plan = await plan_saga(SpecLookup(session), who, SagaDocument.model_validate(row.document), {})
    return [(("definition",), f"the saga needs {p}: add it to run_as") for p in plan.missing]


register_action(ActionType(
    "saga.start", SagaStartParams, _start,
    "Start a multi-system action (saga) with the rule's identity; later actions read "
    "steps.<id>.output.saga_id", permission="sagas.run", transactional=True, check=_check,
    describe=lambda p: f"start saga {p.definition} with {p.input}",
))  # fmt: skip
