"""The answer engine: ranks knowledge topics for short staff questions and decides when to abstain.

Scoring is BM25F over weighted fields (title, keywords, FAQ question, headings, body) with unigram and
bigram terms. Query words are stemmed; unknown words are corrected against the vocabulary with rapidfuzz;
abbreviations and casual synonyms add lighter terms (see :mod:`bot.core.textnorm`).

Confidence is *coverage*: the IDF-weighted share of the question's meaningful words that the best topic
actually contains. An out-of-scope question ("how do I book a study room") shares a word or two with the
documentation but leaves its rare words unexplained, so coverage stays low and the engine abstains,
offering the closest three topics instead of guessing.
"""

from __future__ import annotations

import heapq
import logging
import math
import re
import threading
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from rapidfuzz import process
from rapidfuzz.distance import OSA

from bot.core.definitions import FRAME_WORDS, asked_term, defined_in
from bot.core.elsewhere import ELSEWHERE
from bot.core.kb import Section, Topic
from bot.core.semantic import Embedder, IntentModel, SectionVectors
from bot.core.textnorm import (
    ABBREVIATIONS,
    CHATTER,
    GENERIC,
    STOPWORDS,
    alternatives,
    common_english_words,
    content_words,
    everyday_english_words,
    expansions,
    is_stopword_variant,
    prepare,
    spelled_out,
    stem,
    terms,
    unframed,
    words,
)

log = logging.getLogger(__name__)

# alternate phrasings are ours, not the documentation's: they weigh less than its keywords and text, a
# question word found only there counts about a third towards confidence (an out-of-scope question must not
# borrow coverage from the casual words they add), and a phrase (bigram) only they contain scores a third
ASKS_WEIGHT = 0.35
ASKS_CREDIT = 0.35
ASKS_PHRASE_CREDIT = 0.35
# how much the intent model (bot.core.semantic) weighs, as a share of the best lexical score; chosen on the
# read question sets (0.3-0.5 all help; beyond, it starts to override clear lexical evidence)
SEMANTIC_WEIGHT = 0.4
# the library's own sections have no phrasings to learn from: among the candidates a question's words matched,
# each section is held back by how much less similar in meaning (heading + the start of its text) it is than
# the most similar one, times this share of the best score (chosen on the read documentation sets, 0.5-1.5 all
# help; measured on pages of two libraries and the raw seed), among at least SECTION_POOL candidates
SECTION_WEIGHT = 1.0
SECTION_POOL = 20
SECTION_TEXT = 600
MEANING_COVERAGE_MARGIN = 0.2
CHATTY_FROM = 4
# keywords are phrase lists: one word of "book arrived" is weak evidence, the phrase (a bigram) is strong
FIELD_WEIGHTS: dict[str, float] = {"title": 3.0, "keywords": 1.5, "question": 2.5, "asks": ASKS_WEIGHT,
                                   "headings": 1.5, "body": 1.0}
K1 = 1.6
B = 0.75
# measured on the dev set and our held-out phrasings (about 200 questions): out-of-scope questions reach at
# most 0.52; all but a few long, rambling in-scope questions score 0.55 or more
DEFAULT_THRESHOLD = 0.53
# a question of one or two meaningful words ("lost and found") with one of them unexplained is half unknown:
# the rarer word alone would clear the threshold. Such a question needs this much (measured on the read and
# never-read sets: one far out-of-scope question more abstained, no right answer held back)
SHORT_WORDS = 2
SHORT_THRESHOLD = 0.6
# questions about everything else staff ask (bot.core.elsewhere) are one more class of a second intent model,
# over the shipped topics: a question it gives more than ELSEWHERE_GATE is not answered unless it shares a
# phrase with the best topic (a bigram of its words in the title, keywords, headings or phrasings). Chosen by
# cross-validation over those ~550 questions and measured on 430 more never read (answered: 14 -> 3) and on the
# never-read in-scope sets (no right answer held back). The library's own pages (and a local topic without
# phrasings, which the gate never learnt) set their own scope and are about more everyday matters (postage,
# the mail room, office hours): one of their sections is held back only when it also explains less than
# ELSEWHERE_DOCS_CLEAR of the question and shares no phrase with its text either (on six libraries' pages,
# 430 such questions each: 82 of 2,580 answered -> 48; 2 of 348 right answers held back)
ELSEWHERE_CLASS = -1
ELSEWHERE_GATE = 0.6
ELSEWHERE_DOCS_CLEAR = 0.8
# a question of three or more meaningful words that its best topic explains in words only partly (casual
# wording: "is quick printing really necessary?") is still answered when meaning vouches for both the domain and
# the topic: the gate gives "something else" less than RESCUE_ELSEWHERE, the intent model gives a shipped topic
# at least RESCUE_INTENT and the meaning vector of an indexed section (or, beside the library's pages, of a
# shipped topic) is at least RESCUE_SIMILARITY like the question's, with at least RESCUE_COVERAGE explained.
# Chosen on the read question sets, 300 read everyday questions and a review's 214 hostile ones (everyday
# matters in the domain's words: "schedule a job interview"): shipped, 11 of 710 right answers no longer held
# back, none wrong, 0 of 300 and 4 of 214 answered; the library's pages, 9 of 417 more right answers (5 wrong
# ones, offered before), 0 of 1,800 and 12 of 1,284 answered
RESCUE_COVERAGE = 0.4
RESCUE_ELSEWHERE = 0.03
RESCUE_INTENT = 0.8
RESCUE_SIMILARITY = 0.4
# the other way round: a question the words explain well is still not answered from a shipped topic the intent
# model gives less than INTENT_FLOOR ("Who is my partner for the school project?": every word is in the
# migration topic, whose phrasings say nothing of the kind: 0.04). On the read sets: 2 of 669 right answers held
# back (offered first among the suggestions instead), 4 of 186 out-of-scope answers more abstained
INTENT_FLOOR = 0.05
EXPANSION_WEIGHT = 0.45
ABBREVIATION_WEIGHT = 0.9
BIGRAM_WEIGHT = 1.0
IMPORTANCE_FLOOR = 0.4
GENERIC_WEIGHT = 0.35
# above this many sections, scores are summed in numpy arrays (as bm25s does): the cost of a question then
# grows with the postings it touches, not with Python loops over every matching section
SPARSE_FROM = 10_000
PARENT_WEIGHT = 0.8
# with the library's own documentation indexed beside the shipped topics, a shipped topic's score counts this
# much (measured with three libraries' pages: their own sections then come first as often as with no shipped
# topics at all, and the shipped ones still answer what the pages do not cover)
SHIPPED_BESIDE_DOCS = 0.7
# words that ask for a procedure as such ("steps to return a book"): any procedure explains them
PROCEDURE_WORDS = frozenset("step steps procedure procedures process instructions walkthrough".split())


