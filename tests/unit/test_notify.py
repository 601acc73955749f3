"""The SMTP notifier's transport security (issue 16): STARTTLS, implicit TLS, a login, and failing
closed.

Every test talks to the local server of tests/smtp_server.py on 127.0.0.1, with a
self-signed certificate made for the test. ``clear_lines`` is what the client sent before
TLS: a password or a message there would be sent in clear text.
"""

from __future__ import annotations

import pytest

from app.notify import Notice, NotifyError, SmtpNotifier, build_notifier
from tests.smtp_server import SmtpServer, self_signed_tls

NOTICE = Notice(to="elevhalsan@school.example", subject="Subject", body="Body")
USERS = {"kateder": "s3cret-pass"}


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """A server TLS context and the certificate file a client trusts it with."""
    return self_signed_tls(tmp_path_factory.mktemp("tls"))


def _sent_in_clear(server: SmtpServer) -> bytes:
    return b"".join(server.clear_lines)


def _notifier(port: int, **kw) -> SmtpNotifier:
    return SmtpNotifier("127.0.0.1", port, sender="kateder@school.example", timeout=5, **kw)


def test_starttls_with_a_login(tls):
    context, ca = tls
    with SmtpServer(tls=context, users=USERS) as server:
        _notifier(
            server.port,
            security="starttls",
            username="kateder",
            password="s3cret-pass",
            ca_file=str(ca),
        ).send(NOTICE)
        (mail,) = server.wait_for(1)
    assert mail["Subject"] == "Subject" and server.sessions == [{"tls": True, "user": "kateder"}]
    clear = _sent_in_clear(server).upper()
    assert (
        b"STARTTLS" in clear
        and b"AUTH" not in clear
        and b"MAIL" not in clear
        and b"S3CRET" not in clear
    )


def test_implicit_tls_with_a_login(tls):
    context, ca = tls
    with SmtpServer(tls=context, implicit=True, users=USERS) as server:
        _notifier(
            server.port, security="tls", username="kateder", password="s3cret-pass", ca_file=str(ca)
        ).send(NOTICE)
        server.wait_for(1)
    assert server.sessions == [{"tls": True, "user": "kateder"}] and server.clear_lines == []


def test_starttls_required_but_not_offered_sends_nothing():
    with (
        SmtpServer(users=USERS) as server,
        pytest.raises(NotifyError) as failed,
    ):  # offers AUTH in clear text, no STARTTLS
        _notifier(
            server.port, security="starttls", username="kateder", password="s3cret-pass"
        ).send(NOTICE)
    assert failed.value.code == "no_starttls" and "s3cret" not in str(failed.value)
    clear = _sent_in_clear(server).upper()
    assert (
        server.messages == []
        and b"AUTH" not in clear
        and b"MAIL" not in clear
        and b"S3CRET" not in clear
    )


def test_an_untrusted_certificate_stops_the_send(tls):
    context, _ca = tls
    with SmtpServer(tls=context) as server, pytest.raises(NotifyError) as failed:
        _notifier(server.port, security="starttls").send(
            NOTICE
        )  # the system's CAs do not know the test's
    assert failed.value.code == "tls" and server.messages == []
    with SmtpServer(tls=context, implicit=True) as server, pytest.raises(NotifyError) as failed:
        _notifier(server.port, security="tls").send(NOTICE)
    assert failed.value.code == "tls" and server.messages == []


def test_implicit_tls_against_a_clear_text_server_fails(tls):
    _context, ca = tls
    with SmtpServer() as server, pytest.raises(NotifyError) as failed:
        _notifier(server.port, security="tls", ca_file=str(ca)).send(NOTICE)
    assert failed.value.code == "tls" and server.messages == []


def test_a_wrong_password_and_a_missing_login(tls):
    context, ca = tls
    with SmtpServer(tls=context, users=USERS) as server, pytest.raises(NotifyError) as failed:
        _notifier(
            server.port, security="starttls", username="kateder", password="wrong", ca_file=str(ca)
        ).send(NOTICE)
        assert failed.value.code == "login"
        with pytest.raises(NotifyError) as failed:  # the server wants a login, none is set
            _notifier(server.port, security="starttls", ca_file=str(ca)).send(NOTICE)
        assert failed.value.code == "refused"
    assert server.messages == []
    with (
        SmtpServer(tls=context) as server,
        pytest.raises(NotifyError) as failed,
    ):  # a login is set, the server offers none
        _notifier(
            server.port, security="starttls", username="kateder", password="x", ca_file=str(ca)
        ).send(NOTICE)
    assert failed.value.code == "no_auth" and server.messages == []


def test_a_login_is_never_sent_without_tls():
    with SmtpServer(users=USERS) as server, pytest.raises(NotifyError) as failed:
        _notifier(server.port, security="none", username="kateder", password="s3cret-pass").send(
            NOTICE
        )
    assert failed.value.code == "config" and server.clear_lines == [] and server.messages == []


