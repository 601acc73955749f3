"""Bad input at the API: property-based tests from the project's own OpenAPI description.

schemathesis generates valid and invalid requests (wrong types, empty, missing fields,
unicode) for every operation in ``/api/openapi.json`` and calls the Flask app through
its WSGI interface; explicit hypothesis tests add what a schema cannot express: binary
and oversize bodies, deep nesting, unicode edge cases. No 500s, no stack traces.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.checks import negative_data_rejection

from app import create_app
from app.api.openapi import spec
from app.demo import create_demo
from app.services import get_services
from tests.fakes import EchoGenerator, HashingEmbedder, KeywordGuard

_LEAKS = ("Traceback", 'File "/', "sqlalchemy.", "psycopg", "Error at 0x", "werkzeug.")


@schemathesis.check
def no_stack_trace(ctx, response, case):
    """The body never shows a stack trace or an internal exception name; errors are JSON."""
    body = response.text or ""
    for leak in _LEAKS:
        if leak in body:
            raise AssertionError(f"response leaks internals ({leak!r}): {body[:200]}")
    if response.status_code >= 400:
        data = json.loads(body)
        assert isinstance(data.get("message"), str) and data["message"], body[:200]
    return None


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory, template_db):
    """One app with the demo school for all examples (fakes at our interfaces, real database)."""
    import shutil

    home = tmp_path_factory.mktemp("fuzz") / "instance"
    home.mkdir()
    shutil.copy(template_db, home / "kateder.db")
    app = create_app(
        {
            "HOME": str(home),
            "DATABASE_URL": f"sqlite:///{home / 'kateder.db'}",
            "SECRET_KEY": "test",
            "TESTING": True,
            "JOBS_IN_PROCESS": False,
            "RATELIMIT_ENABLED": False,
        },
        services={
            "guard": KeywordGuard(),
            "embedder": HashingEmbedder(),
            "generator": EchoGenerator(),
        },
    )
    demo = create_demo(get_services(app))
    password = next(u["password"] for u in demo["users"] if u["username"] == "teacher")
    r = app.test_client().post("/api/v1/tokens", json={"username": "teacher", "password": password})
    app.config["FUZZ_HEADERS"] = {"Authorization": f"Bearer {r.get_json()['token']}"}

    def throwaway() -> dict[str, str]:  # for operations that revoke the token they are called with
        token = (
            app.test_client()
            .post("/api/v1/tokens", json={"username": "teacher", "password": password})
            .get_json()["token"]
        )
        return {"Authorization": f"Bearer {token}"}

    app.config["FUZZ_THROWAWAY_HEADERS"] = throwaway
    yield app
    get_services(app).db.dispose()


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    """The served OpenAPI description, loaded by schemathesis through WSGI."""
    return schemathesis.openapi.from_wsgi("/api/openapi.json", fuzz_app)


OPERATIONS = [
    pytest.param(method.upper(), path, mode, id=f"{method.upper()} {path} {mode.value}")
    for path, ops in spec()["paths"].items()
    for method, op in ops.items()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE
    or op.get("parameters")
    or op.get("requestBody")  # nothing to make invalid
]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    no_stack_trace,
]


@pytest.mark.parametrize(("method", "path", "mode"), OPERATIONS)
def test_generated_requests_get_no_server_error(api_schema, fuzz_app, method, path, mode):
    operation = api_schema[path][method]

    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        revokes = method == "DELETE" and path.startswith("/api/v1/tokens")
        auth = (
            fuzz_app.config["FUZZ_THROWAWAY_HEADERS"]()
            if revokes
            else fuzz_app.config["FUZZ_HEADERS"]
        )
        headers = {} if case.headers and "Authorization" in case.headers else dict(auth)
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


def _check(r) -> None:
    assert r.status_code < 500, r.get_data(as_text=True)[:300]
    body = r.get_data(as_text=True)
    assert not any(leak in body for leak in _LEAKS), body[:300]
    assert r.is_json and r.get_json()["message"]


_ENDPOINTS = ["/api/v1/tokens", "/api/v1/courses/SCI7/ask"]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(
    body=st.binary(max_size=4096),
    endpoint=st.sampled_from(_ENDPOINTS),
    ctype=st.sampled_from(
        [
            "application/json",
            "application/octet-stream",
            "text/plain; charset=utf-8",
            "multipart/form-data",
        ]
    ),
)
def test_binary_bodies_are_rejected_cleanly(fuzz_app, body, endpoint, ctype):
    r = fuzz_app.test_client().post(
        endpoint, data=body, content_type=ctype, headers=fuzz_app.config["FUZZ_HEADERS"]
    )
    _check(r)
    assert r.status_code in (400, 401, 413, 415)


_EDGE_TEXT = st.one_of(
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=300),
    st.sampled_from(
        [
            "\u0000",
            "\ufeffWhat?",
            "\u202eWhere does photosynthesis happen?",
            "e\u0301" * 500,
            "🧪" * 700,
            "\ud800",
            "A\u200bB\u200cC\u200dD",
            "ﷺ" * 300,
            " \t\n ",
            "𝔭𝔥𝔬𝔱𝔬𝔰𝔶𝔫𝔱𝔥𝔢𝔰𝔦𝔰?",
            "x" * 2000,
            "x" * 2001,
        ]
    ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(question=_EDGE_TEXT)
def test_unicode_edge_cases_in_questions(fuzz_app, question):
    payload = json.dumps(
        {"question": question}, ensure_ascii=True
    )  # lone surrogates travel as \\ud800 escapes
    r = fuzz_app.test_client().post(
        "/api/v1/courses/SCI7/ask",
        data=payload,
        content_type="application/json",
        headers=fuzz_app.config["FUZZ_HEADERS"],
    )
    if r.status_code != 200:
        _check(r)
    assert r.status_code in (200, 400, 429)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(depth=st.integers(min_value=50, max_value=5000), kind=st.sampled_from(["list", "dict"]))
def test_deeply_nested_json_is_rejected_cleanly(fuzz_app, depth, kind):
    inner = '"What is photosynthesis?"'
    nested = (
        ("[" * depth + inner + "]" * depth)
        if kind == "list"
        else ('{"a":' * depth + inner + "}" * depth)
    )
    for body in (
        nested,
        '{"question": ' + nested + "}",
        '{"username": ' + nested + ', "password": "x"}',
    ):
        for endpoint in _ENDPOINTS:
            r = fuzz_app.test_client().post(
                endpoint,
                data=body,
                content_type="application/json",
                headers=fuzz_app.config["FUZZ_HEADERS"],
            )
            _check(r)
            assert r.status_code in (400, 401)


def test_oversize_body_is_refused_with_413(fuzz_app):
    limit = fuzz_app.config["MAX_CONTENT_LENGTH"]
    big = b'{"question": "' + b"a" * (limit + 10) + b'"}'
    r = fuzz_app.test_client().post(
        "/api/v1/courses/SCI7/ask",
        data=big,
        content_type="application/json",
        headers=fuzz_app.config["FUZZ_HEADERS"],
    )
    _check(r)
    assert r.status_code == 413


# ids at and past every bound: 0, negatives, 2**31 (PostgreSQL's integer), 2**63 (SQLite's limit)
# and beyond
_IDS = st.one_of(
    st.integers(),
    st.sampled_from([0, -1, -(2**63), 2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**64, 10**30]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(value=_IDS)
def test_integer_ids_out_of_range_are_400_or_404_in_the_api_and_the_stream(fuzz_app, value):
    client = fuzz_app.test_client()
    for endpoint in ("/api/v1/courses/SCI7/ask", "/api/v1/courses/SCI7/ask/stream"):
        r = client.post(
            endpoint,
            json={"question": "What is photosynthesis?", "conversation_id": value},
            headers=fuzz_app.config["FUZZ_HEADERS"],
        )
        if r.status_code != 200:
            _check(r)
        assert r.status_code in (200, 400, 404), (endpoint, value, r.status_code)
    for path in (
        f"/api/v1/jobs/{value}",
        f"/api/v1/courses/SCI7/documents/{value}/passages",
        f"/api/v1/courses/SCI7/documents/{value}/original",
    ):
        r = client.get(path, headers=fuzz_app.config["FUZZ_HEADERS"])
        assert r.status_code in (200, 404), (path, r.status_code)
        if r.status_code != 200:
            _check(r)


@pytest.mark.parametrize(
    "value", ["9223372036854775808", "-1", "0", "99999999999999999999", "²", "１２", "1e3"]
)
def test_out_of_range_ids_in_web_forms_and_paths_are_400_or_404(fuzz_app, value):
    from app.services import accounts
    from core.models import User

    client = fuzz_app.test_client()
    with get_services(fuzz_app).db.session() as s:
        from sqlalchemy import select

        user = s.scalar(select(User).where(User.username == "student1"))
        key = accounts.start_session(s, user)
        uid = user.id
    with client.session_transaction() as sess:
        sess["_user_id"], sess["_fresh"], sess["sid"] = str(uid), True, key
    fuzz_app.config["WTF_CSRF_ENABLED"] = False
    try:
        r = client.post(
            "/classroom/SCI7/ask",
            data={"question": "What is photosynthesis?", "conversation_id": value},
        )
        assert r.status_code in (400, 404), r.status_code
        for path in (f"/classroom/SCI7/c/{value}", f"/classroom/messages/{value}/feedback"):
            r = client.open(
                path, method="GET" if "/c/" in path else "POST", data={"feedback": "up"}
            )
            assert r.status_code in (400, 404, 405), (path, r.status_code)
    finally:
        fuzz_app.config["WTF_CSRF_ENABLED"] = True
