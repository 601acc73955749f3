"""The browser: one blueprint per area (auth, classroom, teacher, dpo), thin views over services."""

from __future__ import annotations

from flask import Flask, request, session
from flask_babel import Babel
from flask_login import current_user

from core.language import LANGUAGE_NAMES, LANGUAGES

TRANSLATIONS = "translations"


def select_locale() -> str:
    """The user's own setting, else the switcher's choice, else the browser's Accept-Language."""
    if getattr(current_user, "is_authenticated", False) and current_user.language in LANGUAGES:
        return current_user.language
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES) or "en"


def init_app(app: Flask) -> None:
    """Install security, translations and the browser blueprints on ``app``."""
    from app import security
    from app.web import admin, auth, classroom, dpo, filters, lti, teacher

    security.init_app(app)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", TRANSLATIONS)
    Babel(app, locale_selector=select_locale)
    filters.init_app(app)  # error pages: app/errors.py, registered by create_app
    for module in (auth, classroom, teacher, dpo, admin, lti):
        app.register_blueprint(module.bp)
    security.apply_limits(app)

    @app.context_processor
    def globals_for_templates():
        return {
            "LANGUAGES": LANGUAGES,
            "LANGUAGE_NAMES": LANGUAGE_NAMES,
            "current_locale": select_locale(),
            "model_attribution": _model_attribution,
        }


def _model_attribution() -> str:
    """What the licence of the answer model requires pages to show (e.g. "Built with Llama")."""
    from app.generation import attribution
    from app.services import get_services

    try:
        return attribution(get_services().generator.info)
    except Exception:  # noqa: BLE001 - a misconfigured model must not break every page
        return ""
