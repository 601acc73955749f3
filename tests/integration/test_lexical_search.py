"""Lexical search inside the database (SQLite FTS5, PostgreSQL full-text search): issue 18."""

from __future__ import annotations

import importlib.util

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import delete

from app import create_app
from app.db import MIGRATIONS, Database
from app.lexical import MemoryBM25Index, build_lexical_index
from app.services import accounts, get_services
from core.models import Document, Passage

ROWS = [
    ("sv", "Fotosyntesen sker i växternas blad, där klorofyllet fångar solljuset."),
    ("nb", "Valgene i Norge holdes hvert fjerde år, og stortingsvalget er det viktigste."),
    ("de", "Die Könige von Schweden regierten das Land viele Jahrhunderte lang."),
    ("en", "Water evaporates from the sea and falls again as rain."),
]
# (query, its language, the passage language it must find): inflected forms of the passage's words
INFLECTED = [
    ("Vad gör växterna med solljus?", "sv", "sv"),
    ("Når er valget?", "nb", "nb"),
    ("Welcher König regierte Schweden?", "de", "de"),
    ("When does water evaporate?", "en", "en"),
]


def _course_with_document(s, school: str, code: str, language: str, title: str) -> tuple:
    """A new school's course (named like its code) with one ready document, flushed."""
    course = accounts.create_course(
        s, accounts.create_school(s, school), code, code.title(), language
    )
    s.flush()
    doc = Document(
        course_id=course.id,
        title=title,
        filename=f"{title.lower()}.txt",
        content_hash="0" * 64,
        version=1,
        status="ready",
    )
    s.add(doc)
    s.flush()
    return course, doc


def _seed(db: Database) -> int:
    with db.session() as s:
        course, doc = _course_with_document(s, "Lexical School", "LEX1", "sv", "Mixed")
        s.add_all(
            Passage(
                id=f"{doc.id}:1:{i}",
                document_id=doc.id,
                course_id=course.id,
                version=1,
                ordinal=i,
                text=text,
                language=lang,
                status="indexed",
            )
            for i, (lang, text) in enumerate(ROWS)
        )
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
    long_question = (
        "Kan du förklara för mig varför växterna behöver solljus när det är vinter och mörkt ute?"
    )
    assert [h.id for h in index.search(course_id, long_question, k=4, language="sv")][:1] == [
        "1:1:0"
    ]
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
    spec = importlib.util.spec_from_file_location(
        "rev0006", MIGRATIONS / "versions" / "0006_lexical_search.py"
    )
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
    assert (
        build_lexical_index(db, {}).search(course_id, "Valgene", k=4, language="nb")[0].id
        == "1:1:1"
    )


def test_memory_backend_is_kept_for_comparison(db):
    course_id = _seed(db)
    index = build_lexical_index(db, {"LEXICAL_BACKEND": "memory"})
    assert isinstance(index, MemoryBM25Index)
    assert (
        index.search(course_id, "Welcher König regierte Schweden?", k=4, language="de")[0].id
        == "1:1:2"
    )
    with pytest.raises(ValueError, match="LEXICAL_BACKEND"):
        build_lexical_index(db, {"LEXICAL_BACKEND": "elastic"})


@pytest.fixture
def services(tmp_path, database_url, fakes):
    app = create_app(
        {
            "HOME": str(tmp_path / "instance"),
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test",
            "TESTING": True,
        },
        services=fakes,
    )
    yield get_services(app)
    get_services(app).db.dispose()


def test_a_published_upload_is_searchable_at_once_and_gone_after_deletion(services):
    with services.db.session() as s:
        course_id = accounts.create_course(
            s, accounts.create_school(s, "Upload School"), "UP1", "Upload", "sv"
        ).id
    text = "# Vulkaner\n\nVulkaner får utbrott när magman pressas upp genom jordskorpan.\n"
    doc_id = services.ingest.ingest(course_id, "vulkaner.md", text.encode()).document_id
    lexical = services.retriever.lexical
    assert [
        h.id.split(":")[0]
        for h in lexical.search(course_id, "Varför får vulkanen utbrott?", k=4, language="sv")
    ] == [str(doc_id)]
    services.ingest.delete_document(doc_id)
    assert lexical.search(course_id, "Varför får vulkanen utbrott?", k=4, language="sv") == []


# Large courses (issue 18): common terms do not select candidates, all planned terms still score


