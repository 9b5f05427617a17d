"""A definition against the tenant's connector instances: the checks made when it is saved,
and the plan shown before it runs (steps, parameters resolved where possible,
compensations, the permissions the caller lacks)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.auth.principal import Principal
from relaydesk.errors import ValidationFailed
from relaydesk.integrations.instances import instance_spec
from relaydesk.integrations.outcome import PII_VIEW, mask_params
from relaydesk.integrations.repository import ConnectorInstanceRepository
from relaydesk.integrations.spec import ConnectorSpec, action_permission, validate_params
from relaydesk.integrations.spec_models.action import ActionSpec
from relaydesk.integrations.templating import TemplateError, template_references
from relaydesk.sagas.context import evaluate_when, render_partially
from relaydesk.sagas.definition import SagaDocument, StepDef
from relaydesk.sagas.policy import compensation_for
from relaydesk.sagas.schemas import PreviewCompensation, PreviewStep, Problem

__all__ = ["Plan", "SpecLookup", "connector_problems", "plan_saga", "raise_problems"]

Loc = tuple[str | int, ...]


class SpecLookup:
    """The specs of the tenant's instances by name, loaded once per request."""

    def __init__(self, session: AsyncSession) -> None:
        self.instances = ConnectorInstanceRepository(session)
        self._specs: dict[str, ConnectorSpec | None] = {}

    async def spec(self, name: str) -> ConnectorSpec | None:
        if name not in self._specs:
            instance = await self.instances.by_name(name)
            self._specs[name] = instance_spec(instance) if instance is not None else None
        return self._specs[name]


def _param_problems(
    action_name: str, action: ActionSpec, params: Mapping[str, Any], loc: Loc
) -> Iterator[tuple[Loc, str]]:
    for name in params:
        if name not in action.params:
            known = ", ".join(action.params) or "none"
            yield (*loc, name), f"{action_name!r} has no parameter {name!r} (parameters: {known})"
    for name, spec in action.params.items():
        if spec.required and name not in params:
            yield loc, f"{action_name!r} needs its required parameter {name!r}"


async def _action(
    specs: SpecLookup, instance: str, action: str, loc: Loc, effect: str | None = None
) -> tuple[ActionSpec | None, list[tuple[Loc, str]]]:
    spec = await specs.spec(instance)
    if spec is None:
        return None, [((*loc, "instance"), f"no connector instance named {instance!r}")]
    found = spec.actions.get(action)
    if found is None:
        known = ", ".join(spec.actions)
        return None, [((*loc, "action"), f"{spec.name!r} has no action {action!r} ({known})")]
    if effect is not None and found.effect != effect:
        return None, [((*loc, "action"), f"{action!r} is a {found.effect} action, not a {effect}")]
    return found, []


async def connector_problems(specs: SpecLookup, doc: SagaDocument) -> list[tuple[Loc, str]]:
    """Every step's instance, action and parameters against the tenant's instances."""
    problems: list[tuple[Loc, str]] = []
    for index, step in enumerate(doc.steps):
        loc: Loc = ("steps", index)
        action, found = await _action(specs, step.instance, step.action, loc)
        problems += found
        if action is not None:
            problems += _param_problems(step.action, action, step.params, (*loc, "params"))
        if not isinstance(step.compensate, str) and step.compensate is not None:
            cloc = (*loc, "compensate")
            instance = step.compensate.instance or step.instance
            undo, found = await _action(specs, instance, step.compensate.action, cloc, "write")
            problems += found
            if undo is not None:
                problems += _param_problems(step.compensate.action, undo, step.compensate.params,
                                            (*cloc, "params"))  # fmt: skip
        if step.verify is not None:
            vloc = (*loc, "verify")
            check, found = await _action(specs, step.instance, step.verify.action, vloc, "read")
            problems += found
            if check is not None:
                problems += _param_problems(step.verify.action, check, step.verify.params,
                                            (*vloc, "params"))  # fmt: skip
    return problems


