"""Answer generation through LangChain's chat-model layer, streamed token by token.

Backends (``GENERATOR``): ``llamacpp`` for a local GGUF through llama-cpp-python (default:
the bundled SmolLM2-135M-Instruct), ``openai`` for any OpenAI-compatible server (vLLM,
Ollama, llama.cpp server), ``transformers`` for a local Hugging Face model directory.
Prompts live in ``app/prompts``. The model registry at the end records each model's
languages, licence and attribution, and the licence duties the admin panel shows.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from app.services.i18n import N_, Translator

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
    multimodal: bool = False
    # the acceptable-use policy withholds the licence from EU-based organisations
    eu_restricted: bool = False


@runtime_checkable
class Generator(Protocol):
    """Streams an answer for a list of (role, text) chat messages."""

    info: ModelInfo

    def stream(self, messages: Sequence[tuple[str, str]]) -> Iterator[str]:
        """Yield pieces of the answer as the model writes them."""
        ...


class ChatModelGenerator:
    """Any LangChain chat model; the model object is built lazily on first use."""

    def __init__(self, factory, info: ModelInfo, *, serial: bool = True) -> None:
        """``factory()`` returns a LangChain ``BaseChatModel``; ``serial=False`` for a server that
        batches."""
        self._factory = factory
        self._model = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock() if serial else contextlib.nullcontext()
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
    from core.model_files import smollm2_gguf

    path = config.get("GENERATOR_MODEL_PATH") or str(smollm2_gguf())
    if not Path(path).is_file():
        raise FileNotFoundError(f"GGUF model not found: {path}")

    def factory():
        from langchain_community.chat_models import ChatLlamaCpp

        return ChatLlamaCpp(
            model_path=path,
            n_ctx=int(config.get("GENERATOR_CONTEXT", 2048)),
            n_threads=int(config.get("GENERATOR_THREADS", 2)),
            # LangChain's default n_batch is 8: the prompt would be prefilled 8 tokens at a time
            n_batch=512,
            # LangChain's default rope_freq_base (10000) overrides the GGUF's own (SmolLM2: 100000)
            # and degrades the model; 0 makes llama.cpp read it from the file
            rope_freq_base=0.0,
            max_tokens=int(config.get("GENERATOR_MAX_TOKENS", 160)),
            temperature=float(config.get("GENERATOR_TEMPERATURE", 0.1)),
            verbose=False,
        )

    return ChatModelGenerator(factory, model_info(path))


def _openai(config: Mapping[str, Any]) -> Generator:
    url = config.get("GENERATOR_URL")
    if not url:
        raise ValueError(
            "GENERATOR=openai needs KATEDER_GENERATOR_URL (e.g. http://127.0.0.1:8080/v1)"
        )
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
            # langchain-openai sends max_completion_tokens; llama.cpp's server only reads max_tokens
            extra_body={"max_tokens": int(config.get("GENERATOR_MAX_TOKENS", 160))},
            temperature=float(config.get("GENERATOR_TEMPERATURE", 0.1)),
            streaming=True,
        )

    # the inference server batches concurrent requests: no lock per worker process
    return ChatModelGenerator(factory, model_info(name), serial=False)


def _transformers(config: Mapping[str, Any]) -> Generator:
    path = config.get("GENERATOR_MODEL_PATH")
    if not path or not Path(path).is_dir():
        raise FileNotFoundError(
            "GENERATOR=transformers needs KATEDER_GENERATOR_MODEL_PATH set to a model directory "
            f"(got {path!r})"
        )

    def factory():
        from app.hf_chat import TransformersChat

        return TransformersChat(
            model_path=str(path),
            max_new_tokens=int(config.get("GENERATOR_MAX_TOKENS", 160)),
            threads=int(config.get("GENERATOR_THREADS", 2)),
        )

    return ChatModelGenerator(factory, model_info(str(path)))


GENERATORS = {"llamacpp": _llamacpp, "openai": _openai, "transformers": _transformers}


def build_generator(config: Mapping[str, Any]) -> Generator:
    """The generator named by ``config["GENERATOR"]``."""
    name = config.get("GENERATOR", "llamacpp")
    try:
        factory = GENERATORS[name]
    except KeyError:
        raise ValueError(
            f"unknown GENERATOR {name!r}; choose one of {sorted(GENERATORS)}"
        ) from None
    return factory(config)


_LLAMA_31 = ("en", "de", "fr", "it", "pt", "hi", "es", "th")
_LLAMA_4 = ("ar", "en", "fr", "de", "hi", "id", "it", "pt", "es", "tl", "th", "vi")
BUILT_WITH_LLAMA = "Built with Llama"

# What Kateder knows about model families: a pattern on the model's file or served name
# (lower case, "_" and " " read as "-"), first match wins. Languages are the ones the
# model card lists as supported; the rest are answered extractively.
REGISTRY: tuple[tuple[str, ModelInfo], ...] = (
    (
        r"smollm2",
        ModelInfo(
            "SmolLM2-135M-Instruct", ("en",), "Apache-2.0", "SmolLM2 by Hugging Face (Apache-2.0)"
        ),
    ),
    (
        r"llama-?4",
        ModelInfo(
            "Llama 4",
            _LLAMA_4,
            "Llama 4 Community License",
            BUILT_WITH_LLAMA,
            multimodal=True,
            eu_restricted=True,
        ),
    ),
    (
        r"llama-?3\.2-.*vision",
        ModelInfo(
            "Llama 3.2 Vision",
            ("en",),
            "Llama 3.2 Community License",
            BUILT_WITH_LLAMA,
            multimodal=True,
            eu_restricted=True,
        ),
    ),
    (
        r"llama-?guard-?4",
        ModelInfo(
            "Llama Guard 4",
            _LLAMA_4,
            "Llama 4 Community License",
            BUILT_WITH_LLAMA,
            multimodal=True,
            eu_restricted=True,
        ),
    ),
    (
        r"llama-?guard",
        ModelInfo("Llama Guard 3", _LLAMA_31, "Llama 3.1/3.2 Community License", BUILT_WITH_LLAMA),
    ),
    (
        r"llama-?3\.3",
        ModelInfo("Llama 3.3", _LLAMA_31, "Llama 3.3 Community License", BUILT_WITH_LLAMA),
    ),
    (
        r"llama-?3\.2",
        ModelInfo("Llama 3.2", _LLAMA_31, "Llama 3.2 Community License", BUILT_WITH_LLAMA),
    ),
    (
        r"llama-?3\.1",
        ModelInfo("Llama 3.1", _LLAMA_31, "Llama 3.1 Community License", BUILT_WITH_LLAMA),
    ),
    (
        r"llama-?3",
        ModelInfo(
            "Meta Llama 3", ("en",), "Meta Llama 3 Community License", "Built with Meta Llama 3"
        ),
    ),
    (
        r"llama-?2",
        ModelInfo(
            "Llama 2",
            ("en",),
            "Llama 2 Community License",
            (
                "Llama 2 is licensed under the LLAMA 2 Community License, "
                "Copyright (c) Meta Platforms, Inc."
            ),
        ),
    ),
    (
        r"llama",
        ModelInfo(
            "Llama", ("en",), "Llama Community License (check the version)", BUILT_WITH_LLAMA
        ),
    ),
    (
        r"mistral",
        ModelInfo("Mistral", ("en", "fr", "de", "es", "it"), "Apache-2.0 (check the model card)"),
    ),
    (r"qwen", ModelInfo("Qwen", ("en", "de", "it", "fr", "es", "pt"), "check the model card")),
)


def model_info(name: str) -> ModelInfo:
    """Registry entry for a model path or name (unknown models: English only, licence unknown)."""
    key = re.sub(r"[_\s]+", "-", Path(str(name).rstrip("/")).name.lower())
    for pattern, info in REGISTRY:
        if re.search(pattern, key):
            return info
    return ModelInfo(Path(str(name)).name, ("en",), "unknown (check the model card)")


def is_meta_llama(info: ModelInfo) -> bool:
    """Whether the model is one of Meta's Llama models (licence duties apply)."""
    return "llama" in info.licence.lower()


