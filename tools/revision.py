"""Write a new Alembic revision for what changed in ``bot/edges/store.py``'s metadata: ``make revision M="..."``.

It upgrades a scratch SQLite database to the current head, lets Alembic compare it with the metadata, and
writes ``bot/edges/migrations/versions/NNNN_<slug>.py`` chained after the head. Read and tidy the result
(Alembic cannot see renames; data moves are yours to write), then run ``pytest tests/test_migrations.py``.
"""

from __future__ import annotations

import re
import sys
import tempfile

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

from bot.edges.store import MIGRATIONS_DIR, _script, upgrade


def main(message: str) -> None:
    heads = _script().get_heads()
    if len(heads) > 1:
        sys.exit(f"several heads {heads}: chain one revision after the other first")
    number = int(heads[0]) + 1 if heads else 1
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/scratch.sqlite3"
        if heads:
            engine = create_engine(url)
            upgrade(engine)
            engine.dispose()
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.set_main_option("sqlalchemy.url", url)
        config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
        command.revision(config, message=message, autogenerate=True, rev_id=f"{number:04d}")


if __name__ == "__main__":
    if len(sys.argv) != 2 or not re.search(r"\w", sys.argv[1]):
        sys.exit('usage: make revision M="what the revision changes"')
    main(sys.argv[1])
