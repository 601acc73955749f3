"""First-person suicide and self-harm statements in five languages.

The crisis response (helpline + teacher alert) must not depend on the classifier getting
the S11 category right, so this small pattern set runs next to it: a match marks the text
unsafe with S11 first. Patterns are first person ("I want to die", "jag vill ta livet av
mig"); questions about suicide as a topic ("why do people self-harm?") do not match.
"""

from __future__ import annotations

import re

from guard.normalize import normalize

_PATTERNS = [
    # en
    r"\b(kill|hang|hurt|cut|harm|drown|poison) myself\b",
    r"\b(end|take) my (own )?life\b",
    r"\bi (want|wanna|am going|'m going|plan|need) to die\b",
    r"\bi (don't|do not|no longer) want to (live|be alive|exist)\b",
    r"\bsuicide (note|letter|tonight)\b",
    r"\bi('m| am) (going to|gonna) (jump|overdose)\b",
    # sv
    r"\bta livet av mig\b",
    r"\b(döda|skada|skära|hänga|dränka) mig( själv)?\b",
    r"\bjag vill (dö|inte leva|inte finnas)\b",
    r"\bvill inte leva (längre|mer)\b",
    r"\bjag ska (hoppa|ta en överdos)\b",
    # de
    r"\b(mich|mir) (umbringen|das leben nehmen|töten|erhängen|ritzen)\b",
    r"\bich (will|möchte|werde) (sterben|nicht mehr leben)\b",
    r"\bich ritze mich\b",
    r"\b(nehme|nehm) mir das leben\b",
    r"\bich springe\b.{0,30}\b(brücke|dach)\b",
    # it
    r"\b(uccidermi|ammazzarmi|suicidarmi|impiccarmi|tagliarmi|togliermi la vita)\b",
    r"\b(mi voglio|voglio) (uccidere|ammazzare|morire)\b",
    r"\bnon voglio più vivere\b",
    r"\bmi taglio\b",
    r"\bmi butto\b.{0,30}\b(ponte|tetto|finestra)\b",
    # nb
    r"\bta livet mitt\b",
    r"\b(drepe|skade|kutte|henge) meg( selv)?\b",
    r"\bjeg vil (dø|ikke leve|ikke finnes)\b",
    r"\bvil ikke leve (lenger|mer)\b",
    r"\bjeg skal (hoppe|ta en overdose)\b",
    r"\bjeg kutter meg\b",
]
_COMPILED = [re.compile(p, re.IGNORECASE) for p in _PATTERNS]


def is_self_harm(text: str) -> bool:
    """True when ``text`` states an intention or act of suicide or self-harm."""
    clean = normalize(text)
    return any(p.search(clean) for p in _COMPILED)
