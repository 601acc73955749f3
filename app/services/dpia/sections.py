"""The readable report as data: sections of blocks, every text translated into the school's
language.

A section is ``(heading, blocks)``; a block is ``("p", text)``, ``("warn", text)``,
``("list", [text, ...])``, ``("table", Table)`` or ``("img", chart name)``. The HTML and
PDF renderers (:mod:`app.services.dpia.render`) only lay them out. Each section is one
small function in :data:`SECTIONS`, in report order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.services.audit_labels import RETENTION_LABELS, event_label, role_label
from app.services.dpia.statistics import decision_label
from app.services.i18n import N_, Translator
from guard.taxonomy import plain_categories

Block = tuple[str, Any]
SUMMARY_ACTIONS = (
    "question",
    "answer",
    "refusal",
    "answer_failed",
    "upload",
    "login",
    "admin_view",
    "dsar_export",
    "erasure",
    "audit_export",
    "retention_purge",
)
STORAGE_LABELS = {
    "encrypted": N_("encrypted per student"),
    "plain": N_("plain text (not encrypted)"),
    "none": N_("not stored"),
}
METRIC_LABELS = {
    "n": N_("n"),
    "precision": N_("Precision"),
    "recall": N_("Recall (unsafe caught)"),
    "f1": N_("F1"),
    "fpr": N_("False-positive rate"),
}


@dataclass(frozen=True)
class Table:
    """A table block; ``widths`` are fractions of the page width for the PDF (None: equal
    columns).
    """

    header: list[str]
    rows: list[list[str]]
    widths: tuple[float, ...] | None = None


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows, gathered by :func:`app.services.dpia.build_export`."""

    meta: dict[str, Any]
    rop: dict[str, Any]
    stats: dict[str, Any]
    evaluation: dict[str, Any]
    ai_act: dict[str, Any]
    dsars: list[dict[str, Any]] = field(default_factory=list)
    access: list[dict[str, Any]] = field(default_factory=list)


def _summary(r: ReportData, _: Translator) -> list[Block]:
    meta, rop, chain = r.meta, r.rop, r.meta["chain"]
    contact = rop["dpo_contact"] or _("not set (enter it in the DPO panel)")
    if chain["ok"] and not chain.get("head"):  # several chains verified together: no single head
        chain_block: Block = (
            "p",
            _("Audit chain: intact, %(count)s events verified.", count=chain["count"]),
        )
    elif chain["ok"]:
        chain_block = (
            "p",
            _(
                "Audit chain: intact, %(count)s events verified, head event %(seq)s, hash "
                "%(hash)s.",
                count=chain["count"],
                seq=chain.get("head_seq"),
                hash=chain.get("head"),
            ),
        )
    else:
        chain_block = (
            "warn",
            _(
                "Audit chain: BROKEN at event %(seq)s: %(problem)s. Investigate before relying on "
                "this log.",
                seq=chain["first_bad_seq"],
                problem=chain["problem"],
            ),
        )
    rows = [[event_label(k, _), str(meta["counts"].get(k, 0))] for k in SUMMARY_ACTIONS]
    return [
        (
            "p",
            _(
                "Controller: %(controller)s. Data protection officer: %(contact)s.",
                controller=rop["controller"],
                contact=contact,
            ),
        ),
        (
            "p",
            _(
                "Period: %(start)s to %(end)s (UTC, end exclusive). Generated %(generated)s (UTC) "
                "by %(by)s. %(events)s audit events in the period.",
                start=_.date(meta["from"]),
                end=_.date(meta["to"]),
                generated=_.datetime(meta["generated_at"]),
                by=meta["requested_by"],
                events=meta["events"],
            ),
        ),
        chain_block,
        ("table", Table([_("Event"), _("Count in period")], rows, (0.7, 0.3))),
    ]


def _model_rows(rop: dict[str, Any], _: Translator) -> list[list[str]]:
    """One row per model; a chain of guards has a row per member."""
    rows = []
    for m in rop["models"]:
        for part in m.get("parts") or [m]:
            rows.append(
                [
                    _(m["use"]),
                    str(part["name"]),
                    str(part.get("version") or ""),
                    _(str(part.get("licence") or "")),
                ]
            )
    return rows


