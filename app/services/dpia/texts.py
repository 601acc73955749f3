"""The fixed texts of the record of processing, marked for translation (English is the msgid).

``record_of_processing.json`` keeps them in English (a stable record for tools); the
report translates each one into the school's language where it is written
(:mod:`app.services.dpia.sections`).
"""

from __future__ import annotations

from app.services.i18n import N_

PROCESSING = N_("Kateder, a safety-moderated course assistant")
PURPOSES = [
    N_(
        "Answering students' questions about their course, only from the material their teacher "
        "uploaded, with citations."
    ),
    N_(
        "Keeping children safe: every question and answer is checked by a safety classifier; "
        "self-harm triggers help and a teacher alert."
    ),
    N_(
        "Accountability: a tamper-evident audit log of processing, safety decisions and staff "
        "access (GDPR Art. 5(2), 30, 32; EU AI Act Art. 26)."
    ),
]
DATA_SUBJECTS = [
    N_("Students (children, usually 6-19 years)"),
    N_("Teachers"),
    N_("School administrators and the data protection officer"),
]
DATA_CATEGORIES = [
    {
        "category": N_("Account data"),
        "items": N_("username, optional display name, role, language, course enrolments"),
        "source": N_("school administrator"),
    },
    {
        "category": N_("LTI launch data (learning platform)"),
        "items": N_(
            "the platform's pseudonymous user id (LTI sub) and course (context) id, role; no name "
            "or e-mail unless the school's registration keeps names; a generated username"
        ),
        "source": N_("the school's learning platform (Moodle, Canvas, itslearning) via LTI 1.3"),
    },
    {
        "category": N_("Questions and answers"),
        "items": N_(
            "text with personal identifiers (e-mail, phone, personal ID numbers) redacted, "
            "encrypted with a per-student key"
        ),
        "source": N_("the student"),
    },
    {
        "category": N_("Safety verdicts"),
        "items": N_("hazard categories (MLCommons S1-S14), score, action, model"),
        "source": N_("the safety classifier"),
    },
    {
        "category": N_("Audit metadata"),
        "items": N_(
            "UTC time, pseudonymous subject id (keyed HMAC), role, course, action, passage ids, "
            "model, latencies"
        ),
        "source": N_("the system"),
    },
    {
        "category": N_("Staff access records"),
        "items": N_(
            "which staff member opened which student's conversation, and the written reason"
        ),
        "source": N_("teachers, administrators"),
    },
    {
        "category": N_("Course material"),
        "items": N_("documents uploaded by teachers (not personal data by design)"),
        "source": N_("teachers"),
    },
]
SPECIAL_CATEGORIES = N_(
    "Not sought. Students may volunteer health or other sensitive information in a question; "
    "it is redacted where it is an identifier, encrypted, and deleted with the conversation text."
)
RECIPIENTS = [
    N_(
        "Teachers of the course (alerts; a student's conversation only after giving a written "
        "reason, which is logged)"
    ),
    N_(
        "School administrators and the data protection officer (audit log, access log, "
        "data-subject requests)"
    ),
    N_(
        "No third parties: all models run on the school's own server; nothing is sent to a model "
        "provider"
    ),
]
SECURITY_MEASURES = [
    N_(
        "Pseudonymisation: audit events name a keyed HMAC of the user id; the key is kept outside "
        "the database."
    ),
    N_(
        "LTI users are pseudonymous: an LTI launch creates an account known only by the platform's "
        "`sub` and the registration; names and e-mail addresses in the launch are discarded unless "
        "the school's registration is set to keep names."
    ),
    N_(
        "Encryption: question and answer text is encrypted with AES-256-GCM under a per-student "
        "key, itself wrapped by a master key kept outside the database; erasure destroys the key "
        "(crypto-shredding)."
    ),
    N_(
        "Data minimisation: e-mail addresses, phone numbers and personal ID numbers are redacted "
        "before text is classified, sent to the model or stored; text is kept only as long as the "
        "retention table allows."
    ),
    N_(
        "Tamper evidence: audit events form a SHA-256 hash chain; `kateder audit verify` "
        "recomputes it; chain heads are anchored in a file outside the database."
    ),
    N_(
        "Access control: role-based access; staff must give a written reason before opening a "
        "student's conversation."
    ),
    N_(
        "Safety: a safety classifier checks every question and answer and fails closed (an error "
        "blocks the answer)."
    ),
    N_(
        "Local processing: the language model, the embedding model and the classifier run on the "
        "school's server."
    ),
]
INTERNATIONAL_TRANSFERS = N_("none")

# the EU AI Act section (ai_act.json); the notice itself comes from the classroom's own strings
AI_NOTICE_PARTS = (
    N_("This is an AI assistant."),
    N_(
        "It answers only from your course material and can make mistakes. Check the numbered "
        "sources, and ask your teacher when you are unsure."
    ),
)
WHERE_SHOWN = N_(
    "Above the question box on every course page, in the student's language, before the first "
    "question."
)
LOG_RETENTION_NOTE = N_(
    "Automatically generated logs are kept at least six months (Art. 26(6)); the retention "
    "settings refuse shorter periods."
)
HUMAN_OVERSIGHT = N_(
    "Teachers choose the material and the moderation policy per course, receive alerts for serious "
    "categories (e.g. self-harm, violence), and review held passages and flagged answers."
)
GROUNDING = N_(
    "Answers are generated only from the course's own material and cite their sources; questions "
    "the material does not cover are declined."
)
NO_EVALUATION = N_(
    "No guard evaluation has been run on this server. Run `kateder guard eval --data FILE --json > "
    "<HOME>/reports/guard-eval.json` to include one."
)
# the defaults of HOSTING_LOCATION and LEGAL_BASIS (app/config.py): translated in the report when
# unchanged
DEFAULT_HOSTING = N_("on the school's own server (no data leaves it)")
DEFAULT_LEGAL_BASIS = N_("GDPR Art. 6(1)(e): task carried out in the public interest (education)")
