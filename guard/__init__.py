"""Safety classification: taxonomy, Llama Guard protocol, backends, school policy.

Backends are chosen by configuration through :func:`build_guard`:

=========================  =====================================================
``GUARD_BACKEND``          what it runs
=========================  =====================================================
``embedded``               the project's fine-tuned multilingual-e5 classifier
``rules``                  multilingual intent + hazard regular expressions
``llamaguard-transformers`` Llama Guard 3 from ``GUARD_MODEL_PATH`` (a directory)
``llamaguard-openai``      Llama Guard 3 on ``GUARD_URL`` as ``GUARD_MODEL``
``llamaguard-gguf``        Llama Guard 3 GGUF at ``GUARD_MODEL_PATH``
``chain`` (default)        the backends in ``GUARD_CHAIN`` (default ``rules,embedded``)
=========================  =====================================================

Every key is declared once, with its default, in :data:`DEFAULTS`; ``app/config.py`` merges
them into the application's keys. The one precedence rule (docs/operations.md): explicit
configuration (a ``config`` mapping, e.g. from ``create_app`` or a CLI option), then the
environment variable ``KATEDER_<KEY>``, then the default. Other keys:
``GUARD_THRESHOLD`` (embedded unsafe threshold; default: per language, from the weights),
``GUARD_WEIGHTS_DIR`` (another set of embedded weights), ``GUARD_TIMEOUT`` (seconds, OpenAI
backend), ``GUARD_EXCLUDED_CATEGORIES`` (comma-separated codes left out of the Llama Guard
prompt), ``GUARD_API_KEY``. Nothing is loaded until the first classification.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from guard.types import Action, Guard, Message, Role, Verdict

# the guard's configuration keys and their defaults, declared once (app/config.py merges them)
DEFAULTS: dict[str, Any] = {
    "GUARD_BACKEND": "chain",  # rules, then the embedded classifier (docs/guard.md)
    "GUARD_CHAIN": "rules,embedded",  # the backends of GUARD_BACKEND=chain, in order
    "GUARD_THRESHOLD": None,  # embedded: unsafe threshold; None = per language, from the weights
    "GUARD_WEIGHTS_DIR": None,  # embedded: another set of weights; None = the shipped ones
    "GUARD_MODEL_PATH": None,  # llamaguard-transformers (a directory) / llamaguard-gguf (a file)
    "GUARD_URL": None,  # llamaguard-openai: the server's base URL
    "GUARD_MODEL": "llama-guard3",  # llamaguard-openai: the served model name
    "GUARD_TIMEOUT": 10.0,  # llamaguard-openai: seconds per classification
    "GUARD_EXCLUDED_CATEGORIES": "",  # comma-separated S-codes left out of the Llama Guard prompt
    "GUARD_API_KEY": None,  # llamaguard-openai
}


def setting(config: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """``config[key]`` if set, else ``KATEDER_<KEY>`` from the environment, else the default.

    The default is ``default`` when given, else the one declared in :data:`DEFAULTS`.
    """
    value = config.get(key)
    if value is not None:
        return value
    env = os.environ.get(f"KATEDER_{key}")
    if env is not None:
        return env
    return default if default is not None else DEFAULTS.get(key)


def _required(config: Mapping[str, Any], key: str, backend: str) -> str:
    value = setting(config, key)
    if not value:
        raise ValueError(f"guard backend {backend!r} needs {key}")
    return str(value)


def _excluded(config: Mapping[str, Any]) -> tuple[str, ...]:
    raw = setting(config, "GUARD_EXCLUDED_CATEGORIES", "") or ""
    items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
    return tuple(x.strip().upper() for x in items if x.strip())


def _rules(config: Mapping[str, Any]) -> Guard:
    from guard.backends.rules import RuleGuard

    return RuleGuard()


def _embedded(config: Mapping[str, Any]) -> Guard:
    from pathlib import Path

    from guard.embedded import WEIGHTS_DIR, EmbeddedGuard

    threshold = setting(config, "GUARD_THRESHOLD")
    weights = setting(config, "GUARD_WEIGHTS_DIR")
    return EmbeddedGuard(
        threshold=float(threshold) if threshold not in (None, "") else None,
        weights_dir=Path(weights) if weights else WEIGHTS_DIR,
    )


def _transformers(config: Mapping[str, Any]) -> Guard:
    from guard.backends.llamaguard import TransformersLlamaGuard

    return TransformersLlamaGuard(
        _required(config, "GUARD_MODEL_PATH", "llamaguard-transformers"), excluded=_excluded(config)
    )


def _openai(config: Mapping[str, Any]) -> Guard:
    from guard.backends.llamaguard import OpenAILlamaGuard

    return OpenAILlamaGuard(
        _required(config, "GUARD_URL", "llamaguard-openai"),
        str(setting(config, "GUARD_MODEL", "llama-guard3")),
        timeout=float(setting(config, "GUARD_TIMEOUT", 10.0)),
        excluded=_excluded(config),
        api_key=setting(config, "GUARD_API_KEY"),
    )


def _gguf(config: Mapping[str, Any]) -> Guard:
    from guard.backends.llamaguard import GGUFLlamaGuard

    return GGUFLlamaGuard(
        _required(config, "GUARD_MODEL_PATH", "llamaguard-gguf"), excluded=_excluded(config)
    )


def _chain(config: Mapping[str, Any]) -> Guard:
    from guard.backends.chain import ChainGuard

    names = [
        n.strip()
        for n in str(setting(config, "GUARD_CHAIN", "rules,embedded")).split(",")
        if n.strip()
    ]
    if "chain" in names:
        raise ValueError("GUARD_CHAIN cannot contain 'chain'")
    return ChainGuard([_factory(n)(config) for n in names])


BACKENDS: dict[str, Callable[[Mapping[str, Any]], Guard]] = {
    "embedded": _embedded,
    "rules": _rules,
    "llamaguard-transformers": _transformers,
    "llamaguard-openai": _openai,
    "llamaguard-gguf": _gguf,
    "chain": _chain,
}
DEFAULT_BACKEND = DEFAULTS["GUARD_BACKEND"]


def _factory(name: str) -> Callable[[Mapping[str, Any]], Guard]:
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(
            f"unknown guard backend {name!r}; choose one of {sorted(BACKENDS)}"
        ) from None


def build_guard(config: Mapping[str, Any] | None = None) -> Guard:
    """Build the guard named by ``GUARD_BACKEND`` (default: rules, then the embedded classifier)."""
    config = config or {}
    name = str(setting(config, "GUARD_BACKEND", DEFAULT_BACKEND) or DEFAULT_BACKEND)
    return _factory(name)(config)


__all__ = [
    "Action",
    "BACKENDS",
    "DEFAULTS",
    "Guard",
    "Message",
    "Role",
    "Verdict",
    "build_guard",
    "setting",
]