def raise_problems(problems: list[tuple[Loc, str]], prefix: Loc) -> None:
    if not problems:
        return
    details = [{"loc": [*prefix, *loc], "msg": msg, "type": "value_error"} for loc, msg in problems]
    where = ".".join(str(p) for p in details[0]["loc"])
    more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
    raise ValidationFailed(f"{where}: {details[0]['msg']}{more}", details=details)


# --------------------------------------------------------------------------------------
# The plan (preview, and the permission check of a start)
# --------------------------------------------------------------------------------------


@dataclass
class Plan:
    steps: list[PreviewStep] = field(default_factory=list)
    #: every permission the saga's calls need (steps, compensations, verifications)
    needed: set[str] = field(default_factory=set)
    missing: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _shown(values: dict[str, Any], action: ActionSpec, principal: Principal) -> dict[str, Any]:
    return values if principal.has(PII_VIEW) else mask_params(values, action.params)


def _runs(expression: str | None, context: Mapping[str, Any]) -> bool | None:
    if expression is None:
        return True
    try:
        roots = {ref.split(".")[0] for ref in template_references("{{ " + expression + " }}")}
        return evaluate_when(expression, context) if roots <= {"input"} else None
    except TemplateError:
        return None


async def plan_saga(
    specs: SpecLookup, principal: Principal, doc: SagaDocument, values: dict[str, Any]
) -> Plan:
    plan = Plan()
    context = {"input": values}
    for index, step in enumerate(doc.steps):
        loc: Loc = ("steps", index)
        spec = await specs.spec(step.instance)
        action = spec.actions.get(step.action) if spec is not None else None
        params, unresolved = render_partially(step.params, context, frozenset({"input"}))
        item = PreviewStep(
            position=index, name=step.name, title=step.title, instance=step.instance,
            action=step.action, allowed=False, when=step.when, runs=_runs(step.when, context),
            params=params, unresolved=unresolved, on_unknown=step.on_unknown,
            verify=step.verify is not None,
        )  # fmt: skip
        plan.steps.append(item)
        if spec is None or action is None:
            item.problems.append(
                Problem(
                    loc=[*loc, "instance"],
                    msg=f"instance {step.instance!r} or its action {step.action!r} is gone",
                )
            )
            continue
        permission = action_permission(spec, step.action)
        plan.needed.add(permission)
        item.action_title, item.effect, item.idempotent = (
            action.title,
            action.effect,
            action.idempotent,
        )
        item.permission, item.allowed = permission, principal.has(permission)
        if not unresolved:
            try:
                validate_params(spec, step.action, params)
            except ValidationFailed as exc:
                for detail in exc.details or []:
                    item.problems.append(Problem(loc=[*loc, *detail["loc"]], msg=detail["msg"]))
        item.params = _shown(params, action, principal)
        if step.verify is not None:
            plan.needed.add(action_permission(spec, step.verify.action))
        item.compensation = await _compensation(specs, principal, plan, step, spec, params,
                                                unresolved, context)  # fmt: skip
    plan.missing = sorted(p for p in plan.needed if not principal.has(p))
    plan.problems = [p for s in plan.steps for p in s.problems]
    return plan


async def _compensation(
    specs: SpecLookup, principal: Principal, plan: Plan, step: StepDef, spec: ConnectorSpec,
    params: dict[str, Any], unresolved: list[str], context: dict[str, Any],
) -> PreviewCompensation | None:  # fmt: skip
    undo = compensation_for(step, spec)
    if undo is None:
        return None
    undo_spec = await specs.spec(undo.instance)
    action = undo_spec.actions.get(undo.action) if undo_spec is not None else None
    if undo_spec is None or action is None:
        return None
    known = frozenset({"input", "params"}) if not unresolved else frozenset({"input"})
    values, pending = render_partially(undo.params, {**context, "params": params}, known)
    permission = action_permission(undo_spec, undo.action)
    plan.needed.add(permission)
    return PreviewCompensation(
        instance=undo.instance, action=undo.action, title=action.title,
        from_spec=undo.from_spec, params=_shown(values, action, principal), unresolved=pending,
        permission=permission, allowed=principal.has(permission),
    )  # fmt: skip
