"""LTI 1.3 launches end to end, against a real platform implementation on loopback
(tests/lti_platform.py).

The platform is ``lti1p3platform`` (PyPI) served over HTTP on 127.0.0.1: it builds the login
initiation request, checks Kateder's authentication request, signs RS256 id_tokens and
verifies Kateder's deep-linking response against Kateder's JWKS. The browser's part is
played by Flask's test client (Kateder) and ``requests`` (the platform). Kateder fetches the
platform's JWKS over HTTP, so the signature, exp, nonce, state, registration and deployment
checks all run on real JWTs.
"""

from __future__ import annotations

import jwt
import pytest
import requests
from sqlalchemy import select

from app import create_app
from app.services import accounts, get_services, lti
from core.lti_models import LtiContext, LtiRegistration, LtiUser
from core.models import AuditEvent, Course, Enrolment, User
from tests.lti_platform import INSTRUCTOR, LEARNER, LtiPlatform, form_fields, path_of

SCHOOL, CODE = "Nordskolan", "BIO7"


@pytest.fixture
def platform():
    """The learning platform, serving."""
    with LtiPlatform() as p:
        yield p


@pytest.fixture
def lti_app(app_config, fakes, platform):
    """Kateder with a school, a course and the platform registered for the school."""
    app = create_app({**app_config, "WTF_CSRF_ENABLED": False}, services=fakes)
    services = get_services(app)
    with services.db.session() as s:
        school = accounts.create_school(s, SCHOOL, "NO")
        accounts.create_course(s, school, CODE, "Biology 7")
        accounts.create_user(s, school, "nord-admin", "pw-admin-123", "admin")
        other = accounts.create_school(s, "Elsewhere", "SE")
        accounts.create_course(s, other, "ELSE1", "Another school's course")
        lti.create_registration(
            s,
            school,
            lti.RegistrationForm(
                issuer=platform.issuer,
                client_id=platform.client_id,
                auth_login_url=platform.auth_url,
                key_set_url=platform.jwks_url,
                deployment_ids=("dep-1",),
                label="Nordskolan Moodle",
            ),
        )
    platform.tool_jwks = (
        app.test_client().get("/lti/jwks").get_json()
    )  # as the LMS admin pastes or fetches it
    yield app
    services.db.dispose()


def _launch(client, platform):
    """Run the whole launch for ``platform.next_launch``: (Kateder's answer to the id_token post,
    the post's form)."""
    r = client.get(path_of(platform.login_initiation_url()))
    assert r.status_code == 302, r.text
    auth = r.headers["Location"]
    assert auth.startswith(platform.auth_url + "?")
    page = requests.get(auth, timeout=10)
    assert page.status_code == 200, page.text
    action, fields = form_fields(page.text, "id_token")
    assert action == "http://localhost/lti/launch" and set(fields) == {"id_token", "state"}
    return client.post(path_of(action), data=fields), fields


def _home(client) -> str | None:
    """Where the start page sends this browser (None: the login page)."""
    location = client.get("/").headers["Location"]
    return None if "/login" in location else location


def _failures(app) -> list[str]:
    with get_services(app).db.session() as s:
        events = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "login_failed").order_by(AuditEvent.id)
        )
        return [e.details["reason"] for e in events]


def _lti_user(app, sub: str) -> User | None:
    with get_services(app).db.session() as s:
        link = s.scalar(select(LtiUser).where(LtiUser.sub == sub))
        return s.get(User, link.user_id) if link else None


def _enrolment_role(app, user: User, code: str) -> str | None:
    with get_services(app).db.session() as s:
        course = s.scalar(select(Course).where(Course.code == code))
        return s.scalar(
            select(Enrolment.role).where(
                Enrolment.user_id == user.id, Enrolment.course_id == course.id
            )
        )


def test_student_launch_signs_in_a_pseudonymous_student_in_the_placed_course(lti_app, platform):
    platform.next_launch.custom = {"kateder_course": CODE}  # what a deep-linked resource carries
    client = lti_app.test_client()
    r, _ = _launch(client, platform)
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/classroom/{CODE}")
    assert client.get(f"/classroom/{CODE}").status_code == 200
    user = _lti_user(lti_app, "lms-user-1")
    assert user.role == "student" and user.username.startswith("lti-")
    assert user.display_name is None  # the platform sent a name and an e-mail; neither is kept
    assert "Ola" not in user.username and "ola@" not in user.username
    assert _enrolment_role(lti_app, user, CODE) == "student"
    with get_services(
        lti_app
    ).db.session() as s:  # the LMS course is now placed on the Kateder course
        assert s.scalar(select(LtiContext.context_id)) == "lms-course-7"


def test_teacher_launch_opens_the_teacher_panel_of_the_course(lti_app, platform):
    platform.next_launch.sub, platform.next_launch.roles = "lms-teacher-9", [INSTRUCTOR]
    platform.next_launch.custom = {"kateder_course": CODE}
    client = lti_app.test_client()
    r, _ = _launch(client, platform)
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/teach/{CODE}")
    assert client.get(f"/teach/{CODE}").status_code == 200
    user = _lti_user(lti_app, "lms-teacher-9")
    assert user.role == "teacher" and _enrolment_role(lti_app, user, CODE) == "teacher"


