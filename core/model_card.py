"""What a school must know about each model component: name, version, licence.

Every guard backend and embedder has a cheap ``describe()`` that returns a :class:`ModelCard`
without loading the model; the DPO panel and the DPIA report list them. :func:`describe`
also covers components without one (a test fake, a third-party object): it never shows a
Python ``repr``.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

# SPDX spellings of the licence ids that Hugging Face model cards use in their front matter
_SPDX = {
    "apache-2.0": "Apache-2.0",
    "mit": "MIT",
    "bsd-3-clause": "BSD-3-Clause",
    "cc-by-4.0": "CC-BY-4.0",
    "cc-by-sa-4.0": "CC-BY-SA-4.0",
    "llama3.1": "Llama 3.1 Community License",
    "llama3.2": "Llama 3.2 Community License",
}


@dataclass(frozen=True)
class ModelCard:
    """One model component: what it is called, which version runs, under which licence.

    ``parts`` lists the members of a composite (a chain of guards), each with its own card.
    """

    name: str
    version: str = ""
    licence: str = ""
    attribution: str = ""
    parts: tuple[ModelCard, ...] = ()


def describe(component: object) -> ModelCard:
    """The component's own card, else one with its ``name`` (or class name); never its ``repr``."""
    own = getattr(component, "describe", None)
    if callable(own):
        card = own()
        if isinstance(card, ModelCard):
            return card
    name = getattr(component, "name", None)
    return ModelCard(name=name if isinstance(name, str) and name else type(component).__name__)


def combine(title: str, parts: tuple[ModelCard, ...]) -> ModelCard:
    """A card for components run together: the parts' names, versions and distinct licences
    joined."""
    return ModelCard(
        name=f"{title}: " + ", then ".join(p.name for p in parts),
        version="; ".join(p.version for p in parts if p.version),
        licence="; ".join(dict.fromkeys(p.licence for p in parts if p.licence)),
        attribution="; ".join(dict.fromkeys(p.attribution for p in parts if p.attribution)),
        parts=parts,
    )


def licence_from_model_card(directory: str | Path) -> str:
    """The ``license:`` of a Hugging Face model directory's README front matter, or ``""``."""
    readme = Path(directory) / "README.md"
    try:
        lines = readme.read_text(encoding="utf-8", errors="replace").splitlines()[:60]
    except OSError:
        return ""
    if not lines or lines[0].strip() != "---":
        return ""
    for line in lines[1:]:
        if line.strip() == "---":
            break
        key, _, value = line.partition(":")
        if key.strip() == "license" and value.strip():
            raw = value.strip().strip("'\"")
            return _SPDX.get(raw.lower(), raw)
    return ""


def package_version(distribution: str) -> str:
    """``name version`` of an installed distribution, or just the name when it is not installed."""
    try:
        return f"{distribution} {importlib.metadata.version(distribution)}"
    except importlib.metadata.PackageNotFoundError:
        return distribution