def test_no_server_is_a_connection_error():
    with SmtpServer() as server:
        port = server.port
    with pytest.raises(NotifyError) as failed:
        _notifier(port).send(NOTICE)
    assert failed.value.code == "connect"


def test_build_notifier_reads_the_security_settings():
    assert (
        build_notifier({"SMTP_HOST": "mail.school.example", "SMTP_SECURITY": "starttls"}).port
        == 587
    )
    assert build_notifier({"SMTP_HOST": "mail.school.example", "SMTP_SECURITY": "TLS"}).port == 465
    assert build_notifier({"SMTP_HOST": "mail.school.example", "SMTP_PORT": 0}).port == 25
    notifier = build_notifier(
        {
            "SMTP_HOST": "mail.school.example",
            "SMTP_SECURITY": "starttls",
            "SMTP_PORT": 2587,
            "SMTP_USERNAME": "kateder",
            "SMTP_PASSWORD": "s3cret-pass",
            "SMTP_CA_FILE": "/etc/ca.pem",
        }
    )
    assert (notifier.port, notifier.security, notifier.username, notifier.ca_file) == (
        2587,
        "starttls",
        "kateder",
        "/etc/ca.pem",
    )
    assert "s3cret" not in repr(notifier) and "s3cret" not in str(
        vars(notifier).get("password", "")
    )
    with pytest.raises(ValueError, match="SMTP_SECURITY"):
        build_notifier({"SMTP_HOST": "mail.school.example", "SMTP_SECURITY": "ssl-please"})


def test_the_settings_come_from_the_environment():
    from app.config import load_config

    config = load_config(
        environ={
            "KATEDER_SMTP_SECURITY": "starttls",
            "KATEDER_SMTP_USERNAME": "kateder",
            "KATEDER_SMTP_PASSWORD": "s3cret-pass",
            "KATEDER_SMTP_PORT": "587",
        }
    )
    assert (
        config["SMTP_SECURITY"],
        config["SMTP_USERNAME"],
        config["SMTP_PASSWORD"],
        config["SMTP_PORT"],
    ) == ("starttls", "kateder", "s3cret-pass", 587)


# -- the texts that moved from per-language tables into the Babel catalogues -----------------------
def test_the_crisis_and_test_emails_are_in_the_schools_language():
    from app.services.alerts import crisis_notice, test_notice

    de = crisis_notice(
        to="x@y.de",
        course_title="Bio",
        course_code="BIO7",
        language="de",
        public_url="https://k.example",
    )
    assert de.subject == "Kateder: Krisenalarm in Bio (BIO7)"
    assert (
        de.body.startswith("Im Kurs Bio (BIO7) gibt es einen Krisenalarm")
        and "https://k.example/teach/BIO7/review" in de.body
    )
    assert crisis_notice(
        to="x@y", course_title="T", course_code="C", language="fi", public_url=""
    ).subject.startswith("Kateder: crisis alert in")  # a language without a catalogue: English
    sv = test_notice(to="elevhalsan@school.example", language="sv")
    assert sv.subject == "Kateder: testmejl för krislarm" and "nämner aldrig eleven" in sv.body
    assert (
        test_notice(to="a@b.no", language="nb").subject == "Kateder: test-e-post for krisevarsler"
    )


def test_the_service_messages_keep_their_translations():
    from app.generation import ModelInfo, licence_notices
    from app.services.answer import not_covered_message, unavailable_message
    from app.services.gdpr.messages import message

    assert (
        message("reason_required", "sv", n=10)
        == "Skriv varför du behöver öppna elevens konversation (minst 10 tecken)."
    )
    assert message("no_user", "it", ref="'x'") == "Non esiste l'utente 'x'."
    assert (
        message("text_erased", "nb-NO") == "[teksten slettet]"
        and message("text_erased", None) == "[text erased]"
    )
    assert not_covered_message("de").startswith("Dein Kursmaterial behandelt das nicht")
    assert (
        unavailable_message("search", "it")
        == "al momento non è possibile cercare nel materiale del corso; riprova tra poco"
    )
    llama = ModelInfo(
        "Llama-3.2-11B-Vision",
        ("en",),
        "Llama 3.2 Community License",
        attribution="Built with Llama",
        multimodal=True,
        eu_restricted=True,
    )
    notices = licence_notices(llama, "SE", "sv")
    assert (
        notices[0].startswith("Llama-3.2-11B-Vision är en multimodal Llama-modell")
        and "(SE)" in notices[0]
    )
    assert notices[1] == (
        "Llama-3.2-11B-Vision är licensierad under Llama 3.2 Community License: sidor och "
        'dokumentation måste visa "Built with Llama".'
    )


def test_outage_messages_follow_accept_language_without_the_database():
    from flask import Flask

    from app.errors import outage_message

    with Flask(__name__).test_request_context(headers={"Accept-Language": "nb-NO,nb;q=0.9"}):
        assert outage_message("database").startswith(
            "Tjenesten er midlertidig utilgjengelig (database)."
        )
    with Flask(__name__).test_request_context(headers={"Accept-Language": "fr"}):
        assert outage_message("storage").startswith("The server's storage is full")
