"""The model registry, licence duties, prompt files and extractive quoting."""

from __future__ import annotations

import pytest

from app.generation import attribution, licence_notices, load_prompt, model_info
from app.grounding import extract_sentences
from app.retrieval import RetrievedPassage


@pytest.mark.parametrize(
    ("name", "family", "has_de", "built_with"),
    [
        ("/models/SmolLM2-135M-Instruct.Q4_1.gguf", "SmolLM2-135M-Instruct", False, ""),
        ("Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf", "Llama 3.1", True, "Built with Llama"),
        ("llama3.2:3b", "Llama 3.2", True, "Built with Llama"),
        ("meta-llama/Llama-4-Scout-17B-16E-Instruct", "Llama 4", True, "Built with Llama"),
        ("Meta-Llama-3-8B-Instruct", "Meta Llama 3", False, "Built with Meta Llama 3"),
        ("some-unknown-model.gguf", "some-unknown-model.gguf", False, ""),
    ],
)
def test_registry(name, family, has_de, built_with):
    info = model_info(name)
    assert info.name == family
    assert ("de" in info.languages) is has_de and "en" in info.languages
    assert attribution(info) == built_with


@pytest.mark.parametrize(
    ("name", "country", "eu_warning"),
    [
        ("Llama-4-Maverick-17B-128E-Instruct", "SE", True),
        ("Llama-4-Maverick-17B-128E-Instruct", "de", True),
        ("Llama-4-Maverick-17B-128E-Instruct", "NO", False),  # Norway is not in the EU
        ("Llama-3.2-11B-Vision-Instruct", "IT", True),
        ("Meta-Llama-3.1-8B-Instruct", "SE", False),
        ("SmolLM2-135M-Instruct", "SE", False),
    ],
)
def test_licence_notices_warn_about_multimodal_llama_in_the_eu(name, country, eu_warning):
    notices = licence_notices(model_info(name), country)
    assert any("EU" in n for n in notices) is eu_warning
    assert any("Built with Llama" in n for n in notices) is ("llama" in name.lower())


def test_licence_notices_are_translated():
    info = model_info("Llama-4-Scout-17B-16E-Instruct")
    for lang in ("sv", "de", "it", "nb"):
        translated = licence_notices(info, "SE", lang)
        assert len(translated) == 2 and translated != licence_notices(info, "SE", "en")


def test_prompts_live_in_files_and_stay_compact():
    system, user = load_prompt("answer_system.txt"), load_prompt("answer_user.txt")
    assert (
        "{" not in system
    )  # the fixed part is first and the same for every question (prefix cache)
    assert user.index("{sources}") < user.index("{question}")
    assert len(system.split()) + len(user.split()) < 80


def _p(text, lang="sv"):
    return RetrievedPassage("1:1:0", text, 1, "Doc", 1, None, None, lang, 0.1, 0.8, 0.8, True)


def test_extractive_answer_picks_the_sentence_with_the_rare_question_terms():
    passages = [
        _p(
            "Gustav Vasa var kung av Sverige. Han valdes till kung i Strängnäs den 6 juni 1523. "
            "Sverige blev då självständigt."
        ),
        _p("Vikingarna var kända som sjöfarare. Kungen hade stor makt."),
    ]
    got = extract_sentences("När valdes Gustav Vasa till kung?", passages, "sv")
    assert ("Han valdes till kung i Strängnäs den 6 juni 1523.", 1) in got
    assert len(got) <= 2 and all(
        n == 1 for _, n in got
    )  # the passage about ships has none of the rare terms
    assert (
        extract_sentences("Helt orelaterad fråga om bananer?", passages, "sv")[:1]
        and len(extract_sentences("bananer", passages, "sv")) == 1
    )
