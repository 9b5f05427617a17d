"""``/api/v1/sagas``: multi-system actions.

Definitions: read with ``sagas.read``, change with ``connectors.manage`` (a definition
decides which systems are written to, like a connector instance). Preview with
``sagas.read``; start with ``sagas.run`` plus every permission the saga's calls need
(202: it runs in the background; ``Idempotency-Key`` makes a retried start return the same
saga). Read sagas with ``sagas.read``; personal data is masked without customers.pii.view.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, status

from relaydesk.auth.deps import Require
from relaydesk.auth.principal import Principal
from relaydesk.integrations.api import get_keyring, get_registry
from relaydesk.kit.db import DbSession
from relaydesk.kit.pagination import Page, PageParams, page_params
from relaydesk.kit.schemas import COMMON_ERRORS, error_responses
from relaydesk.sagas import runner as _runner  # noqa: F401 - registers the job handlers
from relaydesk.sagas.calls import bind_runtime
from relaydesk.sagas.schemas import DefinitionIn, DefinitionOut, PreviewOut, SagaOut, SagaRunIn
from relaydesk.sagas.service import SagaService, saga_out

__all__ = ["router"]

router = APIRouter(prefix="/sagas", tags=["sagas"])

Reader = Annotated[Principal, Depends(Require("sagas.read"))]
Runner = Annotated[Principal, Depends(Require("sagas.run"))]
Manager = Annotated[Principal, Depends(Require("connectors.manage"))]
Paging = Annotated[PageParams, Depends(page_params)]
DefinitionId = Annotated[uuid.UUID, Path(description="The saga definition's id")]
SagaId = Annotated[uuid.UUID, Path(description="The saga's id")]
WRITE_ERRORS = {**COMMON_ERRORS, **error_responses(409)}
Status = Literal["running", "completed", "compensating", "compensated", "failed"]


def _service(request: Request, session: DbSession, principal: Principal) -> SagaService:
    return SagaService(session, principal)


# --- definitions (declared before /{saga_id}) ---------------------------------------------


@router.get("/definitions", response_model=Page[DefinitionOut], responses=COMMON_ERRORS)
async def list_definitions(
    request: Request, principal: Reader, session: DbSession, paging: Paging
) -> Page[DefinitionOut]:
    rows, cursor = await _service(request, session, principal).list_definitions(paging)
    return Page[DefinitionOut](
        items=[DefinitionOut.model_validate(r) for r in rows], next_cursor=cursor
    )


@router.post("/definitions", status_code=status.HTTP_201_CREATED, response_model=DefinitionOut,
             responses=WRITE_ERRORS)  # fmt: skip
async def create_definition(
    request: Request, body: DefinitionIn, principal: Manager, session: DbSession
) -> DefinitionOut:
    """Create a definition (JSON object or YAML text); 422 names every problem by path."""
    row = await _service(request, session, principal).create_definition(body)
    return DefinitionOut.model_validate(row)


@router.get("/definitions/{saga_definition_id}", response_model=DefinitionOut,
            responses=COMMON_ERRORS)  # fmt: skip
async def get_definition(
    request: Request, saga_definition_id: DefinitionId, principal: Reader, session: DbSession
) -> DefinitionOut:
    row = await _service(request, session, principal).get_definition(saga_definition_id)
    return DefinitionOut.model_validate(row)


@router.put("/definitions/{saga_definition_id}", response_model=DefinitionOut,
            responses=WRITE_ERRORS)  # fmt: skip
async def replace_definition(
    request: Request, saga_definition_id: DefinitionId, body: DefinitionIn, principal: Manager,
    session: DbSession,
) -> DefinitionOut:  # fmt: skip
    """Replace the document (same name); the version goes up. Running sagas are unaffected."""
    service = _service(request, session, principal)
    return DefinitionOut.model_validate(await service.replace_definition(saga_definition_id, body))


@router.delete("/definitions/{saga_definition_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses=COMMON_ERRORS)  # fmt: skip
async def delete_definition(
    request: Request, saga_definition_id: DefinitionId, principal: Manager, session: DbSession
) -> None:
    await _service(request, session, principal).delete_definition(saga_definition_id)


# --- sagas -------------------------------------------------------------------------------


@router.post("/preview", response_model=PreviewOut, responses=WRITE_ERRORS)
async def preview_saga(
    request: Request, body: SagaRunIn, principal: Reader, session: DbSession
) -> PreviewOut:
    """What starting it would do: every step in order with its parameters resolved where
    the input is enough, whether guarded steps run, each compensation, and the permissions
    the caller lacks. Nothing is called or written."""
    return await _service(request, session, principal).preview(body.definition, body.input)


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=SagaOut,
             responses=WRITE_ERRORS)  # fmt: skip
async def start_saga(
    request: Request, body: SagaRunIn, principal: Runner, session: DbSession
) -> SagaOut:
    """Start a saga; it runs in the background (poll ``GET /sagas/{id}`` or subscribe to
    ``saga.completed`` / ``saga.compensated`` / ``saga.failed``). 403 lists missing
    permissions; send an ``Idempotency-Key`` to make retries safe."""
    bind_runtime(request.app.state.db, get_registry(request), get_keyring(request))
    saga, steps = await _service(request, session, principal).start(body.definition, body.input)
    return saga_out(saga, steps, principal)


@router.get("", response_model=Page[SagaOut], responses=COMMON_ERRORS)
async def list_sagas(
    request: Request,
    principal: Reader,
    session: DbSession,
    paging: Paging,
    status: Annotated[Status | None, Query()] = None,
    definition: Annotated[str | None, Query(max_length=63, description="Definition name")] = None,
) -> Page[SagaOut]:
    """Sagas, newest first (without their steps: read one for those)."""
    service = _service(request, session, principal)
    rows, cursor = await service.list_sagas(paging, status=status, definition=definition)
    return Page[SagaOut](items=[saga_out(r, None, principal) for r in rows], next_cursor=cursor)


@router.get("/{saga_id}", response_model=SagaOut, responses=COMMON_ERRORS)
async def get_saga(
    request: Request, saga_id: SagaId, principal: Reader, session: DbSession
) -> SagaOut:
    saga, steps = await _service(request, session, principal).get(saga_id)
    return saga_out(saga, steps, principal)
