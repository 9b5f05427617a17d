"""event bus bookkeeping (stream checkpoints)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21 14:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import relaydesk.kit.db

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('event_bus_state',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.Column('updated_at', relaydesk.kit.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_event_bus_state'))
    )
    with op.batch_alter_table('event_failures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('event_key', sa.String(length=200), nullable=True))
        batch_op.create_index('ix_event_failures_key', ['consumer', 'tenant_id', 'event_key'], unique=False)
        batch_op.create_index('ix_event_failures_pending', ['dead', 'event_id'], unique=False)
    with op.batch_alter_table('event_processed', schema=None) as batch_op:
        batch_op.create_index('ix_event_processed_event_id', ['event_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('event_processed', schema=None) as batch_op:
        batch_op.drop_index('ix_event_processed_event_id')
    with op.batch_alter_table('event_failures', schema=None) as batch_op:
        batch_op.drop_index('ix_event_failures_pending')
        batch_op.drop_index('ix_event_failures_key')
        batch_op.drop_column('event_key')
    op.drop_table('event_bus_state')
