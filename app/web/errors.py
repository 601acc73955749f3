"""Error pages for the browser: styled and translated; API paths keep their JSON errors."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

MESSAGES = {
    400: _l("Something in the request was not right. Go back and try again."),
    401: _l("Please sign in first."),
    403: _l("You do not have access to this page."),
    404: _l("This page does not exist, or it is not yours to see."),
    405: _l("This page cannot be used that way."),
    413: _l("The file is too large."),
    429: _l("Too many requests at once. Wait a minute and try again."),
}
CSRF_MESSAGE = _l("The page was open too long or in another tab. Reload it and try again.")


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def init_app(app: Flask) -> None:
    """Render browser errors as pages (code-specific handlers run before the generic JSON one)."""

    def page(exc: HTTPException):
        if _wants_json():
            return jsonify(error=exc.name.lower().replace(" ", "_"), message=exc.description), exc.code
        message = CSRF_MESSAGE if isinstance(exc, CSRFError) else MESSAGES.get(exc.code, exc.name)
        return render_template("error.html", code=exc.code, message=message), exc.code

    for code in MESSAGES:
        app.register_error_handler(code, page)
