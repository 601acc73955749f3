"""The parts of the export built from configuration: record of processing, guard evaluation, EU AI
Act.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.services.dpia import texts
from app.services.i18n import N_, Translator
from app.services.model_inventory import card_dict, models_in_use
from app.services.retention import AI_ACT_MIN_DAYS, Retention

REPO_ROOT = Path(__file__).resolve().parents[3]
MODEL_USES = {
    "answers": N_("answer generation"),
    "safety": N_("safety classification of questions, answers and course material"),
    "search": N_("search (embeddings of course material and questions)"),
}
METRICS = ("n", "precision", "recall", "f1", "fpr")


def dpo_contact(services, school=None) -> str:
    """The school's DPO contact as set in the DPO panel, else the ``DPO_CONTACT`` setting (may be
    empty).
    """
    return (
        getattr(school, "dpo_contact", None) or services.config.get("DPO_CONTACT") or ""
    ).strip()


def model_records(services) -> list[dict[str, Any]]:
    """Every model the school's data passes through, with version and licence (JSON form)."""
    out = []
    for m in models_in_use(services):
        entry = {"use": MODEL_USES[m.use], **card_dict(m.card)}
        if m.languages:
            entry["languages"] = list(m.languages)
        out.append(entry)
    return out


def record_of_processing(services, school=None) -> dict[str, Any]:
    """The Art. 30 record of processing activities, from configuration and the school's own
    settings.
    """
    c = services.config
    return {
        "controller": c.get("CONTROLLER_NAME")
        or (school.name if school is not None else "")
        or "(set CONTROLLER_NAME)",
        "dpo_contact": dpo_contact(services, school),
        "processing": texts.PROCESSING,
        "purposes": texts.PURPOSES,
        "legal_basis": c.get("LEGAL_BASIS", ""),
        "data_subjects": texts.DATA_SUBJECTS,
        "data_categories": texts.DATA_CATEGORIES,
        "special_categories": texts.SPECIAL_CATEGORIES,
        "recipients": texts.RECIPIENTS,
        "international_transfers": texts.INTERNATIONAL_TRANSFERS,
        "hosting_location": c.get("HOSTING_LOCATION", ""),
        "database": services.db.url.split("://")[0].split("+")[0],
        "retention": Retention(services).table(),
        "models": model_records(services),
        "security_measures": texts.SECURITY_MEASURES,
        "message_text_storage": c.get("MESSAGE_TEXT_STORAGE", "encrypted"),
    }


def _saved_report(path: Path) -> dict[str, Any] | None:
    """A saved ``kateder guard eval --json`` report as evaluation rows, or None when unreadable."""
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    rows = [{"group": "all", **{k: report.get(k) for k in METRICS}}]
    rows += [
        {"group": f"language {k}", **{m: v.get(m) for m in METRICS}}
        for k, v in (report.get("by_language") or {}).items()
    ]
    return {
        "available": True,
        "source": str(path),
        "backend": report.get("backend"),
        "rows": rows,
        "latency_ms": report.get("latency_ms"),
        "evaluated_at": datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(),
    }


def _model_card_summary(card: Path) -> dict[str, Any] | None:
    """The development-split figures of the shipped guard weights, or None."""
    try:
        data = json.loads(card.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    summary = data.get("dev_summary") or {}
    if not summary:
        return None
    rows = [
        {"group": f"language {k}", **{m: v.get(m) for m in METRICS}}
        for k, v in sorted(summary.items())
    ]
    return {
        "available": True,
        "source": "guard/weights/guard-e5.json (development split at training time)",
        "backend": "embedded",
        "model": data.get("base"),
        "rows": rows,
        "threshold": data.get("threshold"),
        "evaluated_at": datetime.fromtimestamp(card.stat().st_mtime, UTC).isoformat(),
    }


def guard_evaluation(services) -> dict[str, Any]:
    """The latest guard evaluation: a saved ``kateder guard eval --json`` report, else the shipped
    model card.
    """
    home = Path(services.config["HOME"])
    candidates = (
        [Path(services.config["GUARD_EVAL_REPORT"])]
        if services.config.get("GUARD_EVAL_REPORT")
        else []
    )
    candidates += sorted(
        (home / "reports").glob("guard-eval*.json"), key=lambda p: p.stat().st_mtime, reverse=True
    )
    for path in candidates:
        found = _saved_report(path)
        if found:
            return found
    return _model_card_summary(REPO_ROOT / "guard" / "weights" / "guard-e5.json") or {
        "available": False,
        "rows": [],
        "note": texts.NO_EVALUATION,
    }


def ai_notice() -> dict[str, str]:
    """The AI notice every student sees above the question box, in each language (the classroom's
    own strings).
    """
    return {
        lang: " ".join(Translator(lang)(part) for part in texts.AI_NOTICE_PARTS)
        for lang in ("en", "sv", "de", "it", "nb")
    }


def ai_act_section(services, retention: dict[str, int]) -> dict[str, Any]:
    """What the EU AI Act asks of a deployer here: transparency to students, logs, human
    oversight.
    """
    return {
        "transparency_notice": ai_notice(),
        "where_shown": texts.WHERE_SHOWN,
        "log_retention_days": {
            "audit_details": retention["audit_details"],
            "audit_events": retention["audit_events"],
            "minimum_required": AI_ACT_MIN_DAYS,
        },
        "log_retention_note": texts.LOG_RETENTION_NOTE,
        "human_oversight": texts.HUMAN_OVERSIGHT,
        "model": services.generator.info.name,
        "grounding": texts.GROUNDING,
    }
