"""Production mode on loopback: the ask pipeline over HTTP against real servers.

gunicorn (2 workers, models loaded lazily per worker), PostgreSQL, Chroma as its own
server, SmolLM2 behind ``llama_cpp.server`` (OpenAI-compatible), the real MiniLM embedder,
the configured guard, and ``kateder worker`` for background ingestion.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from app.db import Database
from app.services.audit import verify_chain
from core.models import AuditEvent, Message

pytestmark = pytest.mark.production
QUESTION = "Where does photosynthesis happen?"


def _post(stack, path: str, body: dict, token: str, timeout: float = 300):
    req = urllib.request.Request(
        stack.url + path,
        json.dumps(body).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 - loopback
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


def _get(stack, path: str, token: str):
    req = urllib.request.Request(stack.url + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=60) as r:  # noqa: S310 - loopback
        return json.loads(r.read())


def _db(stack) -> Database:
    return Database(stack.database_url)


def _count(db: Database, action: str) -> int:
    with db.session() as s:
        return s.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == action)) or 0


def test_gunicorn_runs_several_workers(stack):
    assert len(stack.worker_pids()) == 2
    with urllib.request.urlopen(stack.url + "/api/openapi.json", timeout=30) as r:  # noqa: S310
        assert json.loads(r.read())["paths"]


def test_ask_over_http_is_answered_from_the_material_and_audited(stack):
    db = _db(stack)
    try:
        before = _count(db, "question")
        status, _, text = _post(
            stack, "/api/v1/courses/SCI7/ask", {"question": QUESTION}, stack.token("student1")
        )
        assert status == 200, text
        body = json.loads(text)
        assert body["answer"] and body["citations"], body
        assert body["citations"][0]["document"] == "Photosynthesis"
        assert body["mode"] in ("generated", "extractive")
        if body["mode"] == "generated":
            assert body["model"].startswith("SmolLM2")
        assert _count(db, "question") == before + 1
        with db.session() as s:
            event = s.get(AuditEvent, body["audit_id"])
            assert event.action == "answer" and event.details["message_id"] == body["message_id"]
    finally:
        db.dispose()


def test_streamed_answer_over_http(stack):
    status, ctype, text = _post(
        stack,
        "/api/v1/courses/SCI7/ask/stream",
        {"question": "What do plants need for photosynthesis?"},
        stack.token("student1"),
    )
    assert status == 200 and ctype.startswith("text/event-stream"), text
    events = [
        line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("event:")
    ]
    assert events[0] == "meta" and events[-1] == "done", events
    assert "error" not in events


def test_concurrent_students_are_all_answered_with_one_question_record_each(stack):
    db = _db(stack)
    try:
        before_q, before_m = _count(db, "question"), _count(db, "answer") + _count(db, "refusal")
        tokens = [stack.token(u) for u in ("student1", "teacher")]
        jobs = [
            (tokens[i % 2], q)
            for i, q in enumerate(
                [
                    "What is photosynthesis?",
                    "Where does the water cycle start?",
                    "What is evaporation?",
                    "Why do plants need light?",
                ]
            )
        ]
        with ThreadPoolExecutor(4) as pool:
            results = list(
                pool.map(
                    lambda j: _post(stack, "/api/v1/courses/SCI7/ask", {"question": j[1]}, j[0]),
                    jobs,
                )
            )
        assert [r[0] for r in results] == [200] * 4, results
        assert _count(db, "question") == before_q + 4
        assert _count(db, "answer") + _count(db, "refusal") == before_m + 4
        with db.session() as s:
            assert verify_chain(s)["ok"]
            assert s.scalar(select(func.count(Message.id)).where(Message.role == "user")) == _count(
                db, "question"
            )
    finally:
        db.dispose()


def test_upload_is_ingested_by_the_separate_worker_and_then_cited(stack):
    teacher = stack.token("teacher")
    marker = f"quasarite-{uuid.uuid4().hex[:6]}"
    content = (
        "# Volcanoes\n\nA volcano is an opening in the crust of the Earth. "
        f"The rare mineral {marker} "
        f"forms when lava from a volcano cools very slowly deep underground.\n"
    ).encode()
    boundary = uuid.uuid4().hex
    body = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="volcanoes.md"\r\n'
            f"Content-Type: text/markdown\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    req = urllib.request.Request(
        stack.url + "/api/v1/courses/SCI7/documents",
        body,
        {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Authorization": f"Bearer {teacher}",
        },
    )
    with urllib.request.urlopen(req, timeout=60) as r:  # noqa: S310
        assert r.status == 202
        job = json.loads(r.read())
    deadline = time.monotonic() + 120
    while (status := _get(stack, f"/api/v1/jobs/{job['id']}", teacher))["status"] not in (
        "done",
        "failed",
    ):
        assert time.monotonic() < deadline, status
        assert stack.worker.poll() is None, "the ingestion worker died"
        time.sleep(0.5)
    assert status["status"] == "done", status
    code, _, text = _post(
        stack,
        "/api/v1/courses/SCI7/ask",
        {"question": f"How does {marker} form?"},
        stack.token("student1"),
    )
    assert code == 200, text
    assert any(c["document"] == "Volcanoes" for c in json.loads(text)["citations"]), text
