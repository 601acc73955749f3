"""One contract for every generation backend: llama-cpp-python, an OpenAI-compatible server,
transformers.

The OpenAI-compatible backend talks to ``python -m llama_cpp.server`` started on loopback
with the bundled GGUF; the transformers backend runs a tiny randomly initialised Llama
that the test builds and saves (no downloads).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from sqlalchemy import select

from app.generation import build_generator
from app.grounding import CITATION
from app.services.ask import Unavailable
from core.model_files import smollm2_gguf
from core.models import User
from tests.fakes import HashingEmbedder, KeywordGuard

MESSAGES = [
    ("system", "You are a helpful assistant. Answer briefly."),
    ("human", "Name three colours of the rainbow."),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    """``python -m llama_cpp.server`` on a free loopback port with the bundled GGUF."""
    port = _free_port()
    log = (tmp_path_factory.mktemp("llama-server") / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(smollm2_gguf()),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
            "--n_threads",
            "1",
            "--model_alias",
            "smollm2-135m-instruct",
            "--interrupt_requests",
            "False",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,  # a pipe would fill with llama.cpp's load log and block it
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"llama_cpp.server exited with {proc.returncode}; see {log.name}")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2) as r:
                if json.load(r)["data"]:
                    break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("llama_cpp.server did not start within 90 s")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def tiny_hf_model(tmp_path_factory):
    """A tiny random LlamaForCausalLM with a word-level tokenizer and chat template, saved to
    disk."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("tiny-llama")
    words = [
        "red",
        "orange",
        "yellow",
        "green",
        "blue",
        "indigo",
        "violet",
        "the",
        "sky",
        "is",
        "and",
        "a",
        "of",
        "colours",
        "rainbow",
        "plants",
        "water",
        "sun",
        "light",
        ".",
    ]
    vocab = {t: i for i, t in enumerate(["<unk>", "<s>", "</s>", "<pad>", *words])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
    )
    fast.chat_template = (
        "{% for m in messages %}{{ m['role'] }} {{ m['content'] }} {% endfor %}"
        "{% if add_generation_prompt %}assistant {% endif %}"
    )
    fast.save_pretrained(path)
    torch.manual_seed(7)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=3,
    )
    LlamaForCausalLM(config).save_pretrained(path)
    return path


@pytest.fixture(
    params=["llamacpp", pytest.param("openai", marks=pytest.mark.production), "transformers"]
)
def backend_config(request) -> dict:
    """Generator config for each backend (small token budget to stay fast)."""
    base = {
        "GENERATOR": request.param,
        "GENERATOR_MAX_TOKENS": 24,
        "GENERATOR_THREADS": 1,
    }  # 1: llama.cpp threads spin on a busy CI box
    if request.param == "openai":
        base.update(
            GENERATOR_URL=request.getfixturevalue("llama_server"),
            GENERATOR_MODEL="smollm2-135m-instruct",
        )
    elif request.param == "transformers":
        base.update(GENERATOR_MODEL_PATH=str(request.getfixturevalue("tiny_hf_model")))
    return base


def test_streams_text_in_several_pieces(backend_config):
    gen = build_generator(backend_config)
    pieces = list(gen.stream(MESSAGES))
    assert len(pieces) >= 2 and all(isinstance(p, str) for p in pieces)
    assert "".join(pieces).strip()
    assert gen.info.languages and gen.info.licence


def test_respects_the_token_budget(backend_config):
    gen = build_generator({**backend_config, "GENERATOR_MAX_TOKENS": 6})
    pieces = list(gen.stream(MESSAGES))
    assert 1 <= len(pieces) <= 7  # at most one piece per generated token


