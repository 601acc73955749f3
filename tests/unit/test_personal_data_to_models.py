"""No personal identifier reaches a model: the answer model, the output guard, the history.

The input check redacts the question; everything after it (prompt, user template, the
earlier turns sent as history, the output guard and the quoted answer) must see only the
redacted text. The fakes record what they were given at the Generator and Guard interfaces.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.services.ask import AskError
from core.models import User

IDENTIFIERS = (
    "19811218-9876",
    "8112189876",
    "anna.svensson@example.se",
    "070-123 45 67",
    "0701234567",
)
QUESTION = (
    "What do plants make from carbon dioxide and water? "
    "(19811218-9876, anna.svensson@example.se, 070-123 45 67)"
)


def _user_id(services, username):
    with services.db.session() as s:
        return s.scalar(select(User.id).where(User.username == username))


def _leaks(texts) -> list[str]:
    squashed = [t.replace(" ", "").replace("-", "") for t in texts]
    found = [i for i in IDENTIFIERS if any(i in t for t in texts)]
    found += [
        i for i in IDENTIFIERS if any(i.replace(" ", "").replace("-", "") in t for t in squashed)
    ]
    return sorted(set(found))


def _prompt_texts(generator) -> list[str]:
    return [content for prompt in generator.prompts for _role, content in prompt]


def test_the_answer_model_gets_only_the_redacted_question(services, demo, fakes):
    result = services.ask.ask(_user_id(services, "student1"), "SCI7", QUESTION)
    assert result.mode == "generated"
    assert fakes["generator"].prompts, "the answer model was never called"
    texts = _prompt_texts(fakes["generator"])
    assert _leaks(texts) == []
    assert "[personnummer]" in texts[-1] and "[email]" in texts[-1] and "[phone]" in texts[-1]


def test_the_output_guard_gets_only_the_redacted_question(services, demo, fakes):
    services.ask.ask(_user_id(services, "student1"), "SCI7", QUESTION)
    agent_checks = [text for role, text in fakes["guard"].calls if role == "agent"]
    assert agent_checks, "the output guard was never called"
    assert _leaks(text for _role, text in fakes["guard"].calls) == []


class _ContextRecordingGuard:
    """A guard that records the whole conversation it is shown (question and answer)."""

    name = "recording"

    def __init__(self) -> None:
        self.conversations: list[list[str]] = []

    def classify(self, conversation, *, role):
        from guard.types import Verdict

        self.conversations.append([m.content for m in conversation])
        return Verdict(safe=True, score=0.0, backend=self.name, model="fake")


def test_the_output_guard_context_and_the_extractive_path_see_no_identifier(app_config):
    from app import create_app
    from app.demo import create_demo
    from app.services import get_services
    from tests.fakes import EchoGenerator, HashingEmbedder

    guard, generator = _ContextRecordingGuard(), EchoGenerator()
    app = create_app(
        app_config, services={"guard": guard, "embedder": HashingEmbedder(), "generator": generator}
    )
    services = get_services(app)
    create_demo(services)
    # a Swedish question to an English-only model: the answer is quoted (extractive path)
    result = services.ask.ask(
        _user_id(services, "student2"), "HIST8", "När valdes Gustav Vasa till kung? 19811218-9876"
    )
    assert result.mode == "extractive"
    assert generator.prompts == []
    shown = [text for conversation in guard.conversations for text in conversation]
    assert len(guard.conversations) >= 2  # input check and at least one output check
    assert _leaks(shown) == []
    assert any("[personnummer]" in text for text in shown)
    assert _leaks([result.answer]) == []


def test_history_of_earlier_turns_reaches_the_model_redacted(services, demo, fakes):
    uid = _user_id(services, "student1")
    first = services.ask.ask(uid, "SCI7", QUESTION)
    services.ask.ask(
        uid, "SCI7", "And what is released as well?", conversation_id=first.conversation_id
    )
    prompts = fakes["generator"].prompts
    assert len(prompts) == 2
    assert len(prompts[1]) > 2, "the follow-up was sent without the earlier turn"
    assert _leaks(_prompt_texts(fakes["generator"])) == []


def test_an_identifier_split_by_zero_width_characters_is_still_redacted(services, demo, fakes):
    services.ask.ask(
        _user_id(services, "student1"),
        "SCI7",
        "What do plants make from carbon dioxide and water? anna.svensson\u200b@example.se",
    )
    assert fakes["generator"].prompts
    assert _leaks(_prompt_texts(fakes["generator"])) == []


@pytest.mark.parametrize(
    "question", ["\u200b\u200b\u200b", "\u200d \u2060\ufeff", "\u00ad\u202e\u200f "]
)
def test_a_question_of_only_invisible_characters_is_rejected(services, demo, fakes, question):
    guard_calls = len(fakes["guard"].calls)  # the demo's material scan used the guard already
    with pytest.raises(AskError, match="empty"):
        services.ask.ask(_user_id(services, "student1"), "SCI7", question)
    assert fakes["generator"].prompts == [] and len(fakes["guard"].calls) == guard_calls


def test_the_api_answers_400_to_a_zero_width_question(client, login_token):
    token = login_token("student1")
    r = client.post(
        "/api/v1/courses/SCI7/ask",
        json={"question": "\u200b\u200c\u200d"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 400
    assert "empty" in r.get_json()["message"]
