"""Per-tenant connector instances: created from a spec + config, config encrypted at rest.

Config is validated against the spec's ``config:`` section (required fields, types, unknown
names → 422 at ``["body", "config", name]``). Secrets are never returned (the public config
shows ``********``), never audited and never logged; an update that sends the placeholder
back (or leaves a secret out) keeps the stored value. Every change bumps ``version`` (the
runtime registry rebuilds the instance's clients) and writes an audit row that names what
changed, without values.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import json
import re
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import yaml
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit import service as audit
from relaydesk.auth.permissions import register_tenant_source
from relaydesk.auth.principal import Principal
from relaydesk.errors import Conflict, NotFound, ValidationFailed
from relaydesk.integrations.models import ConnectorInstance
from relaydesk.integrations.repository import ConnectorInstanceRepository
from relaydesk.integrations.schemas import ConfigFieldOut, InstanceIn, InstanceOut, InstancePatch
from relaydesk.integrations.secrets import (
    SECRET_PLACEHOLDER,
    decrypt_config,
    encrypt_config,
    public_config,
    secret_fields,
)
from relaydesk.integrations.spec import (
    ConnectorSpec,
    SpecInvalid,
    SpecProblem,
    action_permission,
    load_spec,
)
from relaydesk.kit.crypto import Keyring
from relaydesk.kit.ids import uuid7
from relaydesk.kit.pagination import PageParams

__all__ = [
    "InstanceService",
    "check_allow_network",
    "instance_out",
    "instance_spec",
    "parse_spec",
    "spec_problems",
    "validate_config",
]

SPEC_FILE = "spec"
_HOST = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)*\.?$")
#: looks like an address (IPv4 digits and dots, or IPv6 with colons), not a host name
_NUMERIC = re.compile(r"[0-9.]+(/[0-9]+)?|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*(/[0-9]+)?")
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
}


# --------------------------------------------------------------------------------------
# Specs, config and allow-lists (pure functions, also used by the validate endpoint)
# --------------------------------------------------------------------------------------


_SPECS: OrderedDict[tuple[uuid.UUID, int, dt.datetime | None], ConnectorSpec] = OrderedDict()
_SPECS_MAX = 1024


def instance_spec(instance: ConnectorInstance) -> ConnectorSpec:
    """The instance's validated spec, parsed once per stored version.

    Keyed by (id, version, updated_at): a version number reused after a rolled-back update
    still gets its own entry. Keeps the document's order of actions and config fields.
    """
    key = (instance.id, instance.version, instance.updated_at)
    spec = _SPECS.get(key)
    if spec is None:
        spec = ConnectorSpec.model_validate(instance.spec)
        _SPECS[key] = spec
        while len(_SPECS) > _SPECS_MAX:
            _SPECS.popitem(last=False)
    else:
        _SPECS.move_to_end(key)
    return spec


def parse_spec(value: str | Mapping[str, Any]) -> ConnectorSpec:
    """A spec from YAML/JSON text or a JSON object; :class:`SpecInvalid` lists every problem
    (for an object, lines are unknown and left out)."""
    if isinstance(value, str):
        try:
            return load_spec(value, SPEC_FILE)
        except yaml.YAMLError as exc:  # e.g. control characters, refused before parsing
            raise SpecInvalid([SpecProblem(SPEC_FILE, None, "", f"invalid YAML: {exc}")]) from None
    try:  # ASCII JSON: YAML refuses some characters raw, but reads every \u escape
        return load_spec(json.dumps(value, ensure_ascii=True), SPEC_FILE)
    except SpecInvalid as exc:
        raise SpecInvalid([dataclasses.replace(p, line=None) for p in exc.problems]) from None


def spec_problems(value: str | Mapping[str, Any]) -> list[SpecProblem]:
    try:
        parse_spec(value)
    except SpecInvalid as exc:
        return exc.problems
    return []


def _problem(loc: Sequence[str | int], msg: str, kind: str = "value_error") -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg, "type": kind}


def _raise(details: list[dict[str, Any]]) -> None:
    if details:
        first = details[0]
        path = ".".join(str(part) for part in first["loc"][1:])
        more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
        raise ValidationFailed(f"{path}: {first['msg']}{more}", details=details)


def validate_config(
    spec: ConnectorSpec,
    config: Mapping[str, Any],
    *,
    previous: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The config to store: checked against ``spec.config``, defaults filled in, secrets sent
    as the placeholder (or left out) taken from ``previous`` (an update).

    Raises :class:`ValidationFailed` listing every problem at ``["body", "config", name]``.
    """
    details: list[dict[str, Any]] = []
    loc = ("body", "config")
    for name in config:
        if name not in spec.config:
            known = ", ".join(spec.config) or "none"
            details.append(_problem((*loc, name), f"unknown setting (known: {known})", "extra"))
    out: dict[str, Any] = {}
    for name, field in spec.config.items():
        value = config.get(name)
        if field.secret and value == SECRET_PLACEHOLDER:
            if previous is None:
                details.append(_problem((*loc, name), "send the secret's value, not the mask"))
                continue
            value = previous.get(name)
        elif field.secret and previous is not None and name not in config:
            value = previous.get(name)
        if value is None or (value == "" and field.required):
            if field.default is not None:
                out[name] = field.default
            elif field.required:
                details.append(_problem((*loc, name), "required setting is missing", "missing"))
            continue
        expected = _TYPES[field.type]
        if not isinstance(value, expected) or (field.type != "boolean" and isinstance(value, bool)):
            details.append(_problem((*loc, name), f"must be a {field.type}", "type_error"))
            continue
        out[name] = value
    _raise(details)
    return out


