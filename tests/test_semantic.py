"""The intent model (bot/core/semantic.py): the model's own tokenization, what it learns, how it joins the
lexical ranking, and that answering works without it."""

from __future__ import annotations

import logging
import pickle
import shutil
from pathlib import Path

import pytest

from bot.core import semantic
from bot.core.answers import AnswerEngine
from bot.core.kb import Topic


def _topic(tid: str, title: str, body: str, asks: tuple[str, ...] = ()) -> Topic:
    return Topic(id=tid, title=title, kind="reference", roles=(), keywords=(), related=(), path=f"{tid}.md",
                 line=1, intro=body, asks=asks)


@pytest.mark.parametrize(
    ("text", "ids"),
    [  # what the model's own tokenizer (Hugging Face `tokenizers`, the same file) gives, without <s>
        ("Can we toss the damaged book?", [1815, 591, 28189, 278, 5625, 4063, 3143, 29973]),
        ("recieve itme", [1162, 2418, 372, 1004]),
        ("rs_auto_request_lending=true", [20371, 29918, 6921, 29918, 3827, 29918, 29880, 2548, 29922, 3009]),
        ("café 🙂", [274, 28059, 29871, 243, 162, 156, 133]),  # the emoji falls back to its UTF-8 bytes
    ],
)
def test_tokens_are_the_models_own(text: str, ids: list[int]) -> None:
    files = semantic.model_files()
    assert files is not None, "the wordllama package (a dependency) carries the token vectors"
    assert semantic.Embedder(*files).ids(text) == ids


def test_the_model_learns_meaning_beyond_shared_words() -> None:
    pets = [(0, a) for a in ("my cat is hungry", "feeding the dog", "adopt a puppy", "the kitten sleeps")]
    cars = [(1, a) for a in ("my car will not start", "change a flat tyre", "the truck needs fuel", "park the van")]
    model = semantic.IntentModel.train(pets + cars)
    assert model is not None
    for question, right in (("a hound and a kitty", 0), ("the lorry's engine and wheels", 1)):
        p = model.probabilities(question)
        assert p[right] > 0.6, (question, p)


def test_meaning_reorders_matched_topics_but_never_brings_in_one_that_shares_no_word(
        monkeypatch: pytest.MonkeyPatch) -> None:
    discard = _topic("discard", "Old paperwork", "Paperwork from earlier stages can go in the recycling.",
                     asks=("can we throw away the old paperwork", "toss the slip", "bin the sheet"))
    keep = _topic("keep", "Paperwork to keep", "Keep the paperwork that travels with the item.",
                  asks=("which paperwork stays with the item", "do I hold on to the slip"))
    engine = AnswerEngine([discard, keep])
    assert engine._intent is not None
    # "paperwork" is all the words give: lexically "keep" comes first (its title says paperwork); the
    # meaning of "dump" / "chuck out" puts "discard" first
    for q in ("dump the paperwork", "chuck out the paperwork"):
        assert engine.ask(q).hits[0].topic.id == "discard", q
    monkeypatch.setattr(semantic, "model_files", lambda: None)
    assert AnswerEngine([discard, keep]).ask("dump the paperwork").hits[0].topic.id == "keep"
    assert not engine.ask("rubbish").hits  # meaning alone never answers: no word is shared


