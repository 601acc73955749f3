"""The output guard's window (OUTPUT_GUARD_WINDOW): harm split over sentences is still stopped.

Each sentence is checked with the question and the sentences just before it; the final
sentence is held back until the whole answer has passed. Fake guard and generator at their
interfaces (tests/fakes.py); the database, ingestion, retrieval and grounding are real.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.services.answer import _sentences
from core.models import User
from guard.types import Message
from tests.fakes import EchoGenerator, HashingEmbedder, SplitHarmGuard

# each sentence is supported by the same passage of photosynthesis.md; "carbon dioxide" and
# "sunlight" are harmful only together (for SplitHarmGuard), the way instructions can be split over
# sentences
PARTS = ("carbon dioxide", "sunlight")
S_FOOD = "Photosynthesis is the process in which green plants make their own food [1]."
S_CO2 = "A plant takes in carbon dioxide from the air [1]."
S_WATER = "Its roots take up water from the soil [1]."
S_STOMATA = "The small openings in its leaves are called stomata [1]."
S_SUN = "The energy for the process comes from sunlight [1]."
QUESTION = "How do plants make their own food?"


def _ask(app_config, answer: str, *, window: int, guard: SplitHarmGuard | None = None):
    """Stream one answer; return (events, guard, the guard's answer checks seen before each sentence
    event)."""
    from app import create_app
    from app.demo import create_demo
    from app.services import get_services

    guard = guard or SplitHarmGuard(PARTS)
    app = create_app(
        {**app_config, "OUTPUT_GUARD_WINDOW": window},
        services={
            "guard": guard,
            "embedder": HashingEmbedder(),
            "generator": EchoGenerator(answer),
        },
    )
    services = get_services(app)
    create_demo(services)
    with services.db.session() as s:
        uid = s.scalar(select(User.id).where(User.username == "student1"))
    events, seen = [], []
    for event in services.ask.stream(uid, "SCI7", QUESTION):
        events.append(event)
        if event["type"] == "sentence":
            seen.append(list(guard.answers))
    services.db.dispose()
    return events, guard, seen


def _words(text: str) -> str:
    """A sentence without its citation markers and line breaks (for comparing released text)."""
    return re.sub(r"\s*\[\d+\]", "", text).strip()


def _released(events) -> list[str]:
    return [_words(e["text"]) for e in events if e["type"] == "sentence"]


def test_no_single_sentence_is_harmful_for_the_split_harm_guard():
    guard = SplitHarmGuard(PARTS)
    for sentence in (S_FOOD, S_CO2, S_WATER, S_STOMATA, S_SUN):
        assert guard.classify(
            [Message("user", QUESTION), Message("agent", sentence)], role="agent"
        ).safe
    assert not guard.classify(
        [Message("user", QUESTION), Message("agent", f"{S_CO2} {S_SUN}")], role="agent"
    ).safe


def test_harm_split_over_neighbouring_sentences_is_stopped_by_the_window(app_config):
    events, guard, _ = _ask(app_config, f"{S_FOOD} {S_CO2} {S_SUN} {S_WATER}", window=2)
    assert _released(events) == [_words(S_FOOD), _words(S_CO2)]
    assert any(e["type"] == "refusal" for e in events)
    result = events[-1]["result"]
    assert result.blocked and "sunlight" not in result.answer and "soil" not in result.answer
    # the blocking check read the window (the previous sentence and the new one), not the whole
    # answer
    assert "process in which" not in guard.answers[-1] and "sunlight" in guard.answers[-1]
    assert result.output_verdict["categories"] == ["S9"]


def test_harm_spread_wider_than_the_window_is_stopped_before_the_final_sentence(app_config):
    events, guard, _ = _ask(app_config, f"{S_CO2} {S_WATER} {S_STOMATA} {S_SUN}", window=2)
    # every window passed; the whole-answer check held the final sentence back
    assert _released(events) == [_words(S_CO2), _words(S_WATER), _words(S_STOMATA)]
    assert any(e["type"] == "refusal" for e in events)
    assert events[-1]["result"].blocked and "sunlight" not in events[-1]["result"].answer
    window, whole = guard.answers[-2:]  # the third sentence's window, then the whole answer
    assert "soil" in window and "stomata" in window and "carbon dioxide" not in window
    assert "carbon dioxide" in whole and "sunlight" in whole


@pytest.mark.parametrize("separator", [" ", "\n"])
def test_the_final_sentence_is_released_only_after_the_whole_answer_check(app_config, separator):
    answer = (
        separator.join([S_CO2, S_WATER, S_STOMATA]) + separator
    )  # "\n": the final sentence ends in a line break
    events, guard, seen = _ask(app_config, answer, window=1)
    assert _released(events) == [_words(S_CO2), _words(S_WATER), _words(S_STOMATA)]
    assert not events[-1]["result"].blocked
    *windows, whole = seen[-1]  # the checks made before the final sentence reached the student
    assert "carbon dioxide" in whole and "soil" in whole and "stomata" in whole
    # the sentences before it were each read in their window (window 1: alone)
    assert [sum(w in t for w in ("carbon dioxide", "soil", "stomata")) for t in windows] == [1, 1]


def test_a_guard_error_at_the_whole_answer_check_withholds_the_final_sentence(app_config):
    guard = SplitHarmGuard(PARTS, fail=True)
    events, _, _ = _ask(app_config, f"{S_CO2} {S_WATER} {S_STOMATA} {S_SUN}", window=2, guard=guard)
    assert _released(events) == [_words(S_CO2), _words(S_WATER), _words(S_STOMATA)]
    result = events[-1]["result"]
    assert result.blocked and "sunlight" not in result.answer
    assert result.output_verdict["error"].startswith("TimeoutError")


def test_when_grounding_removes_the_final_sentence_the_released_answer_is_still_read_whole(
    app_config,
):
    events, guard, _ = _ask(
        app_config, f"{S_CO2} {S_WATER} Zebras paint the moon purple every Tuesday.", window=1
    )
    assert _released(events) == [_words(S_CO2), _words(S_WATER)]
    last = guard.answers[-1]
    assert "carbon dioxide" in last and "soil" in last and "Zebras" not in last


def test_window_zero_reads_the_whole_answer_so_far_before_every_sentence(app_config):
    _, guard, _ = _ask(app_config, f"{S_FOOD} {S_WATER} {S_STOMATA}", window=0)
    checks = guard.answers
    assert len(checks) == 3
    assert [("process in which" in t, "soil" in t, "stomata" in t) for t in checks] == [
        (True, False, False),
        (True, True, False),
        (True, True, True),
    ]


def test_a_long_answer_is_read_in_windows_and_once_whole(app_config):
    _, guard, _ = _ask(app_config, f"{S_FOOD} {S_CO2} {S_WATER} {S_STOMATA}", window=2)
    marks = [
        tuple(w in t for w in ("process in which", "carbon dioxide", "soil", "stomata"))
        for t in guard.answers
    ]
    assert marks == [
        (True, False, False, False),  # the first sentence: its window is the whole answer so far
        (True, True, False, False),
        (False, True, True, False),  # a window of two sentences
        (
            True,
            True,
            True,
            True,
        ),  # before the final sentence: the whole answer, its window included
    ]


def test_sentences_are_marked_final_only_at_the_end_of_the_stream():
    assert list(_sentences(iter(["One. Tw", "o! Three"]))) == [
        ("One.", False),
        ("Two!", False),
        ("Three", True),
    ]
    assert list(_sentences(iter(["One.\n", "Two.\n"]))) == [("One.", False), ("\nTwo.", True)]
    assert list(_sentences(iter(["One.\n\n", "  ", "Two."]))) == [
        ("One.", False),
        ("\n\nTwo.", True),
    ]
    assert list(_sentences(iter([]))) == []


def test_a_sentence_ending_in_a_line_break_waits_only_for_the_next_text():
    pulled = []

    def pieces():
        for piece in ["Line one.\n", "Line", " two.\n"]:
            pulled.append(piece)
            yield piece

    stream = _sentences(pieces())
    assert next(stream) == ("Line one.", False)
    assert pulled == ["Line one.\n", "Line"]  # released as soon as the next sentence began
    assert next(stream) == ("\nLine two.", True)


def test_the_window_reads_no_more_than_the_whole_answer_before_every_sentence(
    app_config, tmp_path, template_db
):
    import shutil

    answer = f"{S_FOOD} {S_CO2} {S_WATER} {S_STOMATA} {S_SUN}"
    _, windowed, _ = _ask(app_config, answer, window=2, guard=SplitHarmGuard(("never said",)))
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(template_db, other / "kateder.db")
    _, whole, _ = _ask(
        {**app_config, "HOME": str(other), "DATABASE_URL": f"sqlite:///{other / 'kateder.db'}"},
        answer,
        window=0,
        guard=SplitHarmGuard(("never said",)),
    )
    assert len(windowed.answers) == len(whole.answers) == 5
    assert sum(map(len, windowed.answers)) < sum(map(len, whole.answers))
    assert (
        windowed.answers[-1] == whole.answers[-1]
    )  # the same whole-answer check before the final sentence
