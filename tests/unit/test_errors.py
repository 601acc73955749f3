"""The one hierarchy of user-facing errors (core/errors.py) and the families built on it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import Forbidden, KatederError, LimitReached, NotFound, Unavailable, UserError
from ingest.errors import IngestError, forbidden, not_found

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("cls", "status", "code"),
    [
        (KatederError, 500, "internal_error"),
        (UserError, 400, "bad_request"),
        (NotFound, 404, "not_found"),
        (Forbidden, 403, "forbidden"),
        (LimitReached, 429, "limit_reached"),
        (Unavailable, 503, "unavailable"),
    ],
)
def test_each_category_has_a_status_and_a_stable_code(cls, status, code):
    exc = cls("told to the user")
    assert (exc.status, exc.code, exc.text(), exc.message, str(exc)) == (
        status,
        code,
        *["told to the user"] * 3,
    )
    assert isinstance(exc, KatederError)


def test_a_raise_site_names_a_more_specific_code_and_templates_fill_in_per_language():
    exc = LimitReached({"en": "{n} a day", "sv": "{n} om dagen"}, code="daily_limit", n=5)
    assert (exc.status, exc.code, exc.params) == (429, "daily_limit", {"n": 5})
    assert (exc.text("sv"), exc.text("it"), exc.text()) == ("5 om dagen", "5 a day", "5 a day")


def test_a_literal_message_is_kept_as_it_is():
    assert UserError("braces {stay}").text("sv") == "braces {stay}"


def test_ingest_errors_belong_to_the_hierarchy_with_their_own_statuses():
    exc = IngestError("too_large", name="a.pdf", size="3.0", limit="2")
    assert isinstance(exc, KatederError) and isinstance(exc, ValueError)
    assert (exc.status, exc.code) == (413, "too_large")
    assert exc.text("sv") == exc.message("sv") and "gränsen" in exc.text("sv")
    assert exc.to_dict()["params"] == {"name": "a.pdf", "size": "3.0", "limit": "2"}
    literal = IngestError("ValueError: odd")
    assert (literal.status, literal.code, literal.message()) == (400, "error", "ValueError: odd")


def test_access_to_material_is_refused_as_not_found_or_forbidden_in_the_users_language():
    missing, refused = not_found("no_job", job=7), forbidden()
    assert isinstance(missing, NotFound) and not isinstance(missing, IngestError)
    assert (missing.status, missing.code, missing.text("de")) == (
        404,
        "no_job",
        "Der Auftrag 7 existiert nicht.",
    )
    assert isinstance(refused, Forbidden) and (refused.status, refused.code) == (403, "forbidden")
    assert "lärare" in refused.text("sv")


def test_the_older_family_names_catch_the_whole_hierarchy():
    from app.services.ask import AskError
    from app.services.gdpr import AccessDenied, GdprError, ReasonRequired, SubjectNotFound

    assert AskError is KatederError and GdprError is KatederError
    assert issubclass(ReasonRequired, UserError) and ReasonRequired("x").code == "reason_required"
    assert issubclass(AccessDenied, Forbidden) and issubclass(SubjectNotFound, NotFound)


def _check_size(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "scripts/check_size.py", *args], cwd=ROOT, capture_output=True, text=True
    )


def test_size_check_fails_on_an_offender_unless_the_allow_list_names_it(tmp_path):
    big = tmp_path / "big.py"
    big.write_text("def long():\n" + "    x = 1\n" * 90, encoding="utf-8")
    failed = _check_size(str(big))
    assert failed.returncode == 1 and "long has 91 lines" in failed.stdout
    allowed = _check_size(str(big), "--allow", f"{big.as_posix()}:long")
    assert allowed.returncode == 0 and "allowed:" in allowed.stdout
    stale = _check_size(str(big), "--allow", f"{big.as_posix()}:long", "--allow", "gone.py")
    assert stale.returncode == 0 and "--allow gone.py matches nothing" in stale.stdout


def test_the_services_validation_errors_belong_to_the_hierarchy_with_stable_codes():
    from app.services.accounts import AccountError
    from app.services.alerts import AlertSettingsError
    from app.services.courses import CourseError
    from app.services.lti import LtiError
    from app.services.retention import RetentionError
    from app.services.sso import ProviderError

    for exc, status, code in [
        (AccountError("username 'x' is taken"), 400, "account_invalid"),
        (CourseError("taken", value="SCI7"), 400, "course_taken"),
        (LtiError("issuer is required"), 400, "lti_registration_invalid"),
        (RetentionError("too short"), 400, "retention_invalid"),
        (AlertSettingsError("no_address"), 400, "alert_no_address"),
        (ProviderError("providers.toml: not valid TOML"), 500, "sso_providers_invalid"),
    ]:
        assert isinstance(exc, KatederError) and (exc.status, exc.code) == (status, code)
    course = CourseError("language", value="xx", choices="en, sv")
    assert (
        isinstance(course, AccountError)
        and course.problem == "language"
        and course.params == {"value": "xx", "choices": "en, sv"}
    )
    assert str(course) == "unknown language 'xx'; choose one of en, sv"
    assert AlertSettingsError("address").problem == "address"


def test_a_limit_may_say_when_to_try_again():
    assert LimitReached("wait").retry_after is None
    exc = LimitReached("too many attempts", code="too_many_attempts", retry_after=60)
    assert (exc.status, exc.code, exc.retry_after, exc.params) == (429, "too_many_attempts", 60, {})
