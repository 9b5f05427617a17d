"""priority routing: rules (connector lookup + condition -> priority, team, skills), decisions

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-21 17:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import relaydesk.kit.db

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('routing_priority_rules',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('instance_id', sa.Uuid(), nullable=False),
    sa.Column('action', sa.String(length=100), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('condition', sa.String(length=1000), nullable=False),
    sa.Column('priority', sa.String(length=10), nullable=True),
    sa.Column('team_id', sa.Uuid(), nullable=True),
    sa.Column('skills', sa.JSON(), nullable=False),
    sa.Column('timeout_seconds', sa.Double(), nullable=False),
    sa.Column('updated_at', relaydesk.kit.db.UTCDateTime(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', relaydesk.kit.db.UTCDateTime(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['connector_instances.id'], name=op.f('fk_routing_priority_rules_instance_id_connector_instances'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_routing_priority_rules_team_id_teams'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_routing_priority_rules_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_routing_priority_rules')),
    sa.UniqueConstraint('tenant_id', 'name', name=op.f('uq_routing_priority_rules_tenant_id_name'))
    )
    with op.batch_alter_table('routing_priority_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_routing_priority_rules_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_routing_priority_rules_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('routing_decisions',
    sa.Column('conversation_id', sa.Uuid(), nullable=False),
    sa.Column('outcome', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.String(length=1000), nullable=False),
    sa.Column('rule_id', sa.Uuid(), nullable=True),
    sa.Column('priority', sa.String(length=10), nullable=True),
    sa.Column('team_id', sa.Uuid(), nullable=True),
    sa.Column('skills', sa.JSON(), nullable=False),
    sa.Column('checks', sa.JSON(), nullable=False),
    sa.Column('latency_ms', sa.Double(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', relaydesk.kit.db.UTCDateTime(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_routing_decisions_conversation_id_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rule_id'], ['routing_priority_rules.id'], name=op.f('fk_routing_decisions_rule_id_routing_priority_rules'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_routing_decisions_team_id_teams'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_routing_decisions_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_routing_decisions')),
    sa.UniqueConstraint('tenant_id', 'conversation_id', name=op.f('uq_routing_decisions_tenant_id_conversation_id'))
    )
    with op.batch_alter_table('routing_decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_routing_decisions_tenant_id'), ['tenant_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('routing_decisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_routing_decisions_tenant_id'))
    op.drop_table('routing_decisions')
    with op.batch_alter_table('routing_priority_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_routing_priority_rules_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_routing_priority_rules_instance_id'))
    op.drop_table('routing_priority_rules')
