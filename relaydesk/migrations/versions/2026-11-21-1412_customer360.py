"""customer 360: context panels, event links for the timeline

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-21 14:12:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import relaydesk.kit.db

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('customer_events',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('event_id', sa.Uuid(), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('occurred_at', relaydesk.kit.db.UTCDateTime(), nullable=False),
    sa.Column('matched_by', sa.String(length=120), nullable=False),
    sa.Column('created_at', relaydesk.kit.db.UTCDateTime(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_events_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_customer_events_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_events')),
    sa.UniqueConstraint('tenant_id', 'customer_id', 'event_id', name=op.f('uq_customer_events_tenant_id_customer_id_event_id'))
    )
    with op.batch_alter_table('customer_events', schema=None) as batch_op:
        batch_op.create_index('ix_customer_events_customer', ['customer_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_customer_events_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('customer_panels',
    sa.Column('key', sa.String(length=63), nullable=False),
    sa.Column('title_zh', sa.String(length=100), nullable=False),
    sa.Column('title_en', sa.String(length=100), nullable=False),
    sa.Column('instance_id', sa.Uuid(), nullable=False),
    sa.Column('action', sa.String(length=100), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('max_items', sa.Integer(), nullable=False),
    sa.Column('timeout_seconds', sa.Double(), nullable=False),
    sa.Column('cache_ttl_seconds', sa.Integer(), nullable=False),
    sa.Column('stale_seconds', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('source_panel', sa.String(length=63), nullable=True),
    sa.Column('updated_at', relaydesk.kit.db.UTCDateTime(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', relaydesk.kit.db.UTCDateTime(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['connector_instances.id'], name=op.f('fk_customer_panels_instance_id_connector_instances'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_customer_panels_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_panels')),
    sa.UniqueConstraint('tenant_id', 'key', name=op.f('uq_customer_panels_tenant_id_key'))
    )
    with op.batch_alter_table('customer_panels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_panels_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_customer_panels_tenant_id'), ['tenant_id'], unique=False)

    # the timeline reads one customer's conversations (declared in customer360/models.py)
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.create_index('ix_conversations_customer', ['customer_id', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_index('ix_conversations_customer')

    with op.batch_alter_table('customer_panels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_panels_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_customer_panels_instance_id'))

    op.drop_table('customer_panels')
    with op.batch_alter_table('customer_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_events_tenant_id'))
        batch_op.drop_index('ix_customer_events_customer')

    op.drop_table('customer_events')
