"""Citations in order, line breaks kept, quotes chosen, and answers and material rendered as safe
HTML."""

from __future__ import annotations

import pytest
from flask import Flask
from flask_babel import Babel

from app.citations import in_order, renumber
from app.grounding import extract_sentences
from app.retrieval import RetrievedPassage
from app.services.answer import _sentences
from app.services.turn import Reply
from app.web.rendering import answer_html, document_html, quote_key, source_labels


@pytest.fixture(autouse=True)
def babel_context():
    """Flask-Babel needs an app context for the few labels these helpers add."""
    app = Flask(__name__)
    Babel(app)
    with app.test_request_context():
        yield


def _c(number: int, document: str = "Doc", page=None, section=None) -> dict:
    return {
        "number": number,
        "passage_id": f"1:1:{number}",
        "document_id": 1,
        "document": document,
        "page": page,
        "section": section,
    }


@pytest.mark.parametrize(
    ("text", "numbers", "expected_text", "expected"),
    [
        ("A [2].", [2], "A [1].", [1]),
        ("A [3]. B [1]. C [3].", [3, 1], "A [1]. B [2]. C [1].", [1, 2]),
        ("A [1]. B [2].", [1, 2], "A [1]. B [2].", [1, 2]),  # already in order: unchanged
        ("A [7] [2].", [2], "A [1].", [1]),  # a marker that points at no passage is dropped
        ("No markers.", [1], "No markers.", [1]),  # the best passage, cited without a marker
    ],
)
def test_renumber(text, numbers, expected_text, expected):
    got_text, got = renumber(text, [_c(n) for n in numbers])
    assert got_text == expected_text and [c["number"] for c in got] == expected
    assert [c["passage_id"] for c in got] == [
        f"1:1:{n}" for n in numbers
    ]  # each still points at its passage


def test_in_order_renumbers_the_stream_like_the_reply_and_closes_what_it_wraps():
    closed = []

    def answer():
        try:
            yield {"type": "sentence", "text": "A [2]."}
            yield {"type": "sentence", "text": "B [1]."}
            return Reply(
                text="A [2]. B [1].", action="allow", mode="generated", citations=[_c(2), _c(1)]
            )
        finally:
            closed.append(True)

    events = in_order(answer(), passages=3)
    assert next(events)["text"] == "A [1]."
    assert next(events)["text"] == "B [2]."
    with pytest.raises(StopIteration) as stop:
        next(events)
    assert stop.value.value.text == "A [1]. B [2]." and [
        c["number"] for c in stop.value.value.citations
    ] == [1, 2]
    stopped = in_order(answer(), passages=3)
    next(stopped)
    stopped.close()  # the student pressed Stop: the model's stream is closed too
    assert closed == [True, True]


def test_sentences_keep_the_line_breaks_of_lists_and_quotes():
    pieces = ["Intro. Plants need:\n- li", "ght [1].\n- water [2].\n\nLast", " one."]
    assert [s for s, _final in _sentences(iter(pieces))] == [
        "Intro.",
        "Plants need:",
        "\n- light [1].",
        "\n- water [2].",
        "\n\nLast one.",
    ]
    assert [s for s, _final in _sentences(iter(["\n\nFirst.\n"]))] == [
        "First."
    ]  # no break before the first sentence


def _p(text: str, number: int) -> RetrievedPassage:
    return RetrievedPassage(
        f"1:1:{number}", text, 1, "Gustav Vasa", 1, None, None, "sv", 0.1, 0.8, 0.8, True
    )


