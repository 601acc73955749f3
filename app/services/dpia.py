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
8. ``report.html``, ``report.pdf`` all of the above as a readable report
9. ``manifest.json``              SHA-256 of every file and the audit chain head
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import zipfile
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from app.services.audit import event_to_dict, utc_iso, verify_chain
from app.services.retention import AI_ACT_MIN_DAYS, Retention
from core.models import AuditEvent, Course, School
from guard.taxonomy import CATEGORIES as HAZARDS

FORMAT_VERSION = 1
REPO_ROOT = Path(__file__).resolve().parents[2]

# The notice every student sees above the question box (app/templates/classroom/course.html).
AI_NOTICE = {
    "en": "This is an AI assistant. It answers only from your course material and can make mistakes. "
          "Check the numbered sources, and ask your teacher when you are unsure.",
    "sv": "Det här är en AI-assistent. Den svarar bara utifrån ditt kursmaterial och kan göra fel. "
          "Kontrollera de numrerade källorna och fråga din lärare när du är osäker.",
    "de": "Das ist ein KI-Assistent. Er antwortet nur aus deinem Kursmaterial und kann Fehler machen. "
          "Prüfe die nummerierten Quellen und frag deine Lehrkraft, wenn du unsicher bist.",
    "it": "Questo è un assistente di intelligenza artificiale. Risponde solo in base al materiale del corso e può sbagliare. "
          "Controlla le fonti numerate e chiedi al tuo insegnante quando hai dubbi.",
    "nb": "Dette er en KI-assistent. Den svarer bare ut fra kursmaterialet ditt og kan ta feil. "
          "Sjekk de nummererte kildene, og spør læreren din når du er usikker.",
}

PURPOSES = [
    "Answering students' questions about their course, only from the material their teacher uploaded, with citations.",
    "Keeping children safe: every question and answer is checked by a safety classifier; self-harm triggers help and a teacher alert.",
    "Accountability: a tamper-evident audit log of processing, safety decisions and staff access (GDPR Art. 5(2), 30, 32; EU AI Act Art. 26).",
]
DATA_SUBJECTS = ["Students (children, usually 6-19 years)", "Teachers", "School administrators and the data protection officer"]
DATA_CATEGORIES = [
    {"category": "Account data", "items": "username, optional display name, role, language, course enrolments",
     "source": "school administrator"},
    {"category": "LTI launch data (learning platform)", "items": "the platform's pseudonymous user id (LTI sub) and course (context) id, "
     "role; no name or e-mail unless the school's registration keeps names; a generated username",
     "source": "the school's learning platform (Moodle, Canvas, itslearning) via LTI 1.3"},
    {"category": "Questions and answers", "items": "text with personal identifiers (e-mail, phone, personal ID numbers) redacted, "
     "encrypted with a per-student key", "source": "the student"},
    {"category": "Safety verdicts", "items": "hazard categories (MLCommons S1-S14), score, action, model", "source": "the safety classifier"},
    {"category": "Audit metadata", "items": "UTC time, pseudonymous subject id (keyed HMAC), role, course, action, passage ids, "
     "model, latencies", "source": "the system"},
    {"category": "Staff access records", "items": "which staff member opened which student's conversation, and the written reason",
     "source": "teachers, administrators"},
    {"category": "Course material", "items": "documents uploaded by teachers (not personal data by design)", "source": "teachers"},
]
RECIPIENTS = [
    "Teachers of the course (alerts; a student's conversation only after giving a written reason, which is logged)",
    "School administrators and the data protection officer (audit log, access log, data-subject requests)",
    "No third parties: all models run on the school's own server; nothing is sent to a model provider",
]
SECURITY_MEASURES = [
    "Pseudonymisation: audit events name a keyed HMAC of the user id; the key is kept outside the database.",
    "LTI users are pseudonymous: an LTI launch creates an account known only by the platform's `sub` and the registration; "
    "names and e-mail addresses in the launch are discarded unless the school's registration is set to keep names.",
    "Encryption: question and answer text is encrypted with AES-256-GCM under a per-student key, itself wrapped "
    "by a master key kept outside the database; erasure destroys the key (crypto-shredding).",
    "Data minimisation: e-mail addresses, phone numbers and personal ID numbers are redacted before text is classified, "
    "sent to the model or stored; text is kept only as long as the retention table allows.",
    "Tamper evidence: audit events form a SHA-256 hash chain; `kateder audit verify` recomputes it; chain heads are "
    "anchored in a file outside the database.",
    "Access control: role-based access; staff must give a written reason before opening a student's conversation.",
    "Safety: a safety classifier checks every question and answer and fails closed (an error blocks the answer).",
    "Local processing: the language model, the embedding model and the classifier run on the school's server.",
]