@dataclass(frozen=True)
class Hit:
    topic: Topic
    score: float
    coverage: float
    answer: str
    section: str


@dataclass(frozen=True)
class Result:
    query: str
    answered: bool
    confidence: float
    hits: tuple[Hit, ...]

    @property
    def best(self) -> Hit | None:
        return self.hits[0] if self.hits else None

    def to_json(self) -> dict[str, object]:
        return {
            "query": self.query,
            "answered": self.answered,
            "results": [
                {"id": h.topic.id, "title": h.topic.title, "score": round(h.score, 3),
                 "source": h.topic.source_label(), "answer": h.answer}
                for h in self.hits
            ],
        }


@dataclass
class _QueryWord:
    word: str
    stems: dict[str, float]  # stem -> how strongly it stands for the word (1 direct, <1 fuzzy/expansion)
    importance: float
    group: int = -1  # words from one phrase's alternatives ("came in" -> arrived, receive) share a group


def _bigrams(stems: Sequence[str]) -> list[str]:
    return [f"{a} {b}" for a, b in pairwise(stems)]


_LETTERS = re.compile(r"[A-Za-z][A-Za-z']*")
_CLAUSE = re.compile(r"[.,;:()!?|\n\[\]\"]+")


def _field_terms(text: str) -> list[str]:
    """Unigrams, plus bigrams that do not cross punctuation ("LOAN, Libraries" is no phrase)."""
    out = terms(text)
    for clause in _CLAUSE.split(text):
        out.extend(_bigrams(terms(clause)))
    return out


