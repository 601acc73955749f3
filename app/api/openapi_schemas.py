"""The data shapes of the JSON API: the ``components/schemas`` of its OpenAPI document.

app/api/openapi.py describes the routes and points at these shapes with :func:`ref`.
"""

from __future__ import annotations

from typing import Any

from app.params import MAX_ID

# every id is bounded (app/params.py), so the fuzzing's negative mode
# also sends 0, negatives and 2**63
ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}


def ref(name: str) -> dict[str, str]:
    """A pointer to the schema ``name`` of :data:`SCHEMAS`."""
    return {"$ref": f"#/components/schemas/{name}"}


SCHEMAS: dict[str, Any] = {
    # errors, sign-in, questions and answers
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
    },
    "TokenRequest": {
        "type": "object",
        "required": ["username", "password"],
        "properties": {
            "username": {"type": "string", "maxLength": 200},
            "password": {"type": "string", "maxLength": 1000},
        },
    },
    "Token": {
        "type": "object",
        "required": ["token", "token_type", "expires_in"],
        "properties": {
            "token": {"type": "string"},
            "token_type": {"type": "string", "enum": ["Bearer"]},
            "expires_in": {"type": "integer"},
        },
    },
    "AskRequest": {
        "type": "object",
        "required": ["question"],
        "properties": {
            "question": {
                "type": "string",
                "minLength": 1,
                "maxLength": 2000,
                "description": "The student's question.",
            },
            "conversation_id": {
                "type": ["integer", "null"],
                "minimum": 1,
                "maximum": MAX_ID,
                "description": "Continue an own conversation.",
            },
        },
    },
    "TokenInfo": {
        "type": "object",
        "required": ["id", "created_at", "expires_at", "last_used_at", "current"],
        "properties": {
            "id": {"type": "integer"},
            "created_at": {"type": "string"},
            "expires_at": {"type": ["string", "null"]},
            "last_used_at": {"type": ["string", "null"]},
            "current": {"type": "boolean", "description": "the token this request was made with"},
        },
    },
    "Verdict": {
        "type": "object",
        "required": ["safe", "categories", "score"],
        "properties": {
            "safe": {"type": "boolean"},
            "categories": {"type": "array", "items": {"type": "string"}},
            "score": {"type": "number"},
            "backend": {"type": "string"},
        },
    },
    "Citation": {
        "type": "object",
        "required": ["number", "passage_id", "document_id", "document", "version", "excerpt"],
        "properties": {
            "number": {"type": "integer"},
            "passage_id": {"type": "string"},
            "document_id": {"type": "integer"},
            "document": {"type": "string"},
            "version": {"type": "integer"},
            "page": {"type": ["integer", "null"]},
            "section": {"type": ["string", "null"]},
            "excerpt": {"type": "string"},
        },
    },
    "AskResult": {
        "type": "object",
        "required": [
            "answer",
            "blocked",
            "action",
            "mode",
            "language",
            "citations",
            "input_verdict",
            "audit_id",
            "conversation_id",
            "message_id",
        ],
        "properties": {
            "answer": {"type": "string"},
            "blocked": {"type": "boolean"},
            "action": {"type": "string"},
            "mode": {
                "type": "string",
                "enum": ["generated", "extractive", "not_covered", "refusal", "crisis"],
            },
            "language": {"type": "string"},
            "citations": {"type": "array", "items": ref("Citation")},
            "input_verdict": ref("Verdict"),
            "output_verdict": {"oneOf": [ref("Verdict"), {"type": "null"}]},
            "audit_id": {"type": "integer"},
            "conversation_id": {"type": "integer"},
            "message_id": {"type": "integer"},
            "model": {"type": "string"},
            "notices": {"type": "array", "items": {"type": "string"}},
            "timings_ms": {"type": "object", "additionalProperties": {"type": "number"}},
            "grounding": {
                "type": ["object", "null"],
                "description": (
                    "generated answers: sentences checked, removed as unsupported, re-cited"
                ),
                "additionalProperties": {"type": "integer"},
            },
        },
    },
    # material: ingestion jobs, documents, passages, uploads
    "Job": {
        "type": "object",
        "required": ["id", "status", "stage", "progress"],
        "properties": {
            "id": {"type": "integer"},
            "kind": {"type": "string"},
            "course_id": {"type": ["integer", "null"]},
            "document_id": {"type": ["integer", "null"]},
            "filename": {"type": ["string", "null"]},
            "status": {
                "type": "string",
                "description": "queued, running, cancelling, cancelled, done or failed",
            },
            "stage": {"type": "string"},
            "progress": {"type": "number", "description": "percent, 0 to 100"},
            "attempts": {"type": "integer"},
            "error": {"type": ["string", "null"]},
            "error_code": {"type": ["string", "null"]},
            "result": {"type": ["object", "null"]},
            "created_at": {"type": ["string", "null"]},
            "updated_at": {"type": ["string", "null"]},
        },
    },
    "Document": {
        "type": "object",
        "required": [
            "id",
            "title",
            "filename",
            "version",
            "status",
            "passages",
            "held",
            "visible",
        ],
        "properties": {
            "id": {"type": "integer"},
            "title": {"type": "string"},
            "filename": {"type": "string"},
            "mime_type": {"type": "string"},
            "version": {
                "type": "integer",
                "description": "the version students see (0: none yet)",
            },
            "status": {"type": "string"},
            "language": {"type": ["string", "null"]},
            "size_bytes": {"type": "integer"},
            "passages": {"type": "integer"},
            "held": {
                "type": "integer",
                "description": "passages held by the safety scan for review",
            },
            "visible": {"type": "boolean"},
            "updated_at": {"type": ["string", "null"]},
        },
    },
    "Passage": {
        "type": "object",
        "required": ["id", "document_id", "version", "ordinal", "text", "status"],
        "properties": {
            "id": {"type": "string"},
            "document_id": {"type": "integer"},
            "version": {"type": "integer"},
            "ordinal": {"type": "integer"},
            "text": {"type": "string"},
            "page": {"type": ["integer", "null"]},
            "section": {"type": ["string", "null"]},
            "char_start": {"type": "integer"},
            "char_end": {"type": "integer"},
            "language": {"type": ["string", "null"]},
            "status": {"type": "string"},
            "flag_reason": {"type": ["string", "null"]},
        },
    },
    "Upload": {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {
                "type": "string",
                "format": "binary",
                "description": "PDF, DOCX, PPTX, HTML, Markdown or text.",
            },
            "title": {"type": "string", "maxLength": 300},
        },
    },
}