def test_without_the_token_vectors_answers_are_lexical(monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(semantic, "model_files", lambda: None)
    caplog.set_level(logging.INFO)
    engine = AnswerEngine([_topic("a", "Receiving", "Scan the item.", asks=("book came in",)),
                           _topic("b", "Returning", "Send it back.", asks=("send the book home",))])
    assert engine._intent is None
    assert engine.ask("receiving").hits[0].topic.id == "a"
    assert "semantic ranking off" in caplog.text


def test_a_pickled_engine_answers_the_same(engine: AnswerEngine) -> None:
    """The answer index is cached as a pickle: the model comes back without its open file and reopens it."""
    again = pickle.loads(pickle.dumps(engine))
    for q in ("can we toss the old slip", "book came in what now", "partner not in the rota"):
        assert [h.topic.id for h in again.ask(q).hits] == [h.topic.id for h in engine.ask(q).hits]
        assert again._meaning(q)[0] == pytest.approx(engine._meaning(q)[0])


def test_any_text_is_tokenized_quickly_and_without_error() -> None:
    """Undecodable command-line bytes arrive as lone surrogates; a pasted URL is one 4,000-character word. Byte
    pairs merge in quadratic time, so a question's first 100 words, each cut at 40 characters, are read."""
    files = semantic.model_files()
    assert files is not None
    emb = semantic.Embedder(*files)
    assert emb.ids("renew \udcff loan")  # no UnicodeEncodeError
    assert len(emb.ids("a" * 10_000)) <= semantic.MAX_WORD_CHARS
    assert len(emb.ids("word " * 5_000)) <= semantic.MAX_WORDS * 2
    assert emb.ids("toss▁it") == emb.ids("toss it")


def _package_copy(tmp_path: Path, damage: str) -> tuple[Path, Path]:
    files = semantic.model_files()
    assert files is not None
    weights, tokenizer = tmp_path / "w.safetensors", tmp_path / "t.json"
    shutil.copyfile(files[1], tokenizer)
    data = files[0].read_bytes()
    if damage == "empty":
        data = b""
    elif damage == "header":
        data = b"\xff" * 8 + data[8:]
    elif damage == "short":
        data = data[: len(data) // 2]
    weights.write_bytes(data)
    return weights, tokenizer


@pytest.mark.parametrize("damage", ["empty", "header", "short"])
def test_damaged_vectors_cost_meaning_never_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture, damage: str) -> None:
    files = _package_copy(tmp_path, damage)
    monkeypatch.setattr(semantic, "model_files", lambda: files)
    semantic._embedder.cache_clear()
    engine = AnswerEngine([_topic("a", "Receiving", "Scan the item.", asks=("book came in",)),
                           _topic("b", "Returning", "Send it back.", asks=("send the book home",))])
    semantic._embedder.cache_clear()
    assert engine._intent is None and "semantic ranking off" in caplog.text
    assert engine.ask("receiving").hits[0].topic.id == "a"


def test_vectors_replaced_after_the_index_was_built_are_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    """An upgrade of the vectors' package while a cached index is in use: the file is not the one the model
    learnt from, so it answers lexically (and says so) instead of reading other vectors or failing."""
    files = _package_copy(tmp_path, "none")
    monkeypatch.setattr(semantic, "model_files", lambda: files)
    semantic._embedder.cache_clear()
    topics = [_topic("a", "Receiving", "Scan the item.", asks=("book came in",)),
              _topic("b", "Returning", "Send it back.", asks=("send the book home",))]
    engine = pickle.loads(pickle.dumps(AnswerEngine(topics)))  # as a new process loads the cached index
    semantic._embedder.cache_clear()
    assert engine._intent is not None
    files[0].write_bytes(files[0].read_bytes()[:-512])  # a different file
    assert engine.ask("receiving the book").hits[0].topic.id == "a"
    assert engine._intent is None and "changed since the answer index was built" in caplog.text


def test_meaning_never_lifts_a_shipped_topic_above_the_librarys_own_section() -> None:
    """With the library's pages indexed beside the shipped topics, the model (which knows only the shipped
    ones) may hold a shipped topic back but never push it past a section of the library's own pages."""
    shipped = _topic("reuse", "Reusing pull slips", "Old pull slips go in the recycling.",
                     asks=("can we use yesterday's pull slips", "reuse old slips", "print slips again?"))
    other = _topic("keep", "Slips to keep", "Keep the slip that travels with the book.",
                   asks=("which slip stays in the book", "hold on to the slip"))
    local = Topic(id="ours#pull-slips", title="Pull slips", kind="reference", roles=(), keywords=(), related=(),
                  path="ours.html", line=1, origin="docs", body="Our pull slips are printed each morning; "
                  "reuse old slips only for scrap paper.")
    engine = AnswerEngine([shipped, other, local])
    assert engine._intent is not None
    for q in ("can i reuse old slips", "reuse yesterday's pull slips", "old pull slips"):
        lexical = dict(engine._top(engine._query_words(q), 3))
        with_meaning = dict(engine._top(engine._query_words(q), 3, q))
        assert with_meaning[2] == pytest.approx(lexical[2])  # the library's section keeps its score
        for d in (0, 1):
            assert with_meaning.get(d, 0.0) <= lexical.get(d, 0.0) + 1e-9  # shipped ones only held back


def _section(sid: str, title: str, body: str) -> Topic:
    return Topic(id=f"ours#{sid}", title=title, kind="reference", roles=(), keywords=(), related=(),
                 path="ours.html", line=1, origin="docs", body=body)


LOCAL = [
    _section("damaged", "Damaged books", "If a book comes back torn, stained or soaked by rain, tell the lending "
             "library and follow the billing steps."),
    _section("lost", "Lost books", "If a book never comes back or cannot be found on the shelf, tell the lending "
             "library and follow the billing steps."),
]


def test_the_librarys_sections_are_ordered_by_meaning_among_those_the_words_match(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The library's pages have no phrasings to learn from: a section is compared with the question directly.
    Here the words tie ("book" is in both sections); the meaning decides."""
    engine = AnswerEngine(LOCAL)
    assert engine._sections is not None
    for q, right in (("book is missing, nobody can locate it", "ours#lost"),
                     ("the book came back all ripped and wet", "ours#damaged")):
        qw = engine._query_words(q)
        lexical = dict(engine._top(qw, 2))
        assert lexical[0] == pytest.approx(lexical[1])  # a tie for the words alone
        assert engine.ask(q).hits[0].topic.id == right, q
        with_meaning = dict(engine._top(qw, 2, q))
        best = engine.topics.index(engine.by_id[right])
        assert with_meaning[best] == pytest.approx(lexical[best])  # the closest in meaning keeps its score
        assert with_meaning[1 - best] < lexical[1 - best]  # the other is held back
    assert engine.ask("how do I renew a parking permit").hits == ()  # no shared word, no candidate
    monkeypatch.setattr(semantic, "model_files", lambda: None)
    semantic._embedder.cache_clear()
    plain = AnswerEngine(LOCAL)
    assert plain._sections is None
    assert [h.topic.id for h in plain.ask("book is missing, nobody can locate it").hits] == ["ours#damaged", "ours#lost"]


def test_section_meaning_survives_the_cached_index_and_a_damaged_file_costs_only_meaning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    real = semantic.model_files()
    assert real is not None
    files = (tmp_path / "w.safetensors", tmp_path / "t.json")
    shutil.copyfile(real[0], files[0])
    shutil.copyfile(real[1], files[1])
    monkeypatch.setattr(semantic, "model_files", lambda: files)
    semantic._embedder.cache_clear()
    built = pickle.dumps(AnswerEngine(LOCAL))
    q = "book is missing, nobody can locate it"
    semantic._embedder.cache_clear()
    engine = pickle.loads(built)  # as a new process loads the cached index
    assert engine._sections is not None and engine.ask(q).hits[0].topic.id == "ours#lost"
    new = tmp_path / "new.safetensors"
    new.write_bytes(files[0].read_bytes()[:-512])
    new.replace(files[0])  # an upgrade puts a different file in its place
    semantic._embedder.cache_clear()
    engine = pickle.loads(built)  # the next process
    with caplog.at_level(logging.WARNING):
        assert [h.topic.id for h in engine.ask(q).hits] == ["ours#damaged", "ours#lost"]  # words alone
    assert engine._sections is None and "changed since the answer index was built" in caplog.text


DESK = [
    _section("receive", "Receiving a borrowed book", "When a courier bag arrives, open it and check each book against "
             "the paperwork.\n1. Go to Receive Items in the Resource Sharing menu.\n2. Scan the barcode printed on "
             "the partner's slip.\n3. Put the book on the hold shelf.\nThe patron is emailed once the book is received."),
    _section("return", "Returning a borrowed book to its owner", "When the patron brings the book back, check it in, "
             "then use Return Items to send it home.\n1. Scan the book in Return Items.\n2. Pack it for the courier."),
    _section("wrong", "Wrong book received", "If the book in the bag is not the one the patron asked for, do not "
             "receive it. Contact the lender by email and send the book back with a note."),
    _section("ship", "Shipping loaned items", "1. Scan the item barcode in Ship Item.\n2. Wrap the book in a padded "
             "envelope or a courier bag.\n3. Put the package in the courier bin by the loading dock before 2pm."),
]


@pytest.mark.parametrize("question", ["book came in", "the courier bag just showed up", "omg the book came in what now",
                                      "a bag came from the courier"])
def test_meaning_never_puts_first_a_section_whose_words_explain_the_question_clearly_less(question: str) -> None:
    """'came in' / 'showed up' is receiving: the receive section explains every word. Meaning may reorder
    sections that explain the question about as well, never lift one that explains it clearly less (the
    shipping section is about courier bags too)."""
    engine = AnswerEngine(DESK)
    assert engine._sections is not None
    res = engine.ask(question)
    assert res.hits[0].topic.id == "ours#receive" and res.answered, [(h.topic.id, h.coverage) for h in res.hits]
