"""Saga definitions (validated, versioned, audited) and sagas: preview, start, read.

Starting a saga needs ``sagas.run`` (the route checks it) and the permission of every call
it may make: each step's action, its compensation and its verify action, checked up front
(403 listing what is missing; the preview shows the same list before anyone tries). The
saga then runs in the background as its starter, with exactly those permissions.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit import service as audit
from relaydesk.auth.principal import Principal
from relaydesk.errors import Conflict, Forbidden, NotFound, ValidationFailed
from relaydesk.events.envelope import Envelope
from relaydesk.integrations.outcome import PII_VIEW
from relaydesk.kit.db import utcnow
from relaydesk.kit.ids import uuid7
from relaydesk.kit.pagination import PageParams
from relaydesk.sagas.definition import SagaDocument, parse_document, validate_input
from relaydesk.sagas.models import RUNNING, Saga, SagaDefinition, SagaStep
from relaydesk.sagas.planning import SpecLookup, connector_problems, plan_saga, raise_problems
from relaydesk.sagas.repository import DefinitionRepository, SagaRepository
from relaydesk.sagas.schemas import (
    Actor,
    CompensationOut,
    DefinitionIn,
    PreviewOut,
    SagaOut,
    StepOut,
)
from relaydesk.sagas.state import enqueue_step, masked_input, masked_output

__all__ = ["SagaService", "saga_out"]

PREFIX = ("body", "definition")


class SagaService:
    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal
        self.definitions = DefinitionRepository(session)
        self.sagas = SagaRepository(session)

    # --- definitions ---------------------------------------------------------------------

    async def _validated(self, body: DefinitionIn) -> SagaDocument:
        doc = parse_document(body.definition, PREFIX)
        specs = SpecLookup(self.session)
        raise_problems(await connector_problems(specs, doc), PREFIX)
        return doc

    async def create_definition(self, body: DefinitionIn) -> SagaDefinition:
        doc = await self._validated(body)
        if await self.definitions.by_name(doc.name) is not None:
            raise Conflict(f"a saga definition named {doc.name!r} exists", code="name_taken")
        row = SagaDefinition(
            name=doc.name, title=doc.title or "", enabled=body.enabled,
            document=doc.model_dump(mode="json", exclude_none=True),
        )  # fmt: skip
        try:
            await self.definitions.create(row)
        except IntegrityError:  # a concurrent create won
            raise Conflict(f"a saga definition named {doc.name!r} exists",
                           code="name_taken") from None  # fmt: skip
        await self._audit("saga_definition.created", row)
        return row

    async def replace_definition(
        self, definition_id: uuid.UUID, body: DefinitionIn
    ) -> SagaDefinition:
        row = await self.definitions.get_or_404(definition_id)
        doc = await self._validated(body)
        if doc.name != row.name:
            raise_problems([(("name",), f"the name cannot change (it is {row.name!r})")], PREFIX)
        row.document = doc.model_dump(mode="json", exclude_none=True)
        row.title, row.enabled = doc.title or "", body.enabled
        row.version += 1
        row.updated_at = utcnow()
        await self.session.flush()
        await self._audit("saga_definition.updated", row)
        return row

    async def get_definition(self, definition_id: uuid.UUID) -> SagaDefinition:
        return await self.definitions.get_or_404(definition_id)

    async def list_definitions(
        self, params: PageParams
    ) -> tuple[Sequence[SagaDefinition], str | None]:
        return await self.definitions.list_page(params)

    async def delete_definition(self, definition_id: uuid.UUID) -> None:
        """Sagas already started keep their snapshot of the definition."""
        row = await self.definitions.get_or_404(definition_id)
        await self._audit("saga_definition.deleted", row)
        await self.definitions.delete(row)

    async def _audit(self, action: str, row: SagaDefinition) -> None:
        await audit.record(
            self.session, tenant_id=row.tenant_id, action=action, actor=self.principal.actor,
            target_type="saga_definition", target_id=row.id,
            details={"name": row.name, "version": row.version, "enabled": row.enabled},
        )  # fmt: skip

    async def _definition(self, ref: str) -> SagaDefinition:
        row = None
        try:
            row = await self.definitions.get(uuid.UUID(ref))
        except ValueError:
            row = None
        row = row or await self.definitions.by_name(ref)
        if row is None:
            raise NotFound(f"saga definition {ref!r} not found")
        return row

    # --- preview and start ---------------------------------------------------------------

    async def preview(self, ref: str, raw_input: dict[str, Any]) -> PreviewOut:
        row = await self._definition(ref)
        doc = SagaDocument.model_validate(row.document)
        values = validate_input(doc, raw_input)
        specs = SpecLookup(self.session)
        plan = await plan_saga(specs, self.principal, doc, values)
        shown = values if self.principal.has(PII_VIEW) else masked_input(doc, values)
        return PreviewOut(
            definition=row.name, definition_id=row.id, version=row.version, title=doc.title,
            input=shown, allowed=not plan.missing and not plan.problems and row.enabled,
            missing_permissions=plan.missing, steps=plan.steps, problems=plan.problems,
        )  # fmt: skip

    async def start(
        self, ref: str, raw_input: dict[str, Any], *, cause: Envelope | None = None
    ) -> tuple[Saga, list[SagaStep]]:
        """Check, then create the saga and its first step's job. ``cause``: the event that led
        to it (a rule's trigger); its final event is then one automation hop deeper."""
        row = await self._definition(ref)
        if not row.enabled:
            raise Conflict(f"saga definition {row.name!r} is disabled", code="saga_disabled")
        doc = SagaDocument.model_validate(row.document)
        values = validate_input(doc, raw_input)
        specs = SpecLookup(self.session)
        plan = await plan_saga(specs, self.principal, doc, values)
        if plan.missing:
            raise Forbidden(f"Missing permission(s): {', '.join(plan.missing)}",
                            details={"missing": plan.missing})  # fmt: skip
        gone = [p for p in plan.problems if p.loc[-1] == "instance"]
        if gone:
            raise Conflict(f"saga definition {row.name!r} cannot run: {gone[0].msg}",
                           code="saga_definition_broken",
                           details=[{"loc": p.loc, "msg": p.msg} for p in gone])  # fmt: skip
        if plan.problems:  # the input passes the saga's schema but not a step's parameters
            first = plan.problems[0]
            raise ValidationFailed(
                f"with this input, step parameter {'.'.join(map(str, first.loc))}: {first.msg}",
                details=[{"loc": ["definition", *p.loc], "msg": p.msg, "type": "value_error"}
                         for p in plan.problems],
            )  # fmt: skip
        principal = self.principal
        granted = set(plan.needed) | ({PII_VIEW} if principal.has(PII_VIEW) else set())
        saga = Saga(
            id=uuid7(), definition_id=row.id, definition_name=row.name,
            definition_version=row.version, document=row.document, input=values,
            status=RUNNING, current_step=0,
            started_by={
                "type": principal.kind, "id": str(principal.id), "label": principal.label,
                "tenant_slug": principal.tenant_slug, "permissions": sorted(granted),
                "user_id": str(principal.user_id) if principal.user_id else None,
                "cause": _cause(cause),
            },
        )  # fmt: skip
        self.sagas.add(saga)
        steps = [
            self.sagas.add_step(SagaStep(
                saga_id=saga.id, position=index, name=step.name, instance=step.instance,
                action=step.action,
            ))
            for index, step in enumerate(doc.steps)
        ]  # fmt: skip
        await self.session.flush()
        await enqueue_step(self.session, saga, 0)
        await audit.record(
            self.session, tenant_id=saga.tenant_id, action="saga.started",
            actor=principal.actor, target_type="saga", target_id=saga.id,
            details={"definition": row.name, "version": row.version,
                     "input": masked_input(doc, values)},
        )  # fmt: skip
        return saga, steps

    # --- reading -------------------------------------------------------------------------

    async def get(self, saga_id: uuid.UUID) -> tuple[Saga, list[SagaStep]]:
        saga = await self.sagas.get_or_404(saga_id)
        return saga, await self.sagas.steps(saga.id)

    async def list_sagas(
        self, params: PageParams, *, status: str | None = None, definition: str | None = None
    ) -> tuple[Sequence[Saga], str | None]:
        return await self.sagas.list_page(params, status=status, definition=definition)


def _cause(cause: Envelope | None) -> dict[str, Any] | None:
    if cause is None:
        return None
    return {"id": str(cause.id), "type": cause.type, "depth": cause.depth,
            "correlation_id": cause.correlation_id or str(cause.id)}  # fmt: skip


def _step_out(step: SagaStep, clear: bool) -> StepOut:
    return StepOut(
        position=step.position, name=step.name, instance=step.instance, action=step.action,
        status=step.status, attempts=step.attempts, params=step.params,
        output=step.output if clear else masked_output(step), error=step.error,
        call_id=step.call_id, started_at=step.started_at, finished_at=step.finished_at,
        attention=step.attention,
        compensation=CompensationOut(
            status=step.compensation_status, action=step.compensation_action,
            attempts=step.compensation_attempts, params=step.compensation_params,
            error=step.compensation_error, call_id=step.compensation_call_id,
            at=step.compensated_at,
        ),
    )  # fmt: skip


def saga_out(saga: Saga, steps: Sequence[SagaStep] | None, principal: Principal) -> SagaOut:
    """The saga as ``principal`` may see it (personal data masked without customers.pii.view)."""
    clear = principal.has(PII_VIEW)
    doc = SagaDocument.model_validate(saga.document)
    who = saga.started_by
    return SagaOut(
        id=saga.id, definition=saga.definition_name, definition_id=saga.definition_id,
        definition_version=saga.definition_version, status=saga.status,
        current_step=saga.current_step,
        input=dict(saga.input) if clear else masked_input(doc, dict(saga.input)),
        error=saga.error,
        started_by=Actor(type=who.get("type") or "system", id=who.get("id"),
                         label=who.get("label")),
        created_at=saga.created_at, updated_at=saga.updated_at, finished_at=saga.finished_at,
        steps=[_step_out(s, clear) for s in steps] if steps is not None else None,
    )  # fmt: skip
