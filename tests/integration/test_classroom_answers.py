"""Issue 16, student side: answers as safe HTML, citations in order, told-apart sources, quotes, the
document view."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import select

from core.models import Course, Document
from tests.fakes import EchoGenerator, HashingEmbedder, KeywordGuard
from tests.integration.test_web import csrf, sse_events


class SourcesGenerator(EchoGenerator):
    """Answers with ``template`` over the prompt's sources: ``{2}`` is source [2]'s first sentence,
    no end mark."""

    def __init__(self) -> None:
        """Start with an answer from source [1]."""
        super().__init__()
        self.template = "{1} [1]."

    def stream(self, messages):
        """Fill the template from this prompt's sources, then stream it like the echo does."""
        firsts = {
            int(n): s
            for n, s in re.findall(r"^\[(\d+)\] (.+?)[.!?](?:\s|$)", messages[-1][1], re.M)
        }
        self.answer = self.template.format(*[firsts.get(i, "") for i in range(10)])
        return super().stream(messages)


@pytest.fixture
def fakes() -> dict:
    """The usual fakes with a generator whose answer a test writes."""
    return {"guard": KeywordGuard(), "embedder": HashingEmbedder(), "generator": SourcesGenerator()}


@pytest.fixture
def web_login(app, demo):
    """A signed-in test client and its CSRF token: ``client, token = web_login("student1")``."""
    passwords = {u["username"]: u["password"] for u in demo["users"]}

    def _login(username: str):
        client = app.test_client()
        r = client.post(
            "/login",
            data={
                "username": username,
                "password": passwords[username],
                "csrf_token": csrf(client),
            },
        )
        assert r.status_code == 302, r.text
        return client, csrf(client, client.get("/").headers["Location"])

    return _login


def _ask(
    client, token: str, code: str, question: str, conversation_id: int | None = None
) -> list[tuple[str, dict]]:
    data = {"question": question} | (
        {"conversation_id": str(conversation_id)} if conversation_id else {}
    )
    r = client.post(f"/classroom/{code}/ask", data=data, headers={"X-CSRFToken": token})
    assert r.status_code == 200
    return sse_events(r.text)


def _markers(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"\[(\d{1,2})\]", text)]


def test_citations_are_numbered_in_the_order_the_student_meets_them(web_login, services):
    client, token = web_login("student1")
    services.generator.template = "{2} [2]. {1} [1]."  # the model cites its second source first
    events = _ask(client, token, "SCI7", "Where does photosynthesis happen?")
    done = events[-1][1]
    assert [c["number"] for c in done["citations"]] == [1, 2]
    assert _markers(done["answer"]) == [1, 2]  # was [2] then [1]
    streamed = " ".join(d["text"] for k, d in events if k == "sentence")
    assert (
        _markers(streamed) == [1, 2] and streamed == done["answer"]
    )  # the stream had the same numbers
    prompt = services.generator.prompts[-1][-1][1]
    second_source = re.search(r"^\[2\] (.+)$", prompt, re.M).group(1)
    first = client.get(f"/classroom/SCI7/passages/{done['citations'][0]['passage_id']}").get_json()
    assert first["text"].startswith(
        second_source[:40]
    )  # number 1 is the passage the answer cited first

    # a model that cites only its second source: a "1", never a lone "2"
    services.generator.template = "{2} [2]."
    done = _ask(
        client, token, "SCI7", "Where does photosynthesis happen?", done["conversation_id"]
    )[-1][1]
    assert [c["number"] for c in done["citations"]] == [1] and _markers(done["answer"]) == [1]
    page = client.get(done["conversation_url"]).text
    buttons = [int(n) for n in re.findall(r'class="cite" data-cite="(\d+)"', page)]
    assert buttons == [1, 2, 1]  # history: both answers, each numbered from 1


def test_answers_are_safe_html_with_lists_and_emphasis(web_login, services):
    client, token = web_login("student1")
    services.generator.template = (
        "- **{1}** [1] <script>alert(1)</script> [x](javascript:alert(1)).\n- *{2}* [2]."
    )
    events = _ask(client, token, "SCI7", "Where does photosynthesis happen?")
    done = events[-1][1]
    html = done["answer_html"]
    assert (
        html.startswith("<ul>")
        and html.count("<li>") == 2
        and "<strong>" in html
        and "<em>" in html
    )
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<a " not in html and "javascript:alert(1)" in html  # a Markdown link stays text
    assert '<button type="button" class="cite" data-cite="1"' in html
    sentences = [d for k, d in events if k == "sentence"]
    assert (
        "<ul>" in sentences[-1]["html"] and "<script" not in sentences[-1]["html"]
    )  # rendered while streaming
    page = client.get(done["conversation_url"]).text
    answer = page[page.index('class="msg assistant') :]
    assert (
        "<ul>" in answer
        and "<strong>" in answer
        and "&lt;script&gt;" in answer
        and "<script>alert" not in page
    )


