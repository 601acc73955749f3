"""Kateder: a safety-moderated course assistant for schools."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from app.config import load_config
from app.services import Services


def _secret_key(home: Path) -> str:
    """A persistent random secret in the instance folder (outside the database)."""
    path = home / "secrets" / "flask.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip()


def create_app(
    config: Mapping[str, Any] | None = None, *, services: Services | Mapping[str, Any] | None = None
) -> Flask:
    """Build the Flask app.

    Args:
        config: overrides on top of code defaults and ``KATEDER_*`` environment variables.
        services: a ready :class:`Services`, or a mapping of components (``guard``,
            ``embedder``, ``vector_store``, ``generator``...) that replace configured ones.
    """
    cfg = load_config(dict(config or {}))
    home = Path(cfg["HOME"])
    home.mkdir(parents=True, exist_ok=True)
    app = Flask(__name__, instance_path=str(home), instance_relative_config=False)
    from app.params import IdConverter

    app.url_map.converters["int"] = IdConverter  # every <int:...> is a bounded id (app/params.py)
    app.config.update(cfg)
    app.config["SECRET_KEY"] = cfg.get("SECRET_KEY") or _secret_key(home)
    if (
        app.config.get("MAX_CONTENT_LENGTH") is None
    ):  # Flask's default is None (no limit), so setdefault never applied
        app.config["MAX_CONTENT_LENGTH"] = int(cfg["MAX_UPLOAD_BYTES"]) + 1024 * 1024
    if not isinstance(services, Services):
        services = Services(cfg, **dict(services or {}))
    app.extensions["kateder"] = services

    from app import api, errors

    errors.init_app(app)
    app.register_blueprint(api.bp)
    from app.api import openapi

    app.register_blueprint(openapi.bp)
    from app.api import material

    app.register_blueprint(material.bp)
    from app.api import stream

    app.register_blueprint(stream.bp)
    from app import web

    web.init_app(app)
    return app
