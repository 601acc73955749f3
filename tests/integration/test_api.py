"""The JSON API: authentication required, same fields as ``kateder ask --json``."""

from __future__ import annotations

ASK_FIELDS = {
    "answer",
    "blocked",
    "citations",
    "input_verdict",
    "output_verdict",
    "audit_id",
    "timings_ms",
}


def test_ask_requires_authentication(client, demo):
    r = client.post("/api/v1/courses/SCI7/ask", json={"question": "What is photosynthesis?"})
    assert r.status_code == 401
    assert r.get_json()["error"] == "unauthorized"


def test_wrong_password_is_rejected(client, demo):
    r = client.post("/api/v1/tokens", json={"username": "student1", "password": "nope"})
    assert r.status_code == 401


def test_ask_returns_answer_with_citations(client, login_token):
    token = login_token("student1")
    r = client.post(
        "/api/v1/courses/SCI7/ask",
        json={"question": "Where does photosynthesis happen?"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert set(body) >= ASK_FIELDS
    assert body["citations"][0]["document"] == "Photosynthesis"
    assert set(body["citations"][0]) >= {"document", "page", "excerpt"}
    assert set(body["input_verdict"]) >= {"safe", "categories", "score"}


def test_other_course_is_forbidden(client, login_token):
    token = login_token("student2")
    r = client.post(
        "/api/v1/courses/SCI7/ask",
        json={"question": "What is photosynthesis?"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 403


def test_bad_bodies_get_clear_errors(client, login_token):
    token = login_token("student1")
    headers = {"Authorization": f"Bearer {token}"}
    for body in [
        None,
        [],
        {"question": 5},
        {"question": ""},
        {"question": "x" * 5000},
        {"question": "hi", "conversation_id": "a"},
    ]:
        r = client.post("/api/v1/courses/SCI7/ask", json=body, headers=headers)
        assert r.status_code == 400, body
        assert r.get_json()["message"]
    r = client.post(
        "/api/v1/courses/SCI7/ask",
        data=b"\x00\xff",
        headers=headers,
        content_type="application/json",
    )
    assert r.status_code == 400