def _guard_info(services) -> dict[str, Any]:
    """Name, version and licence of the safety classifier, without loading it."""
    c = services.config
    backend = str(getattr(services.guard, "name", "") or c.get("GUARD_BACKEND", ""))
    info = {"use": "safety classification of questions, answers and course material", "backend": backend}
    if "llamaguard" in backend:
        version = c.get("GUARD_MODEL") or Path(str(c.get("GUARD_MODEL_PATH") or "llama-guard-3")).name
        return info | {"name": "Llama Guard 3", "version": version, "licence": "Llama 3.1 Community License",
                       "attribution": "Built with Llama"}
    if backend in ("embedded", "chain"):
        card = REPO_ROOT / "guard" / "weights" / "guard-e5.json"
        meta = json.loads(card.read_text(encoding="utf-8")) if card.exists() else {}
        name = "Kateder guard (rules + fine-tuned multilingual-e5-small)" if backend == "chain" else "Kateder guard (fine-tuned multilingual-e5-small)"
        return info | {"name": name, "version": f"{meta.get('model', 'guard-e5')} on {meta.get('base', 'multilingual-e5-small')}",
                       "licence": "base model MIT (intfloat/multilingual-e5-small); classifier head Apache-2.0 (this project)"}
    if backend == "rules":
        return info | {"name": "Kateder rules (intent and hazard patterns)", "version": "built in", "licence": "Apache-2.0 (this project)"}
    return info | {"name": backend or type(services.guard).__name__, "version": "", "licence": "not recorded"}


def models_in_use(services) -> list[dict[str, Any]]:
    """Every model the school's data passes through, with version and licence."""
    gen = services.generator.info
    embedder = services.embedder
    return [
        {"use": "answer generation", "name": gen.name, "version": services.config.get("GENERATOR_MODEL") or
         Path(str(services.config.get("GENERATOR_MODEL_PATH") or gen.name)).name, "licence": gen.licence,
         "attribution": gen.attribution, "languages": list(gen.languages)},
        _guard_info(services),
        {"use": "search (embeddings of course material and questions)", "name": getattr(embedder, "name", type(embedder).__name__),
         "version": services.config.get("EMBEDDER", ""), "licence": getattr(embedder, "licence", "") or "Apache-2.0 / MIT (see model card)"},
    ]


def record_of_processing(services, school_name: str = "") -> dict[str, Any]:
    """The Art. 30 record of processing activities, from configuration."""
    c = services.config
    return {
        "controller": c.get("CONTROLLER_NAME") or school_name or "(set CONTROLLER_NAME)",
        "dpo_contact": c.get("DPO_CONTACT") or "(set DPO_CONTACT)",
        "processing": "Kateder, a safety-moderated course assistant",
        "purposes": PURPOSES,
        "legal_basis": c.get("LEGAL_BASIS", ""),
        "data_subjects": DATA_SUBJECTS,
        "data_categories": DATA_CATEGORIES,
        "special_categories": "Not sought. Students may volunteer health or other sensitive information in a question; "
                              "it is redacted where it is an identifier, encrypted, and deleted with the conversation text.",
        "recipients": RECIPIENTS,
        "international_transfers": "none",
        "hosting_location": c.get("HOSTING_LOCATION", ""),
        "database": services.db.url.split("://")[0].split("+")[0],
        "retention": Retention(services).table(),
        "models": models_in_use(services),
        "security_measures": SECURITY_MEASURES,
        "message_text_storage": c.get("MESSAGE_TEXT_STORAGE", "encrypted"),
    }


