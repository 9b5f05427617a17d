"""Per-tenant attribute definitions: create, change, delete (audited)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit import service as audit
from relaydesk.audit.service import Actor
from relaydesk.customers.attribute_schemas import AttributeDefinitionIn, AttributeDefinitionPatch
from relaydesk.customers.attributes import AttributeType
from relaydesk.customers.models import AttributeDefinition
from relaydesk.customers.repository import DefinitionRepository
from relaydesk.errors import Conflict, ValidationFailed

MAX_DEFINITIONS = 200


class AttributeDefinitionService:
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.session = session
        self.actor = actor
        self.repo = DefinitionRepository(session)

    async def list(self) -> Sequence[AttributeDefinition]:
        return await self.repo.all_defined()

    async def get(self, key: str) -> AttributeDefinition:
        return await self.repo.by_key_or_404(key)

    async def create(self, data: AttributeDefinitionIn) -> AttributeDefinition:
        if await self.repo.by_key(data.key) is not None:
            message = f"key: attribute {data.key!r} is defined already"
            raise Conflict(message, details=[
                {"loc": ["body", "key"], "msg": message, "type": "duplicate"}])  # fmt: skip
        if await self.repo.count() >= MAX_DEFINITIONS:
            raise Conflict(f"at most {MAX_DEFINITIONS} attribute definitions per organisation")
        row = await self.repo.create(AttributeDefinition(**data.model_dump()))
        await self._audit("customer_attribute.created", row, sorted(data.model_fields_set))
        return row

    async def update(self, key: str, patch: AttributeDefinitionPatch) -> AttributeDefinition:
        row = await self.repo.by_key_or_404(key)
        changes = patch.model_dump(include=patch.model_fields_set)
        if "options" in changes:
            options = changes["options"] or []
            if row.type != AttributeType.ENUM and options:
                raise ValidationFailed("options: only an enum has options", details=[
                    {"loc": ["body", "options"], "msg": "only an enum has options",
                     "type": "value_error"}])  # fmt: skip
            if row.type == AttributeType.ENUM and not options:
                raise ValidationFailed("options: an enum needs at least one option", details=[
                    {"loc": ["body", "options"], "msg": "an enum needs at least one option",
                     "type": "value_error"}])  # fmt: skip
            removed = [o for o in row.options if o not in options]
            used = await self.repo.customers_using(key, removed) if removed else 0
            if used:
                message = (f"options: {used} customer(s) still hold a removed option "
                           f"({', '.join(removed)}); change them first")  # fmt: skip
                raise Conflict(message, details=[
                    {"loc": ["body", "options"], "msg": message, "type": "in_use",
                     "customers": used}])  # fmt: skip
            changes["options"] = options
        for name, value in changes.items():
            setattr(row, name, value)
        if changes:
            await self.session.flush()
            await self._audit("customer_attribute.updated", row, sorted(changes))
        return row

    async def delete(self, key: str) -> None:
        """Values stay on the customers as free-form data (no longer typed nor masked)."""
        row = await self.repo.by_key_or_404(key)
        await self.repo.delete(row)
        await self._audit("customer_attribute.deleted", row, [])

    async def _audit(self, action: str, row: AttributeDefinition, fields: Sequence[str]) -> None:
        await audit.record(
            self.session,
            tenant_id=row.tenant_id,
            action=action,
            actor=self.actor,
            target_type="customer_attribute",
            target_id=row.key,
            details={"fields": list(fields), "type": row.type, "pii": row.pii},
        )
