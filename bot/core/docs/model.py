"""What every reader produces: a page as a flat run of blocks (headings, paragraphs, lists, tables)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class Block:
    """One block of a page, in reading order.

    ``kind`` is ``heading`` (``level`` 1-6, ``anchor``), ``para``, ``list`` (``items``, ``ordered``) or
    ``table`` (``rows``). A heading whose page gives it no id of its own has a slug for ``anchor`` (its
    stable section id) and, in ``target``, the closest id the page does have, for links that land near it."""

    kind: str
    text: str = ""
    level: int = 0
    anchor: str = ""
    items: tuple[str, ...] = ()
    ordered: bool = False
    rows: tuple[tuple[str, ...], ...] = ()
    line: int = 0
    target: str = ""


@dataclass(frozen=True)
class Page:
    """A read page: where it came from, its title and its blocks."""

    location: str  # absolute file path or URL
    title: str
    blocks: tuple[Block, ...]


class ReadError(Exception):
    """A source could not be read; the message is a sentence for staff."""


def slugify(text: str, limit: int = 80) -> str:
    """'Receiving a single-volume item' -> 'receiving-a-single-volume-item' (ASCII, stable)."""
    norm = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", norm).strip("-")
    return slug[:limit].rstrip("-") or "section"


# characters that are not there when the page is read: zero-width space (Docusaurus and MkDocs put one in
# every heading's anchor link), word joiner, byte-order mark, soft hyphen
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u2060\ufeff\u00ad"))
_BETWEEN_WORDS = re.compile(r"(?<=\w)[\u200b\u2060]+(?=\w)")


def clean(text: str) -> str:
    """Collapse runs of white space (non-breaking spaces included) into single spaces; drop invisible
    characters."""
    text = _BETWEEN_WORDS.sub(" ", text.replace("\u00a0", " "))  # "Renew\u200bonline": two words (Thai, Khmer)
    return re.sub(r"\s+", " ", text.translate(_INVISIBLE)).strip()


def text_fragment(text: str) -> str:
    """``:~:text=`` and the words, percent-encoded (also "-", "," and "&", which the syntax reserves)."""
    from urllib.parse import quote

    words: list[str] = []
    for w in text.split():  # whole words only: a word cut in two is found nowhere
        if words and len(" ".join([*words, w])) > 200:
            break
        words.append(w)
    return ":~:text=" + quote(" ".join(words), safe="").replace("-", "%2D") if words else ""
