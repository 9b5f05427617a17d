"""embedded apps

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-21 14:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import relaydesk.kit.db

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('embedded_apps',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=True),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('origins', sa.JSON(), nullable=False),
    sa.Column('placement', sa.String(length=30), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('updated_at', relaydesk.kit.db.UTCDateTime(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', relaydesk.kit.db.UTCDateTime(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_embedded_apps_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_embedded_apps')),
    sa.UniqueConstraint('tenant_id', 'name', name=op.f('uq_embedded_apps_tenant_id_name'))
    )
    with op.batch_alter_table('embedded_apps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_embedded_apps_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('app_signing_keys',
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('algorithm', sa.String(length=10), nullable=False),
    sa.Column('public_jwk', sa.JSON(), nullable=False),
    sa.Column('private_key_encrypted', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', relaydesk.kit.db.UTCDateTime(), nullable=False),
    sa.Column('activates_at', relaydesk.kit.db.UTCDateTime(), nullable=False),
    sa.Column('retired_at', relaydesk.kit.db.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('kid', name=op.f('pk_app_signing_keys'))
    )


def downgrade() -> None:
    op.drop_table('app_signing_keys')
    with op.batch_alter_table('embedded_apps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_embedded_apps_tenant_id'))

    op.drop_table('embedded_apps')