def test_plan_leaves_out_common_terms_but_keeps_the_rarest_and_never_empties():
    from app.lexical import plan_terms

    df = {"river": 900, "water": 700, "volcano": 3, "lava": 40}
    plan = plan_terms(["river", "volcano", "water", "lava"], df, 1000, fraction=0.05)
    assert (
        plan.terms == ("river", "volcano", "water", "lava")
        and plan.select == ("volcano", "lava")
        and plan.pruned
    )
    only_common = plan_terms(["river", "water"], df, 1000, fraction=0.05)
    assert only_common.select == ("water",) and only_common.terms == (
        "river",
        "water",
    )  # the rarest stays
    assert not plan_terms(["volcano", "lava"], df, 1000, fraction=0.05).pruned
    assert plan_terms(["volcano", "lava"], df, 1000, fraction=0.05, budget=10).select == (
        "volcano",
    )  # row budget
    capped = plan_terms(["river", "volcano", "water", "lava", "zzz"], df, 1000, max_terms=2)
    assert capped.terms == (
        "volcano",
        "lava",
        "zzz",
    )  # the two rarest; a term found nowhere takes no place
    assert plan_terms([], df, 1000).terms == ()


def _seed_common(db: Database, n: int = 40) -> tuple[int, list[str]]:
    """``n`` passages all about rivers and water; one of them also about a volcano."""
    with db.session() as s:
        course, doc = _course_with_document(s, "Common School", "COM1", "en", "Rivers")
        texts = [
            f"The river carries water past village number {i} towards the sea." for i in range(n)
        ]
        texts[7] = "The river near the volcano carries warm water and ash from the volcano."
        s.add_all(
            Passage(
                id=f"{doc.id}:1:{i}",
                document_id=doc.id,
                course_id=course.id,
                version=1,
                ordinal=i,
                text=t,
                language="en",
                status="indexed",
            )
            for i, t in enumerate(texts)
        )
        return course.id, [f"{doc.id}:1:{i}" for i in range(n)]


def test_common_terms_are_pruned_and_the_rare_term_still_ranks_its_passage_first(db):
    course_id, ids = _seed_common(db)
    pruning = build_lexical_index(db, {"LEXICAL_COMMON_FRACTION": 0.2, "LEXICAL_PLAN_FROM": 0})
    with db.session() as s:
        stats = pruning._stats(s, course_id, ["river", "volcano", "water"])
    assert stats.n == 40 and stats.df["river"] == 40 and stats.df["volcano"] == 1
    question = "Why is the river water warm near the volcano?"
    hits = pruning.search(course_id, question, k=5, language="en")
    assert hits[0].id == ids[7]
    exact = build_lexical_index(
        db, {"LEXICAL_COMMON_FRACTION": 1.0, "LEXICAL_PLAN_FROM": 0}
    ).search(course_id, question, k=5, language="en")
    assert exact[0].id == ids[7]  # the same winner as the unpruned query
    only_common = pruning.search(course_id, "river water", k=5, language="en")
    assert len(only_common) == 5  # the rarest common term still selects: never an empty query
    assert pruning.search(course_id, "the and of", k=5, language="en") == []


def test_term_statistics_follow_the_content_version(db):
    from sqlalchemy import update

    from core.models import Course

    course_id, ids = _seed_common(db, n=10)
    index = build_lexical_index(db, {"LEXICAL_COMMON_FRACTION": 0.2, "LEXICAL_PLAN_FROM": 0})
    assert index.search(course_id, "river glacier", k=3, language="en")[0].id in ids
    with db.session() as s:
        doc = s.get(Document, int(ids[0].split(":")[0]))
        s.add(
            Passage(
                id=f"{doc.id}:1:99",
                document_id=doc.id,
                course_id=course_id,
                version=1,
                ordinal=99,
                text="A glacier feeds the river with melting ice.",
                language="en",
                status="indexed",
            )
        )
        s.execute(
            update(Course)
            .where(Course.id == course_id)
            .values(content_version=Course.content_version + 1)
        )
    assert (
        index.search(course_id, "river glacier", k=3, language="en")[0].id
        == f"{ids[0].split(':')[0]}:1:99"
    )
    with db.session() as s:
        assert index._stats(s, course_id, ["glacier"]).df["glacier"] == 1


def test_courses_below_the_plan_size_are_searched_without_a_plan(db):
    """A course under LEXICAL_PLAN_FROM passages: every term, the engine's own BM25, no term
    counts."""
    course_id, ids = _seed_common(db)
    small = build_lexical_index(db, {"LEXICAL_COMMON_FRACTION": 0.2})  # default LEXICAL_PLAN_FROM
    question = "Why is the river water warm near the volcano?"
    hits = small.search(course_id, question, k=5, language="en")
    assert hits[0].id == ids[7]
    with db.session() as s:
        assert not small._planned(s, course_id)
    assert all(not stats.df for stats in small.stats_cache._entries.values())  # no term was counted
