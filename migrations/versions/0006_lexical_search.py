"""Lexical search in the database engine

Revision ID: 0006_lexical_search
Revises: 0004_lti
Create Date: 2026-12-03 02:00:00

PostgreSQL: a generated ``tsvector`` column ``passages.search_vector`` in the passage's
language (swedish, norwegian, german, italian, english; ``simple`` otherwise) with a GIN
index; adding the column fills it for existing rows. SQLite: ``passages_lexical`` (an
integer key, so VACUUM cannot renumber it) holding each passage's Snowball-stemmed terms
from ``kateder_terms`` (registered by app.db on every connection), the FTS5 table
``passages_fts`` over it, triggers keeping both in step with ``passages``, and a backfill.
"""

from alembic import op
import sqlalchemy as sa  # noqa: F401


revision = '0006_lexical_search'
down_revision = '0004_lti'
branch_labels = None
depends_on = None

_CONFIGS = {"sv": "swedish", "nb": "norwegian", "de": "german", "it": "italian", "en": "english"}
_REGCONFIG = "CASE language " + " ".join(f"WHEN '{k}' THEN '{v}'::regconfig" for k, v in _CONFIGS.items()) + " ELSE 'simple'::regconfig END"

_SQLITE_UP = [
    "CREATE TABLE passages_lexical (id INTEGER PRIMARY KEY, passage_id VARCHAR(80) NOT NULL UNIQUE, terms TEXT NOT NULL)",
    "CREATE VIRTUAL TABLE passages_fts USING fts5(terms, content='passages_lexical', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER passages_lexical_ai AFTER INSERT ON passages_lexical BEGIN "
    "INSERT INTO passages_fts(rowid, terms) VALUES (new.id, new.terms); END",
    "CREATE TRIGGER passages_lexical_ad AFTER DELETE ON passages_lexical BEGIN "
    "INSERT INTO passages_fts(passages_fts, rowid, terms) VALUES ('delete', old.id, old.terms); END",
    "CREATE TRIGGER passages_lexical_au AFTER UPDATE ON passages_lexical BEGIN "
    "INSERT INTO passages_fts(passages_fts, rowid, terms) VALUES ('delete', old.id, old.terms); "
    "INSERT INTO passages_fts(rowid, terms) VALUES (new.id, new.terms); END",
    "CREATE TRIGGER passages_fts_ai AFTER INSERT ON passages BEGIN "
    "INSERT INTO passages_lexical(passage_id, terms) VALUES (new.id, kateder_terms(new.text, new.language)); END",
    "CREATE TRIGGER passages_fts_ad AFTER DELETE ON passages BEGIN "
    "DELETE FROM passages_lexical WHERE passage_id = old.id; END",
    "CREATE TRIGGER passages_fts_au AFTER UPDATE OF text, language ON passages BEGIN "
    "UPDATE passages_lexical SET terms = kateder_terms(new.text, new.language) WHERE passage_id = new.id; END",
    "INSERT INTO passages_lexical(passage_id, terms) SELECT id, kateder_terms(text, language) FROM passages",
]
_SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS passages_fts_au", "DROP TRIGGER IF EXISTS passages_fts_ad", "DROP TRIGGER IF EXISTS passages_fts_ai",
    "DROP TRIGGER IF EXISTS passages_lexical_au", "DROP TRIGGER IF EXISTS passages_lexical_ad", "DROP TRIGGER IF EXISTS passages_lexical_ai",
    "DROP TABLE IF EXISTS passages_fts", "DROP TABLE IF EXISTS passages_lexical",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_UP:
            op.execute(statement)
        return
    op.execute(f"ALTER TABLE passages ADD COLUMN search_vector tsvector GENERATED ALWAYS AS "
               f"(to_tsvector({_REGCONFIG}, coalesce(text, ''))) STORED")
    op.execute("CREATE INDEX ix_passages_search_vector ON passages USING gin (search_vector)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_DOWN:
            op.execute(statement)
        return
    op.execute("DROP INDEX IF EXISTS ix_passages_search_vector")
    op.execute("ALTER TABLE passages DROP COLUMN IF EXISTS search_vector")
