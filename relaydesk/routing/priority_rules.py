"""Administration of priority rules: validated against the connector's spec, audited.

A rule is refused with 422 naming the field when its instance (``instance``) or action
(``action``) does not exist, the action writes, a parameter is not the action's, a required
one is missing, a literal has the wrong type or a template reads anything but ``customer``
(``params.<name>``), the condition reads anything but ``result`` and ``customer``
(``condition``), the team does not exist (``team_id``), or the rule would change nothing
(``priority``). Least privilege: the rule's lookup runs with exactly the action's permission,
and only someone who holds that permission may save the rule (403 otherwise).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit import service as audit
from relaydesk.auth.principal import Principal
from relaydesk.errors import Conflict, Forbidden, NotFound
from relaydesk.integrations.models import ConnectorInstance
from relaydesk.integrations.param_check import check_action_params, invalid
from relaydesk.integrations.repository import ConnectorInstanceRepository
from relaydesk.integrations.secrets import instance_spec
from relaydesk.integrations.spec import action_permission
from relaydesk.integrations.templating import TemplateError, template_references
from relaydesk.kit.db import utcnow
from relaydesk.routing.models import PriorityRule
from relaydesk.routing.priority_schemas import PriorityRuleIn, PriorityRuleOut
from relaydesk.tenancy.models import Team

__all__ = ["MAX_RULES", "PriorityRuleService", "clean_skills", "rule_permission"]

MAX_RULES = 20
#: what a condition may read: the action's answer and the customer
CONDITION_ROOTS = frozenset({"result", "customer"})


def clean_skills(skills: Sequence[str]) -> list[str]:
    return sorted({s.strip().lower() for s in skills if s.strip()})


_invalid = invalid


def rule_permission(instance: ConnectorInstance, action: str) -> str:
    """The rule's service identity: the permission of its action ("" if it is gone)."""
    spec = instance_spec(instance)
    return action_permission(spec, action) if action in spec.actions else ""


