"""Evaluation harness: retrieval hit@k / MRR and answer grounding on extractive QA sets.

The eval format (``kateder retrieval eval --data FILE.json``)::

    {"passages":  [{"id", "text", "language", "group"?}],
     "questions": [{"question", "gold", "language", "group"?}]}

``gold`` is a passage id, or ``null`` for a question the material cannot answer (built by
asking the questions of held-out articles). Converters turn ../shared/data/qa (XQuAD en/de,
SQuAD-it, NorQuAD) into this format with a fixed seed and bounded sizes.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SEED = 13


@dataclass(frozen=True)
class EvalPassage:
    """One passage of the material."""

    id: str
    text: str
    language: str
    group: str = ""


@dataclass(frozen=True)
class EvalQuestion:
    """One question; ``gold`` is None when the material cannot answer it."""

    question: str
    gold: str | None
    language: str
    group: str = ""


@dataclass
class EvalSet:
    """Passages and questions in the eval format."""

    passages: list[EvalPassage]
    questions: list[EvalQuestion]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "passages": [asdict(p) for p in self.passages],
            "questions": [asdict(q) for q in self.questions],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvalSet:
        """Parse the JSON form; raise ValueError on a malformed file."""
        try:
            passages = [
                EvalPassage(str(p["id"]), p["text"], p.get("language") or "en", p.get("group", ""))
                for p in data["passages"]
            ]
            questions = [
                EvalQuestion(
                    q["question"],
                    None if q.get("gold") is None else str(q["gold"]),
                    q.get("language") or "en",
                    q.get("group", ""),
                )
                for q in data["questions"]
            ]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not an eval file: missing {exc}") from None
        ids = {p.id for p in passages}
        missing = [q.gold for q in questions if q.gold is not None and q.gold not in ids]
        if missing:
            raise ValueError(
                f"{len(missing)} gold ids are not among the passages, e.g. {missing[0]!r}"
            )
        return cls(passages, questions)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> EvalSet:
        """Read an eval file."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write an eval file."""
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")


# -- converters ------------------------------------------------------------------------------
def data_dir() -> Path:
    """``KATEDER_EVAL_DATA`` or ../shared/data/qa beside the checkout."""
    env = os.environ.get("KATEDER_EVAL_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "qa"


def _read_json(path: Path) -> Any:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)


def _squad_rows(data: Mapping[str, Any]) -> Iterable[tuple[str, str, list[str]]]:
    """(group, context, questions) per paragraph of a SQuAD-style file."""
    for i, article in enumerate(data["data"]):
        for para in article["paragraphs"]:
            group = article.get("title") or ""
            if not group:  # NorQuAD: one entry per question; group by source document
                answers = [a for qa in para["qas"] for a in qa.get("answers", [])]
                group = (
                    f"doc{answers[0]['document_id']}"
                    if answers and "document_id" in answers[0]
                    else f"a{i}"
                )
            questions = [qa["question"] for qa in para["qas"] if not qa.get("is_impossible")]
            yield group, para["context"], questions


