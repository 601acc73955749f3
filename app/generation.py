"""Answer generation through LangChain's chat-model layer, streamed token by token.

Backends (``GENERATOR``): ``llamacpp`` for a local GGUF through llama-cpp-python (default:
the bundled SmolLM2-135M-Instruct), ``openai`` for any OpenAI-compatible server (vLLM,
Ollama, llama.cpp server). Prompts live in ``app/prompts``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

PROMPTS = Path(__file__).resolve().parent / "prompts"


def load_prompt(name: str) -> str:
    """The text of a prompt file in ``app/prompts``."""
    return (PROMPTS / name).read_text(encoding="utf-8").strip()


@dataclass(frozen=True)
class ModelInfo:
    """What a school must know about a model: languages, licence, attribution."""

    name: str
    languages: tuple[str, ...]
    licence: str
    attribution: str = ""


@runtime_checkable
class Generator(Protocol):
    """Streams an answer for a list of (role, text) chat messages."""

    info: ModelInfo

    def stream(self, messages: Sequence[tuple[str, str]]) -> Iterator[str]:
        """Yield pieces of the answer as the model writes them."""
        ...


class ChatModelGenerator:
    """Any LangChain chat model; the model object is built lazily on first use."""

    def __init__(self, factory, info: ModelInfo) -> None:
        """``factory()`` returns a LangChain ``BaseChatModel``."""
        self._factory = factory
        self._model = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()
        self.info = info

    @property
    def model(self):
        """The LangChain chat model (created once)."""
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    self._model = self._factory()
        return self._model

    def stream(self, messages: Sequence[tuple[str, str]]) -> Iterator[str]:
        """Stream text chunks from the chat model."""
        # llama.cpp contexts are not thread-safe: one generation at a time per model
        model = self.model
        with self._run_lock:
            for chunk in model.stream(list(messages)):
                if chunk.content:
                    yield str(chunk.content)


def _llamacpp(config: Mapping[str, Any]) -> Generator:
    from app.models_path import smollm2_gguf

    path = config.get("GENERATOR_MODEL_PATH") or str(smollm2_gguf())
    if not Path(path).is_file():
        raise FileNotFoundError(f"GGUF model not found: {path}")

    def factory():
        from langchain_community.chat_models import ChatLlamaCpp

        return ChatLlamaCpp(
            model_path=path,
            n_ctx=int(config.get("GENERATOR_CONTEXT", 2048)),
            n_threads=int(config.get("GENERATOR_THREADS", 2)),
            max_tokens=int(config.get("GENERATOR_MAX_TOKENS", 160)),
            temperature=0.1,
            verbose=False,
        )

    return ChatModelGenerator(factory, model_info(path))


def _openai(config: Mapping[str, Any]) -> Generator:
    url = config.get("GENERATOR_URL")
    if not url:
        raise ValueError("GENERATOR=openai needs KATEDER_GENERATOR_URL (e.g. http://127.0.0.1:8080/v1)")
    name = config.get("GENERATOR_MODEL") or "default"

    def factory():
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            base_url=url,
            model=name,
            api_key=config.get("GENERATOR_API_KEY", "not-needed"),
            timeout=float(config.get("GENERATOR_TIMEOUT", 60)),
            max_retries=0,
            max_tokens=int(config.get("GENERATOR_MAX_TOKENS", 160)),
            temperature=0.1,
            streaming=True,
        )

    return ChatModelGenerator(factory, model_info(name))


GENERATORS = {"llamacpp": _llamacpp, "openai": _openai}


def build_generator(config: Mapping[str, Any]) -> Generator:
    """The generator named by ``config["GENERATOR"]``."""
    name = config.get("GENERATOR", "llamacpp")
    try:
        return GENERATORS[name](config)
    except KeyError:
        raise ValueError(f"unknown GENERATOR {name!r}; choose one of {sorted(GENERATORS)}") from None


# What Kateder knows about model families, matched on the model's file or served name.
REGISTRY: tuple[tuple[str, ModelInfo], ...] = (
    ("smollm2", ModelInfo("SmolLM2-135M-Instruct", ("en",), "Apache-2.0", "Hugging Face SmolLM2")),
    ("llama-4", ModelInfo("Llama 4", ("en", "de", "it", "es", "fr", "pt", "hi", "th"), "Llama 4 Community License", "Built with Llama")),
    ("llama-3", ModelInfo("Llama 3", ("en", "de", "it", "es", "fr", "pt", "hi", "th"), "Llama 3 Community License", "Built with Llama")),
    ("llama", ModelInfo("Llama", ("en",), "Llama Community License", "Built with Llama")),
)


def model_info(name: str) -> ModelInfo:
    """Registry entry for a model path or name (unknown models: English only, licence unknown)."""
    key = Path(str(name)).name.lower().replace("_", "-")
    for needle, info in REGISTRY:
        if needle in key:
            return info
    return ModelInfo(Path(str(name)).name, ("en",), "unknown (check the model card)")
