"""Issue 16, the teacher panel's rest: policy presets and plain names, material warnings and
refresh, the month's usage, crisis alerts by e-mail, translated course errors."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from sqlalchemy import func, select

from app.services import accounts
from core.models import AuditEvent, Course, Job, School, User
from tests.integration import test_web
from tests.integration.test_web import csrf
from tests.smtp_server import SmtpServer

web_login = test_web.web_login  # the signed-in client fixture


@pytest.fixture
def smtp():
    """A local SMTP server on 127.0.0.1 that keeps what it receives."""
    with SmtpServer() as server:
        yield server


@pytest.fixture
def app_config(app_config, smtp):
    """The test app with a mail server, its public address, and jobs run by the test (as
    ``kateder worker`` would)."""
    return {
        **app_config,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": smtp.port,
        "SMTP_FROM": "kateder@school.example",
        "PUBLIC_URL": "https://kateder.school.example/",
        "JOBS_IN_PROCESS": False,
    }


class _Form(HTMLParser):
    """The fields a browser would send for the form posting to ``action`` (inputs, checked
    selects)."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action, self.inside, self.select, self.fields = action, False, None, {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("action") == self.action
        elif self.inside and tag == "input" and a.get("name") and a.get("type") != "checkbox":
            self.fields[a["name"]] = a.get("value", "")
        elif self.inside and tag == "select":
            self.select = a["name"]
        elif self.inside and tag == "option" and self.select and "selected" in a:
            self.fields[self.select] = a["value"]

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None


def form_fields(html: str, action: str) -> dict[str, str]:
    """What submitting the form with ``action`` sends, as the page shows it."""
    parser = _Form(action)
    parser.feed(html)
    return parser.fields


def _run_jobs(services) -> int:
    """Run every queued job now, as ``kateder worker`` does; how many ran."""
    ran = 0
    while (job_id := services.jobs.claim()) is not None:
        services.jobs.run_job(job_id)
        ran += 1
    return ran


# -- safety policy -------------------------------------------------------------------------------
def test_policy_page_uses_plain_names_with_examples_and_says_what_actions_do(web_login):
    client, token = web_login("teacher")
    page = client.get("/teach/SCI7/policy").text
    assert "S14 ·" not in page and "Code interpreter abuse" not in page
    assert "Misusing the computer behind the assistant" in page
    assert "Run this code and delete all the files on the server" in page  # the example
    assert (
        "Nothing is flagged to you" in page and "appears in your review queue" in page
    )  # what the actions do
    client.post("/language", data={"lang": "sv", "next": "/teach/", "csrf_token": token})
    swedish = client.get("/teach/SCI7/policy").text
    assert (
        "Att missbruka datorn bakom assistenten" in swedish and "Missbruk av kodtolk" not in swedish
    )


def test_every_category_has_a_plain_name_and_example_in_every_language():
    from guard.taxonomy import CATEGORIES, plain_categories

    for language in ("en", "sv", "nb", "de", "it"):
        texts = plain_categories(language)
        assert list(texts) == list(CATEGORIES)
        assert all(t.name and t.example for t in texts.values()), language
    assert (
        plain_categories("sv")["S1"] != plain_categories("en")["S1"]
    )  # really translated, not the fallback


def test_a_preset_shows_its_changes_first_and_saving_the_form_applies_it(web_login, services):
    client, token = web_login("teacher")
    preview = client.get("/teach/SCI7/policy?preset=6-9")
    assert preview.status_code == 200
    changed = set(re.findall(r'<tr data-field="([^"]+)">', preview.text))
    # 13-15 defaults -> 6-9: the band, the daily limit, specialised advice blocked, hate and sexual
    # content alert
    assert {"age_band", "daily_question_limit", "action_S6", "action_S10", "action_S12"} <= changed
    assert "action_S1" not in changed  # unchanged actions are not listed
    assert "not saved yet" in preview.text
    with services.db.session() as s:
        course = s.scalar(select(Course).where(Course.code == "SCI7"))
        assert (
            course.daily_question_limit == 50
            and CoursePolicy_dict(course)["actions"]["S6"] == "care"
        )  # nothing saved
    fields = form_fields(preview.text, "/teach/SCI7/policy")
    assert (
        fields["age_band"] == "6-9"
        and fields["daily_question_limit"] == "20"
        and fields["action_S6"] == "block"
    )
    assert (
        client.post("/teach/SCI7/policy", data={**fields, "csrf_token": token}).status_code == 302
    )
    with services.db.session() as s:
        course = s.scalar(select(Course).where(Course.code == "SCI7"))
        saved = CoursePolicy_dict(course)
        assert course.daily_question_limit == 20 and saved["age_band"] == "6-9"
        assert (saved["actions"]["S6"], saved["actions"]["S10"], saved["actions"]["S12"]) == (
            "block",
            "alert",
            "alert",
        )
    again = client.get("/teach/SCI7/policy?preset=6-9").text
    assert "changes nothing" in again
    assert client.get("/teach/SCI7/policy?preset=99").status_code == 400


