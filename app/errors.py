"""Every error answered in one place: JSON for API clients, a page for the browser, never a stack
trace.

:func:`wants_json` is the one decision between the two; :func:`answer` writes either. The
user-facing hierarchy (``core/errors.py``: ``KatederError`` and its categories) is mapped
here once, and so are HTTP errors (``abort``, CSRF, rate limits), outages (database, full
disk) and anything unexpected. The JSON body is always ``{"error": code, "message": text}``.
"""

from __future__ import annotations

import errno
import logging

from flask import Flask, current_app, g, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from app.services.i18n import N_, Translator
from core.errors import KatederError, LimitReached

log = logging.getLogger(__name__)

# the browser's page for an HTTP error, by status (others keep werkzeug's plain page)
PAGE_MESSAGES = {
    400: _l("Something in the request was not right. Go back and try again."),
    401: _l("Please sign in first."),
    403: _l("You do not have access to this page."),
    404: _l("This page does not exist, or it is not yours to see."),
    405: _l("This page cannot be used that way."),
    413: _l("The file is too large."),
    429: _l("Too many requests at once. Wait a minute and try again."),
}
CSRF_MESSAGE = _l("The page was open too long or in another tab. Reload it and try again.")
UNEXPECTED = "Something went wrong on our side. Please try again."

# Outages: the catalogues read through Babel directly (app/services/i18n.py), in the client's
# Accept-Language, because Flask-Babel's locale reads the signed-in user from the database,
# which is what may have failed.
_OUTAGE = {
    "database": N_(
        "The service is temporarily unavailable (database). Nothing was answered; please try "
        "again in a moment."
    ),
    "storage": N_(
        "The server's storage is full, so the file was not saved. Nothing already stored was "
        "changed; please tell your administrator."
    ),
}
_OUTAGE_LANGUAGES = ["en", "sv", "de", "it", "nb"]


def outage_message(part: str) -> str:
    """The outage message for ``part`` in the client's preferred language."""
    return Translator.for_language(request.accept_languages.best_match(_OUTAGE_LANGUAGES) or "en")(
        _OUTAGE[part]
    )


def wants_json() -> bool:
    """The one decision: JSON for the API (every path under ``/api/``) and for clients that ask for
    it."""
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def answer(
    status: int,
    code: str,
    message: str | None,
    *,
    page: bool = True,
    retry_after: int | None = None,
) -> ResponseReturnValue:
    """An error as ``{"error": code, "message": message}`` or, for the browser, the error page.

    ``page=False`` answers the browser with the bare message instead: the page's layout reads
    the signed-in user from the database, which is what may have failed. ``retry_after``
    (seconds) adds the ``Retry-After`` header and, in JSON, a ``retry_after`` field.
    """
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    if wants_json():
        extra = {"retry_after": retry_after} if retry_after is not None else {}
        return jsonify(error=code, message=message, **extra), status, headers
    if not page:
        return message or "", status, headers
    return render_template("error.html", code=status, message=message), status, headers


def user_language() -> str:
    """The language to tell the user in: the API caller's own, else the page's (Flask-Babel), else
    English."""
    user = g.get("api_user")
    if user is not None:
        return getattr(user, "language", None) or "en"
    if "babel" in current_app.extensions:
        return str(get_locale() or "en")
    return "en"


def user_error(exc: KatederError) -> ResponseReturnValue:
    """A :class:`~core.errors.KatederError`: its status, its code and its message in the user's
    language."""
    retry_after = exc.retry_after if isinstance(exc, LimitReached) else None
    return answer(exc.status, exc.code, exc.text(user_language()), retry_after=retry_after)


def http_error(exc: HTTPException) -> ResponseReturnValue | HTTPException:
    """``abort(...)``, CSRF and rate limits: JSON named after the status, or the translated page."""
    status = exc.code or 500
    if wants_json():
        return answer(status, exc.name.lower().replace(" ", "_"), exc.description)
    if status not in PAGE_MESSAGES:
        return exc  # werkzeug's own page
    return answer(
        status, exc.name, str(CSRF_MESSAGE if isinstance(exc, CSRFError) else PAGE_MESSAGES[status])
    )


def database_down(exc: Exception) -> ResponseReturnValue:
    """The database refused or timed out: 503, nothing answered."""
    log.error("database unavailable on %s: %s", request.path, type(exc).__name__)
    return answer(503, "unavailable", outage_message("database"), page=False)


def os_error(exc: OSError) -> ResponseReturnValue:
    """A full disk (or quota, or file size limit) is an outage; any other OSError is unexpected."""
    if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return unexpected(exc)
    log.error("storage full on %s: %s", request.path, exc)
    return answer(503, "storage_full", outage_message("storage"), page=False)


def unexpected(exc: Exception) -> ResponseReturnValue:
    """Anything else: logged with its traceback, answered 500 without it."""
    log.exception("unhandled error on %s", request.path)
    return answer(500, "internal_error", UNEXPECTED, page=False)


def init_app(app: Flask) -> None:
    """Register every error handler of the app (the only place that does)."""
    app.register_error_handler(KatederError, user_error)
    app.register_error_handler(HTTPException, http_error)
    for outage in (OperationalError, InterfaceError, PoolTimeout):
        app.register_error_handler(outage, database_down)
    app.register_error_handler(OSError, os_error)
    app.register_error_handler(Exception, unexpected)
