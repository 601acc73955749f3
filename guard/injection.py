"""Prompt-injection detection for questions and for retrieved course material.

A document or a question must not be able to switch the guard or the system prompt off.
:func:`detect` returns the kinds of injection found (empty list: none). Patterns cover the
five course languages (en, sv, de, it, nb) and run on normalised text, so zero-width
characters and leetspeak do not hide them.
"""

from __future__ import annotations

import re

from guard.normalize import normalize, strip_invisible

_PATTERNS: dict[str, list[str]] = {
    "override": [
        # en
        r"\b(ignore|disregard|forget|override|skip)\b.{0,40}\b(previous|prior|above|earlier|preceding|all|your|system|these|the)\b.{0,30}\b(instructions?|prompts?|rules|guidelines|directions|context|messages?|questions?|commands?)\b",
        (
            r"\b(don't|do not) (answer|follow)\b.{0,30}\b(previous|above|this)\b.{0,20}"
            r"\b(question|instructions?)\b"
        ),
        r"\bnew (instructions|rules)\b\s*:",
        # sv
        (
            r"\b(ignorera|strunta i|glöm)\b.{0,40}"
            r"\b(tidigare|föregående|ovanstående|alla|dina|denna|den här)\b.{0,30}"
            r"\b(instruktioner(na)?|regler(na)?|anvisningar(na)?|frågan|frågor(na)?)\b"
        ),
        # de
        (
            r"\b(ignoriere|ignorier|ignorieren sie|vergiss|vergessen sie|missachte)\b.{0,40}"
            r"\b(vorherigen?|obigen?|oben genannten|bisherigen?|alle|deine|diese)\b.{0,30}"
            r"\b(anweisungen|instruktionen|regeln|vorgaben|fragen?|befehle?)\b"
        ),
        # it
        r"\b(ignora|dimentica|trascura)\b.{0,40}\b(istruzioni|regole|indicazioni|domand[ae]|comand[oi])\b",
        # nb
        (
            r"\b(ignorer|glem|se bort fra)\b.{0,40}"
            r"\b(tidligere|forrige|ovenstående|alle|dine|dette|denne)\b.{0,30}"
            r"\b(instruksjoner(ne)?|regler(ne)?|spørsmål(et)?)\b"
        ),
    ],
    "disable_safety": [
        (
            r"\b(disable|turn off|switch off|bypass|deactivate)\b.{0,30}"
            r"\b(safety|guard|filter|moderation|censorship|content polic(y|ies))\b"
        ),
        (
            r"\b(stäng av|inaktivera|kringgå)\b.{0,30}"
            r"\b(säkerhet\w*|filtr\w*|moderering\w*|spärr\w*)\b"
        ),
        r"\b(deaktiviere|schalte)\b.{0,30}\b(sicherheit\w*|filter|moderation)\b",
        r"\b(disattiva|aggira|spegni)\b.{0,30}\b(sicurezza|filtr\w+|moderazione)\b",
        r"\b(skru av|deaktiver|omgå)\b.{0,30}\b(sikkerhet\w*|filter\w*|moderering\w*)\b",
        (
            r"\b(mark|classify|label|treat)\b.{0,30}\b(this|everything|all)\b.{0,20}"
            r"\b(as )?(safe|allowed)\b"
        ),
    ],
    "role_hijack": [
        r"\byou are (now|no longer)\b",
        (
            r"\b(act|behave|pretend|roleplay) (as|like|to be)\b.{0,40}"
            r"\b(dan|unfiltered|uncensored|jailbroken|evil"
            r"|without (any )?(rules|restrictions|limits))\b"
        ),
        r"\b(developer|god|dan|jailbreak) mode\b",
        r"\bdo anything now\b",
        r"\bdu är (nu|inte längre)\b",
        r"\bdu bist (jetzt|ab sofort|nun)\b",
        r"\bora sei\b",
        r"\bdu er (nå|ikke lenger)\b",
    ],
    "prompt_leak": [
        (
            r"\b(reveal|print|show|repeat|output|tell me)\b.{0,30}"
            r"\b(system prompt|your (instructions|prompt|rules)|hidden prompt|initial prompt)\b"
        ),
        r"\b(visa|skriv ut|upprepa)\b.{0,30}\b(systemprompt\w*|dina instruktioner)\b",
        r"\b(zeige|gib|wiederhole)\b.{0,30}\b(systemprompt|deine anweisungen)\b",
        r"\b(mostra|ripeti|stampa)\b.{0,30}\b(prompt di sistema|le tue istruzioni)\b",
        r"\b(vis|gjenta|skriv ut)\b.{0,30}\b(systemprompt\w*|instruksjonene dine)\b",
    ],
    "chat_markup": [
        r"<\|(im_start|im_end|system|begin_of_text|start_header_id|eot_id)\|>",
        r"\[/?INST\]",
        r"<</?SYS>>",
        r"^\s*#{2,}\s*(system|instruction)s?\s*:?",
        r"^\s*(system|assistant)\s*:\s",
        r"<\s*/?\s*system\s*>",
    ],
}
_COMPILED = {
    kind: [re.compile(p, re.IGNORECASE | re.MULTILINE) for p in pats]
    for kind, pats in _PATTERNS.items()
}


def detect(text: str) -> list[str]:
    """The kinds of prompt injection in ``text`` (``override``, ``disable_safety``, ...)."""
    variants = (strip_invisible(text), normalize(text))
    return [
        kind
        for kind, patterns in _COMPILED.items()
        if any(p.search(v) for p in patterns for v in variants)
    ]
