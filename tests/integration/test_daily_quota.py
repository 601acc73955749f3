"""The daily question limit holds across workers: an atomic counter in the rate-limit storage.

Without Redis the counter lives in process memory (one worker); with Redis every worker
takes from the same counter. Two app instances on one database stand in for two gunicorn
workers here; ``tests/production/test_shared_limits.py`` runs real gunicorn workers.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from limits.storage import MemoryStorage, storage_from_string
from sqlalchemy import func, select

from app import create_app
from app.services import get_services
from app.services.ask import LimitReached
from app.services.quota import DailyQuota
from core.models import Course, Message, User
from guard.policy import Moderator
from tests.fakes import EchoGenerator, HashingEmbedder, KeywordGuard
from tests.production.servers import free_port


class Clock:
    """A settable UTC clock."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class SlowGuard(KeywordGuard):
    """A guard that takes a while, as a real model does: the window in which questions race."""

    def classify(self, conversation, *, role):
        time.sleep(0.4)
        return super().classify(conversation, role=role)


def test_takes_up_to_the_limit_then_refuses_and_a_slot_can_be_given_back():
    quota = DailyQuota(MemoryStorage())
    assert [quota.take(1, 7, limit=3, asked=0) for _ in range(4)] == [True, True, True, False]
    quota.give_back(1, 7)
    assert quota.take(1, 7, limit=3, asked=0) is True
    assert quota.take(1, 7, limit=3, asked=0) is False
    assert quota.take(2, 7, limit=3, asked=0) is True  # per student
    assert quota.take(1, 8, limit=3, asked=0) is True  # per course


def test_a_missing_counter_starts_from_the_questions_on_record():
    quota = DailyQuota(MemoryStorage())  # e.g. Redis restarted at noon
    assert quota.take(1, 7, limit=3, asked=3) is False
    assert quota.take(1, 7, limit=3, asked=2) is True
    assert quota.take(1, 7, limit=3, asked=2) is False


def test_a_new_utc_day_is_a_new_count():
    clock = Clock(datetime(2026, 3, 1, 23, 59, tzinfo=UTC))
    quota = DailyQuota(MemoryStorage(), clock=clock)
    assert quota.take(1, 7, limit=1, asked=0) is True
    assert quota.take(1, 7, limit=1, asked=0) is False
    clock.now = datetime(2026, 3, 2, 0, 0, 1, tzinfo=UTC)
    assert quota.take(1, 7, limit=1, asked=0) is True


def test_an_unreachable_redis_leaves_the_database_count_to_decide():
    storage = storage_from_string(
        f"redis://127.0.0.1:{free_port()}/0", socket_timeout=0.5, socket_connect_timeout=0.5
    )
    quota = DailyQuota(storage)
    assert quota.take(1, 7, limit=2, asked=1) is True
    assert quota.take(1, 7, limit=2, asked=2) is False
    quota.give_back(1, 7)  # no exception either


def test_two_workers_on_one_redis_take_no_more_than_the_limit_together(redis_url):
    url, prefix = redis_url
    workers = [
        DailyQuota.from_config({"RATELIMIT_STORAGE_URI": url, "RATELIMIT_KEY_PREFIX": prefix})
        for _ in range(2)
    ]
    granted: list[bool] = []
    lock = threading.Lock()

    def ask(quota: DailyQuota) -> None:
        ok = quota.take(42, 7, limit=5, asked=0)
        with lock:
            granted.append(ok)

    threads = [threading.Thread(target=ask, args=(workers[i % 2],)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert granted.count(True) == 5 and len(granted) == 24


def _app(app_config: dict, extra: dict):
    fakes = {"guard": SlowGuard(), "embedder": HashingEmbedder(), "generator": EchoGenerator()}
    return create_app({**app_config, **extra}, services=fakes)


def test_questions_sent_at_once_to_two_workers_stay_within_the_daily_limit(app_config, redis_url):
    url, prefix = redis_url
    extra = {"RATELIMIT_STORAGE_URI": url, "RATELIMIT_KEY_PREFIX": prefix}
    apps = [
        _app(app_config, extra),
        _app(app_config, extra),
    ]  # two workers: one database, one Redis
    workers = [get_services(a) for a in apps]
    try:
        from app.demo import create_demo

        create_demo(workers[0])
        with workers[0].db.session() as s:
            s.scalar(select(Course).where(Course.code == "SCI7")).daily_question_limit = 2
            uid = s.scalar(select(User.id).where(User.username == "student1"))
        outcomes: list[str] = []
        lock = threading.Lock()

        def ask(services) -> None:
            try:
                services.ask.ask(uid, "SCI7", "What is photosynthesis?")
                outcome = "answered"
            except LimitReached:
                outcome = "limit"
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                outcome = f"error: {exc!r}"
            with lock:
                outcomes.append(outcome)

        threads = [threading.Thread(target=ask, args=(workers[i % 2],)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["answered"] * 2 + ["limit"] * 4, outcomes
        with workers[0].db.session() as s:
            assert s.scalar(select(func.count(Message.id)).where(Message.role == "user")) == 2
    finally:
        for services in workers:
            services.db.dispose()


class BrokenModerator(Moderator):
    """Moderation of questions crashes (a bug, out of memory) before the question is recorded."""

    def check_question(self, *args, **kwargs):
        raise RuntimeError("moderation crashed")


def test_a_question_that_fails_before_it_is_recorded_does_not_count(app_config):
    fakes = {
        "guard": KeywordGuard(),
        "embedder": HashingEmbedder(),
        "generator": EchoGenerator(),
        "moderator": BrokenModerator(KeywordGuard()),
    }
    services = get_services(create_app(app_config, services=fakes))
    try:
        from app.demo import create_demo

        create_demo(services)
        with services.db.session() as s:
            course = s.scalar(select(Course).where(Course.code == "SCI7"))
            course.daily_question_limit = 1
            uid, course_id = s.scalar(select(User.id).where(User.username == "student1")), course.id
        with pytest.raises(RuntimeError):
            services.ask.ask(uid, "SCI7", "What is photosynthesis?")
        with services.db.session() as s:
            assert s.scalar(select(func.count(Message.id)).where(Message.role == "user")) == 0
        assert services.quota.take(uid, course_id, limit=1, asked=0) is True  # the slot came back
    finally:
        services.db.dispose()
