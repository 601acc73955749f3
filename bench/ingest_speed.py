"""Ingestion throughput against the raw throughput of the same embedding model, same run.

Usage::

    python bench/ingest_speed.py                      # 200-page PDF + 100-slide PPTX, MiniLM,
                                                      # rules guard
    python bench/ingest_speed.py --guard embedded     # count the embedded guard's material scan too
    python bench/ingest_speed.py --pages 50 --slides 20 --no-write

Generates the files in memory, ingests them through the real pipeline (real MiniLM, real
embedded Chroma, SQLite, in a temporary instance folder), then embeds the very same passage
texts with the same model and batch size. Prints pages/s, chunks/s, the ratio
``raw embedding time / ingestion time`` (1.0 = ingestion costs nothing beyond embedding;
target >= 0.9) and the peak resident memory, and writes them to bench/results/ingest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tests import ingest_samples as S  # noqa: E402

TOPICS = [
    "photosynthesis",
    "the water cycle",
    "the Viking age",
    "plate tectonics",
    "the French revolution",
    "cell division",
    "electric circuits",
    "the Roman republic",
    "climate zones",
    "the periodic table",
]


def make_pdf(pages: int) -> bytes:
    """A textbook-like PDF: ~300 words of varied prose per page."""
    return S.pdf([S.filler(TOPICS[i % len(TOPICS)], 22, seed=i) for i in range(pages)])


def make_pptx(slides: int) -> bytes:
    """A lecture deck: a title and ~60 words of bullet text per slide."""
    return S.pptx(
        [
            (
                f"{TOPICS[i % len(TOPICS)].capitalize()} ({i + 1})",
                S.filler(TOPICS[i % len(TOPICS)], 5, seed=1000 + i),
            )
            for i in range(slides)
        ]
    )


def raw_embedding_s(embedder, texts: list[str], batch: int) -> tuple[float, float]:
    """(wall, CPU) seconds to embed ``texts`` in the pipeline's batch size, nothing else."""
    t, c = time.perf_counter(), time.process_time()
    for i in range(0, len(texts), batch):
        embedder.embed_documents(texts[i : i + batch])
    return time.perf_counter() - t, time.process_time() - c


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    """Run the benchmark and print (and write) its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--slides", type=int, default=100)
    parser.add_argument(
        "--guard",
        default="rules",
        help="guard backend for the material scan (rules, embedded, ...)",
    )
    parser.add_argument(
        "--overlap",
        action="store_true",
        help="load/split/scan in a thread while embedding (INGEST_OVERLAP)",
    )
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    from sqlalchemy import select

    from app import create_app
    from app.services import accounts, get_services
    from core.models import Passage

    home = Path(tempfile.mkdtemp(prefix="kateder-bench-"))
    app = create_app(
        {
            "HOME": str(home),
            "SECRET_KEY": "bench",
            "EMBEDDER": "minilm",
            "GUARD_BACKEND": args.guard,
            "JOBS_IN_PROCESS": False,
            "INGEST_OVERLAP": args.overlap,
        }
    )
    services = get_services(app)
    services.db.migrate()
    with services.db.session() as s:
        school = accounts.create_school(s, "Bench school")
        course = accounts.create_course(s, school, "BENCH", "Bench", "en").id

    t = time.perf_counter()
    pdf, pptx = make_pdf(args.pages), make_pptx(args.slides)
    generate_s = time.perf_counter() - t

    # warm-up: model, tokenizer, NLTK, Chroma and the guard load once, outside the timings
    t = time.perf_counter()
    embedder = services.embedder
    embedder.embed_documents(["warm-up sentence"] * 4)
    services.ingest.ingest(
        course, "warmup.md", b"# Warm-up\n\nA short warm-up document about photosynthesis."
    )
    warmup_s = time.perf_counter() - t

    files = {"pdf": ("textbook.pdf", pdf, args.pages), "pptx": ("lecture.pptx", pptx, args.slides)}
    runs = {}
    from ingest import loaders, validate

    batch = services.ingest.batch
    for kind, (name, data, units) in files.items():
        # the same passages the pipeline will make, embedded raw before and after the ingestion
        texts = [
            c.text
            for c in services.ingest.splitter.split(
                loaders.load(validate.check(name, data), data, name)
            )
        ]
        (before_s, before_cpu) = raw_embedding_s(embedder, texts, batch)
        t, c = time.perf_counter(), time.process_time()
        result = services.ingest.ingest(course, name, data)
        ingest_s, ingest_cpu = time.perf_counter() - t, time.process_time() - c
        (after_s, after_cpu) = raw_embedding_s(embedder, texts, batch)
        raw_s, raw_cpu = (before_s + after_s) / 2, (before_cpu + after_cpu) / 2
        with services.db.session() as s:
            stored = list(
                s.scalars(
                    select(Passage.text)
                    .where(Passage.document_id == result.document_id)
                    .order_by(Passage.ordinal)
                )
            )
        assert stored == texts, "the benchmark's passages differ from the pipeline's"
        runs[kind] = {
            "file": name,
            "bytes": len(data),
            "units": units,
            "chunks": len(texts),
            "held": result.held,
            "ingest_s": round(ingest_s, 2),
            "raw_embed_s": round(raw_s, 2),
            "raw_embed_s_before_after": [round(before_s, 2), round(after_s, 2)],
            "pipeline_timings_s": result.timings_s,
            "units_per_s": round(units / ingest_s, 2),
            "chunks_per_s": round(len(texts) / ingest_s, 2),
            "raw_chunks_per_s": round(len(texts) / raw_s, 2),
            "ratio": round(raw_s / ingest_s, 3),
            "ingest_cpu_s": round(ingest_cpu, 2),
            "raw_embed_cpu_s": round(raw_cpu, 2),
            "cpu_ratio": round(raw_cpu / ingest_cpu, 3),
        }

    total_ingest = sum(r["ingest_s"] for r in runs.values())
    total_raw = sum(r["raw_embed_s"] for r in runs.values())
    chunks = sum(r["chunks"] for r in runs.values())
    figures = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores (shared), "
            f"Python {platform.python_version()}"
        ),
        "embedder": embedder.name,
        "guard": args.guard,
        "chunk_tokens": services.ingest.chunk_tokens,
        "embed_batch": services.ingest.batch,
        "generate_s": round(generate_s, 2),
        "warmup_s": round(warmup_s, 2),
        "pdf": runs["pdf"],
        "pptx": runs["pptx"],
        "pages_per_s": runs["pdf"]["units_per_s"],
        "slides_per_s": runs["pptx"]["units_per_s"],
        "chunks_per_s": round(chunks / total_ingest, 2),
        "raw_chunks_per_s": round(chunks / total_raw, 2),
        "ratio": round(total_raw / total_ingest, 3),
        "target_ratio": 0.9,
        "cpu_ratio": round(
            sum(r["raw_embed_cpu_s"] for r in runs.values())
            / sum(r["ingest_cpu_s"] for r in runs.values()),
            3,
        ),
        "overlap": args.overlap,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    print(
        f"embedder {figures['embedder']}, guard {args.guard}, {figures['chunk_tokens']}-token "
        f"chunks, batch {figures['embed_batch']}"
    )
    for kind, r in runs.items():
        print(
            f"{kind:5} {r['units']:4} {'pages' if kind == 'pdf' else 'slides'} -> {r['chunks']:4} "
            f"chunks: ingest {r['ingest_s']:6.2f} s ({r['units_per_s']:6.2f} "
            f"{'pages' if kind == 'pdf' else 'slides'}/s, {r['chunks_per_s']:6.2f} chunks/s), raw "
            f"embedding {r['raw_embed_s']:6.2f} s, ratio {r['ratio']:.3f} (CPU time: ingest "
            f"{r['ingest_cpu_s']:.1f} s, raw {r['raw_embed_cpu_s']:.1f} s, ratio "
            f"{r['cpu_ratio']:.3f})"
        )
    for kind, r in runs.items():
        print(
            f"{kind:5} inside the pipeline: "
            + ", ".join(f"{k} {v:.2f} s" for k, v in r["pipeline_timings_s"].items())
        )
    print(
        f"total: {figures['chunks_per_s']} chunks/s ingested vs {figures['raw_chunks_per_s']} "
        f"chunks/s raw embedding; ratio {figures['ratio']:.3f} wall, {figures['cpu_ratio']:.3f} "
        f"CPU time (target >= 0.9); peak RSS {figures['peak_rss_mb']} MB; load average "
        f"{figures['load_average'][0]} on {os.cpu_count()} cores"
    )
    if not args.no_write:
        out = ROOT / "bench" / "results" / "ingest.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"wrote {out.relative_to(ROOT)}")
    services.db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