def CoursePolicy_dict(course: Course) -> dict:  # noqa: N802 - reads like the class it stands for
    from guard.policy import CoursePolicy

    return CoursePolicy.from_dict(course.policy).to_dict()


def test_presets_never_touch_self_harm_and_cover_every_age_band():
    from guard.policy import AGE_BANDS, CoursePolicy, age_presets, with_preset

    assert set(age_presets()) == set(AGE_BANDS)
    for band in AGE_BANDS:
        policy = with_preset(CoursePolicy(), band)
        assert "S11" not in age_presets()[band]["actions"]
        assert policy.action_for(["S11"]) == "crisis"


# -- material -------------------------------------------------------------------------------------
def test_near_duplicate_title_is_a_warning_and_the_upload_still_goes_through(web_login, services):
    client, token = web_login("teacher")

    def warnings(name: str) -> list[str]:
        r = client.get("/teach/SCI7/material/similar", query_string={"name": name})
        assert r.status_code == 200
        return r.get_json()["warnings"]

    assert any(
        "Photosynthesis" in w and "separate document" in w
        for w in warnings("Photosynthesis (1).pdf")
    )
    assert any("Photosynthesis" in w for w in warnings("PHOTOSYNTHESES.docx"))  # high similarity
    assert any(
        "replaces the current version" in w for w in warnings("photosynthesis.md")
    )  # same file: a new version
    assert warnings("volcanoes.pdf") == [] and warnings("") == []
    assert warnings("water-cycle-2.md") == []  # different numbers: another document, not a copy
    # only a warning: the same upload is accepted
    r = client.post(
        "/api/v1/courses/SCI7/documents",
        data={"file": (_bytes("Photosynthesis again."), "Photosynthesis (1).md")},
        headers={"X-CSRFToken": token},
        content_type="multipart/form-data",
    )
    assert r.status_code == 202, r.get_json()


def _bytes(text: str):
    import io

    return io.BytesIO(text.encode())


def test_material_list_json_follows_the_jobs(web_login, services):
    client, token = web_login("teacher")
    before = client.get("/teach/SCI7/material/documents").get_json()
    assert before["active"] == 0 and {d["filename"] for d in before["documents"]} >= {
        "photosynthesis.md",
        "water-cycle.md",
    }
    r = client.post(
        "/api/v1/courses/SCI7/documents",
        data={"file": (_bytes("# Volcanoes\n\nLava cools into rock."), "volcanoes.md")},
        headers={"X-CSRFToken": token},
        content_type="multipart/form-data",
    )
    assert r.status_code == 202
    assert client.get("/teach/SCI7/material/documents").get_json()["active"] == 1
    page = client.get("/teach/SCI7").text
    assert 'data-active="1"' in page  # the page polls while the job runs
    assert _run_jobs(services) == 1
    after = client.get("/teach/SCI7/material/documents").get_json()
    row = next(d for d in after["documents"] if d["filename"] == "volcanoes.md")
    assert (
        after["active"] == 0
        and row["passages"] >= 1
        and row["status_label"]
        and row["version"] == 1
    )


# -- usage ----------------------------------------------------------------------------------------
def _student(services, username: str, course: str = "SCI7") -> int:
    with services.db.session() as s:
        school = s.scalar(select(School))
        user = accounts.create_user(s, school, username, "pupil-pass-123", "student")
        accounts.enrol(s, user, s.scalar(select(Course).where(Course.code == course)))
        return user.id


