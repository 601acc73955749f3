"""Verifying the audit chains: recompute a chain and report the first event that was altered,
removed or inserted.

``_verify_one`` walks one chain from its retention checkpoint (or its start) and runs one
named check per way the chain can be broken, in this order: for each event its numbering
(``_check_seq``), its link to the event before (``_check_link``), its school
(``_check_school``) and its content (``_check_content``: details digest, recomputed hash);
then the head row (``_check_head``), the checkpoint's voucher (``_checkpoint_voucher``) and
the heads anchored outside the database (``_check_anchors``). The first check that fails
gives the report's ``first_bad_seq`` and ``problem``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.services.audit.chain import (
    GENESIS,
    INSTALLATION,
    LEGACY,
    chain_key,
    chain_order,
    chain_school,
    chain_start,
    details_digest,
    event_body,
    event_hash,
)
from core.models import AuditCheckpoint, AuditEvent, AuditHead

Problem = tuple[int, str]  # the first bad seq and what is wrong there


@dataclass
class _Walk:
    """How far the walk along one chain has come: what the next event must link to and be
    numbered.
    """

    chain: str
    school: int | None  # the school of the chain (None: the installation and legacy chains)
    checkpoint: AuditCheckpoint | None  # the latest retention checkpoint: where the walk starts
    prev: str  # the hash the next event must link to
    expected_seq: int
    prev_prev: str | None = None  # the link before that (an inserted event is linked past)
    count: int = 0  # events walked, the current one included
    seen: dict[int, str] = field(default_factory=dict)  # seq -> hash of the events walked
    vouched: bool = False  # a retention_purge event of this chain vouches for the checkpoint

    @property
    def legacy(self) -> bool:
        """The frozen chain from before revision 0009 (its own hashing and linking rules)."""
        return self.chain == LEGACY

    def advance(self, ev: AuditEvent) -> None:
        """``ev`` passed every check: the next event links to it."""
        self.seen[ev.seq] = ev.hash
        self.prev_prev, self.prev = self.prev, ev.hash
        self.expected_seq = ev.seq + 1


def _bad(chain: str, count: int, seq: int, problem: str) -> dict[str, Any]:
    return {
        "ok": False,
        "chain": chain,
        "school_id": chain_school(chain),
        "count": count,
        "first_bad_seq": seq,
        "problem": problem,
    }


def _vouches(ev: AuditEvent, chain: str, checkpoint: AuditCheckpoint) -> bool:
    """True when ``ev`` is a retention_purge event naming ``checkpoint`` of ``chain``.

    In the checkpoint's own chain a ``checkpoint`` entry suffices (the form used before 0009
    and by school chains); the installation chain names the chain in ``checkpoints``.
    """
    if ev.action != "retention_purge" or ev.details_purged_at is not None:
        return False
    details = ev.details or {}
    named = [dict(c, chain=c.get("chain", ev.chain)) for c in details.get("checkpoints", ())]
    if isinstance(details.get("checkpoint"), dict):
        named.append(
            dict(details["checkpoint"], chain=details["checkpoint"].get("chain", ev.chain))
        )
    return any(
        c.get("chain") == chain
        and c.get("seq") == checkpoint.seq
        and c.get("hash") == checkpoint.hash
        for c in named
    )


def _check_head(head: AuditHead | None, last_hash: str, expected_seq: int) -> Problem | None:
    """(seq, problem) when the chain's head row disagrees with its last event, else None."""
    if head is not None and head.seq and head.hash != last_hash:
        if head.seq < expected_seq - 1:
            return head.seq + 1, "inserted event after the chain head"
        return expected_seq, "events after the last one were removed"
    if head is not None and head.seq > expected_seq - 1:
        return expected_seq, "events after the last one were removed"
    return None


def _check_anchors(
    anchors: list[dict[str, Any]], seen: dict[int, str], checkpoint: AuditCheckpoint | None
) -> Problem | None:
    """(seq, problem) for the first anchored head the chain no longer has, else None."""
    for anchor in anchors:
        seq = int(anchor.get("seq", 0))
        if checkpoint is not None and seq <= checkpoint.seq:
            continue  # purged by retention, vouched for by the checkpoint
        if seq not in seen:
            return seq, f"event anchored at {anchor.get('ts')} is missing (removed)"
        if seen[seq] != anchor.get("hash"):
            return (
                seq,
                (
                    f"chain rewritten: event {seq} no longer matches the head anchored at "
                    f"{anchor.get('ts')}"
                ),
            )
    return None


