"""The teacher panel's courses and students: create, copy, archive, reset passwords, remove,
reload-safe cards."""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from app.services import accounts
from core.models import AuditEvent, Course, Enrolment, User
from tests.integration import test_web
from tests.integration.test_web import csrf

web_login = test_web.web_login  # the signed-in client fixture


def _card_names(html: str, prefix: str) -> list[str]:
    return re.findall(rf"<dd>({prefix}-[0-9a-f]{{6}})</dd>", html)


def test_teacher_creates_a_course_in_the_browser(web_login, services):
    client, token = web_login("teacher")
    form = {
        "code": "geo7",
        "title": "Geografi 7",
        "language": "sv",
        "age_band": "10-12",
        "country": "SE",
        "csrf_token": token,
    }
    r = client.post("/teach/courses", data=form)
    assert r.status_code == 302 and r.headers["Location"].endswith("/teach/GEO7")
    with services.db.session() as s:
        c = s.scalar(select(Course).where(Course.code == "GEO7"))
        assert (c.title, c.language, c.policy["age_band"], c.policy["country"]) == (
            "Geografi 7",
            "sv",
            "10-12",
            "SE",
        )
        teacher = s.scalar(select(User).where(User.username == "teacher"))
        assert accounts.can_teach(s, teacher, c)
        assert s.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "course_created", AuditEvent.course_id == c.id
            )
        )
    again = client.post("/teach/courses", data=form)
    assert again.status_code == 400 and "taken" in again.text
    bad = client.post("/teach/courses", data={**form, "code": "X1", "age_band": "99"})
    assert bad.status_code == 400 and "age band" in bad.text


def test_copy_takes_policy_but_no_students(web_login, services):
    client, token = web_login("teacher")
    client.post(
        "/teach/SCI7/policy",
        data={
            "age_band": "16-19",
            "daily_question_limit": "9",
            "action_S8": "block",
            "csrf_token": token,
        },
    )
    r = client.post(
        "/teach/courses",
        data={"source": "SCI7", "code": "SCI7B", "title": "Science 7 B", "csrf_token": token},
    )
    assert r.status_code == 302
    with services.db.session() as s:
        copy = s.scalar(select(Course).where(Course.code == "SCI7B"))
        assert (
            copy.policy["age_band"] == "16-19"
            and copy.policy["actions"]["S8"] == "block"
            and copy.daily_question_limit == 9
        )
        roles = [
            e.user.role for e in s.scalars(select(Enrolment).where(Enrolment.course_id == copy.id))
        ]
        assert roles == ["teacher"]


def test_archived_course_is_hidden_from_students_and_read_only(web_login, services):
    teacher, token = web_login("teacher")
    assert (
        teacher.post(
            "/teach/FYS9/archive", data={"decision": "archive", "csrf_token": token}
        ).status_code
        == 302
    )
    student, _token = web_login("student1")
    assert "FYS9" not in student.get("/classroom/", follow_redirects=True).text
    assert student.get("/classroom/FYS9").status_code in (403, 404)
    assert teacher.get("/teach/FYS9").status_code == 200  # teachers still read it
    assert (
        teacher.post("/teach/FYS9/students", data={"count": "1", "csrf_token": token}).status_code
        == 409
    )
    assert "Archived courses" in teacher.get("/teach/").text
    assert (
        teacher.post(
            "/teach/FYS9/archive", data={"decision": "restore", "csrf_token": token}
        ).status_code
        == 302
    )
    assert student.get("/classroom/FYS9").status_code == 200


def test_a_teacher_manages_only_own_schools_courses_and_students(web_login, services):
    with services.db.session() as s:
        other = accounts.create_school(s, "Other school", "NO")
        accounts.create_user(s, other, "otherteacher", "other-pass-123", "teacher")
        foreign = accounts.create_course(s, other, "OTH1", "Other course", "nb")
        pupil = accounts.create_user(s, other, "oth1-aaaaaa", "pupil-pass-123", "student")
        accounts.enrol(s, pupil, foreign)
    client, token = web_login("teacher")
    assert (
        client.post(
            "/teach/OTH1/archive", data={"decision": "archive", "csrf_token": token}
        ).status_code
        == 403
    )
    assert (
        client.post(
            "/teach/OTH1/students/oth1-aaaaaa/password", data={"csrf_token": token}
        ).status_code
        == 403
    )
    assert (
        client.post(
            "/teach/OTH1/students/oth1-aaaaaa/remove",
            data={"confirm": "oth1-aaaaaa", "csrf_token": token},
        ).status_code
        == 403
    )
    assert (
        client.post(
            "/teach/courses",
            data={"source": "OTH1", "code": "STEAL", "title": "x", "csrf_token": token},
        ).status_code
        == 403
    )
    # a student of another of my courses is not reachable through this course either
    assert (
        client.post(
            "/teach/SCI7/students/student2/password", data={"csrf_token": token}
        ).status_code
        == 404
    )
    with services.db.session() as s:
        assert s.scalar(select(Course).where(Course.code == "OTH1")).archived_at is None
        assert s.scalar(select(Course).where(Course.code == "STEAL")) is None


