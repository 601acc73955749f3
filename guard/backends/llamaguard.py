"""Llama Guard 3 backends: transformers (local directory), OpenAI-compatible server, GGUF.

All three render the same prompt (:func:`guard.llamaguard.render`), generate greedily, parse
strictly (:func:`guard.llamaguard.parse`) and report P(first token = "unsafe") as the score
when the backend exposes token probabilities. Any error, timeout or unparseable answer
gives a verdict with ``error`` set and ``safe=False``: the guard fails closed.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from core.model_card import ModelCard
from guard.llamaguard import SCORING_PRIMER, ParseError, parse, render
from guard.types import Message, Role, Verdict

MAX_NEW_TOKENS = 12


def _verdict(backend: str, model: str, text: str, score: float | None, start: float) -> Verdict:
    """Parse ``text``; a parse failure becomes a fail-closed error verdict."""
    latency = (time.perf_counter() - start) * 1000
    try:
        safe, cats = parse(text)
    except ParseError as exc:
        return Verdict(
            safe=False,
            score=1.0,
            backend=backend,
            model=model,
            error=str(exc),
            latency_ms=latency,
            details={"raw": text[:200]},
        )
    if score is None:
        score = 0.0 if safe else 1.0
    return Verdict(
        safe=safe,
        categories=cats,
        score=float(score),
        backend=backend,
        model=model,
        latency_ms=latency,
        details={"raw": text[:200]},
    )


def _failed(backend: str, model: str, exc: BaseException, start: float) -> Verdict:
    return Verdict(
        safe=False,
        score=1.0,
        backend=backend,
        model=model,
        error=f"{type(exc).__name__}: {exc}",
        latency_ms=(time.perf_counter() - start) * 1000,
    )


def _unsafe_probability(top: dict[str, float] | None) -> float | None:
    """P("unsafe") from a first-position top-logprobs mapping (token text -> logprob)."""
    if not top:
        return None
    total = sum(math.exp(lp) for tok, lp in top.items() if tok.strip() == "unsafe")
    safe = sum(math.exp(lp) for tok, lp in top.items() if tok.strip() == "safe")
    if total == 0.0 and safe == 0.0:
        return None
    return total


def _card(version: str) -> ModelCard:
    """Llama Guard 3 (1B or 8B): the Llama 3.1/3.2 Community License asks for the attribution."""
    return ModelCard(
        name="Llama Guard 3",
        version=version,
        licence="Llama 3.1/3.2 Community License",
        attribution="Built with Llama",
    )


class TransformersLlamaGuard:
    """Llama Guard 3 (1B/8B) from a local transformers directory, on CPU."""

    name = "llamaguard-transformers"

    def __init__(
        self, model_path: str, excluded: Iterable[str] = (), max_new_tokens: int = MAX_NEW_TOKENS
    ) -> None:
        """Remember the directory; the model loads on first use."""
        self.model_path = model_path
        self.excluded = tuple(excluded)
        self.max_new_tokens = max_new_tokens
        self._loaded: tuple[Any, Any] | None = None
        self._lock = threading.Lock()

    def describe(self) -> ModelCard:
        """Name, version (the model file or served model) and licence, without loading it."""
        return _card(Path(self.model_path).name)

    def _load(self):
        with self._lock:
            if self._loaded is None:
                from transformers import AutoModelForCausalLM, AutoTokenizer

                tok = AutoTokenizer.from_pretrained(self.model_path, local_files_only=True)
                model = AutoModelForCausalLM.from_pretrained(self.model_path, local_files_only=True)
                model.eval()
                self._loaded = (tok, model)
            return self._loaded

    def prompt(self, conversation: Sequence[Message], role: Role) -> str:
        """The exact text fed to the model (with BOS and the scoring primer)."""
        return render(conversation, role=role, excluded=self.excluded) + SCORING_PRIMER

    def classify(self, conversation: Sequence[Message], *, role: Role) -> Verdict:
        """Score the first token, generate greedily, parse strictly."""
        import torch

        start = time.perf_counter()
        try:
            tok, model = self._load()
            ids = tok(
                self.prompt(conversation, role), add_special_tokens=False, return_tensors="pt"
            )["input_ids"]
            unsafe_id = tok.encode("unsafe", add_special_tokens=False)[0]
            with torch.inference_mode():
                logits = model(input_ids=ids).logits[0, -1].float()
                score = float(torch.softmax(logits, -1)[unsafe_id])
                eos = [
                    i
                    for i in {tok.eos_token_id, tok.convert_tokens_to_ids("<|eot_id|>")}
                    if isinstance(i, int) and i >= 0
                ]
                out = model.generate(
                    input_ids=ids,
                    attention_mask=torch.ones_like(ids),
                    max_new_tokens=self.max_new_tokens,
                    do_sample=False,
                    eos_token_id=eos or None,
                    pad_token_id=eos[0] if eos else 0,
                )
            text = tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
        except Exception as exc:  # noqa: BLE001 - fail closed
            return _failed(self.name, self.model_path, exc, start)
        return _verdict(self.name, self.model_path, text, score, start)


class OpenAILlamaGuard:
    """Llama Guard served by vLLM, Ollama or llama.cpp server (``/v1/completions``)."""

    name = "llamaguard-openai"

    def __init__(
        self,
        url: str,
        model: str,
        timeout: float = 10.0,
        excluded: Iterable[str] = (),
        api_key: str | None = None,
    ) -> None:
        """``url`` is the server root (``http://host:8000`` or ``.../v1``)."""
        self.url = url.rstrip("/")
        if not self.url.endswith("/v1"):
            self.url += "/v1"
        self.model = model
        self.timeout = timeout
        self.excluded = tuple(excluded)
        self.api_key = api_key

    def describe(self) -> ModelCard:
        """Name, version (the model file or served model) and licence, without loading it."""
        return _card(self.model)

    def prompt(self, conversation: Sequence[Message], role: Role) -> str:
        """The prompt sent (the server adds BOS itself)."""
        return render(conversation, role=role, excluded=self.excluded, bos=False) + SCORING_PRIMER

    def classify(self, conversation: Sequence[Message], *, role: Role) -> Verdict:
        """One completion request with ``logprobs``; fail closed on any error."""
        import httpx

        start = time.perf_counter()
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        body = {
            "model": self.model,
            "prompt": self.prompt(conversation, role),
            "max_tokens": MAX_NEW_TOKENS,
            "temperature": 0,
            "logprobs": 5,
        }
        try:
            resp = httpx.post(
                f"{self.url}/completions", json=body, headers=headers, timeout=self.timeout
            )
            resp.raise_for_status()
            choice = resp.json()["choices"][0]
            text = choice["text"]
            top = ((choice.get("logprobs") or {}).get("top_logprobs") or [None])[0]
            score = _unsafe_probability(top)
        except Exception as exc:  # noqa: BLE001 - fail closed
            return _failed(self.name, self.model, exc, start)
        return _verdict(self.name, self.model, text, score, start)


class GGUFLlamaGuard:
    """Llama Guard as a GGUF file through llama-cpp-python."""

    name = "llamaguard-gguf"

    def __init__(
        self,
        model_path: str,
        excluded: Iterable[str] = (),
        n_ctx: int = 4096,
        n_threads: int | None = None,
    ) -> None:
        """Remember the file; it is loaded on first use."""
        self.model_path = model_path
        self.excluded = tuple(excluded)
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self._llm = None
        self._lock = threading.Lock()

    def describe(self) -> ModelCard:
        """Name, version (the model file or served model) and licence, without loading it."""
        return _card(Path(self.model_path).name)

    def _load(self):
        with self._lock:
            if self._llm is None:
                from llama_cpp import Llama

                self._llm = Llama(
                    model_path=self.model_path,
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    logits_all=True,
                    verbose=False,
                )
            return self._llm

    def prompt(self, conversation: Sequence[Message], role: Role) -> str:
        """The prompt text (llama.cpp adds BOS when it tokenizes)."""
        return render(conversation, role=role, excluded=self.excluded, bos=False) + SCORING_PRIMER

    def classify(self, conversation: Sequence[Message], *, role: Role) -> Verdict:
        """Greedy completion with top logprobs; fail closed on any error."""
        start = time.perf_counter()
        try:
            llm = self._load()
            with self._lock:
                out = llm.create_completion(
                    self.prompt(conversation, role),
                    max_tokens=MAX_NEW_TOKENS,
                    temperature=0.0,
                    logprobs=5,
                )
            choice = out["choices"][0]
            top = ((choice.get("logprobs") or {}).get("top_logprobs") or [None])[0]
            score = _unsafe_probability(top)
            text = choice["text"]
        except Exception as exc:  # noqa: BLE001 - fail closed
            return _failed(self.name, self.model_path, exc, start)
        return _verdict(self.name, self.model_path, text, score, start)