def _check_seq(ev: AuditEvent, expected_seq: int) -> Problem | None:
    """Numbering: an event at or below the checkpoint was inserted; a gap means events
    were removed.
    """
    if ev.seq < expected_seq:
        return ev.seq, "event older than the retention checkpoint (inserted)"
    if ev.seq != expected_seq:
        return expected_seq, "missing event (removed)"
    return None


def _check_link(ev: AuditEvent, walk: _Walk) -> Problem | None:
    """The event links to the one before it (the first to the checkpoint or the chain's start)."""
    if ev.prev_hash == walk.prev:
        return None
    if walk.prev_prev is not None and ev.prev_hash == walk.prev_prev:
        return ev.seq - 1, "inserted event (the next event links past it)"
    if walk.count > 1:
        return (
            ev.seq - 1,
            (
                "altered and re-hashed, or events after it removed and renumbered "
                "(the next link no longer matches)"
            ),
        )
    if walk.checkpoint is None and not walk.legacy:
        return (
            ev.seq,
            "chain link broken (the first event does not link to the legacy head, "
            "or events before it were removed or inserted)",
        )
    return ev.seq, "chain link broken (events before this one removed or inserted)"


def _check_school(ev: AuditEvent, walk: _Walk) -> Problem | None:
    """A school's chain holds only that school's events (the legacy chain holds every school's)."""
    if not walk.legacy and ev.school_id != walk.school:
        return ev.seq, "content altered (event of another school in this chain)"
    return None


def _check_content(ev: AuditEvent, walk: _Walk) -> Problem | None:
    """The details match their digest (unless purged) and the event's hash matches its recomputed
    body.
    """
    if ev.details_digest is None and not walk.legacy:
        return ev.seq, "content altered (details digest removed)"
    if (
        ev.details_digest is not None
        and ev.details_purged_at is None
        and details_digest(ev.details) != ev.details_digest
    ):
        return ev.seq, "content altered (details)"
    if event_hash(walk.prev, _hashed_body(ev, walk)) != ev.hash:
        return ev.seq, "content altered"
    return None


def _hashed_body(ev: AuditEvent, walk: _Walk) -> dict[str, Any]:
    """The body ``ev``'s hash was computed over: its details themselves (legacy events without a
    digest), else their digest.
    """
    if ev.details_digest is None:
        return event_body(
            ev.seq, ev.ts, ev.subject, ev.role, ev.school_id, ev.course_id, ev.action, ev.details
        )
    return event_body(
        ev.seq,
        ev.ts,
        ev.subject,
        ev.role,
        ev.school_id,
        ev.course_id,
        ev.action,
        None,
        ev.details_digest,
        chain=None if walk.legacy else walk.chain,
    )


def _check_event(ev: AuditEvent, walk: _Walk) -> Problem | None:
    """The first of the per-event checks that fails, else None."""
    return (
        _check_seq(ev, walk.expected_seq)
        or _check_link(ev, walk)
        or _check_school(ev, walk)
        or _check_content(ev, walk)
    )


def _checkpoint_voucher(
    session: Session, walk: _Walk, anchors: list[dict[str, Any]], start: str
) -> tuple[str | None, Problem | None]:
    """The chain whose retention_purge event vouches for the walked chain's checkpoint, or the
    problem.

    Without a checkpoint a chain needs no voucher. The frozen legacy chain's checkpoints are
    vouched for in the installation chain, which must then verify itself.
    """
    checkpoint = walk.checkpoint
    if checkpoint is None:
        return None, None
    if walk.vouched:
        return walk.chain, None
    if walk.legacy:
        purges = select(AuditEvent).where(
            AuditEvent.chain == INSTALLATION, AuditEvent.action == "retention_purge"
        )
        if any(_vouches(ev, walk.chain, checkpoint) for ev in session.scalars(purges)):
            witness = _verify_one(
                session, INSTALLATION, [a for a in anchors if a.get("chain") == INSTALLATION], start
            )
            if not witness["ok"]:
                return None, (
                    checkpoint.seq,
                    "retention checkpoint vouched for by an installation chain that "
                    f"does not verify ({witness['problem']})",
                )
            return INSTALLATION, None
    return None, (
        checkpoint.seq,
        "retention checkpoint not vouched for by a retention_purge event (events removed)",
    )


