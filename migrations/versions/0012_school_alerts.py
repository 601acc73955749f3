"""Crisis alerts by e-mail: per-school settings

Revision ID: 0012_school_alerts
Revises: 0011_dpo_settings
Create Date: 2026-12-03 06:00:00

Adds schools.alert_email_enabled (default false) and schools.alert_email_to (the one
recipient address). The e-mail itself says only that there is a crisis alert in a course,
with a link to the review queue (app/services/alerts.py).
"""

import sqlalchemy as sa
from alembic import op

revision = '0012_school_alerts'
down_revision = '0011_dpo_settings'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("schools") as batch:
        batch.add_column(sa.Column("alert_email_enabled", sa.Boolean(), nullable=False, server_default="0"))  # a string: SQLite adds the column in place
        batch.add_column(sa.Column("alert_email_to", sa.String(254), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("schools") as batch:
        batch.drop_column("alert_email_to")
        batch.drop_column("alert_email_enabled")
