"""The OpenAPI 3.1 description of the JSON API, served at ``GET /api/openapi.json``.

Every ``/api/...`` route of the app is described here; ``tests/integration/test_openapi.py``
fails when a route is missing, and the fuzz tests (schemathesis) read this document. The data
shapes the routes take and return (``components/schemas``) are in app/api/openapi_schemas.py.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from app.api.openapi_schemas import ID, SCHEMAS, ref

bp = Blueprint("openapi", __name__, url_prefix="/api")

VERSION = "1.0.0"


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_BAD = _error("The request is malformed; ``message`` says what to fix.")
_AUTH = _error("No valid bearer token.")
_FORBIDDEN = _error("The user may not do this (not enrolled, wrong role).")
_NOT_FOUND = _error("No such course, conversation, document or job visible to this user.")
_LIMIT = _error("Today's question limit (set by the teacher) or a rate limit is used up.")
_DOWN = _error(
    "A component (inference server, vector store, database, storage) is down or too slow; "
    "try again."
)
_TOO_LARGE = _error("The body or the upload is larger than the limit.")

_COURSE_CODE = {
    "name": "code",
    "in": "path",
    "required": True,
    "description": "The course code, e.g. SCI7.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 64},
}

_DOCUMENT_ID = {"name": "document_id", "in": "path", "required": True, "schema": ID}
_UNSUPPORTED = _error("The file type is not supported or does not match its content.")
_TEACHER = "Teachers of the course only."

PATHS: dict[str, Any] = {
    "/api/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "This OpenAPI description.",
            "security": [],
            "responses": {"200": _json({"type": "object"})},
        }
    },
    "/api/v1/tokens": {
        "post": {
            "operationId": "createToken",
            "summary": "Exchange a username and password for a bearer token.",
            "security": [],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ref("TokenRequest")}},
            },
            "responses": {
                "200": _json(ref("Token")),
                "400": _BAD,
                "401": _AUTH,
                "413": _TOO_LARGE,
                "429": _LIMIT,
                "503": _DOWN,
            },
        },
        "get": {
            "operationId": "listTokens",
            "summary": (
                "The caller's own unexpired tokens (the secrets are not stored, so never shown)."
            ),
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["tokens"],
                        "properties": {"tokens": {"type": "array", "items": ref("TokenInfo")}},
                    }
                ),
                "401": _AUTH,
                "503": _DOWN,
            },
        },
    },
    "/api/v1/tokens/current": {
        "delete": {
            "operationId": "revokeCurrentToken",
            "summary": "Revoke the token this request is made with (sign out of the API).",
            "responses": {
                "204": {"description": "Revoked."},
                "400": _BAD,
                "401": _AUTH,
                "503": _DOWN,
            },
        }
    },
    "/api/v1/tokens/{token_id}": {
        "delete": {
            "operationId": "revokeToken",
            "summary": "Revoke one of the caller's own tokens.",
            "parameters": [{"name": "token_id", "in": "path", "required": True, "schema": ID}],
            "responses": {
                "204": {"description": "Revoked."},
                "401": _AUTH,
                "404": _NOT_FOUND,
                "503": _DOWN,
            },
        }
    },
    "/api/v1/courses/{code}/ask": {
        "post": {
            "operationId": "ask",
            "summary": (
                "Ask a question in a course; the answer is grounded in the course material, "
                "with citations."
            ),
            "parameters": [_COURSE_CODE],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ref("AskRequest")}},
            },
            "responses": {
                "200": _json(ref("AskResult")),
                "400": _BAD,
                "401": _AUTH,
                "403": _FORBIDDEN,
                "404": _NOT_FOUND,
                "413": _TOO_LARGE,
                "429": _LIMIT,
                "503": _DOWN,
            },
        }
    },
    "/api/v1/courses/{code}/ask/stream": {
        "post": {
            "operationId": "askStream",
            "summary": (
                "Ask a question; the answer streams as Server-Sent Events, "
                "one guarded sentence at a time."
            ),
            "description": (
                "Events: `meta`, `sentence`, `refusal`, `done` (the fields of AskResult) "
                "or `error`. Problems found before streaming starts are answered as JSON errors."
            ),
            "parameters": [_COURSE_CODE],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ref("AskRequest")}},
            },
            "responses": {
                "200": {
                    "description": "An event stream.",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                },
                "400": _BAD,
                "401": _AUTH,
                "403": _FORBIDDEN,
                "404": _NOT_FOUND,
                "413": _TOO_LARGE,
                "429": _LIMIT,
                "503": _DOWN,
            },
        }
    },
    "/api/v1/courses/{code}/documents": {
        "get": {
            "operationId": "listDocuments",
            "summary": f"The course's documents with status and passage counts. {_TEACHER}",
            "parameters": [_COURSE_CODE],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["documents"],
                        "properties": {"documents": {"type": "array", "items": ref("Document")}},
                    }
                ),
                "401": _AUTH,
                "403": _FORBIDDEN,
                "404": _NOT_FOUND,
                "503": _DOWN,
            },
        },
        "post": {
            "operationId": "uploadDocument",
            "summary": (
                "Upload one file; it is ingested by a background job "
                f"(202 with the job). {_TEACHER}"
            ),
            "parameters": [_COURSE_CODE],
            "requestBody": {
                "required": True,
                "content": {"multipart/form-data": {"schema": ref("Upload")}},
            },
            "responses": {
                "202": _json(ref("Job"), "Queued."),
                "400": _BAD,
                "401": _AUTH,
                "403": _FORBIDDEN,
                "404": _NOT_FOUND,
                "413": _TOO_LARGE,
                "415": _UNSUPPORTED,
                "503": _DOWN,
            },
        },
    },
    "/api/v1/courses/{code}/jobs": {
        "get": {
            "operationId": "listJobs",
            "summary": f"The course's 50 most recent ingestion jobs. {_TEACHER}",
            "parameters": [_COURSE_CODE],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["jobs"],
                        "properties": {"jobs": {"type": "array", "items": ref("Job")}},
                    }
                ),
                "401": _AUTH,
                "403": _FORBIDDEN,
                "404": _NOT_FOUND,
                "503": _DOWN,
            },
        }
    },
    "/api/v1/jobs/{job_id}": {
        "get": {
            "operationId": "jobStatus",
            "summary": f"Stage, percentage and result of an ingestion job. {_TEACHER}",
            "parameters": [{"name": "job_id", "in": "path", "required": True, "schema": ID}],
            "responses": {"200": _json(ref("Job")), "401": _AUTH, "404": _NOT_FOUND, "503": _DOWN},
        }
    },
    "/api/v1/jobs/{job_id}/cancel": {
        "post": {
            "operationId": "cancelJob",
            "summary": (
                "Cancel an ingestion job: a queued one at once (200), "
                f"a running one at its next step (202). {_TEACHER}"
            ),
            "parameters": [{"name": "job_id", "in": "path", "required": True, "schema": ID}],
            "responses": {
                "200": _json(ref("Job")),
                "202": _json(ref("Job")),
                "401": _AUTH,
                "404": _NOT_FOUND,
                "503": _DOWN,
            },
        }
    },
    "/api/v1/courses/{code}/documents/{document_id}": {
        "delete": {
            "operationId": "deleteDocument",
            "summary": f"Delete a document: its original, passages and vectors. {_TEACHER}",
            "parameters": [_COURSE_CODE, _DOCUMENT_ID],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["deleted"],
                        "properties": {"deleted": {"type": "object"}},
                    }
                ),
                "401": _AUTH,
                "403": _FORBIDDEN,
                "404": _NOT_FOUND,
                "503": _DOWN,
            },
        }
    },
    "/api/v1/courses/{code}/documents/{document_id}/passages": {
        "get": {
            "operationId": "listPassages",
            "summary": (
                f"The current version's passages; `?status=held` for the review queue. {_TEACHER}"
            ),
            "parameters": [
                _COURSE_CODE,
                _DOCUMENT_ID,
                {
                    "name": "status",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": ["indexed", "held", "rejected"]},
                },
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["passages"],
                        "properties": {"passages": {"type": "array", "items": ref("Passage")}},
                    }
                ),
                "401": _AUTH,
                "403": _FORBIDDEN,
                "404": _NOT_FOUND,
                "503": _DOWN,
            },
        }
    },
    "/api/v1/courses/{code}/documents/{document_id}/original": {
        "get": {
            "operationId": "documentOriginal",
            "summary": (
                "The uploaded original (teachers; enrolled students once the document is visible)."
            ),
            "parameters": [_COURSE_CODE, _DOCUMENT_ID],
            "responses": {
                "200": {
                    "description": "The file.",
                    "content": {
                        "application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}
                        }
                    },
                },
                "401": _AUTH,
                "403": _FORBIDDEN,
                "404": _NOT_FOUND,
                "503": _DOWN,
            },
        }
    },
    "/api/v1/courses/{code}/passages/{passage_id}/{decision}": {
        "post": {
            "operationId": "reviewPassage",
            "summary": (
                "Release a passage held by the safety scan (it becomes searchable) "
                f"or reject it. {_TEACHER}"
            ),
            "parameters": [
                _COURSE_CODE,
                {
                    "name": "passage_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "maxLength": 80},
                },
                {
                    "name": "decision",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "enum": ["release", "reject"]},
                },
            ],
            "responses": {
                "200": _json(ref("Passage")),
                "401": _AUTH,
                "403": _FORBIDDEN,
                "404": _NOT_FOUND,
                "503": _DOWN,
            },
        }
    },
}


def _with_common_errors(paths: dict[str, Any]) -> dict[str, Any]:
    """Every state-changing operation can answer 400: a browser session without its CSRF token."""
    for ops in paths.values():
        for method, op in ops.items():
            if method in ("post", "put", "patch", "delete"):
                op["responses"].setdefault("400", _BAD)
    return paths


def spec() -> dict[str, Any]:
    """The OpenAPI document as a dict."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Kateder API",
            "version": VERSION,
            "description": (
                "A safety-moderated course assistant for schools. Every question and answer is "
                "checked by the safety guard and recorded in the audit log. Errors are JSON "
                "objects with `error` (a code) and `message` (for people)."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": _with_common_errors(PATHS),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "From POST /api/v1/tokens.",
                }
            },
        },
    }


@bp.get("/openapi.json")
def openapi_json():
    """Serve the OpenAPI description."""
    return jsonify(spec())
