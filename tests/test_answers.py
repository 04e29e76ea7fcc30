from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from bot.core import answers, kb
from bot.core.answers import (
    ASKS_CREDIT,
    DEFAULT_THRESHOLD,
    ELSEWHERE_DOCS_CLEAR,
    ELSEWHERE_GATE,
    SHORT_THRESHOLD,
    AnswerEngine,
    Result,
)
from bot.core.evaluate import evaluate, read_items
from bot.core.kb import Section, Topic
from bot.core.textnorm import stem
from tests.conftest import DATA, SHARED, shared_file


def test_dev_questions_meet_the_bar(engine: AnswerEngine) -> None:
    items = read_items(shared_file("eval", "dev-questions.jsonl"))
    rep = evaluate(lambda q: engine.ask(q, top=10), items)
    assert rep.top1 >= 0.90, rep.misses
    assert rep.recall_at_3 >= 0.97, rep.misses
    assert rep.abstained_oos >= 4
    assert rep.facts_at_1 >= 0.9


@pytest.mark.parametrize("name", ["paraphrases.jsonl", "paraphrases2.jsonl", "paraphrases3.jsonl"])
def test_unseen_staff_phrasings(engine: AnswerEngine, name: str) -> None:
    """Our own phrasings (typos, abbreviations, casual wording), written apart from knowledge/ and kept as
    regression sets; their wording is never copied into the knowledge files."""
    rep = evaluate(lambda q: engine.ask(q, top=10), read_items(DATA / name))
    assert rep.top1 >= 0.9, rep.misses
    assert rep.recall_at_3 >= 0.97, rep.misses
    assert rep.abstention_oos == 1.0, rep.misses
    # a long, rambling question may abstain (it still gets the three closest topics), but not answer wrongly
    assert rep.abstained_in_scope <= 3 and rep.answered_wrong <= 1, rep.misses


def test_a_real_word_the_docs_lack_is_not_taken_for_a_typo(engine: AnswerEngine) -> None:
    """"snow" is not a misspelt "show": an ordinary English word the documentation never uses stays unknown
    (and so counts against confidence), while misspellings are still corrected."""
    assert engine._correct("snow") is None and engine._correct("kicking") is None
    assert engine._correct("recieve") is not None and engine._correct("itmes") is not None
    assert not engine.ask("is the library closed tomorrow because of the snow").answered


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        ("how do I recieve a borowed book", "borrow-receive"),  # typos
        ("TOU in list for a new partner", "partner-add-tou"),  # abbreviation
        ("FU for the temp locations", "config-temp-locations"),
        ("ext id", "faq-external-identifier"),
        ("expiry job 2am", "config-expiry-job"),
        ("SUNY NZ partner change", "suny-nz-partners"),
    ],
)
def test_staff_shorthand(engine: AnswerEngine, question: str, topic: str) -> None:
    res = engine.ask(question)
    assert res.hits[0].topic.id == topic, [h.topic.id for h in res.hits]


@pytest.mark.parametrize("question", ["how do I book a study room", "what's the wifi password",
                                      "who won the game last night", "", "   ?!  "])
def test_out_of_scope_abstains(engine: AnswerEngine, question: str) -> None:
    res = engine.ask(question)
    assert not res.answered
    assert len(res.hits) <= 3


def test_answer_is_the_relevant_part_not_the_file(engine: AnswerEngine) -> None:
    best = engine.ask("how do I return a borrowed item to the lender").hits[0]
    assert best.topic.id == "borrow-return"
    assert "1. Open Fulfillment > Checkout/Checkin > Return Items." in best.answer
    assert "---" not in best.answer and "keywords" not in best.answer
    ref = engine.ask("how do I get a SUNY partner profile changed").hits[0]
    assert ref.topic.id == "suny-nz-partners"
    assert "servicedesk@wrlc.org" in ref.answer
    assert "Salesforce" not in ref.answer  # the background section is not the answer to this question


def test_a_two_word_question_with_one_word_unexplained_abstains() -> None:
    """"lost and found": the rarer word alone explains more than half of a two-word question, so a short
    question needs SHORT_THRESHOLD; with a third word the topic explains, the usual threshold holds again."""
    topics = [_topic("lost", "Lost items", "Mark a lost item as Lost in Alma and bill the fee."),
              _topic("found", "Found books", "A book found on the shelf after all is checked in as usual."),
              _topic("found2", "Shelf check", "An item found on the wrong shelf goes back to its place."),
              _topic("other", "Receiving", "Scan the item and print the receive slip for the hold shelf.")]
    eng = AnswerEngine(topics)
    short = eng.ask("lost and found")
    assert short.hits[0].topic.id == "lost"
    assert DEFAULT_THRESHOLD <= short.confidence < SHORT_THRESHOLD and not short.answered
    longer = eng.ask("lost and found fee")
    assert longer.hits[0].topic.id == "lost" and longer.confidence < 1.0 and longer.answered
    assert eng.ask("lost item").answered


