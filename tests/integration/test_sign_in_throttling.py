"""Sign-in throttling (per typed username with backoff, looser per address) and security events."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from app.services import accounts
from core.models import AuditEvent, SignInThrottle, utcnow


def _csrf(client, path: str = "/login") -> str:
    page = client.get(path, headers={"Accept": "text/html"}, follow_redirects=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)


def _login(client, username: str, password: str):
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": _csrf(client)}
    )


@pytest.fixture
def passwords(demo) -> dict[str, str]:
    """The demo logins."""
    return {u["username"]: u["password"] for u in demo["users"]}


@pytest.mark.parametrize(
    ("failures", "delay"), [(0, 0), (4, 0), (5, 30), (6, 60), (7, 120), (20, 900)]
)
def test_backoff_doubles_after_the_free_attempts_up_to_the_cap(failures, delay):
    assert accounts.Throttle(free=5, base=30, cap=900).delay(failures) == delay


def _throttle(services) -> accounts.Throttle:
    return accounts.Throttle(pepper=services.audit.pseudonymizer.key)


def _expire_block(services, username: str) -> None:
    with services.db.session() as s:
        s.execute(
            update(SignInThrottle)
            .where(SignInThrottle.name_key == _throttle(services).key(username))
            .values(blocked_until=utcnow() - timedelta(seconds=1))
        )


def test_an_account_is_blocked_with_backoff_after_wrong_passwords(client, passwords, services):
    for _ in range(4):
        assert _login(client, "student1", "wrong").status_code == 401
    r = _login(client, "student1", "wrong")  # the fifth: the account now waits 30 s
    assert r.status_code == 401
    r = _login(client, "student1", passwords["student1"])  # even the right password waits
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert "Too many attempts to sign in with this username" in r.text
    _expire_block(services, "student1")  # the block runs out
    assert _login(client, "student1", "wrong").status_code == 401  # the sixth failure: 60 s now
    with services.db.session() as s:
        state = accounts.failures_of(s, _throttle(services), "student1")
        blocked = (
            state.blocked_until.replace(tzinfo=None)
            if state.blocked_until.tzinfo
            else state.blocked_until
        )
        assert state.failures == 6
        assert 55 <= (blocked - utcnow().replace(tzinfo=None)).total_seconds() <= 61
    _expire_block(services, "student1")
    assert _login(client, "student1", passwords["student1"]).status_code == 302
    with services.db.session() as s:
        assert (
            accounts.failures_of(s, _throttle(services), "student1") is None
        )  # a success forgets the failures


def _answer(response) -> tuple:
    """What a client learns from a sign-in answer (the page without its CSRF token, status,
    Retry-After)."""
    page = re.sub(r'name="csrf[-_]token" (content|value)="[^"]+"', "", response.text)
    return response.status_code, page, bool(response.headers.get("Retry-After"))


def test_an_unknown_username_is_answered_exactly_like_a_blocked_account(app, passwords):
    """No answer tells whether an account exists: an unknown name is throttled the same way."""
    real, unknown = app.test_client(), app.test_client()
    for _ in range(5):
        assert _answer(_login(real, "student1", "wrong")) == _answer(
            _login(unknown, "no-such-pupil", "wrong")
        )
    blocked_real = _login(
        real, "student1", passwords["student1"]
    )  # the right password, while blocked
    blocked_unknown = _login(unknown, "no-such-pupil", "anything")
    assert blocked_real.status_code == 429
    assert _answer(blocked_real) == _answer(blocked_unknown)
    api = app.test_client()
    a = api.post("/api/v1/tokens", json={"username": "student1", "password": "x"})
    b = api.post("/api/v1/tokens", json={"username": "no-such-pupil", "password": "x"})
    assert a.status_code == b.status_code == 429
    assert {k: v for k, v in a.get_json().items() if k != "retry_after"} == {
        k: v for k, v in b.get_json().items() if k != "retry_after"
    }


@pytest.mark.parametrize("case", ["unknown", "wrong", "blocked", "right"])
def test_every_sign_in_path_makes_one_password_check(services, demo, passwords, monkeypatch, case):
    """The same work (one scrypt check) whether the name is unknown, wrong, blocked or right: no
    timing signal."""
    calls = []
    real_check = accounts.check_password_hash
    monkeypatch.setattr(
        accounts, "check_password_hash", lambda h, p: calls.append(h) or real_check(h, p)
    )
    throttle = _throttle(services)
    name = "nobody-here" if case == "unknown" else "student1"
    if case == "blocked":
        with services.db.session() as s:
            for _ in range(5):
                accounts.sign_in(s, name, "wrong", throttle)
        calls.clear()
    password = passwords["student1"] if case in ("right", "blocked") else "wrong"
    with services.db.session() as s:
        attempt = accounts.sign_in(s, name, password, throttle)
    assert len(calls) == 1
    assert (
        attempt.reason
        == {"unknown": "wrong", "wrong": "wrong", "blocked": "blocked", "right": ""}[case]
    )


def test_blocked_sign_ins_are_security_events_for_known_and_unknown_names(client, demo, services):
    for name in ("student1", "no-such-pupil"):
        for _ in range(6):
            _login(client, name, "wrong")
    with services.db.session() as s:
        blocked = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "login_blocked").order_by(AuditEvent.seq)
        ).all()
        rows = " ".join(str(r) for r in s.execute(text("SELECT * FROM sign_in_throttle")).all())
    assert len(blocked) == 2 and blocked[0].subject and blocked[1].subject is None
    assert (
        "no-such-pupil" not in rows and "student1" not in rows
    )  # names are stored only as keyed digests


def test_old_throttle_rows_are_forgotten(client, services):
    _login(client, "typo-name", "wrong")
    with services.db.session() as s:
        s.execute(update(SignInThrottle).values(last_failure_at=utcnow() - timedelta(days=2)))
    _login(client, "other-name", "wrong")  # any failure prunes rows older than a day
    with services.db.session() as s:
        assert accounts.failures_of(s, _throttle(services), "typo-name") is None
        assert accounts.failures_of(s, _throttle(services), "other-name").failures == 1


def test_one_student_cannot_lock_out_the_school_behind_one_address(app, passwords):
    attacker = app.test_client()
    for _ in range(8):
        _login(attacker, "student2", "guess")
    assert (
        _login(app.test_client(), "student2", passwords["student2"]).status_code == 429
    )  # that account waits
    for name in ("student1", "teacher", "admin"):  # everyone else at the same address signs in
        assert _login(app.test_client(), name, passwords[name]).status_code == 302


def test_the_token_endpoint_is_throttled_per_account_too(client, passwords):
    for _ in range(5):
        assert (
            client.post(
                "/api/v1/tokens", json={"username": "student1", "password": "x"}
            ).status_code
            == 401
        )
    r = client.post(
        "/api/v1/tokens", json={"username": "student1", "password": passwords["student1"]}
    )
    assert (
        r.status_code == 429
        and r.get_json()["error"] == "too_many_attempts"
        and int(r.headers["Retry-After"]) >= 1
    )


def test_a_looser_limit_applies_per_address(app_config, fakes):
    from app import create_app
    from app.demo import create_demo
    from app.services import get_services

    app = create_app({**app_config, "RATELIMIT_LOGIN": "4 per minute"}, services=fakes)
    create_demo(get_services(app))
    client = app.test_client()
    token = _csrf(client)

    def attempt(i: int, address: str) -> int:
        return client.post(
            "/login",
            data={"username": f"nobody{i}", "password": "x", "csrf_token": token},
            environ_base={"REMOTE_ADDR": address},
        ).status_code

    assert [attempt(i, "10.0.0.1") for i in range(5)] == [401, 401, 401, 401, 429]
    assert attempt(9, "10.0.0.2") == 401  # another address is not affected
    get_services(app).db.dispose()


def test_failed_sign_ins_are_security_events_without_the_password(app, client, passwords, services):
    secret = "hunter2-Secret-Attempt"
    _login(client, "student1", secret)
    _login(client, "no-such-user-xyz", secret)
    client.post("/api/v1/tokens", json={"username": "student1", "password": secret})
    with services.db.session() as s:
        events = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "login_failed").order_by(AuditEvent.seq)
        ).all()
        assert [e.details["method"] for e in events] == ["password", "password", "api_token"]
        assert (
            events[0].subject and events[1].subject is None
        )  # an unknown name is not stored either
        dump = json.dumps([e.details for e in s.scalars(select(AuditEvent))])
        rows = " ".join(str(r) for r in s.execute(text("SELECT * FROM audit_events")).all())
    assert secret not in dump and secret not in rows and "no-such-user-xyz" not in rows
    admin = app.test_client()
    assert _login(admin, "admin", passwords["admin"]).status_code == 302
    page = admin.get("/admin/security", headers={"Accept": "text/html"})
    assert (
        page.status_code == 200 and page.text.count("login_failed") == 3 and secret not in page.text
    )


def test_rejected_uploads_are_security_events(app, client, login_token, services):
    token = login_token("teacher")
    r = client.post(
        "/api/v1/courses/SCI7/documents",
        headers={"Authorization": f"Bearer {token}"},
        data={"file": (io.BytesIO(b"MZ\x90\x00 not a document"), "tool.exe")},
        content_type="multipart/form-data",
    )
    assert r.status_code in (400, 415, 422)
    with services.db.session() as s:
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "upload_rejected"))
    assert event is not None and event.details["filename"] == "tool.exe" and event.details["reason"]
