"""audit chains per school: a chain key on events, heads and checkpoints; the old single chain frozen as "legacy"

Every event, head row and retention checkpoint gets a ``chain`` ("school:<id>",
"installation" or "legacy"); sequence numbers become unique per chain. Existing events, the
existing head row and existing checkpoints all become the ``legacy`` chain, untouched: no hash
is recomputed, so the past still verifies with the old rule and anchors written before the
upgrade (lines without a chain) still check it. New chains are created on their first event,
which links to the frozen legacy head hash (app/services/audit/chain.py). A database without any
audit event has no legacy chain: its seeded empty head row is removed.

Downgrade refuses while events, heads or checkpoints of the new chains exist: merging them
back into one chain would mean recomputing their hashes, which is exactly what the chain is
there to make evident. Export them and remove them deliberately first if you must go back.

Revision ID: 0009_audit_chains
Revises: 0008_conversations
Create Date: 2026-12-03 06:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0009_audit_chains'
down_revision = '0008_conversations'
branch_labels = None
depends_on = None

GENESIS = "0" * 64
LEGACY = "legacy"
# names for the constraints SQLite created without one (reflected by batch mode under these names)
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _unique_name(table: str, columns: list[str]) -> str:
    """The name of the unique constraint on exactly ``columns`` (the naming convention's on SQLite)."""
    for uc in sa.inspect(op.get_bind()).get_unique_constraints(table):
        if list(uc["column_names"]) == columns and uc.get("name"):
            return uc["name"]
    return NAMING["uq"] % {"table_name": table, "column_0_name": columns[0]}


def _add_chain(table: str, old_unique: list[str] | None, new_unique: list[str], new_name: str) -> None:
    """Add a NOT NULL ``chain`` column (existing rows: legacy) and move the unique constraint onto it."""
    old_name = _unique_name(table, old_unique) if old_unique else None
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.add_column(sa.Column('chain', sa.String(length=40), nullable=False, server_default=LEGACY))
    with op.batch_alter_table(table, schema=None, naming_convention=NAMING) as batch_op:
        batch_op.alter_column('chain', existing_type=sa.String(length=40), existing_nullable=False, server_default=None)
        if old_name:
            batch_op.drop_constraint(old_name, type_='unique')
        batch_op.create_unique_constraint(new_name, new_unique)


def upgrade() -> None:
    _add_chain('audit_events', ['seq'], ['chain', 'seq'], 'uq_audit_events_chain_seq')
    _add_chain('audit_checkpoints', ['seq'], ['chain', 'seq'], 'uq_audit_checkpoints_chain_seq')
    _add_chain('audit_head', None, ['chain'], 'uq_audit_head_chain')
    bind = op.get_bind()
    has_events = bind.execute(sa.text("SELECT 1 FROM audit_events LIMIT 1")).first() is not None
    has_checkpoints = bind.execute(sa.text("SELECT 1 FROM audit_checkpoints LIMIT 1")).first() is not None
    if not has_events and not has_checkpoints:
        # nothing was ever logged: no legacy chain, new chains start from GENESIS
        op.execute(sa.text("DELETE FROM audit_head WHERE chain = 'legacy' AND seq = 0"))
    if bind.dialect.name == "postgresql":
        # the legacy head row was inserted with an explicit id; new head rows take ids from the sequence
        op.execute(sa.text("SELECT setval(pg_get_serial_sequence('audit_head', 'id'), "
                           "COALESCE((SELECT MAX(id) FROM audit_head), 0) + 1, false)"))


def downgrade() -> None:
    bind = op.get_bind()
    newer = sum(
        bind.execute(sa.text(f"SELECT COUNT(*) FROM {table} WHERE chain <> 'legacy'")).scalar_one()
        for table in ('audit_events', 'audit_checkpoints', 'audit_head')
    )
    if newer:
        raise RuntimeError(
            "0009_audit_chains cannot be downgraded: the database holds per-school audit chains, and merging them into "
            "one chain would recompute their hashes. Export them (kateder audit export) and remove them deliberately first."
        )
    with op.batch_alter_table('audit_head', schema=None) as batch_op:
        batch_op.drop_constraint('uq_audit_head_chain', type_='unique')
        batch_op.drop_column('chain')
    with op.batch_alter_table('audit_checkpoints', schema=None) as batch_op:
        batch_op.drop_constraint('uq_audit_checkpoints_chain_seq', type_='unique')
        batch_op.create_unique_constraint('uq_audit_checkpoints_seq', ['seq'])
        batch_op.drop_column('chain')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_constraint('uq_audit_events_chain_seq', type_='unique')
        batch_op.create_unique_constraint('uq_audit_events_seq', ['seq'])
        batch_op.drop_column('chain')
    # the single head row of revision 0002 (removed by the upgrade when nothing was logged yet)
    op.execute(sa.text("INSERT INTO audit_head (id, seq, hash) SELECT 1, 0, :genesis "
                       "WHERE NOT EXISTS (SELECT 1 FROM audit_head)").bindparams(genesis=GENESIS))
