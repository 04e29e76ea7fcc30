"""Turning staff text into search terms: tokens, stop words, stems, abbreviations and synonyms.

Staff write "RS", "ILL", "TOU", "FU", "ext id", "sent the book back"; the documentation says "resource
sharing", "terms of use", "fulfillment unit", "External Identifier", "return". Expansions are added as
extra, lighter-weighted terms; the original word is always kept (keywords list the abbreviations too).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache

import snowballstemmer

_WORD = re.compile(r"[a-z0-9]+(?:[_'][a-z0-9]+)*")
_stemmer = snowballstemmer.stemmer("english")

STOPWORDS = frozenset(
    """a about after again all also am an and any are as at be been before being but by can could
    did do does doing done for from get gets getting go goes going got had has have having he her here
    him his how i if in into is it its itll just let me might more most my need needs no nor not now
    of off on once only or other our out over own please really same she should so some still such than
    that the their them then there these they this those through to too under until up us very via want
    was we were what when where which while who whom why will with would you your yours im ive dont cant
    doesnt isnt whats hows wheres thats theres whos another wont didnt arent instead hadnt hasnt havent wasnt
    werent shouldnt couldnt wouldnt mustnt
    currently usually normally actually
    hello supposed asked ask asking wondering wonder tell explain remind know knows
    sure just exactly basically anyway somebody everybody everyone something anything able
    between happen happens happened figure
    thing things stuff someone anyone hi hey thanks thank ok okay pls plz way kind sort much many
    alright acceptable thru tho cuz abt""".split()
)

# How people talk in chat ("what even is ...", "I think I scanned ...", "dumb q but"): in a question these are
# dropped when the documentation never uses them and count a third of a word when it does ("AFN libraries
# already have ..."); documents keep them, since they are not stop words there.
CHATTER = frozenset(
    """even like maybe perhaps probably possibly though although already anyway anyways anywhere somewhere
    everywhere nowhere ones plus whole every each lol lmao haha idk btw fyi tbh imo yeah yep nope yes sorry
    think thinking thought guess guessing seem seems seemed see seeing saw ours theirs mine dumb silly stupid
    bother whatever whenever wherever sometimes weird literally totally kinda sorta gonna wanna gotta til asap nvm
    till hmm hmmm um umm uh uhh ugh omg thx dunno welp yall ya erm uhm ahh lmk
    morning afternoon evening today tonight tomorrow yesterday question questions start started screen
    screens page window supervisor boss colleague coworker student students worker workers safe allowed""".split()
    # the last two lines frame most questions ("my student worker asked ...", "is it safe to ...", "this
    # morning") but name a library's own topic now and then ("What student workers may do", "Morning: print
    # the pick list"): a word here counts a third where the documentation uses it
)

# Words that name the whole domain rather than a topic ("how do I receive an ILL item"): they say the
# question is in scope but should not pull towards the one page that happens to repeat them.
GENERIC = frozenset("ill rs p2p ptp peer alma wrlc loannetwork".split())

# Abbreviations and staff shorthand -> what the documentation says.
ABBREVIATIONS: dict[str, str] = {
    "rs": "resource sharing",
    "ill": "interlibrary loan resource sharing",
    "p2p": "peer to peer",
    "ptp": "peer to peer",
    "tou": "terms of use",
    "tous": "terms of use",
    "fu": "fulfillment unit",
    "fus": "fulfillment unit",
    "iz": "institution zone",
    "nz": "network zone",
    "psb": "premium sandbox",
    "psbs": "premium sandbox",
    "ext": "external identifier",
    "extid": "external identifier",
    "id": "identifier",
    "ids": "identifier",
    "br": "borrowing request",
    "brs": "borrowing request",
    "lr": "lending request",
    "lrs": "lending request",
    "circ": "circulation",
    "stats": "statistics",
    "stat": "statistics",
    "config": "configuration",
    "conf": "configuration",
    "temp": "temporary",
    "ticr": "temporary item creation rule",
    "loc": "location",
    "locs": "location",
    "lib": "library",
    "libs": "library",
    "wf": "workflow",
    "req": "request",
    "reqs": "request",
    "suny": "stony brook binghamton albany buffalo",
    "afn": "cls",
    "oclc": "symbol",
    "2am": "02:00",
    "checkin": "check in return",
    "checkout": "check out",
}

# Casual wording -> documentation wording (single words; stems are compared).
SYNONYMS: dict[str, str] = {
    "arrived": "receive incoming",
    "arrive": "receive incoming",
    "arrives": "receive incoming",
    "came": "receive incoming",
    "incoming": "receive",
    "send": "ship return",
    "sending": "ship return",
    "mail": "ship",
    "mailing": "ship",
    "post": "ship",
    "back": "return",
    "giving": "return",
    "book": "item",
    "books": "item",
    "pull": "pick",
    "pulling": "pick",
    "fetch": "retrieve",
    "grab": "retrieve",
    "print": "slip",
    "printed": "slip",
    "printing": "slip",
    "expire": "expiry",
    "expires": "expiry",
    "expiration": "expiry",
    "expired": "expiry",
    "stuck": "expiry",
    "lender": "lending partner",
    "lenders": "lending partner",
    "borrower": "partner",
    "library": "partner institution",
    "school": "partner institution",
    "institution": "partner",
    "settings": "configuration parameters",
    "setup": "configure configuration",
    "set": "configure",
    "onboard": "add partner",
    "onboarding": "add partner",
    "download": "copy",
    "copy": "download",
    "directory": "community",
    "matter": "important",
    "matters": "important",
    "important": "matter",
    "bad": "wrong",
    "incorrect": "wrong",
    "mistake": "wrong",
    "old": "previous reuse",
    "mark": "tick check",
    "benefit": "recommended advantages",
    "benefits": "recommended advantages",
    "advantage": "benefits recommended",
    "advantages": "benefits recommended",
    "pros": "benefits",
    "walk": "steps",
    "agreement": "agreed",
    "path": "route",
    "pathway": "route",
    "choose": "pick select",
    "select": "choose",
    "popup": "pop",
    "popups": "pop",
    "checkbox": "tick boxes",
    "checkboxes": "tick boxes",
    "needed": "required requir",
    "necessary": "required requir",
    "hit": "click select",
    "press": "click select",
    "call": "name",
    "against": "match compare",
    "upside": "benefits recommended advantages",
    "lent": "lend lending loaned",
    "owner": "lending owning",
    "parcel": "package ship",
    "gone": "missing lost",
    "home": "return lending",
    "mailed": "ship",
    "package": "ship",
    "loan": "lend lending",
    "loans": "lend lending",
}


# Phrases whose meaning is more than their words; applied to documents and questions alike. Words joined by
# "|" are alternatives: in a question they are one word that any of them explains ("came in" is explained by a
# section about receiving as well as by one where an item arrived).
PHRASES: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    # upper-case LOAN is the network; the word stays too, since staff type "loan partner" in lower case
    (re.compile(r"\bLOAN\b"), "loannetwork LOAN"),
    (re.compile(r"\bscan(?:ned|ning)? (?:it |them |the \w+ )?in\b", re.I), "receive|receiving"),
    (re.compile(r"\bpop[- ]?ups?\b", re.I), "pop-up"),
    # "5pm", "1:30PM" are how chat writes the "5 pm" and "1:30 pm" of the documentation
    (re.compile(r"\b(\d{1,2}(?::\d{2})?)([apAP])\.?[mM]\b\.?"), lambda m: f"{m.group(1)} {m.group(2).lower()}m"),
    (re.compile(r"\bext(?:ernal)?\.? ?id\b", re.I), "external identifier"),
    (re.compile(r"\bcame in\b|\bshowed up\b|\bjust arrived\b|\bjust came\b", re.I), "arrived|receive"),
    # "how long ...?" asks for a period; "long" is not what it is about
    (re.compile(r"\bhow long\b", re.I), "how"),
    # "walk me thru receiving a book" asks how to receive: the request itself says nothing of the subject (as
    # "steps" it would count as explained for every procedure, and "walk me through snow days" found one)
    (WALK_ME_THROUGH := re.compile(r"\b(?:walk|take|talk|guide|step)(?: me| us)? (?:thru|through)\b", re.I), " "),
    (re.compile(r"\bun(shipped|received|returned|printed)\b", re.I), r"not \1"),
    (re.compile(r"\bout the door\b|\bsend (?:it|them) out\b", re.I), "ship|shipping"),
    (re.compile(r"\b(?:didn'?t|did not|won'?t|doesn'?t|does not|isn'?t|is not|not) print(?:ing|ed)?\b", re.I),
     "no slip not printing"),
    (re.compile(r"\b(?:isn'?t|is not|doesn'?t|does not) (?:the same as|the one on|match)\b|\bdifferent from\b", re.I),
     "does not match"),
    (re.compile(r"\bnew (?:library|libraries|school|partner|lender|institution|member)\b", re.I),
     "new partner add partner"),
    (re.compile(r"\bshow up in (?:our|the) rota\b|\binto (?:our|the) rota\b", re.I), "add to rota template members"),
    # neighbouring library work the bot does not cover: these count as words it does not know
    (re.compile(r"\b(?:order|buy|purchase)(?:ing|ed|s)? (?:a |an |the |some |more |new )*(?:books?|copies|titles?|"
                r"materials?|e-?books?|subscriptions?)\b", re.I), "offdomain acquisitions"),
    (re.compile(r"\b(?:late |overdue )?fines?\b|\blate fees?\b", re.I), "offdomain"),
    (re.compile(r"\bscan(?:ning)? (?:a |the |my )?(?:documents?|pages?|articles?|papers?) to (?:e-?mail|pdf)\b", re.I),
     "offdomain"),
)


# (a group starts where a word starts: tried inside a long word, it would rescan the rest of it each time)
_ALTERNATIVES = re.compile(r"(?<![\w'])[\w']+(?:\|[\w']+)+")


def alternatives(text: str) -> dict[str, list[str]]:
    """In a prepared text, the first word of each group of alternatives -> the others."""
    out: dict[str, list[str]] = {}
    if "|" not in text:
        return out
    for m in _ALTERNATIVES.finditer(text.lower()):
        first, *rest = m.group().split("|")
        out.setdefault(first, []).extend(rest)
    return out


def unframed(text: str) -> str:
    """The question without a request for steps ("walk me through …"), for the meaning models: "walk" there
    is no stroll."""
    return WALK_ME_THROUGH.sub(" ", text)


def prepare(text: str) -> str:
    for pattern, replacement in PHRASES:
        text = pattern.sub(replacement, text)
    return text


# a word English uses at least this often (counts of pyspellchecker's English list, where "snow" has ~37k,
# "rota" 187 and misspellings none) is a word in its own right, not a typo of a documentation word
COMMON_WORD_COUNT = 1000


# a word English uses this often ("made", "else", "nothing", "keep", "back": the top two hundred of the
# list) mostly says how a sentence is built: one the documentation never uses counts a third in a question;
# "room" (~400k) or "wants" are below it
EVERYDAY_WORD_COUNT = 1_000_000


@lru_cache(maxsize=1)
def _english_counts() -> Mapping[str, int]:
    from spellchecker import SpellChecker

    counts: Mapping[str, int] = SpellChecker(language="en", distance=1).word_frequency.dictionary
    return counts


@lru_cache(maxsize=1)
def common_english_words() -> frozenset[str]:
    """Ordinary English words (so an unknown one is unknown, not misspelt). Loading the list takes ~0.2 s:
    the answer engine asks once when it is built and keeps the set (its cached pickle holds it)."""
    return frozenset(w for w, c in _english_counts().items() if c >= COMMON_WORD_COUNT and len(w) >= 3 and w.isascii())


# frequent, but things a question can be about ("can I work from home", "time sheet")
EVERYDAY_BUT_MEANT = frozenset("work time people man men love kill help home money life world night day name years".split())


@lru_cache(maxsize=1)
def everyday_english_words() -> frozenset[str]:
    """The most frequent English words: in a question, one the documentation never uses is mostly phrasing."""
    return frozenset(w for w, c in _english_counts().items()
                     if c >= EVERYDAY_WORD_COUNT and w.isascii() and w not in EVERYDAY_BUT_MEANT)


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    # the plural of an abbreviation is the abbreviation ("TOUs", "FUs", "PSBs"): the stemmer does not know them
    if len(word) > 2 and word.endswith("s") and word[:-1] in ABBREVIATIONS:
        word = word[:-1]
    return str(_stemmer.stemWord(word))


_PRONOUNS = frozenset("i you we they he she it that there who what where how here".split())
_CONTRACTED = frozenset("d ll re ve m s".split())


def words(text: str) -> list[str]:
    """Lower-case words; 'rs_auto_request_lending' stays whole and also yields its parts."""
    out: list[str] = []
    for w in _WORD.findall(text.lower().replace("’", "'")):
        head, _, tail = w.partition("'")
        if tail in _CONTRACTED and head in _PRONOUNS:
            continue  # "I'd", "they'll", "we've": no topic in them ("I'd" is not "ID")
        if w.endswith("'s"):
            w = w[:-2]  # "yesterday's" is "yesterday", "partner's" is "partner"
        w = w.replace("'", "")
        out.append(w)
        if "_" in w:
            out.extend(p for p in w.split("_") if p)
    return out


def terms(text: str) -> list[str]:
    """Index terms for a document field: stemmed words without stop words."""
    return [stem(w) for w in words(text) if w not in STOPWORDS]


def content_words(text: str) -> list[str]:
    """The words of a query that carry meaning (stop words removed, order kept, no repeats)."""
    seen: set[str] = set()
    out: list[str] = []
    for w in words(text):
        if w in STOPWORDS or w in seen or (len(w) == 1 and not w.isdigit()):  # "dumb q": a lone letter says nothing
            continue
        seen.add(w)
        out.append(w)
    return out


@lru_cache(maxsize=1)
def _stop_stems() -> frozenset[str]:
    return frozenset(stem(w) for w in STOPWORDS | CHATTER)


@lru_cache(maxsize=1)
def _long_stopwords() -> tuple[str, ...]:
    return tuple(sorted(w for w in STOPWORDS | CHATTER if len(w) >= 4))


def is_stopword_variant(word: str) -> bool:
    """A form ("yesterdays") or a one-letter slip ("shoud", "whered") of a stop or chat word. Only asked about words
    neither the documentation nor ordinary English knows, so "form" is never taken for "from"."""
    if stem(word) in _stop_stems():
        return True
    if len(word) < 5:
        return False
    from rapidfuzz.distance import OSA

    return any(abs(len(s) - len(word)) <= 1 and s[0] == word[0] and OSA.distance(word, s, score_cutoff=1) <= 1
               for s in _long_stopwords())


def spelled_out(word: str) -> str:
    """The one word an abbreviation stands for ("temp" -> "temporary"), or "" (none, or several words)."""
    if word not in ABBREVIATIONS and len(word) > 2 and word.endswith("s") and word[:-1] in ABBREVIATIONS:
        word = word[:-1]
    full = ABBREVIATIONS.get(word, "").split()
    return full[0] if len(full) == 1 else ""


def expansions(word: str) -> list[str]:
    """Extra words for one query word from the abbreviation and synonym tables."""
    if word not in ABBREVIATIONS and len(word) > 2 and word.endswith("s") and word[:-1] in ABBREVIATIONS:
        word = word[:-1]  # "TOUs" are terms of use too
    extra = ABBREVIATIONS.get(word, "") + " " + SYNONYMS.get(word, "")
    return [w for w in words(extra) if w not in STOPWORDS and w != word]
