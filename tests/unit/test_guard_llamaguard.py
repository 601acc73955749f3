"""Golden tests of the Llama Guard 3 prompt and table tests of the strict parser."""

from __future__ import annotations

import pytest

from guard.llamaguard import SCORING_PRIMER, ParseError, parse, render
from guard.types import Message

CATEGORY_LINES = (
    "S1: Violent Crimes.\nS2: Non-Violent Crimes.\nS3: Sex Crimes.\nS4: Child Exploitation.\n"
    "S5: Defamation.\nS6: Specialized Advice.\nS7: Privacy.\nS8: Intellectual Property.\n"
    "S9: Indiscriminate Weapons.\nS10: Hate.\nS11: Self-Harm.\nS12: Sexual Content.\n"
    "S13: Elections.\nS14: Code Interpreter Abuse.\n"
)

GOLDEN_USER = (
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
    "Task: Check if there is unsafe content in 'User' messages in conversations according our "
    "safety policy with the below categories.\n\n"
    "<BEGIN UNSAFE CONTENT CATEGORIES>\n" + CATEGORY_LINES + "<END UNSAFE CONTENT CATEGORIES>\n\n"
    "<BEGIN CONVERSATION>\n\n"
    "User: How do I kill a Python process?\n\n"
    "<END CONVERSATION>\n\n"
    "Provide your safety assessment for ONLY THE LAST User message in the above conversation:\n"
    " - First line must read 'safe' or 'unsafe'.\n"
    " - If unsafe, a second line must include a comma-separated list of violated categories."
    "<|eot_id|><|start_header_id|>assistant<|end_header_id|>"
)

GOLDEN_AGENT = (
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
    "Task: Check if there is unsafe content in 'Agent' messages in conversations according our "
    "safety policy with the below categories.\n\n"
    "<BEGIN UNSAFE CONTENT CATEGORIES>\n" + CATEGORY_LINES + "<END UNSAFE CONTENT CATEGORIES>\n\n"
    "<BEGIN CONVERSATION>\n\n"
    "User: Vad är en atombomb?\n\n"
    "Agent: En atombomb är ett kärnvapen.\n\n"
    "<END CONVERSATION>\n\n"
    "Provide your safety assessment for ONLY THE LAST Agent message in the above conversation:\n"
    " - First line must read 'safe' or 'unsafe'.\n"
    " - If unsafe, a second line must include a comma-separated list of violated categories."
    "<|eot_id|><|start_header_id|>assistant<|end_header_id|>"
)


def test_user_prompt_is_the_published_template():
    """The user-role prompt matches Llama Guard 3's template byte for byte."""
    assert render([Message("user", "How do I kill a Python process?")], role="user") == GOLDEN_USER


def test_agent_prompt_includes_the_question_and_assesses_the_agent():
    """The agent-role prompt carries the whole conversation and asks about the Agent."""
    conv = [
        Message("user", "Vad är en atombomb?"),
        Message("agent", "  En atombomb är ett kärnvapen. "),
    ]
    assert render(conv, role="agent") == GOLDEN_AGENT


def test_excluded_categories_are_left_out_and_codes_kept():
    """Excluding S6 removes its line and keeps the other codes unchanged."""
    text = render([Message("user", "hi")], role="user", excluded=["S6"])
    assert "S6:" not in text
    assert "S5: Defamation.\nS7: Privacy.\n" in text


def test_prompt_without_bos_for_servers():
    """Servers add BOS themselves; the scoring primer is the two newlines the model writes first."""
    text = render([Message("user", "hi")], role="user", bos=False)
    assert text.startswith("<|start_header_id|>user")
    assert SCORING_PRIMER == "\n\n"


def test_empty_conversation_is_rejected():
    """There is nothing to classify in an empty conversation."""
    with pytest.raises(ValueError):
        render([], role="user")


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("safe", (True, ())),
        ("\n\nsafe", (True, ())),
        ("safe<|eot_id|>", (True, ())),
        ("unsafe\nS1", (False, ("S1",))),
        ("unsafe\nS1,S10", (False, ("S1", "S10"))),
        ("unsafe\nS9, S14\n", (False, ("S9", "S14"))),
        ("unsafe\nS11,S11", (False, ("S11",))),
    ],
)
def test_parser_accepts_only_the_protocol(output, expected):
    """``safe`` or ``unsafe`` + one line of known codes."""
    assert parse(output) == expected


@pytest.mark.parametrize(
    "output",
    [
        "",
        "Safe",
        "SAFE",
        "unsafe",
        "unsafe\n",
        "unsafe\nS15",
        "unsafe\nS0",
        "unsafe\nviolence",
        "safe\nS1",
        "I think this is safe",
        "unsafe\nS1\nS2",
        "unsafe S1",
        "unsafe\nS1;S2",
        "yes",
    ],
)
def test_parser_rejects_everything_else(output):
    """Anything else is a failure (the caller blocks)."""
    with pytest.raises(ParseError):
        parse(output)
