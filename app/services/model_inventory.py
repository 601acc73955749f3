"""Which models the school's data passes through: name, version and licence of each (DPO panel,
DPIA).

Each component describes itself (:func:`core.model_card.describe`, nothing is loaded); the
generator's :class:`~app.generation.ModelInfo` carries its licence and attribution. A
component that states no licence gets one from :data:`KNOWN_LICENCES` by its name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.services.i18n import N_
from core.model_card import ModelCard, describe

# licences of the models Kateder ships or points at, by a part of their name (when the component
# does not say)
KNOWN_LICENCES = {
    "minilm": "Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2)",
    "e5": "MIT (intfloat/multilingual-e5-small)",
    "llamaguard": "Llama 3.1/3.2 Community License (Meta Llama Guard 3)",
    "smollm2": "Apache-2.0 (HuggingFaceTB/SmolLM2-135M-Instruct)",
}
USES = ("answers", "safety", "search")
NOT_RECORDED = N_("not recorded")


@dataclass(frozen=True)
class ModelInUse:
    """One use of a model (``answers``, ``safety`` or ``search``) and the card of what does it."""

    use: str
    card: ModelCard
    languages: tuple[str, ...] = ()

    def rows(self) -> list[ModelCard]:
        """One card per model: a chain's members each on their own row."""
        return list(self.card.parts) or [self.card]


def known_licence(*names: str) -> str:
    """A known licence by a part of the model's name, else empty."""
    text = " ".join(n for n in names if n).lower().replace("-", "")
    return next(
        (licence for key, licence in KNOWN_LICENCES.items() if key.replace("-", "") in text), ""
    )


def _with_licence(card: ModelCard) -> ModelCard:
    """The card, its licence filled in from :data:`KNOWN_LICENCES` where it states none."""
    parts = tuple(_with_licence(p) for p in card.parts)
    licence = (
        card.licence
        or "; ".join(dict.fromkeys(p.licence for p in parts if p.licence))
        or known_licence(card.name, card.version)
    )
    return ModelCard(card.name, card.version, licence, card.attribution, parts)


def _generator_card(services) -> ModelCard:
    """The answer model's card from its ModelInfo; the version is the configured model or file."""
    info = services.generator.info
    config = services.config
    version = config.get("GENERATOR_MODEL") or (
        Path(str(config["GENERATOR_MODEL_PATH"])).name if config.get("GENERATOR_MODEL_PATH") else ""
    )
    licence = info.licence if info.licence not in ("", "none") else ""
    return ModelCard(
        name=info.name,
        version=version,
        licence=licence or known_licence(info.name, version),
        attribution=getattr(info, "attribution", "") or "",
    )


def models_in_use(services) -> list[ModelInUse]:
    """The generator, the guard and the embedder, each with its card (nothing is loaded)."""
    return [
        ModelInUse(
            "answers",
            _with_licence(_generator_card(services)),
            tuple(services.generator.info.languages),
        ),
        ModelInUse("safety", _with_licence(describe(services.guard))),
        ModelInUse("search", _with_licence(describe(services.embedder))),
    ]


def card_dict(card: ModelCard) -> dict[str, Any]:
    """JSON form of a card (the DPIA's record of processing)."""
    out: dict[str, Any] = {
        "name": card.name,
        "version": card.version,
        "licence": card.licence or NOT_RECORDED,
        "attribution": card.attribution,
    }
    if card.parts:
        out["parts"] = [card_dict(p) for p in card.parts]
    return out