def convert_squad(
    path: str | os.PathLike[str],
    language: str,
    *,
    prefix: str = "",
    max_questions: int = 300,
    max_passages: int = 600,
    unanswerable: int = 100,
    held_out_share: float = 0.15,
    seed: int = SEED,
    rows: Callable[[Mapping[str, Any]], Iterable[tuple[str, str, list[str]]]] = _squad_rows,
) -> EvalSet:
    """A bounded eval set from a SQuAD-style file (XQuAD, SQuAD-it, NorQuAD; others by ``rows``).

    A share of the groups (articles) is held out: their passages are left out and up to
    ``unanswerable`` of their questions get ``gold = None``. From the rest, up to
    ``max_questions`` questions are sampled; the passage pool holds their gold passages
    plus random others up to ``max_passages``.
    """
    rng = random.Random(seed)
    by_context: dict[str, tuple[str, str, list[str]]] = {}
    texts: dict[str, str] = {}  # whitespace-normalised key -> the text as first seen
    for group, context, questions in rows(_read_json(Path(path))):
        key = " ".join(context.split())  # the same text up to whitespace is the same passage
        if key in by_context:
            by_context[key][2].extend(questions)
        else:
            by_context[key] = (f"{prefix}p{len(by_context)}", group, list(questions))
            texts[key] = context
    groups = sorted({g for _, g, _ in by_context.values()})
    rng.shuffle(groups)
    held = set(groups[: max(1, round(len(groups) * held_out_share))]) if unanswerable else set()

    kept = [(pid, g, texts[key], qs) for key, (pid, g, qs) in by_context.items() if g not in held]
    pool_q = [(q, pid, g) for pid, g, _, qs in kept for q in qs]
    chosen = rng.sample(pool_q, min(max_questions, len(pool_q)))
    gold_ids = {pid for _, pid, _ in chosen}
    others = [k for k in kept if k[0] not in gold_ids]
    rng.shuffle(others)
    room = max(0, max_passages - len(gold_ids))
    passages = [EvalPassage(pid, ctx, language, g) for pid, g, ctx, _ in kept if pid in gold_ids]
    passages += [EvalPassage(pid, ctx, language, g) for pid, g, ctx, _ in others[:room]]
    questions = [EvalQuestion(q, pid, language, g) for q, pid, g in chosen]
    held_q = [(q, g) for ctx, (_, g, qs) in by_context.items() if g in held for q in qs]
    for q, g in rng.sample(held_q, min(unanswerable, len(held_q))):
        questions.append(EvalQuestion(q, None, language, g))
    return EvalSet(passages, questions)


def _swequad_rows(data: Mapping[str, Any]) -> Iterable[tuple[str, str, list[str]]]:
    """(group, context, questions) per row of SweQUAD-MC, grouped by the text's title line."""
    for row in data["data"]:
        yield row["context"].split("\n", 1)[0].strip()[:200], row["context"], [row["question"]]


SOURCES: dict[str, tuple[str, str]] = {
    "xquad-en": ("xquad/xquad.en.json", "en"),
    "xquad-de": ("xquad/xquad.de.json", "de"),
    "squad-it": ("squad-it/SQuAD_it-test.json.gz", "it"),
    "norquad": ("norquad/validation_dataset_flattened.json", "nb"),
    # the training split only: SweQUAD-MC's dev and test splits are independent test data
    "swequad-mc": ("swequad-mc/training.json", "sv"),
}
# sources that are not SQuAD-style, with their row readers
ROW_READERS: dict[str, Callable[[Mapping[str, Any]], Iterable[tuple[str, str, list[str]]]]] = {
    "swequad-mc": _swequad_rows
}
# sources whose dev/test halves are split by passage (all questions of a text on one side)
SPLIT_BY_PASSAGE = frozenset({"swequad-mc"})


def convert_source(name: str, root: str | os.PathLike[str] | None = None, **kwargs: Any) -> EvalSet:
    """Convert one of :data:`SOURCES` (a file under ``root``, default :func:`data_dir`)."""
    if name not in SOURCES:
        raise ValueError(f"unknown source {name!r}; choose one of {sorted(SOURCES)}")
    rel, language = SOURCES[name]
    path = Path(root or data_dir()) / rel
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; set KATEDER_EVAL_DATA to the qa folder")
    return convert_squad(
        path, language, prefix=f"{name}:", rows=ROW_READERS.get(name, _squad_rows), **kwargs
    )


def merge(sets: Iterable[EvalSet]) -> EvalSet:
    """One eval set holding several (ids must already be distinct)."""
    out = EvalSet([], [])
    for s in sets:
        out.passages.extend(s.passages)
        out.questions.extend(s.questions)
    return out