def test_a_student_of_an_lms_course_that_is_not_placed_gets_nothing(lti_app, platform):
    r, _ = _launch(lti_app.test_client(), platform)
    assert r.status_code == 403 and "not set up in Kateder" in r.text
    assert _failures(lti_app) == ["no_course"]


def test_an_expired_id_token_is_refused(lti_app, platform):
    platform.next_launch.custom = {"kateder_course": CODE}
    platform.next_launch.expires_in = -120  # signed by the platform, but expired two minutes ago
    client = lti_app.test_client()
    r, _ = _launch(client, platform)
    assert r.status_code == 400 and _home(client) is None
    assert _lti_user(lti_app, "lms-user-1") is None
    assert "expired" in _failures(lti_app)[0]


def test_a_replayed_id_token_is_refused(lti_app, platform):
    platform.next_launch.custom = {"kateder_course": CODE}
    client = lti_app.test_client()
    r, fields = _launch(client, platform)
    assert r.status_code == 302
    again = client.post(
        "/lti/launch", data=fields
    )  # the same browser posts the same id_token and state again
    assert again.status_code == 400
    elsewhere = lti_app.test_client().post(
        "/lti/launch", data=fields
    )  # another browser (no state cookie)
    assert elsewhere.status_code == 400
    assert [reason.split(":")[0] for reason in _failures(lti_app)] == [
        "Invalid Nonce",
        "Missing %s cookie session-id",
    ]


def test_an_id_token_for_another_audience_is_refused(lti_app, platform):
    platform.next_launch.custom = {"kateder_course": CODE}
    platform.next_launch.extra_claims = {"aud": "some-other-tool", "azp": "some-other-tool"}
    client = lti_app.test_client()
    r, fields = _launch(client, platform)
    assert (
        jwt.decode(fields["id_token"], options={"verify_signature": False})["aud"]
        == "some-other-tool"
    )
    assert r.status_code == 400 and _home(client) is None
    assert _failures(lti_app) == ["Registration not found."]


def test_several_audiences_need_kateder_as_the_authorized_party(lti_app, platform):
    platform.next_launch.custom = {"kateder_course": CODE}
    platform.next_launch.extra_claims = {
        "aud": [platform.client_id, "some-other-tool"],
        "azp": "some-other-tool",
    }
    r, _ = _launch(lti_app.test_client(), platform)
    assert r.status_code == 400 and _failures(lti_app) == ["azp"]


def test_an_unknown_deployment_is_refused(lti_app, platform):
    platform.next_launch.custom = {"kateder_course": CODE}
    platform.next_launch.deployment_id = "dep-not-registered"
    client = lti_app.test_client()
    r, _ = _launch(client, platform)
    assert r.status_code == 400 and _home(client) is None
    assert _failures(lti_app) == ["Unable to find deployment"]


def test_a_token_signed_with_another_key_is_refused(lti_app, platform):
    from tests.lti_platform import _pem_pair

    platform.next_launch.custom = {"kateder_course": CODE}
    platform.private_key, _ = _pem_pair()  # the JWKS still serves the old public key
    r, _ = _launch(lti_app.test_client(), platform)
    assert r.status_code == 400 and _failures(lti_app)[0].startswith("Unable to find public key")


def test_deep_linking_places_a_kateder_course_that_students_then_launch(lti_app, platform):
    platform.next_launch.sub, platform.next_launch.roles, platform.next_launch.deep_link = (
        "lms-teacher-9",
        [INSTRUCTOR],
        True,
    )
    teacher = lti_app.test_client()
    r, _ = _launch(teacher, platform)
    assert r.status_code == 200 and "Biology 7 (BIO7)" in r.text
    assert "Another school" not in r.text  # only the registration's school's courses
    assert f"frame-ancestors {platform.issuer}" in r.headers["Content-Security-Policy"]
    launch_id = form_fields(r.text, "launch_id")[1]["launch_id"]
    back = teacher.post("/lti/deep-link", data={"launch_id": launch_id, "course": CODE})
    assert back.status_code == 200
    action, fields = form_fields(back.text, "JWT")
    assert action == platform.deep_link_return_url
    response_jwt = jwt.decode(fields["JWT"], options={"verify_signature": False})
    assert response_jwt["iss"] == platform.client_id and response_jwt["aud"] == [platform.issuer]
    placed = requests.post(
        action, data=fields, timeout=10
    )  # the platform verifies it with Kateder's JWKS
    assert placed.status_code == 200, placed.text
    [item] = platform.deep_link_items
    assert item["type"] == "ltiResourceLink" and item["url"] == "http://localhost/lti/launch"
    assert item["custom"] == {"kateder_course": CODE} and item["title"] == "Biology 7"
    assert (
        teacher.post("/lti/deep-link", data={"launch_id": launch_id, "course": CODE}).status_code
        == 400
    )  # once
    user = _lti_user(lti_app, "lms-teacher-9")
    assert _enrolment_role(lti_app, user, CODE) == "teacher"

    # a student of the LMS course opens the placed link (the platform sends its custom parameters)
    platform.next_launch = type(platform.next_launch)(
        sub="lms-student-3", roles=[LEARNER], custom=item["custom"]
    )
    r, _ = _launch(lti_app.test_client(), platform)
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/classroom/{CODE}")
    # and, the context being placed, a launch without the custom parameter finds the course too
    platform.next_launch = type(platform.next_launch)(sub="lms-student-4", roles=[LEARNER])
    r, _ = _launch(lti_app.test_client(), platform)
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/classroom/{CODE}")


