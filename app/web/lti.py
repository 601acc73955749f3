"""LTI 1.3 tool endpoints: OIDC login initiation, launch, deep linking, the tool's JWKS.

pylti1p3's Flask adapter runs the protocol; ``app/services/lti.py`` holds the registrations,
the launch state and the rules for who signs in. Login initiation, launch and the deep-link
choice are exempt from the session's CSRF token (app/security.py): the platform posts the
first two cross-site, and the third runs in the platform's frame where Kateder's
SameSite=Lax session cookie is not sent; each is bound instead to the OIDC state, a
single-use nonce and pylti1p3's own per-browser cookie.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from pylti1p3.contrib.flask import FlaskMessageLaunch, FlaskOIDCLogin, FlaskRequest
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.exception import LtiException, OIDCException

from app.security import CSP
from app.services import get_services, lti
from app.web.auth import HOME_FOR_ROLE, sign_in
from core.lti_models import LtiRegistration

bp = Blueprint("lti", __name__, url_prefix="/lti")


class _Http(requests.Session):
    """The session pylti1p3 fetches the platform's JWKS with: never without a timeout."""

    def request(self, *args, **kwargs):
        """Send with a 10-second timeout unless one is given."""
        kwargs.setdefault("timeout", 10)
        return super().request(*args, **kwargs)


def _parts():
    """The request adapter, tool configuration, state store and session service for this request."""
    db = get_services().db
    secure = request.is_secure or bool(current_app.config.get("SESSION_COOKIE_SECURE"))
    req = FlaskRequest(request_is_secure=secure)
    store = lti.LaunchStore(db.session)
    return req, lti.ToolConfig(db.session), store, lti.SingleUseNonces(req)


def _launch_url() -> str:
    return url_for("lti.launch", _external=True)


def _refuse(reason: str, registration: LtiRegistration | None = None, *, status: int = 400):
    """A security event for a refused launch, and a page that says so
    (it may show in the platform's frame).
    """
    services = get_services()
    with services.db.session() as s:
        services.audit.record(
            s,
            "login_failed",
            school_id=registration.school_id if registration else None,
            details={
                "method": f"lti:{registration.id}" if registration else "lti",
                "reason": reason[:80],
                "address": request.remote_addr or "-",
            },
        )
    messages = {
        "no_course": _("This course is not set up in Kateder yet. Ask your teacher."),
        "role_not_mapped": _("Kateder opens only for learners and instructors of the course."),
        "not_instructor": _("Only instructors can place Kateder in a course."),
    }
    message = messages.get(
        reason,
        _(
            "The launch from your learning platform could not be verified. "
            "Go back and open it again."
        ),
    )
    return render_template("lti/refused.html", message=message), status


