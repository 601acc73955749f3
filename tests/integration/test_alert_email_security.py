"""Issue 16: crisis e-mails over STARTTLS with a login, failing closed, and the "Send a test e-mail"
button.

The app sends to the local server of tests/smtp_server.py on 127.0.0.1, with a self-signed
certificate made for the test and trusted through ``SMTP_CA_FILE``. ``smtp_mode`` picks the
server: ``starttls`` (STARTTLS and a login), ``plain`` (no STARTTLS, but a login offered in
clear text: Kateder must send neither the password nor the message) or ``none`` (no
``SMTP_HOST`` at all).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.models import AuditEvent, Job, User
from tests.integration import test_web
from tests.smtp_server import SmtpServer, self_signed_tls

web_login = test_web.web_login  # the signed-in client fixture
USERS = {"kateder": "s3cret-pass"}


@pytest.fixture
def smtp_mode() -> str:
    """The kind of mail server (tests override it with ``@pytest.mark.parametrize``)."""
    return "starttls"


@pytest.fixture
def tls(tmp_path):
    return self_signed_tls(tmp_path / "tls")


@pytest.fixture
def smtp(smtp_mode, tls):
    context, _ca = tls
    with SmtpServer(tls=context if smtp_mode == "starttls" else None, users=USERS) as server:
        yield server


@pytest.fixture
def app_config(app_config, smtp, smtp_mode, tls):
    """STARTTLS required, with a login; the test certificate trusted; jobs run by the test."""
    _context, ca = tls
    return {
        **app_config,
        "SMTP_HOST": "" if smtp_mode == "none" else "127.0.0.1",
        "SMTP_PORT": smtp.port,
        "SMTP_FROM": "kateder@school.example",
        "SMTP_SECURITY": "starttls",
        "SMTP_USERNAME": "kateder",
        "SMTP_PASSWORD": "s3cret-pass",
        "SMTP_CA_FILE": str(ca),
        "PUBLIC_URL": "https://kateder.school.example/",
        "JOBS_IN_PROCESS": False,
    }


def _admin(web_login, *, address: str | None = "elevhalsan@school.example", language: str = "en"):
    client, token = web_login("admin")
    if address:
        r = client.post(
            "/teach/notifications", data={"enabled": "on", "address": address, "csrf_token": token}
        )
        assert r.status_code == 302, r.text
    if language != "en":
        client.post("/language", data={"lang": language, "next": "/teach/", "csrf_token": token})
    return client, token


def _test_events(services) -> list[dict]:
    with services.db.session() as s:
        return [
            e.details
            for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "alert_test_email"))
        ]


def _clear_text(smtp) -> bytes:
    return b"".join(smtp.clear_lines).upper()


def test_a_crisis_email_goes_over_starttls_with_the_login(web_login, services, smtp):
    _admin(web_login)
    with services.db.session() as s:
        student_id = s.scalar(select(User.id).where(User.username == "student1"))
    assert services.ask.ask(student_id, "SCI7", "I want to kill myself").action == "crisis"
    while (job_id := services.jobs.claim()) is not None:
        services.jobs.run_job(job_id)
    (mail,) = smtp.wait_for(1)
    assert "Science 7" in mail["Subject"] and smtp.sessions == [{"tls": True, "user": "kateder"}]
    clear = _clear_text(smtp)
    assert b"MAIL" not in clear and b"AUTH" not in clear and b"S3CRET" not in clear


def test_the_test_email_button_sends_a_mail_without_personal_data(web_login, services, smtp):
    client, token = _admin(web_login, language="sv")
    page = client.get("/teach/notifications")
    assert "Skicka ett testmejl" in page.text and 'action="/teach/notifications/test"' in page.text
    assert (
        "s3cret" not in page.text and "kateder@school.example" not in page.text
    )  # no mail settings shown
    r = client.post("/teach/notifications/test", data={"csrf_token": token})
    assert (
        r.status_code == 200 and "Ett testmejl skickades till elevhalsan@school.example" in r.text
    )
    (mail,) = smtp.wait_for(1)
    assert (
        mail["To"] == "elevhalsan@school.example"
        and mail["Subject"] == "Kateder: testmejl för krislarm"
    )  # the school is Swedish
    body = mail.get_content()
    for personal in ("admin", "student", "SCI7", "Science"):
        assert personal not in body, personal
    assert smtp.sessions == [{"tls": True, "user": "kateder"}]
    assert _test_events(services) == [
        {"sent": True, "error": None, "backend": "smtp"}
    ]  # no address in the audit log


@pytest.mark.parametrize("smtp_mode", ["plain"])
def test_tls_required_but_not_offered_sends_nothing_and_says_why(web_login, services, smtp):
    client, token = _admin(web_login, language="sv")
    r = client.post("/teach/notifications/test", data={"csrf_token": token})
    assert (
        r.status_code == 200
        and "E-postservern erbjuder ingen kryptering (STARTTLS)" in r.text
        and 'role="alert"' in r.text
    )
    assert smtp.messages == [] and _test_events(services) == [
        {"sent": False, "error": "no_starttls", "backend": "smtp"}
    ]
    # a crisis e-mail fails closed the same way: the job fails, nothing goes in clear text
    with services.db.session() as s:
        student_id = s.scalar(select(User.id).where(User.username == "student1"))
    services.ask.ask(student_id, "SCI7", "I want to kill myself")
    while (job_id := services.jobs.claim()) is not None:
        services.jobs.run_job(job_id)
    with services.db.session() as s:
        job = s.scalar(select(Job).where(Job.kind == "crisis_email"))
        assert job.status in ("queued", "failed") and "no_starttls" in (job.error or "")
    clear = _clear_text(smtp)
    assert (
        smtp.messages == []
        and b"MAIL" not in clear
        and b"AUTH" not in clear
        and b"S3CRET" not in clear
    )


@pytest.mark.parametrize("smtp_mode", ["none"])
def test_without_a_mail_server_the_button_says_so(web_login, services, smtp):
    client, token = _admin(web_login)
    r = client.post("/teach/notifications/test", data={"csrf_token": token})
    assert r.status_code == 200 and "no mail server set up, so no e-mail can be sent" in r.text
    assert smtp.messages == [] and smtp.clear_lines == []
    assert _test_events(services) == [{"sent": False, "error": "no_server", "backend": None}]


def test_the_button_needs_a_saved_address_an_admin_and_csrf(web_login, smtp):
    client, token = _admin(web_login, address=None, language="de")
    r = client.post("/teach/notifications/test", data={"csrf_token": token})
    assert r.status_code == 400 and "Speichere zuerst eine Empfängeradresse" in r.text
    assert client.post("/teach/notifications/test").status_code in (400, 403)  # no CSRF token
    teacher, teacher_token = web_login("teacher")
    assert (
        teacher.post("/teach/notifications/test", data={"csrf_token": teacher_token}).status_code
        == 403
    )
    assert smtp.messages == []