def moderation_statistics(events: list[AuditEvent], course_codes: dict[int, str]) -> dict[str, Any]:
    """Guard decisions per hazard category, course and ISO week, from the audit events."""
    by_category: Counter[str] = Counter()
    by_course: dict[str, Counter[str]] = defaultdict(Counter)
    by_week: dict[str, Counter[str]] = defaultdict(Counter)
    by_stage: dict[str, Counter[str]] = defaultdict(Counter)
    errors = 0
    details_purged = 0
    for ev in events:
        if ev.action not in ("question", "answer", "refusal"):
            continue
        week = "{}-W{:02d}".format(*ev.ts.isocalendar()[:2])
        course = course_codes.get(ev.course_id, str(ev.course_id)) if ev.course_id else "-"
        d = ev.details or {}
        if ev.details_purged_at is not None:
            details_purged += 1
        if ev.action == "question":
            action = d.get("action", "unknown")
            by_stage["question"][action] += 1
            by_course[course][action] += 1
            by_week[week][action] += 1
            verdicts = [d.get("input_verdict") or {}]
        else:
            mode = d.get("mode", ev.action)
            by_stage["answer"][mode] += 1
            verdicts = [d.get("output_verdict") or {}]
            if ev.action == "refusal" and d.get("output_verdict"):
                by_course[course]["answer withheld"] += 1
                by_week[week]["answer withheld"] += 1
        for v in verdicts:
            if v.get("error"):
                errors += 1
            if v and not v.get("safe", True):
                for code in v.get("categories") or ["unspecified"]:
                    by_category[code] += 1
    return {
        "by_category": {k: {"name": HAZARDS.get(k, k), "count": n} for k, n in sorted(by_category.items(), key=lambda kv: -kv[1])},
        "by_course": {k: dict(v) for k, v in sorted(by_course.items())},
        "by_week": {k: dict(v) for k, v in sorted(by_week.items())},
        "by_stage": {k: dict(v) for k, v in by_stage.items()},
        "guard_errors": errors,
        "events_with_purged_details": details_purged,
    }


