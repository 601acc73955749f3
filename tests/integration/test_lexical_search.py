"""Lexical search inside the database (SQLite FTS5, PostgreSQL full-text search): issue 18."""

from __future__ import annotations

import importlib.util

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import delete

from app import create_app, get_services
from app.db import MIGRATIONS, Database
from app.lexical import MemoryBM25Index, build_lexical_index
from app.services import accounts
from core.models import Document, Passage

ROWS = [
    ("sv", "Fotosyntesen sker i växternas blad, där klorofyllet fångar solljuset."),
    ("nb", "Valgene i Norge holdes hvert fjerde år, og stortingsvalget er det viktigste."),
    ("de", "Die Könige von Schweden regierten das Land viele Jahrhunderte lang."),
    ("en", "Water evaporates from the sea and falls again as rain."),
]
# (query, its language, the passage language it must find): inflected forms of the passage's words
INFLECTED = [("Vad gör växterna med solljus?", "sv", "sv"), ("Når er valget?", "nb", "nb"),
             ("Welcher König regierte Schweden?", "de", "de"), ("When does water evaporate?", "en", "en")]


def _seed(db: Database) -> int:
    with db.session() as s:
        course = accounts.create_course(s, accounts.create_school(s, "Lexical School"), "LEX1", "Lexical", "sv")
        s.flush()
        doc = Document(course_id=course.id, title="Mixed", filename="mixed.txt", content_hash="0" * 64, version=1, status="ready")
        s.add(doc)
        s.flush()
        s.add_all(Passage(id=f"{doc.id}:1:{i}", document_id=doc.id, course_id=course.id, version=1, ordinal=i,
                          text=text, language=lang, status="indexed") for i, (lang, text) in enumerate(ROWS))
        return course.id


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.mark.parametrize(("query", "qlang", "plang"), INFLECTED)
def test_stemming_per_language_finds_inflected_forms(db, query, qlang, plang):
    course_id = _seed(db)
    hits = build_lexical_index(db, {}).search(course_id, query, k=4, language=qlang)
    assert hits, f"{query!r} found nothing"
    top = hits[0].id
    assert top.endswith(f":{[lang for lang, _ in ROWS].index(plang)}")


def test_database_backend_matches_any_term_of_a_long_question_and_stays_in_the_course(db):
    course_id = _seed(db)
    index = build_lexical_index(db, {})
    long_question = "Kan du förklara för mig varför växterna behöver solljus när det är vinter och mörkt ute?"
    assert [h.id for h in index.search(course_id, long_question, k=4, language="sv")][:1] == ["1:1:0"]
    assert index.search(course_id + 1, long_question, k=4, language="sv") == []
    assert index.search(course_id, "zzzz qqqq", k=4, language="en") == []


def test_deleted_and_superseded_passages_leave_the_lexical_results(db):
    course_id = _seed(db)
    index = build_lexical_index(db, {})
    assert index.search(course_id, "Welcher König?", k=4, language="de")
    with db.session() as s:
        s.execute(delete(Passage).where(Passage.language == "de"))
    assert index.search(course_id, "Welcher König?", k=4, language="de") == []
    with db.session() as s:  # a held passage is not searchable
        s.get(Passage, "1:1:3").status = "held"
    assert index.search(course_id, "water evaporates", k=4, language="en") == []


def _run_0006(db: Database, step: str) -> None:
    """Run only revision 0006's upgrade or downgrade (the later placeholders belong to others)."""
    spec = importlib.util.spec_from_file_location("rev0006", MIGRATIONS / "versions" / "0006_lexical_search.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with db.engine.begin() as conn, Operations.context(MigrationContext.configure(conn)):
        getattr(module, step)()


def test_migration_backfills_existing_passages_and_downgrade_drops_the_index(db):
    course_id = _seed(db)
    _run_0006(db, "downgrade")  # passages stay, the lexical index goes
    with pytest.raises(Exception):  # noqa: B017 - the table or column is gone on either engine
        build_lexical_index(db, {}).search(course_id, "Valgene", k=4, language="nb")
    _run_0006(db, "upgrade")
    assert build_lexical_index(db, {}).search(course_id, "Valgene", k=4, language="nb")[0].id == "1:1:1"


def test_memory_backend_is_kept_for_comparison(db):
    course_id = _seed(db)
    index = build_lexical_index(db, {"LEXICAL_BACKEND": "memory"})
    assert isinstance(index, MemoryBM25Index)
    assert index.search(course_id, "Welcher König regierte Schweden?", k=4, language="de")[0].id == "1:1:2"
    with pytest.raises(ValueError, match="LEXICAL_BACKEND"):
        build_lexical_index(db, {"LEXICAL_BACKEND": "elastic"})


@pytest.fixture
def services(tmp_path, database_url, fakes):
    app = create_app({"HOME": str(tmp_path / "instance"), "DATABASE_URL": database_url, "SECRET_KEY": "test", "TESTING": True}, services=fakes)
    yield get_services(app)
    get_services(app).db.dispose()


def test_a_published_upload_is_searchable_at_once_and_gone_after_deletion(services):
    with services.db.session() as s:
        course_id = accounts.create_course(s, accounts.create_school(s, "Upload School"), "UP1", "Upload", "sv").id
    text = "# Vulkaner\n\nVulkaner får utbrott när magman pressas upp genom jordskorpan.\n"
    doc_id = services.ingest.ingest(course_id, "vulkaner.md", text.encode()).document_id
    lexical = services.retriever.lexical
    assert [h.id.split(":")[0] for h in lexical.search(course_id, "Varför får vulkanen utbrott?", k=4, language="sv")] == [str(doc_id)]
    services.ingest.delete_document(doc_id)
    assert lexical.search(course_id, "Varför får vulkanen utbrott?", k=4, language="sv") == []
