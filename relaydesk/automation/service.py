"""Rule use cases: create, change (a new version each time), enable, delete, read.

Least privilege: a rule's ``run_as`` is its own service identity, and whoever saves the rule
must hold every permission in it (so a rule never does more than its author could); the
actions and lookups must be covered by ``run_as``. Every change is audited.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit import service as audit
from relaydesk.auth.permissions import WILDCARD, is_known
from relaydesk.auth.principal import Principal
from relaydesk.automation.actions import action_types
from relaydesk.automation.connector_calls import find_instance
from relaydesk.automation.definition import CompiledRule, compile_definition
from relaydesk.automation.models import Rule, RuleExecution, RuleVersion
from relaydesk.automation.problems import Problems
from relaydesk.automation.repository import (
    ExecutionRepository,
    RuleRepository,
    VersionRepository,
)
from relaydesk.automation.scheduling import schedule_tick
from relaydesk.automation.schemas import RuleIn, RulePut
from relaydesk.errors import Conflict, Forbidden
from relaydesk.integrations.instances import instance_spec
from relaydesk.integrations.spec import action_permission
from relaydesk.integrations.templating import has_template
from relaydesk.kit.db import utcnow
from relaydesk.kit.pagination import PageParams

__all__ = ["RuleService", "check_definition"]

BODY = ("body",)


async def _check_run_as(principal: Principal, run_as: Sequence[str]) -> None:
    problems = Problems(BODY)
    for i, name in enumerate(run_as):
        if name == WILDCARD or not is_known(name):
            problems.add(("run_as", i), f"unknown permission {name!r} (a rule never holds *)",
                         "unknown_permission")  # fmt: skip
    problems.raise_if_any()
    missing = sorted({p for p in run_as if not principal.has(p)})
    if missing:
        raise Forbidden(
            f"a rule cannot hold permissions you do not hold ({', '.join(missing)})",
            details={"missing": missing},
            code="least_privilege",
        )


async def _check_coverage(session: AsyncSession, rule: CompiledRule) -> None:
    """Every action's (and lookup's) permission must be in run_as; lookups only read."""
    problems = Problems(BODY)
    kinds = action_types()
    for i, step in enumerate(rule.steps):
        kind = kinds[step.type]
        needed = kind.permission
        if needed and needed not in rule.run_as:
            problems.add(("actions", i, "type"), f"{step.type} needs {needed}: add it to run_as")
        if kind.check is not None:
            for loc, message in await kind.check(session, step.params, rule.run_as):
                problems.add(("actions", i, "params", *loc), message)
        if kind.permission_for is not None:
            extra = await kind.permission_for(session, step.params)
            if extra and extra not in rule.run_as:
                problems.add(("actions", i, "params"), f"the action needs {extra}: add it to "
                             "run_as")  # fmt: skip
    for i, lookup in enumerate(rule.lookups):
        if has_template(lookup.instance):
            continue
        instance = await find_instance(session, lookup.instance)
        if instance is None:
            continue  # may be created later; the execution says so if it is still missing
        spec = instance_spec(instance)
        action = spec.actions.get(lookup.action)
        if action is None:
            problems.add(("lookups", i, "action"), f"connector {spec.name!r} has no action "
                         f"{lookup.action!r} (actions: {', '.join(spec.actions)})")  # fmt: skip
            continue
        if action.effect != "read":
            problems.add(("lookups", i, "action"), f"{lookup.action} writes; a lookup may only "
                         "read (use a connector.run action)")  # fmt: skip
        permission = action_permission(spec, lookup.action)
        if permission not in rule.run_as:
            problems.add(("lookups", i, "action"), f"the lookup needs {permission}: add it to "
                         "run_as")  # fmt: skip
    problems.raise_if_any()


async def check_definition(session: AsyncSession, principal: Principal, body: RuleIn
                           ) -> CompiledRule:  # fmt: skip
    """The compiled rule, or 422 (field paths) / 403 (run_as beyond the author's rights)."""
    rule = compile_definition(body.definition(), prefix=BODY)
    await _check_run_as(principal, sorted(rule.run_as))
    await _check_coverage(session, rule)
    return rule


class RuleService:
    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal
        self.rules = RuleRepository(session)
        self.versions = VersionRepository(session)
        self.executions = ExecutionRepository(session)

    async def _audit(self, action: str, rule: Rule, **details: Any) -> None:
        await audit.record(
            self.session,
            tenant_id=rule.tenant_id,
            action=action,
            actor=self.principal.actor,
            target_type="rule",
            target_id=rule.id,
            details={"name": rule.name, "version": rule.version, **details},
        )

    async def _unique(self, name: str, rule_id: uuid.UUID | None = None) -> None:
        other = await self.rules.by_name(name)
        if other is not None and other.id != rule_id:
            raise Conflict(f"a rule named {name!r} exists", code="rule_name_taken")

    def _apply_trigger(self, rule: Rule, compiled_rule: CompiledRule) -> None:
        trigger = compiled_rule.trigger
        rule.trigger_kind = trigger.kind
        rule.trigger_event = trigger.event
        rule.trigger_end_event = trigger.end_event

    async def _new_version(self, rule: Rule, compiled_rule: CompiledRule) -> RuleVersion:
        version = RuleVersion(
            tenant_id=rule.tenant_id, rule_id=rule.id, number=rule.version,
            definition=compiled_rule.definition, created_by=self.principal.id,
            created_by_label=self.principal.label[:200],
        )  # fmt: skip
        self.session.add(version)
        await self.session.flush()
        rule.version_id = version.id
        return version

    async def _schedule(self, rule: Rule, compiled_rule: CompiledRule) -> None:
        if rule.enabled and compiled_rule.trigger.kind == "cron":
            await schedule_tick(self.session, rule.tenant_id, rule.id, compiled_rule.trigger)

    async def create(self, body: RuleIn) -> tuple[Rule, RuleVersion]:
        compiled_rule = await check_definition(self.session, self.principal, body)
        await self._unique(body.name)
        rule = self.rules.add(Rule(
            name=body.name, description=body.description, enabled=body.enabled, version=1,
            trigger_kind=compiled_rule.trigger.kind, created_by=self.principal.id,
        ))  # fmt: skip
        self._apply_trigger(rule, compiled_rule)
        await self.session.flush()
        version = await self._new_version(rule, compiled_rule)
        await self._schedule(rule, compiled_rule)
        await self._audit("rule.created", rule, enabled=rule.enabled, trigger=rule.trigger_kind)
        return rule, version

    async def update(self, rule_id: uuid.UUID, body: RulePut) -> tuple[Rule, RuleVersion]:
        rule = await self.rules.get_or_404(rule_id)
        if body.expected_version is not None and body.expected_version != rule.version:
            raise Conflict(
                f"the rule is at version {rule.version}, not {body.expected_version}: reload it",
                code="version_conflict",
            )
        compiled_rule = await check_definition(self.session, self.principal, body)
        await self._unique(body.name, rule.id)
        current = await self.current_version(rule)
        rule.name, rule.description, rule.enabled = body.name, body.description, body.enabled
        if current.definition == compiled_rule.definition:
            version, changed = current, False
        else:
            rule.version += 1
            self._apply_trigger(rule, compiled_rule)
            version, changed = await self._new_version(rule, compiled_rule), True
        rule.updated_at = utcnow()
        await self.session.flush()
        await self._schedule(rule, compiled_rule)
        await self._audit("rule.updated", rule, new_version=changed, enabled=rule.enabled)
        return rule, version

    async def set_enabled(self, rule_id: uuid.UUID, enabled: bool) -> tuple[Rule, RuleVersion]:
        rule = await self.rules.get_or_404(rule_id)
        version = await self.current_version(rule)
        if rule.enabled != enabled:
            rule.enabled = enabled
            rule.updated_at = utcnow()
            await self.session.flush()
            await self._audit("rule.enabled" if enabled else "rule.disabled", rule)
        if enabled:
            from relaydesk.automation.definition import compiled

            await self._schedule(rule, compiled(version.id, version.definition))
        return rule, version

    async def delete(self, rule_id: uuid.UUID) -> None:
        rule = await self.rules.get_or_404(rule_id)
        await self._audit("rule.deleted", rule)
        await self.rules.delete(rule)

    async def get(self, rule_id: uuid.UUID) -> tuple[Rule, RuleVersion]:
        rule = await self.rules.get_or_404(rule_id)
        return rule, await self.current_version(rule)

    async def current_version(self, rule: Rule) -> RuleVersion:
        version = await self.versions.get(rule.version_id) if rule.version_id else None
        assert version is not None, "a rule always has a current version"
        return version

    async def list_rules(
        self, params: PageParams, *, enabled: bool | None = None, trigger: str | None = None
    ) -> tuple[list[tuple[Rule, dict[str, Any]]], str | None]:
        """Rules with their current definitions, newest first."""
        rows, cursor = await self.rules.list_page(params, enabled=enabled, trigger=trigger)
        versions = await self.versions.definitions([r.version_id for r in rows if r.version_id])
        return [(rule, versions.get(rule.version_id, {})) for rule in rows  # type: ignore[arg-type]
                ], cursor  # fmt: skip

    async def version_list(self, rule_id: uuid.UUID) -> list[RuleVersion]:
        rule = await self.rules.get_or_404(rule_id)
        return list(await self.versions.of_rule(rule.id))

    async def execution_page(
        self, rule_id: uuid.UUID, params: PageParams, *, status: str | None = None
    ) -> tuple[list[RuleExecution], str | None]:
        rule = await self.rules.get_or_404(rule_id)
        rows, cursor = await self.executions.list_page(rule.id, params, status=status)
        return list(rows), cursor