def render_charts(stats: dict[str, Any]) -> dict[str, bytes]:
    """PNG charts of the moderation statistics (matplotlib, headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    charts: dict[str, bytes] = {}

    from matplotlib.ticker import MaxNLocator

    def save(fig, name: str) -> None:
        buf = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
        plt.close(fig)
        charts[name] = buf.getvalue()

    cats = stats["by_category"]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    if cats:
        labels = [f"{k} {v['name']}" for k, v in cats.items()]
        ax.barh(labels[::-1], [v["count"] for v in cats.values()][::-1], color="#b5473a")
        ax.set_xlabel("flagged questions and answers")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        ax.text(0.5, 0.5, "No question or answer was flagged in this period", ha="center", va="center")
        ax.set_axis_off()
    ax.set_title("Flagged content by hazard category")
    save(fig, "moderation_by_category.png")

    weeks = stats["by_week"]
    actions = sorted({a for v in weeks.values() for a in v}, key=lambda a: ["allow", "care", "block", "alert", "crisis"].index(a)
                     if a in ("allow", "care", "block", "alert", "crisis") else 9)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    if weeks:
        bottom = [0] * len(weeks)
        palette = {"allow": "#4c8c4a", "care": "#d9a300", "block": "#b5473a", "alert": "#7b2d8b", "crisis": "#1f3b73"}
        for a in actions:
            values = [weeks[w].get(a, 0) for w in weeks]
            ax.bar(list(weeks), values, bottom=bottom, label=a, color=palette.get(a, "#888888"))
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax.set_ylabel("questions")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    else:
        ax.text(0.5, 0.5, "No questions in this period", ha="center", va="center")
        ax.set_axis_off()
    ax.set_title("Guard decisions per week")
    save(fig, "moderation_by_week.png")

    courses = stats["by_course"]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    if courses:
        names = list(courses)
        asked = [sum(v.get(a, 0) for a in ("allow", "care", "block", "alert", "crisis")) for v in courses.values()]
        flagged = [sum(v.get(a, 0) for a in ("care", "block", "alert", "crisis")) for v in courses.values()]
        xs = range(len(names))
        ax.bar([x - 0.2 for x in xs], asked, width=0.4, label="questions", color="#4c6c9c")
        ax.bar([x + 0.2 for x in xs], flagged, width=0.4, label="flagged (care/block/alert/crisis)", color="#b5473a")
        ax.set_xticks(list(xs), names)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "No questions in this period", ha="center", va="center")
        ax.set_axis_off()
    ax.set_title("Questions and flagged questions per course")
    save(fig, "moderation_by_course.png")
    return charts


def guard_evaluation(services) -> dict[str, Any]:
    """The latest guard evaluation: a saved ``kateder guard eval --json`` report, else the shipped model card."""
    home = Path(services.config["HOME"])
    candidates = []
    explicit = services.config.get("GUARD_EVAL_REPORT")
    if explicit:
        candidates.append(Path(explicit))
    candidates += sorted((home / "reports").glob("guard-eval*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in candidates:
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        rows = [{"group": "all", **{k: report.get(k) for k in ("n", "precision", "recall", "f1", "fpr")}}]
        rows += [{"group": f"language {k}", **{m: v.get(m) for m in ("n", "precision", "recall", "f1", "fpr")}}
                 for k, v in (report.get("by_language") or {}).items()]
        return {"available": True, "source": str(path), "backend": report.get("backend"), "rows": rows,
                "latency_ms": report.get("latency_ms"), "evaluated_at": datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat()}
    card = REPO_ROOT / "guard" / "weights" / "guard-e5.json"
    if card.exists():
        try:
            data = json.loads(card.read_text(encoding="utf-8"))
        except ValueError:
            data = {}
        summary = data.get("dev_summary") or {}
        if summary:
            rows = [{"group": f"language {k}", "n": v.get("n"), "precision": v.get("precision"), "recall": v.get("recall"),
                     "f1": v.get("f1"), "fpr": v.get("fpr")} for k, v in sorted(summary.items())]
            return {"available": True, "source": "guard/weights/guard-e5.json (development split at training time)",
                    "backend": "embedded", "model": data.get("base"), "rows": rows, "threshold": data.get("threshold"),
                    "evaluated_at": datetime.fromtimestamp(card.stat().st_mtime, UTC).isoformat()}
    return {"available": False, "rows": [],
            "note": "No guard evaluation has been run on this server. Run `kateder guard eval --data FILE --json > "
                    "<HOME>/reports/guard-eval.json` to include one."}


def ai_act_section(services, retention: dict[str, int]) -> dict[str, Any]:
    """What the EU AI Act asks of a deployer here: transparency to students, logs, human oversight."""
    return {
        "transparency_notice": AI_NOTICE,
        "where_shown": "Above the question box on every course page, in the student's language, before the first question.",
        "log_retention_days": {"audit_details": retention["audit_details"], "audit_events": retention["audit_events"],
                               "minimum_required": AI_ACT_MIN_DAYS},
        "log_retention_note": "Automatically generated logs are kept at least six months (Art. 26(6)); "
                              "the retention settings refuse shorter periods.",
        "human_oversight": "Teachers choose the material and the moderation policy per course, receive alerts for "
                           "serious categories (e.g. self-harm, violence), and review held passages and flagged answers.",
        "model": services.generator.info.name,
        "grounding": "Answers are generated only from the course's own material and cite their sources; "
                     "questions the material does not cover are declined.",
    }


def _period_events(s, since: datetime, until: datetime) -> list[AuditEvent]:
    return list(s.scalars(select(AuditEvent).where(AuditEvent.ts >= since, AuditEvent.ts < until).order_by(AuditEvent.seq)))


def build_export(services, since: datetime, until: datetime, out: str | Path, *, requested_by: str = "cli", actor=None) -> dict[str, Any]:
    """Write the DPIA-ready audit export for ``[since, until)`` to ``out`` (a .zip); returns a summary with its path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with services.db.session() as s:
        services.audit.record(s, "audit_export", user=actor, details={"from": since.isoformat(), "to": until.isoformat(),
                                                                      "requested_by": requested_by})
    with services.db.session() as s:
        verification = verify_chain(s, services.audit.anchors())
        events = _period_events(s, since, until)
        courses = {c.id: c.code for c in s.scalars(select(Course))}
        school = s.scalars(select(School).order_by(School.id)).first()
        counts = dict(s.execute(select(AuditEvent.action, func.count()).where(AuditEvent.ts >= since, AuditEvent.ts < until)
                                .group_by(AuditEvent.action)).all())
        event_lines = [json.dumps(event_to_dict(ev), ensure_ascii=False, sort_keys=True) for ev in events]
        stats = moderation_statistics(events, courses)
        retention = Retention(services).settings(s)
        if verification["ok"]:
            services.audit.anchor(s)
    rop = record_of_processing(services, school.name if school else "")
    access = services.gdpr.access_log(since=since, until=until, limit=100000)
    dsars = services.gdpr.dsar_requests(since=since, until=until)
    evaluation = guard_evaluation(services)
    ai_act = ai_act_section(services, retention)
    charts = render_charts(stats)
    meta = {"generated_at": datetime.now(UTC).isoformat(), "from": utc_iso(since), "to": utc_iso(until),
            "requested_by": requested_by, "events": len(events), "counts": counts, "chain": verification}
    files: dict[str, bytes] = {
        "record_of_processing.json": _json(rop),
        "events.jsonl": ("\n".join(event_lines) + ("\n" if event_lines else "")).encode(),
        "moderation_statistics.json": _json(stats),
        "guard_evaluation.json": _json(evaluation),
        "dsar_requests.json": _json(dsars),
        "access_log.json": _json(access),
        "ai_act.json": _json(ai_act),
    }
    for name, png in charts.items():
        files[f"charts/{name}"] = png
    report = {"meta": meta, "rop": rop, "stats": stats, "evaluation": evaluation, "dsars": dsars, "access": access, "ai_act": ai_act}
    files["report.html"] = render_report_html(report, charts).encode()
    files["report.pdf"] = render_report_pdf(report, charts)
    manifest = {
        "format": "kateder-audit-export", "version": FORMAT_VERSION, **{k: meta[k] for k in ("generated_at", "from", "to", "events")},
        "chain_head": {"seq": verification.get("head_seq"), "hash": verification.get("head"), "verified": verification["ok"],
                       "problem": verification.get("problem")},
        "files": {name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)} for name, data in sorted(files.items())},
    }
    files["manifest.json"] = _json(manifest)
    tmp = out.with_suffix(out.suffix + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    tmp.replace(out)
    return {"path": str(out), "events": len(events), "chain_ok": verification["ok"], "chain_head": verification.get("head") or "",
            "files": sorted(files), "sha256": hashlib.sha256(out.read_bytes()).hexdigest()}


def _json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=2, default=str).encode()