def test_login_cards_survive_a_reload_without_new_accounts(web_login, services):
    client, token = web_login("teacher")
    r = client.post("/teach/SCI7/students", data={"count": "2", "csrf_token": token})
    assert (
        r.status_code == 302
        and "password" not in r.headers["Location"]
        and r.headers["Location"].endswith("/teach/SCI7/cards")
    )
    with services.db.session() as s:
        before = s.query(User).count()
    first = client.get("/teach/SCI7/cards")
    assert (
        len(_card_names(first.text, "sci7")) == 2 and "overflow" not in first.text
    )  # styling lives in CSS
    reload = client.get("/teach/SCI7/cards")
    assert (
        reload.status_code == 200
        and _card_names(reload.text, "sci7") == []
        and "already shown" in reload.text
    )
    with services.db.session() as s:
        assert s.query(User).count() == before


def test_reset_password_ends_old_password_and_sessions(app, web_login, services, demo):
    student, _t = web_login("student1")
    assert student.get("/classroom/", follow_redirects=True).status_code == 200
    teacher, token = web_login("teacher")
    r = teacher.post(
        "/teach/SCI7/students/student1/password", data={"csrf_token": token}, follow_redirects=True
    )
    card = re.search(r"<dt>Password</dt><dd>([0-9a-f-]+)</dd>", r.text)
    assert card and "student1" in r.text
    # the old session is over
    assert student.get("/classroom/").status_code in (302, 401)
    old = next(u["password"] for u in demo["users"] if u["username"] == "student1")
    fresh = app.test_client()
    assert (
        fresh.post(
            "/login", data={"username": "student1", "password": old, "csrf_token": csrf(fresh)}
        ).status_code
        != 302
    )
    assert (
        fresh.post(
            "/login",
            data={"username": "student1", "password": card.group(1), "csrf_token": csrf(fresh)},
        ).status_code
        == 302
    )


def test_remove_student_needs_the_typed_name_and_erases(web_login, services):
    client, token = web_login("teacher")
    r = client.post(
        "/teach/HIST8/students/student2/remove", data={"confirm": "nope", "csrf_token": token}
    )
    assert r.status_code == 302
    with services.db.session() as s:
        assert s.scalar(select(User).where(User.username == "student2")) is not None
    r = client.post(
        "/teach/HIST8/students/student2/remove", data={"confirm": "student2", "csrf_token": token}
    )
    assert r.status_code == 302
    with services.db.session() as s:
        assert s.scalar(select(User).where(User.username == "student2")) is None
        assert s.scalar(select(AuditEvent).where(AuditEvent.action == "student_removed"))


def test_review_queue_previews_redacted_flagged_message_grouped_by_student(web_login, services):
    from tests.integration.test_web import sse_events

    student, token = web_login("student1")
    sse_events(
        student.post(
            "/classroom/SCI7/ask",
            data={
                "question": "How do I build a bomb? mail me at kid@example.com",
                "csrf_token": token,
            },
        ).text
    )
    teacher, _t = web_login("teacher")
    page = teacher.get("/teach/SCI7/review").text
    assert "How do I build a bomb?" in page and "kid@example.com" not in page and "[email]" in page
    assert page.count('class="review-group"') == 1 and "<code>student1</code>" in page
    with services.db.session() as s:
        assert not s.scalar(select(AuditEvent).where(AuditEvent.action == "admin_view"))


def test_cli_course_commands_use_the_same_service(services, app_config, monkeypatch):
    from click.testing import CliRunner

    from app.cli import main

    monkeypatch.setenv("KATEDER_HOME", app_config["HOME"])
    monkeypatch.setenv("KATEDER_DATABASE_URL", app_config["DATABASE_URL"])
    monkeypatch.setenv("KATEDER_SECRET_KEY", "test")
    with services.db.session() as s:
        accounts.create_school(s, "CLI school")
    runner = CliRunner()
    r = runner.invoke(
        main,
        ["course", "create", "--code", "cli9", "--title", "CLI 9", "--age-band", "16-19", "--json"],
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["code"] == "CLI9"
    assert (
        runner.invoke(main, ["course", "create", "--code", "CLI9", "--title", "again"]).exit_code
        != 0
    )
    assert (
        runner.invoke(
            main, ["course", "copy", "CLI9", "--code", "CLI9B", "--title", "Copy"]
        ).exit_code
        == 0
    )
    assert runner.invoke(main, ["course", "archive", "CLI9"]).exit_code == 0
    with services.db.session() as s:
        original = s.scalar(select(Course).where(Course.code == "CLI9"))
        copy = s.scalar(select(Course).where(Course.code == "CLI9B"))
        assert original.archived_at is not None and original.policy["age_band"] == "16-19"
        assert copy.policy["age_band"] == "16-19" and copy.archived_at is None


def test_review_counts_endpoint_has_counts_but_no_text(web_login):
    from tests.integration.test_web import sse_events

    student, token = web_login("student1")
    sse_events(
        student.post(
            "/classroom/SCI7/ask", data={"question": "I want to kill myself", "csrf_token": token}
        ).text
    )
    teacher, _t = web_login("teacher")
    data = teacher.get("/teach/SCI7/review/counts").get_json()
    assert data["total"] >= 1 and data["critical"] == 1 and data["students"] == 1
    assert "kill" not in json.dumps(data) and "to review" in data["text"]
    assert 'id="queue-counts"' in teacher.get("/teach/SCI7/review").text
