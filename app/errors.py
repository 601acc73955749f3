"""Errors answered as JSON for API clients and as plain pages otherwise; never a stack trace."""

from __future__ import annotations

import errno
import logging

from flask import Flask, jsonify, request
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from app.services.ask import AskError

log = logging.getLogger(__name__)


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


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def init_app(app: Flask) -> None:
    """Register the error handlers."""

    @app.errorhandler(AskError)
    def ask_error(exc: AskError):
        return jsonify(error=exc.code, message=exc.message), exc.status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if _wants_json():
            return jsonify(error=exc.name.lower().replace(" ", "_"), message=exc.description), exc.code
        return exc

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(PoolTimeout)
    def database_down(exc: Exception):
        log.error("database unavailable on %s: %s", request.path, type(exc).__name__)
        message = outage_message("database")
        return (jsonify(error="unavailable", message=message) if _wants_json() else message), 503

    @app.errorhandler(OSError)
    def os_error(exc: OSError):
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            return unexpected(exc)
        log.error("storage full on %s: %s", request.path, exc)
        message = outage_message("storage")
        return (jsonify(error="storage_full", message=message) if _wants_json() else message), 503

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error on %s", request.path)
        if _wants_json():
            return jsonify(error="internal_error", message="Something went wrong on our side. Please try again."), 500
        return "Something went wrong on our side. Please try again.", 500