def check_allow_network(entries: Sequence[str], loc: str = "allow_network") -> list[str]:
    """Networks (``10.0.0.0/8``, ``127.0.0.1``) and host names; 422 per malformed entry."""
    details: list[dict[str, Any]] = []
    out: list[str] = []
    for index, raw in enumerate(entries):
        entry = raw.strip()
        try:
            ipaddress.ip_network(entry, strict=True)
        except ValueError as exc:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                numeric = bool(_NUMERIC.fullmatch(entry))
                if numeric or not _HOST.match(entry):
                    why = "neither a network (CIDR or IP address) nor a host name"
                    details.append(_problem(("body", loc, index), why))
                    continue
            else:  # 10.0.0.1/8: host bits set
                details.append(_problem(("body", loc, index), str(exc)))
                continue
        out.append(entry)
    _raise(details)
    return list(dict.fromkeys(out))


def instance_out(
    instance: ConnectorInstance, spec: ConnectorSpec, config: Mapping[str, Any]
) -> InstanceOut:
    """The API view of an instance: secrets replaced by the placeholder."""
    fields = [
        ConfigFieldOut(
            name=name, type=field.type, required=field.required, secret=field.secret,
            default=field.default, title=field.title, description=field.description,
        )
        for name, field in spec.config.items()
    ]
    return InstanceOut(
        id=instance.id, name=instance.name, connector=instance.connector, kind=spec.kind,
        title=instance.title, description=spec.description, enabled=instance.enabled,
        sandbox=instance.sandbox, allow_network=list(instance.allow_network or []),
        version=instance.version, config=public_config(spec, config), config_fields=fields,
        actions=list(spec.actions), callbacks=list(spec.callbacks), spec=instance.spec,
        created_at=instance.created_at, updated_at=instance.updated_at,
    )  # fmt: skip


# --------------------------------------------------------------------------------------
# The service
# --------------------------------------------------------------------------------------


async def action_permissions(session: AsyncSession, _principal: object = None) -> dict[str, str]:
    """The permissions of this organisation's connector actions (name → description), for
    its permission catalogue (registered with ``auth.permissions.register_tenant_source``).

    Deliberately not the process-wide registry (``spec.register_permissions``): that is
    shared by every tenant, so one tenant's connector and action names would show in the
    others' catalogues, and built-in roles made later would silently include them.
    """
    repo = ConnectorInstanceRepository(session)
    out: dict[str, str] = {}
    for instance in await repo.all(repo.select()):
        spec = instance_spec(instance)
        for name, action in spec.actions.items():
            label = action.title or name
            out.setdefault(
                action_permission(spec, name),
                f"Run {label} on the {spec.title or spec.name} connector",
            )
    return out


register_tenant_source(action_permissions)