def test_answers_through_the_moderated_ask_pipeline(backend_config, app_config):
    from app import create_app
    from app.demo import create_demo
    from app.services import get_services

    guard = KeywordGuard()
    app = create_app(
        {**app_config, **backend_config}, services={"guard": guard, "embedder": HashingEmbedder()}
    )
    services = get_services(app)
    create_demo(services)
    with services.db.session() as s:
        uid = s.scalar(select(User.id).where(User.username == "student1"))
    events = list(
        services.ask.stream(uid, "SCI7", "What do plants make from carbon dioxide and water?")
    )
    released = [e["text"] for e in events if e["type"] == "sentence"]
    result = events[-1]["result"]
    assert not result.blocked and result.answer.strip() and result.citations
    assert result.mode in ("generated", "extractive")
    checked = [CITATION.sub("", text) for role, text in guard.calls if role == "agent"]
    for sentence in released:  # every released sentence was in a text the output guard saw first
        assert any(
            CITATION.sub("", sentence) in text for text in checked
        )  # (grounding may fix [n])
    services.db.dispose()


def test_openai_backend_down_is_reported_as_unavailable(app_config):
    from app import create_app
    from app.demo import create_demo
    from app.services import get_services

    config = {
        **app_config,
        "GENERATOR": "openai",
        "GENERATOR_URL": f"http://127.0.0.1:{_free_port()}/v1",
        "GENERATOR_TIMEOUT": 3.0,
    }
    app = create_app(config, services={"guard": KeywordGuard(), "embedder": HashingEmbedder()})
    services = get_services(app)
    create_demo(services)
    with services.db.session() as s:
        uid = s.scalar(select(User.id).where(User.username == "student1"))
    with pytest.raises(Unavailable):
        services.ask.ask(uid, "SCI7", "What do plants make from carbon dioxide and water?")
    services.db.dispose()


def test_unknown_backend_and_missing_model_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown GENERATOR"):
        build_generator({"GENERATOR": "nope"})
    with pytest.raises(FileNotFoundError):
        build_generator(
            {"GENERATOR": "transformers", "GENERATOR_MODEL_PATH": str(tmp_path / "missing")}
        )
    with pytest.raises(ValueError, match="GENERATOR_URL"):
        build_generator({"GENERATOR": "openai"})


def test_llamacpp_backend_runs_the_model_as_its_file_describes():
    """Greedy text through LangChain equals llama-cpp-python's own for the same messages.

    LangChain's ChatLlamaCpp passes rope_freq_base=10000 unless told otherwise, overriding
    the GGUF's value (SmolLM2: 100000) and quietly degrading every answer.
    """
    from llama_cpp import Llama

    gen = build_generator(
        {
            "GENERATOR": "llamacpp",
            "GENERATOR_MAX_TOKENS": 40,
            "GENERATOR_THREADS": 1,
            "GENERATOR_TEMPERATURE": 0.0,
        }
    )
    ours = "".join(gen.stream(MESSAGES))
    chat = gen.model
    raw = Llama(
        model_path=str(smollm2_gguf()), n_ctx=chat.n_ctx, n_threads=1, n_batch=512, verbose=False
    )
    dicts = [
        {"role": {"human": "user"}.get(role, role), "content": text} for role, text in MESSAGES
    ]
    theirs = raw.create_chat_completion(messages=dicts, **chat._get_parameters(None))["choices"][0][
        "message"
    ]["content"]
    assert ours == theirs


@pytest.mark.production
def test_concurrent_answers_from_an_openai_server_are_not_cut_off(llama_server):
    """Two students asking at once both get whole answers.

    llama_cpp.server cancels the answer it is streaming when another request arrives,
    unless started with ``--interrupt_requests False`` (docs/operations.md); the cancelled
    stream just ends, so the first student would silently get nothing.
    """
    import threading

    gen = build_generator(
        {
            "GENERATOR": "openai",
            "GENERATOR_URL": llama_server,
            "GENERATOR_MODEL": "smollm2-135m-instruct",
            "GENERATOR_MAX_TOKENS": 24,
            "GENERATOR_TEMPERATURE": 0.0,
        }
    )
    answers: dict[int, list[str]] = {}

    def ask(i: int) -> None:
        answers[i] = list(gen.stream(MESSAGES))

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(answers) == [0, 1]
    assert all(len(pieces) >= 8 for pieces in answers.values()), {
        i: "".join(p) for i, p in answers.items()
    }