def split_questions(
    evalset: EvalSet, dev_share: float = 0.5, seed: int = SEED, *, by_passage: bool = False
) -> tuple[list[EvalQuestion], list[EvalQuestion]]:
    """A fixed dev/test split of the questions (for tuning on dev, reporting on test).

    ``by_passage``: all questions of one passage (of one held-out group when unanswerable)
    fall on the same side, so tuning never sees the test half's texts.
    """
    rng = random.Random(seed)
    if not by_passage:
        qs = list(evalset.questions)
        rng.shuffle(qs)
        cut = int(len(qs) * dev_share)
        return qs[:cut], qs[cut:]
    key = lambda q: q.gold if q.gold is not None else f"group:{q.group}"  # noqa: E731
    units = sorted({key(q) for q in evalset.questions})
    rng.shuffle(units)
    dev_units = set(units[: int(len(units) * dev_share)])
    return [q for q in evalset.questions if key(q) in dev_units], [
        q for q in evalset.questions if key(q) not in dev_units
    ]


# -- indexing ----------------------------------------------------------------------------------
Progress = Callable[[str, int, int], None]  # (stage, done, total), for a progress bar


CHUNK_MARK = "#"  # chunk ids are "<passage id>#<n>" when an eval set is indexed in chunks


def parent_id(passage_id: str) -> str:
    """The eval passage a stored passage (or chunk of it) comes from."""
    return passage_id.split(CHUNK_MARK, 1)[0]


def _chunked(
    services, evalset: EvalSet, chunk_tokens: int, overlap_tokens: int
) -> list[EvalPassage]:
    """The eval passages split the way ingestion splits a document (``ingest.split``)."""
    from ingest.loaders import Segment
    from ingest.split import Splitter
    from ingest.tokens import build_tokenize

    splitter = Splitter(
        build_tokenize(services.config, services.embedder), chunk_tokens, overlap_tokens
    )
    out = []
    for p in evalset.passages:
        if CHUNK_MARK in p.id:
            raise ValueError(f"passage id {p.id!r} contains {CHUNK_MARK!r}, reserved for chunk ids")
        for n, c in enumerate(splitter.split([Segment(p.text)], p.language)):
            out.append(EvalPassage(f"{p.id}{CHUNK_MARK}{n}", c.text, p.language, p.id))
    return out


def index_eval_set(
    services,
    evalset: EvalSet,
    code: str = "EVAL",
    batch: int = 64,
    progress: Progress | None = None,
    *,
    chunk_tokens: int = 0,
    overlap_tokens: int = 30,
) -> int:
    """Load the passages into a new course of ``services`` (database + vector store); its id.

    ``chunk_tokens`` > 0: every eval passage becomes one document, split into chunks of that
    many tokens (``overlap_tokens`` overlap) as ingestion would split it; chunk ids are
    ``"<passage id>#<n>"`` and :func:`run_questions` ranks their parents. 0: one stored
    passage per eval passage (documents are the passages' groups).
    """
    from sqlalchemy import select, update

    from app.services import accounts
    from core.models import Course, Document, Passage, School

    passages = (
        _chunked(services, evalset, chunk_tokens, overlap_tokens)
        if chunk_tokens > 0
        else evalset.passages
    )
    with services.db.session() as s:
        school = s.scalar(
            select(School).where(School.name == "Kateder evaluation")
        ) or accounts.create_school(s, "Kateder evaluation", "SE")
        course = accounts.create_course(
            s,
            school,
            code,
            f"Evaluation {code}",
            evalset.passages[0].language if evalset.passages else "en",
        )
        s.flush()
        course_id = course.id
        docs: dict[str, int] = {}
        for group in dict.fromkeys(p.group or "material" for p in passages):
            doc = Document(
                course_id=course_id,
                title=group[:300],
                filename=f"{group[:200]}.txt",
                content_hash="eval",
                version=1,
                status="ready",
            )
            s.add(doc)
            s.flush()
            docs[group] = doc.id
        for i, p in enumerate(passages):
            s.add(
                Passage(
                    id=p.id,
                    document_id=docs[p.group or "material"],
                    course_id=course_id,
                    version=1,
                    ordinal=i,
                    text=p.text,
                    language=p.language,
                    status="indexed",
                )
            )
        s.execute(
            update(Course)
            .where(Course.id == course_id)
            .values(content_version=Course.content_version + 1)
        )
        doc_of = {p.id: docs[p.group or "material"] for p in passages}
    if services.config.get("RETRIEVAL_MODE") == "bm25":
        return course_id  # no dense side to fill
    for start in range(0, len(passages), batch):
        chunk = passages[start : start + batch]
        vectors = services.embedder.embed_documents([p.text for p in chunk])
        services.vector_store.upsert(
            course_id,
            [p.id for p in chunk],
            vectors,
            [p.text for p in chunk],
            [{"document_id": doc_of[p.id], "version": 1, "language": p.language} for p in chunk],
        )
        if progress is not None:
            progress("indexing", start + len(chunk), len(passages))
    return course_id


