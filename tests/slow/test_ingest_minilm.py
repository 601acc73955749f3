"""Ingestion with the real bundled MiniLM embedder: chunks fit the model, dense search finds
them."""

from __future__ import annotations

import pytest

from app import create_app
from app.services import accounts, get_services
from ingest.embedding import build_embedder
from tests import ingest_samples as S
from tests.fakes import EchoGenerator, KeywordGuard

pytestmark = pytest.mark.slow


def test_real_embedder_indexes_pdf_and_pptx_and_dense_search_finds_the_page(tmp_path, sqlite_url):
    embedder = build_embedder({"EMBEDDER": "minilm"})
    app = create_app(
        {
            "HOME": str(tmp_path / "inst"),
            "DATABASE_URL": sqlite_url,
            "SECRET_KEY": "t",
            "JOBS_IN_PROCESS": False,
        },
        services={"guard": KeywordGuard(), "embedder": embedder, "generator": EchoGenerator()},
    )
    services = get_services(app)
    with services.db.session() as s:
        school = accounts.create_school(s, "Slow school")
        course = accounts.create_course(s, school, "SLOW", "Science", "en").id
    pages = [S.filler(f"topic {i}", 25, seed=i) for i in range(6)] + [S.PHOTOSYNTHESIS]
    pdf = services.ingest.ingest(course, "book.pdf", S.pdf(pages))
    deck = services.ingest.ingest(
        course, "deck.pptx", S.pptx([("Vikings", S.VIKINGS_SV), ("Water", S.WATER_DE)])
    )
    assert pdf.status == deck.status == "ready"

    tokenizer = embedder.model.tokenizer
    limit = embedder.model.max_seq_length
    with services.db.session() as s:
        from sqlalchemy import select

        from core.models import Passage

        texts = list(s.scalars(select(Passage.text)))
    assert (
        max(len(tokenizer(t)["input_ids"]) for t in texts) <= limit
    )  # nothing is cut off by the model

    hits = services.retriever.retrieve(
        course, "In which part of the plant cell does photosynthesis happen?"
    )
    assert hits[0].document_id == pdf.document_id and hits[0].page == 7 and hits[0].dense > 0.35
    hits = services.retriever.retrieve(course, "Wolken Regen Verdunstung")
    assert hits[0].document_id == deck.document_id and hits[0].page == 2
    services.db.dispose()
