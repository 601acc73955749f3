"""One contract for every guard backend, with tiny Llama models the tests build themselves.

No Llama Guard weights exist offline, so the Llama Guard backends run a one-layer Llama
(guard.testing): scripted to answer ``safe`` or ``unsafe\\nS1``, or random (garbage). The
same checks run for the transformers directory, an OpenAI-compatible server (a small
in-process HTTP server around the same model) and a GGUF file through llama-cpp-python.
"""

from __future__ import annotations

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from guard import build_guard
from guard.backends.chain import ChainGuard
from guard.backends.llamaguard import GGUFLlamaGuard, OpenAILlamaGuard, TransformersLlamaGuard
from guard.backends.rules import RuleGuard
from guard.llamaguard import SCORING_PRIMER, render
from guard.policy import CoursePolicy, Moderator
from guard.taxonomy import CATEGORIES
from guard.testing import GARBAGE_SCRIPT, SAFE_SCRIPT, UNSAFE_SCRIPT, build_tiny_llama, write_gguf
from guard.types import Guard, Message, Verdict

SCRIPTS = {"safe": SAFE_SCRIPT, "unsafe": UNSAFE_SCRIPT, "garbage": GARBAGE_SCRIPT, "random": None}
CONV = [Message("user", "Hur dödar jag en process i Linux?")]


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory):
    """Transformers directories of the four tiny models."""
    root = tmp_path_factory.mktemp("tiny-llama")
    return {name: build_tiny_llama(root / name, script) for name, script in SCRIPTS.items()}


@pytest.fixture(scope="module")
def tiny_ggufs(tmp_path_factory):
    """GGUF files of the four tiny models."""
    pytest.importorskip("gguf")
    pytest.importorskip("llama_cpp")
    root = tmp_path_factory.mktemp("tiny-gguf")
    return {name: write_gguf(root / f"{name}.gguf", script) for name, script in SCRIPTS.items()}


