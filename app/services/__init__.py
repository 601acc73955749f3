"""The service container: every component chosen by configuration, built lazily, shared.

Tests hand fakes for the interfaces (guard, embedder, store, generator) to
``create_app(services=...)``; everything else is the real wiring. ``create_app`` keeps the
container in ``app.extensions``; the adapters (web, api, cli) reach it with
:func:`get_services`, from here rather than from ``app``, which registers every blueprint.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from app.db import Database


class Services:
    """Lazily built components; pass any of them in to override the configured one."""

    def __init__(
        self, config: Mapping[str, Any], db: Database | None = None, **overrides: Any
    ) -> None:
        """Remember the config and any components given explicitly."""
        self.config = config
        self._db = db
        self._built: dict[str, Any] = dict(overrides)
        self._lock = threading.RLock()

    def _get(self, name: str, factory):
        if name not in self._built:
            with self._lock:
                if name not in self._built:
                    self._built[name] = factory()
        return self._built[name]

    @property
    def db(self) -> Database:
        """The database (created on first use)."""
        if self._db is None:
            with self._lock:
                if self._db is None:
                    self._db = Database(self.config["DATABASE_URL"])
        return self._db

    @property
    def guard(self):
        """The configured guard backend."""
        from guard import build_guard

        return self._get("guard", lambda: build_guard(self.config))

    @property
    def moderator(self):
        """School policy on top of the guard."""
        from guard.policy import Moderator

        return self._get("moderator", lambda: Moderator(self.guard))

    @property
    def embedder(self):
        """The configured embedding model."""
        from ingest.embedding import build_embedder

        return self._get("embedder", lambda: build_embedder(self.config))

    @property
    def vector_store(self):
        """The configured vector store (one per Chroma server behind a router with
        ``CHROMA_SERVERS``).
        """
        from ingest.routing import build_vector_store

        return self._get(
            "vector_store", lambda: build_vector_store(self.config, self.embedder.name, db=self.db)
        )

    @property
    def generator(self):
        """The configured generation model."""
        from app.generation import build_generator

        return self._get("generator", lambda: build_generator(self.config))

    @property
    def retriever(self):
        """Hybrid retrieval over the course's visible material."""
        from app.retrieval import HybridRetriever

        return self._get(
            "retriever",
            lambda: HybridRetriever(
                self.db, self.embedder, self.vector_store, self.config, self.reranker
            ),
        )

    @property
    def reranker(self):
        """The configured reranker (``RETRIEVAL_RERANKER``), or None: the retriever's relevance
        rule.
        """
        from app.reranker import build_reranker

        return self._get("reranker", lambda: build_reranker(self.config))

    @property
    def files(self):
        """Content-addressed storage of uploaded originals."""
        from ingest.files import FileStore

        return self._get("files", lambda: FileStore(Path(self.config["HOME"]) / "files"))

    @property
    def ingest(self):
        """The ingestion pipeline."""
        from ingest.pipeline import IngestPipeline

        return self._get(
            "ingest",
            lambda: IngestPipeline(
                self.db, self.embedder, self.vector_store, self.moderator, self.config, self.files
            ),
        )

    @property
    def jobs(self):
        """Background ingestion jobs: queue, atomic claim, runner."""
        from app.services.alerts import ALERT_KIND
        from app.services.gdpr import COMPACT_KIND
        from ingest.jobs import JobRunner

        return self._get(
            "jobs",
            lambda: JobRunner(
                self.db,
                self.ingest,
                self.config,
                tasks={COMPACT_KIND: self.gdpr.compact_task, ALERT_KIND: self.alerts.email_task},
            ),
        )

    def start_job_thread(self) -> bool:
        """Run queued jobs in a thread of this process, when ``JOBS_IN_PROCESS`` is on (else
        ``kateder worker`` does).
        """
        if not self.config.get("JOBS_IN_PROCESS", True):
            return False
        from ingest.jobs import JobThread

        thread = self._get("job_thread", lambda: JobThread(self.jobs))
        thread.start()
        return True

    def stop_job_thread(self, timeout: float = 30.0) -> None:
        """Stop the in-process job thread after its current job (tests, shutdown)."""
        thread = self._built.get("job_thread")
        if thread is not None:
            thread.stop(timeout)

    @property
    def audit(self):
        """The hash-chained audit log."""
        from app.services.audit import AuditLog, Pseudonymizer

        return self._get(
            "audit",
            lambda: AuditLog(Pseudonymizer.from_config(dict(self.config)), self.config["HOME"]),
        )

    @property
    def gdpr(self):
        """Per-student keys, sealed message text, data-subject rights, access with a reason."""
        from app.services.gdpr import Gdpr

        return self._get("gdpr", lambda: Gdpr(self))

    @property
    def notifier(self):
        """Where staff notifications go: SMTP when ``SMTP_HOST`` is set, else None (nothing is
        sent).
        """
        from app.notify import build_notifier

        return self._get("notifier", lambda: build_notifier(self.config))

    @property
    def alerts(self):
        """Crisis alerts by e-mail for the schools that turned them on (app/services/alerts.py)."""
        from app.services.alerts import CrisisAlerts

        return self._get("alerts", lambda: CrisisAlerts(self))

    @property
    def ask(self):
        """The ask pipeline used by the API, the browser and the CLI."""
        from app.services.ask import AskService

        return self._get("ask", lambda: AskService(self))

    @property
    def quota(self):
        """The daily question counter, in the rate-limit storage (shared by workers
        through Redis).
        """
        from app.services.quota import DailyQuota

        return self._get("quota", lambda: DailyQuota.from_config(self.config))


def get_services(app: Flask | None = None) -> Services:
    """The service container of ``app`` (default: the current app)."""
    return (app or current_app).extensions["kateder"]
