"""Every error answered in one place: JSON for API clients, a page for the browser, never a stack trace.

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

from core.errors import KatederError

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

_OUTAGE = {
    "database": {
        "en": "The service is temporarily unavailable (database). Nothing was answered; please try again in a moment.",
        "sv": "Tjänsten är tillfälligt otillgänglig (databas). Inget besvarades; försök igen om en stund.",
        "de": "Der Dienst ist vorübergehend nicht erreichbar (Datenbank). Es wurde nichts beantwortet; bitte versuche es gleich noch einmal.",
        "it": "Il servizio non è momentaneamente disponibile (database). Non è stata data alcuna risposta; riprova tra poco.",
        "nb": "Tjenesten er midlertidig utilgjengelig (database). Ingenting ble besvart; prøv igjen om litt.",
    },
    "storage": {
        "en": "The server's storage is full, so the file was not saved. Nothing already stored was changed; please tell your administrator.",
        "sv": "Serverns lagring är full, så filen sparades inte. Inget som redan fanns sparat ändrades; kontakta administratören.",
        "de": "Der Speicher des Servers ist voll, daher wurde die Datei nicht gespeichert. Bereits Gespeichertes ist unverändert; bitte informiere die Administration.",
        "it": "Lo spazio del server è pieno, quindi il file non è stato salvato. Nulla di già salvato è stato modificato; avvisa l'amministratore.",
        "nb": "Serverens lagring er full, så filen ble ikke lagret. Ingenting som allerede var lagret ble endret; si fra til administratoren.",
    },
}


def outage_message(part: str) -> str:
    """The outage message for ``part`` in the client's preferred language."""
    table = _OUTAGE[part]
    return table[request.accept_languages.best_match(list(table)) or "en"]


def wants_json() -> bool:
    """The one decision: JSON for the API (every path under ``/api/``) and for clients that ask for it."""
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def answer(status: int, code: str, message: str | None, *, page: bool = True) -> ResponseReturnValue:
    """An error as ``{"error": code, "message": message}`` or, for the browser, the error page.

    ``page=False`` answers the browser with the bare message instead: the page's layout reads
    the signed-in user from the database, which is what may have failed.
    """
    if wants_json():
        return jsonify(error=code, message=message), status
    if not page:
        return message or "", status
    return render_template("error.html", code=status, message=message), status


def user_language() -> str:
    """The language to tell the user in: the API caller's own, else the page's (Flask-Babel), else English."""
    user = g.get("api_user")
    if user is not None:
        return getattr(user, "language", None) or "en"
    if "babel" in current_app.extensions:
        return str(get_locale() or "en")
    return "en"


def user_error(exc: KatederError) -> ResponseReturnValue:
    """A :class:`~core.errors.KatederError`: its status, its code and its message in the user's language."""
    return answer(exc.status, exc.code, exc.text(user_language()))


def http_error(exc: HTTPException) -> ResponseReturnValue | HTTPException:
    """``abort(...)``, CSRF and rate limits: JSON named after the status, or the translated page."""
    status = exc.code or 500
    if wants_json():
        return answer(status, exc.name.lower().replace(" ", "_"), exc.description)
    if status not in PAGE_MESSAGES:
        return exc  # werkzeug's own page
    return answer(status, exc.name, str(CSRF_MESSAGE if isinstance(exc, CSRFError) else PAGE_MESSAGES[status]))


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
