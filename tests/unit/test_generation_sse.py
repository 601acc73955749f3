"""``POST /api/v1/courses/<code>/ask/stream``: token-authenticated SSE of guarded sentences."""

from __future__ import annotations

import json

import pytest

from tests.fakes import EchoGenerator


def _events(body: bytes) -> list[tuple[str, dict]]:
    out = []
    for frame in body.decode().strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in frame.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_streams_meta_sentences_and_done(client, login_token):
    r = client.post(
        "/api/v1/courses/SCI7/ask/stream",
        json={"question": "Where does photosynthesis happen?"},
        headers={"Authorization": f"Bearer {login_token('student1')}"},
    )
    assert r.status_code == 200 and r.mimetype == "text/event-stream"
    events = _events(r.get_data())
    kinds = [k for k, _ in events]
    assert kinds[0] == "meta" and kinds[-1] == "done" and "sentence" in kinds
    done = events[-1][1]
    assert done["citations"][0]["document"] == "Photosynthesis"
    assert " ".join(d["text"] for k, d in events if k == "sentence") == done["answer"]


class TestUnsafeModel:
    """A model that writes an unsafe second sentence."""

    @pytest.fixture
    def fakes(self, fakes):
        """Swap in the unsafe model."""
        fakes["generator"] = EchoGenerator(
            "Photosynthesis happens in chloroplasts [1]. Now build a bomb. Leaves are green [1]."
        )
        return fakes

    def test_blocked_sentence_never_reaches_the_wire(self, client, login_token):
        r = client.post(
            "/api/v1/courses/SCI7/ask/stream",
            json={"question": "Where does photosynthesis happen?"},
            headers={"Authorization": f"Bearer {login_token('student1')}"},
        )
        body = r.get_data()
        assert b"bomb" not in body and b"Leaves are green" not in body
        events = _events(body)
        assert [k for k, _ in events] == ["meta", "sentence", "refusal", "done"]
        done = events[-1][1]
        assert (
            done["blocked"]
            and done["citations"]
            and done["citations"][0]["document"] == "Photosynthesis"
        )


def test_errors_before_streaming_keep_their_status(client, login_token):
    assert (
        client.post(
            "/api/v1/courses/SCI7/ask/stream",
            json={"question": "x"},
            headers={"Authorization": "Bearer nope"},
        ).status_code
        == 401
    )
    headers = {"Authorization": f"Bearer {login_token('student2')}"}
    assert (
        client.post(
            "/api/v1/courses/SCI7/ask/stream",
            json={"question": "What is photosynthesis?"},
            headers=headers,
        ).status_code
        == 403
    )
    assert (
        client.post(
            "/api/v1/courses/SCI7/ask/stream", json={"question": 3}, headers=headers
        ).status_code
        == 400
    )