def test_a_learner_cannot_deep_link(lti_app, platform):
    platform.next_launch.deep_link = True
    r, _ = _launch(lti_app.test_client(), platform)
    assert r.status_code == 403 and _failures(lti_app) == ["not_instructor"]


def test_a_deep_link_response_for_another_schools_course_is_refused(lti_app, platform):
    platform.next_launch.sub, platform.next_launch.roles, platform.next_launch.deep_link = (
        "lms-teacher-9",
        [INSTRUCTOR],
        True,
    )
    teacher = lti_app.test_client()
    r, _ = _launch(teacher, platform)
    launch_id = form_fields(r.text, "launch_id")[1]["launch_id"]
    assert (
        teacher.post("/lti/deep-link", data={"launch_id": launch_id, "course": "ELSE1"}).status_code
        == 400
    )
    assert (
        lti_app.test_client()
        .post("/lti/deep-link", data={"launch_id": launch_id, "course": CODE})
        .status_code
        == 400
    )
    assert _failures(lti_app)[0] == "unknown_course"


def test_a_registration_that_keeps_names_stores_the_display_name(lti_app, platform):
    with get_services(lti_app).db.session() as s:
        s.scalar(select(LtiRegistration)).keep_names = True
    platform.next_launch.custom = {"kateder_course": CODE}
    r, _ = _launch(lti_app.test_client(), platform)
    assert r.status_code == 302
    assert _lti_user(lti_app, "lms-user-1").display_name == "Ola Nordmann"


def test_the_role_follows_the_launch(lti_app, platform):
    platform.next_launch.custom = {"kateder_course": CODE}
    platform.next_launch.roles = [INSTRUCTOR]
    _launch(lti_app.test_client(), platform)
    platform.next_launch.roles = [LEARNER]
    r, _ = _launch(lti_app.test_client(), platform)
    assert r.headers["Location"].endswith(f"/classroom/{CODE}")
    assert _lti_user(lti_app, "lms-user-1").role == "student"


def test_the_tool_jwks_serves_each_registrations_key(lti_app, platform):
    keys = lti_app.test_client().get("/lti/jwks").get_json()["keys"]
    with get_services(lti_app).db.session() as s:
        registration = s.scalar(select(LtiRegistration))
        assert [k["kid"] for k in keys] == [registration.key_id]
    assert keys[0]["kty"] == "RSA" and "d" not in keys[0]  # public only


def test_admin_adds_lists_and_removes_a_registration(lti_app, platform):
    client = lti_app.test_client()
    assert (
        client.post(
            "/login", data={"username": "nord-admin", "password": "pw-admin-123"}
        ).status_code
        == 302
    )
    page = client.get("/admin/lti")
    assert (
        page.status_code == 200
        and "Nordskolan Moodle" in page.text
        and "http://localhost/lti/jwks" in page.text
    )
    form = {
        "label": "Canvas",
        "issuer": "https://canvas.instructure.com",
        "client_id": "10000000000001",
        "deployment_ids": "1:abc, 2:def",
        "auth_login_url": "https://sso.canvaslms.com/api/lti/authorize_redirect",
        "key_set_url": "https://sso.canvaslms.com/api/lti/security/jwks",
    }
    assert client.post("/admin/lti", data={**form, "deployment_ids": ""}).status_code == 400
    assert client.post("/admin/lti", data=form).status_code == 302
    with get_services(lti_app).db.session() as s:
        added = s.scalar(select(LtiRegistration).where(LtiRegistration.label == "Canvas"))
        assert added.deployment_ids == ["1:abc", "2:def"] and not added.keep_names
        added_id = added.id
    assert "Canvas" in client.get("/admin/lti").text
    assert client.post(f"/admin/lti/{added_id}/delete").status_code == 302
    assert client.post(f"/admin/lti/{added_id}/delete").status_code == 404


def test_the_dpia_record_says_lti_users_are_pseudonymous(lti_app):
    from app.services.dpia import record_of_processing

    record = record_of_processing(get_services(lti_app))
    [category] = [c for c in record["data_categories"] if "LTI" in c["category"]]
    assert "pseudonymous" in category["items"] and "no name or e-mail" in category["items"]
    assert any(m.startswith("LTI users are pseudonymous") for m in record["security_measures"])