def _verify_one(
    session: Session, chain: str, anchors: list[dict[str, Any]], start: str
) -> dict[str, Any]:
    """Recompute one chain; report the first event that was altered, removed or inserted."""
    checkpoint = session.scalars(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.chain == chain)
        .order_by(AuditCheckpoint.seq.desc())
        .limit(1)
    ).first()
    first_link = GENESIS if chain == LEGACY else start
    walk = _Walk(
        chain=chain,
        school=chain_school(chain),
        checkpoint=checkpoint,
        prev=checkpoint.hash if checkpoint else first_link,
        expected_seq=checkpoint.seq + 1 if checkpoint else 1,
        vouched=checkpoint is None,
    )
    for ev in session.scalars(
        select(AuditEvent).where(AuditEvent.chain == chain).order_by(AuditEvent.seq)
    ).yield_per(1000):
        walk.count += 1
        if (problem := _check_event(ev, walk)) is not None:
            return _bad(chain, walk.count, *problem)
        if not walk.vouched and checkpoint is not None and _vouches(ev, chain, checkpoint):
            walk.vouched = True
        walk.advance(ev)
    head = session.scalar(select(AuditHead).where(AuditHead.chain == chain))
    if (problem := _check_head(head, walk.prev, walk.expected_seq)) is not None:
        return _bad(chain, walk.count, *problem)
    vouched_by, problem = _checkpoint_voucher(session, walk, anchors, start)
    if problem is not None:
        return _bad(chain, walk.count, *problem)
    mine = [a for a in anchors if a.get("chain", LEGACY) == chain]
    if (problem := _check_anchors(mine, walk.seen, checkpoint)) is not None:
        return _bad(chain, walk.count, *problem)
    report = {
        "ok": True,
        "chain": chain,
        "school_id": walk.school,
        "count": walk.count,
        "head": walk.prev,
        "head_seq": walk.expected_seq - 1,
        "checkpoint_seq": checkpoint.seq if checkpoint else None,
        "checkpoint_vouched_by": vouched_by,
        "anchors_checked": len(mine),
    }
    if not walk.legacy:
        report["links_to"] = first_link
    return report


def chains(session: Session, anchors: list[dict[str, Any]] | None = None) -> list[str]:
    """Every chain that has a head, events, a checkpoint or an anchor, legacy first."""
    found = set(session.scalars(select(AuditHead.chain)))
    found |= set(session.scalars(select(AuditEvent.chain).distinct()))
    found |= set(session.scalars(select(AuditCheckpoint.chain).distinct()))
    found |= {a.get("chain", LEGACY) for a in anchors or ()}
    return sorted(found, key=chain_order)


def verify_chain(
    session: Session,
    anchors: list[dict[str, Any]] | None = None,
    *,
    school_id: int | None | Literal["all"] = "all",
    chain: str | None = None,
) -> dict[str, Any]:
    """Recompute one chain or all of them; report the first event that was altered, removed or
    inserted.

    ``school_id=N`` verifies school N's chain on its own, ``school_id=None`` the installation
    chain, ``chain=`` any chain by key (e.g. ``"legacy"``); the default verifies every chain
    and adds a ``chains`` map of per-chain reports (``ok`` only when all are intact).
    """
    anchors = list(anchors or ())
    start = chain_start(session)
    if chain is None and school_id != "all":
        chain = chain_key(school_id)
    if chain is not None:
        return _verify_one(session, chain, anchors, start)
    reports = {key: _verify_one(session, key, anchors, start) for key in chains(session, anchors)}
    summary: dict[str, Any] = {
        "ok": all(r["ok"] for r in reports.values()),
        "count": sum(r["count"] for r in reports.values()),
        "anchors_checked": sum(r.get("anchors_checked", 0) for r in reports.values()),
        "chains": reports,
    }
    bad = next((r for r in reports.values() if not r["ok"]), None)
    if bad is not None:
        summary.update(
            chain=bad["chain"],
            school_id=bad["school_id"],
            first_bad_seq=bad["first_bad_seq"],
            problem=bad["problem"],
        )
    return summary


def verify_school(
    session: Session, school_id: int, anchors: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A school's chain, plus the legacy chain when the school has events there (its exports cover
    both).

    ``ok`` is true only when both verify; a broken legacy chain is reported with
    ``chain: "legacy"``.
    """
    report = verify_chain(session, anchors, school_id=school_id)
    has_legacy = session.scalar(
        select(AuditEvent.id)
        .where(AuditEvent.chain == LEGACY, AuditEvent.school_id == school_id)
        .limit(1)
    )
    if has_legacy is None:
        return report
    legacy = verify_chain(session, anchors, chain=LEGACY)
    report = {**report, "legacy": legacy}
    if report["ok"] and not legacy["ok"]:
        report.update(
            ok=False,
            first_bad_seq=legacy["first_bad_seq"],
            problem=f"legacy chain: {legacy['problem']}",
        )
    return report
