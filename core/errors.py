"""The one hierarchy of user-facing errors: a stable code, an HTTP status, a message.

The services and ingest raise them; the Flask app maps them once to a JSON
body ``{"error": code, "message": ...}`` for API clients and once to an error page for the
browser (``app/errors.py``). A message is either a literal text, or a table of templates by
language (``{"en": "{name}: the file is empty.", "sv": ...}``) filled in with the params.

    class         status  default code     for
    KatederError  500     internal_error   the root: catch it to catch them all
    UserError     400     bad_request      a request that cannot be served as sent
    NotFound      404     not_found        missing, or not visible to this user
    Forbidden     403     forbidden        visible, but not this user's to use
    LimitReached  429     limit_reached    a limit (daily questions, attempts) used up
    Unavailable   503     unavailable      a component (model, search, database) is down

A raise site may give a more specific ``code`` (``LimitReached(..., code="daily_limit")``);
the code is part of the API and stays stable once released. A ``LimitReached`` may say when
to try again (``retry_after``, seconds: the ``Retry-After`` header and a JSON field).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["Forbidden", "KatederError", "LimitReached", "NotFound", "Unavailable", "UserError"]


class KatederError(Exception):
    """A problem the user is told about (``code``, ``status``, ``params`` and :meth:`text`)."""

    status: int = 500
    code: str = "internal_error"

    def __init__(
        self, message: str | Mapping[str, str], /, *, code: str | None = None, **params: Any
    ) -> None:
        """``message`` is the text, or templates by language filled in with ``params``."""
        if code is not None:
            self.code = code
        self.params: dict[str, Any] = params
        self._message = message
        super().__init__(self.text())

    def text(self, language: str | None = None) -> str:
        """The message in ``language`` (English when there is no template for it; a literal text
        as it is)."""
        if isinstance(self._message, str):
            return self._message
        template = self._message.get(language or "en") or self._message["en"]
        return template.format(**self.params)

    @property
    def message(self) -> str:
        """The message as raised (literal messages are written in the user's language already)."""
        return self.text()


class UserError(KatederError):
    """The request cannot be served as sent (an empty question, a malformed body)."""

    status, code = 400, "bad_request"


class NotFound(KatederError):
    """It does not exist, or it is not visible to this user (the two are not told apart)."""

    status, code = 404, "not_found"


class Forbidden(KatederError):
    """It exists and this user may see that it does, but may not use it."""

    status, code = 403, "forbidden"


class LimitReached(KatederError):
    """A limit is used up (the teacher's daily question limit, sign-in attempts).

    ``retry_after`` (seconds), when known, is answered as the ``Retry-After`` header and a
    ``retry_after`` field of the JSON body.
    """

    status, code = 429, "limit_reached"

    def __init__(
        self,
        message: str | Mapping[str, str],
        /,
        *,
        code: str | None = None,
        retry_after: int | None = None,
        **params: Any,
    ) -> None:
        """As :class:`KatederError`, with the seconds until the limit lifts when they are known."""
        super().__init__(message, code=code, **params)
        self.retry_after = retry_after


class Unavailable(KatederError):
    """A component (model server, vector store, database) is down or too slow."""

    status, code = 503, "unavailable"
