"""The action registry: what a rule can do, registered by the domain that owns each action.

A domain registers its actions at import time::

    register_action(ActionType(
        "saga.start", SagaStartParams, run_saga_start,
        "Start a multi-system action (saga)", permission="sagas.run",
    ))

``run(ctx, params)`` receives validated parameters (templates already rendered) and returns
the step's output (a JSON object, or None), or :class:`Wait` to continue the rule later, or
raises :class:`ActionFailed` (a clear message for the execution log; the rule's on-error
policy decides what happens next). Any other exception is recorded the same way, as an
internal error.

Two flags decide how a step runs:

* ``transactional=True``: the action only writes to Relaydesk's database (notify, tags, emit
  an event). It runs inside the unit of work that records the step as done, so it happens
  exactly once even when a worker dies and the job runs again. ``ctx.session`` is that unit
  of work.
* otherwise it may call other systems. It runs outside any transaction (``ctx.session`` is
  None; open short units of work with ``ctx.db.job(ctx.tenant_id)``). The step is marked
  *running* before and *done* after; if a worker dies in between, the step's outcome is
  unknown: it is run again only when ``idempotent`` is true (or ``is_idempotent`` says so for
  these parameters), else it is recorded as failed ("interrupted") and not repeated.
  ``ctx.idempotency_key`` is stable across such re-runs: pass it to the other system.

Dry runs never call ``run`` for an action with side effects: they describe it (``describe``)
instead. Actions without side effects (``side_effects=False``, or ``is_read_only`` true for
these parameters, e.g. a connector read) are run for real, so a dry run shows their output.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from relaydesk.auth.principal import Principal
    from relaydesk.automation.runtime import AutomationRuntime
    from relaydesk.events.envelope import Envelope
    from relaydesk.kit.db import Database

__all__ = [
    "ACTION_MODULES",
    "ActionContext",
    "ActionFailed",
    "ActionType",
    "Wait",
    "action_type",
    "action_types",
    "register_action",
    "unregister_action",
]


class ActionFailed(Exception):
    """An action did not do what it should; ``message`` goes to the execution log."""

    def __init__(self, message: str, *, code: str = "failed", output: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.output = output


@dataclass(frozen=True)
class Wait:
    """Returned by an action: continue the rule with the next step after ``seconds``."""

    seconds: float
    output: dict[str, Any] = field(default_factory=dict)


@dataclass
class ActionContext:
    db: Database
    tenant_id: uuid.UUID
    #: the rule's own service identity (its ``run_as`` permissions)
    principal: Principal
    runtime: AutomationRuntime
    rule_id: uuid.UUID
    rule_name: str
    execution_id: uuid.UUID
    step_id: str
    #: the event that triggered the rule (a synthetic one for a cron tick)
    trigger: Envelope
    #: the rendering context: event, customer, lookup, steps, rule, now
    context: Mapping[str, Any]
    #: stable for this step of this execution, across re-runs
    idempotency_key: str
    #: the unit of work recording the step (transactional actions only)
    session: AsyncSession | None = None
    dry_run: bool = False
    #: the customer the event is about, when one was found
    customer_id: uuid.UUID | None = None


Runner = Callable[[ActionContext, Any], Awaitable["dict[str, Any] | Wait | None"]]
Predicate = Callable[[ActionContext, Any], Awaitable[bool]]


@dataclass(frozen=True)
class ActionType:
    name: str
    params_model: type[BaseModel]
    run: Runner
    description: str
    side_effects: bool = True
    #: the permission the rule's run_as must hold to use this action (checked on save and run)
    permission: str | None = None
    transactional: bool = False
    idempotent: bool = False
    #: per-call refinements (a connector action is read-only or idempotent by its spec)
    is_read_only: Predicate | None = None
    is_idempotent: Predicate | None = None
    #: extra checks when a rule is saved: ``async (session, params_json, run_as) -> [(loc, msg)]``
    check: Callable[[Any, Mapping[str, Any], frozenset[str]], Awaitable[list[tuple[tuple[
        str | int, ...], str]]]] | None = None  # fmt: skip
    #: a one-line description of what a call would do (dry runs)
    describe: Callable[[Any], str] | None = None
    #: the permission needed for these params beyond ``permission`` (e.g. a connector action's)
    permission_for: Callable[[Any, Mapping[str, Any]], Awaitable[str | None]] | None = None

    def params_schema(self) -> dict[str, Any]:
        return self.params_model.model_json_schema()

    async def read_only(self, ctx: ActionContext, params: Any) -> bool:
        if not self.side_effects:
            return True
        return self.is_read_only is not None and await self.is_read_only(ctx, params)

    async def repeatable(self, ctx: ActionContext, params: Any) -> bool:
        if self.idempotent or not self.side_effects:
            return True
        return self.is_idempotent is not None and await self.is_idempotent(ctx, params)


_ACTIONS: dict[str, ActionType] = {}


def register_action(action: ActionType) -> ActionType:
    """Add an action type (idempotent for the same object; another one of that name raises)."""
    known = _ACTIONS.get(action.name)
    same = known is None or (known.run is action.run and known.params_model is action.params_model)
    if not same:
        raise ValueError(f"action type {action.name!r} is already registered")
    _ACTIONS[action.name] = action
    return action


def unregister_action(name: str) -> None:
    _ACTIONS.pop(name, None)


#: modules whose import registers actions; a domain with rule actions adds its module here
ACTION_MODULES = (
    "relaydesk.automation.builtin_actions",
    "relaydesk.conversations.rule_actions",
    "relaydesk.sagas.rule_actions",
    "relaydesk.webhooks.rule_actions",
)


def action_types() -> dict[str, ActionType]:
    """Every registered action type, by name (importing the domains registers theirs)."""
    for module in ACTION_MODULES:
        importlib.import_module(module)
    return dict(sorted(_ACTIONS.items()))


def action_type(name: str) -> ActionType | None:
    return action_types().get(name)


def as_json(params: BaseModel | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(params, BaseModel):
        return params.model_dump(mode="json")
    return dict(params)