def _framed(response, return_url: str):
    """Let the platform (the origin of ``return_url``) frame this page and receive its form."""
    parts = urlsplit(return_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    csp = CSP.replace("frame-ancestors 'none'", f"frame-ancestors {origin}").replace(
        "form-action 'self'", f"form-action 'self' {origin}"
    )
    response.headers["Content-Security-Policy"] = (
        csp  # frame-ancestors overrides X-Frame-Options in browsers
    )
    return response


@bp.route("/login", methods=["GET", "POST"])
def login():
    """OIDC third-party login initiation: back to the platform's
    authorization endpoint with state and nonce.
    """
    req, config, store, nonces = _parts()
    try:
        return FlaskOIDCLogin(
            req, config, session_service=nonces, launch_data_storage=store
        ).redirect(_launch_url())
    except (OIDCException, LtiException) as exc:
        return _refuse(f"login:{exc}")


@bp.post("/launch")
def launch():
    """The platform's form post with the id_token: verify it, then sign
    in (resource link) or pick a course (deep link).
    """
    req, config, store, nonces = _parts()
    try:
        message = FlaskMessageLaunch(
            req, config, session_service=nonces, launch_data_storage=store, requests_session=_Http()
        )
        claims = (
            message.get_launch_data()
        )  # validates state, nonce (once), registration, signature, exp, deployment
    except LtiException as exc:
        return _refuse(str(exc))
    client_id = message.get_client_id()
    aud = claims.get("aud")
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != client_id:
        return _refuse("azp")  # several audiences: the authorized party must be Kateder
    services = get_services()
    with services.db.session() as s:
        registration = config.registration_row(claims["iss"], client_id)
        if message.is_deep_link_launch():
            if lti.mapped_role(claims) != "teacher":
                return _refuse("not_instructor", registration, status=403)
            courses = [(c.code, c.title) for c in lti.courses_to_place(s, registration)]
            settings = (
                claims.get("https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings")
                or {}
            )
            page = render_template(
                "lti/deep_link.html", courses=courses, launch_id=message.get_launch_id()
            )
            return _framed(
                current_app.make_response(page), settings.get("deep_link_return_url", "")
            )
        if not message.is_resource_launch():
            return _refuse("message_type", registration)
        result = lti.resolve_launch(s, registration, claims)
        _audit(s, result, registration)
        user, course = result.user, result.course
    if user is None:
        return _refuse(result.reason, registration, status=403)
    sign_in(user, "lti")
    if course is None:
        flash(
            _(
                "Place a Kateder course in your learning platform's course "
                "with its deep-linking (content selection) dialog."
            )
        )
        return redirect(url_for(HOME_FOR_ROLE[result.role]))
    target = "teacher.course" if result.role == "teacher" else "classroom.course"
    return redirect(url_for(target, code=course.code))


def _audit(s, result: lti.LaunchResult, registration: LtiRegistration) -> None:
    """Account events of a launch (a refusal is audited by :func:`_refuse`)."""
    audit = get_services().audit
    if result.created:
        audit.record(s, "user_created", user=result.user, details={"by": f"lti:{registration.id}"})
    elif result.role_changed_from:
        audit.record(
            s,
            "role_changed",
            user=result.user,
            details={
                "by": f"lti:{registration.id}",
                "old": result.role_changed_from,
                "new": result.user.role,
            },
        )


@bp.post("/deep-link")
def deep_link():
    """The instructor's choice in a deep-linking launch: sign a
    response that places the course, and post it back.
    """
    req, config, store, nonces = _parts()
    launch_id, code = request.form.get("launch_id", ""), request.form.get("course", "")
    if not launch_id.startswith("lti1p3-launch-"):
        abort(400)
    try:
        message = FlaskMessageLaunch.from_cache(
            launch_id, req, config, session_service=nonces, launch_data_storage=store
        )
        claims = message.get_launch_data()
        if not message.is_deep_link_launch():
            raise LtiException("not a deep-linking launch")
    except LtiException as exc:
        return _refuse(f"deep_link:{exc}")
    services = get_services()
    with services.db.session() as s:
        registration = config.registration_row(claims["iss"], message.get_client_id())
        result = lti.place_by_deep_link(s, registration, claims, code)
        if result.course is None:
            return _refuse(
                result.reason,
                registration,
                status=403 if result.reason == "not_instructor" else 400,
            )
        _audit(s, result, registration)
        course_code, title = result.course.code, result.course.title
    if not store.take_value(launch_id):  # one response per deep-linking launch
        return _refuse("deep_link:used", registration)
    resource = (
        DeepLinkResource()
        .set_url(_launch_url())
        .set_title(title)
        .set_target("window")
        .set_custom_params({lti.COURSE_PARAM: course_code})
    )
    deep = message.get_deep_link()
    return_url = (
        claims.get("https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings") or {}
    )["deep_link_return_url"]
    page = render_template(
        "lti/deep_link_return.html",
        return_url=return_url,
        jwt=deep.get_response_jwt([resource]),
        title=title,
    )
    return _framed(current_app.make_response(page), return_url)


@bp.get("/jwks")
def jwks():
    """The tool's public keys (one per registration), for the platforms."""
    with get_services().db.session() as s:
        response = jsonify(lti.tool_jwks(s))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