def test_usage_page_counts_the_month_and_lists_unanswered_and_most_asked(web_login, services):
    client, _token = web_login("teacher")
    with services.db.session() as s:
        first = s.scalar(select(User.id).where(User.username == "student1"))
    second = _student(services, "sci7-bbbbbb")
    ask = services.ask.ask
    ask(first, "SCI7", "Where does photosynthesis happen?")
    ask(second, "SCI7", "where does photosynthesis happen")  # same question, written differently
    ask(first, "SCI7", "Where does photosynthesis happen ?")
    unanswered = ask(first, "SCI7", "What is the capital of Mongolia? Mail me at anna@example.com")
    assert unanswered.mode == "not_covered"
    for _ in range(3):  # one student's own repeated question is not "most asked"
        ask(second, "SCI7", "How does the water cycle work?")
    ask(first, "SCI7", "How do I build a bomb?")  # refused: counted, never listed
    page = client.get("/teach/SCI7/usage").text
    stat = dict(re.findall(r'<dd data-stat="(\w+)">(\d+)</dd>', page))
    assert stat["total"] == "8" and stat["students"] == "2" and stat["not_covered"] == "1"
    unanswered_table = page.split('id="unanswered"')[1].split("</table>")[0]
    assert "capital of Mongolia" in unanswered_table and "[email]" in unanswered_table
    assert "anna@example.com" not in page
    top = page.split('id="top-questions"')[1].split("</table>")[0]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", top, re.S)
    assert "photosynthesis happen" in cells[0] and "3" in cells[1] and cells[2] == "2"
    assert "water cycle" not in top and "bomb" not in page
    assert "student1" not in page and "sci7-bbbbbb" not in page  # never a name
    assert "<svg" in page  # the charts
    old = client.get("/teach/SCI7/usage?month=2001-01").text
    assert re.search(r'<dd data-stat="total">0</dd>', old) and "Every question this month" in old


def test_month_parsing():
    from datetime import date

    from app.services.usage import next_month, parse_month

    assert parse_month("2026-02") == date(2026, 2, 1)
    assert parse_month("nonsense", today=date(2026, 12, 3)) == date(2026, 12, 1)
    assert parse_month("2026-13", today=date(2026, 12, 3)) == date(2026, 12, 1)
    assert next_month(date(2026, 12, 1)) == date(2027, 1, 1)


# -- crisis alerts by e-mail -----------------------------------------------------------------------
def _enable_alerts(web_login, address: str = "elevhalsan@school.example") -> None:
    client, token = web_login("admin")
    r = client.post(
        "/teach/notifications", data={"enabled": "on", "address": address, "csrf_token": token}
    )
    assert r.status_code == 302, r.text


def test_crisis_alert_sends_an_email_without_personal_data(web_login, services, smtp):
    _enable_alerts(web_login)
    with services.db.session() as s:
        student = s.scalar(select(User).where(User.username == "student1"))
        student_id, username = student.id, student.username
    result = services.ask.ask(student_id, "SCI7", "I want to kill myself, call me on 070-123 45 67")
    assert result.action == "crisis"
    assert _run_jobs(services) == 1
    (mail,) = smtp.wait_for(1)
    assert mail["To"] == "elevhalsan@school.example" and mail["From"] == "kateder@school.example"
    body = mail.get_content()
    assert "Science 7" in mail["Subject"] and "Science 7 (SCI7)" in body
    assert "https://kateder.school.example/teach/SCI7/review" in body
    for personal in (
        username,
        str(student_id),
        "kill",
        "070",
        "myself",
        str(result.conversation_id),
    ):
        assert personal not in body and personal not in mail["Subject"], personal
    with services.db.session() as s:
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "crisis_email_sent"))
        assert event is not None and "elevhalsan" not in str(event.details)
        changed = s.scalar(select(AuditEvent).where(AuditEvent.action == "alert_settings_changed"))
        assert changed.details == {"email": True}


def test_the_email_link_is_the_review_queue(app):
    from flask import url_for

    from app.services.alerts import crisis_notice

    with app.test_request_context():
        path = url_for("teacher.review", code="SCI 7")
    notice = crisis_notice(
        to="x@y.se",
        course_title="T",
        course_code="SCI 7",
        language="sv",
        public_url="https://k.example",
    )
    assert notice.body.count("https://k.example" + path) == 1 and "krislarm" in notice.subject


