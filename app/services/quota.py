"""The daily question limit, counted atomically where every web worker sees it.

The database already records every question, so ``questions_asked_today`` holds across
workers for questions asked one after another. Questions sent at the same moment to
different workers would all pass that count before any of them is recorded (the input
guard runs in between), so each question also takes one slot from a counter per student,
course and UTC day in the rate-limit storage (``RATELIMIT_STORAGE_URI``: Redis with
several workers, process memory with one). A slot is given back if the question fails
before it is recorded. If the storage cannot be reached, the database count alone decides.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from limits.storage import Storage, storage_from_string

from app.config import DEFAULTS

log = logging.getLogger(__name__)


def _setting(config: Mapping[str, Any], key: str) -> Any:
    return config.get(key, DEFAULTS[key])


def storage_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """Client options for the rate-limit storage: a hung Redis must not hang a request."""
    uri = str(_setting(config, "RATELIMIT_STORAGE_URI"))
    if uri.startswith(("redis://", "rediss://", "redis+unix://")):
        timeout = float(_setting(config, "RATELIMIT_STORAGE_TIMEOUT"))
        return {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    return {}


class DailyQuota:
    """Atomic per-student, per-course question counter for the current UTC day."""

    def __init__(
        self, storage: Storage, prefix: str = "kateder", clock: Callable[[], datetime] | None = None
    ) -> None:
        """Count in ``storage`` under keys that start with ``prefix``."""
        self.storage = storage
        self.prefix = prefix
        self.clock = clock or (lambda: datetime.now(UTC))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DailyQuota:
        """The counter in the storage that the rate limits use."""
        uri = str(_setting(config, "RATELIMIT_STORAGE_URI"))
        storage = cast(
            Storage, storage_from_string(uri, **storage_options(config))
        )  # memory:// or redis://, never async+
        return cls(storage, prefix=str(_setting(config, "RATELIMIT_KEY_PREFIX")))

    def _key_and_expiry(self, user_id: int, course_id: int) -> tuple[str, int]:
        now = self.clock()
        midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        return f"{self.prefix}/daily/{now:%Y-%m-%d}/{course_id}/{user_id}", int(
            (midnight - now).total_seconds()
        ) + 60

    def take(self, user_id: int, course_id: int, *, limit: int, asked: int) -> bool:
        """Take one of today's ``limit`` questions; False when none is left.

        Args:
            user_id: the student.
            course_id: the course.
            limit: the course's daily question limit.
            asked: questions on record today (seeds a counter that is missing, e.g. after a
                Redis restart).
        """
        if asked >= limit:
            return False
        key, expiry = self._key_and_expiry(user_id, course_id)
        try:
            count = self.storage.incr(key, expiry)
            if count == 1 and asked:
                count = self.storage.incr(key, expiry, amount=asked)
            if count > limit:
                self.storage.incr(key, expiry, amount=-1)
                return False
        except self.storage.base_exceptions as exc:
            log.warning(
                "daily question counter unavailable (%s); the database count alone decides",
                type(exc).__name__,
            )
        return True

    def give_back(self, user_id: int, course_id: int) -> None:
        """Return a slot taken by a question that failed before it was recorded."""
        key, expiry = self._key_and_expiry(user_id, course_id)
        try:
            self.storage.incr(key, expiry, amount=-1)
        except self.storage.base_exceptions as exc:
            log.warning("daily question counter unavailable (%s)", type(exc).__name__)
