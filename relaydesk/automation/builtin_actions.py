"""The actions every rule can use: ``connector.run``, ``event.emit``, ``notify``, ``delay``
and ``set_tags``. Other domains register theirs (``saga.start``, ``webhook.send``, the
conversation actions) the same way, in their own modules."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.automation.actions import (
    ActionContext,
    ActionFailed,
    ActionType,
    Wait,
    register_action,
)
from relaydesk.automation.connector_calls import (
    call_connector,
    outcome_failure,
    read_session,
    resolve_action,
)
from relaydesk.errors import AppError
from relaydesk.events.catalogue import CUSTOM_PREFIX
from relaydesk.events.outbox import emit
from relaydesk.integrations.templating import has_template
from relaydesk.notifications.service import notify

__all__ = ["ConnectorRunParams", "DelayParams", "EmitParams", "NotifyParams", "SetTagsParams"]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- connector.run ---------------------------------------------------------------------------


class ConnectorRunParams(_Params):
    instance: str = Field(
        min_length=1, max_length=100, description="The connector instance's name (or id)"
    )
    action: str = Field(min_length=1, max_length=63, description="The action's name")
    params: dict[str, Any] = Field(default_factory=dict, description="The action's parameters")
    fail_on_error: bool = Field(
        True, description="A call answering ok=false fails the step (else its output says so)"
    )


async def _connector_run(ctx: ActionContext, params: ConnectorRunParams) -> dict[str, Any]:
    outcome = await call_connector(ctx.db, ctx.runtime, ctx.principal, params.instance,
                                   params.action, params.params, session=ctx.session)  # fmt: skip
    if not outcome.ok and params.fail_on_error:
        raise outcome_failure(outcome)
    return outcome.model_dump(mode="json", by_alias=True)


async def _connector_effect(ctx: ActionContext, params: ConnectorRunParams) -> tuple[str, bool]:
    if ctx.session is not None:
        target = await resolve_action(ctx.session, params.instance, params.action)
    else:
        async with read_session(ctx.db, ctx.tenant_id) as session:
            target = await resolve_action(session, params.instance, params.action)
    return target.effect, target.idempotent


async def _connector_reads(ctx: ActionContext, params: ConnectorRunParams) -> bool:
    try:
        return (await _connector_effect(ctx, params))[0] == "read"
    except ActionFailed:
        return False


async def _connector_idempotent(ctx: ActionContext, params: ConnectorRunParams) -> bool:
    try:
        effect, idempotent = await _connector_effect(ctx, params)
    except ActionFailed:
        return False
    return effect == "read" or idempotent


async def _connector_permission(session: AsyncSession, raw: Any) -> str | None:
    """The action's permission, when the instance exists (checked again at run time)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("instance"), str):
        return None
    if has_template(raw["instance"]) or has_template(raw.get("action")):
        return None
    try:
        target = await resolve_action(session, raw["instance"], str(raw.get("action")))
    except ActionFailed:
        return None
    return target.permission


register_action(ActionType(
    "connector.run", ConnectorRunParams, _connector_run,
    "Run a connector action as the rule's identity; later actions read its outcome as "
    "steps.<id>.output (ok, data, error, fetched_at...)",
    is_read_only=_connector_reads, is_idempotent=_connector_idempotent,
    permission_for=_connector_permission,
    describe=lambda p: f"run {p.instance}.{p.action} with {p.params}",
))  # fmt: skip


# --- event.emit ------------------------------------------------------------------------------


class EmitParams(_Params):
    type: str = Field(
        pattern=r"^custom\.[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$",
        max_length=100,
        description="A custom.* event type",
    )
    payload: dict[str, Any] = Field(default_factory=dict)
    key: str | None = Field(None, max_length=200, description="Ordering key (default: its id)")


def rule_source(ctx: ActionContext) -> dict[str, Any]:
    """The ``source`` of an event a rule emits: the chain of rules that led to it."""
    previous = ctx.trigger.source.get("chain") if ctx.trigger.source.get("kind") == "rule" \
        else None  # fmt: skip
    chain = [*(previous or []), str(ctx.rule_id)]
    return {"kind": "rule", "rule_id": str(ctx.rule_id), "execution_id": str(ctx.execution_id),
            "chain": chain[-20:]}  # fmt: skip


async def _emit(ctx: ActionContext, params: EmitParams) -> dict[str, Any]:
    assert ctx.session is not None
    if not params.type.startswith(CUSTOM_PREFIX):  # pragma: no cover - the pattern says so
        raise ActionFailed("rules emit custom.* events only")
    envelope = await emit(ctx.session, params.type, params.payload, tenant_id=ctx.tenant_id,
                          key=params.key, source=rule_source(ctx), cause=ctx.trigger)  # fmt: skip
    return {"event_id": str(envelope.id), "type": envelope.type, "depth": envelope.depth}


