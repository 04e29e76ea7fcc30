"""PDF documents as the plain-text reader reads them.

A PDF keeps no headings or lists, only text placed on pages; but one exported from Word or a wiki puts each
heading and each numbered step on its own line, which is exactly what the plain-text reader recognises
(bare short lines are headings, "1. Do this" lines are steps). So a PDF is its pages' text (pypdf), with
what a page adds that the document does not say taken out: running headers and footers (a line that comes
back at the top or the bottom of most pages, whatever its page number) and bare page numbers. A PDF with no
text layer (a scan) or one locked with a password is refused with a sentence.
"""

from __future__ import annotations

import io
import logging
import re
from collections import Counter

from bot.core.docs.model import ReadError

MAX_PAGES = 1000
_PAGE_NUMBER = re.compile(r"^\s*(?:page\s*)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?\s*$", re.I)
_DIGITS = re.compile(r"\d+")
_EDGE = 3  # lines at the top and at the bottom of a page where running headers and footers sit


def to_text(data: bytes, location: str) -> str:
    """The document's text, page after page, without running headers, footers and page numbers."""
    try:
        pages = _pages(data, location)
    except ReadError:
        raise
    except Exception as exc:  # pypdf's many ways of saying "damaged": one sentence, never a crash
        raise ReadError(f"{location} is a damaged PDF ({type(exc).__name__}); export it again from the original "
                        "document") from None
    if not any(line.strip() for page in pages for line in page):
        raise ReadError(f"{location} has no text to read (a scanned PDF is pictures of pages): export it from the "
                        "original document, or run it through OCR first")
    return "\n".join("\n".join(page) for page in _without_running_lines(pages))


def _pages(data: bytes, location: str) -> list[list[str]]:
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings about odd but readable files are noise
    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted and not reader.decrypt(""):  # many PDFs are "encrypted" with an empty password
        raise ReadError(f"{location} is password-protected; save a copy without a password for the bot")
    out: list[list[str]] = []
    for k, page in enumerate(reader.pages):
        if k >= MAX_PAGES:
            raise ReadError(f"{location} has more than {MAX_PAGES} pages; split it into smaller documents")
        text = page.extract_text() or ""
        out.append([line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")])
    return out


def _without_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Each page without its running header and footer lines and its page number. A running line is one at
    the edge of most pages, either the same each time or differing only by a number that counts the pages
    ("Lending guide, page 7"); "Chapter 1" on one page and "Chapter 2" on the next are headings."""
    edge_lines: list[set[str]] = []
    for page in pages:
        text = [ln for ln in page if ln.strip()]
        edge_lines.append({_norm(ln) for ln in text[:_EDGE] + text[-_EDGE:]})
    most = max(3, (len(pages) + 1) // 2)
    running: set[str] = set()
    if len(pages) >= 3:  # two pages prove nothing
        same = Counter(ln for edges in edge_lines for ln in edges)
        running = {ln for ln, n in same.items() if n >= most}
        numbered: dict[str, list[tuple[int, list[int], str]]] = {}
        for k, edges in enumerate(edge_lines):
            for ln in edges:
                if _DIGITS.search(ln):
                    numbered.setdefault(_DIGITS.sub("#", ln), []).append(
                        (k, [int(d) for d in _DIGITS.findall(ln)], ln))
        for seen in numbered.values():
            width = len(seen[0][1])
            if len(seen) >= most and any(len({nums[i] - k for k, nums, _ in seen}) == 1 for i in range(width)):
                running.update(ln for _, _, ln in seen)  # one of its numbers goes up with the page
    out = []
    for page in pages:
        lines = [ln for ln in page if ln.strip()]
        edge = set(range(min(_EDGE, len(lines)))) | set(range(max(0, len(lines) - _EDGE), len(lines)))
        out.append([ln for k, ln in enumerate(lines)
                    if not (k in edge and (_norm(ln) in running or _PAGE_NUMBER.match(ln)))])
    return out


def _norm(line: str) -> str:
    return " ".join(line.split()).lower()
