"""Answer evaluation: questions asked through the full ask pipeline, citing and declining.

:func:`answer_eval` is ``kateder answer eval``: it indexes an eval set into a fresh
instance, asks a seeded sample of its questions as a teacher of the course and reports how
often the answer cites the gold passage and how often an unanswerable question is declined.
"""

from __future__ import annotations

import os
import random
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from app.evaluation.indexing import EvalRun, Progress, index_eval_set
from app.evaluation.sets import SEED, EvalQuestion, EvalSet

Answered = tuple[EvalQuestion, Any, float]  # (question, the ask result, seconds)


def _eval_teacher(services, course_id: int) -> tuple[int, str]:
    """A teacher enrolled in the course, with no daily question limit: (user id, course code)."""
    from app.services import accounts
    from core.models import Course

    with services.db.session() as s:
        course = s.get(Course, course_id)
        course.daily_question_limit = 10**6
        teacher = accounts.create_user(
            s, course.school, "eval-teacher", "eval-" + os.urandom(8).hex(), "teacher"
        )
        accounts.enrol(s, teacher, course)
        code = course.code
        s.flush()
        return teacher.id, code


def _ask_all(
    services,
    user_id: int,
    code: str,
    questions: Sequence[EvalQuestion],
    progress: Progress | None,
) -> list[Answered]:
    """Every question asked in turn, timed."""
    rows: list[Answered] = []
    for q in questions:
        t = time.perf_counter()
        result = services.ask.ask(user_id, code, q.question)
        rows.append((q, result, time.perf_counter() - t))
        if progress is not None:
            progress("questions", len(rows), len(questions))
    return rows


def _block(items: Sequence[Answered]) -> dict[str, Any]:
    """The figures of one group of answers (all, or one language)."""
    answerable = [(q, r) for q, r, _ in items if q.gold is not None]
    unanswerable = [(q, r) for q, r, _ in items if q.gold is None]
    out: dict[str, Any] = {"n": len(answerable), "n_unanswerable": len(unanswerable)}
    if answerable:
        out["cites_gold"] = round(
            sum(any(c["passage_id"] == q.gold for c in r.citations) for q, r in answerable)
            / len(answerable),
            4,
        )
        out["declined_answerable"] = round(
            sum(r.mode == "not_covered" for _, r in answerable) / len(answerable), 4
        )
        modes: dict[str, int] = defaultdict(int)
        for _, r in answerable:
            modes[r.mode] += 1
        out["modes"] = dict(modes)
    if unanswerable:
        out["declined"] = round(
            sum(r.mode == "not_covered" for _, r in unanswerable) / len(unanswerable), 4
        )
    return out


def answer_eval(
    evalset: EvalSet,
    config: Mapping[str, Any] | None = None,
    components: Mapping[str, Any] | None = None,
    limit: int = 50,
    seed: int = SEED,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Ask up to ``limit`` questions through the full ask pipeline; report citing and declining.

    ``cites_gold``: share of answerable questions whose answer cites the gold passage;
    ``declined``: share of unanswerable questions answered "the material does not cover it".
    Answerable and unanswerable questions are sampled in proportion (fixed seed).
    """
    rng = random.Random(seed)
    questions = list(evalset.questions)
    rng.shuffle(questions)
    questions = questions[:limit]
    with EvalRun(dict(config or {}), dict(components or {})) as services:
        course_id = index_eval_set(services, evalset, progress=progress)
        user_id, code = _eval_teacher(services, course_id)
        rows = _ask_all(services, user_id, code, questions, progress)

    by_language: dict[str, list[Answered]] = defaultdict(list)
    for row in rows:
        by_language[row[0].language].append(row)
    report = _block(rows)
    report["by_language"] = {lang: _block(items) for lang, items in sorted(by_language.items())}
    report["seconds_per_question"] = round(sum(t for _, _, t in rows) / max(1, len(rows)), 2)
    return report
