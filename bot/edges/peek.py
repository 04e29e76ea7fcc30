"""Reading a few values of the store's ``cache`` table without loading SQLAlchemy (quick commands start fast).

Only SQLite files can be peeked at this way (the standard library's ``sqlite3``); for any other database
:func:`cache_values` answers None and the caller opens the :class:`~bot.edges.store.Store` instead.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any


def sqlite_path(url: str) -> str | None:
    """The file of a ``sqlite:///`` URL, or None for anything else (in-memory, other databases)."""
    if not url.startswith("sqlite:///") or url == "sqlite:///:memory:":
        return None
    return url[len("sqlite:///"):] or None


def cache_values(url: str, keys: tuple[str, ...]) -> dict[str, Any] | None:
    """The JSON values stored under ``keys`` (missing keys absent); {} when the file or table does not exist
    yet; None when the database cannot be peeked at this way."""
    path = sqlite_path(url)
    if path is None:
        return None
    if not Path(path).is_file():
        return {}
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return None
    try:
        marks = ",".join("?" * len(keys))
        rows = conn.execute(f"SELECT key, value FROM cache WHERE key IN ({marks})", keys).fetchall()
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()
    out: dict[str, Any] = {}
    for k, v in rows:
        try:
            out[str(k)] = json.loads(v)
        except ValueError:
            continue
    return out
