"""Which sections say what an abbreviation stands for, and which questions ask just that.

Staff documentation is full of abbreviations (LOAN, RSC, TOU, FU, PSB) and staff ask what they mean: "what does
LOAN stand for", "FU meaning", "what's a TOU". Words alone answer such a question badly: the abbreviation is on
many pages, and "stand for" is on none. The section that spells it out, "Libraries Optimizing Alma Networks
(LOAN)", is the answer.
"""

from __future__ import annotations

import re

# "Libraries Optimizing Alma Networks (LOAN)": capitalised words, then the abbreviation of their initials
_SPELLED_THEN_SHORT = re.compile(
    r"(?<![\w'’-])((?:[A-Z][\w'’-]{0,30}[ \t]+(?:(?:of|for|and|the|to|in|on|at|&)[ \t]+){0,3}){1,9})"
    r"\(([A-Z][A-Za-z0-9&]{1,7}?)(?:'?s)?\)")  # (words start at a word's start and are short: linear)
# "LOAN (Libraries Optimizing Alma Networks)"
_SHORT_THEN_SPELLED = re.compile(r"\b([A-Z][A-Z0-9&]{1,7})(?:'?s)?[ \t]*\(([A-Za-z][^()\n]{4,90})\)")
# a glossary line: "FU: fulfillment unit", "PSB = premium sandbox", "RS – resource sharing"
_GLOSSARY_LINE = re.compile(r"(?m)^[ \t*_-]*([A-Z][A-Z0-9&]{1,7})[*_]*[ \t]*(?::|=|–|—| - )[ \t]*[A-Za-z]")
_SMALL = frozenset("of for and the to in on at &".split())
_NOT_TERMS = frozenset("note tip warning important caution todo nb ps q a faq step".split())  # "NOTE: …" lines

_FRAME = re.compile(
    r"^(?:(?:so|ok|okay|hey|hi|quick q|quick question|sorry)[,:!]?\s+)*(?:"
    r"what(?:'s|’s|s|\s+is|\s+are|\s+does|\s+do|\s+was)\s+(?:an?\s+|the\s+)?(?P<a>[\w&/.-]+(?:\s+(?!stands?\b|means?\b|short\b|refer\b)[\w&/.-]+)?)"
    r"(?:\s+(?:stand\s+for|stands\s+for|mean|means|short\s+for|refer\s+to)(?:\s+again)?)?"
    r"|(?:define|explain)\s+(?:an?\s+|the\s+)?(?P<b>[\w&/.-]+(?:\s+[\w&/.-]+)?)"
    r"|(?:meaning|definition)\s+of\s+(?:an?\s+|the\s+)?(?P<c>[\w&/.-]+(?:\s+[\w&/.-]+)?)"
    r"|(?P<d>[\w&/.-]+(?:\s+[\w&/.-]+)?)\s+(?:meaning|definition|stands\s+for|acronym|abbreviation|abbrev|="
    r"|short\s+for|means\s+what|stands\s+for\s+what)"
    r")(?:\s+(?:in|on|for|at)\s+(?:the\s+|our\s+)?[\w\s/-]{1,30})?\s*[?.!]*\s*$", re.I)
# words that ask for the meaning; said about an abbreviation, they are how the question is put, not its subject
FRAME_WORDS = frozenset("stand stands mean means meaning definition define explain acronym abbreviation abbrev "
                        "short refer".split())


def _initials_match(words: list[str], short: str) -> bool:
    """Whether the last words begin with the abbreviation's letters, in order, a small word counting or not
    ("Terms of Use" for TOU and "Resource Sharing Committee" for RSC; "Fulfillment Unit" for FU)."""
    letters = [c.lower() for c in short if c.isalpha()]
    if len(letters) < 2:
        return False

    seen: dict[tuple[int, int], bool] = {}

    def fits(i: int, j: int) -> bool:  # letters[:i] from words[:j], ending on word j-1
        if i == 0:
            return True
        if j == 0:
            return False
        if (i, j) not in seen:
            w = words[j - 1].lower()
            seen[(i, j)] = (w[0] == letters[i - 1] and fits(i - 1, j - 1)) or (w in _SMALL and fits(i, j - 1))
        return seen[(i, j)]

    return fits(len(letters), len(words))


def defined_in(text: str) -> frozenset[str]:
    """The abbreviations a text spells out, lower-case."""
    out: set[str] = set()
    if "(" not in text:  # (most sections spell nothing out: no pattern is tried)
        return frozenset(m.group(1).lower() for m in _GLOSSARY_LINE.finditer(text)
                         if m.group(1).lower() not in _NOT_TERMS)
    for m in _SPELLED_THEN_SHORT.finditer(text):
        if _initials_match(m.group(1).split(), m.group(2)):
            out.add(m.group(2).lower())
    for m in _SHORT_THEN_SPELLED.finditer(text):
        inner = [w for w in re.split(r"[\s/-]+", m.group(2)) if w]
        if _initials_match(inner[:len(m.group(1)) + 4], m.group(1)) or _initials_match(inner, m.group(1)):
            out.add(m.group(1).lower())
    out.update(m.group(1).lower() for m in _GLOSSARY_LINE.finditer(text) if m.group(1).lower() not in _NOT_TERMS)
    return frozenset(out)


def asked_term(question: str) -> str:
    """The abbreviation or term a "what does X stand for" question asks about, lower-case; '' for any other
    question."""
    m = _FRAME.match(" ".join(question.split()))
    if m is None:
        return ""
    term = next(g for g in (m.group("a"), m.group("b"), m.group("c"), m.group("d")) if g)
    return term.strip(".").lower()
