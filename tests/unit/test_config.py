"""One configuration rule: explicit > KATEDER_* environment > declared default, for every key."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from app.config import DEFAULTS, ENVIRONMENT_ONLY, load_config, unknown_variables
from guard import DEFAULTS as GUARD_DEFAULTS
from guard import setting

ROOT = Path(__file__).resolve().parents[2]
# keys Flask and its extensions define themselves (SESSION_COOKIE_SECURE is set from COOKIE_SECURE)
FLASK_KEYS = {
    "MAX_CONTENT_LENGTH",
    "PERMANENT_SESSION_LIFETIME",
    "WTF_CSRF_ENABLED",
    "TESTING",
    "SESSION_COOKIE_SECURE",
}
_USE = re.compile(r"""(?:config\.get\(|config\[|setting\(config, )["']([A-Z][A-Z0-9_]+)["']""")


def test_precedence_is_explicit_then_environment_then_default():
    env = {
        "KATEDER_RETRIEVAL_TOP_K": "5",
        "KATEDER_GUARD_TIMEOUT": "3",
        "KATEDER_COOKIE_SECURE": "false",
    }
    assert load_config(environ={})["RETRIEVAL_TOP_K"] == DEFAULTS["RETRIEVAL_TOP_K"]
    from_env = load_config(environ=env)
    assert (
        from_env["RETRIEVAL_TOP_K"] == 5
        and from_env["GUARD_TIMEOUT"] == 3.0
        and from_env["COOKIE_SECURE"] is False
    )
    assert (
        load_config({"RETRIEVAL_TOP_K": 7, "GUARD_TIMEOUT": 1.5}, environ=env)["RETRIEVAL_TOP_K"]
        == 7
    )
    assert load_config({"GUARD_TIMEOUT": 1.5}, environ=env)["GUARD_TIMEOUT"] == 1.5


def test_the_guard_follows_the_same_rule(monkeypatch):
    monkeypatch.setenv("KATEDER_GUARD_BACKEND", "rules")
    assert setting({"GUARD_BACKEND": "embedded"}, "GUARD_BACKEND") == "embedded"  # explicit wins
    assert setting({}, "GUARD_BACKEND") == "rules"  # then the environment
    monkeypatch.delenv("KATEDER_GUARD_BACKEND")
    assert (
        setting({}, "GUARD_BACKEND") == GUARD_DEFAULTS["GUARD_BACKEND"]
    )  # then the declared default
    assert setting({}, "GUARD_TIMEOUT") == 10.0


def test_guard_keys_are_declared_once_and_merged():
    assert set(GUARD_DEFAULTS) <= set(DEFAULTS)
    assert all(key.startswith("GUARD_") for key in GUARD_DEFAULTS)
    for key in (
        "COOKIE_SECURE",
        "RATELIMIT_STORAGE_URI",
        "RATELIMIT_ASK",
        "RATELIMIT_ASK_ADDRESS",
        "RATELIMIT_LOGIN",
        "OIDC_ISSUER",
        "OIDC_CLIENT_ID",
        "OIDC_CLIENT_SECRET",
        "SESSION_IDLE_MINUTES",
        "SESSION_MAX_HOURS",
        "LOGIN_FREE_ATTEMPTS",
        "TOKEN_TTL_HOURS",
        "MAX_DOCUMENT_CHARS",
        "MAX_DOCUMENT_PASSAGES",
    ):
        assert key in DEFAULTS, key
    import app.security

    assert not hasattr(app.security, "DEFAULTS")  # no second table of defaults


def test_every_key_the_code_reads_is_declared():
    used: dict[str, str] = {}
    for folder in ("app", "ingest"):
        for path in (ROOT / folder).rglob("*.py"):
            for key in _USE.findall(path.read_text(encoding="utf-8")):
                used.setdefault(key, str(path.relative_to(ROOT)))
    guard_init = (ROOT / "guard" / "__init__.py").read_text(encoding="utf-8")
    for key in _USE.findall(guard_init):
        used.setdefault(key, "guard/__init__.py")
    missing = {k: where for k, where in used.items() if k not in DEFAULTS and k not in FLASK_KEYS}
    assert not missing, f"declare these keys with their defaults in app/config.py: {missing}"


def test_a_typo_in_a_kateder_variable_is_reported_at_start_up(caplog):
    env = {
        "KATEDER_GENERATOR_MODLE": "llama3",
        "KATEDER_EMBEDDER": "minilm",
        "KATEDER_EVAL_DATA": "/data",
        "KATEDER_ZZZ_NOTHING_LIKE_IT": "1",
    }
    assert unknown_variables(env) == [
        ("KATEDER_GENERATOR_MODLE", "KATEDER_GENERATOR_MODEL"),
        ("KATEDER_ZZZ_NOTHING_LIKE_IT", None),
    ]
    assert "KATEDER_EVAL_DATA" in ENVIRONMENT_ONLY
    with caplog.at_level(logging.WARNING, logger="app.config"):
        config = load_config(environ=env)
    assert "KATEDER_GENERATOR_MODLE is not a Kateder setting" in caplog.text
    assert "did you mean KATEDER_GENERATOR_MODEL?" in caplog.text
    assert (
        "GENERATOR_MODLE" not in config and config["GENERATOR_MODEL"] == DEFAULTS["GENERATOR_MODEL"]
    )


def test_create_app_reports_a_typo(monkeypatch, caplog, tmp_path):
    from app import create_app

    monkeypatch.setenv("KATEDER_SESION_IDLE_MINUTES", "5")
    with caplog.at_level(logging.WARNING, logger="app.config"):
        create_app({"HOME": str(tmp_path), "SECRET_KEY": "x"})
    assert (
        "KATEDER_SESION_IDLE_MINUTES" in caplog.text
        and "KATEDER_SESSION_IDLE_MINUTES" in caplog.text
    )


def test_a_bad_value_is_refused_with_its_variable_name():
    with pytest.raises(ValueError, match="KATEDER_RETRIEVAL_TOP_K"):
        load_config(environ={"KATEDER_RETRIEVAL_TOP_K": "many"})
