"""customer identities, attributes and merges

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 14:00:00

Also backfills one unverified identity (source ``profile``) per existing profile phone and
e-mail; when several customers of a tenant share one, the oldest customer gets it.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import relaydesk.kit.db
from relaydesk.kit.ids import uuid7

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # customers first: on SQLite the batch copy must run before other tables reference it
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('merged_into_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('merged_at', relaydesk.kit.db.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_customers_merged_into_id'), ['merged_into_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_customers_merged_into_id_customers'), 'customers', ['merged_into_id'], ['id'], ondelete='CASCADE')

    op.create_table('customer_attribute_definitions',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('label_zh', sa.String(length=100), nullable=False),
    sa.Column('label_en', sa.String(length=100), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('required', sa.Boolean(), nullable=False),
    sa.Column('pii', sa.Boolean(), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=True),
    sa.Column('updated_at', relaydesk.kit.db.UTCDateTime(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', relaydesk.kit.db.UTCDateTime(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_customer_attribute_definitions_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_attribute_definitions')),
    sa.UniqueConstraint('tenant_id', 'key', name=op.f('uq_customer_attribute_definitions_tenant_id_key'))
    )
    with op.batch_alter_table('customer_attribute_definitions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_attribute_definitions_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('customer_identities',
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('namespace', sa.String(length=100), nullable=False),
    sa.Column('value', sa.String(length=320), nullable=False),
    sa.Column('verified', sa.Boolean(), nullable=False),
    sa.Column('verified_at', relaydesk.kit.db.UTCDateTime(), nullable=True),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('origin', sa.String(length=16), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', relaydesk.kit.db.UTCDateTime(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_identities_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_customer_identities_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_identities')),
    sa.UniqueConstraint('tenant_id', 'kind', 'namespace', 'value', name=op.f('uq_customer_identities_tenant_id_kind_namespace_value'))
    )
    with op.batch_alter_table('customer_identities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_identities_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_customer_identities_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('customer_merge_suggestions',
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('candidate_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('updated_at', relaydesk.kit.db.UTCDateTime(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', relaydesk.kit.db.UTCDateTime(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['candidate_id'], ['customers.id'], name=op.f('fk_customer_merge_suggestions_candidate_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_merge_suggestions_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_customer_merge_suggestions_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_merge_suggestions')),
    sa.UniqueConstraint('tenant_id', 'customer_id', 'candidate_id', name=op.f('uq_customer_merge_suggestions_tenant_id_customer_id_candidate_id'))
    )
    with op.batch_alter_table('customer_merge_suggestions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_merge_suggestions_candidate_id'), ['candidate_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_customer_merge_suggestions_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index('ix_customer_merge_suggestions_status', ['tenant_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_customer_merge_suggestions_tenant_id'), ['tenant_id'], unique=False)

    _backfill_profile_identities()


def _backfill_profile_identities() -> None:
    """Existing profile phones and e-mails become unverified identities (oldest holder wins)."""
    customers = sa.table(
        'customers', sa.column('id', sa.Uuid()), sa.column('tenant_id', sa.Uuid()),
        sa.column('phone', sa.String()), sa.column('email', sa.String()),
        sa.column('created_at', relaydesk.kit.db.UTCDateTime()),
    )
    identities = sa.table(
        'customer_identities', sa.column('id', sa.Uuid()), sa.column('tenant_id', sa.Uuid()),
        sa.column('customer_id', sa.Uuid()), sa.column('kind', sa.String()),
        sa.column('namespace', sa.String()), sa.column('value', sa.String()),
        sa.column('verified', sa.Boolean()), sa.column('source', sa.String()),
        sa.column('origin', sa.String()), sa.column('created_at', relaydesk.kit.db.UTCDateTime()),
    )
    bind = op.get_bind()
    stmt = sa.select(customers).order_by(customers.c.created_at, customers.c.id)
    seen: set[tuple[object, str, str]] = set()
    batch: list[dict[str, object]] = []
    for row in bind.execute(stmt):
        for kind in ('phone', 'email'):
            value = getattr(row, kind)
            if not value or (row.tenant_id, kind, value) in seen:
                continue
            seen.add((row.tenant_id, kind, value))
            batch.append({
                'id': uuid7(), 'tenant_id': row.tenant_id, 'customer_id': row.id, 'kind': kind,
                'namespace': '', 'value': value, 'verified': False, 'source': 'profile',
                'origin': 'staff', 'created_at': row.created_at,
            })
            if len(batch) >= 1000:
                bind.execute(identities.insert(), batch)
                batch = []
    if batch:
        bind.execute(identities.insert(), batch)


def downgrade() -> None:
    with op.batch_alter_table('customer_merge_suggestions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_merge_suggestions_tenant_id'))
        batch_op.drop_index('ix_customer_merge_suggestions_status')
        batch_op.drop_index(batch_op.f('ix_customer_merge_suggestions_customer_id'))
        batch_op.drop_index(batch_op.f('ix_customer_merge_suggestions_candidate_id'))

    op.drop_table('customer_merge_suggestions')
    with op.batch_alter_table('customer_identities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_identities_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_customer_identities_customer_id'))

    op.drop_table('customer_identities')
    with op.batch_alter_table('customer_attribute_definitions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_attribute_definitions_tenant_id'))

    op.drop_table('customer_attribute_definitions')
    # merged customers are tombstones without data: they would come back as empty duplicates
    op.execute(sa.text('DELETE FROM customers WHERE merged_into_id IS NOT NULL'))
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_customers_merged_into_id_customers'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_customers_merged_into_id'))
        batch_op.drop_column('merged_at')
        batch_op.drop_column('merged_into_id')
