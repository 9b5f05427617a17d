"""agent presence and team routing

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-21 14:11:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import relaydesk.kit.db

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('agent_presence',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('skills', sa.JSON(), nullable=False),
    sa.Column('last_assigned_at', relaydesk.kit.db.UTCDateTime(), nullable=True),
    sa.Column('updated_at', relaydesk.kit.db.UTCDateTime(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', relaydesk.kit.db.UTCDateTime(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_agent_presence_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_agent_presence_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_presence')),
    sa.UniqueConstraint('tenant_id', 'user_id', name=op.f('uq_agent_presence_tenant_id_user_id'))
    )
    with op.batch_alter_table('agent_presence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agent_presence_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('team_routing',
    sa.Column('team_id', sa.Uuid(), nullable=False),
    sa.Column('mode', sa.String(length=12), nullable=False),
    sa.Column('auto_assign', sa.Boolean(), nullable=False),
    sa.Column('skills', sa.JSON(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', relaydesk.kit.db.UTCDateTime(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_team_routing_team_id_teams'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_team_routing_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_team_routing')),
    sa.UniqueConstraint('tenant_id', 'team_id', name=op.f('uq_team_routing_tenant_id_team_id'))
    )
    with op.batch_alter_table('team_routing', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_team_routing_tenant_id'), ['tenant_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('team_routing', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_team_routing_tenant_id'))
    op.drop_table('team_routing')
    with op.batch_alter_table('agent_presence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agent_presence_tenant_id'))
    op.drop_table('agent_presence')