def test_quotes_answer_the_question_and_keep_a_follow_ups_subject():
    passages = [
        _p(
            (
                "I november 1520 lät den danske kungen Kristian II avrätta omkring 80 svenska "
                "adelsmän."
            ),
            1,
        ),
        _p(
            (
                "Den 6 juni 1523 valdes Gustav Vasa till kung av Sverige i Strängnäs. "
                "Därför firas nationaldagen den 6 juni."
            ),
            2,
        ),
    ]
    follow_up = extract_sentences(
        "När blev han kung?", passages, "sv", context="Vem var Gustav Vasa?"
    )
    assert follow_up == [
        ("Den 6 juni 1523 valdes Gustav Vasa till kung av Sverige i Strängnäs.", 2)
    ]
    # without the conversation, a sentence about another king is no second quote: it adds no
    # question term
    assert all(
        "Kristian" not in s for s, _ in extract_sentences("Vem valdes till kung?", passages, "sv")
    )
    # a second quote that answers another part of the question is kept
    both = extract_sentences(
        "När valdes Gustav Vasa till kung, och varför firas nationaldagen den 6 juni?",
        passages,
        "sv",
    )
    assert [s for s, _ in both] == [
        "Den 6 juni 1523 valdes Gustav Vasa till kung av Sverige i Strängnäs.",
        "Därför firas nationaldagen den 6 juni.",
    ]


def test_sources_with_the_same_name_are_told_apart():
    labels = [
        c["label"]
        for c in source_labels(
            [
                _c(1, "Vasa", section="Vasa > Kung"),
                _c(2, "Vasa", section="Vasa > Blodbad"),
                _c(3, "Vasa", section="Vasa > Blodbad"),
                _c(4, "Atoms", page=2),
                _c(5, "Atoms", page=3),
                _c(6, "Water"),
            ]
        )
    ]
    assert labels == [
        "Vasa · Kung",
        "Vasa · Blodbad",
        "Vasa · Blodbad (2)",
        "Atoms, page 2",
        "Atoms, page 3",
        "Water",
    ]


def test_answer_html_renders_markdown_and_nothing_else():
    html = str(
        answer_html(
            "**Bold** and *it* [1]\n- one\n- two <img src=x onerror=alert(1)>\n\n"
            "[x](https://evil.example) "
            "<script>alert(1)</script> [9]",
            [_c(1)],
        )
    )
    assert "<strong>Bold</strong>" in html and "<em>it</em>" in html and "<li>one</li>" in html
    assert (
        '<button type="button" class="cite" data-cite="1"' in html and "[9]" in html
    )  # no source 9: text
    assert (
        "<img" not in html
        and "<script" not in html
        and "<a " not in html
        and "&lt;script&gt;" in html
    )


def test_quote_lines_become_marked_blockquotes_with_their_place():
    html = str(
        answer_html(
            "Label:\n«Den 6 juni valdes Gustav Vasa till kung.» [1]",
            [_c(1)],
            question="När valdes han till kung?",
            language="sv",
            place=lambda c, key: f"/doc/{c['document_id']}?mark={key}",
        )
    )
    key = quote_key("Den 6 juni valdes Gustav Vasa till kung.")
    assert (
        '<blockquote class="quote">' in html
        and "<mark>valdes</mark>" in html
        and "<mark>kung</mark>" in html
    )
    assert "<mark>Gustav</mark>" not in html and f'href="/doc/1?mark={key}"' in html


def test_document_html_shows_overlap_once_and_marks_the_quoted_sentence():
    first = "Leaves are green. They hold chlorophyll."
    second = "They hold chlorophyll. Stomata <b>let</b> air in."
    passages = [
        {
            "id": "1:1:0",
            "text": first,
            "section": "Doc > Leaves",
            "page": None,
            "char_start": 0,
            "char_end": len(first),
        },
        {
            "id": "1:1:1",
            "text": second,
            "section": "Doc > Leaves",
            "page": None,
            "char_start": 18,
            "char_end": 18 + len(second),
        },
    ]
    html = str(
        document_html(
            passages, title="Doc", cited="1:1:1", mark=quote_key("Stomata <b>let</b> air in.")
        )
    )
    assert html.count("They hold chlorophyll.") == 1 and html.count("<h2>Leaves</h2>") == 1
    assert '<section class="passage cited" id="passage-1:1:1"' in html
    assert "<mark>Stomata &lt;b&gt;let&lt;/b&gt; air in.</mark>" in html
