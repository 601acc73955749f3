"""Training data, training and per-language calibration of the e5
cross-encoder reranker (a package).

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

One module per step, each importing only the ones before it:

- :mod:`~app.reranker_training.data`: the constants, the eval sets, the training paragraphs,
  near-copies
- :mod:`~app.reranker_training.cache`: the on-disk cache and the cached embedder
- :mod:`~app.reranker_training.candidates`: questions asked of the hybrid retriever (:class:`Asked`)
- :mod:`~app.reranker_training.negatives`: positives and hard negatives (:class:`Group`)
- :mod:`~app.reranker_training.network`: the training loop and the saved weights
- :mod:`~app.reranker_training.scoring`: the cross-encoder's logits of the candidates (kept on disk)
- :mod:`~app.reranker_training.calibration`: the per-language calibration and thresholds
- :mod:`~app.reranker_training.command`: :func:`train_reranker`, all of it in one seeded run

The names below are the package's interface (``from app.reranker_training import ...``).
"""

from __future__ import annotations

from app.reranker_training.cache import CachedEmbedder, cache_dir
from app.reranker_training.calibration import calibrate
from app.reranker_training.candidates import (
    Asked,
    ask_all,
    collect_eval,
    collect_training,
    eval_asks,
)
from app.reranker_training.command import file_sha256, train_reranker
from app.reranker_training.data import (
    CANDIDATES,
    CLI_BOUNDS,
    EVAL_BOUNDS,
    EVAL_SOURCES,
    HALF_LIMITS,
    NEAR_COPY,
    ORPHANS_PER_HALF,
    SEED,
    Bounds,
    Progress,
    TrainQuestion,
    eval_sets,
    near_copy,
    training_set,
)
from app.reranker_training.negatives import Group, build_groups
from app.reranker_training.network import save_weights, train_network
from app.reranker_training.scoring import (
    load_logits,
    logits_path,
    query_language,
    save_logits,
    score_asked,
)

__all__ = [
    "CANDIDATES",
    "CLI_BOUNDS",
    "EVAL_BOUNDS",
    "EVAL_SOURCES",
    "HALF_LIMITS",
    "NEAR_COPY",
    "ORPHANS_PER_HALF",
    "SEED",
    "Asked",
    "Bounds",
    "CachedEmbedder",
    "Group",
    "Progress",
    "TrainQuestion",
    "ask_all",
    "build_groups",
    "cache_dir",
    "calibrate",
    "collect_eval",
    "collect_training",
    "eval_asks",
    "eval_sets",
    "file_sha256",
    "load_logits",
    "logits_path",
    "near_copy",
    "query_language",
    "save_logits",
    "save_weights",
    "score_asked",
    "train_network",
    "train_reranker",
    "training_set",
]