# -- retrieval metrics -----------------------------------------------------------------------
@dataclass(frozen=True)
class RankedRun:
    """What the retriever returned for one question (top 10, best first)."""

    question: EvalQuestion
    ids: tuple[str, ...]
    dense: tuple[float, ...]
    lexical: tuple[float, ...]
    relevant: tuple[bool, ...]
    background: float | None = None  # the retriever's background cosine for this question


def run_questions(
    retriever,
    course_id: int,
    questions: Sequence[EvalQuestion],
    k: int = 10,
    progress: Progress | None = None,
) -> list[RankedRun]:
    """Retrieve the top ``k`` eval passages for every question.

    A course indexed in chunks is asked for up to ``4 k`` chunks; each eval passage counts
    once, at the rank (and with the scores) of its best chunk.
    """
    runs = []
    chunked: bool | None = None  # known after the first answer
    for i, q in enumerate(questions, 1):
        got = retriever.retrieve(course_id, q.question, 4 * k if chunked else k)
        if chunked is None and any(CHUNK_MARK in p.id for p in got):
            chunked = True
            got = retriever.retrieve(course_id, q.question, 4 * k)
        if chunked:
            seen: set[str] = set()
            got = [p for p in got if parent_id(p.id) not in seen and not seen.add(parent_id(p.id))][
                :k
            ]
        runs.append(
            RankedRun(
                q,
                tuple(parent_id(p.id) for p in got),
                tuple(p.dense for p in got),
                tuple(p.lexical for p in got),
                tuple(p.relevant for p in got),
                got[0].background if got else None,
            )
        )
        if progress is not None:
            progress("questions", i, len(questions))
    return runs


Relevance = Callable[[float, float, float | None], bool]  # (cosine, coverage, background)


def metrics(
    runs: Sequence[RankedRun], relevant: Relevance | None = None, top_k: int = 4
) -> dict[str, Any]:
    """hit@1, hit@5, MRR@10 on answerable questions; declined/answered rates with the floor.

    ``relevant(dense, lexical, background)`` re-decides relevance (for tuning); by default the
    retriever's own decision is used. A question is declined when none of the first
    ``top_k`` passages (the ones the answer would use) is relevant.
    """

    def block(rs: Sequence[RankedRun]) -> dict[str, Any]:
        answerable = [r for r in rs if r.question.gold is not None]
        unanswerable = [r for r in rs if r.question.gold is None]
        out: dict[str, Any] = {"n": len(answerable)}
        if answerable:
            ranks = [
                r.ids.index(r.question.gold) + 1 if r.question.gold in r.ids else None
                for r in answerable
            ]
            out["hit_at_1"] = round(sum(1 for x in ranks if x == 1) / len(ranks), 4)
            out["hit_at_5"] = round(sum(1 for x in ranks if x and x <= 5) / len(ranks), 4)
            out["mrr_at_10"] = round(sum(1 / x for x in ranks if x and x <= 10) / len(ranks), 4)
            out["answered"] = round(
                sum(not _declined(r, relevant, top_k) for r in answerable) / len(answerable), 4
            )
        if unanswerable:
            out["n_unanswerable"] = len(unanswerable)
            out["declined"] = round(
                sum(_declined(r, relevant, top_k) for r in unanswerable) / len(unanswerable), 4
            )
        return out

    by_language: dict[str, list[RankedRun]] = defaultdict(list)
    for r in runs:
        by_language[r.question.language].append(r)
    report = block(runs)
    report["by_language"] = {lang: block(rs) for lang, rs in sorted(by_language.items())}
    return report


