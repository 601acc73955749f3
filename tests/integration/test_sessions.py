"""Revocable browser sessions and API tokens (docs/operations.md, "Sessions and tokens").

A copy of a signed-in cookie must stop working when the session ends: at sign-out, at
"sign out everywhere" (by the user or an admin), at a password or role change, at erasure,
and after the idle and absolute lifetimes.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update

from app.services import accounts
from core.models import ApiToken, AuditEvent, User, UserSession, utcnow


def _csrf(client, path: str = "/login") -> str:
    page = client.get(path, headers={"Accept": "text/html"}, follow_redirects=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)


@pytest.fixture
def passwords(demo) -> dict[str, str]:
    """The demo logins."""
    return {u["username"]: u["password"] for u in demo["users"]}


@pytest.fixture
def sign_in(app, passwords):
    """A signed-in test client for a demo user."""

    def _sign_in(username: str):
        client = app.test_client()
        r = client.post(
            "/login",
            data={
                "username": username,
                "password": passwords[username],
                "csrf_token": _csrf(client),
            },
        )
        assert r.status_code == 302, r.text
        return client

    return _sign_in


def _copy(app, client):
    """Another browser holding a copy of ``client``'s session cookie (a stolen cookie)."""
    thief = app.test_client()
    cookie = client.get_cookie("session")
    thief.set_cookie("session", cookie.value)
    return thief


def _signed_in(client) -> bool:
    return client.get("/classroom/", headers={"Accept": "text/html"}).status_code == 200


def _uid(services, username: str) -> int:
    with services.db.session() as s:
        return s.scalar(select(User.id).where(User.username == username))


def test_a_copied_cookie_stops_working_after_sign_out(app, sign_in):
    client = sign_in("student1")
    thief = _copy(app, client)
    assert _signed_in(thief)
    client.post("/logout", data={"csrf_token": _csrf(client, "/classroom/")})
    assert not _signed_in(client)
    assert not _signed_in(thief)


def test_sign_out_everywhere_ends_every_session_and_token_of_the_user(
    app, sign_in, login_token, services
):
    laptop, phone, other = sign_in("student1"), sign_in("student1"), sign_in("student2")
    token = login_token("student1")
    headers = {"Authorization": f"Bearer {token}"}
    assert app.test_client().get("/api/v1/tokens", headers=headers).status_code == 200
    r = laptop.post("/logout/everywhere", data={"csrf_token": _csrf(laptop, "/classroom/")})
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert not _signed_in(laptop) and not _signed_in(phone)
    assert app.test_client().get("/api/v1/tokens", headers=headers).status_code == 401
    assert _signed_in(other)  # another user's session is untouched
    with services.db.session() as s:
        assert (
            s.scalar(
                select(func.count())
                .select_from(UserSession)
                .where(UserSession.user_id == _uid(services, "student1"))
            )
            == 0
        )


def test_an_admin_signs_a_user_out_everywhere(app, sign_in, services):
    student = sign_in("student1")
    admin = sign_in("admin")
    assert _signed_in(student)
    page = admin.get("/admin/security", headers={"Accept": "text/html"})
    assert page.status_code == 200
    r = admin.post(
        "/admin/security/sign-out",
        data={"username": "student1", "csrf_token": _csrf(admin, "/admin/security")},
    )
    assert r.status_code == 302
    assert not _signed_in(student)
    with services.db.session() as s:
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "sessions_revoked"))
        assert event.details["by"] == "admin" and event.details["sessions_ended"] == 1


def test_an_admin_cannot_sign_out_someone_of_another_school(app, sign_in, services):
    with services.db.session() as s:
        other = accounts.create_school(s, "Elsewhere", "NO")
        accounts.create_user(s, other, "far-away", "pw-far-away", "student")
    admin = sign_in("admin")
    r = admin.post(
        "/admin/security/sign-out",
        data={"username": "far-away", "csrf_token": _csrf(admin, "/admin/security")},
    )
    assert r.status_code == 404


def test_password_change_ends_all_sessions_and_tokens(app, sign_in, login_token, services):
    client = sign_in("student1")
    token = login_token("student1")
    with services.db.session() as s:
        result = accounts.change_password(
            s, s.get(User, _uid(services, "student1")), "a-new-long-password"
        )
    assert result == {"sessions_ended": 1, "tokens_revoked": 1}
    assert not _signed_in(client)
    assert (
        app.test_client()
        .get("/api/v1/tokens", headers={"Authorization": f"Bearer {token}"})
        .status_code
        == 401
    )