# -- the readable report ---------------------------------------------------------------
def _sections(r: dict[str, Any]) -> list[tuple[str, list[tuple[str, Any]]]]:
    """The report as (heading, blocks); a block is ("p", text), ("list", [..]), ("table", (header, rows)) or ("img", name)."""
    meta, rop, stats, ev, ai = r["meta"], r["rop"], r["stats"], r["evaluation"], r["ai_act"]
    chain = meta["chain"]
    c = meta["counts"]
    chain_text = (f"Intact: {chain['count']} events verified, head event {chain.get('head_seq')}, hash {chain.get('head')}."
                  if chain["ok"] else f"BROKEN at event {chain['first_bad_seq']}: {chain['problem']}. Investigate before relying on this log.")
    summary_rows = [[k, str(c.get(k, 0))] for k in ("question", "answer", "refusal", "answer_failed", "upload", "login",
                                                    "admin_view", "dsar_export", "erasure", "audit_export", "retention_purge")]
    out: list[tuple[str, list[tuple[str, Any]]]] = [
        ("Summary", [
            ("p", f"Controller: {rop['controller']}. Data protection officer: {rop['dpo_contact']}."),
            ("p", f"Period: {meta['from'][:10]} to {meta['to'][:10]} (UTC, end exclusive). Generated {meta['generated_at'][:19]} UTC "
                  f"by {meta['requested_by']}. {meta['events']} audit events in the period."),
            ("p", f"Audit chain: {chain_text}"),
            ("table", (["Event", "Count in period"], summary_rows)),
        ]),
        ("1. Record of processing (GDPR Art. 30)", [
            ("table", (["Item", "Entry"], [
                ["Processing", rop["processing"]], ["Legal basis", rop["legal_basis"]],
                ["Hosting location", rop["hosting_location"]], ["International transfers", rop["international_transfers"]],
                ["Message text storage", rop["message_text_storage"]], ["Special categories", rop["special_categories"]],
            ])),
            ("p", "Purposes:"), ("list", rop["purposes"]),
            ("p", "Data subjects:"), ("list", rop["data_subjects"]),
            ("table", (["Data category", "What", "Source"], [[d["category"], d["items"], d["source"]] for d in rop["data_categories"]])),
            ("p", "Recipients:"), ("list", rop["recipients"]),
            ("p", "Retention (days; the purge runs daily):"),
            ("table", (["Category", "What", "Days", "Minimum"], [[x["category"], x["description"], str(x["days"]), str(x["minimum_days"])]
                                                                 for x in rop["retention"]])),
            ("p", "Models (all run locally):"),
            ("table", (["Use", "Model", "Version", "Licence"], [[m["use"], str(m["name"]), str(m.get("version") or ""), str(m.get("licence") or "")]
                                                               for m in rop["models"]])),
            ("p", "Technical and organisational security measures (Art. 32):"), ("list", rop["security_measures"]),
        ]),
        ("2. Event log", [
            ("p", "events.jsonl holds every audit event of the period, one JSON object per line: UTC time, pseudonymous subject "
                  "(keyed HMAC; the key is not in the export), role, school, course, action, details (guard verdicts, retrieved "
                  "passage ids with document versions, model, latencies) and the chain hashes. No question or answer text is in it. "
                  "Details older than the audit-details retention are replaced by their SHA-256."),
        ]),
        ("3. Moderation statistics", [
            ("table", (["Hazard category", "Flagged"], [[f"{k} {v['name']}", str(v["count"])] for k, v in stats["by_category"].items()]
                       or [["none", "0"]])),
            ("img", "moderation_by_category.png"),
            ("table", (["Course", "Decisions"], [[k, ", ".join(f"{a} {n}" for a, n in v.items())] for k, v in stats["by_course"].items()]
                       or [["none", ""]])),
            ("img", "moderation_by_course.png"),
            ("table", (["Week", "Decisions"], [[k, ", ".join(f"{a} {n}" for a, n in v.items())] for k, v in stats["by_week"].items()]
                       or [["none", ""]])),
            ("img", "moderation_by_week.png"),
            ("p", f"Guard errors (each blocked the message: fail closed): {stats['guard_errors']}."),
        ]),
        ("4. Guard evaluation", (
            [("p", f"Source: {ev['source']}. Evaluated {str(ev.get('evaluated_at', ''))[:10]}. Backend: {ev.get('backend')}."),
             ("table", _metric_table(ev["rows"]))]
            if ev["available"] else [("p", ev["note"])]
        )),
        ("5. Data-subject requests", (
            [("table", (["Date (UTC)", "Kind", "Pseudonym", "Handled by", "Result"],
                        [[d["created_at"][:19].replace("T", " "), d["kind"], d["subject"][:12], str(d["handled_by"] or ""),
                          _receipt_text(d)] for d in r["dsars"]]))]
            if r["dsars"] else [("p", "No data-subject requests in this period.")]
        )),
        ("6. Staff access to students' data", (
            [("p", "Every time a teacher, administrator or the DPO opened a student's conversation. A written reason is "
                   "required and logged before the conversation is shown. Students are shown by pseudonym."),
             ("table", (["Date (UTC)", "Who", "Role", "Student", "Reason"],
                        [[a["ts"][:19].replace("T", " "), str(a["actor"] or a["actor_subject"][:12]), a["actor_role"], a["student"][:12],
                          a["reason"]] for a in r["access"]]))]
            if r["access"] else [("p", "No staff member opened a student's conversation in this period.")]
        )),
        ("7. EU AI Act", [
            ("p", f"Transparency (Art. 50): {ai['where_shown']} The notice reads:"),
            ("table", (["Language", "Notice"], [[k, v] for k, v in ai["transparency_notice"].items()])),
            ("p", f"Logs (Art. 26(6)): audit details are kept {ai['log_retention_days']['audit_details']} days, audit events "
                  f"{ai['log_retention_days']['audit_events']} days (minimum {ai['log_retention_days']['minimum_required']})."),
            ("p", f"Human oversight (Art. 26(2)): {ai['human_oversight']}"),
            ("p", f"Grounding: {ai['grounding']}"),
        ]),
        ("8. Integrity of this export", [
            ("p", "manifest.json lists the SHA-256 of every file in this zip and the audit chain head (sequence number and hash) "
                  "at the time of export. To check the log: recompute each event's hash as SHA-256(prev_hash + canonical JSON of "
                  "seq, ts, subject, role, school_id, course_id, action, details_sha256) and compare; or run `kateder audit verify` "
                  "on the server, which also checks the head against anchors kept outside the database."),
        ]),
    ]
    return out


