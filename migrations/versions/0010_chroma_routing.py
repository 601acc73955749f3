"""Courses sharded over several Chroma servers: each course's server

Revision ID: 0010_chroma_routing
Revises: 0009_audit_chains
Create Date: 2026-12-03 06:00:00

Adds courses.chroma_server: the name (a key of CHROMA_SERVERS) of the Chroma server that
holds the course's vectors; NULL until the course is first routed (and with a single
server); "old>new" while `kateder reindex --to-server` moves it (ingest/routing.py).
"""

import sqlalchemy as sa
from alembic import op

revision = '0010_chroma_routing'
down_revision = '0009_audit_chains'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("courses") as batch:
        batch.add_column(sa.Column("chroma_server", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("courses") as batch:
        batch.drop_column("chroma_server")