register_action(ActionType(
    "event.emit", EmitParams, _emit,
    "Emit a custom.* event (caused by the trigger: one automation hop deeper)",
    transactional=True, describe=lambda p: f"emit {p.type} {p.payload}",
))  # fmt: skip


# --- notify ----------------------------------------------------------------------------------


class NotifyParams(_Params):
    user_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    role: str | None = Field(None, max_length=100, description="Every user holding this role")
    permission: str | None = Field(
        None, max_length=120, description="Every user holding this permission"
    )
    title: str = Field(min_length=1, max_length=200)
    body: str = Field("", max_length=4000)
    link: str | None = Field(None, max_length=500, description="A path in the workbench")

    @model_validator(mode="after")
    def _someone(self) -> NotifyParams:
        if not self.user_ids and self.role is None and self.permission is None:
            raise ValueError("name the recipients: user_ids, role or permission")
        return self


async def _notify(ctx: ActionContext, params: NotifyParams) -> dict[str, Any]:
    assert ctx.session is not None
    users = await notify(
        ctx.session, ctx.tenant_id, params.user_ids, params.role, params.permission,
        params.title, params.body, params.link,
        source={"kind": "rule", "rule_id": str(ctx.rule_id),
                "execution_id": str(ctx.execution_id)},
        cause=ctx.trigger, event_source=rule_source(ctx),
    )  # fmt: skip
    return {"notified": len(users), "user_ids": [str(u) for u in users]}


register_action(ActionType(
    "notify", NotifyParams, _notify, "Notify users of the organisation (by id, role or "
    "permission) in the workbench", transactional=True,
    describe=lambda p: f"notify {p.role or p.permission or p.user_ids}: {p.title}",
))  # fmt: skip


# --- delay -----------------------------------------------------------------------------------


class DelayParams(_Params):
    seconds: int = Field(0, ge=0)
    minutes: int = Field(0, ge=0)
    hours: int = Field(0, ge=0)

    @property
    def total(self) -> int:
        return self.seconds + 60 * self.minutes + 3600 * self.hours

    @model_validator(mode="after")
    def _positive(self) -> DelayParams:
        if self.total <= 0:
            raise ValueError("wait at least one second (seconds, minutes or hours)")
        return self


async def _delay(ctx: ActionContext, params: DelayParams) -> Wait:
    limit = ctx.runtime.limits.max_delay_seconds
    if params.total > limit:
        raise ActionFailed(f"a delay is at most {limit} seconds", code="delay_too_long")
    return Wait(params.total, {"waited_seconds": params.total})


register_action(ActionType(
    "delay", DelayParams, _delay, "Wait, then continue with the next action (durable: "
    "through the job queue, survives restarts)", side_effects=False,
    describe=lambda p: f"wait {p.total} s",
))  # fmt: skip


# --- set_tags --------------------------------------------------------------------------------


class SetTagsParams(_Params):
    add: list[str] = Field(default_factory=list, max_length=20)
    remove: list[str] = Field(default_factory=list, max_length=20)
    customer_id: str | None = Field(None, description="Default: the customer of the event")


async def _set_tags(ctx: ActionContext, params: SetTagsParams) -> dict[str, Any]:
    from relaydesk.customers.schemas import CustomerPatch
    from relaydesk.customers.service import CustomerService

    assert ctx.session is not None
    target = params.customer_id or (str(ctx.customer_id) if ctx.customer_id else None)
    if target is None:
        raise ActionFailed("no customer: the event names none and customer_id is not set",
                           code="no_customer")  # fmt: skip
    try:
        customer_id = uuid.UUID(target)
    except ValueError:
        raise ActionFailed(f"customer_id {target!r} is not an id", code="invalid_params") \
            from None  # fmt: skip
    try:
        service = CustomerService(ctx.session, ctx.principal.actor)
        customer = await service.get(customer_id)
        tags = [t for t in customer.tags or [] if t not in set(params.remove)]
        tags += [t for t in params.add if t not in tags]
        await service.update(customer_id, CustomerPatch(tags=tags))
    except AppError as exc:
        raise ActionFailed(exc.message, code=exc.code) from None
    return {"customer_id": str(customer_id), "tags": tags}


register_action(ActionType(
    "set_tags", SetTagsParams, _set_tags, "Add or remove tags of the event's customer",
    permission="customers.write", transactional=True,
    describe=lambda p: f"tags +{p.add} -{p.remove}",
))  # fmt: skip