class PriorityRuleService:
    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal

    async def ordered(self) -> Sequence[PriorityRule]:
        stmt = select(PriorityRule).order_by(PriorityRule.position, PriorityRule.id)
        return list(await self.session.scalars(stmt))

    async def get(self, rule_id: uuid.UUID) -> PriorityRule:
        rule = await self.session.scalar(select(PriorityRule).where(PriorityRule.id == rule_id))
        if rule is None:
            raise NotFound(f"priority rule {rule_id} not found")
        return rule

    async def out(self, rules: Sequence[PriorityRule]) -> list[PriorityRuleOut]:
        ids = {r.instance_id for r in rules}
        found = await self.session.scalars(
            select(ConnectorInstance).where(ConnectorInstance.id.in_(ids))
        )
        instances = {i.id: i for i in found}
        out = []
        for rule in rules:
            instance = instances.get(rule.instance_id)
            out.append(PriorityRuleOut(
                id=rule.id, name=rule.name, position=rule.position, enabled=rule.enabled,
                instance=instance.name if instance is not None else "",
                instance_id=rule.instance_id, action=rule.action, params=dict(rule.params),
                condition=rule.condition, priority=rule.priority, team_id=rule.team_id,
                skills=list(rule.skills or []), timeout_seconds=rule.timeout_seconds,
                permission=rule_permission(instance, rule.action) if instance else "",
                created_at=rule.created_at, updated_at=rule.updated_at,
            ))  # fmt: skip
        return out

    async def create(self, body: PriorityRuleIn) -> PriorityRule:
        instance = await self._check(body)
        count = await self.session.scalar(select(func.count()).select_from(PriorityRule))
        if int(count or 0) >= MAX_RULES:
            raise Conflict(f"at most {MAX_RULES} priority rules per organisation",
                           code="too_many_rules")  # fmt: skip
        await self._unique_name(body.name, None)
        rule = PriorityRule(tenant_id=self.principal.tenant_id, instance_id=instance.id,
                            **self._values(body))  # fmt: skip
        self.session.add(rule)
        await self.session.flush()
        await self._audit("routing.priority_rule_created", rule, instance)
        return rule

    async def replace(self, rule_id: uuid.UUID, body: PriorityRuleIn) -> PriorityRule:
        rule = await self.get(rule_id)  # 404 before any validation (other tenants' ids)
        instance = await self._check(body)
        await self._unique_name(body.name, rule.id)
        for name, value in self._values(body).items():
            setattr(rule, name, value)
        rule.instance_id, rule.updated_at = instance.id, utcnow()
        await self.session.flush()
        await self._audit("routing.priority_rule_updated", rule, instance)
        return rule

    async def delete(self, rule_id: uuid.UUID) -> None:
        rule = await self.get(rule_id)
        instance = await self.session.get(ConnectorInstance, rule.instance_id)
        await self.session.delete(rule)
        await self.session.flush()
        await self._audit("routing.priority_rule_deleted", rule, instance)

    @staticmethod
    def _values(body: PriorityRuleIn) -> dict[str, Any]:
        return {
            "name": body.name, "position": body.position, "enabled": body.enabled,
            "action": body.action, "params": dict(body.params), "condition": body.condition,
            "priority": body.priority, "team_id": body.team_id,
            "skills": clean_skills(body.skills), "timeout_seconds": body.timeout_seconds,
        }  # fmt: skip

    async def _unique_name(self, name: str, own: uuid.UUID | None) -> None:
        found = await self.session.scalar(select(PriorityRule).where(PriorityRule.name == name))
        if found is not None and found.id != own:
            raise Conflict(f"a priority rule {name!r} exists already", code="rule_exists")

    async def _audit(
        self, action: str, rule: PriorityRule, instance: ConnectorInstance | None
    ) -> None:
        await audit.record(
            self.session, tenant_id=self.principal.tenant_id, action=action,
            actor=self.principal.actor, target_type="routing_priority_rule", target_id=rule.id,
            details={"name": rule.name, "instance": instance.name if instance else None,
                     "action": rule.action, "condition": rule.condition,
                     "priority": rule.priority,
                     "team_id": str(rule.team_id) if rule.team_id else None,
                     "skills": list(rule.skills or []), "enabled": rule.enabled},
        )  # fmt: skip

    # --- validation ----------------------------------------------------------------------

    async def _check(self, body: PriorityRuleIn) -> ConnectorInstance:
        instance = await self._instance(body.instance)
        spec = instance_spec(instance)
        action = spec.actions.get(body.action)
        if action is None:
            raise _invalid(["action"], f"{spec.name} has no action {body.action!r} "
                           f"(one of {', '.join(spec.actions)})")  # fmt: skip
        if action.effect != "read":
            raise _invalid(["action"], f"{spec.name}.{body.action} writes; a rule only reads")
        check_action_params(spec, body.action, body.params, ("customer",))
        self._check_condition(body.condition)
        if body.priority is None and body.team_id is None and not clean_skills(body.skills):
            raise _invalid(["priority"], "a rule must set a priority, a team or skills")
        if body.team_id is not None and await self.session.get(Team, body.team_id) is None:
            raise _invalid(["team_id"], f"no team {body.team_id}")
        permission = action_permission(spec, body.action)
        if not self.principal.has(permission):
            raise Forbidden(
                f"a rule's lookup runs with {permission}, which you do not hold",
                details={"missing": [permission]}, code="least_privilege",
            )  # fmt: skip
        return instance

    async def _instance(self, ref: str) -> ConnectorInstance:
        repo = ConnectorInstanceRepository(self.session)
        instance = await repo.by_name(ref)
        if instance is None:
            try:
                instance = await repo.get(uuid.UUID(ref))
            except ValueError:
                instance = None
        if instance is None:
            raise _invalid(["instance"], f"no connector instance {ref!r}")
        return instance

    @staticmethod
    def _check_condition(condition: str) -> None:
        try:
            references = template_references("{{ " + condition + " }}")
        except TemplateError as exc:
            raise _invalid(["condition"], str(exc)) from None
        for ref in sorted(references):
            if ref.split(".", 1)[0] not in CONDITION_ROOTS:
                raise _invalid(["condition"], f"a condition reads result (the action's answer) "
                               f"or customer, not {ref!r}")  # fmt: skip
