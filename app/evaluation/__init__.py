"""Evaluation harness: retrieval hit@k / MRR and answer grounding on extractive QA sets (a package).

The eval format (``kateder retrieval eval --data FILE.json``)::

    {"passages":  [{"id", "text", "language", "group"?}],
     "questions": [{"question", "gold", "language", "group"?}]}

``gold`` is a passage id, or ``null`` for a question the material cannot answer (built by
asking the questions of held-out articles). Converters turn ../shared/data/qa (XQuAD en/de,
SQuAD-it, NorQuAD) into this format with a fixed seed and bounded sizes.

One concept per module, each importing only the ones before it:

- :mod:`~app.evaluation.sets`: the format (:class:`EvalSet`), merging and the dev/test split
- :mod:`~app.evaluation.converters`: eval sets from the SQuAD-style files (:data:`SOURCES`)
- :mod:`~app.evaluation.indexing`: the temporary instance (:class:`EvalRun`) and an eval
  set loaded into one of its courses (:func:`index_eval_set`)
- :mod:`~app.evaluation.retrieval`: rankings, retrieval metrics, the tuned relevance floor
  and :func:`retrieval_eval` (``kateder retrieval eval``)
- :mod:`~app.evaluation.answers`: :func:`answer_eval` (``kateder answer eval``)

The names below are the package's interface (``from app.evaluation import ...``).
"""

from __future__ import annotations

from app.evaluation.answers import answer_eval
from app.evaluation.converters import (
    ROW_READERS,
    SOURCES,
    SPLIT_BY_PASSAGE,
    convert_source,
    convert_squad,
    data_dir,
)
from app.evaluation.indexing import CHUNK_MARK, EvalRun, Progress, index_eval_set, parent_id
from app.evaluation.retrieval import (
    RankedRun,
    Relevance,
    metrics,
    retrieval_eval,
    rule_of,
    run_questions,
    tune_floor,
)
from app.evaluation.sets import SEED, EvalPassage, EvalQuestion, EvalSet, merge, split_questions

__all__ = [
    "CHUNK_MARK",
    "ROW_READERS",
    "SEED",
    "SOURCES",
    "SPLIT_BY_PASSAGE",
    "EvalPassage",
    "EvalQuestion",
    "EvalRun",
    "EvalSet",
    "Progress",
    "RankedRun",
    "Relevance",
    "answer_eval",
    "convert_source",
    "convert_squad",
    "data_dir",
    "index_eval_set",
    "merge",
    "metrics",
    "parent_id",
    "retrieval_eval",
    "rule_of",
    "run_questions",
    "split_questions",
    "tune_floor",
]
