"""A library's pages against the same pages in another format (printed to PDF, kept in Word): do they give
the same sections and the same first answers?"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.core.answers import AnswerEngine
from bot.core.docs.indexer import DocsIndexer, load_topics
from bot.core.evaluate import read_items
from bot.core.kb import Topic
from bot.edges.store import Store
from tests.conftest import migrated_copy


@dataclass
class Fidelity:
    sections: tuple[set[tuple[str, str]], set[tuple[str, str]]]  # (page, heading) of each, original first
    procedures: tuple[int, int]
    faqs: tuple[int, int]
    same_first_answer: int
    questions: int


def key(t: Topic) -> tuple[str, str]:
    return t.id.split("#")[0], t.title.strip().lower()


def compare(tmp_path: Path, original: Path, rendered: Path, questions: Path) -> Fidelity:
    def indexed(folder: Path, name: str) -> list[Topic]:
        migrated_copy(tmp_path / f"{name}.sqlite3")
        store = Store(f"sqlite:///{tmp_path / name}.sqlite3")
        DocsIndexer(store).run([str(folder)])
        return load_topics(store, [str(folder)])

    a_topics, b_topics = indexed(original, "original"), indexed(rendered, "rendered")
    a, b = AnswerEngine(a_topics), AnswerEngine(b_topics)
    same = total = 0
    for it in read_items(questions):
        ra, rb = a.ask(it.q), b.ask(it.q)
        total += 1
        same += ra.answered == rb.answered and [key(h.topic) for h in ra.hits[:1]] == [key(h.topic) for h in rb.hits[:1]]
    def count(ts: list[Topic], kind: str) -> int:
        return sum(t.kind == kind for t in ts)

    return Fidelity(({key(t) for t in a_topics}, {key(t) for t in b_topics}),
                    (count(a_topics, "procedure"), count(b_topics, "procedure")),
                    (count(a_topics, "faq"), count(b_topics, "faq")), same, total)
