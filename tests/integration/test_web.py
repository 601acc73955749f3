"""The browser's server side: sign-in, CSRF, headers, streaming, feedback, teacher and DPO
actions."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from app.services.ask import questions_asked_today
from core.models import AuditEvent, Course, GuardVerdict, Message, User


def csrf(client, path: str = "/login") -> str:
    """The CSRF token of the current session, read from a page."""
    page = client.get(path, headers={"Accept": "text/html"}, follow_redirects=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)


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
        home = client.get("/").headers["Location"]
        return client, csrf(client, home)

    return _login


def sse_events(body: str) -> list[tuple[str, dict]]:
    """Parse an SSE body into (event, data) pairs."""
    out = []
    for frame in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in frame.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_login_page_is_secure_and_translated(client):
    r = client.get("/login", headers={"Accept-Language": "sv-SE,sv;q=0.9"})
    assert r.status_code == 200
    csp = r.headers["Content-Security-Policy"]
    assert (
        "script-src 'self'" in csp
        and "unsafe-inline" not in csp
        and "frame-ancestors 'none'" in csp
    )
    assert "<script>" not in r.text and " on" + "click=" not in r.text
    assert "Logga in" in r.text and '<html lang="sv">' in r.text
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie


def test_wrong_password_and_missing_csrf_are_rejected(client, demo):
    assert (
        client.post("/login", data={"username": "student1", "password": "x"}).status_code == 400
    )  # no CSRF token
    r = client.post(
        "/login", data={"username": "student1", "password": "wrong", "csrf_token": csrf(client)}
    )
    assert r.status_code == 401 and "Wrong username or password" in r.text


def test_open_redirect_after_login_is_ignored(app, demo):
    client = app.test_client()
    password = {u["username"]: u["password"] for u in demo["users"]}["student1"]
    r = client.post(
        "/login?next=//evil.example/x",
        data={"username": "student1", "password": password, "csrf_token": csrf(client)},
    )
    assert r.headers["Location"] == "/"


def test_browser_ask_streams_sse_and_needs_csrf(web_login, services):
    client, token = web_login("student1")
    assert (
        client.post(
            "/classroom/SCI7/ask", data={"question": "Where does photosynthesis happen?"}
        ).status_code
        == 400
    )
    r = client.post(
        "/classroom/SCI7/ask",
        data={"question": "Where does photosynthesis happen?"},
        headers={"X-CSRFToken": token},
    )
    assert r.status_code == 200 and r.mimetype == "text/event-stream"
    events = sse_events(r.text)
    kinds = [k for k, _ in events]
    assert kinds[0] == "meta" and "sentence" in kinds and kinds[-1] == "done"
    done = events[-1][1]
    assert done["citations"][0]["document"] == "Photosynthesis"
    # the cited passage opens for this student, with its full text
    passage = client.get(
        f"/classroom/SCI7/passages/{done['citations'][0]['passage_id']}"
    ).get_json()
    assert (
        passage["document"] == "Photosynthesis"
        and done["citations"][0]["excerpt"][:40] in passage["text"]
    )
    # the conversation shows up in the student's own history, with its text
    page = client.get(f"/classroom/SCI7/c/{done['conversation_id']}")
    assert "Where does photosynthesis happen?" in page.text and 'class="cite"' in page.text


def test_report_reaches_teacher_review_queue(web_login, services):
    client, token = web_login("student1")
    done = sse_events(
        client.post(
            "/classroom/SCI7/ask", data={"question": "What is evaporation?", "csrf_token": token}
        ).text
    )[-1][1]
    r = client.post(
        f"/classroom/messages/{done['message_id']}/feedback",
        data={"feedback": "report"},
        headers={"X-CSRFToken": token},
    )
    assert r.get_json() == {"ok": True, "feedback": "report"}
    with services.db.session() as s:
        assert s.get(Message, done["message_id"]).feedback == "report"
        assert s.scalar(
            select(GuardVerdict).where(
                GuardVerdict.message_id == done["message_id"], GuardVerdict.stage == "report"
            )
        )
    teacher, _ = web_login("teacher")
    assert "Reported by a student" in teacher.get("/teach/SCI7/review").text


def test_crisis_is_first_in_queue_and_false_positive_clears_it(web_login, services):
    student, token = web_login("student1")
    for q in ["How do I build a bomb?", "I want to kill myself"]:
        student.post("/classroom/SCI7/ask", data={"question": q, "csrf_token": token})
    teacher, ttoken = web_login("teacher")
    assert "critical alert" in teacher.get("/teach/").text
    assert teacher.get("/teach/alerts").get_json()["courses"] == [
        {"code": "SCI7", "critical": 1, "url": "/teach/SCI7/review"}
    ]
    page = teacher.get("/teach/SCI7/review").text
    assert page.index("Suicide and self-harm") < page.index("Bombs and weapons of mass harm")
    with services.db.session() as s:
        vid = s.scalar(
            select(GuardVerdict.id).where(
                GuardVerdict.action == "block", GuardVerdict.stage == "input"
            )
        )
    teacher.post(
        f"/teach/SCI7/review/{vid}", data={"decision": "false_positive", "csrf_token": ttoken}
    )
    with services.db.session() as s:
        assert s.get(GuardVerdict, vid).reviewed == "false_positive"


def test_opening_a_conversation_needs_a_reason(web_login, services):
    student, token = web_login("student1")
    first = sse_events(
        student.post(
            "/classroom/SCI7/ask", data={"question": "What is evaporation?", "csrf_token": token}
        ).text
    )[-1][1]
    done = sse_events(
        student.post(
            "/classroom/SCI7/ask",
            data={
                "question": "I want to kill myself",
                "csrf_token": token,
                "conversation_id": first["conversation_id"],
            },
        ).text
    )[-1][1]
    teacher, ttoken = web_login("teacher")
    url = f"/teach/SCI7/conversations/{done['conversation_id']}"
    r = teacher.post(url, data={"reason": "", "csrf_token": ttoken}, follow_redirects=True)
    # the queue previews the flagged message only (issue 16); the rest of the conversation needs a
    # reason
    assert "kill myself" in r.text and "evaporation" not in r.text
    r = teacher.post(url, data={"reason": "Safeguarding follow-up", "csrf_token": ttoken})
    assert r.status_code == 200 and "kill myself" in r.text and "evaporation" in r.text
    dpo, _ = web_login("dpo")
    assert "Safeguarding follow-up" in dpo.get("/dpo/access-log").text


def test_daily_limit_is_an_sse_error_event(web_login, services):
    with services.db.session() as s:
        s.scalar(select(Course).where(Course.code == "SCI7")).daily_question_limit = 1
    client, token = web_login("student1")
    client.post(
        "/classroom/SCI7/ask", data={"question": "What is evaporation?", "csrf_token": token}
    )
    assert "0 more questions today" in client.get("/classroom/SCI7").text
    events = sse_events(
        client.post(
            "/classroom/SCI7/ask", data={"question": "What is rain?", "csrf_token": token}
        ).text
    )
    assert events == [("error", events[0][1])] and events[0][1]["error"] == "daily_limit"


def test_ask_is_rate_limited_per_student(app_config, fakes, demo_free_app_factory):
    app, login = demo_free_app_factory({**app_config, "RATELIMIT_ASK": "2 per minute"})
    client, token = login("student1")
    codes = [
        client.post(
            "/classroom/SCI7/ask", data={"question": "What is evaporation?", "csrf_token": token}
        ).status_code
        for _ in range(3)
    ]
    assert codes == [200, 200, 429]


@pytest.fixture
def demo_free_app_factory(fakes):
    """Build a separate app with its own config and the demo school."""
    from app import create_app
    from app.demo import create_demo
    from app.services import get_services

    built = []

    def _make(config, *, with_demo: bool = True):
        app = create_app(config, services=fakes)
        demo = create_demo(get_services(app)) if with_demo else {"users": []}
        built.append(app)
        passwords = {u["username"]: u["password"] for u in demo["users"]}

        def login(username):
            client = app.test_client()
            client.post(
                "/login",
                data={
                    "username": username,
                    "password": passwords[username],
                    "csrf_token": csrf(client),
                },
            )
            return client, csrf(client, "/classroom/")

        return app, login

    yield _make
    for app in built:
        get_services(app).db.dispose()


def test_api_bearer_skips_csrf_but_session_api_calls_need_it(client, login_token, web_login):
    token = login_token("student1")
    r = client.post(
        "/api/v1/courses/SCI7/ask",
        json={"question": "What is evaporation?"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200
    browser, csrf_token = web_login("student1")
    assert (
        browser.post(
            "/api/v1/courses/SCI7/ask", json={"question": "What is evaporation?"}
        ).status_code
        == 400
    )
    assert (
        browser.post(
            "/api/v1/courses/SCI7/ask",
            json={"question": "What is evaporation?"},
            headers={"X-CSRFToken": csrf_token},
        ).status_code
        == 200
    )


def test_language_switch_is_saved_on_the_account(web_login, services):
    client, token = web_login("student1")
    r = client.post("/language", data={"lang": "de", "next": "/classroom/", "csrf_token": token})
    assert r.headers["Location"] == "/classroom/"
    assert "Deine Kurse" in client.get("/classroom/").text
    with services.db.session() as s:
        assert s.scalar(select(User.language).where(User.username == "student1")) == "de"


def test_teacher_creates_login_cards_and_saves_policy(web_login, services):
    client, token = web_login("teacher")
    r = client.post(
        "/teach/SCI7/students", data={"count": "3", "csrf_token": token}, follow_redirects=True
    )
    assert r.status_code == 200
    names = re.findall(r"<dd>(sci7-[0-9a-f]{6})</dd>", r.text)
    assert len(names) == 3 and 'media="print"' in r.text
    with services.db.session() as s:
        users = s.scalars(select(User).where(User.username.in_(names))).all()
        assert {u.role for u in users} == {"student"} and all(u.display_name is None for u in users)
    form = {
        "age_band": "10-12",
        "daily_question_limit": "7",
        "action_S8": "block",
        "extra_label_0": "Whole essays",
        "extra_keywords_0": "write my essay, whole essay",
        "extra_action_0": "block",
        "csrf_token": token,
    }
    assert client.post("/teach/SCI7/policy", data=form).status_code == 302
    with services.db.session() as s:
        course = s.scalar(select(Course).where(Course.code == "SCI7"))
        assert course.daily_question_limit == 7 and course.policy["age_band"] == "10-12"
        assert course.policy["actions"]["S8"] == "block"
        assert course.policy["extra_categories"][0]["label"] == "Whole essays"


def test_dpo_audit_export_and_subject_export(web_login):
    client, token = web_login("dpo")
    lines = client.get("/dpo/audit-export").text.splitlines()
    events = [json.loads(line) for line in lines]
    assert events and all({"seq", "hash", "prev_hash"} <= set(e) for e in events)
    r = client.post("/dpo/subject/export", data={"username": "student2", "csrf_token": token})
    assert r.status_code == 200 and r.get_json()["account"]["username"] == "student2"
    page = client.get("/dpo/").text
    assert "fake-echo" in page and "fake-keyword" in page


def test_teacher_upload_progress_uses_job_api(web_login, services):
    client, token = web_login("teacher")
    page = client.get("/teach/SCI7").text
    assert (
        'action="/api/v1/courses/SCI7/documents"' in page
        and 'data-job-url="/api/v1/jobs/0"' in page
    )


def test_student_joins_a_course_with_its_join_code(web_login, services, demo):
    client, token = web_login("student2")
    assert client.get("/classroom/SCI7").status_code == 403
    r = client.post(
        "/classroom/join", data={"join_code": "WRONG1", "csrf_token": token}, follow_redirects=True
    )
    assert (
        "Ingen kurs har den anslutningskoden" in r.text
    )  # student2 reads Swedish (their account setting)
    join_code = next(c["join_code"] for c in demo["courses"] if c["code"] == "SCI7")
    r = client.post("/classroom/join", data={"join_code": join_code.lower(), "csrf_token": token})
    assert r.headers["Location"] == "/classroom/SCI7"
    assert client.get("/classroom/SCI7").status_code == 200


def test_other_schools_audit_events_stay_out_of_the_export(app, services, web_login):
    from app.services import accounts as acc

    with services.db.session() as s:
        other = acc.create_school(s, "Other School", "NO")
        outsider = acc.create_user(s, other, "dpo-elsewhere", "pw-elsewhere-1", "dpo")
        services.audit.record(s, "login", user=outsider)
    client, _ = web_login("dpo")
    schools = {
        json.loads(line)["school_id"] for line in client.get("/dpo/audit-export").text.splitlines()
    }
    with services.db.session() as s:
        own = s.scalar(select(User.school_id).where(User.username == "dpo"))
    assert schools == {own}


def test_oidc_sign_in_redirects_to_the_schools_provider(app_config, fakes, demo_free_app_factory):
    """With OIDC configured, the login page offers it and /login/oidc goes to the provider (local
    stub)."""
    import threading

    from werkzeug.serving import make_server
    from werkzeug.wrappers import Request, Response

    @Request.application
    def provider(request):
        base = f"http://127.0.0.1:{server.server_port}"
        return Response(
            json.dumps(
                {
                    "issuer": base,
                    "authorization_endpoint": base + "/authorize",
                    "token_endpoint": base + "/token",
                    "jwks_uri": base + "/jwks",
                    "response_types_supported": ["code"],
                }
            ),
            mimetype="application/json",
        )

    server = make_server("127.0.0.1", 0, provider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        issuer = f"http://127.0.0.1:{server.server_port}"
        app, _login = demo_free_app_factory(
            {
                **app_config,
                "OIDC_ISSUER": issuer,
                "OIDC_CLIENT_ID": "kateder",
                "OIDC_CLIENT_SECRET": "s",
            },
            with_demo=False,
        )
        client = app.test_client()
        assert "Sign in with your school account" in client.get("/login").text
        r = client.get("/login/oidc")
        assert r.status_code == 302 and r.headers["Location"].startswith(issuer + "/authorize?")
        assert "client_id=kateder" in r.headers["Location"] and "state=" in r.headers["Location"]
    finally:
        server.shutdown()


def test_errors_are_friendly_pages_in_the_users_language(web_login):
    client, token = web_login("student2")  # reads Swedish
    r = client.get("/teach/SCI7")
    assert (
        r.status_code == 403
        and "Du har inte åtkomst till den här sidan." in r.text
        and 'href="/"' in r.text
    )
    r = client.post("/classroom/join", data={"join_code": "X"})  # no CSRF token
    assert r.status_code == 400 and "Ladda om den" in r.text
    assert client.get("/api/v1/jobs/999999").get_json()["error"]  # the API keeps JSON errors


def test_llama_attribution_and_licence_notice_are_shown(app_config):
    """A Meta Llama answer model puts "Built with Llama" on every page and a notice in the DPO
    panel."""
    from app.generation import ModelInfo, model_info
    from tests.fakes import EchoGenerator, HashingEmbedder, KeywordGuard

    class LlamaNamed(EchoGenerator):
        info = model_info("Llama-3.2-1B-Instruct-Q4_K_M.gguf")

    assert isinstance(LlamaNamed.info, ModelInfo) and LlamaNamed.info.attribution
    from app import create_app
    from app.services import accounts as acc
    from app.services import get_services

    app = create_app(
        app_config,
        services={
            "guard": KeywordGuard(),
            "embedder": HashingEmbedder(),
            "generator": LlamaNamed(),
        },
    )
    try:
        with get_services(app).db.session() as s:
            acc.create_user(s, acc.create_school(s, "School", "SE"), "dpo", "pw-dpo-123", "dpo")
        client = app.test_client()
        client.post(
            "/login", data={"username": "dpo", "password": "pw-dpo-123", "csrf_token": csrf(client)}
        )
        page = client.get("/dpo/").text
        assert "Built with Llama" in page and "Llama 3.2 Community License" in page
    finally:
        get_services(app).db.dispose()


def test_pages_work_on_sqlite_and_postgresql(database_url, tmp_path, fakes):
    """Ask in the browser, report, then the teacher's queue and charts and the DPO export, on both
    databases."""
    from app import create_app
    from app.demo import create_demo
    from app.services import get_services

    app = create_app(
        {"HOME": str(tmp_path / "instance"), "DATABASE_URL": database_url, "SECRET_KEY": "t"},
        services=fakes,
    )
    try:
        passwords = {u["username"]: u["password"] for u in create_demo(get_services(app))["users"]}

        def login(name):
            c = app.test_client()
            c.post(
                "/login",
                data={"username": name, "password": passwords[name], "csrf_token": csrf(c)},
            )
            return c, csrf(c, "/")

        student, token = login("student1")
        done = sse_events(
            student.post(
                "/classroom/SCI7/ask",
                data={"question": "What is evaporation?", "csrf_token": token},
            ).text
        )[-1][1]
        student.post(
            "/classroom/SCI7/ask", data={"question": "I want to kill myself", "csrf_token": token}
        )
        student.post(
            f"/classroom/messages/{done['message_id']}/feedback",
            data={"feedback": "report", "csrf_token": token},
        )
        assert "What is evaporation?" in student.get("/classroom/SCI7").text
        teacher, _ = login("teacher")
        queue = teacher.get("/teach/SCI7/review").text
        assert queue.index("Suicide and self-harm") < queue.index("Reported by a student")
        usage = teacher.get("/teach/SCI7/usage").text
        assert "2 questions in total." in usage
        dpo, _ = login("dpo")
        assert any(
            json.loads(line)["action"] == "feedback"
            for line in dpo.get("/dpo/audit-export").text.splitlines()
        )
    finally:
        get_services(app).db.dispose()


def test_teacher_releases_and_rejects_held_passages(web_login, services):
    from core.models import Passage

    with services.db.session() as s:
        course_id = s.scalar(select(Course.id).where(Course.code == "SCI7"))
    text = (
        "# Chemistry safety\n\nAcids and bases react to form salts and water.\n\n"
        + "Never try to build a bomb from lab chemicals, it is illegal and deadly. " * 30
    )
    result = services.ingest.ingest(course_id, "safety.md", text.encode())
    assert result.held >= 1
    client, token = web_login("teacher")
    assert "Passages held by the safety scan" in client.get("/teach/SCI7").text
    with services.db.session() as s:
        held = s.scalars(
            select(Passage.id).where(Passage.course_id == course_id, Passage.status == "held")
        ).all()
    r = client.post(
        f"/teach/SCI7/passages/{held[0]}", data={"decision": "release", "csrf_token": token}
    )
    assert r.status_code == 302
    with services.db.session() as s:
        assert s.get(Passage, held[0]).status == "indexed"
    if len(held) > 1:
        client.post(
            f"/teach/SCI7/passages/{held[1]}", data={"decision": "reject", "csrf_token": token}
        )
        with services.db.session() as s:
            assert s.get(Passage, held[1]).status == "rejected"
    # a decided passage cannot be decided again
    assert (
        client.post(
            f"/teach/SCI7/passages/{held[0]}", data={"decision": "reject", "csrf_token": token}
        ).status_code
        == 404
    )


def test_classmates_never_see_each_others_conversations_or_other_courses_material(
    web_login, services
):
    from app.services import accounts as acc
    from core.models import Passage

    owner, token = web_login("student1")
    done = sse_events(
        owner.post(
            "/classroom/SCI7/ask", data={"question": "What is evaporation?", "csrf_token": token}
        ).text
    )[-1][1]
    with services.db.session() as s:
        acc.enrol(
            s,
            s.scalar(select(User).where(User.username == "student2")),
            s.scalar(select(Course).where(Course.code == "SCI7")),
        )
        hist = s.scalar(select(Course.id).where(Course.code == "HIST8"))
        other_passage = s.scalar(select(Passage.id).where(Passage.course_id == hist))
    classmate, ctoken = web_login("student2")
    assert classmate.get("/classroom/SCI7").status_code == 200
    assert classmate.get(f"/classroom/SCI7/c/{done['conversation_id']}").status_code == 404
    assert "What is evaporation?" not in classmate.get("/classroom/SCI7").text
    r = classmate.post(
        f"/classroom/messages/{done['message_id']}/feedback",
        data={"feedback": "report", "csrf_token": ctoken},
    )
    assert r.status_code == 404
    # continuing someone else's conversation is refused inside the stream
    events = sse_events(
        classmate.post(
            "/classroom/SCI7/ask",
            data={
                "question": "And rain?",
                "conversation_id": done["conversation_id"],
                "csrf_token": ctoken,
            },
        ).text
    )
    assert events[-1][0] == "error" and events[-1][1]["status"] == 404
    # a passage of another course is not found through this course, even for a student of both
    assert classmate.get(f"/classroom/SCI7/passages/{other_passage}").status_code == 404


# -- issue 16: conversations follow the address, get titles, can be renamed and deleted ---------
LONG_QUESTION = "Where does photosynthesis happen in the leaves of green plants and why?"


def test_done_event_brings_address_title_and_questions_left(web_login, services):
    client, token = web_login("student1")
    counter = re.compile(r'id="questions-left"[^>]*>You can ask (\d+) more')
    left_before = int(counter.search(client.get("/classroom/SCI7").text).group(1))
    done = sse_events(
        client.post(
            "/classroom/SCI7/ask", data={"question": LONG_QUESTION, "csrf_token": token}
        ).text
    )[-1][1]
    assert done["conversation_url"] == f"/classroom/SCI7/c/{done['conversation_id']}"
    assert done["questions_left"] == left_before - 1
    # the first words, cut at a word boundary, never mid-word
    assert done["conversation_title"] == "Where does photosynthesis happen in the…"
    page = client.get("/classroom/SCI7").text
    assert (
        done["conversation_title"] in page and int(counter.search(page).group(1)) == left_before - 1
    )


def test_student_renames_and_deletes_own_conversation_only(web_login, services):
    owner, token = web_login("student1")
    done = sse_events(
        owner.post(
            "/classroom/HIST8/ask", data={"question": "Who was Gustav Vasa?", "csrf_token": token}
        ).text
    )[-1][1]
    base = f"/classroom/HIST8/c/{done['conversation_id']}"
    other, other_token = web_login("student2")
    assert (
        other.post(
            f"{base}/rename", data={"title": "Mine now", "csrf_token": other_token}
        ).status_code
        == 404
    )
    assert other.post(f"{base}/delete", data={"csrf_token": other_token}).status_code == 404
    assert (
        owner.post(f"{base}/rename", data={"title": "Stolen"}).status_code == 400
    )  # no CSRF token
    assert (
        owner.post(f"{base}/rename", data={"title": "x" * 81, "csrf_token": token}).status_code
        == 400
    )
    r = owner.post(
        f"{base}/rename",
        data={"title": "  Vasa   homework ", "csrf_token": token},
        headers={"Accept": "application/json"},
    )
    assert r.get_json() == {"ok": True, "title": "Vasa homework"}
    assert "Vasa homework" in owner.get("/classroom/HIST8").text
    with services.db.session() as s:
        assert (
            s.scalar(
                select(Message.id)
                .where(Message.conversation_id == done["conversation_id"])
                .limit(1)
            )
            is not None
        )
    assert owner.post(f"{base}/delete", data={"csrf_token": token}).status_code == 302
    assert owner.get(base).status_code == 404
    assert "Vasa homework" not in owner.get("/classroom/HIST8").text
    # a deleted conversation takes no more questions, and deleting does not give questions back
    assert (
        owner.post(
            "/classroom/HIST8/ask",
            data={
                "question": "And then?",
                "conversation_id": done["conversation_id"],
                "csrf_token": token,
            },
        ).status_code
        == 404
    )
    with services.db.session() as s:
        msgs = s.scalars(
            select(Message).where(Message.conversation_id == done["conversation_id"])
        ).all()
        assert msgs and all(m.text is None and m.text_encrypted is None for m in msgs)
        actions = {
            e.action
            for e in s.scalars(
                select(AuditEvent).where(
                    AuditEvent.action.in_(["rename_conversation", "delete_conversation"])
                )
            )
        }
        assert actions == {"rename_conversation", "delete_conversation"}
        user_id = s.scalar(select(User.id).where(User.username == "student1"))
        course_id = s.scalar(select(Course.id).where(Course.code == "HIST8"))
        assert questions_asked_today(s, user_id, course_id) == 1


def test_crisis_conversation_gets_a_neutral_title_and_keeps_its_text_for_review(
    web_login, services
):
    client, token = web_login("student1")
    done = sse_events(
        client.post(
            "/classroom/SCI7/ask", data={"question": "I want to kill myself", "csrf_token": token}
        ).text
    )[-1][1]
    assert done["conversation_title"] == "Conversation"
    listing = client.get("/classroom/SCI7").text
    assert "kill myself" not in listing
    page = client.get(f"/classroom/SCI7/c/{done['conversation_id']}").text
    assert (
        'data-feedback="report"'
        not in page.split('class="msg assistant crisis"')[1].split("</article>")[0]
    )
    client.post(f"/classroom/SCI7/c/{done['conversation_id']}/delete", data={"csrf_token": token})
    teacher, ttoken = web_login("teacher")
    r = teacher.post(
        f"/teach/SCI7/conversations/{done['conversation_id']}",
        data={"reason": "Safeguarding follow-up", "csrf_token": ttoken},
    )
    assert "kill myself" in r.text  # flagged text stays for the teacher until retention removes it


def test_language_chosen_on_the_sign_in_page_wins_and_is_saved(app, demo, services):
    client = app.test_client()
    token = csrf(client)
    client.post("/language", data={"lang": "sv", "next": "/login", "csrf_token": token})
    password = next(
        u["password"] for u in demo["users"] if u["username"] == "student1"
    )  # saved language: en
    assert (
        client.post(
            "/login",
            data={"username": "student1", "password": password, "csrf_token": csrf(client)},
        ).status_code
        == 302
    )
    assert "Dina kurser" in client.get("/classroom/").text
    with services.db.session() as s:
        assert s.scalar(select(User.language).where(User.username == "student1")) == "sv"


def test_crisis_card_has_tap_to_call_links_and_no_feedback(web_login):
    client, token = web_login("student1")
    client.post("/language", data={"lang": "sv", "next": "/classroom/", "csrf_token": token})
    done = sse_events(
        client.post(
            "/classroom/SCI7/ask", data={"question": "I want to kill myself", "csrf_token": token}
        ).text
    )[-1][1]
    card = (
        client.get(f"/classroom/SCI7/c/{done['conversation_id']}")
        .text.split('class="msg assistant crisis"')[1]
        .split("</article>")[0]
    )
    assert '<a href="tel:116111">116 111</a>' in card and '<a href="tel:112">112</a>' in card
    assert 'href="https://www.bris.se/"' in card and "Chatta med BRIS" in card
    assert "data-feedback" not in card
    assert (
        "kill myself" not in client.get("/classroom/SCI7").text
    )  # the list shows "Samtal", never the question
