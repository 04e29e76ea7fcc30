"""request_stage (a sync's rows until they are swapped into the index whole) and rate_budget (one Alma
calls-per-second budget per institution, shared by every process).

Revision ID: 0004
Revises: '0003'
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('request_stage',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('run', sa.String(length=40), nullable=False),
    sa.Column('staged_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('institution', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('external_id', sa.String(length=255), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=64), nullable=False),
    sa.Column('status_desc', sa.String(length=255), nullable=False),
    sa.Column('partner_code', sa.String(length=128), nullable=False),
    sa.Column('partner_name', sa.String(length=255), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('author', sa.Text(), nullable=False),
    sa.Column('library', sa.String(length=64), nullable=False),
    sa.Column('requester', sa.String(length=255), nullable=False),
    sa.Column('created', sa.String(length=40), nullable=False),
    sa.Column('modified', sa.String(length=40), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('synced_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_request_stage_run'), 'request_stage', ['run'], unique=False)
    op.create_table('rate_budget',
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('next_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )


def downgrade() -> None:
    op.drop_table('rate_budget')
    op.drop_index(op.f('ix_request_stage_run'), table_name='request_stage')
    op.drop_table('request_stage')
