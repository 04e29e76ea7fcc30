"""The intent model (bot/core/semantic.py): the model's own tokenization, what it learns, how it joins the
lexical ranking, and that answering works without it."""

from __future__ import annotations

import logging
import pickle

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
    assert model.probabilities("🙂") == {} or sum(model.probabilities("🙂").values()) == pytest.approx(1.0)


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
        assert again._semantic(q) == pytest.approx(engine._semantic(q))