class AnswerEngine:
    """An in-memory index over a list of topics. Build once; :meth:`ask` is thread-safe."""

    def __init__(self, topics: Iterable[Topic], threshold: float = DEFAULT_THRESHOLD,
                 domain: Iterable[Topic] | None = None) -> None:
        """``domain``: topics that say what P2P questions look like, for the out-of-scope gate of an index
        without shipped topics of its own (the library's pages alone); by default the engine's own."""
        self.topics: list[Topic] = list(topics)
        self.by_id: dict[str, Topic] = {t.id: t for t in self.topics}
        self.threshold = threshold
        n = len(self.topics)
        field_tf: list[dict[str, dict[str, int]]] = []
        field_len: dict[str, list[int]] = {f: [] for f in FIELD_WEIGHTS}
        self._doc_terms: list[frozenset[str]] = []
        self._asks_only: list[frozenset[str]] = []
        surface: dict[str, str] = {}
        documented: set[str] = set()
        for t in self.topics:
            fields = self._fields(t)
            per_field: dict[str, dict[str, int]] = {}
            all_terms: set[str] = set()
            for f, text in fields.items():
                tf: dict[str, int] = defaultdict(int)
                # phrases matter in the short fields; in long prose bigrams cost memory and add little
                toks = _field_terms(text) if f != "body" else terms(text)
                for term in toks:
                    tf[term] += 1
                per_field[f] = tf
                field_len[f].append(len(toks))
                all_terms.update(tf)
                if f == "asks":  # typos are corrected towards the documentation's words, not our phrasings'
                    continue
                for w in words(text):
                    if w not in STOPWORDS:
                        surface.setdefault(w, stem(w))
            field_tf.append(per_field)
            if t.from_docs:  # where the section sits explains a question too ("... when returning borrowed items")
                all_terms.update(terms(prepare(" . ".join(t.trail))))
            self._doc_terms.append(frozenset(all_terms))
            rest = set().union(*(tf for f, tf in per_field.items() if f != "asks"))
            self._asks_only.append(frozenset(per_field.get("asks", {}).keys() - rest))
            documented.update(rest)
        avg = {f: (sum(v) / len(v) if v and sum(v) else 1.0) for f, v in field_len.items()}
        postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for d, per_field in enumerate(field_tf):
            acc: dict[str, float] = defaultdict(float)
            for f, tf in per_field.items():
                norm = 1 - B + B * (field_len[f][d] / avg[f])
                fw = FIELD_WEIGHTS[f]
                for term, c in tf.items():
                    acc[term] += fw * c / norm
            weak = self._asks_only[d]
            for term, wtf in acc.items():
                sat = wtf / (K1 + wtf)
                if " " in term and term in weak:
                    # a phrase only our phrasings use is rare, so its IDF is high: without this, "alma says no
                    # match when I return a book" made "return book" outrank the return procedure itself
                    sat *= ASKS_PHRASE_CREDIT
                postings[term].append((d, sat))
        self._postings = dict(postings)
        # words only our phrasings use ("consortial"): a question's word may still be a variant or typo of a
        # documented one ("consortia"), so it is also corrected
        self._asks_vocab = frozenset(postings.keys() - documented)
        self._idf = {term: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)) for term, p in postings.items()}
        self._max_idf = math.log(1 + (n + 0.5) / 0.5) if n else 1.0
        # typo candidates by (length, first letter) and (length, first two letters), kept in vocabulary order
        by_first: dict[tuple[int, str], list[tuple[int, str]]] = defaultdict(list)
        by_two: dict[tuple[int, str], list[tuple[int, str]]] = defaultdict(list)
        for k, w in enumerate(surface):
            by_first[(len(w), w[0])].append((k, w))
            if len(w) > 1:
                by_two[(len(w), w[:2])].append((k, w))
        # ordinary English words the documentation never uses: unknown words, never typos of known ones
        self._common = common_english_words() - surface.keys()
        # the most frequent English words the documentation never uses: mostly how a question is built
        self._everyday = everyday_english_words() - surface.keys() - self._asks_vocab
        self._by_first = dict(by_first)
        self._by_two = dict(by_two)
        # each section's terms, computed once (choosing the part of a topic to show needs them per question)
        self._section_terms: list[tuple[tuple[frozenset[str], frozenset[str]], ...]] = [
            tuple((frozenset(terms(sec.heading)), frozenset(terms(sec.text))) for sec in t.sections)
            if not t.from_docs else () for t in self.topics]
        self._title_terms = [frozenset(terms(t.title)) for t in self.topics]
        # the abbreviations each topic's text spells out ("Libraries Optimizing Alma Networks (LOAN)"), for
        # "what does LOAN stand for" (a heading that names one, "Add partner to the TOU", explains nothing)
        defined_by: dict[str, list[int]] = defaultdict(list)
        for d, t in enumerate(self.topics):
            text = (t.search_text or t.body) if t.from_docs else "\n".join([t.intro, *(s.text for s in t.sections)])
            found = set(defined_in(text))
            # a glossary entry headed by the abbreviation itself ("FU"), or an FAQ asking what one means
            if re.fullmatch(r"[A-Z][A-Z0-9&]{1,7}", t.title.strip()) or (t.question and asked_term(t.question)):
                found.add(t.title.strip().lower() if not t.question else asked_term(t.question))
            for term in found:
                defined_by[term].append(d)
        self._defined_by = dict(defined_by)
        # the parts of a shipped topic that confidence looks at: what the whole topic says (title, keywords,
        # question, phrasings, intro) with one of its sections at a time, so that a question whose words are
        # scattered over unrelated sections of a long topic ("replacement fee for a lost SUNY book") is not
        # taken as explained
        self._parts: list[tuple[tuple[frozenset[str], frozenset[str]], ...]] = [self._topic_parts(t) for t in self.topics]
        self._intent = self._train_intent()
        self._gate = self._train_gate(self.topics if domain is None else list(domain))
        # the topics the gate knows (its classes): held to a shared phrase; any other (the library's pages, a
        # local topic without phrasings) sets its own scope and is held back only when it explains little
        self._strict = frozenset(d for d, t in enumerate(self.topics) if t.asks and not t.from_docs
                                 ) if domain is None else frozenset()
        self._sections = self._section_vectors()
        self._mixed = any(t.from_docs for t in self.topics) and not all(t.from_docs for t in self.topics)
        # where each indexed section sits: its own place in the heading tree and the places above it
        self._place = [(t.path, (*t.trail, t.title)) if t.from_docs else None for t in self.topics]
        self._above = [{(t.path, t.trail[:k]) for k in range(1, len(t.trail) + 1)} if t.from_docs else set()
                       for t in self.topics]
        self._arrays: dict[str, tuple[Any, Any]] | None = None
        if n >= SPARSE_FROM:
            import numpy as np

            self._arrays = {term: (np.fromiter((d for d, _ in p), dtype=np.int32, count=len(p)),
                                   np.fromiter((v for _, v in p), dtype=np.float32, count=len(p)))
                            for term, p in self._postings.items()}

    def _train_intent(self) -> IntentModel | None:
        """The intent model over the topics that have alternate phrasings (their titles, FAQ questions and
        keywords are examples too); None without phrasings or without the token vectors."""
        examples = [(d, text) for d, t in enumerate(self.topics) if t.asks and not t.from_docs
                    for text in (*t.asks, t.title, t.question, *t.keywords) if text]
        if not examples:
            return None
        try:
            return IntentModel.train(examples)
        except Exception as exc:  # a damaged install must cost meaning, never answers
            log.warning("semantic ranking off: %s: %s", type(exc).__name__, exc)
            return None

    @staticmethod
    def _train_gate(domain: list[Topic]) -> IntentModel | None:
        """The shipped topics plus the class of questions about something else (bot.core.elsewhere), for the
        decision to answer only: ranking keeps the model without it, which orders the topics better."""
        examples = tuple((d, text) for d, t in enumerate(domain) if t.asks and not t.from_docs
                         for text in (*t.asks, t.title, t.question, *t.keywords) if text)
        if not examples:
            return None
        return _gate_model(examples)

    def _section_vectors(self) -> SectionVectors | None:
        """Meaning vectors for the indexed sections (and the shipped topics beside them); None when no
        documentation is indexed or without the token vectors."""
        if not any(t.from_docs for t in self.topics):
            return None
        texts = []
        for d, t in enumerate(self.topics):
            if t.from_docs:
                bare = len(content_words(t.title)) <= 2  # "Steps", "Background": the heading above says of what
                head = " ".join([*(t.trail[-1:] if bare else ()), t.title])
                texts.append((d, f"{head}. {(t.search_text or t.body)[:SECTION_TEXT]}"))
            else:  # beside the library's pages a shipped topic is held back like them, never lifted past them
                body = " ".join([t.question, t.intro, *(sec.text for sec in t.sections)])
                texts.append((d, f"{t.title}. {body[:SECTION_TEXT]}"))
        try:
            return SectionVectors.build(texts)
        except Exception as exc:  # a damaged install must cost meaning, never answers
            log.warning("semantic ranking off: %s: %s", type(exc).__name__, exc)
            return None

    def _meaning(self, query: str) -> tuple[dict[int, float], list[float] | None, float]:
        """(the intent model's topic probabilities, the question's vector, the probability that it is about
        something else) for the question; empty (and 0.0) when semantic ranking is off."""
        intent, sections = self._intent, self._sections  # read once: another thread may switch them off
        embedder: Embedder | None = (intent.embedder if intent is not None else
                                     sections.embedder if sections is not None else None)
        if embedder is None or not query:
            return {}, None, 0.0
        try:
            vec = embedder.embed(query)
            if vec is None:
                return {}, None, 0.0
            probs = intent.probabilities_of(vec) if intent is not None else {}
            gate = self._gate
            elsewhere = 0.0
            if gate is not None:
                canon = _gate_text(query)
                gvec = vec if canon == query else embedder.embed(canon)
                elsewhere = gate.probabilities_of(gvec).get(ELSEWHERE_CLASS, 0.0) if gvec is not None else 0.0
            return probs, vec, elsewhere
        except Exception as exc:  # e.g. the vectors file replaced since the index was built
            log.warning("semantic ranking off for this index: %s: %s", type(exc).__name__, exc)
            self._intent = None
            self._sections = None
            self._gate = None
            return {}, None, 0.0

    def _spelled(self, query: str) -> str:
        """The question with its typos corrected towards the documentation's words, for meaning: a token
        vector of "recieving itmes" says little, of "receiving items" a lot."""
        def fix(m: re.Match[str]) -> str:
            w = m.group(0)
            low = w.lower()
            if len(low) < 3 or low in STOPWORDS or stem(low) in self._idf:
                return w
            fixed = self._correct(low)
            return fixed[0] if fixed is not None else w
        return _LETTERS.sub(fix, unicodedata.normalize("NFKC", query))

    def _by_section_meaning(self, sections: SectionVectors, ranked: list[tuple[int, float]], vec: list[float],
                            overviews: set[int]) -> list[tuple[int, float]]:
        """Hold back each candidate by how much less similar in meaning it is than the most similar indexed
        section (which keeps its score: a shipped topic is never lifted above the library's own). An overview
        of other candidates is like all of them at once: it is not the measure, and the rule that its parts
        come first decides about it."""
        sims = {d: sim for d, _ in ranked if (sim := sections.similarity(vec, d)) is not None}
        measure = [sim for d, sim in sims.items() if d not in overviews and self.topics[d].from_docs]
        if not measure:
            return ranked
        top = max(measure)
        lift = SECTION_WEIGHT * max(v for _, v in ranked)
        return sorted(((d, v + lift * min(0.0, sims[d] - top) if d in sims else v) for d, v in ranked),
                      key=lambda kv: (-kv[1], kv[0]))

    @staticmethod
    def _topic_parts(t: Topic) -> tuple[tuple[frozenset[str], frozenset[str]], ...]:
        """(terms, the terms only the phrasings give) of each part; () for an indexed section (one part)."""
        if t.from_docs:
            return ()
        core = set(terms(prepare(" . ".join([t.title, *t.keywords, t.id.replace("-", " "), t.question, t.intro]))))
        asks = set(terms(prepare(" . ".join(t.asks))))
        out = []
        for sec in t.sections:
            part = core | set(terms(prepare(f"{sec.heading} . {sec.text}")))
            # a phrasing's word that this part does not hold stays weak here even when another section has it
            out.append((frozenset(part | asks), frozenset(asks - part)))
        return tuple(out)

    @staticmethod
    def _fields(t: Topic) -> dict[str, str]:
        if t.from_docs:  # a section of the library's own pages: its heading, the headings above it, its text
            # the headings above a section name its chapter, not its subject: every part of "How to process
            # borrowed items" would match "borrowed". Only a bare heading ("Background", "Steps") takes the
            # one right above it, which says what it is the background of.
            bare = len(content_words(t.title)) <= 2
            return {k: prepare(v) for k, v in {
                "title": t.title, "keywords": "", "question": "", "asks": "",  # an FAQ's question is its heading already
                "headings": " . ".join([*(t.trail[-1:] if bare else ()), *(s.text.split("\n")[0] for s in t.steps)]),
                "body": t.search_text or t.body}.items()}
        headings = [s.heading for s in t.sections if s.heading.lower() not in ("steps", "answer")]
        body = [t.intro, *(s.text for s in t.sections)]
        fields = {
            "title": t.title,
            "keywords": " . ".join(t.keywords) + " . " + t.id.replace("-", " "),
            "question": t.question,
            "asks": " . ".join(t.asks),
            "headings": " . ".join(headings),
            "body": "\n".join(body),
        }
        return {k: prepare(v) for k, v in fields.items()}

    # -- query side -------------------------------------------------------------------------------
    def _correct(self, word: str) -> tuple[str, float] | None:
        """The closest vocabulary word for a misspelt or cut-short one, with a 0..1 similarity.

        Optimal string alignment counts a swap of two letters as one edit, the commonest typo
        ("itmes", "recieve"); a word of three or more letters that starts a longer one is taken as cut short
        ("rul" -> "rule")."""
        if len(word) < 3 or word.isdigit() or word in self._common:
            return None  # "snow" is snow, not a typo of "show": a real word the docs lack stays unknown
        # a typo almost never changes the first letter (or swaps it with the second); without this,
        # real words become other words ("email" -> "mail", "late" -> "date")
        candidates: list[str] = []
        swapped = word[1] + word[0]
        for ln in range(len(word) - 2, len(word) + 3):
            same = self._by_first.get((ln, word[0]), [])
            swap = self._by_two.get((ln, swapped), []) if swapped[0] != word[0] else []
            candidates.extend(w for _, w in (sorted(same + swap) if swap else same))
        if len(word) >= 4:
            cutoff = 0.78 if len(word) >= 6 else 0.74
            match = process.extractOne(word, candidates, scorer=OSA.normalized_similarity, score_cutoff=cutoff)
            if match is not None:
                if len(word) == 4 and len(match[0]) == 4 and sorted(match[0]) != sorted(word):
                    return None  # one letter changed in a four-letter word is as likely another word ("cafe", "case")
                return match[0], min(1.0, float(match[1]) + 0.1)
        longer = [c for c in candidates if len(c) > len(word) and c.startswith(word)]
        if longer:
            return min(longer, key=len), 0.85
        return None

    def _query_words(self, query: str) -> list[_QueryWord]:
        out: list[_QueryWord] = []
        # "|" joins alternatives in our own phrase table only: a question's pipe is a separator
        # full-width and other compatibility letters ("ＰＵＬＬ ＳＬＩＰＳ") are the letters they stand for
        prepared = prepare(unicodedata.normalize("NFKC", query).replace("|", " "))
        groups = alternatives(prepared)
        member = {w: k for k, (first, rest) in enumerate(groups.items()) for w in (first, *rest)}
        asked = content_words(prepared)
        # in a short question every word may be the point ("can I work from home"): frequent words only count
        # less among enough others (chat words that are dropped are not counted)
        chatty = sum(1 for w in asked if w not in CHATTER or stem(w) in self._idf) >= CHATTY_FROM
        for w in asked:
            s = stem(w)
            if w in CHATTER and s not in self._idf:
                continue  # "even", "lol", "omg": never what a question is about
            stems: dict[str, float] = {}
            if s in self._idf:
                stems[s] = GENERIC_WEIGHT if w in GENERIC else 1.0
                if s in self._asks_vocab and (fixed := self._correct(w)) is not None and stem(fixed[0]) != s:
                    stems[stem(fixed[0])] = fixed[1]
            elif (fixed := self._correct(w)) is not None:
                stems[stem(fixed[0])] = fixed[1]
            elif w not in member and w not in self._common and not expansions(w) and is_stopword_variant(w):
                continue  # "shoud", "yesterdays": the asking, misspelt
            spelled = spelled_out(w)
            for e in expansions(w):
                es = stem(e)
                if es in self._idf and es not in stems:
                    # an abbreviation the documentation never uses means its one spelled-out word ("temp",
                    # "circ", "config"); a synonym, or a part of a longer expansion, is a hint
                    weight = ABBREVIATION_WEIGHT if e == spelled and s not in self._idf else EXPANSION_WEIGHT
                    stems[es] = weight * (GENERIC_WEIGHT if w in GENERIC else 1.0)
            # CHATTER here is one the documentation uses; an everyday word counts as chat unless the
            # documentation has it (a synonym it has, "came" -> receive, is only a hint)
            chat = w in CHATTER or (chatty and w in self._everyday and max(stems.values(), default=0.0) < 0.7)
            if stems:
                best = max(stems, key=lambda k: stems[k])
                importance = self._idf[best] if stems[best] >= 0.7 or w in GENERIC else self._max_idf
            else:
                importance = self._max_idf
            if w in GENERIC or chat:
                # a chat word the documentation uses ("already") or, in a longer question, one of the most
                # frequent English words it never uses ("made", "everything") is mostly how the question is
                # put: it counts a third, so it neither sinks a clear question nor vanishes from an
                # out-of-scope one
                importance *= GENERIC_WEIGHT
            # smoothing: very common words (library, request) still count a little
            importance += IMPORTANCE_FLOOR
            out.append(_QueryWord(w, stems, importance, member.get(w, -1)))
        return out

    def _top(self, qwords: list[_QueryWord], k: int, query: str = "",
             meaning_of: tuple[dict[int, float], list[float] | None, float] | None = None) -> list[tuple[int, float]]:
        """The k best (section, score), best first; ties go to the earlier section. With the question's text,
        each topic the words already matched loses its shortfall from the intent model's likeliest topic
        (times SEMANTIC_WEIGHT and the best lexical score), and each indexed section its shortfall in meaning
        from the most similar one (times SECTION_WEIGHT; see _by_section_meaning); then the structural rules
        (an overview after its parts, the library's own pages before shipped topics). Confidence is the lexical
        coverage of the topic that comes first."""
        wide = k + 5 if self._sections is None else max(k + 5, SECTION_POOL)
        meaning, vec, _ = meaning_of if meaning_of is not None else self._meaning(query)
        if self._arrays is not None:
            ranked = self._top_sparse(qwords, wide, meaning)
        else:
            scores = self._score(qwords)
            if meaning and scores:
                lift = SEMANTIC_WEIGHT * max(scores.values())
                for d, delta in _centred({d: p for d, p in meaning.items() if d in scores}).items():
                    scores[d] += lift * delta
            ranked = heapq.nsmallest(wide, scores.items(), key=lambda kv: (-kv[1], kv[0]))
        # a section with parts under it is an overview (what the page or chapter is for); when a question
        # matches an overview and one of its own parts, the part holds the answer
        above = set().union(*(self._above[d] for d, _ in ranked)) if ranked else set()
        sections = self._sections  # (another thread may switch meaning off meanwhile)
        if vec is None or sections is None or not ranked:
            return self._structure(ranked, above)[:k]
        by_words = self._structure(ranked, above)
        ranked = self._structure(
            self._by_section_meaning(sections, ranked, vec, {d for d, _ in ranked if self._place[d] in above}), above)
        first = by_words[0][0]
        if ranked[0][0] != first and (self._coverage(qwords, ranked[0][0])
                                      < self._coverage(qwords, first) - MEANING_COVERAGE_MARGIN):
            # meaning reorders sections that explain the question about as well; it does not put first one
            # whose words explain it clearly less than the words' own choice
            lead = ranked[0][1] + abs(ranked[0][1]) * 1e-9 + 1e-12
            ranked = sorted(((d, lead if d == first else v) for d, v in ranked), key=lambda kv: (-kv[1], kv[0]))
        return ranked[:k]

    def _structure(self, ranked: list[tuple[int, float]], above: set[tuple[str, tuple[str, ...]]]
                   ) -> list[tuple[int, float]]:
        """The structural rules: an overview after its own parts, the library's own pages before shipped topics."""
        if above:
            ranked = sorted(((d, v * PARENT_WEIGHT if self._place[d] in above else v) for d, v in ranked),
                            key=lambda kv: (-kv[1], kv[0]))
        if self._mixed and any(self.topics[d].from_docs for d, _ in ranked):
            # the library's own pages first: a shipped topic must match clearly better than one of its
            # sections to come before it (the library's practice may differ from the consortium's)
            ranked = sorted(((d, v if self.topics[d].from_docs else v * SHIPPED_BESIDE_DOCS) for d, v in ranked),
                            key=lambda kv: (-kv[1], kv[0]))
        return ranked

    def _top_sparse(self, qwords: list[_QueryWord], k: int, meaning: dict[int, float] | None = None
                    ) -> list[tuple[int, float]]:
        import numpy as np

        arrays = self._arrays
        assert arrays is not None
        scores = np.zeros(len(self.topics), dtype=np.float64)
        touched = False
        for qw in qwords:
            alts = [(arrays[s], self._idf[s] * w) for s, w in qw.stems.items() if s in arrays]
            if len(alts) == 1:
                (docs, sat), idf = alts[0]
                scores[docs] += idf * sat  # each section appears once in a term's postings
                touched = True
            elif alts:
                best = np.zeros(len(self.topics), dtype=np.float64)
                for (docs, sat), idf in alts:
                    best[docs] = np.maximum(best[docs], idf * sat)
                scores += best
                touched = True
        direct = [max(q.stems, key=lambda x: q.stems[x]) if q.stems and q.word not in GENERIC else ""
                  for q in qwords]
        for bg in _bigrams([s for s in direct if s]):
            if bg in arrays:
                docs, sat = arrays[bg]
                scores[docs] += BIGRAM_WEIGHT * self._idf[bg] * sat
        if not touched:
            return []
        if meaning:
            lift = SEMANTIC_WEIGHT * float(scores.max())
            for d, delta in _centred({d: p for d, p in meaning.items() if scores[d] > 0}).items():
                scores[d] += lift * delta
        nz = int(np.count_nonzero(scores))
        k = min(k, nz)
        if k <= 0:
            return []
        part = np.argpartition(-scores, k - 1)[:k]
        order = sorted(part.tolist(), key=lambda d: (-scores[d], d))
        return [(int(d), float(scores[d])) for d in order]

    def _score(self, qwords: list[_QueryWord]) -> dict[int, float]:
        scores: dict[int, float] = defaultdict(float)
        for qw in qwords:
            # a word and its alternatives (typo fix, abbreviation, synonym) count once: the best one
            best: dict[int, float] = {}
            for s, weight in qw.stems.items():
                idf = self._idf.get(s, 0.0) * weight
                for d, sat in self._postings.get(s, ()):
                    v = idf * sat
                    if v > best.get(d, 0.0):
                        best[d] = v
            for d, v in best.items():
                scores[d] += v
        direct = [max(q.stems, key=lambda k: q.stems[k]) if q.stems and q.word not in GENERIC else ""
                  for q in qwords]
        for bg in _bigrams([s for s in direct if s]):
            bg_idf = self._idf.get(bg, 0.0)
            for d, sat in self._postings.get(bg, ()):
                scores[d] += BIGRAM_WEIGHT * bg_idf * sat
        return scores

    def _coverage(self, qwords: list[_QueryWord], d: int) -> float:
        """The IDF-weighted share of the question's words that the topic explains, in its best part."""
        parts = self._parts[d] or ((self._doc_terms[d], self._asks_only[d]),)
        procedure = self.topics[d].is_procedure
        return max(self._coverage_in(qwords, part, weak, procedure) for part, weak in parts)

    @staticmethod
    def _coverage_in(qwords: list[_QueryWord], doc_terms: frozenset[str], weak: frozenset[str],
                     procedure: bool) -> float:
        total = got = 0.0
        grouped: dict[int, tuple[float, float]] = {}  # group -> (importance, explained): alternatives count once
        for q in qwords:
            if (q.word in GENERIC and q.stems) or (procedure and q.word in PROCEDURE_WORDS):
                # a domain-wide word (ILL, P2P, LOAN) the documentation uses somewhere says the question is in
                # scope, whichever section answers it; "steps" is what any procedure is made of
                explained = q.importance
            else:
                best = max(((min(1.0, w / 0.9) if w >= 0.7 else w) * (ASKS_CREDIT if s in weak else 1.0)
                            for s, w in q.stems.items() if s in doc_terms), default=0.0)
                explained = q.importance * best
            if q.group >= 0:  # the alternative that explains most stands for the group
                imp, exp = grouped.get(q.group, (0.0, 0.0))
                if (explained / q.importance, q.importance) > ((exp / imp if imp else -1.0), imp):
                    grouped[q.group] = (q.importance, explained)
            else:
                total += q.importance
                got += explained
        for imp, exp in grouped.values():
            total += imp
            got += exp
        return got / total if total > 0 else 0.0

    def ask(self, query: str, top: int = 3) -> Result:
        qwords = self._query_words(query)
        # "what does LOAN stand for": the sections that spell LOAN out answer it, and "stand for" is how it
        # is asked, not what it is about
        term = asked_term(query) if self._defined_by else ""
        definers = self._defined_by.get(term, []) if term else []
        if definers:  # ("… in the RS docs" says where the person saw it: the abbreviation is the question)
            asked = set(content_words(prepare(term)))
            qwords = [q for q in qwords if q.word in asked and q.word not in FRAME_WORDS] or qwords
        if not qwords:
            return Result(query, False, 0.0, ())
        want = max(top, 1)
        # a page's FAQ repeated under two headings is one answer: ask for a few more, drop the repeats
        meaning_of = self._meaning(self._spelled(unframed(query)))
        ranked = self._top(qwords, want + 3, query, meaning_of)
        if definers:
            ranked = self._definers_first(ranked, definers)
        hits: list[Hit] = []
        shown: set[str] = set()
        first = ranked[0][0] if ranked else -1
        for d, sc in ranked:
            topic = self.topics[d]
            heading, answer = self._answer_for(d, qwords)
            if answer in shown:
                continue
            shown.add(answer)
            hits.append(Hit(topic, sc, self._coverage(qwords, d), answer, heading))
            if len(hits) == want:
                break
        confidence = hits[0].coverage if hits else 0.0
        meaningful = {q.group if q.group >= 0 else q.word for q in qwords if q.word not in GENERIC}
        needed = max(self.threshold, SHORT_THRESHOLD) if len(meaningful) <= SHORT_WORDS else self.threshold
        answered = bool(hits) and confidence >= needed
        if (not answered and hits and confidence >= RESCUE_COVERAGE and len(meaningful) > SHORT_WORDS
                and self._gate is not None and meaning_of[1] is not None and meaning_of[2] < RESCUE_ELSEWHERE):
            answered = self._meant(first, meaning_of[0], meaning_of[1])
        if answered and first in self._strict and meaning_of[1] is not None and self._intent is not None \
                and meaning_of[0].get(first, 0.0) < INTENT_FLOOR:
            answered = False
        # "p2p", "ILL", "alma": every section of the library's pages is about that; which one is a guess, so the
        # closest are offered instead, unless one is headed by those words ("What is P2P?"); a shipped topic's
        # phrasings say whether it is the overview
        if (answered and not self._strict and all(q.word in GENERIC for q in qwords)
                and not {stem(q.word) for q in qwords} <= self._title_terms[first]):
            answered = False
        if answered and meaning_of[2] > ELSEWHERE_GATE:  # reads like a question about something else
            if first in self._strict:
                answered = self._shares_phrase(qwords, first)
            else:
                answered = confidence >= ELSEWHERE_DOCS_CLEAR or self._shares_phrase(qwords, first, body=True)
        return Result(query, answered, confidence, tuple(hits[:top]))

    @staticmethod
    def _definers_first(ranked: list[tuple[int, float]], definers: list[int]) -> list[tuple[int, float]]:
        """The sections that spell the asked abbreviation out first (in the order the words ranked them, the
        others after them by their score), then the rest as ranked."""
        score = dict(ranked)
        first = sorted(definers, key=lambda d: (-score.get(d, float("-inf")), d))
        lead = max((v for _, v in ranked), default=0.0)
        lifted = [(d, lead + abs(lead) * 1e-6 * (len(first) - k) + 1e-9 * (len(first) - k)) for k, d in enumerate(first)]
        lifted_ids = set(first)
        return lifted + [(d, v) for d, v in ranked if d not in lifted_ids]

    def _meant(self, d: int, intent: dict[int, float], vec: list[float]) -> bool:
        """Whether meaning vouches for topic d: the intent model's probability for a topic it knows, and the
        similarity of meaning vectors wherever there are any (the library's sections, and the shipped topics
        beside them); False for a topic neither knows."""
        if d in intent and intent[d] < RESCUE_INTENT:
            return False
        sections = self._sections
        if sections is None:
            return d in intent
        sim = sections.similarity(vec, d)
        return sim is not None and sim >= RESCUE_SIMILARITY

    def _shares_phrase(self, qwords: list[_QueryWord], d: int, body: bool = False) -> bool:
        """Whether the question and topic d share a phrase: two of its words in a row in the topic's short
        fields (with ``body``, in one clause of its text too), or two of its words in the topic's title ("a set
        with several volumes", "multi-volume set"). A one-word question shares no phrase: when it reads like
        something else ("parking"), the closest topics are offered instead."""
        direct = [max(q.stems, key=lambda k: q.stems[k]) for q in qwords if q.stems and q.word not in GENERIC]
        pairs = _bigrams(direct)
        if any(bg in self._doc_terms[d] for bg in pairs):
            return True
        if len(set(direct) & self._title_terms[d]) >= 2:
            return True
        if body and pairs:
            t = self.topics[d]
            text = prepare(t.search_text or t.body or " ".join([t.intro, *(sec.text for sec in t.sections)]))
            return bool(set(pairs) & set(_field_terms(text)))
        return False

    # -- the part of a topic to show -------------------------------------------------------------------
    def _answer_for(self, d: int, qwords: list[_QueryWord]) -> tuple[str, str]:
        """Pick the section that best explains the question. Within one topic, a word found in every
        section tells nothing, so words are weighted by how few sections hold them; a match in the
        heading counts double. Words of the topic's title chose the topic, so the rest choose the section.
        A section of the library's own pages is already one section: it is shown whole."""
        topic = self.topics[d]
        if topic.from_docs:
            return topic.title, topic.body
        in_title = self._title_terms[d]
        focused = [q for q in qwords if not set(q.stems) & in_title]
        qwords = focused or qwords
        secs = self._section_terms[d]
        n = len(secs) or 1
        df: dict[str, int] = defaultdict(int)
        for head, body in secs:
            for s in head | body:
                df[s] += 1
        scores: dict[int, float] = {}
        for k, (head, body) in enumerate(secs):
            total = 0.0
            for q in qwords:
                best = 0.0
                for s, w in q.stems.items():
                    if s in body or s in head:
                        local = math.log(1 + n / df[s]) * (2.0 if s in head else 1.0)
                        best = max(best, w * local)
                total += q.importance * best
            scores[id(topic.sections[k])] = total
        return answer_text(topic, lambda sec: scores.get(id(sec), 0.0))


