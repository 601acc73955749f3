"""gunicorn settings for Kateder (``gunicorn -c gunicorn.conf.py app.wsgi:app``).

Every value can be set from the environment: ``KATEDER_BIND``, ``WEB_CONCURRENCY``
(workers), ``KATEDER_THREADS``, ``KATEDER_WORKER_TIMEOUT``, ``KATEDER_MAX_REQUESTS``,
``KATEDER_ACCESS_LOG``, ``KATEDER_WARM_WORKERS``; their defaults are declared with every
other key in ``app/config.py``. The database is migrated once in the master before workers
start; models load lazily inside each worker.
"""

from __future__ import annotations

import os

# one math thread per worker process: several workers (and the inference server) share the
# cores, and torch's default of one thread per core oversubscribes them (10x slower measured)
os.environ.setdefault("OMP_NUM_THREADS", "1")

from app.config import load_config  # noqa: E402 - after OMP_NUM_THREADS, before anything loads a model

_config = load_config()
bind = _config["BIND"]
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# threads: a worker waits on the inference server while streaming, so several requests
# share one process (and its loaded embedder) without blocking each other
worker_class = "gthread"
threads = int(_config["THREADS"])
# an answer may stream for a while; gthread workers heartbeat independently of requests
timeout = int(_config["WORKER_TIMEOUT"])
graceful_timeout = 30
keepalive = 5
preload_app = False
max_requests = int(_config["MAX_REQUESTS"])
max_requests_jitter = 50 if max_requests else 0
accesslog = _config["ACCESS_LOG"]
errorlog = "-"
# no student text in access logs: path and status only (GDPR)
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def on_starting(server) -> None:
    """In the master, before any worker starts: migrate, and create missing key files once.

    Workers build the app concurrently; creating ``secrets/*.key`` here means they never race
    to create them. No model is loaded (the container builds components lazily).
    """
    from app import create_app
    from app.services import get_services

    services = get_services(create_app())
    try:
        services.db.migrate()
        services.audit  # noqa: B018 - creates secrets/pseudonym.key unless KATEDER_PSEUDONYM_KEY is set
        getattr(
            services, "gdpr", None
        )  # creates secrets/master.key unless KATEDER_MASTER_KEY is set
    finally:
        services.db.dispose()


def post_fork(server, worker) -> None:
    """Optionally load the models in each worker at start (``KATEDER_WARM_WORKERS=1``)."""
    if _config["WARM_WORKERS"]:
        from app.wsgi import warm

        warm()
