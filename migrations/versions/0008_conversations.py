"""Conversations: titles, rename, delete

Revision ID: 0008_conversations
Revises: 0007_teacher_courses
Create Date: 2026-12-03 02:00:00

Adds a student-given title (sealed) and a deleted_at mark to conversations.
"""

import sqlalchemy as sa
from alembic import op

revision = '0008_conversations'
down_revision = '0007_teacher_courses'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("title_encrypted", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("deleted_at")
        batch.drop_column("title_encrypted")