_GATES: dict[tuple[tuple[int, str], ...], IntentModel] = {}
_GATES_LOCK = threading.Lock()


def _gate_text(text: str) -> str:
    """How the gate reads a text: lower-case (how a question is cased says nothing of its subject), but the
    domain's abbreviations in capitals ("days we don't do ILL" is not about being ill)."""
    return _LETTERS.sub(lambda m: m.group(0).upper() if m.group(0).lower() in ABBREVIATIONS else m.group(0).lower(),
                        text)


def _gate_model(examples: tuple[tuple[int, str], ...]) -> IntentModel | None:
    """The gate over these (topic, phrasing) examples, read as _gate_text reads them; kept per process, since
    every index of the library's pages (each re-index builds a new engine) asks for the same one. A failure
    is not kept: the next engine tries again."""
    with _GATES_LOCK:
        known = _GATES.get(examples)
    if known is not None:
        return known
    try:
        model = IntentModel.train([(d, _gate_text(text)) for d, text in
                                   (*examples, *((ELSEWHERE_CLASS, text) for text in ELSEWHERE))])
    except Exception as exc:  # a damaged install must cost meaning, never answers
        log.warning("semantic ranking off: %s: %s", type(exc).__name__, exc)
        return None
    if model is not None:
        with _GATES_LOCK:
            if len(_GATES) >= 4:
                _GATES.pop(next(iter(_GATES)))
            _GATES[examples] = model
    return model


