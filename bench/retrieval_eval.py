"""Retrieval benchmark on ../shared/data/qa: BM25, MiniLM, e5 and their fusions, per language.

Writes the tables of docs/retrieval.md (between the ``results`` markers) and
bench/results/retrieval_eval.json. Bounded: per language at most 300 answerable questions,
100 unanswerable ones (questions of held-out articles) and 600 passages, seed 13 (smaller
with --max-questions/--max-passages/--unanswerable on a busy machine).
Embeddings are cached in ~/.cache/kateder-bench so a rerun only re-ranks.

    python bench/retrieval_eval.py [--languages xquad-en,norquad] [--embedders e5]
        [--chunk-tokens 0,200] [--bounds swequad-mc=1000/600/100] [--no-docs]

Each variant is reported on the dev and the test half of every source apart
(``app.evaluation.split_questions``; SweQUAD-MC split by text). Choices are made on dev.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from app.config import DEFAULTS  # noqa: E402
from app.evaluation import (  # noqa: E402
    SOURCES,
    SPLIT_BY_PASSAGE,
    EvalRun,
    convert_source,
    index_eval_set,
    metrics,
    rule_of,
    run_questions,
    split_questions,
    tune_floor,
)
from app.retrieval import HybridRetriever  # noqa: E402

CHUNK_TOKENS = int(DEFAULTS["CHUNK_TOKENS"])  # what ingestion ships

CACHE = Path.home() / ".cache" / "kateder-bench"


class CachingEmbedder:
    """Wraps an embedder; vectors are cached on disk by text hash (timing the misses)."""

    def __init__(self, inner) -> None:
        self.inner, self.name = inner, inner.name
        self.path = CACHE / f"{inner.name}.pkl"
        self.cache = pickle.loads(self.path.read_bytes()) if self.path.is_file() else {}
        self.embedded, self.seconds = 0, 0.0

    def _many(self, kind: str, texts, fn):
        keys = [hashlib.sha1(f"{kind}:{t}".encode()).hexdigest() for t in texts]
        todo = [i for i, k in enumerate(keys) if k not in self.cache]
        if todo:
            t = time.perf_counter()
            vecs = fn([texts[i] for i in todo])
            self.seconds += time.perf_counter() - t
            self.embedded += len(todo)
            for i, v in zip(todo, vecs, strict=True):
                self.cache[keys[i]] = v
        return [self.cache[k] for k in keys]

    def embed_documents(self, texts):
        return self._many("p", list(texts), self.inner.embed_documents)

    def embed_query(self, text):
        return self._many("q", [text], lambda ts: [self.inner.embed_query(ts[0])])[0]

    def prefetch_queries(self, texts) -> None:
        """Embed many queries in batches (same vectors as ``embed_query``)."""
        if hasattr(self.inner, "_embed"):  # e5: the "query: " prefix, batched
            batch = lambda ts: self.inner._embed([f"query: {t}" for t in ts])  # noqa: E731
        else:  # sentence-transformers: queries and passages are encoded alike
            batch = self.inner.embed_documents
        self._many("q", list(dict.fromkeys(texts)), batch)

    def save(self) -> None:
        CACHE.mkdir(parents=True, exist_ok=True)
        self.path.write_bytes(pickle.dumps(self.cache))


def build(name: str):
    """A real embedder and its load time in seconds."""
    t = time.perf_counter()
    if name == "minilm":
        from core.model_files import minilm_dir
        from ingest.embedding import SentenceTransformerEmbedder

        emb = SentenceTransformerEmbedder(str(minilm_dir()), name="all-MiniLM-L6-v2")
        emb.embed_query("warm up")
    else:
        from core.e5 import E5Embedder, load_e5

        load_e5()
        emb = E5Embedder()
    return emb, time.perf_counter() - t


VARIANTS = [
    ("BM25 (words)", None, {"RETRIEVAL_MODE": "bm25", "RETRIEVAL_STEM": False}),
    ("BM25 (stemmed, folded)", None, {"RETRIEVAL_MODE": "bm25"}),
    ("MiniLM only", "minilm", {"RETRIEVAL_MODE": "dense"}),
    ("e5 only", "e5", {"RETRIEVAL_MODE": "dense"}),
    ("BM25 + MiniLM (RRF)", "minilm", {"RETRIEVAL_MODE": "hybrid", "RETRIEVAL_FUSION": "rrf"}),
    ("BM25 + e5 (RRF)", "e5", {"RETRIEVAL_MODE": "hybrid", "RETRIEVAL_FUSION": "rrf"}),
    (
        "BM25 + e5 (z-score, dense 0.3)",
        "e5",
        {"RETRIEVAL_MODE": "hybrid", "RETRIEVAL_FUSION": "zscore", "RETRIEVAL_DENSE_WEIGHT": 0.3},
    ),
    (
        "BM25 + e5 (z-score, dense 0.5)",
        "e5",
        {"RETRIEVAL_MODE": "hybrid", "RETRIEVAL_FUSION": "zscore", "RETRIEVAL_DENSE_WEIGHT": 0.5},
    ),
    (
        "BM25 + e5 (z-score, dense 0.7)",
        "e5",
        {"RETRIEVAL_MODE": "hybrid", "RETRIEVAL_FUSION": "zscore", "RETRIEVAL_DENSE_WEIGHT": 0.7},
    ),
]
DEFAULT = "BM25 + e5 (z-score, dense 0.5)"  # the shipped configuration (with CHUNK_TOKENS chunks)
# the rule shipped before the background lift (cosine + 0.05 x coverage >= 0.885), for comparison
PREVIOUS_RULE = (0.885, 0.05)


def halves(evalset, source: str) -> tuple[set[int], set[int]]:
    """ids() of the dev and test questions of one source (split by passage where the source says
    so)."""
    dev, test = split_questions(evalset, by_passage=source in SPLIT_BY_PASSAGE)
    return {id(q) for q in dev}, {id(q) for q in test}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--languages", default=",".join(SOURCES), help="comma-separated sources")
    parser.add_argument("--embedders", default="minilm,e5", help="comma-separated: minilm, e5")
    parser.add_argument(
        "--chunk-tokens",
        default=f"0,{CHUNK_TOKENS}",
        help=(
            "comma-separated: 0 = passages whole, n = split like ingestion into n-token chunks "
            "(30 overlap)"
        ),
    )
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/retrieval.md")
    parser.add_argument("--max-questions", type=int, default=300)
    parser.add_argument("--max-passages", type=int, default=600)
    parser.add_argument("--unanswerable", type=int, default=100)
    parser.add_argument(
        "--bounds",
        action="append",
        default=[],
        metavar="SOURCE=Q/P/U",
        help="other bounds for one source, e.g. swequad-mc=1000/600/100 (repeatable)",
    )
    args = parser.parse_args()
    sources = [s for s in args.languages.split(",") if s]
    chunkings = [int(c) for c in args.chunk_tokens.split(",") if c]
    bounds = {s: (args.max_questions, args.max_passages, args.unanswerable) for s in sources}
    for spec in args.bounds:
        name, _, numbers = spec.partition("=")
        try:
            bounds[name] = tuple(int(n) for n in numbers.split("/"))  # type: ignore[assignment]
        except ValueError:
            parser.error(f"--bounds {spec!r}: expected SOURCE=QUESTIONS/PASSAGES/UNANSWERABLE")
        if name not in bounds or len(bounds[name]) != 3:
            parser.error(
                f"--bounds {spec!r}: expected one of {sources} = QUESTIONS/PASSAGES/UNANSWERABLE"
            )
    sets = {
        s: convert_source(
            s, max_questions=bounds[s][0], max_passages=bounds[s][1], unanswerable=bounds[s][2]
        )
        for s in sources
    }
    print(
        "data:",
        {s: {"passages": len(e.passages), "questions": len(e.questions)} for s, e in sets.items()},
        flush=True,
    )
    split = {s: halves(e, s) for s, e in sets.items()}
    dev_ids = set().union(*(d for d, _ in split.values()))

    embedders, speed = {}, {}
    sample = [p.text for p in next(iter(sets.values())).passages[:64]]
    for name in [n for n in args.embedders.split(",") if n]:
        inner, load_s = build(name)
        embedders[name] = CachingEmbedder(inner)
        t = time.perf_counter()
        inner.embed_documents(sample)  # uncached: the embedding speed on this machine now
        speed[name] = {
            "load_s": round(load_s, 1),
            "passages_per_s": round(len(sample) / (time.perf_counter() - t), 1),
        }

    results: dict[str, dict] = {}
    runs_by_variant = {}
    for name, emb in embedders.items():
        for chunk_tokens in chunkings:
            # one fresh instance per embedder: a course is only ever queried with its own embedder
            with EvalRun({"EMBEDDER": "minilm"}, {"embedder": emb}) as services:
                courses = {}
                for src, evalset in sets.items():
                    courses[src] = index_eval_set(
                        services, evalset, code=f"{src}-{chunk_tokens}", chunk_tokens=chunk_tokens
                    )
                    emb.save()
                    print(f"  {name}: indexed {src} ({chunk_tokens or 'whole'})", flush=True)
                emb.prefetch_queries(
                    [q.question for evalset in sets.values() for q in evalset.questions]
                )
                emb.save()
                for label, emb_name, cfg in VARIANTS:
                    if (
                        emb_name or next(iter(embedders))
                    ) != name:  # BM25 alone: once, beside the first embedder
                        continue
                    label = (
                        f"{label}, "
                        f"{f'{chunk_tokens}-token chunks' if chunk_tokens else 'whole passages'}"
                    )
                    retriever = HybridRetriever(
                        services.db, emb, services.vector_store, {**services.config, **cfg}
                    )
                    runs = []
                    t = time.perf_counter()
                    for src, evalset in sets.items():
                        runs += run_questions(retriever, courses[src], evalset.questions)
                    emb.save()
                    runs_by_variant[label] = runs
                    results[label] = {
                        "all": metrics(runs, top_k=4),
                        "dev": metrics([r for r in runs if id(r.question) in dev_ids], top_k=4),
                        "test": metrics(
                            [r for r in runs if id(r.question) not in dev_ids], top_k=4
                        ),
                        "ms_per_question": round(
                            1000 * (time.perf_counter() - t) / max(1, len(runs)), 1
                        ),
                    }
                    print(
                        label,
                        json.dumps(
                            {
                                h: {
                                    lang: [b.get("hit_at_1"), b.get("hit_at_5")]
                                    for lang, b in results[label][h]["by_language"].items()
                                }
                                for h in ("dev", "test")
                            }
                        ),
                        flush=True,
                    )

    # relevance floor: tuned on the dev half of the questions, reported on the test half
    tuned = {}
    default = next(
        (
            label
            for label in runs_by_variant
            if label.startswith(DEFAULT + ",") and f"{CHUNK_TOKENS}-token" in label
        ),
        None,
    ) or next((label for label in runs_by_variant if label.startswith(DEFAULT + ",")), None)
    if default:
        runs = runs_by_variant[default]
        dev_runs = [r for r in runs if id(r.question) in dev_ids]
        test_runs = [r for r in runs if id(r.question) not in dev_ids]
        floor = tune_floor(dev_runs)
        rule = rule_of(floor)
        previous = {"dense": PREVIOUS_RULE[0], "weight": PREVIOUS_RULE[1]}
        tuned = {
            "variant": default,
            "floor": floor,
            "dev": metrics(dev_runs, rule),
            "test": metrics(test_runs, rule),
            "previous_rule": previous,
            "previous_rule_test": metrics(test_runs, rule_of(previous)),
        }
        print("tuned floor", floor, "test:", json.dumps(tuned["test"]), flush=True)

    out = {
        "sources": {
            s: {
                "passages": len(e.passages),
                "questions": len(e.questions),
                "unanswerable": sum(q.gold is None for q in e.questions),
                "dev": len(split[s][0]),
                "test": len(split[s][1]),
            }
            for s, e in sets.items()
        },
        "speed": speed,
        "variants": results,
        "default": default,
        "floor": tuned,
        "seed": 13,
        "load_average": os.getloadavg()[0],
    }
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "results" / "retrieval_eval.json").write_text(json.dumps(out, indent=1))
    if not args.no_docs:
        write_docs(out)


def write_docs(out: dict) -> None:
    """Replace the generated section of docs/retrieval.md."""
    langs = sorted({lang for v in out["variants"].values() for lang in v["all"]["by_language"]})
    lines = [
        "<!-- results:start (generated by bench/retrieval_eval.py; do not edit by hand) -->",
        "",
    ]
    lines.append(
        "Data: "
        + ", ".join(
            f"{s} ({v['passages']} passages, {v['questions']} questions: {v['dev']} dev / "
            f"{v['test']} test)"
            for s, v in out["sources"].items()
        )
        + "; seed 13."
    )
    for half in ("dev", "test"):
        lines.append("")
        lines.append(f"**{half} half** (answerable questions; hit@1 / hit@5):")
        lines.append("")
        lines.append("| retriever | " + " | ".join(langs) + " | ms/question |")
        lines.append("|---|" + "---|" * (len(langs) + 1))
        for label, m in out["variants"].items():
            cells = []
            for lang in langs:
                b = m[half]["by_language"].get(lang, {})
                cells.append(f"{b.get('hit_at_1', 0):.2f} / {b.get('hit_at_5', 0):.2f}")
            name = f"**{label}** (default)" if label == out.get("default") else label
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {m['ms_per_question']} |")
    lines.append("")
    f = out["floor"]
    if f:
        fl, pr = f["floor"], f.get("previous_rule", {"dense": 0.885, "weight": 0.05})
        lines.append(
            f"Relevance rule ({f.get('variant', DEFAULT)}) tuned on the dev half in this run: "
            f"cosine + {fl['weight']} × IDF-weighted coverage + {fl.get('lift', 0)} × (cosine − "
            f"background) ≥ {fl['dense']}, where background is the mean cosine of the 5th-20th "
            f"nearest passages (≥ 95 % declined in every language on dev: {fl['met_target']}; "
            f"dev: answerable kept {f['dev'].get('answered', 0):.2f}, unanswerable declined "
            f"{f['dev'].get('declined', 0):.2f}). On the test half, against the previous rule "
            f"(cosine + {pr['weight']} × coverage ≥ {pr['dense']}):"
        )
        lines.append("")
        lines.append(
            "| language | answerable kept (tuned) | unanswerable declined (tuned) "
            "| kept (previous) | declined (previous) | n / n unanswerable |"
        )
        lines.append("|---|---|---|---|---|---|")
        for lang, b in f["test"]["by_language"].items():
            o = f["previous_rule_test"]["by_language"][lang]
            lines.append(
                f"| {lang} | {b.get('answered', 0):.2f} | {b.get('declined', 0):.2f} | "
                f"{o.get('answered', 0):.2f} | {o.get('declined', 0):.2f} | {b['n']} / "
                f"{b.get('n_unanswerable', 0)} |"
            )
        lines.append("")
    sp = out["speed"]
    lines.append(
        "Embedders (load = first use in the process; speed = 64 passages, batch 32, fp32 torch): "
        + "; ".join(
            f"{k}: load {v['load_s']} s, {v['passages_per_s']} passages/s" for k, v in sp.items()
        )
        + f" (2 CPU cores shared with other jobs, load average {out['load_average']:.1f})."
    )
    lines.append("")
    lines.append("<!-- results:end -->")
    doc = ROOT / "docs" / "retrieval.md"
    text = (
        doc.read_text(encoding="utf-8")
        if doc.is_file()
        else "# Retrieval\n\n<!-- results:start -->\n<!-- results:end -->\n"
    )
    start, end = text.find("<!-- results:start"), text.find("<!-- results:end -->")
    if start < 0 or end < 0:
        text += "\n" + "\n".join(lines) + "\n"
    else:
        text = text[:start] + "\n".join(lines) + text[end + len("<!-- results:end -->") :]
    doc.write_text(text, encoding="utf-8")
    print(f"wrote {doc}")


if __name__ == "__main__":
    main()
