"""OpenID Connect sign-in end to end, against a real provider on loopback (tests/oidc_provider.py).

The browser's part is played by Flask's test client (Kateder) and ``requests`` (the
provider's authorization endpoint). Kateder's authlib client fetches discovery and JWKS and
exchanges the code over HTTP, so every check (state, nonce, PKCE, signature, iss, aud, exp)
runs on the real wire format. Two schools, each with its own provider set up in an
``OIDC_PROVIDERS`` file.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from app import create_app
from app.services import accounts, get_services
from app.services.sso import ProviderError
from core.models import AuditEvent, School, User
from tests.oidc_provider import OidcProvider

NORD, SODRA = "Nordskolan", "Södra skolan"


@pytest.fixture
def idp():
    """The identity provider (one provider serving both schools' clients)."""
    with OidcProvider() as provider:
        provider.register(
            "kateder-nord", "nord-secret", "http://localhost/login/oidc/nordskolan/callback"
        )
        provider.register(
            "kateder-sodra", "sodra-secret", "http://localhost/login/oidc/sodra/callback"
        )
        yield provider


@pytest.fixture
def sso_app(tmp_path, app_config, fakes, idp, monkeypatch):
    """Kateder with two schools, each with its provider: Nordskolan creates accounts, Södra only
    signs existing ones in."""
    monkeypatch.setenv("TEST_NORD_OIDC_SECRET", "nord-secret")
    path = tmp_path / "idp.toml"
    path.write_text(
        f'''
[providers.nordskolan]
school = "{NORD}"
label = "Nordskolan (Feide)"
issuer = "{idp.issuer}"
client_id = "kateder-nord"
client_secret_env = "TEST_NORD_OIDC_SECRET"
username_claim = "sub"          # pseudonymous: the provider's subject id, no name, no e-mail
role_claim = "affiliation"
roles = {{ student = "student", faculty = "teacher", staff = "teacher" }}
create_users = true

[providers.sodra]
school = "{SODRA}"
issuer = "{idp.issuer}"
client_id = "kateder-sodra"
client_secret = "sodra-secret"
role_claim = "affiliation"
roles = {{ student = "student", faculty = "teacher" }}
''',
        encoding="utf-8",
    )
    app = create_app({**app_config, "OIDC_PROVIDERS": str(path)}, services=fakes)
    services = get_services(app)
    with services.db.session() as s:
        nord, sodra = accounts.create_school(s, NORD, "NO"), accounts.create_school(s, SODRA, "SE")
        accounts.create_user(s, sodra, "elin.s", "pw-elin-123", "student")
        accounts.create_user(s, nord, "nord-admin", "pw-admin-123", "admin")
    yield app
    services.db.dispose()


def _through_provider(client, provider: str, *, state: str | None = None):
    """Start sign-in at Kateder, authenticate at the provider, return Kateder's answer to the
    callback."""
    r = client.get(f"/login/oidc/{provider}")
    assert r.status_code == 302, r.text
    authorize = r.headers["Location"]
    query = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(
        client.application.extensions["kateder_sso"][provider].issuer + "/authorize?"
    )
    assert query["nonce"][0] and query["state"][0] and query["code_challenge_method"] == ["S256"]
    back = requests.get(authorize, allow_redirects=False, timeout=10)
    assert back.status_code == 302, back.text
    callback = urlsplit(back.headers["Location"])
    if state is not None:
        callback = callback._replace(
            query=f"code={parse_qs(callback.query)['code'][0]}&state={state}"
        )
    return client.get(f"{callback.path}?{callback.query}"), f"{callback.path}?{callback.query}"


def _signed_in_as(client) -> str | None:
    """Where the start page sends this browser: the role's page, or the login page."""
    location = client.get("/").headers["Location"]
    return None if "/login" in location else location


def _events(app, action: str) -> list[AuditEvent]:
    with get_services(app).db.session() as s:
        return list(
            s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
        )


def test_callback_signs_in_a_new_pseudonymous_student_of_the_providers_school(sso_app, idp):
    idp.sign_in_as(
        "f3a9c2e1-student",
        affiliation=["member", "student"],
        name="Ola Nordmann",
        email="ola@nord.example",
    )
    client = sso_app.test_client()
    r, _ = _through_provider(client, "nordskolan")
    assert r.status_code == 302 and r.headers["Location"].endswith("/")
    assert _signed_in_as(client).endswith("/classroom/")
    with get_services(sso_app).db.session() as s:
        user = s.scalar(select(User).where(User.username == "f3a9c2e1-student"))
        school = s.get(School, user.school_id)
        assert (user.role, school.name, user.display_name) == (
            "student",
            NORD,
            None,
        )  # no name or e-mail kept
    assert [e.details["method"] for e in _events(sso_app, "login")] == ["oidc"]
    assert len(_events(sso_app, "user_created")) == 1
    assert idp.token_requests == 1


def test_role_follows_the_claim_at_every_sign_in(sso_app, idp):
    idp.sign_in_as("t-77", affiliation="faculty")
    client = sso_app.test_client()
    _through_provider(client, "nordskolan")
    assert _signed_in_as(client).endswith("/teach/")
    idp.sign_in_as("t-77", affiliation="student")  # no longer staff at the school
    client = sso_app.test_client()
    _through_provider(client, "nordskolan")
    assert _signed_in_as(client).endswith("/classroom/")
    changed = _events(sso_app, "role_changed")
    assert [(e.details["old"], e.details["new"]) for e in changed] == [("teacher", "student")]


def test_admins_keep_their_role_whatever_the_claim_says(sso_app, idp):
    idp.sign_in_as("nord-admin", affiliation="faculty")
    client = sso_app.test_client()
    _through_provider(client, "nordskolan")
    with get_services(sso_app).db.session() as s:
        assert s.scalar(select(User.role).where(User.username == "nord-admin")) == "admin"
    assert _signed_in_as(client) is not None


def test_a_claim_that_maps_to_no_role_signs_nobody_in(sso_app, idp):
    idp.sign_in_as("guest-1", affiliation=["member", "affiliate"])
    client = sso_app.test_client()
    r, _ = _through_provider(client, "nordskolan")
    assert r.headers["Location"].endswith("/login") and _signed_in_as(client) is None
    assert "not set up in Kateder" in client.get("/login").text
    with get_services(sso_app).db.session() as s:
        assert s.scalar(select(User).where(User.username == "guest-1")) is None
    assert [e.details["reason"] for e in _events(sso_app, "login_failed")] == ["role_not_mapped"]


def test_a_school_that_does_not_create_accounts_signs_in_existing_ones_only(sso_app, idp):
    client = sso_app.test_client()
    idp.sign_in_as("someone-new", preferred_username="someone-new", affiliation="student")
    _through_provider(client, "sodra")
    assert _signed_in_as(client) is None
    idp.sign_in_as("sub-elin", preferred_username="elin.s", affiliation="student")
    _through_provider(client, "sodra")
    assert _signed_in_as(client).endswith("/classroom/")
    assert [e.details["reason"] for e in _events(sso_app, "login_failed")] == ["not_set_up"]


def test_one_schools_provider_cannot_sign_in_another_schools_account(sso_app, idp):
    idp.sign_in_as(
        "elin.s", affiliation="student"
    )  # Nordskolan's provider asserts Södra's username
    client = sso_app.test_client()
    _through_provider(client, "nordskolan")
    assert _signed_in_as(client) is None
    refused = _events(sso_app, "login_failed")
    assert [e.details["reason"] for e in refused] == ["other_school"]
    with get_services(sso_app).db.session() as s:
        assert refused[0].school_id == s.scalar(select(School.id).where(School.name == NORD))


def test_a_callback_with_another_state_is_refused(sso_app, idp):
    idp.sign_in_as("s-1", affiliation="student")
    client = sso_app.test_client()
    r, _ = _through_provider(client, "nordskolan", state="forged-state")
    assert r.headers["Location"].endswith("/login") and _signed_in_as(client) is None
    assert idp.token_requests == 0  # refused before the code is ever redeemed
    assert [e.details["reason"] for e in _events(sso_app, "login_failed")] == ["mismatching_state"]


def test_a_replayed_callback_is_refused(sso_app, idp):
    idp.sign_in_as("s-2", affiliation="student")
    client = sso_app.test_client()
    _, callback = _through_provider(client, "nordskolan")
    assert _signed_in_as(client) is not None
    attacker = sso_app.test_client()  # the callback URL, leaked, opened in another browser
    attacker.get(callback)
    assert _signed_in_as(attacker) is None
    client.get(callback)  # and again in the same browser: the state was used up
    assert len(_events(sso_app, "login")) == 1


@pytest.mark.parametrize(
    "tamper, why",
    [
        ({"nonce": "a-nonce-from-another-sign-in"}, "invalid_claim:nonce"),
        ({"aud": "some-other-client"}, "invalid_claim:aud"),
        (
            {"aud": "some-other-client", "azp": "kateder-nord"},
            "invalid_claim:aud",
        ),  # authlib alone accepts this one
        (
            {"aud": ["some-other-client", "kateder-nord"], "azp": "some-other-client"},
            "invalid_claim:azp",
        ),
        ({"iss": "http://127.0.0.1:1/"}, "invalid_claim:iss"),
        ({"exp": int(time.time()) - 600, "iat": int(time.time()) - 900}, "expired_token:exp"),
    ],
)
def test_an_id_token_that_fails_a_check_is_refused(sso_app, idp, tamper, why):
    idp.sign_in_as("s-3", affiliation="student")
    idp.tamper = tamper
    client = sso_app.test_client()
    r, _ = _through_provider(client, "nordskolan")
    assert r.headers["Location"].endswith("/login"), why
    assert _signed_in_as(client) is None, why
    assert [e.details["reason"] for e in _events(sso_app, "login_failed")] == [why] and not _events(
        sso_app, "login"
    )
    with get_services(sso_app).db.session() as s:
        assert s.scalar(select(User).where(User.username == "s-3")) is None, why


def test_an_id_token_signed_with_a_key_not_in_the_jwks_is_refused(sso_app, idp):
    idp.sign_in_as("s-4", affiliation="student")
    idp.sign_with_foreign_key()
    client = sso_app.test_client()
    _through_provider(client, "nordskolan")
    assert _signed_in_as(client) is None and not _events(sso_app, "login")
    assert [e.details["reason"] for e in _events(sso_app, "login_failed")] == ["bad_signature"]


def test_the_login_page_offers_each_schools_provider(sso_app):
    page = sso_app.test_client().get("/login").text
    assert "/login/oidc/nordskolan" in page and "Nordskolan (Feide)" in page
    assert "/login/oidc/sodra" in page and SODRA in page
    assert (
        sso_app.test_client().get("/login/oidc").status_code == 404
    )  # several providers: one must be named
    assert sso_app.test_client().get("/login/oidc/nope").status_code == 404


@pytest.mark.parametrize(
    "text, message",
    [
        ("[providers.x]\nschool = 'A'\nclient_id = 'c'\n", "issuer is required"),
        (
            "[providers.x]\nschool='A'\nissuer='https://i'\nclient_id='c'\nroles={staff='admin'}\nrole_claim='r'\n",
            "roles maps claim values",
        ),
        (
            "[providers.x]\nschool='A'\nissuer='https://i'\nclient_id='c'\ncreate_users=true\n",
            "create_users needs role_claim",
        ),
        (
            "[providers.x]\nschool='A'\nissuer='https://i'\nclient_id='c'\nclient_secret_env='KATEDER_TEST_UNSET_VAR'\n",
            "is not set",
        ),
        ("[providers.X_Y]\nschool='A'\nissuer='https://i'\nclient_id='c'\n", "lower-case"),
        (
            "[providers.x]\nschool='A'\nissuer='https://i'\nclient_id='c'\nrole_clam='r'\n",
            "unknown keys role_clam",
        ),
        ("[providers.x\n", "not valid TOML"),
    ],
)
def test_a_wrong_provider_file_stops_the_start_with_a_clear_message(
    tmp_path, app_config, fakes, text, message
):
    path = tmp_path / "idp.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProviderError, match=message):
        create_app({**app_config, "OIDC_PROVIDERS": str(path)}, services=fakes)


def test_the_single_provider_settings_keep_their_redirect_uri_and_the_accounts_role(
    app_config, fakes, idp
):
    idp.register(
        "kateder", "s3cret", "http://localhost/login/oidc/callback"
    )  # registered before per-school providers
    app = create_app(
        {
            **app_config,
            "OIDC_ISSUER": idp.issuer,
            "OIDC_CLIENT_ID": "kateder",
            "OIDC_CLIENT_SECRET": "s3cret",
        },
        services=fakes,
    )
    services = get_services(app)
    try:
        with services.db.session() as s:
            accounts.create_user(
                s, accounts.create_school(s, "Any School"), "karin.t", "pw-karin-123", "teacher"
            )
        idp.sign_in_as(
            "sub-karin", preferred_username="karin.t", affiliation="student"
        )  # no role mapping here
        client = app.test_client()
        r = client.get("/login/oidc")
        assert (
            "redirect_uri=http%3A%2F%2Flocalhost%2Flogin%2Foidc%2Fcallback" in r.headers["Location"]
        )
        back = requests.get(r.headers["Location"], allow_redirects=False, timeout=10)
        callback = urlsplit(back.headers["Location"])
        assert callback.path == "/login/oidc/callback"
        client.get(f"{callback.path}?{callback.query}")
        assert _signed_in_as(client).endswith("/teach/")
    finally:
        services.db.dispose()
