"""Administration of the Customer 360 panels: validated against the instance's spec, audited.

A panel is refused (422, naming the field) when its instance or action does not exist, the
action writes (panels only read), a parameter is not the action's, a required one is not
given, a literal has the wrong type, a template is invalid or reads anything but
``customer`` (and ``source`` with a ``source_panel``), a field is not in the action's
mapping, or its source panel is unknown, itself, or has a source of its own (one level).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit import service as audit
from relaydesk.auth.principal import Principal
from relaydesk.customer360.models import CustomerPanel
from relaydesk.customer360.repository import PanelRepository
from relaydesk.customer360.schemas import MAX_PANELS, PanelIn, PanelOut, PanelPatch
from relaydesk.errors import Conflict, NotFound
from relaydesk.integrations.instances import InstanceService
from relaydesk.integrations.models import ConnectorInstance
from relaydesk.integrations.param_check import check_action_params, invalid
from relaydesk.integrations.secrets import instance_spec
from relaydesk.kit.crypto import Keyring
from relaydesk.kit.db import utcnow

__all__ = ["PanelService"]

_EDITABLE = (
    "title_zh", "title_en", "params", "fields", "max_items", "timeout_seconds",
    "cache_ttl_seconds", "stale_seconds", "position", "enabled", "source_panel",
)  # fmt: skip


_invalid = invalid


class PanelService:
    def __init__(self, session: AsyncSession, principal: Principal, keyring: Keyring) -> None:
        self.session = session
        self.principal = principal
        self.keyring = keyring
        self.repo = PanelRepository(session)

    async def out(self, panels: Sequence[CustomerPanel]) -> list[PanelOut]:
        instances = await self.repo.instances(p.instance_id for p in panels)
        return [PanelOut.of(p, instances[p.instance_id].name if p.instance_id in instances
                            else "") for p in panels]  # fmt: skip

    async def list(self) -> Sequence[CustomerPanel]:
        return await self.repo.ordered()

    async def get(self, key: str) -> CustomerPanel:
        panel = await self.repo.by_key(key)
        if panel is None:
            raise NotFound(f"panel {key!r} not found")
        return panel

    async def create(self, body: PanelIn) -> CustomerPanel:
        if await self.repo.by_key(body.key) is not None:
            raise Conflict(f"a panel {body.key!r} exists already", code="panel_exists")
        if len(await self.repo.ordered()) >= MAX_PANELS:
            raise Conflict(f"at most {MAX_PANELS} panels per organisation",
                           code="too_many_panels")  # fmt: skip
        values = body.model_dump(exclude={"instance", "key", "action"})
        values["fields"] = [f.model_dump() for f in body.fields]
        instance = await self._check(body.key, body.instance, body.action, values)
        panel = await self.repo.create(CustomerPanel(key=body.key, instance_id=instance.id,
                                                     action=body.action, **values))  # fmt: skip
        await self._audit("customer360.panel_created", panel, instance)
        return panel

    async def update(self, key: str, body: PanelPatch) -> CustomerPanel:
        panel = await self.get(key)
        given = body.model_fields_set
        values: dict[str, Any] = {name: getattr(panel, name) for name in _EDITABLE}
        for name in _EDITABLE:
            if name in given and (getattr(body, name) is not None or name == "source_panel"):
                values[name] = getattr(body, name)
        if "fields" in given and body.fields is not None:
            values["fields"] = [f.model_dump() for f in body.fields]
        instance_ref = body.instance if body.instance is not None else str(panel.instance_id)
        action = body.action if body.action is not None else panel.action
        instance = await self._check(key, instance_ref, action, values)
        for name, value in values.items():
            setattr(panel, name, value)
        panel.instance_id, panel.action, panel.updated_at = instance.id, action, utcnow()
        await self.session.flush()
        await self._audit("customer360.panel_updated", panel, instance,
                          changed=sorted(n for n in given))  # fmt: skip
        return panel

    async def delete(self, key: str) -> None:
        panel = await self.get(key)
        dependants = [p.key for p in await self.repo.depending_on(key)]
        if dependants:
            raise Conflict(f"panel {key!r} is the source of {', '.join(dependants)}",
                           code="panel_in_use", details={"used_by": dependants})  # fmt: skip
        instances = await self.repo.instances([panel.instance_id])
        await self.repo.delete(panel)
        await self._audit("customer360.panel_deleted", panel, instances.get(panel.instance_id))

    async def _audit(
        self,
        action: str,
        panel: CustomerPanel,
        instance: ConnectorInstance | None,
        **extra: Any,
    ) -> None:
        await audit.record(
            self.session, tenant_id=self.principal.tenant_id, action=action,
            actor=self.principal.actor, target_type="customer_panel", target_id=panel.id,
            details={"key": panel.key, "instance": instance.name if instance else None,
                     "action": panel.action, **extra},
        )  # fmt: skip

    # --- validation ----------------------------------------------------------------------

    async def _check(
        self, key: str, instance_ref: str, action_name: str, values: dict[str, Any]
    ) -> ConnectorInstance:
        try:
            instance = await InstanceService(self.session, self.principal, self.keyring).find(
                instance_ref
            )
        except NotFound:
            raise _invalid(["instance"], f"no connector instance {instance_ref!r}") from None
        spec = instance_spec(instance)
        action = spec.actions.get(action_name)
        if action is None:
            raise _invalid(["action"], f"{spec.name} has no action {action_name!r} "
                           f"(one of {', '.join(spec.actions)})")  # fmt: skip
        if action.effect != "read":
            raise _invalid(["action"], f"{spec.name}.{action_name} writes; a panel only reads")
        source = values.get("source_panel")
        await self._check_source(key, source)
        roots = ("customer", "source") if source is not None else ("customer",)
        check_action_params(spec, action_name, values.get("params") or {}, roots)
        known = set(action.mapping.fields) if action.mapping is not None else None
        for index, item in enumerate(values.get("fields") or []):
            head = str(item["path"]).split(".", 1)[0]
            if known is not None and head not in known:
                raise _invalid(["fields", index, "path"], f"{head!r} is not an output field of "
                               f"{spec.name}.{action_name}")  # fmt: skip
        return instance

    async def _check_source(self, key: str, source: str | None) -> None:
        if source is None:
            return
        if source == key:
            raise _invalid(["source_panel"], "a panel cannot be its own source")
        found = await self.repo.by_key(source)
        if found is None:
            raise _invalid(["source_panel"], f"no panel {source!r}")
        if found.source_panel is not None:
            raise _invalid(["source_panel"], f"panel {source!r} has a source itself (one "
                           "level only)")  # fmt: skip
        if await self.repo.depending_on(key):
            raise _invalid(["source_panel"], f"panel {key!r} is the source of another panel "
                           "(one level only)")  # fmt: skip
