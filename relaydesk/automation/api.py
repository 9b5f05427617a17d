"""``/api/v1/rules``: automation rules, their versions and executions, dry runs, and the
catalogues the rule builder needs (action types with their parameter schemas, operators).

Reading needs ``rules.read``; creating, changing, enabling and dry-running ``rules.manage``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, status

from relaydesk.auth.deps import Require
from relaydesk.auth.principal import Principal
from relaydesk.automation.actions import action_types
from relaydesk.automation.conditions import OPERATORS
from relaydesk.automation.definition import compiled
from relaydesk.automation.dryrun import dry_run
from relaydesk.automation.models import Rule, RuleExecution
from relaydesk.automation.runtime import AutomationRuntime, bind_runtime, bound_runtime
from relaydesk.automation.schemas import (
    ActionTypeOut,
    DryRunIn,
    DryRunOut,
    DryRunRuleIn,
    ExecutionOut,
    OperatorOut,
    RuleIn,
    RuleOut,
    RulePut,
    VersionOut,
)
from relaydesk.automation.service import RuleService, check_definition
from relaydesk.integrations.api import get_keyring, get_registry
from relaydesk.integrations.outcome import PII_VIEW
from relaydesk.kit.db import DbSession
from relaydesk.kit.masking import detect_and_mask_text
from relaydesk.kit.pagination import Page, PageParams, page_params
from relaydesk.kit.schemas import COMMON_ERRORS, error_responses

__all__ = ["get_runtime", "router"]

router = APIRouter(prefix="/rules", tags=["rules"])

Reader = Annotated[Principal, Depends(Require("rules.read"))]
Manager = Annotated[Principal, Depends(Require("rules.manage"))]
Paging = Annotated[PageParams, Depends(page_params)]
WRITE_ERRORS = {**COMMON_ERRORS, **error_responses(409)}
ExecutionStatus = Literal["pending", "running", "waiting", "succeeded", "partial", "failed",
                          "not_matched", "refused", "rate_limited"]  # fmt: skip


def get_runtime(request: Request) -> AutomationRuntime:
    """The runtime bound to the app's database, or one made of the app's own services."""
    db = request.app.state.db
    runtime = bound_runtime(db)
    if runtime is None:
        runtime = bind_runtime(db, AutomationRuntime(
            registry=get_registry(request), keyring=get_keyring(request),
            rate_limiter=request.app.state.rate_limiter,
        ))  # fmt: skip
    return runtime


Runtime = Annotated[AutomationRuntime, Depends(get_runtime)]


def rule_out(rule: Rule, definition: dict[str, Any]) -> RuleOut:
    return RuleOut(
        id=rule.id, name=rule.name, description=rule.description, enabled=rule.enabled,
        version=rule.version, version_id=rule.version_id, trigger_kind=rule.trigger_kind,
        definition=definition, created_by=rule.created_by, created_at=rule.created_at,
        updated_at=rule.updated_at,
    )  # fmt: skip


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return detect_and_mask_text(value)
    if isinstance(value, Mapping):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def execution_out(row: RuleExecution, principal: Principal) -> ExecutionOut:
    out = ExecutionOut.model_validate(row)
    if not principal.has(PII_VIEW):  # payloads, parameters and outputs may hold personal data
        out.trigger, out.lookups = _masked(out.trigger), _masked(out.lookups)
        out.steps = _masked(out.steps)
    return out


# --- catalogues (before /{rule_id}) -----------------------------------------------------------


@router.get("/action-types", response_model=list[ActionTypeOut], responses=COMMON_ERRORS)
async def list_action_types(principal: Reader) -> list[ActionTypeOut]:
    """Every action a rule can use, with the JSON Schema of its parameters (for the builder).
    String parameters may be templates: ``{{ event.payload.order_no }}``."""
    return [
        ActionTypeOut(name=a.name, description=a.description, side_effects=a.side_effects,
                      permission=a.permission, params_schema=a.params_schema())
        for a in action_types().values()
    ]  # fmt: skip


@router.get("/operators", response_model=list[OperatorOut], responses=COMMON_ERRORS)
async def list_operators(principal: Reader) -> list[OperatorOut]:
    """The condition operators with the JSON Schema of their ``value``."""
    return [OperatorOut(name=o.name, description=o.description, value_schema=o.value_schema,
                        options=list(o.options)) for o in OPERATORS.values()]  # fmt: skip


@router.post("/dry-run", response_model=DryRunOut, responses=COMMON_ERRORS)
async def dry_run_unsaved(
    body: DryRunRuleIn, principal: Manager, session: DbSession, request: Request, runtime: Runtime
) -> DryRunOut:
    """Evaluate an unsaved rule against a sample event: no side effects (see docs)."""
    rule = await check_definition(session, principal, body.rule)
    return await dry_run(session, request.app.state.db, runtime, principal, rule, body,
                         name=body.rule.name)  # fmt: skip


# --- rules --------------------------------------------------------------------------------------


@router.get("", response_model=Page[RuleOut], responses=COMMON_ERRORS)
async def list_rules(
    principal: Reader,
    session: DbSession,
    paging: Paging,
    enabled: Annotated[bool | None, Query()] = None,
    trigger: Annotated[Literal["event", "cron", "absence"] | None, Query()] = None,
) -> Page[RuleOut]:
    rows, cursor = await RuleService(session, principal).list_rules(paging, enabled=enabled,
                                                              trigger=trigger)  # fmt: skip
    return Page[RuleOut](items=[rule_out(r, d) for r, d in rows], next_cursor=cursor)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=RuleOut,
             responses=WRITE_ERRORS)  # fmt: skip
async def create_rule(body: RuleIn, principal: Manager, session: DbSession) -> RuleOut:
    """Create a rule (version 1). Invalid definitions answer 422 naming each field path."""
    rule, version = await RuleService(session, principal).create(body)
    return rule_out(rule, version.definition)


@router.get("/{rule_id}", response_model=RuleOut, responses=COMMON_ERRORS)
async def get_rule(rule_id: uuid.UUID, principal: Reader, session: DbSession) -> RuleOut:
    rule, version = await RuleService(session, principal).get(rule_id)
    return rule_out(rule, version.definition)


@router.put("/{rule_id}", response_model=RuleOut, responses=WRITE_ERRORS)
async def update_rule(
    rule_id: uuid.UUID, body: RulePut, principal: Manager, session: DbSession
) -> RuleOut:
    """Replace the rule's definition: a new version when it changed (executions keep theirs)."""
    rule, version = await RuleService(session, principal).update(rule_id, body)
    return rule_out(rule, version.definition)


