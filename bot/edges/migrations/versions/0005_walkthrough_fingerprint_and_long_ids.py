"""walkthroughs: the procedure's title and a digest of its steps (a page that changed or left the
documentation is noticed); topic ids of indexed sections up to 512 characters in walkthroughs and feedback
(a page slug and two heading slugs did not fit in 128 on PostgreSQL).

Revision ID: 0005
Revises: '0004'
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('walkthroughs') as batch_op:  # SQLite: copy the table with the new columns
        batch_op.alter_column('topic_id', existing_type=sa.String(length=128), type_=sa.String(length=512),
                              existing_nullable=False)
        batch_op.add_column(sa.Column('title', sa.String(length=255), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('fingerprint', sa.String(length=64), nullable=False, server_default=''))
    with op.batch_alter_table('feedback') as batch_op:
        batch_op.alter_column('topic_id', existing_type=sa.String(length=128), type_=sa.String(length=512),
                              existing_nullable=False)


def downgrade() -> None:
    # the old columns cannot hold a section id of more than 128 characters: those votes and walkthroughs go
    op.execute(sa.text("DELETE FROM feedback WHERE length(topic_id) > 128"))
    op.execute(sa.text("DELETE FROM walkthroughs WHERE length(topic_id) > 128"))
    with op.batch_alter_table('feedback') as batch_op:
        batch_op.alter_column('topic_id', existing_type=sa.String(length=512), type_=sa.String(length=128),
                              existing_nullable=False)
    with op.batch_alter_table('walkthroughs') as batch_op:
        batch_op.drop_column('fingerprint')
        batch_op.drop_column('title')
        batch_op.alter_column('topic_id', existing_type=sa.String(length=512), type_=sa.String(length=128),
                              existing_nullable=False)