FAR_OUT_OF_SCOPE = ("faroos-b.jsonl", "faroos-d.jsonl", "faroos-e.jsonl")


def _answered(ask: Callable[[str], Result], files: Sequence[str]) -> int:
    return sum(1 for f in files for it in read_items(DATA / f) if ask(it.q).answered)


def test_questions_about_something_else_are_not_answered(engine: AnswerEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """430 questions about the building, IT, HR and other library work, written blind and never read (none
    close to one the gate learns from): today 1 is answered, 14 without the gate and the intent floor."""
    with_gate = _answered(engine.ask, FAR_OUT_OF_SCOPE)
    monkeypatch.setattr(answers, "ELSEWHERE_GATE", 1.0)
    monkeypatch.setattr(answers, "INTENT_FLOOR", 0.0)
    without = _answered(engine.ask, FAR_OUT_OF_SCOPE)
    assert with_gate <= 3 and without - with_gate >= 10, (with_gate, without)


def test_the_elsewhere_gate_holds_back_an_everyday_question_but_not_a_shared_phrase(
        engine: AnswerEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    everyday = "the policy on personal use of work email"  # "personal", "email", "policy" all in the benefits page
    screen = "what do I enter on the receiving items screen"  # Alma's acquisitions has a receiving screen too
    for q in (everyday, screen):
        assert engine._meaning(engine._spelled(q))[2] > ELSEWHERE_GATE, q
    assert not engine.ask(everyday).answered
    got = engine.ask(screen)
    assert got.answered and got.hits[0].topic.id == "borrow-receive"  # "receiving items" is the topic's phrase
    monkeypatch.setattr(answers, "ELSEWHERE_GATE", 1.0)
    monkeypatch.setattr(answers, "INTENT_FLOOR", 0.0)
    assert engine.ask(everyday).answered  # the words alone would have answered it


def test_a_library_section_that_explains_the_question_is_not_held_back_as_everyday() -> None:
    """The library's own pages say what is in scope: a section is held back as "about something else" only
    when it also explains little of the question (below ELSEWHERE_DOCS_CLEAR)."""
    page = [Topic(id=f"desk#{k}", title=title, kind="reference", roles=(), keywords=(), related=(), path="desk.html",
                  line=1, origin="docs", body=body)
            for k, (title, body) in enumerate([
                ("Parking", "Staff park in lot C; the permit office issues a parking permit for the term."),
                ("Receiving", "Scan the External Identifier in Receiving Items and print the receive slip.")])]
    shipped = kb.load_dir(kb.default_dir())
    eng = AnswerEngine(page, domain=shipped)
    q = "where do staff get a parking permit"
    got = eng.ask(q)
    assert eng._meaning(eng._spelled(q))[2] > ELSEWHERE_GATE  # it reads like everything else staff ask
    assert got.answered and got.hits[0].topic.id == "desk#0" and got.confidence >= ELSEWHERE_DOCS_CLEAR
    assert AnswerEngine(shipped).ask(q).answered is False  # from the shipped topics alone: not P2P


def test_a_local_topic_the_gate_never_learnt_sets_its_own_scope(engine: AnswerEngine) -> None:
    """A topic of P2PBOT_EXTRA_KNOWLEDGE without phrasings is not one of the gate's classes: like the
    library's pages it is held back only when it explains little of the question."""
    local = _topic("local-courier", "Courier and UPS pickup for outgoing P2P packages",
                   "Bring the boxes for UPS to the loading dock by 2 pm; the courier picks up the outgoing boxes.")
    eng = AnswerEngine([*engine.topics, local])
    q = "where do I bring the boxes for UPS"
    assert eng._meaning(eng._spelled(q))[2] > ELSEWHERE_GATE
    got = eng.ask(q)
    assert got.hits[0].topic.id == "local-courier" and got.answered


def test_a_failed_gate_is_tried_again_by_the_next_engine(engine: AnswerEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.core import semantic

    topics = [dataclasses.replace(t, asks=(*t.asks, "a phrasing only this test uses")) if k == 0 else t
              for k, t in enumerate(engine.topics)]  # examples no cached gate was trained on
    real = semantic.IntentModel.train
    calls = {"n": 0}

    def flaky(examples, files=None):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if any(label == answers.ELSEWHERE_CLASS for label, _ in examples):
            raise OSError("vectors file unreadable")
        return real(examples, files)

    monkeypatch.setattr(semantic.IntentModel, "train", staticmethod(flaky))
    assert AnswerEngine(topics)._gate is None
    monkeypatch.setattr(semantic.IntentModel, "train", staticmethod(real))
    assert AnswerEngine(topics)._gate is not None


def test_how_a_question_is_typed_does_not_make_it_everyday(engine: AnswerEngine) -> None:
    for q in ("ＲＥＣＥＩＶＥ book", "RECEIVE BOOK", "receive book"):
        got = engine.ask(q)
        assert got.answered and got.hits[0].topic.id == "borrow-receive", q
        assert engine._meaning(engine._spelled(q))[2] < ELSEWHERE_GATE, q
    # lower-case, but the domain's abbreviations in capitals: ILL is interlibrary loan, not being ill
    assert answers._gate_text("Days we don't do ill or RS") == "days we don't do ILL or RS"
    got = engine.ask("days we don't do ILL")
    assert got.answered and got.hits[0].topic.id == "partner-check-configs"


def test_a_library_section_sharing_a_phrase_in_its_text_is_not_held_back() -> None:
    page = [Topic(id="desk#hours", title="Hours and coverage", kind="reference", roles=(), keywords=(), related=(),
                  path="desk.html", line=1, origin="docs",
                  body="The RS office is open 8 to 5 on weekdays. Student workers cover the desk at lunch."),
            Topic(id="desk#receive", title="Receiving", kind="reference", roles=(), keywords=(), related=(),
                  path="desk.html", line=1, origin="docs",
                  body="Scan the External Identifier in Receiving Items and print the receive slip.")]
    eng = AnswerEngine(page, domain=kb.load_dir(kb.default_dir()))
    q = "what hours is the RS office open on a saturday"
    got = eng.ask(q)
    assert eng._meaning(eng._spelled(q))[2] > ELSEWHERE_GATE and got.confidence < ELSEWHERE_DOCS_CLEAR
    assert got.hits[0].topic.id == "desk#hours" and got.answered  # "office open" is a phrase of its text


def test_the_everyday_questions_the_gate_learns_from_are_not_evaluation_questions() -> None:
    """bot/core/elsewhere.py is written for the gate: none of its questions is (nearly) one of the dev
    sample's or of the far-out-of-scope sets the gate is measured on."""
    from rapidfuzz import fuzz

    from bot.core.elsewhere import ELSEWHERE

    measured = [it.q.lower() for f in FAR_OUT_OF_SCOPE for it in read_items(DATA / f)]
    dev = SHARED / "eval" / "dev-questions.jsonl"
    if dev.exists():  # without ../shared the far-out-of-scope sets are still checked
        measured += [it.q.lower() for it in read_items(dev)]
    close = [(q, m) for q in ELSEWHERE for m in measured if fuzz.ratio(q.lower(), m) >= 85]
    assert not close and len(ELSEWHERE) >= 500


def test_meaning_vouches_for_a_casually_worded_question(engine: AnswerEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Words explain this question only partly ("really necessary"), but it reads as P2P and the intent model
    is sure of its topic: it is answered. Without that vouching it would be held back."""
    q = "is quick printing really necessary?"
    got = engine.ask(q)
    assert got.confidence < DEFAULT_THRESHOLD and got.answered and got.hits[0].topic.id == "faq-quick-printing"
    monkeypatch.setattr(answers, "RESCUE_INTENT", 1.01)
    assert engine.ask(q).answered is False


def _docs_engine(tmp_path: Path, folder: Path) -> AnswerEngine:
    from bot.core.docs.catalog import index_now, load_engine
    from bot.edges.settings import Settings
    from bot.edges.store import Store

    empty = tmp_path / "empty-knowledge"
    empty.mkdir()
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'docs.sqlite3'}", knowledge_dir=str(empty),
                        docs=(str(folder),), cache_dir=str(tmp_path / "cache"))
    store = Store(settings.database_url)
    try:
        index_now(settings, store)
        return load_engine(settings, lambda: store, use_cache=False)
    finally:
        store.close()


def test_meaning_vouches_for_a_library_section_but_not_for_an_everyday_question(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On the library's own pages the section's meaning vector must be close to the question's: a casual
    question about temporary items is answered from the page that explains them; "run a job to withdraw
    items" explains as much of itself in words, reads as in the domain to the gate ("job", "items"), and is
    still held back because no section means what it asks."""
    eng = _docs_engine(tmp_path, DATA / "otherdocs4")
    q = "borrowed items keep getting the wrong item policy, like the temp item rule isnt firing. ideas?"
    got = eng.ask(q)
    assert answers.RESCUE_COVERAGE <= got.confidence < DEFAULT_THRESHOLD and got.answered
    assert "Temporary Item Creation" in got.hits[0].answer
    monkeypatch.setattr(answers, "RESCUE_SIMILARITY", 1.01)
    assert eng.ask(q).answered is False
    monkeypatch.setattr(answers, "RESCUE_SIMILARITY", 0.35)
    other = "run a job to withdraw items"
    held = eng.ask(other)
    assert held.confidence >= answers.RESCUE_COVERAGE and held.answered is False


def test_beside_the_librarys_pages_a_shipped_topic_needs_meaning_close_to_the_question_too(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Review R15: the intent model is sure "the benefits of the staff wellness program" is about P2P's
    benefits (0.98), but the topic means something else: with meaning vectors at hand (the library's pages
    indexed beside the shipped topics) the rescue asks them too."""
    page = [Topic(id="desk#0", title="Receiving", kind="reference", roles=(), keywords=(), related=(), path="desk.html",
                  line=1, origin="docs", body="Scan the External Identifier in Receiving Items and print the receive slip.")]
    eng = AnswerEngine([*kb.load_dir(kb.default_dir()), *page])
    q = "what are the benefits of the staff wellness program"
    monkeypatch.setattr(answers, "RESCUE_COVERAGE", 0.3)  # (its words explain 0.38 of it here, 0.40 beside the seed)
    monkeypatch.setattr(answers, "RESCUE_ELSEWHERE", 1.0)
    got = eng.ask(q)
    assert got.hits[0].topic.id == "p2p-benefits" and 0.3 <= got.confidence < DEFAULT_THRESHOLD
    assert got.answered is False
    monkeypatch.setattr(answers, "RESCUE_SIMILARITY", -1.0)
    assert eng.ask(q).answered is True  # what holds it back is the meaning vectors, not the intent model


def test_abstaining_still_offers_three_suggestions(engine: AnswerEngine) -> None:
    res = engine.ask("slip printer")
    assert len(res.hits) == 3
    data = res.to_json()
    assert set(data) == {"query", "answered", "results"}
    assert set(data["results"][0]) == {"id", "title", "score", "source", "answer"}  # type: ignore[index]


def _topic(tid: str, title: str, body: str, asks: tuple[str, ...] = ()) -> Topic:
    return Topic(id=tid, title=title, kind="reference", roles=(), keywords=(), related=(), path=f"{tid}.md",
                 line=1, intro=body, asks=asks)


def test_alternate_phrasings_find_a_topic_but_lend_only_a_third_of_their_confidence() -> None:
    """A casual word found only in a topic's ``asks`` (never in its text) leads to that topic, while it counts
    a third (``ASKS_CREDIT``) towards confidence: our phrasings must not make an out-of-scope question look
    answered."""
    plain = [_topic("discard", "Discarding old slips", "Recycle the lending slip once the item is checked in."),
             _topic("receive", "Receiving a borrowed item", "Scan the item and print the hold slip.")]
    with_asks = [dataclasses.replace(plain[0], asks=("can we toss the paperwork",)), plain[1]]
    assert not AnswerEngine(plain).ask("toss paperwork").hits  # nothing in the text says toss
    eng = AnswerEngine(with_asks)
    res = eng.ask("toss paperwork")
    assert res.hits[0].topic.id == "discard"
    assert res.confidence == pytest.approx(ASKS_CREDIT)  # both words found only in the phrasing
    in_text = AnswerEngine([_topic("discard", "Discarding", "toss the paperwork"), plain[1]])
    assert in_text.ask("toss paperwork").confidence == pytest.approx(1.0)


def test_near_misses_abstain_and_their_neighbours_answer(engine: AnswerEngine) -> None:
    """Questions that use the documentation's words for what it does not cover (a shipping label, a
    replacement fee, renewing in Primo) beside close questions it does answer; written apart from
    knowledge/ and used to tune abstention, so held to thresholds a little below today's (51/60, 40/40)."""
    rep = evaluate(lambda q: engine.ask(q, top=10), read_items(DATA / "nearmiss.jsonl"))
    assert rep.out_of_scope == 60 and rep.abstained_oos >= 48, rep.misses
    assert rep.top1 >= 0.95 and rep.abstained_in_scope <= 2, rep.misses


def test_held_out_phrasings_whose_misses_were_read(engine: AnswerEngine) -> None:
    rep = evaluate(lambda q: engine.ask(q, top=10), read_items(DATA / "heldout-dev.jsonl"))
    assert rep.top1 >= 0.95 and rep.recall_at_3 >= 0.99 and rep.abstention_oos == 1.0, rep.misses


def test_alternate_phrasings_are_never_shown(engine: AnswerEngine) -> None:
    """Phrasings are searched, never shown: not in the answer, the Slack message (blocks and fallback text)
    or the terminal chat's text, whether the bot answers or offers three suggestions."""
    import json

    from bot.frontends.blocks import answer_message
    from bot.frontends.text import answer_text as chat_text

    for topic in engine.topics:
        for q in (*topic.asks[:3], "what about " + topic.asks[0] if topic.asks else ""):
            if not q:
                continue
            res = engine.ask(q, top=10)
            msg = answer_message(res, "(question)")
            shown = " ".join([*(h.answer for h in res.hits), json.dumps(msg.blocks), msg.text, chat_text(res)])
            for hit in res.hits:
                leaked = [a for a in hit.topic.asks if len(a.split()) > 3 and a in shown]
                assert not leaked, (hit.topic.id, leaked)


@pytest.mark.parametrize("question", ["how do I return a p2p book", "return book", "returning a p2p book"])
def test_returning_a_book_is_the_return_procedure(engine: AnswerEngine, question: str) -> None:
    """From a hostile review: one phrasing of the wrong-barcode FAQ ("... when I return a book") gave it the
    rare phrase "return book" and the top place. A phrase only the phrasings hold now scores a third."""
    assert engine.ask(question).hits[0].topic.id == "borrow-return"


def test_phrasings_do_not_join_words_from_unrelated_sections() -> None:
    """Confidence looks at one section at a time; a phrasing's word that only another section holds stays
    weak there, so a phrasing cannot glue two unrelated sections back together."""
    def topic(asks: tuple[str, ...]) -> Topic:
        return Topic(id="t", title="Lending desk", kind="reference", roles=(), keywords=(), related=(),
                     path="t.md", line=1, asks=asks,
                     sections=(Section("Searching the stacks", "Look on the shelves by call number.", 1),
                               Section("Billing", "Send the invoice to the business office.", 2)))
    other = Topic(id="o", title="Other", kind="reference", roles=(), keywords=(), related=(), path="o.md",
                  line=1, intro="Nothing alike.")
    plain = AnswerEngine([topic(()), other]).ask("shelves invoice")
    glued = AnswerEngine([topic(("who pays the invoice",)), other]).ask("shelves invoice")
    assert plain.hits[0].topic.id == glued.hits[0].topic.id == "t"
    # "invoice" counts a third in the stacks part (before this, the phrasing made it count fully: 1.0)
    assert plain.confidence == pytest.approx(0.5) and plain.confidence < glued.confidence < 0.75


def test_a_word_only_the_phrasings_use_is_still_corrected_towards_the_documentation() -> None:
    doc = _topic("models", "Other lending models", "Consortia borrowing compared with peer lending.")
    hist = _topic("history", "History", "Began in 2020.", asks=("consortial pilot",))
    eng = AnswerEngine([doc, hist])
    (word,) = [q for q in eng._query_words("consortial") if q.word == "consortial"]
    assert set(word.stems) == {stem("consortial"), stem("consortia")}


def test_a_phrase_only_the_phrasings_hold_scores_a_third(monkeypatch: pytest.MonkeyPatch) -> None:
    topics = [_topic("faq", "Wrong barcode", "Scan the item barcode.", asks=("alma says no match when I return a book",)),
              _topic("proc", "Returning", "Return the item to the lender.")]
    weak = dict(AnswerEngine(topics)._postings["return book"])
    monkeypatch.setattr(answers, "ASKS_PHRASE_CREDIT", 1.0)
    full = dict(AnswerEngine(topics)._postings["return book"])
    assert weak[0] == pytest.approx(full[0] * 0.35)


def test_the_plural_of_an_abbreviation_is_the_abbreviation() -> None:
    from bot.core.textnorm import expansions

    assert stem("tous") == stem("tou") and stem("fus") == stem("fu") and stem("psbs") == stem("psb")
    assert "terms" in expansions("tous") and stem("bus") == "bus"  # only known abbreviations lose their s


def test_the_librarys_own_section_comes_before_a_shipped_topic_that_matches_about_as_well() -> None:
    other = _topic("other", "Temporary locations", "Set up the borrowing location.")

    def section(title: str, body: str) -> Topic:
        return Topic(id="ours#slips", title=title, kind="reference", roles=(), keywords=(), related=(),
                     path="ours.md", line=1, origin="docs", body=body)

    q = "printing pull slips in the morning"
    # the shipped topic matches a little better (1.17 against 1.12): the library's own section comes first
    alike = AnswerEngine([_topic("ship", "Pull slips", "Print the pull slips each morning."), other,
                          section("Pull slips", "We print pull slips each morning at the circulation desk.")])
    assert alike.ask(q).hits[0].topic.id == "ours#slips"
    # a shipped topic that matches clearly better still comes first; without docs nothing is weighed
    ship = _topic("ship", "Printing pull slips", "Print the pull slips each morning from the lending task list.")
    unlike = AnswerEngine([ship, other, section("Morning routine", "Print the pull slips each morning at the desk.")])
    assert unlike.ask(q).hits[0].topic.id == "ship"
    assert not AnswerEngine([ship, other])._mixed


def test_chat_words_do_not_count_against_a_question() -> None:
    """'what even is', 'I think', 'dumb q but': how people talk in chat. A chat word the documentation never
    uses is dropped, one it uses counts a third; among enough other words, so does one of the most frequent
    English words the documentation never uses."""
    topics = [_topic("extid", "External identifier", "The external identifier is the partner's request number."),
              _topic("afn", "AFN default location", "AFN libraries already have CLS as their default location.")]
    eng = AnswerEngine(topics)
    plain, chatty = eng.ask("what is the external identifier"), eng.ask("dumb q but what even is the external identifier lol")
    assert chatty.answered and chatty.hits[0].topic.id == "extid"
    assert chatty.confidence == pytest.approx(plain.confidence)
    # among enough other words, the most frequent English words ("made", "everything") count a third too
    everyday = eng.ask("made everything: what is the external identifier").confidence
    assert everyday > eng.ask("zebra giraffe: what is the external identifier").confidence + 0.15
    got = eng.ask("location already")  # "already" is chat, but this documentation uses it: it still points
    assert got.hits[0].topic.id == "afn"
    words = {q.word: q for q in eng._query_words("we already have a default location")}
    assert words["already"].importance < words["default"].importance


def test_a_short_question_of_frequent_words_is_not_explained_by_one_of_them() -> None:
    """'can I work from home': two words, neither chat; the documentation saying "send it home" does not make
    the question one it answers."""
    eng = AnswerEngine([_topic("ret", "Returning", "Scan the book in Return Items to send it home."),
                        _topic("ship", "Shipping", "Ship the item back to the partner.")])
    assert not eng.ask("can I work from home").answered
    assert not eng.ask("how do I stop getting so many emails").answered


def test_a_pipe_in_a_question_is_a_separator_not_our_alternatives_syntax() -> None:
    eng = AnswerEngine([_topic("rec", "Receiving", "Receive the item in Alma.")])
    assert all(q.group == -1 for q in eng._query_words("xyzzyq|receive"))
    assert not eng.ask("xyzzyq|receive").answered


@pytest.mark.parametrize(("word", "variant"), [("shoud", True), ("yesterdays", True), ("whered", True),
                                               ("form", False), ("printer", False), ("rota", False)])
def test_a_misspelt_or_inflected_stop_word_is_a_stop_word(word: str, variant: bool) -> None:
    from bot.core.textnorm import is_stopword_variant

    assert is_stopword_variant(word) is variant


def test_alternatives_from_a_phrase_are_one_word() -> None:
    """'came in' means arrived or received: a section that says either explains it, and the two alternatives
    do not count as two words the section must both hold."""
    eng = AnswerEngine([_topic("rec", "Receiving", "Receive the item in Alma and print the hold slip."),
                        _topic("ship", "Shipping", "Ship the item back to the partner.")])
    qw = eng._query_words("a book came in")
    assert [q.word for q in qw] == ["book", "arrived", "receive"] and qw[1].group == qw[2].group >= 0
    res = eng.ask("the book came in")
    assert res.hits[0].topic.id == "rec" and res.answered
    assert res.confidence == pytest.approx(eng.ask("the book was received").confidence)  # one word, not two


def test_a_pronoun_contraction_is_not_a_word() -> None:
    """"I'd" is not "ID" (an abbreviation of identifier), "they'll" is no unknown word."""
    from bot.core.textnorm import words

    assert words("I'd say they'll know, we've got the partner's book; it hadn't come") == \
        ["say", "know", "got", "the", "partner", "book", "it", "hadnt", "come"]
    eng = AnswerEngine([_topic("extid", "External identifier", "Type the partner's request number."),
                        _topic("ship", "Shipping", "Pack the book and ship it.")])
    assert [q.word for q in eng._query_words("I'd ship it, they'll wait, hadn't they")] == ["ship", "wait"]


def test_a_framing_word_can_still_be_the_librarys_topic() -> None:
    """'my student worker asked ...' frames most questions, but a library's pages may have a section on what
    student workers may do: the word counts (a third towards confidence) where the documentation uses it."""
    eng = AnswerEngine([
        _topic("students", "What student workers may do", "They may pull books and pack; they may not receive books."),
        _topic("printing", "Nothing printed after receiving books", "Check that Quick Printing is on, then receive the "
               "books again."),
    ])
    assert eng.ask("can the student workers receive books").hits[0].topic.id == "students"
    assert eng.ask("my student worker asked: nothing printed after receiving").hits[0].topic.id == "printing"


def test_how_long_asks_for_a_period_and_a_dropped_chat_word_does_not_make_a_question_longer() -> None:
    eng = AnswerEngine([_topic("loan", "Loan periods", "Partners keep our books for a six week loan period."),
                        _topic("renew", "Renewals", "A lender may refuse a renewal; tell the patron the date.")])
    assert eng.ask("how long").hits == ()  # only the frame: nothing to answer
    assert eng.ask("how long is the loan period").confidence == pytest.approx(eng.ask("loan period").confidence)
    # "hmm" is dropped; the question is as short as without it, so "said" (frequent, unknown) counts in full
    assert eng.ask("hmm lender said no to the renewal").confidence == pytest.approx(
        eng.ask("lender said no to the renewal").confidence)


def test_an_abbreviation_the_documentation_spells_out_counts_as_its_word() -> None:
    """A library's pages say "Temporary" and "Circulation"; staff type "temp" and "circ". The spelled-out
    word explains the abbreviation fully (so a clear question is answered), while a synonym ("stuck" for
    expiry) stays a hint."""
    from bot.core.docs import readers
    from bot.core.docs.sections import topics_for

    page = readers.read_markdown("codes.md", (
        "# Codes\n\n## Temporary locations\n\nBorrowed books go to the temporary location P2PBORR; lent books to "
        "P2PLEND.\n\n## Circulation desk hours\n\nThe circulation desk is staffed from 8:30 to 4:30.\n\n"
        "## Courier\n\nThe courier comes on Tuesday and Thursday.\n"))
    engine = AnswerEngine(topics_for(page, "codes", "codes.md", "/codes.md"))
    res = engine.ask("temp location codes?")
    assert res.hits[0].topic.title == "Temporary locations" and res.confidence >= 0.9 and res.answered
    assert engine.ask("circ hours").hits[0].topic.title == "Circulation desk hours"
    (word,) = [q for q in engine._query_words("temp") if q.word == "temp"]
    assert word.stems == {stem("temporary"): answers.ABBREVIATION_WEIGHT}
    (hint,) = [q for q in AnswerEngine(topics_for(readers.read_markdown("e.md", "# Expiry\n\nThe expiry job runs."),
                                                  "e", "e.md", "/e.md"))._query_words("stuck") if q.word == "stuck"]
    assert hint.stems == {stem("expiry"): answers.EXPANSION_WEIGHT}


def test_chat_spellings_go_but_short_names_stay() -> None:
    """'thru' and 'tho' are how a question is typed; 'BC' or 'UR' may be a partner (Boston College, Rochester)."""
    from bot.core.textnorm import content_words, prepare

    assert content_words(prepare("can a community borrower request thru P2P tho")) == [
        "community", "borrower", "request", "p2p"]
    assert content_words(prepare("which bin for BC or UR loans")) == ["bin", "bc", "ur", "loans"]
    assert prepare("pickup at 1:30PM, drop-off 9am") == "pickup at 1:30 pm, drop-off 9 am"


def test_full_width_letters_are_the_letters_they_stand_for(engine: AnswerEngine) -> None:
    """Review R15: "ＰＵＬＬ ＳＬＩＰＳ ｐｒｉｎｔ ｗｅｅｄｉｎｇ project" kept only "project" and was answered at full
    confidence; its words are read as the ASCII ones."""
    wide, plain = "ｐｕｌｌ ｓｌｉｐｓ ｆｏｒ ｐ２ｐ ｌｅｎｄｉｎｇ", "pull slips for p2p lending"
    assert [q.word for q in engine._query_words(wide)] == [q.word for q in engine._query_words(plain)]
    got = engine.ask(wide)
    assert got.answered and got.hits[0].topic.id == engine.ask(plain).hits[0].topic.id == "lend-pull-ship"
    assert engine.ask("ＰＵＬＬ ＳＬＩＰＳ ｐｒｉｎｔ ｗｅｅｄｉｎｇ project").confidence < 1.0


def test_a_group_of_alternatives_starts_where_a_word_starts() -> None:
    """Review R15: tried at every letter of a long word, the pattern rescanned the rest of it (a question of
    one 100,000-letter word took 93 s); it now starts only at a word's start, and a text without "|" has none."""
    from bot.core import textnorm

    assert textnorm._ALTERNATIVES.search("abc|def", 1) is None
    assert textnorm._ALTERNATIVES.search("abc|def").group() == "abc|def"  # type: ignore[union-attr]
    assert textnorm.alternatives("x" * 100_000) == {}
    assert textnorm.alternatives("arrived|receive today") == {"arrived": ["receive"]}


@pytest.mark.parametrize("question", ["Who is my partner for the school project?", "who do I ask about requesting time off"])
def test_words_alone_do_not_answer_what_the_intent_model_rules_out(
        engine: AnswerEngine, monkeypatch: pytest.MonkeyPatch, question: str) -> None:
    """Every word of these is in a shipped topic (the migration project's partners and schools; a partner
    profile's requests), but the topic's phrasings say nothing of the kind: below INTENT_FLOOR the bot offers
    suggestions instead of answering (review R16 found the first; heldout7 held the second)."""
    got = engine.ask(question)
    assert got.hits and got.answered is False
    monkeypatch.setattr(answers, "INTENT_FLOOR", 0.0)
    assert engine.ask(question).answered is True  # the words alone would have answered


def test_benchmark_question_files_name_shipped_topics() -> None:
    """Every held-out question the benchmark scores names a topic that exists (a misspelt label would count as
    a miss nobody could fix) and every line parses; the blind sets keep their size."""
    known = {t.id for t in kb.load_dir()}
    files = sorted(DATA.glob("heldout*.jsonl"))
    assert len(files) >= 15
    for path in files:
        items = read_items(path)
        assert len(items) >= 100, path.name
        bad = sorted({tid for it in items for tid in it.topics} - known)
        assert not bad, f"{path.name}: unknown topic ids {bad}"
        assert sum(1 for it in items if not it.topics) >= 10, path.name  # each has out-of-scope questions


@pytest.mark.parametrize(("question", "topic"), [
    ("walk me thru receiving a p2p book", "borrow-receive"),
    ("walk me through returning a book to the lender", "borrow-return"),
    ("walk me through setting up my voicemail", None),
    ("take me through onboarding a new hire", None),
])
def test_walk_me_through_asks_for_steps(engine: AnswerEngine, question: str, topic: str | None) -> None:
    """Review V11: "walk me thru …" was held back (the meaning model read "walk" as a stroll)."""
    res = engine.ask(question)
    assert res.answered is (topic is not None)
    if topic:
        assert res.hits[0].topic.id == topic


def test_walk_me_through_answers_no_everyday_question_the_question_alone_does_not(engine: AnswerEngine) -> None:
    """The request says nothing of the subject: put in front of the 430 everyday questions, it makes none of
    them answered that was not (as "steps" it counted as explained for every procedure)."""
    for name in FAR_OUT_OF_SCOPE:
        for it in read_items(DATA / name):
            asked = "walk me through " + it.q[:1].lower() + it.q[1:]
            assert not engine.ask(asked).answered or engine.ask(it.q).answered, asked