def _declined(run: RankedRun, relevant: Relevance | None, top_k: int) -> bool:
    if relevant is None:
        return not any(run.relevant[:top_k])
    return not any(
        relevant(d, lex, run.background)
        for d, lex in zip(run.dense[:top_k], run.lexical[:top_k], strict=True)
    )


def rule_of(tuned: Mapping[str, Any]) -> Relevance:
    """The relevance callable of a ``tune_floor`` result."""
    from app.retrieval import RelevanceRule

    return RelevanceRule(tuned["dense"], tuned["weight"], tuned.get("lift", 0.0)).passes


def tune_floor(
    runs: Sequence[RankedRun],
    target_declined: float = 0.95,
    top_k: int = 4,
    weights: Sequence[float] = (0.0, 0.05, 0.1, 0.2, 0.3),
    lifts: Sequence[float] = (0.0, 1.0, 2.0, 4.0, 6.0, 8.0),
) -> dict[str, Any]:
    """The ``RelevanceRule`` (floor, coverage weight, lift) tuned on ``runs`` (a dev split).

    Grid search: among rules whose declined rate reaches ``target_declined`` in every
    language, the one keeping most answerable questions (``met_target`` False: none did,
    the best compromise is returned).
    """
    import numpy as np

    n = len(runs)
    cos = np.zeros((n, top_k))
    cov = np.zeros((n, top_k))
    present = np.zeros((n, top_k), dtype=bool)
    for i, r in enumerate(runs):
        m = min(top_k, len(r.dense))
        cos[i, :m], cov[i, :m], present[i, :m] = r.dense[:m], r.lexical[:m], True
    background = np.array([r.background if r.background is not None else np.nan for r in runs])
    answerable = np.array([r.question.gold is not None for r in runs])
    languages = sorted({r.question.language for r in runs})
    by_language = [np.array([r.question.language == lang for r in runs]) for lang in languages]
    floors = np.round(np.arange(0.75, 3.0, 0.0025), 4)

    best: tuple[float, float, float, float] | None = None
    fallback: tuple[float, float, float, float] | None = None
    for weight in weights:
        for lift in lifts:
            lifted = np.nan_to_num(
                lift * (cos - background[:, None])
            )  # no background: no lift term
            score = np.where(present, cos + weight * cov + lifted, -np.inf).max(axis=1)
            kept = score[:, None] >= floors[None, :]  # questions x floors
            answered = kept[answerable].mean(axis=0) if answerable.any() else np.zeros(len(floors))
            worst = np.ones(len(floors))
            for mask in by_language:
                un = mask & ~answerable
                if un.any():
                    worst = np.minimum(worst, (~kept[un]).mean(axis=0))
            ok = worst >= target_declined
            if ok.any():
                j = int(np.argmax(np.where(ok, answered, -1.0)))
                if best is None or answered[j] > best[3]:
                    best = (float(floors[j]), weight, lift, float(answered[j]))
            j = int(np.argmax(worst + answered))
            if fallback is None or worst[j] + answered[j] > fallback[3]:
                fallback = (float(floors[j]), weight, lift, float(worst[j] + answered[j]))
    floor, weight, lift, _ = best or fallback  # type: ignore[misc]
    return {"dense": floor, "weight": weight, "lift": lift, "met_target": best is not None}


# -- the CLI's entry point ---------------------------------------------------------------------
@dataclass
class EvalRun:
    """A fresh temporary instance with the configured retrieval (or given components)."""

    config: dict[str, Any] = field(default_factory=dict)
    components: dict[str, Any] = field(default_factory=dict)

    def __enter__(self):
        """Create the temporary instance and its services."""
        from app import create_app, get_services

        self._tmp = tempfile.TemporaryDirectory(prefix="kateder-eval-")
        home = Path(self._tmp.name)
        cfg = {
            **self.config,
            "HOME": str(home),
            "DATABASE_URL": self.config.get("DATABASE_URL") or f"sqlite:///{home / 'eval.db'}",
            "SECRET_KEY": "eval",
        }
        self.services = get_services(create_app(cfg, services=dict(self.components)))
        self.services.db.migrate()
        return self.services

    def __exit__(self, *exc) -> None:
        """Remove the temporary instance."""
        self.services.db.dispose()
        self._tmp.cleanup()


