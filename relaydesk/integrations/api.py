"""Connector API: specs (validate, JSON Schema, mapping preview), instances, actions, call log
and health. Reading needs ``connectors.read``, changing instances ``connectors.manage``;
running an action needs that action's own permission (``connector_action:<connector>.<action>``
unless the spec names another)."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, status

from relaydesk.auth.deps import CurrentPrincipal, Require
from relaydesk.auth.principal import Principal
from relaydesk.errors import ValidationFailed
from relaydesk.integrations.calllog import HEALTH_WINDOW
from relaydesk.integrations.instances import (
    InstanceService,
    instance_out,
    parse_spec,
    spec_problems,
)
from relaydesk.integrations.mapping import BodyDecodeError, decode_body
from relaydesk.integrations.outcome import ActionOutcome, OutcomeProblem
from relaydesk.integrations.pipeline import map_result
from relaydesk.integrations.registry import RuntimeRegistry
from relaydesk.integrations.schemas import (
    ActionOut,
    CallOut,
    InstanceHealthOut,
    InstanceIn,
    InstanceOut,
    InstancePatch,
    MappingPreviewIn,
    MappingPreviewOut,
    RunIn,
    SpecProblemOut,
    ValidateIn,
    ValidateOut,
)
from relaydesk.integrations.service import IntegrationService
from relaydesk.integrations.spec import action_permission, params_model, spec_json_schema
from relaydesk.kit.crypto import Keyring
from relaydesk.kit.db import DbSession
from relaydesk.kit.masking import detect_and_mask_text
from relaydesk.kit.pagination import Page, PageParams, page_params
from relaydesk.kit.schemas import COMMON_ERRORS, error_responses

__all__ = ["get_keyring", "get_registry", "router"]

router = APIRouter(tags=["connectors"])

Reader = Annotated[Principal, Depends(Require("connectors.read"))]
Manager = Annotated[Principal, Depends(Require("connectors.manage"))]
Paging = Annotated[PageParams, Depends(page_params)]
InstanceId = Annotated[uuid.UUID, Path(description="The connector instance's id")]
RUN_ERRORS = {**COMMON_ERRORS, **error_responses(409)}


def get_registry(request: Request) -> RuntimeRegistry:
    """``app.state.connectors`` (made on first use when the app did not set one up)."""
    state = request.app.state
    registry: RuntimeRegistry | None = getattr(state, "connectors", None)
    if registry is None:
        registry = RuntimeRegistry(redis=getattr(state, "redis", None))
        state.connectors = registry
    return registry


def get_keyring(request: Request) -> Keyring:
    """``app.state.keyring`` (made from the settings on first use when missing)."""
    state = request.app.state
    keyring: Keyring | None = getattr(state, "keyring", None)
    if keyring is None:
        keyring = Keyring.from_settings(state.settings)
        state.keyring = keyring
    return keyring


async def _registry(request: Request) -> RuntimeRegistry:
    return get_registry(request)  # async: FastAPI runs a plain ``def`` in its thread pool


async def _keyring(request: Request) -> Keyring:
    return get_keyring(request)


Registry = Annotated[RuntimeRegistry, Depends(_registry)]
Keys = Annotated[Keyring, Depends(_keyring)]


# --- specs -------------------------------------------------------------------------------


@router.get("/connectors/schema", responses=COMMON_ERRORS)
async def connector_schema(principal: Reader) -> dict[str, Any]:
    """The JSON Schema (2020-12) of connector specs, for editors and forms."""
    return spec_json_schema()


@router.post("/connectors/validate", response_model=ValidateOut, responses=COMMON_ERRORS)
async def validate_spec(body: ValidateIn, principal: Reader) -> ValidateOut:
    """Check a spec: 200 either way, with every problem by line and field path."""
    problems = spec_problems(body.spec)
    return ValidateOut(
        valid=not problems,
        problems=[SpecProblemOut(**dataclasses.asdict(p)) for p in problems],
    )


@router.post(
    "/connectors/mapping/preview", response_model=MappingPreviewOut, responses=COMMON_ERRORS
)
async def preview_mapping(body: MappingPreviewIn, principal: Reader) -> MappingPreviewOut:
    """Apply an action's response select, mapping and canonical shape to a sample answer."""
    spec = parse_spec(body.spec)
    action = spec.actions.get(body.action)
    if action is None:
        known = ", ".join(spec.actions) or "none"
        raise ValidationFailed(
            f"the spec has no action {body.action!r}",
            details=[{"loc": ["body", "action"], "msg": f"unknown action (actions: {known})",
                      "type": "value_error"}],
        )
    if body.sample_xml is not None:
        try:
            data = decode_body(body.sample_xml.encode("utf-8"), "xml")
        except BodyDecodeError as exc:
            raise ValidationFailed(
                f"sample_xml: {exc}",
                details=[{"loc": ["body", "sample_xml"], "msg": str(exc), "type": "value_error"}],
            ) from None
    elif "sample" in body.model_fields_set:
        data = body.sample
    else:
        raise ValidationFailed(
            "give sample (a JSON value) or sample_xml",
            details=[{"loc": ["body", "sample"], "msg": "sample or sample_xml is required",
                      "type": "missing"}],
        )
    value, errors, _ = map_result(action, data)
    problems = [
        OutcomeProblem(path=e.path, message=detect_and_mask_text(e.message)) for e in errors
    ]
    return MappingPreviewOut(value=value, errors=problems)


# --- instances ---------------------------------------------------------------------------