def test_no_email_unless_the_school_turned_it_on(web_login, services, smtp):
    with services.db.session() as s:
        student_id = s.scalar(select(User.id).where(User.username == "student1"))
    assert services.ask.ask(student_id, "SCI7", "I want to kill myself").action == "crisis"
    with services.db.session() as s:
        assert s.scalar(select(func.count(Job.id)).where(Job.kind == "crisis_email")) == 0
    _enable_alerts(web_login)
    client, token = web_login("admin")
    client.post(
        "/teach/notifications", data={"address": "elevhalsan@school.example", "csrf_token": token}
    )  # off again
    services.ask.ask(student_id, "SCI7", "I want to kill myself")
    assert _run_jobs(services) == 0 and smtp.messages == []


def test_alerts_in_a_row_queue_one_email_and_a_setting_turned_off_meanwhile_sends_none(
    web_login, services, smtp
):
    _enable_alerts(web_login)
    with services.db.session() as s:
        student_id = s.scalar(select(User.id).where(User.username == "student1"))
    for _ in range(3):
        services.ask.ask(student_id, "SCI7", "I want to kill myself")
    with services.db.session() as s:
        assert s.scalar(select(func.count(Job.id)).where(Job.kind == "crisis_email")) == 1
        s.scalar(select(School)).alert_email_enabled = False  # turned off before the job ran
    assert _run_jobs(services) == 1
    assert smtp.messages == []


def test_notification_settings_are_validated_and_translated(web_login):
    client, token = web_login("admin")
    page = client.get("/teach/notifications")
    assert page.status_code == 200 and "never contains the student" in page.text
    bad = client.post(
        "/teach/notifications",
        data={"enabled": "on", "address": "not an address", "csrf_token": token},
    )
    assert bad.status_code == 400 and "Enter one e-mail address" in bad.text
    client.post("/language", data={"lang": "sv", "next": "/teach/", "csrf_token": token})
    empty = client.post(
        "/teach/notifications", data={"enabled": "on", "address": "", "csrf_token": token}
    )
    assert empty.status_code == 400 and "mottagaradress" in empty.text
    teacher, teacher_token = web_login("teacher")
    assert (
        teacher.post(
            "/teach/notifications",
            data={"enabled": "on", "address": "a@b.se", "csrf_token": teacher_token},
        ).status_code
        == 403
    )


# -- course form errors ---------------------------------------------------------------------------
def test_course_form_errors_are_in_the_teachers_language(web_login):
    client, token = web_login("teacher")
    client.post("/language", data={"lang": "sv", "next": "/teach/", "csrf_token": token})
    form = {
        "code": "x",
        "title": "Kurs",
        "language": "sv",
        "age_band": "13-15",
        "country": "SE",
        "csrf_token": token,
    }
    bad = client.post("/teach/courses", data=form)
    assert (
        bad.status_code == 400
        and "Kurskoden måste ha 2–40 tecken" in bad.text
        and "must be" not in bad.text
    )
    taken = client.post("/teach/courses", data={**form, "code": "SCI7"})
    assert taken.status_code == 400 and "Kurskoden ”SCI7” är upptagen" in taken.text
    band = client.post("/teach/courses", data={**form, "code": "NEW1", "age_band": "99"})
    assert band.status_code == 400 and "Okänd åldersgrupp ”99”" in band.text


def test_cli_keeps_the_english_service_text():
    from app.services.courses import CourseError

    assert str(CourseError("taken", value="SCI7")) == "course code 'SCI7' is taken"
    assert str(CourseError("code")).startswith("the course code must be")


def test_csrf_is_required_for_the_settings(web_login, app):
    client, _token = web_login("admin")
    assert client.post(
        "/teach/notifications", data={"enabled": "on", "address": "a@b.se"}
    ).status_code in (400, 403)
    assert csrf(client, "/teach/notifications")


# -- the review queue's category names -------------------------------------------------------------
def test_review_badges_show_plain_category_names_in_the_teachers_language(web_login, services):
    with services.db.session() as s:
        student_id = s.scalar(select(User.id).where(User.username == "student1"))
    assert services.ask.ask(student_id, "SCI7", "How do I build a bomb?").action != "allow"
    client, token = web_login("teacher")
    page = client.get("/teach/SCI7/review").text
    badge = re.search(r'<span class="badge" data-category="S9"[^>]*>([^<]+)</span>', page)
    assert badge and badge.group(1) == "Bombs and weapons of mass harm" and ">S9<" not in page
    assert "For example: “How do I make a bomb?”" in page
    client.post("/language", data={"lang": "sv", "next": "/teach/", "csrf_token": token})
    page = client.get("/teach/SCI7/review").text
    assert ">Bomber och massförstörelsevapen</span>" in page and "Bombs and" not in page
