"""Tiny Llama models for the backend contract tests (no Llama Guard weights exist offline).

:func:`build_tiny_llama` writes a transformers model directory with a character-level
tokenizer and a one-layer Llama. With ``script=None`` the weights are random (its answers
are garbage, which the backends must treat as failures). With a script, attention and MLP
outputs are zeroed so the next token depends only on the current one, and the script maps
a token to its successor: ``{"\\n\\n": "unsafe", "unsafe": "\\n", "\\n": "S1"}`` makes the
model answer ``unsafe\\nS1`` after the Llama Guard prompt; unscripted tokens are followed by
``<|eot_id|>`` (id 0). :func:`write_gguf` writes the same model as a GGUF file.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from pathlib import Path

SPECIAL = ["<|eot_id|>", "<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>"]
WORDS = ["\n\n", "unsafe", "safe", "S1", "S10", ","]
SAFE_SCRIPT = {"\n\n": "safe"}
UNSAFE_SCRIPT = {"\n\n": "unsafe", "unsafe": "\n", "\n": "S1"}
GARBAGE_SCRIPT = {"\n\n": "x", "x": "x"}


def vocabulary() -> list[str]:
    """Token strings by id: specials, protocol words, then single characters."""
    chars = [c for c in string.printable if c not in "\t\r\x0b\x0c"]
    extra = [c for c in "åäöÅÄÖüÜßéèàòùøæØÆ–" if c not in chars]
    return list(dict.fromkeys(SPECIAL + WORDS + chars + extra))


def build_tokenizer():
    """A character-level fast tokenizer with the Llama 3 special tokens."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(vocabulary())}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="x"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens(SPECIAL)
    tok.add_tokens(WORDS)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|begin_of_text|>",
        eos_token="<|eot_id|>",
        pad_token="<|eot_id|>",
    )


def build_model(script: Mapping[str, str] | None, seed: int = 0):
    """A one-layer Llama; scripted (a bigram table) or random."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    vocab = vocabulary()
    hidden = 128
    assert len(vocab) <= hidden
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=False,
        bos_token_id=1,
        eos_token_id=0,
        pad_token_id=0,
    )
    model = LlamaForCausalLM(config)
    if script is not None:
        ids = {t: i for i, t in enumerate(vocab)}
        with torch.no_grad():
            for layer in model.model.layers:
                layer.self_attn.o_proj.weight.zero_()
                layer.mlp.down_proj.weight.zero_()
            model.model.embed_tokens.weight.copy_(torch.eye(len(vocab), hidden))
            model.model.norm.weight.fill_(1.0)
            model.lm_head.weight.zero_()
            for current, successor in script.items():
                model.lm_head.weight[ids[successor], ids[current]] = 2.0
    model.eval()
    return model


def build_tiny_llama(
    directory: Path, script: Mapping[str, str] | None = None, seed: int = 0
) -> Path:
    """Write tokenizer + model into ``directory`` (transformers format) and return it."""
    directory.mkdir(parents=True, exist_ok=True)
    build_tokenizer().save_pretrained(directory)
    build_model(script, seed).save_pretrained(directory)
    (directory / "kateder_tiny.json").write_text(json.dumps({"script": dict(script or {})}))
    return directory


def write_gguf(path: Path, script: Mapping[str, str] | None = None, seed: int = 0) -> Path:
    """The same tiny model as a GGUF file for llama-cpp-python (needs the ``gguf`` package)."""
    import gguf
    import numpy as np

    model = build_model(script, seed)
    vocab = vocabulary()
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    cfg = model.config
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("kateder-tiny-guard")
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_head_count(cfg.num_attention_heads)
    writer.add_head_count_kv(cfg.num_key_value_heads)
    writer.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    writer.add_rope_dimension_count(cfg.hidden_size // cfg.num_attention_heads)
    writer.add_rope_freq_base(10000.0)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    tokens, scores, types = [], [], []
    for i, tok in enumerate(vocab):
        tokens.append(tok.replace(" ", "\u2581").encode())
        scores.append(float(len(tok)))  # longer pieces merge first
        if tok in SPECIAL:
            types.append(gguf.TokenType.CONTROL)
        else:
            types.append(gguf.TokenType.NORMAL)
        del i
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(0)
    writer.add_unk_token_id(vocab.index("x"))
    writer.add_add_bos_token(True)
    writer.add_add_space_prefix(False)
    names = {
        "model.embed_tokens.weight": "token_embd.weight",
        "model.norm.weight": "output_norm.weight",
        "lm_head.weight": "output.weight",
    }
    per_layer = {
        "input_layernorm.weight": "attn_norm.weight",
        "self_attn.q_proj.weight": "attn_q.weight",
        "self_attn.k_proj.weight": "attn_k.weight",
        "self_attn.v_proj.weight": "attn_v.weight",
        "self_attn.o_proj.weight": "attn_output.weight",
        "post_attention_layernorm.weight": "ffn_norm.weight",
        "mlp.gate_proj.weight": "ffn_gate.weight",
        "mlp.up_proj.weight": "ffn_up.weight",
        "mlp.down_proj.weight": "ffn_down.weight",
    }
    for layer in range(cfg.num_hidden_layers):
        for hf, gg in per_layer.items():
            names[f"model.layers.{layer}.{hf}"] = f"blk.{layer}.{gg}"
    for hf, gg in names.items():
        writer.add_tensor(gg, np.ascontiguousarray(sd[hf], dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