def _centred(probs: dict[int, float]) -> dict[int, float]:
    """Each matched topic's probability minus the highest: meaning reorders the topics it knows (the shipped
    ones with phrasings) among themselves by holding back the less likely ones; it never lifts one above the
    library's own sections, which it knows nothing about."""
    if not probs:
        return {}
    top = max(probs.values())
    return {d: p - top for d, p in probs.items()}


def answer_text(topic: Topic, rank: object = None) -> tuple[str, str]:
    """The relevant part of a topic: intro + steps for a procedure, the answer for an FAQ, and the best
    matching section (with the intro) for a reference. ``rank`` scores a section (higher is better)."""
    if topic.from_docs:
        return topic.title, topic.body
    scorer = rank if callable(rank) else (lambda sec: 0.0)
    others = [s for s in topic.sections if s.heading.lower() != "steps"]
    if topic.kind == "procedure":
        parts = [p for p in (topic.intro, "Steps:\n" + topic.steps_text()) if p]
        steps_sec = next((s for s in topic.sections if s.heading.lower() == "steps"), None)
        best_other = max(others, key=scorer, default=None)
        if best_other is not None and steps_sec is not None and scorer(best_other) > scorer(steps_sec):
            parts.append(f"{best_other.heading}:\n{best_other.text}")
        return "Steps", "\n\n".join(parts)
    if topic.kind == "faq":
        body = "\n\n".join(s.text for s in others) or topic.intro
        return "Answer", (f"{topic.question}\n{body}" if topic.question else body)
    best: Section | None = max(others, key=scorer, default=None)
    if best is not None and scorer(best) <= 0 and others:
        best = others[0]
    parts = [p for p in (topic.intro, f"{best.heading}:\n{best.text}" if best else "") if p]
    return (best.heading if best else ""), "\n\n".join(parts)