def attribution(info: ModelInfo) -> str:
    """The attribution pages and docs must show ("Built with Llama" for Meta Llama models)."""
    return info.attribution if is_meta_llama(info) else ""


EU_COUNTRIES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
    ]
)
# for the admin panel, in the admin's language (app/services/i18n.py: the Babel catalogues)
_EU_WARNING = N_(
    "%(name)s is a multimodal Llama model: its acceptable use policy does not grant the licence "
    "rights to organisations based in the EU (%(country)s). Configure another model."
)
_ATTRIBUTION_DUTY = N_(
    "%(name)s is licensed under the %(licence)s: pages and documentation must show "
    '"%(attribution)s".'
)


def licence_notices(info: ModelInfo, school_country: str | None, language: str = "en") -> list[str]:
    """Warnings for the admin panel about the configured model's licence, in ``language``.

    A Llama model with an attribution duty gives a reminder; a multimodal Llama model
    whose acceptable-use policy excludes the EU gives a warning for a school in the EU.
    """
    tr = Translator.for_language(language)
    notices = []
    if info.eu_restricted and info.multimodal and (school_country or "").upper() in EU_COUNTRIES:
        notices.append(tr(_EU_WARNING, name=info.name, country=(school_country or "").upper()))
    if attribution(info):
        notices.append(
            tr(
                _ATTRIBUTION_DUTY,
                name=info.name,
                licence=info.licence,
                attribution=info.attribution,
            )
        )
    return notices
