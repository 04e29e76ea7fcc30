"""cache: drop the score column, which nothing ever wrote or read.

Revision ID: 0002
Revises: '0001'
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cache') as batch_op:  # SQLite: copy the table without the column
        batch_op.drop_column('score')


def downgrade() -> None:
    with op.batch_alter_table('cache') as batch_op:
        batch_op.add_column(sa.Column('score', sa.Float(), nullable=True))