def test_quotes_keep_the_follow_ups_subject_mark_its_words_and_link_to_their_place(
    web_login, services
):
    client, token = web_login(
        "student2"
    )  # HIST8 is Swedish, which the fake model cannot write: quotes
    first = _ask(client, token, "HIST8", "Vem var Gustav Vasa?")[-1][1]
    assert first["mode"] == "extractive" and first["answer"].startswith(
        "Jag hittade det här i ditt kursmaterial."
    )
    follow = _ask(client, token, "HIST8", "När blev han kung?", first["conversation_id"])[-1][1]
    assert "valdes Gustav Vasa till kung" in follow["answer"]
    assert (
        "Kristian II" not in follow["answer"]
    )  # the other king, in a sentence without Gustav Vasa
    html = follow["answer_html"]
    assert (
        '<blockquote class="quote">' in html
        and "<mark>kung</mark>" in html
        and "<mark>valdes</mark>" not in html
    )
    link = unescape(re.search(r'<p class="quote-place"><a href="([^"]+)"', html).group(1))
    assert re.fullmatch(
        r"/classroom/HIST8/documents/\d+\?passage=[^&]+&mark=[0-9a-f]{12}&c=\d+#passage-.+", link
    )
    doc = client.get(link.split("#")[0])
    assert doc.status_code == 200
    cited = doc.text[doc.text.index('class="passage cited"') :]
    assert cited.index("<mark>Den 6 juni 1523 valdes Gustav Vasa till kung") < cited.index(
        "</section>"
    )
    assert "Back to your conversation" in doc.text or "Tillbaka till samtalet" in doc.text

    # two quotes from one document: the source chips are told apart by their section
    both = _ask(client, token, "HIST8", "När valdes Gustav Vasa till kung och när dog han?")[-1][1]
    labels = [c["label"] for c in both["citations"]]
    assert len(labels) == 2 and len(set(labels)) == 2, labels
    assert labels == [
        "Gustav Vasa och det nya Sverige · Kung av Sverige",
        "Gustav Vasa och det nya Sverige · Ett arvrike",
    ]
    page = client.get(both["conversation_url"]).text
    assert all(label in unescape(page) for label in labels)


def test_document_view_renders_material_safely_with_the_cited_passage_highlighted(
    web_login, services
):
    with services.db.session() as s:
        course = s.scalar(select(Course).where(Course.code == "SCI7"))
        course_id = course.id
    material = (
        b"# Leaves\n\n## Inside a leaf\nA leaf has **chlorophyll** in its cells. "
        b"<script>alert('leaf')</script>\n\n"
        b"## Stomata\nStomata are small openings that let carbon dioxide into the leaf.\n"
    )
    services.ingest.ingest(course_id, "leaves.md", material)
    with services.db.session() as s:
        doc = s.scalar(
            select(Document).where(
                Document.course_id == course_id, Document.filename == "leaves.md"
            )
        )
        doc_id, passages = (
            doc.id,
            sorted((p.ordinal, p.id) for p in doc.passages if p.status == "indexed"),
        )
    client, _token = web_login("student1")
    cited = passages[-1][1]
    r = client.get(f"/classroom/SCI7/documents/{doc_id}?passage={cited}")
    assert r.status_code == 200
    body = r.text[r.text.index('<article class="document') :]
    assert (
        "<h2>Inside a leaf</h2>" in body and "<h2>Stomata</h2>" in body and "## " not in body
    )  # no raw Markdown
    assert "<strong>chlorophyll</strong>" in body
    assert "<script>alert" not in r.text and "&lt;script&gt;" in body
    assert (
        f'<section class="passage cited" id="passage-{cited}"' in body
        and body.count("passage cited") == 1
    )
    assert "Stomata are small openings" in body[body.index("passage cited") :]
    passage = client.get(f"/classroom/SCI7/passages/{cited}").get_json()
    assert "<script" not in passage["html"]
    # another course's student cannot read it
    other, _ = web_login("student2")
    assert other.get(f"/classroom/SCI7/documents/{doc_id}").status_code == 403
