"""Deleting rows together with every row that references them (erasure and retention)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import FromClause, Table, delete, select, update
from sqlalchemy.orm import Session

from app.db import rowcount
from core.models import Base


def delete_with_dependents(s: Session, table: Table | FromClause, ids: list[Any]) -> int:
    """Delete rows of ``table`` by primary key and, first, every row that references them.

    ``table`` is a ``Table`` or a model's ``__table__``. Walks all model tables, so tables added
    later by other areas are covered: a nullable ``ON DELETE SET NULL`` reference is cleared, any
    other reference is deleted.

    Returns:
        The number of rows deleted, dependents included.
    """
    if not ids:
        return 0
    table = cast(Table, table)  # a model's __table__ is a Table; SQLAlchemy types it as FromClause
    removed = 0
    pk = next(iter(table.primary_key.columns))
    for child in Base.metadata.tables.values():
        for fk in child.foreign_keys:
            if fk.column.table is not table:
                continue
            col = fk.parent
            if col.nullable and (fk.ondelete or "").upper() == "SET NULL":
                s.execute(update(child).where(col.in_(ids)).values({col.name: None}))
                continue
            child_pk = next(iter(child.primary_key.columns))
            child_ids = list(s.scalars(select(child_pk).where(col.in_(ids))))
            removed += delete_with_dependents(s, child, child_ids)
    removed += rowcount(s.execute(delete(table).where(pk.in_(ids))))
    return removed
