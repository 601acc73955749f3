"""gdpr: per-student data keys, data-subject requests, access log with reasons, retention settings, audit checkpoints

Revision ID: 0002_gdpr
Revises: 0001_initial
Create Date: 2026-11-23 14:20:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0002_gdpr'
down_revision = '0001_initial'
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade() -> None:
    op.create_table('subject_keys',
    sa.Column('user_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('user_id')
    )
    op.create_table('dsar_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('handled_by', sa.String(length=80), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('receipt', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('dsar_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dsar_requests_subject'), ['subject'], unique=False)
    op.create_table('access_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ts', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_role', sa.String(length=16), nullable=False),
    sa.Column('actor_subject', sa.String(length=64), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=True),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=True),
    sa.Column('conversation_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('audit_seq', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('access_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_access_log_subject'), ['subject'], unique=False)
        batch_op.create_index(batch_op.f('ix_access_log_ts'), ['ts'], unique=False)
    op.create_table('retention_settings',
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('days', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=80), nullable=True),
    sa.PrimaryKeyConstraint('category')
    )
    op.create_table('audit_checkpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('ts', sa.DateTime(timezone=True), nullable=False),
    sa.Column('events_removed', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('seq')
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('details_digest', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('details_purged_at', sa.DateTime(timezone=True), nullable=True))
    # the chain head row exists from the start, so the first concurrent writers cannot race to create it
    op.execute(
        sa.text(
            "INSERT INTO audit_head (id, seq, hash) SELECT 1, 0, :genesis "
            "WHERE NOT EXISTS (SELECT 1 FROM audit_head WHERE id = 1)"
        ).bindparams(genesis=GENESIS)
    )


def downgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_column('details_purged_at')
        batch_op.drop_column('details_digest')
    op.drop_table('audit_checkpoints')
    op.drop_table('retention_settings')
    with op.batch_alter_table('access_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_access_log_ts'))
        batch_op.drop_index(batch_op.f('ix_access_log_subject'))
    op.drop_table('access_log')
    with op.batch_alter_table('dsar_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dsar_requests_subject'))
    op.drop_table('dsar_requests')
    op.drop_table('subject_keys')
