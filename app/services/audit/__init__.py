"""The tamper-evident audit log: one hash chain per school, each event carries the hash of the one
before it.

Every school's events form their own chain (key ``school:<id>``) with their own head row and
sequence numbers; events without a school (system jobs, unknown accounts) go to the
``installation`` chain. Writers serialise only on their chain's ``audit_head`` row (row lock on
PostgreSQL, the database write lock on SQLite), so writers of one chain never fork it and
writers of different schools do not wait for each other on PostgreSQL.

The single chain of installations before revision 0009 is kept, frozen, as the ``legacy``
chain: it still verifies with the old rule, and the first event of every newer chain links to
the legacy head hash (or to ``GENESIS`` when there was no legacy chain), so the old chain's
state at the switch is committed to by every new chain.

An event's hash covers its skeleton (seq, UTC time, pseudonymous subject, role, school,
course, action, and its chain except in the legacy chain) and the SHA-256 of its details,
not the details themselves: retention can later drop the details (``details_purged_at``) and
the chain still verifies. Retention that removes whole events leaves an
:class:`~core.models.AuditCheckpoint` per chain (the last removed event's seq and hash)
vouched for by a ``retention_purge`` event inside that chain (for the frozen legacy chain:
inside the installation chain). Heads seen by ``verify``, exports and purges are appended,
with their chain, to an anchor file outside the database, so a chain re-computed wholesale
by someone with database access no longer matches them.

One concept per module, and this package re-exports the names it has always had:

* ``chain``: which chain an event belongs to, the bytes and hashes that chain it (the rule
  the writer and the verifier share), and an event's exported form
* ``log``: writing: :class:`AuditLog` appends events under the chain head's lock and keeps
  the anchor file; :class:`Pseudonymizer` makes the subjects pseudonymous
* ``verify``: recomputing a chain, one named check per way it can be broken
"""

from __future__ import annotations

from app.services.audit.chain import (
    GENESIS,
    INSTALLATION,
    LEGACY,
    SCHOOL_PREFIX,
    canonical,
    chain_key,
    chain_order,
    chain_school,
    chain_start,
    details_digest,
    event_body,
    event_hash,
    event_to_dict,
    school_events,
    utc_iso,
)
from app.services.audit.log import AuditLog, Pseudonymizer
from app.services.audit.verify import chains, verify_chain, verify_school

__all__ = [
    "GENESIS",
    "INSTALLATION",
    "LEGACY",
    "SCHOOL_PREFIX",
    "AuditLog",
    "Pseudonymizer",
    "canonical",
    "chain_key",
    "chain_order",
    "chain_school",
    "chain_start",
    "chains",
    "details_digest",
    "event_body",
    "event_hash",
    "event_to_dict",
    "school_events",
    "utc_iso",
    "verify_chain",
    "verify_school",
]