class _Completions(BaseHTTPRequestHandler):
    """A minimal OpenAI-compatible ``/v1/completions`` around a transformers model."""

    models: dict = {}

    def log_message(self, *args):  # silence the test output
        """Do not log requests."""

    def do_POST(self):  # noqa: N802 - http.server naming
        """Greedy completion with first-position top logprobs."""
        import torch

        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        tok, model = self.models[body["model"]]
        ids = tok(
            "<|begin_of_text|>" + body["prompt"], add_special_tokens=False, return_tensors="pt"
        )["input_ids"]
        with torch.inference_mode():
            logprobs = torch.log_softmax(model(input_ids=ids).logits[0, -1], -1)
            top = torch.topk(logprobs, body.get("logprobs") or 1)
            out = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=body["max_tokens"],
                do_sample=False,
                eos_token_id=0,
                pad_token_id=0,
            )
        text = tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
        top_map = {
            tok.decode([int(i)]): float(v) for v, i in zip(top.values, top.indices, strict=True)
        }
        payload = json.dumps(
            {"choices": [{"text": text, "logprobs": {"top_logprobs": [top_map]}}]}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture(scope="module")
def server(tiny_dirs):
    """The in-process server, serving each tiny model under its script name."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _Completions.models = {
        name: (AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path))
        for name, path in tiny_dirs.items()
    }
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Completions)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(params=["transformers", "openai", "gguf"])
def make_llamaguard(request, tiny_dirs):
    """A factory ``script name -> backend`` for each Llama Guard backend."""
    kind = request.param
    if kind == "transformers":
        return lambda name: TransformersLlamaGuard(str(tiny_dirs[name]))
    if kind == "openai":
        url = request.getfixturevalue("server")
        return lambda name: OpenAILlamaGuard(url, name, timeout=30)
    ggufs = request.getfixturevalue("tiny_ggufs")
    return lambda name: GGUFLlamaGuard(str(ggufs[name]), n_ctx=1024, n_threads=1)


def check_contract(guard: Guard, verdict: Verdict) -> None:
    """What every verdict of every backend satisfies."""
    assert isinstance(verdict, Verdict)
    assert verdict.backend == guard.name
    assert 0.0 <= verdict.score <= 1.0
    assert set(verdict.categories) <= set(CATEGORIES)
    assert verdict.latency_ms >= 0
    if verdict.error:
        assert not verdict.safe
    json.dumps(verdict.to_dict())


def test_llamaguard_safe_answer(make_llamaguard):
    """``safe`` parses to a safe verdict with a low P(unsafe)."""
    guard = make_llamaguard("safe")
    verdict = guard.classify(CONV, role="user")
    check_contract(guard, verdict)
    assert verdict.safe and verdict.error is None and verdict.score < 0.5


def test_llamaguard_unsafe_answer(make_llamaguard):
    """``unsafe\\nS1`` parses to S1 with a high P(unsafe), for both roles."""
    guard = make_llamaguard("unsafe")
    for conv, role in ((CONV, "user"), ([*CONV, Message("agent", "Använd kill -9.")], "agent")):
        verdict = guard.classify(conv, role=role)
        check_contract(guard, verdict)
        assert not verdict.safe and verdict.categories == ("S1",) and verdict.score > 0.5


@pytest.mark.parametrize("script", ["garbage", "random"])
def test_llamaguard_garbage_fails_closed(make_llamaguard, script):
    """An answer outside the protocol is an error verdict that is never safe."""
    guard = make_llamaguard(script)
    verdict = guard.classify(CONV, role="user")
    check_contract(guard, verdict)
    assert verdict.error and not verdict.safe


def test_llamaguard_prompts_are_the_protocol(tiny_dirs):
    """Backends feed the golden-tested template plus the scoring primer."""
    assert (
        TransformersLlamaGuard(str(tiny_dirs["safe"])).prompt(CONV, "user")
        == render(CONV, role="user") + SCORING_PRIMER
    )
    assert (
        OpenAILlamaGuard("http://x", "m").prompt(CONV, "user")
        == render(CONV, role="user", bos=False) + SCORING_PRIMER
    )
    assert GGUFLlamaGuard("m.gguf").prompt(CONV, "agent").startswith("<|start_header_id|>")


@pytest.mark.parametrize(
    "guard",
    [
        TransformersLlamaGuard("/nonexistent/model"),
        OpenAILlamaGuard("http://127.0.0.1:9", "m", timeout=0.5),
        GGUFLlamaGuard("/nonexistent/model.gguf"),
    ],
    ids=["transformers", "openai", "gguf"],
)
def test_unreachable_backends_fail_closed(guard):
    """A missing model or a dead server blocks instead of raising or allowing."""
    verdict = guard.classify(CONV, role="user")
    check_contract(guard, verdict)
    assert verdict.error and not verdict.safe


def test_moderator_blocks_backend_errors():
    """The policy turns an error verdict into a block with the 'not available' message."""
    result = Moderator(OpenAILlamaGuard("http://127.0.0.1:9", "m", timeout=0.5)).check_question(
        "Vad är fotosyntes?", policy=CoursePolicy(), language="sv"
    )
    assert result.action == "block" and result.reason == "error"
    assert "Säkerhetskontrollen" in result.message


@pytest.mark.parametrize(
    ("text", "role", "safe"),
    [
        ("How do I make a bomb at school?", "user", False),
        ("How do I kill a Python process?", "user", True),
        ("Jag vill ta livet av mig", "user", False),
        ("Wie baue ich eine Bombe?", "user", False),
        ("Photosynthesis makes sugar.", "agent", True),
    ],
)
def test_rules_contract(text, role, safe):
    """The rule backend satisfies the contract on a small table."""
    guard = RuleGuard()
    verdict = guard.classify([Message(role, text)], role=role)
    check_contract(guard, verdict)
    assert verdict.safe is safe


class _Boom:
    name = "boom"

    def classify(self, conversation, *, role):
        raise RuntimeError("backend down")


def test_chain_combines_and_fails_closed(tiny_dirs):
    """Unsafe if any member says so; any member error makes the chain an error."""
    chain = ChainGuard([RuleGuard(), TransformersLlamaGuard(str(tiny_dirs["safe"]))])
    verdict = chain.classify(CONV, role="user")
    check_contract(chain, verdict)
    assert verdict.safe and len(verdict.details["members"]) == 2
    unsafe = ChainGuard([RuleGuard(), TransformersLlamaGuard(str(tiny_dirs["unsafe"]))]).classify(
        CONV, role="user"
    )
    assert not unsafe.safe and unsafe.categories == ("S1",)
    fast = ChainGuard([RuleGuard(), _Boom()]).classify(
        [Message("user", "How do I make a bomb?")], role="user"
    )
    assert not fast.safe and fast.error is None and len(fast.details["members"]) == 1
    broken = ChainGuard([RuleGuard(), _Boom()]).classify(CONV, role="user")
    assert broken.error and not broken.safe


def test_build_guard_routes_config(tiny_dirs, monkeypatch):
    """Config keys select backends; KATEDER_<KEY> applies where the config does not set the key."""
    monkeypatch.delenv("KATEDER_GUARD_BACKEND", raising=False)
    assert build_guard({}).name == "chain"  # rules, then embedded
    assert build_guard({"GUARD_BACKEND": "rules"}).name == "rules"
    g = build_guard(
        {
            "GUARD_BACKEND": "llamaguard-transformers",
            "GUARD_MODEL_PATH": str(tiny_dirs["safe"]),
            "GUARD_EXCLUDED_CATEGORIES": "S6,S8",
        }
    )
    assert g.name == "llamaguard-transformers" and g.excluded == ("S6", "S8")
    assert (
        build_guard(
            {"GUARD_BACKEND": "llamaguard-openai", "GUARD_URL": "http://h:1", "GUARD_MODEL": "m"}
        ).url
        == "http://h:1/v1"
    )
    assert (
        build_guard({"GUARD_BACKEND": "llamaguard-gguf", "GUARD_MODEL_PATH": "x.gguf"}).name
        == "llamaguard-gguf"
    )
    chain = build_guard({"GUARD_BACKEND": "chain"})
    assert [m.name for m in chain.guards] == ["rules", "embedded"]
    monkeypatch.setenv("KATEDER_GUARD_BACKEND", "rules")
    assert build_guard({}).name == "rules"  # the environment fills in what the config leaves open
    assert (
        build_guard({"GUARD_BACKEND": "embedded"}).name == "embedded"
    )  # explicit configuration wins
    monkeypatch.delenv("KATEDER_GUARD_BACKEND")
    with pytest.raises(ValueError):
        build_guard({"GUARD_BACKEND": "nope"})
    with pytest.raises(ValueError):
        build_guard({"GUARD_BACKEND": "llamaguard-openai"})


def test_unsafe_probability_from_logprobs():
    """P(unsafe) sums the first-position tokens that read "unsafe"."""
    from guard.backends.llamaguard import _unsafe_probability

    assert math.isclose(_unsafe_probability({"unsafe": math.log(0.7), "safe": math.log(0.3)}), 0.7)
    assert _unsafe_probability({"safe": 0.0}) == 0.0
    assert _unsafe_probability({"\n": 0.0}) is None
    assert _unsafe_probability(None) is None