def test_the_cli_password_and_role_commands_end_sessions(
    app, app_config, sign_in, login_token, services, monkeypatch
):
    from app.cli import main

    monkeypatch.setenv("KATEDER_HOME", app_config["HOME"])
    monkeypatch.setenv("KATEDER_DATABASE_URL", app_config["DATABASE_URL"])
    student, teacher = sign_in("student1"), sign_in("teacher")
    teacher_token = login_token("teacher")
    runner = CliRunner()
    out = runner.invoke(
        main, ["user", "password", "student1", "--password", "another-long-one", "--json"]
    )
    assert out.exit_code == 0, out.output
    assert not _signed_in(student)
    out = runner.invoke(main, ["user", "role", "teacher", "student", "--json"])
    assert out.exit_code == 0, out.output
    assert '"tokens_revoked": 1' in out.output
    assert not _signed_in(teacher)
    assert (
        app.test_client()
        .get("/api/v1/tokens", headers={"Authorization": f"Bearer {teacher_token}"})
        .status_code
        == 401
    )
    with services.db.session() as s:
        actions = set(s.scalars(select(AuditEvent.action)))
    assert {"password_changed", "role_changed"} <= actions


def test_erasure_ends_the_sessions_of_the_erased_user(app, sign_in, services):
    client = sign_in("student1")
    services.gdpr.erase_subject("student1", handled_by="test")
    assert not _signed_in(client)
    with services.db.session() as s:
        assert s.scalar(select(func.count()).select_from(UserSession)) == 0


@pytest.mark.parametrize(
    ("column", "age"),
    [("last_seen_at", timedelta(minutes=61)), ("created_at", timedelta(hours=12, minutes=1))],
)
def test_idle_and_absolute_lifetimes_end_a_session(app, sign_in, services, column, age):
    client = sign_in("student1")
    assert _signed_in(client)
    with services.db.session() as s:
        s.execute(update(UserSession).values({column: utcnow() - age}))
    assert not _signed_in(client)


def test_lifetimes_are_configurable(app_config, fakes):
    from app import create_app

    app = create_app(
        {**app_config, "SESSION_IDLE_MINUTES": 5, "SESSION_MAX_HOURS": 2}, services=fakes
    )
    assert app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(hours=2)
    lifetime = accounts.SessionLifetime.from_config(app.config)
    assert lifetime.idle == timedelta(minutes=5) and lifetime.absolute == timedelta(hours=2)


def test_a_session_cookie_without_a_server_record_is_not_signed_in(app, demo, services):
    client = app.test_client()
    with client.session_transaction() as sess:  # a cookie signed with the right key, but no record
        sess["_user_id"] = str(_uid(services, "student1"))
        sess["_fresh"] = True
    assert not _signed_in(client)


# -- API tokens --------------------------------------------------------------------------
def test_delete_current_token_revokes_it(client, login_token, services):
    token = login_token("student1")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/tokens", headers=headers).status_code == 200
    assert client.delete("/api/v1/tokens/current", headers=headers).status_code == 204
    assert client.get("/api/v1/tokens", headers=headers).status_code == 401
    r = client.post(
        "/api/v1/courses/SCI7/ask", json={"question": "What is photosynthesis?"}, headers=headers
    )
    assert r.status_code == 401


def test_a_user_lists_and_revokes_their_own_tokens_only(client, login_token, services):
    first, second = login_token("student1"), login_token("student1")
    stranger = login_token("student2")
    listed = client.get("/api/v1/tokens", headers={"Authorization": f"Bearer {first}"}).get_json()[
        "tokens"
    ]
    assert len(listed) == 2 and sum(t["current"] for t in listed) == 1
    assert all(
        set(t) == {"id", "created_at", "expires_at", "last_used_at", "current"} for t in listed
    )
    other_id = next(t["id"] for t in listed if not t["current"])
    stranger_id = client.get(
        "/api/v1/tokens", headers={"Authorization": f"Bearer {stranger}"}
    ).get_json()["tokens"][0]["id"]
    assert (
        client.delete(
            f"/api/v1/tokens/{stranger_id}", headers={"Authorization": f"Bearer {first}"}
        ).status_code
        == 404
    )
    assert (
        client.get("/api/v1/tokens", headers={"Authorization": f"Bearer {stranger}"}).status_code
        == 200
    )
    assert (
        client.delete(
            f"/api/v1/tokens/{other_id}", headers={"Authorization": f"Bearer {first}"}
        ).status_code
        == 204
    )
    assert (
        client.get("/api/v1/tokens", headers={"Authorization": f"Bearer {second}"}).status_code
        == 401
    )
    assert (
        client.get("/api/v1/tokens", headers={"Authorization": f"Bearer {first}"}).status_code
        == 200
    )


