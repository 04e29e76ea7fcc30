"""Shared fixtures: paths, the shipped knowledge base, a real SQLite store, settings for tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import kb
from bot.answers import AnswerEngine
from bot.settings import Settings
from bot.store import Store

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
DATA = Path(__file__).resolve().parent / "data"


def shared_file(*parts: str) -> Path:
    """A file from ../shared, or skip the test cleanly when that folder is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not available here")
    return path


@pytest.fixture(scope="session")
def topics() -> list[kb.Topic]:
    return kb.load_dir()


@pytest.fixture(scope="session")
def engine(topics: list[kb.Topic]) -> AnswerEngine:
    return AnswerEngine(topics)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'test.sqlite3'}"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    yield s
    s.close()


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url)