def _metric_table(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Guard metrics as a table, leaving out metrics no row has."""
    names = {"n": "n", "precision": "Precision", "recall": "Recall (unsafe caught)", "f1": "F1", "fpr": "False-positive rate"}
    keys = [k for k in names if any(x.get(k) is not None for x in rows)]
    return ["Group", *(names[k] for k in keys)], [[str(x["group"]), *("" if x.get(k) is None else str(x[k]) for k in keys)] for x in rows]


def _receipt_text(d: dict[str, Any]) -> str:
    rc = d.get("receipt") or {}
    if d["kind"] == "erase":
        return (f"key destroyed: {'yes' if rc.get('key_destroyed') else 'none held'}; {rc.get('conversations', 0)} conversations, "
                f"{rc.get('messages', 0)} messages, {rc.get('documents_deleted', 0)} uploads deleted")
    counts = rc.get("counts") or {}
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def render_report_html(r: dict[str, Any], charts: dict[str, bytes]) -> str:
    """The report as one self-contained HTML page (charts embedded)."""
    import base64

    e = html.escape
    meta = r["meta"]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Kateder audit export</title><style>"
        "body{font-family:sans-serif;max-width:60rem;margin:2rem auto;line-height:1.45;color:#222}"
        "table{border-collapse:collapse;width:100%;margin:.6rem 0}td,th{border:1px solid #bbb;padding:.3rem .5rem;text-align:left;vertical-align:top;font-size:.92em}"
        "th{background:#eef1f5}h1{margin-bottom:.2rem}h2{border-bottom:2px solid #334;padding-bottom:.2rem;margin-top:2rem}img{max-width:100%}"
        ".broken{color:#a00;font-weight:bold}</style></head><body>",
        f"<h1>Kateder: audit export and DPIA support</h1><p>{e(r['rop']['controller'])} · {e(meta['from'][:10])} – {e(meta['to'][:10])}</p>",
    ]
    for heading, blocks in _sections(r):
        parts.append(f"<h2>{e(heading)}</h2>")
        for kind, value in blocks:
            if kind == "p":
                cls = " class='broken'" if "BROKEN" in value else ""
                parts.append(f"<p{cls}>{e(value)}</p>")
            elif kind == "list":
                parts.append("<ul>" + "".join(f"<li>{e(x)}</li>" for x in value) + "</ul>")
            elif kind == "table":
                header, rows = value
                parts.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>"
                             + "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in rows) + "</table>")
            elif kind == "img" and value in charts:
                parts.append(f"<img alt='{e(value)}' src='data:image/png;base64,{base64.b64encode(charts[value]).decode()}'>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _pdf_fonts() -> tuple[str, str]:
    """DejaVu Sans when installed (covers every school language), else Helvetica."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    base = Path("/usr/share/fonts/truetype/dejavu")
    regular, bold = base / "DejaVuSans.ttf", base / "DejaVuSans-Bold.ttf"
    if regular.exists() and bold.exists():
        try:
            pdfmetrics.registerFont(TTFont("KatederSans", str(regular)))
            pdfmetrics.registerFont(TTFont("KatederSans-Bold", str(bold)))
            return "KatederSans", "KatederSans-Bold"
        except Exception:  # noqa: BLE001 - a broken font file: fall back to the built-in font
            pass
    return "Helvetica", "Helvetica-Bold"


def render_report_pdf(r: dict[str, Any], charts: dict[str, bytes]) -> bytes:
    """The report as a PDF (reportlab), A4, with page numbers."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import cm
    from reportlab.platypus import (
        Image,
        ListFlowable,
        ListItem,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    regular, bold = _pdf_fonts()
    styles = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=styles["BodyText"], fontName=regular, fontSize=9.5, leading=12.5)
    cell = ParagraphStyle("cell", parent=body, fontSize=8, leading=10)
    head = ParagraphStyle("head", parent=body, fontName=bold, fontSize=8, leading=10)
    h1 = ParagraphStyle("h1", parent=styles["Title"], fontName=bold, fontSize=17, leading=21)
    h2 = ParagraphStyle("h2", parent=styles["Heading2"], fontName=bold, fontSize=12.5, leading=16, spaceBefore=10,
                        textColor=colors.HexColor("#223355"), keepWithNext=1)
    warn = ParagraphStyle("warn", parent=body, textColor=colors.HexColor("#aa0000"), fontName=bold)
    e = html.escape
    meta = r["meta"]
    width = A4[0] - 4 * cm
    story: list[Any] = [
        Paragraph("Kateder: audit export and DPIA support", h1),
        Paragraph(e(f"{r['rop']['controller']} · {meta['from'][:10]} to {meta['to'][:10]} (UTC)"), body),
        Spacer(1, 6),
    ]
    for heading, blocks in _sections(r):
        story.append(Paragraph(e(heading), h2))
        for kind, value in blocks:
            if kind == "p":
                story.append(Paragraph(e(value), warn if "BROKEN" in value else body))
                story.append(Spacer(1, 3))
            elif kind == "list":
                story.append(ListFlowable([ListItem(Paragraph(e(x), body), leftIndent=10) for x in value], bulletType="bullet",
                                          start="•", leftIndent=10))
            elif kind == "table":
                header, rows = value
                data = [[Paragraph(e(h), head) for h in header]] + [[Paragraph(e(str(c)), cell) for c in row] for row in rows]
                n = len(header)
                if n == 2:
                    widths = [width * 0.3, width * 0.7]
                elif n == 4 and header[0] != "Group":
                    widths = [width * 0.2, width * 0.4, width * 0.2, width * 0.2]
                elif n == 5 and header[-1] in ("Reason", "Result"):
                    widths = [width * 0.14, width * 0.14, width * 0.14, width * 0.14, width * 0.44]
                else:
                    widths = [width / n] * n
                    if header[-1] in ("Reason", "Result", "Notice", "Source"):
                        widths = [width * 0.5 / (n - 1)] * (n - 1) + [width * 0.5]
                table = Table(data, colWidths=widths, repeatRows=1)
                table.setStyle(TableStyle([
                    ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e6eaf0")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]))
                story += [table, Spacer(1, 5)]
            elif kind == "img" and value in charts:
                story += [Image(io.BytesIO(charts[value]), width=width * 0.85, height=width * 0.85 * 3.2 / 7), Spacer(1, 4)]

    def footer(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont(regular, 7.5)
        canvas.drawString(2 * cm, 1.2 * cm, f"Kateder audit export · generated {meta['generated_at'][:19]} UTC · chain head "
                                             f"{(meta['chain'].get('head') or 'n/a')[:16]}")
        canvas.drawRightString(A4[0] - 2 * cm, 1.2 * cm, f"page {doc.page}")
        canvas.restoreState()

    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=2 * cm, rightMargin=2 * cm, topMargin=1.8 * cm, bottomMargin=2 * cm,
                            title="Kateder audit export", author="Kateder", subject="DPIA support pack")
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buf.getvalue()
