"""The ask pipeline with fake models and the real database, Chroma and audit chain."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.services.answer import split_sentences
from app.services.ask import Forbidden, LimitReached, NotFound
from app.services.audit import verify_chain
from core.models import AuditEvent, GuardVerdict, Message, User
from tests.fakes import EchoGenerator, KeywordGuard


def _user_id(services, username):
    with services.db.session() as s:
        return s.scalar(select(User.id).where(User.username == username))


def test_answer_cites_the_document_that_holds_the_fact(services, demo):
    result = services.ask.ask(
        _user_id(services, "student1"), "SCI7", "What do plants make from carbon dioxide and water?"
    )
    assert not result.blocked
    assert result.mode == "generated"
    assert result.citations and result.citations[0]["document"] == "Photosynthesis"
    assert set(result.timings_ms) >= {
        "input_guard",
        "retrieval",
        "generation",
        "output_guard",
        "total",
    }


def test_question_outside_the_material_is_declined(services, demo):
    result = services.ask.ask(
        _user_id(services, "student1"), "SCI7", "Who won the football World Cup in 2022?"
    )
    assert result.mode == "not_covered"
    assert result.citations == []
    assert "does not cover" in result.answer


def test_unsafe_question_is_refused_and_audited_without_retrieval(services, demo, fakes):
    uid = _user_id(services, "student1")
    result = services.ask.ask(uid, "SCI7", "how do I build a bomb")
    assert result.blocked and result.mode == "refusal"
    assert result.input_verdict["categories"] == ["S9"]
    assert fakes["generator"].prompts == []  # nothing reached the model
    with services.db.session() as s:
        actions = s.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
        assert actions[-2:] == ["question", "refusal"]
        assert verify_chain(s)["ok"]


def test_self_harm_gets_crisis_help_not_a_plain_refusal(services, demo):
    result = services.ask.ask(_user_id(services, "student1"), "SCI7", "I want to kill myself")
    assert result.mode == "crisis" and result.blocked
    assert "0800 1111" in result.answer or "116 111" in result.answer


def test_swedish_question_gets_extractive_quotes_from_english_only_model(services, demo):
    result = services.ask.ask(
        _user_id(services, "student2"), "HIST8", "När valdes Gustav Vasa till kung?"
    )
    assert result.mode == "extractive"
    assert "1523" in result.answer
    assert result.citations[0]["document"].startswith("Gustav Vasa")


def test_blocked_sentence_stops_the_stream_and_nothing_after_it_is_released(app_config):
    from app import create_app
    from app.demo import create_demo
    from app.services import get_services
    from tests.fakes import HashingEmbedder

    generator = EchoGenerator(
        "Plants make glucose [1]. Then build a bomb from it. Oxygen is released [1]."
    )
    app = create_app(
        app_config,
        services={"guard": KeywordGuard(), "embedder": HashingEmbedder(), "generator": generator},
    )
    services = get_services(app)
    create_demo(services)
    events = list(
        services.ask.stream(
            _user_id(services, "student1"), "SCI7", "What do plants make in photosynthesis?"
        )
    )
    sentences = [e["text"] for e in events if e["type"] == "sentence"]
    assert sentences == ["Plants make glucose [1]."]
    assert any(e["type"] == "refusal" for e in events)
    result = events[-1]["result"]
    assert result.blocked and "Oxygen" not in result.answer and "bomb" not in result.answer
    assert generator.active == 0  # the model was let go of when the answer stopped


def test_guard_failure_fails_closed(app_config):
    from app import create_app
    from app.demo import create_demo
    from app.services import get_services
    from tests.fakes import HashingEmbedder

    app = create_app(
        app_config,
        services={
            "guard": KeywordGuard(fail=True),
            "embedder": HashingEmbedder(),
            "generator": EchoGenerator(),
        },
    )
    services = get_services(app)
    create_demo(services)
    result = services.ask.ask(_user_id(services, "student1"), "SCI7", "What is photosynthesis?")
    assert result.blocked and result.mode == "refusal"
    assert result.input_verdict["error"].startswith("TimeoutError")


def test_personal_data_is_redacted_before_storage_and_model(services, demo, fakes):
    uid = _user_id(services, "student1")
    result = services.ask.ask(
        uid,
        "SCI7",
        "What do plants make from carbon dioxide and water? My email is anna.svensson@example.se",
    )
    assert result.notices
    with services.db.session() as s:
        texts = s.scalars(select(Message.text)).all()
    assert not any("anna.svensson" in (t or "") for t in texts)
    assert fakes["generator"].prompts, "the answer model was never called, so nothing was checked"
    assert all("anna.svensson" not in m[1] for p in fakes["generator"].prompts for m in p)


def test_students_cannot_ask_in_courses_they_are_not_enrolled_in(services, demo):
    with pytest.raises(Forbidden):
        services.ask.ask(_user_id(services, "student2"), "SCI7", "What is photosynthesis?")
    with pytest.raises(NotFound):
        services.ask.ask(_user_id(services, "student2"), "NOPE", "What is photosynthesis?")


def test_daily_limit(services, demo):
    from core.models import Course

    with services.db.session() as s:
        s.scalar(select(Course).where(Course.code == "SCI7")).daily_question_limit = 1
    uid = _user_id(services, "student1")
    services.ask.ask(uid, "SCI7", "What is photosynthesis?")
    with pytest.raises(LimitReached):
        services.ask.ask(uid, "SCI7", "What is evaporation?")


def test_follow_up_question_uses_the_conversation(services, demo):
    uid = _user_id(services, "student1")
    first = services.ask.ask(uid, "SCI7", "What is condensation in the water cycle?")
    second = services.ask.ask(uid, "SCI7", "And after that?", conversation_id=first.conversation_id)
    assert second.conversation_id == first.conversation_id
    assert second.mode != "refusal"


def test_every_question_has_exactly_one_question_event_and_verdicts(services, demo):
    uid = _user_id(services, "student1")
    for q in ["What is photosynthesis?", "What is evaporation?", "bomb please"]:
        services.ask.ask(uid, "SCI7", q)
    with services.db.session() as s:
        assert s.scalar(select(func.count()).where(AuditEvent.action == "question")) == 3
        assert (
            s.scalar(
                select(func.count()).select_from(GuardVerdict).where(GuardVerdict.stage == "input")
            )
            == 3
        )


@pytest.mark.parametrize(
    ("buffer", "done", "rest"),
    [
        ("Hello world", [], "Hello world"),
        ("One. Two", ["One."], "Two"),
        ("One! Two? Three", ["One!", "Two?"], "Three"),
        ("Line one\nLine two", ["Line one"], "Line two"),
    ],
)
def test_split_sentences(buffer, done, rest):
    assert split_sentences(buffer) == (done, rest)


def test_a_model_that_returns_nothing_is_answered_with_quotes_and_logged(app_config, caplog):
    from app import create_app
    from app.demo import create_demo
    from app.services import get_services
    from tests.fakes import HashingEmbedder

    app = create_app(
        app_config,
        services={
            "guard": KeywordGuard(),
            "embedder": HashingEmbedder(),
            "generator": EchoGenerator(""),
        },
    )
    services = get_services(app)
    create_demo(services)
    with caplog.at_level("WARNING", logger="app.services.answer"):
        result = services.ask.ask(
            _user_id(services, "student1"), "SCI7", "Why do leaves look green?"
        )
    assert result.mode == "extractive" and result.citations
    assert "returned no text" in caplog.text and "--interrupt_requests" in caplog.text
