"""docs: the library's own documentation, indexed (one row per page with its parsed sections, and the state
of each configured source).

Revision ID: 0003
Revises: '0002'
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('docs_pages',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('source', sa.String(length=1000), nullable=False),
    sa.Column('location', sa.String(length=2000), nullable=False),
    sa.Column('slug', sa.String(length=255), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('mtime_ns', sa.BigInteger(), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('etag', sa.String(length=255), nullable=False),
    sa.Column('last_modified', sa.String(length=64), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('sections', sa.Text(), nullable=False),
    sa.Column('n_sections', sa.Integer(), nullable=False),
    sa.Column('n_procedures', sa.Integer(), nullable=False),
    sa.Column('n_faqs', sa.Integer(), nullable=False),
    sa.Column('indexed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('checked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source', 'location', name='uq_docs_page')
    )
    op.create_index('ix_docs_pages_source', 'docs_pages', ['source'])
    op.create_table('docs_sources',
    sa.Column('source', sa.String(length=1000), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('checked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ok_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('source')
    )


def downgrade() -> None:
    op.drop_table('docs_sources')
    op.drop_index('ix_docs_pages_source', table_name='docs_pages')
    op.drop_table('docs_pages')
