"""Reading the audit chain for the export, in this one place.

Everything the export needs from the audit tables (the verification of the chain, the
events of the period and their counts) is read here, so a change to how chains are stored
and verified is made once. A school's export covers that school's chain (app/services/audit/:
one chain per school since revision 0009), the operator's export every chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import InstrumentedAttribute

from app.services.audit import LEGACY, chain_key, school_events, verify_chain, verify_school
from core.models import AuditEvent


@dataclass(frozen=True)
class ChainRead:
    """The verification result, the events of ``[since, until)`` in chain order, and a count per
    action.
    """

    verification: dict[str, Any]
    events: list[AuditEvent]
    counts: dict[str, int]


def read_chain(
    services, s, since: datetime, until: datetime, school_id: int | None = None
) -> ChainRead:
    """Verify the audit chain and read the period's events within session ``s``; anchor the heads
    when intact.

    With ``school_id`` only that school's chain (and its events in the frozen legacy chain,
    which is then verified too); without it every chain of the installation.
    """
    anchors = services.audit.anchors()
    period = [AuditEvent.ts >= since, AuditEvent.ts < until]
    order: tuple[ColumnElement[bool] | InstrumentedAttribute[int], ...]
    if school_id is None:
        verification = verify_chain(s, anchors)
        order = (AuditEvent.id,)  # seq counts per chain; ids follow insertion order
    else:
        verification = verify_school(s, school_id, anchors)
        period.append(school_events(school_id))
        order = (AuditEvent.chain != LEGACY, AuditEvent.seq)
    events = list(s.scalars(select(AuditEvent).where(*period).order_by(*order)))
    counts = dict(
        s.execute(
            select(AuditEvent.action, func.count()).where(*period).group_by(AuditEvent.action)
        ).all()
    )
    if verification["ok"]:
        services.audit.anchor(s, None if school_id is None else [chain_key(school_id)])
    return ChainRead(verification, events, counts)
