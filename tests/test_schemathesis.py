"""Property-based run over the whole OpenAPI document (bounded so the suite stays fast).

Every operation is called with generated valid and invalid inputs as the organisation's
owner (through an API key holding every permission); no call may answer 5xx or a response
that its own schema does not describe.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks as st_checks

from relaydesk.app import create_app
from relaydesk.auth.apikeys import create_api_key
from relaydesk.auth.permissions import PERMISSIONS
from relaydesk.config import HttpSettings, SecuritySettings, Settings
from relaydesk.kit.db import Database, scope_session
from relaydesk.migrations.runner import upgrade
from relaydesk.tenancy.service import create_tenant, create_user

CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_schema_conformance,
    st_checks.response_headers_conformance,
    st_checks.negative_data_rejection,
]


async def _prepare(settings: Settings) -> str:
    db = Database.from_url(settings.database_url)
    try:
        await upgrade(db.engine)
        async with db.job(system=True) as session:
            tenant = await create_tenant(session, slug="fuzz", name="Fuzz 测试")
            scope_session(session, tenant.id)
            await create_user(
                session,
                email="agent@fuzz.example.com",
                display_name="坐席",
                password="correct horse battery",
                role_names=("agent",),
                phone="13800138000",
            )
            _, key = await create_api_key(
                session,
                tenant_id=tenant.id,
                name="fuzz",
                permissions=sorted(PERMISSIONS),
                granted_by=None,
            )
        return key
    finally:
        await db.dispose()


API_KEY: list[str] = []


def _load_schema() -> Any:
    data_dir = Path(tempfile.mkdtemp(prefix="relaydesk-fuzz-"))
    settings_ = Settings(
        environment="test",
        data_dir=data_dir,
        security=SecuritySettings(secret_key="fuzz-secret-" + "y" * 40),  # type: ignore[arg-type]
        http=HttpSettings(rate_limit_ip_per_minute=100_000, rate_limit_api_key_per_minute=100_000),
    )
    key = asyncio.run(_prepare(settings_))
    app = create_app(settings_)
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    API_KEY.append(key)
    return schema


schema = _load_schema()


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_contract(case: Any) -> None:
    key = API_KEY[0]
    headers = {"X-API-Key": key} if "X-API-Key" not in (case.headers or {}) else {}
    case.call_and_validate(headers=headers, checks=CHECKS)
