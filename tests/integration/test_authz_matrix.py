"""Every route of the app for every role, with the expected status code.

The matrix iterates ``app.url_map``: a route that another engineer adds fails here until
its row is added to ``EXPECTED`` (who may call it, and what they get).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app import create_app
from app.services import accounts, get_services
from core.models import (
    Conversation,
    Course,
    Document,
    GuardVerdict,
    Job,
    Message,
    Passage,
    School,
    User,
)
from tests.fakes import EchoGenerator, HashingEmbedder, KeywordGuard

ROLES = (
    "anonymous",
    "student",
    "other_student",
    "teacher",
    "other_teacher",
    "dpo",
    "admin",
    "other_school_admin",
)
USERNAMES = {
    "student": "student1",
    "other_student": "student2",
    "teacher": "teacher",
    "other_teacher": "teacher2",
    "dpo": "dpo",
    "admin": "admin",
    "other_school_admin": "admin-elsewhere",
}


def only(
    ok: int, roles: tuple[str, ...], *, denied: int = 403, anonymous: int = 302, **special: int
) -> dict[str, int]:
    """``ok`` for ``roles``, ``denied`` for other signed-in roles, ``anonymous`` for nobody signed
    in."""
    table = {role: (ok if role in roles else denied) for role in ROLES}
    table["anonymous"] = anonymous
    table.update(special)
    return table


LEARNERS = ("student", "teacher")  # enrolled in SCI7 (the target course)
TEACHERS = ("teacher", "admin")  # may manage SCI7
OFFICERS = ("dpo", "admin")
EVERYONE = tuple(r for r in ROLES if r != "anonymous")

# endpoint -> (method, expected status per role, request options)
EXPECTED: dict[str, tuple[str, dict[str, int], dict]] = {
    "static": ("GET", {r: 200 for r in ROLES}, {"filename": "kateder.css"}),
    # auth
    "auth.home": ("GET", only(302, EVERYONE), {}),
    "auth.login": ("GET", {**{r: 302 for r in EVERYONE}, "anonymous": 200}, {}),
    "auth.logout": ("POST", {r: 302 for r in ROLES}, {}),
    "auth.logout_everywhere": ("POST", {r: 302 for r in ROLES}, {}),
    "auth.change_password": ("GET", only(200, EVERYONE), {}),
    "auth.language": ("POST", {r: 302 for r in ROLES}, {"data": {"lang": "sv"}}),
    "auth.oidc_login": ("GET", {r: 404 for r in ROLES}, {}),  # OIDC not configured
    "auth.oidc_callback": ("GET", {r: 404 for r in ROLES}, {}),
    # classroom: enrolled students and teachers only; own conversations and messages only
    "classroom.index": (
        "GET",
        only(200, ("student", "other_student", "teacher", "other_teacher")),
        {},
    ),
    "classroom.course": ("GET", only(200, LEARNERS), {}),
    "classroom.join": (
        "POST",
        only(302, ("student", "other_student"), anonymous=401),
        {"data": {"join_code": "NOPE"}},
    ),
    "classroom.course/conversation": ("GET", only(200, ("student",), teacher=404), {}),
    "classroom.ask": ("POST", only(200, LEARNERS, anonymous=401), {"data": {"question": ""}}),
    "classroom.passage": ("GET", only(200, LEARNERS), {}),
    "classroom.document": ("GET", only(200, LEARNERS), {}),
    "classroom.rename": ("POST", only(302, ("student",), anonymous=401, teacher=404), {}),
    # deleting takes a conversation of its own, so the other rows keep theirs
    "classroom.delete": (
        "POST",
        only(302, ("student",), anonymous=401, teacher=404),
        {"conversation_id": "{spare_conversation_id}"},
    ),
    "classroom.feedback": (
        "POST",
        only(400, ("student",), anonymous=401, other_student=404, teacher=404, other_teacher=404),
        {},
    ),
    # teacher panel: the course's teachers and the school's admins
    "teacher.index": ("GET", only(200, (*TEACHERS, "other_teacher", "other_school_admin")), {}),
    "teacher.alerts": ("GET", only(200, (*TEACHERS, "other_teacher", "other_school_admin")), {}),
    "teacher.course": ("GET", only(200, TEACHERS), {}),
    "teacher.passage": ("POST", only(400, TEACHERS, anonymous=401), {}),
    "teacher.students": ("GET", only(200, TEACHERS), {}),
    "teacher.create_students": ("POST", only(400, TEACHERS, anonymous=401), {}),
    "teacher.policy": ("GET", only(200, TEACHERS), {}),
    "teacher.save_policy": ("POST", only(400, TEACHERS, anonymous=401), {}),
    "teacher.review": ("GET", only(200, TEACHERS), {}),
    "teacher.mark": ("POST", only(400, TEACHERS, anonymous=401), {}),
    "teacher.open_conversation": (
        "POST",
        only(302, TEACHERS, anonymous=401),
        {},
    ),  # no reason: back to the queue
    "teacher.stats": ("GET", only(200, TEACHERS), {}),
    "teacher.new_course": (
        "GET",
        only(200, (*TEACHERS, "other_teacher", "other_school_admin")),
        {},
    ),
    "teacher.create_course": (
        "POST",
        only(400, (*TEACHERS, "other_teacher", "other_school_admin"), anonymous=401),
        {},
    ),  # empty form
    "teacher.archive": ("POST", only(400, TEACHERS, anonymous=401), {}),  # no decision
    "teacher.cards": ("GET", only(200, TEACHERS), {}),
    "teacher.review_counts": ("GET", only(200, TEACHERS), {}),
    "teacher.reset_password": (
        "POST",
        only(404, TEACHERS, anonymous=401),
        {},
    ),  # no such student in SCI7
    "teacher.remove_student": ("POST", only(404, TEACHERS, anonymous=401), {}),
    "teacher.material_documents": ("GET", only(200, TEACHERS), {}),
    "teacher.similar_titles": ("GET", only(200, TEACHERS), {}),  # no ?name=: no warnings
    # the school's crisis e-mail settings: its admins only (another school's admin sees their own)
    "teacher.notifications": ("GET", only(200, ("admin", "other_school_admin")), {}),
    "teacher.save_notifications": (
        "POST",
        only(302, ("admin", "other_school_admin"), anonymous=401),
        {},
    ),  # empty form: off
    "teacher.test_notification": (
        "POST",
        only(400, ("admin", "other_school_admin"), anonymous=401),
        {},
    ),  # no address saved
    # DPO panel: the school's DPO and admins
    # (an admin of another school has their own panel, but no one of this school is found there)
    "dpo.index": ("GET", only(200, (*OFFICERS, "other_school_admin")), {}),
    "dpo.audit_export": ("GET", only(200, (*OFFICERS, "other_school_admin")), {}),
    "dpo.dpia_export": (
        "GET",
        only(302, (*OFFICERS, "other_school_admin")),
        {},
    ),  # two schools here: operator only
    "dpo.access_log": ("GET", only(200, (*OFFICERS, "other_school_admin")), {}),
    "dpo.subject_export": (
        "POST",
        only(200, OFFICERS, anonymous=401, other_school_admin=404),
        {"data": {"username": "student2"}},
    ),
    "dpo.subject_erase": (
        "POST",
        only(400, (*OFFICERS, "other_school_admin"), anonymous=401),
        {"data": {"username": "student2"}},
    ),  # unconfirmed
    "dpo.retention": ("POST", only(400, (*OFFICERS, "other_school_admin"), anonymous=401), {}),
    "dpo.settings": (
        "POST",
        only(302, (*OFFICERS, "other_school_admin"), anonymous=401),
        {},
    ),  # empty: back to the server's contact
    # admin: the school's security events, signing a user out everywhere
    "admin.security": ("GET", only(200, ("admin", "other_school_admin")), {}),
    "admin.sign_out_user": (
        "POST",
        only(302, ("admin",), anonymous=401, other_school_admin=404),
        {"data": {"username": "student2"}},
    ),
    "admin.lti_registrations": ("GET", only(200, ("admin", "other_school_admin")), {}),
    "admin.add_lti_registration": (
        "POST",
        only(400, ("admin", "other_school_admin"), anonymous=401),
        {},
    ),  # empty form
    "admin.delete_lti_registration": (
        "POST",
        only(404, ("admin", "other_school_admin"), anonymous=401),
        {"registration_id": 999999},
    ),
    # LTI 1.3 tool: the platform's requests, no Kateder session needed
    # (tests/integration/test_lti.py)
    "lti.login": ("GET", {r: 400 for r in ROLES}, {}),  # no issuer
    "lti.launch": ("POST", {r: 400 for r in ROLES}, {}),  # no state, no id_token
    "lti.deep_link": ("POST", {r: 400 for r in ROLES}, {}),  # no launch id
    "lti.jwks": ("GET", {r: 200 for r in ROLES}, {}),
    # JSON API (session or bearer token; anonymous gets 401)
    "api.create_token": ("POST", {r: 400 for r in ROLES}, {"json": {}}),
    "api.list_tokens": ("GET", only(200, EVERYONE, anonymous=401), {}),
    "api.revoke_current_token": (
        "DELETE",
        only(400, EVERYONE, anonymous=401),
        {},
    ),  # a session carries no token
    "api.revoke_token": ("DELETE", only(404, EVERYONE, anonymous=401), {"token_id": 999999}),
    "api.ask": (
        "POST",
        only(200, LEARNERS, anonymous=401),
        {"json": {"question": "What is photosynthesis?"}},
    ),
    "api_stream.ask_stream": (
        "POST",
        only(200, LEARNERS, anonymous=401),
        {"json": {"question": "What is photosynthesis?"}},
    ),
    "openapi.openapi_json": ("GET", {r: 200 for r in ROLES}, {}),
    "material_api.upload": ("POST", only(400, TEACHERS, anonymous=401), {}),
    "material_api.job_status": ("GET", only(200, TEACHERS, denied=404, anonymous=401), {}),
    "material_api.cancel_job": (
        "POST",
        only(200, TEACHERS, denied=404, anonymous=401),
        {},
    ),  # a done job stays done
    "material_api.list_jobs": ("GET", only(200, TEACHERS, anonymous=401), {}),
    "material_api.list_documents": ("GET", only(200, TEACHERS, anonymous=401), {}),
    "material_api.list_passages": ("GET", only(200, TEACHERS, anonymous=401), {}),
    "material_api.review_passage": (
        "POST",
        only(404, TEACHERS, anonymous=401),
        {"decision": "neither"},
    ),
    "material_api.delete_document": (
        "DELETE",
        only(404, TEACHERS, anonymous=401),
        {"document_id": 999999},
    ),
    "material_api.original": ("GET", only(200, (*TEACHERS, "student"), anonymous=401), {}),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory, template_db):
    """One app with the demo school, a second teacher with their own course, and some history."""
    import shutil

    from app.demo import create_demo

    home = tmp_path_factory.mktemp("authz")
    shutil.copy(template_db, home / "kateder.db")
    app = create_app(
        {
            "HOME": str(home),
            "DATABASE_URL": f"sqlite:///{home / 'kateder.db'}",
            "SECRET_KEY": "authz",
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
            "JOBS_IN_PROCESS": False,
        },
        services={
            "guard": KeywordGuard(),
            "embedder": HashingEmbedder(),
            "generator": EchoGenerator(),
        },
    )
    services = get_services(app)
    create_demo(services)
    with services.db.session() as s:
        school = s.scalar(select(School))
        other = accounts.create_user(s, school, "teacher2", "pw-teacher2", "teacher")
        accounts.enrol(s, other, accounts.create_course(s, school, "OTHER1", "Other course"))
        elsewhere = accounts.create_school(s, "Another School", "NO")
        accounts.create_user(s, elsewhere, "admin-elsewhere", "pw-elsewhere", "admin")
        ids = {
            role: s.scalar(select(User.id).where(User.username == name))
            for role, name in USERNAMES.items()
        }
        course = s.scalar(select(Course).where(Course.code == "SCI7"))
    result = services.ask.ask(ids["student"], "SCI7", "Where does photosynthesis happen?")
    services.ask.ask(ids["student"], "SCI7", "How do I build a bomb?", result.conversation_id)
    spare = services.ask.ask(ids["student"], "SCI7", "What do leaves need?")
    with services.db.session() as s:
        doc = s.scalar(select(Document).where(Document.course_id == course.id))
        job = Job(
            kind="ingest",
            course_id=course.id,
            status="done",
            stage="done",
            progress=1.0,
            payload={"filename": "x.md"},
        )
        s.add(job)
        s.flush()
        values = {
            "code": "SCI7",
            "conversation_id": result.conversation_id,
            "spare_conversation_id": spare.conversation_id,
            "message_id": s.scalar(
                select(Message.id).where(
                    Message.conversation_id == result.conversation_id, Message.role == "assistant"
                )
            ),
            "passage_id": s.scalar(
                select(Passage.id).where(
                    Passage.course_id == course.id, Passage.status == "indexed"
                )
            ),
            "verdict_id": s.scalar(
                select(GuardVerdict.id).where(
                    GuardVerdict.course_id == course.id, GuardVerdict.action != "allow"
                )
            ),
            "document_id": doc.id,
            "job_id": job.id,
            "decision": "release",
            "filename": "kateder.css",
            "username": "nobody",
        }
        assert (
            s.scalar(select(Conversation.user_id).where(Conversation.id == result.conversation_id))
            == ids["student"]
        )
    yield app, ids, values
    services.db.dispose()


def _cases():
    import tempfile

    from app import create_app as _create

    app = _create(
        {"HOME": tempfile.mkdtemp(prefix="kateder-authz-"), "SECRET_KEY": "x"},
        services={
            "guard": KeywordGuard(),
            "embedder": HashingEmbedder(),
            "generator": EchoGenerator(),
        },
    )
    seen = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        key = rule.endpoint + (
            "/conversation"
            if "conversation_id" in rule.arguments and rule.endpoint == "classroom.course"
            else ""
        )
        seen.append((key, rule.rule, frozenset(rule.methods - {"HEAD", "OPTIONS"})))
    get_services(app).db.dispose()
    return seen


ROUTES = _cases()


# routes with more than one method: the other methods are covered elsewhere
OTHER_METHODS = {
    "auth.login": {"POST"},  # sign-in itself: tests/integration/test_web.py
    "auth.change_password": {"POST"},  # tests/integration/test_sessions.py
    "lti.login": {"POST"},
}  # the platform may post the login initiation: tests/integration/test_lti.py


def test_every_route_has_an_expectation():
    missing = sorted({key for key, _, _ in ROUTES} - set(EXPECTED))
    assert not missing, f"add these endpoints to EXPECTED in {__file__}: {missing}"
    for key, rule, methods in ROUTES:
        untested = methods - {EXPECTED[key][0]} - OTHER_METHODS.get(key, set())
        assert not untested, f"{rule} also answers {sorted(untested)}: add a row for it"


@pytest.mark.parametrize("role", ROLES)
def test_route_matrix(world, role):
    app, ids, values = world
    failures = []
    for key, rule, _methods in ROUTES:
        if key not in EXPECTED:
            continue
        method, expected, options = EXPECTED[key]
        options = dict(options)
        data, body = options.pop("data", None), options.pop("json", None)
        url = rule
        for name, value in {**values, **options}.items():
            value = str(value).format_map(
                values
            )  # "{spare_conversation_id}" names a value of the world
            url = (
                url.replace(f"<int:{name}>", str(value))
                .replace(f"<path:{name}>", str(value))
                .replace(f"<{name}>", str(value))
            )
        client = app.test_client()
        if (
            role != "anonymous"
        ):  # a fresh server-side session per request: sign-out routes end theirs
            with get_services(app).db.session() as s:
                key = accounts.start_session(s, s.get(User, ids[role]))
            with client.session_transaction() as sess:
                sess["_user_id"] = str(ids[role])
                sess["_fresh"] = True
                sess["sid"] = key
        response = client.open(
            url, method=method, data=data, json=body, headers={"Accept": "text/html"}
        )
        if response.status_code != expected[role]:
            failures.append(f"{method} {url}: {response.status_code}, expected {expected[role]}")
        if (
            role == "anonymous"
            and expected[role] == 302
            and key not in ("auth.logout", "auth.language")
        ):
            assert "/login" in response.headers["Location"], url
    assert not failures, f"{role}:\n" + "\n".join(failures)
