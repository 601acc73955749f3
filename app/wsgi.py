"""The WSGI entry point for production: ``gunicorn -c gunicorn.conf.py app.wsgi:app``.

Configuration comes from ``KATEDER_*`` environment variables. Creating the app loads no
model: each gunicorn worker builds its guard, embedder, vector store client and generator
lazily on its first request (or in ``post_fork`` when ``KATEDER_WARM_WORKERS`` is set), so
nothing heavy is shared across ``fork()``. In production ingestion never runs in a web
worker (``JOBS_IN_PROCESS`` is off here, explicitly): ``kateder worker`` runs the jobs, so a
large upload cannot take a worker's CPU away from students' answers.
"""

from __future__ import annotations

from app import create_app
from app.services import get_services

app = create_app({"JOBS_IN_PROCESS": False})


def warm() -> None:
    """Build the model objects of this process now instead of on the first request."""
    from guard.types import Message

    services = get_services(app)
    services.guard.classify([Message(role="user", content="warm up")], role="user")
    services.embedder.embed_query("warm up")
    services.generator  # noqa: B018 - properties build lazily
