"""Production mode: a question with personal data, asked over the JSON API, against an
OpenAI-compatible answer server on loopback that records what it receives.

The generator is the real ``openai`` backend (LangChain's client over HTTP); the server is
a recorder on 127.0.0.1, so the test sees exactly what would leave the school's server.
"""

from __future__ import annotations

import json

import pytest

from tests.production.servers import RecordingChatServer

pytestmark = pytest.mark.production

IDENTIFIERS = ("19811218-9876", "anna.svensson@example.se", "070-123 45 67")
QUESTION = (
    "What do plants make from carbon dioxide and water? "
    "(19811218-9876, anna.svensson@example.se, 070-123 45 67)"
)


def test_no_identifier_reaches_a_remote_answer_model(app_config):
    from app import create_app
    from app.demo import create_demo
    from app.services import get_services
    from tests.fakes import HashingEmbedder, KeywordGuard

    with RecordingChatServer("recorder") as server:
        config = {
            **app_config,
            "GENERATOR": "openai",
            "GENERATOR_URL": server.url,
            "GENERATOR_MODEL": "recorder",
            "GENERATOR_TIMEOUT": 30.0,
        }
        app = create_app(config, services={"guard": KeywordGuard(), "embedder": HashingEmbedder()})
        services = get_services(app)
        demo = create_demo(services)
        client = app.test_client()
        password = next(u["password"] for u in demo["users"] if u["username"] == "student1")
        token = client.post(
            "/api/v1/tokens", json={"username": "student1", "password": password}
        ).get_json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        first = client.post(
            "/api/v1/courses/SCI7/ask", json={"question": QUESTION}, headers=headers
        )
        assert first.status_code == 200, first.get_json()
        assert first.get_json()["mode"] == "generated"
        follow_up = client.post(
            "/api/v1/courses/SCI7/ask/stream",
            headers=headers,
            json={
                "question": "Where does photosynthesis happen in the plant?",
                "conversation_id": first.get_json()["conversation_id"],
            },
        )
        assert follow_up.status_code == 200
        body = follow_up.get_data(as_text=True)  # the streamed answer runs to its end
        assert "event: done" in body, body
        services.db.dispose()
    assert len(server.requests) == 2, "the answer server was not called for both questions"
    assert len(server.requests[1]["messages"]) > 2, (
        "the follow-up was sent without the earlier turn"
    )
    sent = json.dumps(server.requests, ensure_ascii=False)
    for identifier in IDENTIFIERS:
        assert identifier not in sent
    assert "[personnummer]" in sent and "[email]" in sent and "[phone]" in sent
