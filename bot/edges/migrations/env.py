"""Alembic's environment: run the revisions on the store's connection, compared with the store's metadata.

``Store`` passes its open connection in ``config.attributes["connection"]`` (no alembic.ini at run time);
``make revision`` passes a database URL instead, to autogenerate a new revision from the metadata.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import Connection

from bot.edges.store import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True,
                      render_as_batch=connection.dialect.name == "sqlite")  # SQLite alters tables by copying them
    with context.begin_transaction():
        context.run_migrations()


shared = config.attributes.get("connection")
if shared is not None:
    _run(shared)
else:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "give the database URL as sqlalchemy.url"
    with create_engine(url, poolclass=pool.NullPool).connect() as conn:
        _run(conn)
        conn.commit()