@router.delete("/{rule_id}", status_code=status.HTTP_204_NO_CONTENT, responses=COMMON_ERRORS)
async def delete_rule(rule_id: uuid.UUID, principal: Manager, session: DbSession) -> None:
    """Delete a rule with its versions and executions (audited)."""
    await RuleService(session, principal).delete(rule_id)


@router.post("/{rule_id}/enable", response_model=RuleOut, responses=COMMON_ERRORS)
async def enable_rule(rule_id: uuid.UUID, principal: Manager, session: DbSession) -> RuleOut:
    rule, version = await RuleService(session, principal).set_enabled(rule_id, True)
    return rule_out(rule, version.definition)


@router.post("/{rule_id}/disable", response_model=RuleOut, responses=COMMON_ERRORS)
async def disable_rule(rule_id: uuid.UUID, principal: Manager, session: DbSession) -> RuleOut:
    rule, version = await RuleService(session, principal).set_enabled(rule_id, False)
    return rule_out(rule, version.definition)


@router.get("/{rule_id}/versions", response_model=list[VersionOut], responses=COMMON_ERRORS)
async def list_versions(
    rule_id: uuid.UUID, principal: Reader, session: DbSession
) -> list[VersionOut]:
    """Every version of the rule, newest first (versions never change)."""
    versions = await RuleService(session, principal).version_list(rule_id)
    return [VersionOut.model_validate(v) for v in versions]


@router.get("/{rule_id}/executions", response_model=Page[ExecutionOut], responses=COMMON_ERRORS)
async def list_executions(
    rule_id: uuid.UUID,
    principal: Reader,
    session: DbSession,
    paging: Paging,
    status: Annotated[ExecutionStatus | None, Query()] = None,
) -> Page[ExecutionOut]:
    """The rule's executions, newest first, with the conditions' values and every action's
    status, output and error (personal data masked without customers.pii.view)."""
    rows, cursor = await RuleService(session, principal).execution_page(rule_id, paging,
                                                                        status=status)  # fmt: skip
    return Page[ExecutionOut](items=[execution_out(r, principal) for r in rows],
                              next_cursor=cursor)  # fmt: skip


@router.post("/{rule_id}/dry-run", response_model=DryRunOut, responses=COMMON_ERRORS)
async def dry_run_saved(
    rule_id: uuid.UUID,
    body: DryRunIn,
    principal: Manager,
    session: DbSession,
    request: Request,
    runtime: Runtime,
) -> DryRunOut:
    """Evaluate the saved rule's current version against a sample event: no side effects."""
    rule, version = await RuleService(session, principal).get(rule_id)
    return await dry_run(session, request.app.state.db, runtime, principal,
                         compiled(version.id, version.definition), body, rule_id=rule.id,
                         name=rule.name)  # fmt: skip