def retrieval_eval(
    evalset: EvalSet,
    config: Mapping[str, Any] | None = None,
    components: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    *,
    chunk_tokens: int = 0,
    orphans: int = 0,
    seed: int = SEED,
) -> dict[str, Any]:
    """Index ``evalset`` into a fresh store (in chunks if ``chunk_tokens``) and report retrieval metrics.

    ``orphans`` > 0: that many answerable questions (seeded sample) are also asked of a copy
    of the material without their gold passages; ``orphans.declined`` is the share declined.
    """
    with EvalRun(dict(config or {}), dict(components or {})) as services:
        overlap = int(services.config.get("CHUNK_OVERLAP_TOKENS", 30))
        course_id = index_eval_set(
            services, evalset, progress=progress, chunk_tokens=chunk_tokens, overlap_tokens=overlap
        )
        runs = run_questions(services.retriever, course_id, evalset.questions, progress=progress)
        report = metrics(runs, top_k=services.retriever.top_k)
        report["embedder"] = getattr(services.embedder, "name", "")
        report["mode"] = services.retriever.mode
        report["reranker"] = getattr(services.retriever.reranker, "name", "none")
        report["chunk_tokens"] = chunk_tokens
        if orphans > 0:
            answerable = [q for q in evalset.questions if q.gold is not None]
            chosen = random.Random(seed).sample(answerable, min(orphans, len(answerable)))
            removed = {q.gold for q in chosen}
            # passage ids are primary keys: the copy's carry a prefix (orphaned questions have no gold)
            rest = EvalSet(
                [
                    EvalPassage(f"orphan:{p.id}", p.text, p.language, p.group)
                    for p in evalset.passages
                    if p.id not in removed
                ],
                [],
            )
            orphan_id = index_eval_set(
                services,
                rest,
                "ORPHAN",
                progress=progress,
                chunk_tokens=chunk_tokens,
                overlap_tokens=overlap,
            )
            asked = [EvalQuestion(q.question, None, q.language, q.group) for q in chosen]
            orphaned = metrics(
                run_questions(services.retriever, orphan_id, asked, progress=progress),
                top_k=services.retriever.top_k,
            )
            report["orphans"] = {
                "n": len(asked),
                "declined": orphaned.get("declined"),
                "by_language": {
                    lang: b.get("declined") for lang, b in orphaned["by_language"].items()
                },
            }
        return report


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
    import time

    from app.services import accounts
    from core.models import Course

    rng = random.Random(seed)
    questions = list(evalset.questions)
    rng.shuffle(questions)
    questions = questions[:limit]
    with EvalRun(dict(config or {}), dict(components or {})) as services:
        course_id = index_eval_set(services, evalset, progress=progress)
        with services.db.session() as s:
            course = s.get(Course, course_id)
            course.daily_question_limit = 10**6
            teacher = accounts.create_user(
                s, course.school, "eval-teacher", "eval-" + os.urandom(8).hex(), "teacher"
            )
            accounts.enrol(s, teacher, course)
            code = course.code
            s.flush()
            user_id = teacher.id
        rows = []
        for q in questions:
            t = time.perf_counter()
            result = services.ask.ask(user_id, code, q.question)
            rows.append((q, result, time.perf_counter() - t))
            if progress is not None:
                progress("questions", len(rows), len(questions))

    def block(items) -> dict[str, Any]:
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

    by_language: dict[str, list] = defaultdict(list)
    for row in rows:
        by_language[row[0].language].append(row)
    report = block(rows)
    report["by_language"] = {lang: block(items) for lang, items in sorted(by_language.items())}
    report["seconds_per_question"] = round(sum(t for _, _, t in rows) / max(1, len(rows)), 2)
    return report