class InstanceService:
    def __init__(self, session: AsyncSession, principal: Principal, keyring: Keyring) -> None:
        self.session = session
        self.principal = principal
        self.keyring = keyring
        self.repo = ConnectorInstanceRepository(session)

    async def get(self, instance_id: uuid.UUID) -> ConnectorInstance:
        return await self.repo.get_or_404(instance_id)

    async def find(self, ref: uuid.UUID | str) -> ConnectorInstance:
        """By id, or by name (the CLI and rules refer to instances by name)."""
        instance: ConnectorInstance | None = None
        if isinstance(ref, uuid.UUID):
            instance = await self.repo.get(ref)
        else:
            try:
                instance = await self.repo.get(uuid.UUID(ref))
            except ValueError:
                instance = None
            if instance is None:
                instance = await self.repo.by_name(ref)
        if instance is None:
            raise NotFound(f"connector instance {str(ref)!r} not found")
        return instance

    def spec_of(self, instance: ConnectorInstance) -> ConnectorSpec:
        return instance_spec(instance)

    def config_of(self, instance: ConnectorInstance) -> dict[str, Any]:
        return decrypt_config(self.keyring, instance)

    async def load(
        self, ref: uuid.UUID | str
    ) -> tuple[ConnectorInstance, ConnectorSpec, dict[str, Any]]:
        instance = await self.find(ref)
        return instance, self.spec_of(instance), self.config_of(instance)

    async def list(
        self, params: PageParams, *, connector: str | None = None, enabled: bool | None = None
    ) -> tuple[list[tuple[ConnectorInstance, ConnectorSpec, dict[str, Any]]], str | None]:
        rows, cursor = await self.repo.list_page(params, connector=connector, enabled=enabled)
        return [(row, self.spec_of(row), self.config_of(row)) for row in rows], cursor

    async def action_permissions(self) -> dict[str, str]:
        return await action_permissions(self.session)

    async def create(
        self, data: InstanceIn
    ) -> tuple[ConnectorInstance, ConnectorSpec, dict[str, Any]]:
        spec = parse_spec(data.spec)
        config = validate_config(spec, data.config)
        allow = check_allow_network(data.allow_network)
        name = data.name or spec.name
        if await self.repo.by_name(name) is not None:
            raise Conflict(
                f"a connector instance named {name!r} already exists",
                details=[_problem(("body", "name"), "already taken")],
            )
        instance = ConnectorInstance(
            id=uuid7(), tenant_id=self.repo.tenant_id, name=name, connector=spec.name,
            title=data.title or spec.title or name, spec=spec.to_document(),
            enabled=data.enabled, sandbox=data.sandbox, allow_network=allow, version=1,
        )  # fmt: skip
        encrypt_config(self.keyring, instance, config)
        try:
            await self.repo.create(instance)
        except IntegrityError:  # created by a concurrent request since the check above
            raise Conflict(
                f"a connector instance named {name!r} already exists",
                details=[_problem(("body", "name"), "already taken")],
            ) from None
        await audit.record(
            self.session, tenant_id=instance.tenant_id, action="connector.created",
            actor=self.principal.actor, target_type="connector_instance", target_id=instance.id,
            details={
                "name": name, "connector": spec.name, "kind": spec.kind,
                "enabled": instance.enabled, "sandbox": instance.sandbox,
                "allow_network": allow, "config_keys": sorted(config),
            },
        )  # fmt: skip
        return instance, spec, config

    async def update(
        self, instance_id: uuid.UUID, patch: InstancePatch
    ) -> tuple[ConnectorInstance, ConnectorSpec, dict[str, Any]]:
        instance = await self.repo.get_or_404(instance_id)
        old_spec, old_config = self.spec_of(instance), self.config_of(instance)
        sent = patch.model_fields_set
        spec = parse_spec(patch.spec) if "spec" in sent and patch.spec is not None else old_spec
        raw_config = patch.config if "config" in sent and patch.config is not None else None
        if raw_config is None:  # a new spec must still accept the stored config
            raw_config = {k: v for k, v in old_config.items() if k in spec.config}
        config = validate_config(spec, raw_config, previous=old_config)

        changed: list[str] = []
        document = spec.to_document()
        if document != instance.spec:
            instance.spec, instance.connector = document, spec.name
            changed.append("spec")
        hidden = secret_fields(spec) | secret_fields(old_spec)
        keys = sorted(set(config) | set(old_config))
        config_changes = [k for k in keys if config.get(k) != old_config.get(k)]
        if config_changes:
            encrypt_config(self.keyring, instance, config)
            changed += [f"{'secret' if k in hidden else 'config'}.{k}" for k in config_changes]
        details: dict[str, Any] = {}
        for name in ("enabled", "sandbox", "title"):
            value = getattr(patch, name)
            if name in sent and value is not None and value != getattr(instance, name):
                setattr(instance, name, value)
                changed.append(name)
                details[name] = value
        if "allow_network" in sent and patch.allow_network is not None:
            allow = check_allow_network(patch.allow_network)
            if allow != list(instance.allow_network or []):
                instance.allow_network = allow
                changed.append("allow_network")
                details["allow_network"] = allow
        if changed:
            instance.version += 1
            await self.session.flush()
            await audit.record(
                self.session, tenant_id=instance.tenant_id, action="connector.updated",
                actor=self.principal.actor, target_type="connector_instance",
                target_id=instance.id,
                details={"name": instance.name, "version": instance.version,
                         "changed": changed, **details},
            )  # fmt: skip
        return instance, spec, config

    async def delete(self, instance_id: uuid.UUID) -> ConnectorInstance:
        instance = await self.repo.get_or_404(instance_id)
        await self.repo.delete(instance)
        await audit.record(
            self.session, tenant_id=instance.tenant_id, action="connector.deleted",
            actor=self.principal.actor, target_type="connector_instance", target_id=instance.id,
            details={"name": instance.name, "connector": instance.connector},
        )  # fmt: skip
        return instance
