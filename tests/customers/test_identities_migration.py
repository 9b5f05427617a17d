"""Migration 0007 turns the existing profile phones and e-mails into identities."""

from __future__ import annotations

import uuid
from pathlib import Path

from alembic import command
from sqlalchemy import text

from relaydesk.kit.db import make_engine
from relaydesk.kit.ids import uuid7
from relaydesk.migrations.runner import alembic_config, upgrade


def _to(revision: str):  # type: ignore[no-untyped-def]
    def run(connection: object) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    return run


async def test_profile_fields_are_backfilled_oldest_customer_first(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    try:
        await upgrade(engine, "0006")
        tenant = uuid.uuid4()
        older, newer, empty = uuid7(), uuid7(), uuid7()
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO tenants (id, slug, name, is_active, ip_allowlist, settings, "
                "created_at) VALUES (:id, 'acme', 'Acme', 1, '[]', '{}', '2026-01-01 00:00:00')"),
                {"id": tenant.hex})  # fmt: skip
            for cid, phone, email in [(older, "+8613812345678", "zhang@example.com"),
                                      (newer, "+8613812345678", "li@example.com"),
                                      (empty, None, None)]:  # fmt: skip
                await conn.execute(text(
                    "INSERT INTO customers (id, tenant_id, name, phone, email, tags, attributes, "
                    "created_at, updated_at) VALUES (:id, :t, 'x', :p, :e, '[]', '{}', "
                    "'2026-01-01 00:00:00', '2026-01-01 00:00:00')"),
                    {"id": cid.hex, "t": tenant.hex, "p": phone, "e": email})  # fmt: skip
        async with engine.begin() as conn:
            await conn.run_sync(_to("0007"))
        async with engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT customer_id, kind, value, verified, source, origin "
                "FROM customer_identities ORDER BY kind, value"))).all()  # fmt: skip
        assert [(uuid.UUID(r[0]), *r[1:]) for r in rows] == [
            (newer, "email", "li@example.com", 0, "profile", "staff"),
            (older, "email", "zhang@example.com", 0, "profile", "staff"),
            (older, "phone", "+8613812345678", 0, "profile", "staff"),  # the newer one shares it
        ]
    finally:
        await engine.dispose()
