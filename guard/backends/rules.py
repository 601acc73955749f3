"""A small multilingual rule backend: explicit harmful-intent patterns per hazard.

It is the fast first layer, not the whole guard: it only flags requests that pair an
intent ("how do I make", "wie baue ich") with a hazard object ("bomb", "Bombe").
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

from core.model_card import ModelCard
from guard.normalize import normalize
from guard.selfharm import is_self_harm
from guard.types import Message, Role, Verdict

_INTENT = (
    r"(how (do|can|could|would) (i|we|you)|how to|teach me|tell me how|help me|i want to"
    r"|i'm going to|i am going to|hur (gör|kan) (jag|man)|jag vill"
    r"|wie (kann|mache|baue) (ich|man)|ich will|come (posso|faccio|si fa)|voglio"
    r"|hvordan (kan|lager) (jeg|man)|jeg vil)"
)
_PATTERNS: dict[str, list[str]] = {
    "S9": [
        (
            r"\b(make|making|build|bygga|bygger|göra|gör|tillverka|bauen|baue|basteln|herstellen"
            r"|mache|costruire|costruisco|fare|fabbricare|preparare|lage|lager|bygge)\b.{0,30}"
            r"\b(bomb|bombe|bomba|explosive|sprängämne|sprengstoff|esplosivo|sprengstoff"
            r"|nerve agent|nervgas|nervengas|nervegass|gas nervino|sarin|anthrax|mjältbrand"
            r"|milzbrand|miltbrann|antrace)"
        )
    ],
    "S1": [
        (
            r"\b(kill|murder|stab|shoot|döda|mörda|töten|umbringen|uccidere|drepe)\b.{0,20}"
            r"\b(someone|somebody|my|a person|him|her|teacher|lärare|lehrer|insegnante|lærer"
            r"|people|folk|menschen|persone)"
        )
    ],
    "S11": [
        (
            r"\b(kill myself|end my life|suicide|hurt myself|cut myself|ta livet av mig"
            r"|skada mig själv|mich umbringen|selbstmord|suizid|mi voglio uccidere|suicidio"
            r"|ta livet mitt|skade meg selv|selvmord)\b"
        )
    ],
    "S2": [r"\b(steal|shoplift|stjäla|snatta|stehlen|rubare|stjele|hack into|break into)\b"],
    "S12": [r"\b(porn|porr|nude pictures|nacktbilder|nakenbilder|foto nud)"],
}
_COMPILED = {code: [re.compile(p, re.IGNORECASE) for p in pats] for code, pats in _PATTERNS.items()}
_INTENT_RE = re.compile(_INTENT, re.IGNORECASE)
_FIRST_PERSON_CODES = {"S11"}  # self-harm statements need no "how to"


class RuleGuard:
    """Regex rules: precise on explicit requests, blind to everything else."""

    name = "rules"

    def describe(self) -> ModelCard:
        """The rules are code of this project: no model file, no other licence."""
        return ModelCard(
            name="Kateder rules (intent and hazard patterns)",
            version="rules-v1",
            licence="Apache-2.0 (this project)",
        )

    def classify(self, conversation: Sequence[Message], *, role: Role) -> Verdict:
        """Flag the last message when an intent phrase meets a hazard pattern."""
        start = time.perf_counter()
        text = normalize(conversation[-1].content) if conversation else ""
        hits = ["S11"] if is_self_harm(text) else []
        for code, patterns in _COMPILED.items():
            if (
                code not in hits
                and any(p.search(text) for p in patterns)
                and (code in _FIRST_PERSON_CODES or role == "agent" or _INTENT_RE.search(text))
            ):
                hits.append(code)
        return Verdict(
            safe=not hits,
            categories=tuple(hits),
            score=1.0 if hits else 0.0,
            backend=self.name,
            model="rules-v1",
            latency_ms=(time.perf_counter() - start) * 1000,
        )
