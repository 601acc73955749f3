"""Alembic environment: runs revisions against the engine Kateder hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import core.lti_models  # noqa: F401  (registers the LTI tables on Base.metadata)
from core.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Run the revisions on the caller's engine, or one built from the configured URL."""
    engine = config.attributes.get("engine") or create_engine(
        config.get_main_option("sqlalchemy.url")
    )
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
