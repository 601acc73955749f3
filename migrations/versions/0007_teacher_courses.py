"""Teacher panel: course archive and related columns

Revision ID: 0007_teacher_courses
Revises: 0006_lexical_search
Create Date: 2026-12-03 02:00:00

Adds courses.archived_at (NULL = active; set = archived: hidden from students, read-only).
"""

import sqlalchemy as sa
from alembic import op

revision = '0007_teacher_courses'
down_revision = '0006_lexical_search'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("courses") as batch:
        batch.add_column(sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("courses") as batch:
        batch.drop_column("archived_at")