def _record(r: ReportData, _: Translator) -> list[Block]:
    rop = r.rop
    facts = [
        [_("Processing"), _(rop["processing"])],
        [_("Legal basis"), _(rop["legal_basis"])],
        [_("Hosting location"), _(rop["hosting_location"])],
        [_("International transfers"), _(rop["international_transfers"])],
        [
            _("Message text storage"),
            _(STORAGE_LABELS.get(rop["message_text_storage"], rop["message_text_storage"])),
        ],
        [_("Special categories"), _(rop["special_categories"])],
    ]
    categories = [[_(d["category"]), _(d["items"]), _(d["source"])] for d in rop["data_categories"]]
    retention = [
        [
            _(RETENTION_LABELS.get(x["category"], x["category"])),
            str(x["days"]),
            str(x["minimum_days"]),
        ]
        for x in rop["retention"]
    ]
    return [
        ("table", Table([_("Item"), _("Entry")], facts, (0.3, 0.7))),
        ("p", _("Purposes:")),
        ("list", [_(x) for x in rop["purposes"]]),
        ("p", _("Data subjects:")),
        ("list", [_(x) for x in rop["data_subjects"]]),
        (
            "table",
            Table([_("Data category"), _("What"), _("Source")], categories, (0.25, 0.45, 0.3)),
        ),
        ("p", _("Recipients:")),
        ("list", [_(x) for x in rop["recipients"]]),
        ("p", _("Retention (days; the purge runs daily):")),
        ("table", Table([_("Category"), _("Days"), _("Minimum")], retention, (0.6, 0.2, 0.2))),
        ("p", _("Models (all run locally):")),
        (
            "table",
            Table(
                [_("Use"), _("Model"), _("Version"), _("Licence")],
                _model_rows(rop, _),
                (0.2, 0.3, 0.25, 0.25),
            ),
        ),
        ("p", _("Technical and organisational security measures (Art. 32):")),
        ("list", [_(x) for x in rop["security_measures"]]),
    ]


def _event_log(r: ReportData, _: Translator) -> list[Block]:
    return [
        (
            "p",
            _(
                "events.jsonl holds every audit event of the period, one JSON object per line: UTC "
                "time, pseudonymous subject (keyed HMAC; the key is not in the export), role, "
                "school, course, action, details (guard verdicts, retrieved passage ids with "
                "document versions, model, latencies) and the chain hashes. No question or answer "
                "text is in it. Details older than the audit-details retention are replaced by "
                "their SHA-256."
            ),
        )
    ]


def _decisions(counts: dict[str, int], _: Translator) -> str:
    return ", ".join(f"{decision_label(a, _)} {n}" for a, n in counts.items())


def _moderation(r: ReportData, _: Translator) -> list[Block]:
    stats, plain, none = r.stats, plain_categories(_.language), _("none")
    categories = [
        [f"{k} {plain[k].name if k in plain else v['name']}", str(v["count"])]
        for k, v in stats["by_category"].items()
    ]
    courses = [[k, _decisions(v, _)] for k, v in stats["by_course"].items()]
    weeks = [[k, _decisions(v, _)] for k, v in stats["by_week"].items()]
    return [
        (
            "table",
            Table([_("Hazard category"), _("Flagged")], categories or [[none, "0"]], (0.7, 0.3)),
        ),
        ("img", "moderation_by_category.png"),
        ("table", Table([_("Course"), _("Decisions")], courses or [[none, ""]], (0.3, 0.7))),
        ("img", "moderation_by_course.png"),
        ("table", Table([_("Week"), _("Decisions")], weeks or [[none, ""]], (0.3, 0.7))),
        ("img", "moderation_by_week.png"),
        (
            "p",
            _(
                "Guard errors (each blocked the message: fail closed): %(n)s.",
                n=stats["guard_errors"],
            ),
        ),
    ]


def _group(name: str, _: Translator) -> str:
    """An evaluation row's group: all languages, or one language."""
    if name == "all":
        return _("all languages")
    return (
        _("language %(code)s", code=name.removeprefix("language "))
        if name.startswith("language ")
        else name
    )


def _evaluation(r: ReportData, _: Translator) -> list[Block]:
    ev = r.evaluation
    if not ev["available"]:
        return [("p", _(ev["note"]))]
    keys = [k for k in METRIC_LABELS if any(x.get(k) is not None for x in ev["rows"])]
    rows = [
        [_group(str(x["group"]), _), *("" if x.get(k) is None else str(x[k]) for k in keys)]
        for x in ev["rows"]
    ]
    return [
        (
            "p",
            _(
                "Source: %(source)s. Evaluated %(date)s. Backend: %(backend)s.",
                source=ev["source"],
                date=_.date(ev.get("evaluated_at")),
                backend=ev.get("backend"),
            ),
        ),
        ("table", Table([_("Group"), *(_(METRIC_LABELS[k]) for k in keys)], rows)),
    ]


