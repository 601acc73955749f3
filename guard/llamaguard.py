"""The Llama Guard 3 protocol: the published prompt template and a strict output parser.

The template (``prompts/llama_guard_3.txt``) is the one Meta publishes for Llama Guard 3:
the task line (including its "according our safety policy" wording), the fourteen
MLCommons hazard categories by their Llama Guard 3 short names, the conversation as
``User:``/``Agent:`` turns, and the instruction to answer ``safe`` or ``unsafe`` plus a line
of categories. Categories a deployment excludes are left out of the list, keeping the other
codes unchanged, as the model card's ``excluded_category_keys`` does.

The prompt ends with the assistant header; the model then writes ``"\\n\\n"`` and its
verdict. Scoring backends append :data:`SCORING_PRIMER` so that the next token is the
verdict word, and report P(first token = "unsafe") as the score.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from string import Template

from guard.types import Message, Role

BOS = "<|begin_of_text|>"
SCORING_PRIMER = "\n\n"
TEMPLATE = Template(
    (Path(__file__).resolve().parent / "prompts" / "llama_guard_3.txt").read_text(encoding="utf-8")
)

# Llama Guard 3's own short names (the taxonomy module holds the MLCommons long names).
LLAMA_GUARD_3_CATEGORIES: dict[str, str] = {
    "S1": "Violent Crimes",
    "S2": "Non-Violent Crimes",
    "S3": "Sex Crimes",
    "S4": "Child Exploitation",
    "S5": "Defamation",
    "S6": "Specialized Advice",
    "S7": "Privacy",
    "S8": "Intellectual Property",
    "S9": "Indiscriminate Weapons",
    "S10": "Hate",
    "S11": "Self-Harm",
    "S12": "Sexual Content",
    "S13": "Elections",
    "S14": "Code Interpreter Abuse",
}


class ParseError(ValueError):
    """The model's answer is not exactly ``safe`` or ``unsafe`` + a line of known categories."""


def render(
    conversation: Sequence[Message], *, role: Role, excluded: Iterable[str] = (), bos: bool = True
) -> str:
    """The Llama Guard 3 prompt for the last ``role`` message of ``conversation``.

    Args:
        conversation: alternating turns starting with the user; the last is classified.
        role: ``"user"`` or ``"agent"``: whose message is assessed.
        excluded: category codes to leave out of the list.
        bos: start with ``<|begin_of_text|>`` (leave it out when the server adds it).
    """
    if not conversation:
        raise ValueError("empty conversation")
    agent_type = "User" if role == "user" else "Agent"
    skip = set(excluded)
    categories = "".join(
        f"{code}: {name}.\n" for code, name in LLAMA_GUARD_3_CATEGORIES.items() if code not in skip
    )
    turns = "".join(
        f"{'User' if m.role == 'user' else 'Agent'}: {m.content.strip()}\n\n" for m in conversation
    )
    body = TEMPLATE.substitute(agent_type=agent_type, categories=categories, conversation=turns)
    return (BOS if bos else "") + body


_CODE = re.compile(r"S(?:[1-9]|1[0-4])")


def parse(output: str) -> tuple[bool, tuple[str, ...]]:
    """Parse a Llama Guard answer strictly into ``(safe, categories)``.

    Accepted: ``safe``; or ``unsafe`` then a newline and a comma-separated list of known
    codes (S1-S14). Surrounding whitespace and a trailing end-of-turn token are tolerated;
    anything else raises :class:`ParseError` (the caller fails closed).
    """
    text = output.replace("<|eot_id|>", "").strip()
    lines = text.split("\n")
    if lines == ["safe"]:
        return True, ()
    if len(lines) == 2 and lines[0].strip() == "unsafe":
        codes = tuple(c.strip() for c in lines[1].split(","))
        if codes and all(_CODE.fullmatch(c) for c in codes):
            return False, tuple(dict.fromkeys(codes))
    raise ParseError(f"not a Llama Guard verdict: {output[:80]!r}")
