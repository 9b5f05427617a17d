"""Run Alembic from Python: ``relaydesk db upgrade``, first start, and the tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

HERE = Path(__file__).parent


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option(
        "file_template",
        "%%(year)d-%%(month).2d-%%(day).2d-%%(hour).2d%%(minute).2d_%%(slug)s",
    )
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _upgrade_sync(connection: object, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


async def upgrade(engine_or_conn: AsyncEngine | AsyncConnection, revision: str = "head") -> None:
    """Migrate to ``revision`` on the given engine (committing) or connection (caller commits)."""
    if isinstance(engine_or_conn, AsyncConnection):
        await engine_or_conn.run_sync(_upgrade_sync, revision)
        return
    async with engine_or_conn.begin() as conn:
        await conn.run_sync(_upgrade_sync, revision)
