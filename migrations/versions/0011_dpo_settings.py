"""DPO settings: the data protection officer's contact per school

Revision ID: 0011_dpo_settings
Revises: 0010_chroma_routing
Create Date: 2026-12-03 06:00:00

Adds schools.dpo_contact (NULL = use the DPO_CONTACT setting), set in the DPO panel and
printed in the DPIA report and the readable data-subject export.
"""

import sqlalchemy as sa
from alembic import op

revision = '0011_dpo_settings'
down_revision = '0010_chroma_routing'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("schools") as batch:
        batch.add_column(sa.Column("dpo_contact", sa.String(300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("schools") as batch:
        batch.drop_column("dpo_contact")