@router.get("/connector-instances", response_model=Page[InstanceOut], responses=COMMON_ERRORS)
async def list_instances(
    principal: Reader,
    session: DbSession,
    keyring: Keys,
    paging: Paging,
    connector: Annotated[str | None, Query(max_length=63, description="Spec name")] = None,
    enabled: Annotated[bool | None, Query()] = None,
) -> Page[InstanceOut]:
    rows, cursor = await InstanceService(session, principal, keyring).list(
        paging, connector=connector, enabled=enabled
    )
    return Page[InstanceOut](items=[instance_out(*row) for row in rows], next_cursor=cursor)


@router.post(
    "/connector-instances", status_code=status.HTTP_201_CREATED, response_model=InstanceOut,
    responses={**COMMON_ERRORS, **error_responses(409)},
)
async def create_instance(
    body: InstanceIn, principal: Manager, session: DbSession, keyring: Keys
) -> InstanceOut:
    """Create an instance from a spec and its config (audited as ``connector.created``)."""
    return instance_out(*await InstanceService(session, principal, keyring).create(body))


@router.get("/connector-instances/{instance_id}", response_model=InstanceOut,
            responses=COMMON_ERRORS)
async def get_instance(
    instance_id: InstanceId, principal: Reader, session: DbSession, keyring: Keys
) -> InstanceOut:
    return instance_out(*await InstanceService(session, principal, keyring).load(instance_id))


@router.patch("/connector-instances/{instance_id}", response_model=InstanceOut,
              responses=COMMON_ERRORS)
async def update_instance(
    instance_id: InstanceId, body: InstancePatch, principal: Manager, session: DbSession,
    keyring: Keys,
) -> InstanceOut:
    """Change the fields sent; the version goes up (audited as ``connector.updated``)."""
    service = InstanceService(session, principal, keyring)
    return instance_out(*await service.update(instance_id, body))


@router.delete("/connector-instances/{instance_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses=COMMON_ERRORS)
async def delete_instance(
    instance_id: InstanceId, principal: Manager, session: DbSession, keyring: Keys,
    registry: Registry,
) -> None:
    """Delete an instance with its call log (audited as ``connector.deleted``)."""
    instance = await InstanceService(session, principal, keyring).delete(instance_id)
    await registry.evict(instance.id)


# --- actions -----------------------------------------------------------------------------


@router.get("/connector-instances/{instance_id}/actions", response_model=Page[ActionOut],
            responses=COMMON_ERRORS)
async def list_actions(
    instance_id: InstanceId, principal: Reader, session: DbSession, keyring: Keys
) -> Page[ActionOut]:
    """The instance's actions with their parameter schema and whether the caller may run them
    (one page: a spec's actions are few)."""
    service = InstanceService(session, principal, keyring)
    spec = service.spec_of(await service.get(instance_id))
    items = []
    for name, action in spec.actions.items():
        permission = action_permission(spec, name)
        items.append(ActionOut(
            name=name, title=action.title, description=action.description,
            effect=action.effect, permission=permission, allowed=principal.has(permission),
            params_schema=params_model(spec, name).model_json_schema(),
            output=action.output, many=action.many,
            pii={field: str(kind) for field, kind in action.pii.items()},
            idempotent=action.idempotent, cache=action.cache,
        ))  # fmt: skip
    return Page[ActionOut](items=items, next_cursor=None)


@router.post(
    "/connector-instances/{instance_id}/actions/{action}/run", response_model=ActionOutcome,
    responses=RUN_ERRORS,
)
async def run_action(
    instance_id: InstanceId,
    action: Annotated[str, Path(max_length=63, description="The action's name")],
    body: RunIn,
    principal: CurrentPrincipal,
    session: DbSession,
    keyring: Keys,
    registry: Registry,
) -> ActionOutcome:
    """Run an action. Failures of the external system are a 200 with ``ok: false`` and the
    classified error; ``stale: true`` marks a cached value served because the system failed.
    Needs the action's permission; without customers.pii.view personal fields are masked, and
    so are phone numbers, ID numbers and e-mail addresses inside any other text of the output."""
    service = IntegrationService(session, principal, registry, keyring)
    return await service.run_action(instance_id, action, body.params, params_loc=("body",),
                                    free_text=True)  # fmt: skip


# --- call log and health -----------------------------------------------------------------


@router.get("/connector-instances/{instance_id}/calls", response_model=Page[CallOut],
            responses=COMMON_ERRORS)
async def list_calls(
    instance_id: InstanceId,
    principal: Reader,
    session: DbSession,
    keyring: Keys,
    registry: Registry,
    paging: Paging,
    action: Annotated[str | None, Query(max_length=63)] = None,
    outcome: Annotated[Literal["success", "error"] | None, Query()] = None,
) -> Page[CallOut]:
    """The call log, newest first; parameters are stored with personal data masked."""
    service = IntegrationService(session, principal, registry, keyring)
    rows, cursor = await service.calls_page(instance_id, paging, action=action, outcome=outcome)
    return Page[CallOut](
        items=[CallOut.model_validate(row) for row in rows], next_cursor=cursor
    )


@router.get("/connector-instances/{instance_id}/health", response_model=InstanceHealthOut,
            responses=COMMON_ERRORS)
async def instance_health(
    instance_id: InstanceId,
    principal: Reader,
    session: DbSession,
    keyring: Keys,
    registry: Registry,
    window: Annotated[int, Query(ge=1, le=10_000, description="Recent calls per action")]
    = HEALTH_WINDOW,
) -> InstanceHealthOut:
    """Per action: calls, success rate, p50/p95 latency, last success and failure, breaker."""
    service = IntegrationService(session, principal, registry, keyring)
    return await service.health(instance_id, window)