def test_tokens_are_stored_only_as_digests(client, login_token, services):
    token = login_token("student1")
    with services.db.session() as s:
        stored = s.scalars(select(ApiToken.token_hash)).all()
    assert token not in stored and all(len(h) == 64 for h in stored)


def test_role_change_revokes_tokens(client, login_token, services):
    token = login_token("teacher")
    with services.db.session() as s:
        accounts.set_role(s, s.get(User, _uid(services, "teacher")), "student")
    assert (
        client.get("/api/v1/tokens", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )


def test_erasure_revokes_tokens(client, login_token, services):
    token = login_token("student1")
    services.gdpr.erase_subject("student1", handled_by="test")
    assert (
        client.get("/api/v1/tokens", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )


def test_signing_out_after_a_pause_ends_the_session(app, sign_in, services):
    """The session's last-use time is refreshed on that request too (no lock against the sign-out's
    own write)."""
    client = sign_in("student1")
    thief = _copy(app, client)
    token = _csrf(client, "/classroom/")
    with services.db.session() as s:
        s.execute(update(UserSession).values(last_seen_at=utcnow() - timedelta(minutes=5)))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert not _signed_in(thief)
    with services.db.session() as s:
        assert (
            s.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "logout")
            )
            == 1
        )


# -- changing one's password in the browser ------------------------------------------------
def _change(client, current: str, new: str, again: str | None = None):
    return client.post(
        "/account/password",
        data={
            "current_password": current,
            "new_password": new,
            "new_password_again": new if again is None else again,
            "csrf_token": _csrf(client, "/account/password"),
        },
    )


def test_a_user_changes_their_password_in_the_browser_and_every_other_session_ends(
    app, sign_in, login_token, passwords, services
):
    laptop, phone = sign_in("student1"), sign_in("student1")
    thief = _copy(app, laptop)  # a copy of the cookie of the browser that changes the password
    token = login_token("student1")
    page = laptop.get("/account/password", headers={"Accept": "text/html"})
    assert page.status_code == 200 and 'name="current_password"' in page.text
    assert (
        'href="/account/password"'
        in laptop.get("/classroom/", headers={"Accept": "text/html"}).text
    )
    assert _change(laptop, "not-my-password", "a-new-long-password").status_code == 400
    assert (
        _change(laptop, passwords["student1"], "a-new-long-password", "something-else").status_code
        == 400
    )
    assert _change(laptop, passwords["student1"], "short").status_code == 400
    assert _signed_in(phone) and _signed_in(thief)  # nothing changed yet
    r = _change(laptop, passwords["student1"], "a-new-long-password")
    assert r.status_code == 302
    assert _signed_in(laptop)  # this browser goes on, with a fresh session
    assert not _signed_in(phone) and not _signed_in(thief)
    assert (
        app.test_client()
        .get("/api/v1/tokens", headers={"Authorization": f"Bearer {token}"})
        .status_code
        == 401
    )
    old = app.test_client()
    assert (
        old.post(
            "/login",
            data={
                "username": "student1",
                "password": passwords["student1"],
                "csrf_token": _csrf(old),
            },
        ).status_code
        == 401
    )
    new = app.test_client()
    assert (
        new.post(
            "/login",
            data={
                "username": "student1",
                "password": "a-new-long-password",
                "csrf_token": _csrf(new),
            },
        ).status_code
        == 302
    )
    with services.db.session() as s:
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "password_changed"))
        failed = s.scalars(select(AuditEvent).where(AuditEvent.action == "login_failed")).all()
    assert (
        event.details["by"] == "self"
        and event.details["sessions_ended"] == 2
        and event.details["tokens_revoked"] == 1
    )  # laptop and phone
    assert [e.details["method"] for e in failed][:1] == [
        "password_change"
    ]  # the wrong current password is a security event


def test_the_password_page_needs_a_signed_in_user(client):
    r = client.get("/account/password", headers={"Accept": "text/html"})
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert client.post(
        "/account/password", data={"current_password": "x", "new_password": "y" * 10}
    ).status_code in (302, 400)