def _receipt_text(d: dict[str, Any], _: Translator) -> str:
    rc = d.get("receipt") or {}
    if d["kind"] == "erase":
        key = _("yes") if rc.get("key_destroyed") else _("none held")
        return _(
            "key destroyed: %(key)s; %(conversations)s conversations, %(messages)s messages, "
            "%(uploads)s uploads deleted",
            key=key,
            conversations=rc.get("conversations", 0),
            messages=rc.get("messages", 0),
            uploads=rc.get("documents_deleted", 0),
        )
    return ", ".join(f"{k} {v}" for k, v in (rc.get("counts") or {}).items())


def _dsars(r: ReportData, _: Translator) -> list[Block]:
    if not r.dsars:
        return [("p", _("No data-subject requests in this period."))]
    kinds = {"export": _("export"), "erase": _("erasure")}
    rows = [
        [
            _.datetime(d["created_at"], "short"),
            kinds.get(d["kind"], d["kind"]),
            d["subject"][:12],
            str(d["handled_by"] or ""),
            _receipt_text(d, _),
        ]
        for d in r.dsars
    ]
    return [
        (
            "table",
            Table(
                [_("Date (UTC)"), _("Kind"), _("Pseudonym"), _("Handled by"), _("Result")],
                rows,
                (0.16, 0.12, 0.16, 0.14, 0.42),
            ),
        )
    ]


def _access(r: ReportData, _: Translator) -> list[Block]:
    if not r.access:
        return [("p", _("No staff member opened a student's conversation in this period."))]
    rows = [
        [
            _.datetime(a["ts"], "short"),
            str(a["actor"] or (a["actor_subject"] or "")[:12]),
            role_label(a["actor_role"], _),
            (a["student"] or "")[:12],
            a["reason"],
        ]
        for a in r.access
    ]
    return [
        (
            "p",
            _(
                "Every time a teacher, administrator or the DPO opened a student's conversation. A "
                "written reason is required and logged before the conversation is shown. Students "
                "are shown by pseudonym."
            ),
        ),
        (
            "table",
            Table(
                [_("Date (UTC)"), _("Who"), _("Role"), _("Student"), _("Reason")],
                rows,
                (0.16, 0.16, 0.14, 0.14, 0.40),
            ),
        ),
    ]


def _ai_act(r: ReportData, _: Translator) -> list[Block]:
    ai = r.ai_act
    days = ai["log_retention_days"]
    return [
        ("p", _("Transparency (Art. 50): %(where)s The notice reads:", where=_(ai["where_shown"]))),
        (
            "table",
            Table(
                [_("Language"), _("Notice")],
                [[k, v] for k, v in ai["transparency_notice"].items()],
                (0.15, 0.85),
            ),
        ),
        (
            "p",
            _(
                "Logs (Art. 26(6)): audit details are kept %(details)s days, audit events "
                "%(events)s days (minimum %(minimum)s).",
                details=days["audit_details"],
                events=days["audit_events"],
                minimum=days["minimum_required"],
            ),
        ),
        ("p", _("Human oversight (Art. 26(2)): %(text)s", text=_(ai["human_oversight"]))),
        ("p", _("Grounding: %(text)s", text=_(ai["grounding"]))),
    ]


def _integrity(r: ReportData, _: Translator) -> list[Block]:
    return [
        (
            "p",
            _(
                "manifest.json lists the SHA-256 of every file in this zip and the audit chain "
                "head (sequence number and hash) at the time of export. To check the log: "
                "recompute each event's hash as SHA-256(prev_hash + canonical JSON of seq, ts, "
                "subject, role, school_id, course_id, action, details_sha256) and compare; or run "
                "`kateder audit verify` on the server, which also checks the head against anchors "
                "kept outside the database."
            ),
        )
    ]


SECTIONS = (
    (N_("Summary"), _summary),
    (N_("1. Record of processing (GDPR Art. 30)"), _record),
    (N_("2. Event log"), _event_log),
    (N_("3. Moderation statistics"), _moderation),
    (N_("4. Guard evaluation"), _evaluation),
    (N_("5. Data-subject requests"), _dsars),
    (N_("6. Staff access to students' data"), _access),
    (N_("7. EU AI Act"), _ai_act),
    (N_("8. Integrity of this export"), _integrity),
)


def sections(r: ReportData, _: Translator) -> list[tuple[str, list[Block]]]:
    """The whole report, section by section, in ``tr``'s language."""
    return [(_(title), build(r, _)) for title, build in SECTIONS]
