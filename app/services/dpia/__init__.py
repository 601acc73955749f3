"""The DPIA-ready audit export: one zip a DPO can hand to a supervisory authority.

Contents (see docs/dpia.md for how to use each part in a DPIA):

1. ``record_of_processing.json``  purposes, legal basis, data categories, recipients,
   retention, hosting, models with versions and licences, security measures (Art. 30)
2. ``events.jsonl``                the pseudonymised audit events of the period, with hashes
3. ``moderation_statistics.json`` + ``charts/*.png``  guard decisions per category, course, week
4. ``guard_evaluation.json``      the latest evaluation of the safety classifier
5. ``dsar_requests.json``         data-subject requests handled
6. ``access_log.json``            who opened which student's data, and the written reason
7. ``ai_act.json``                the AI notice shown to students, log retention, oversight
8. ``report.html``, ``report.pdf`` all of the above as a readable report, in the school's language
9. ``manifest.json``              SHA-256 of every file and the audit chain head

The JSON parts keep English keys and texts (a stable record for tools); the report and its
charts are written in the school's language (:func:`app.services.i18n.school_language`).
Modules: :mod:`.texts` (the fixed texts), :mod:`.record` (record of processing, guard
evaluation, AI Act), :mod:`.statistics` (moderation figures and charts), :mod:`.events`
(the one place that reads the audit chain), :mod:`.sections` and :mod:`.render` (the report).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.services.audit import chain_key, event_to_dict, utc_iso
from app.services.dpia.events import ChainRead, read_chain
from app.services.dpia.record import ai_act_section, guard_evaluation, record_of_processing
from app.services.dpia.render import render_report_html, render_report_pdf
from app.services.dpia.sections import ReportData
from app.services.dpia.statistics import moderation_statistics, render_charts
from app.services.i18n import Translator, school_language
from app.services.retention import Retention
from core.models import Course, School

FORMAT_VERSION = 1
__all__ = [
    "build_export",
    "guard_evaluation",
    "moderation_statistics",
    "record_of_processing",
    "render_charts",
]


def _json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=2, default=str).encode()


def _school(s, school_id: int | None) -> School | None:
    """The school the export is for: the given one, else the installation's first."""
    if school_id is not None:
        return s.get(School, school_id)
    return s.scalars(select(School).order_by(School.id)).first()


def _gather(
    services,
    since: datetime,
    until: datetime,
    *,
    requested_by: str,
    school_id: int | None,
    language: str | None,
) -> tuple[ReportData, ChainRead, Translator]:
    """Read the chain and every part of the report for ``[since, until)``."""
    with services.db.session() as s:
        chain = read_chain(services, s, since, until, school_id=school_id)
        courses = {c.id: c.code for c in s.scalars(select(Course))}
        school = _school(s, school_id)
        retention = Retention(services).settings(s)
        rop = record_of_processing(services, school)
        tr = Translator.for_language(
            language or school_language(school.country if school else None)
        )
    meta = {
        "generated_at": datetime.now(UTC).isoformat(),
        "from": utc_iso(since),
        "to": utc_iso(until),
        "requested_by": requested_by,
        "events": len(chain.events),
        "counts": chain.counts,
        "chain": chain.verification,
    }
    data = ReportData(
        meta=meta,
        rop=rop,
        stats=moderation_statistics(chain.events, courses),
        evaluation=guard_evaluation(services),
        ai_act=ai_act_section(services, retention),
        dsars=services.gdpr.dsar_requests(since=since, until=until),
        access=services.gdpr.access_log(since=since, until=until, limit=100000),
    )
    return data, chain, tr


def _files(data: ReportData, chain: ChainRead, tr: Translator) -> dict[str, bytes]:
    """Every file of the zip except the manifest."""
    event_lines = [
        json.dumps(event_to_dict(ev), ensure_ascii=False, sort_keys=True) for ev in chain.events
    ]
    charts = render_charts(data.stats, tr)
    files: dict[str, bytes] = {
        "record_of_processing.json": _json(data.rop),
        "events.jsonl": ("\n".join(event_lines) + ("\n" if event_lines else "")).encode(),
        "moderation_statistics.json": _json(data.stats),
        "guard_evaluation.json": _json(data.evaluation),
        "dsar_requests.json": _json(data.dsars),
        "access_log.json": _json(data.access),
        "ai_act.json": _json(data.ai_act),
    }
    files.update({f"charts/{name}": png for name, png in charts.items()})
    files["report.html"] = render_report_html(data, charts, tr).encode()
    files["report.pdf"] = render_report_pdf(data, charts, tr)
    return files


def _manifest(
    meta: dict[str, Any], files: dict[str, bytes], *, language: str, school_id: int | None
) -> dict[str, Any]:
    verification = meta["chain"]
    return {
        "format": "kateder-audit-export",
        "version": FORMAT_VERSION,
        "language": language,
        **{k: meta[k] for k in ("generated_at", "from", "to", "events")},
        "chain_head": {
            "seq": verification.get("head_seq"),
            "hash": verification.get("head"),
            "verified": verification["ok"],
            "problem": verification.get("problem"),
            "chain": chain_key(school_id) if school_id is not None else "all",
            "links_to": verification.get("links_to"),
        },
        "files": {
            name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
            for name, data in sorted(files.items())
        },
    }


def build_export(
    services,
    since: datetime,
    until: datetime,
    out: str | Path,
    *,
    requested_by: str = "cli",
    actor=None,
    school_id: int | None = None,
    language: str | None = None,
) -> dict[str, Any]:
    """Write the DPIA-ready audit export for ``[since, until)`` to ``out`` (a .zip); returns a
    summary with its path.

    With ``school_id`` the log part covers that school's audit chain only (and its events in the
    frozen legacy chain), and the report uses its DPO contact and language; without it every
    chain of the installation and the first school's settings. ``language`` overrides the
    school's language for the report.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with services.db.session() as s:
        services.audit.record(
            s,
            "audit_export",
            user=actor,
            school_id=school_id,
            details={
                "from": since.isoformat(),
                "to": until.isoformat(),
                "requested_by": requested_by,
            },
        )
    data, chain, tr = _gather(
        services, since, until, requested_by=requested_by, school_id=school_id, language=language
    )
    files = _files(data, chain, tr)
    files["manifest.json"] = _json(
        _manifest(data.meta, files, language=tr.language, school_id=school_id)
    )
    tmp = out.with_suffix(out.suffix + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    tmp.replace(out)
    verification = chain.verification
    return {
        "path": str(out),
        "events": len(chain.events),
        "chain_ok": verification["ok"],
        "chain_head": verification.get("head") or "",
        "files": sorted(files),
        "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
        "language": tr.language,
    }
