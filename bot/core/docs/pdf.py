"""PDF documents, read by their layout.

A PDF keeps no headings, paragraphs or lists, only pieces of text placed on pages in a font of some size.
From those (pypdf's text visitor, in the order the pages draw them) this module rebuilds what a reader sees:
- lines: pieces at the same height, in drawing order (so two columns stay two, a table row stays a row);
- the page's frame: a line in the top or bottom margin that comes back on other pages (the running header,
  "Page 3 of 9", "Confidential") or is a bare page number is left out; a line in the body never is;
- headings: a line set larger than the body text, or bold at body size, and short; its level follows its
  size (the largest is level 1);
- paragraphs: body lines close under each other, joined (a word broken by a hyphen at a line end is
  mended); numbered and bulleted items (also bullets drawn in a symbol font) become list items;
- a table of contents (lines with dotted leaders and a page number) is left out.
The result is markdown for the markdown reader, so sections, procedures and FAQ pairs come out of PDFs by
the same rules as out of pages. A PDF set in one size with no bold (nothing tells a heading by its look)
falls back to its lines as plain text, for the plain-text rules (a bare short line is a heading).

A PDF with no text layer (a scan) or one locked with a password is refused with a sentence, and so is one
whose reading would not end: MAX_PAGES, MAX_SECONDS and MAX_CHARS bound the work per document.
"""

from __future__ import annotations

import io
import logging
import math
import re
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

from bot.core.docs.model import ReadError

MAX_PAGES = 1000
MAX_SECONDS = 20.0  # checked between pages
MAX_CHARS = 5_000_000
MARGIN = 0.07  # the top and bottom share of a page where running headers and footers sit
CELL_GAP = 0.8  # a gap wider than this many ems between two pieces of one line separates table cells
_PAGE_NUMBER = re.compile(r"^\s*(?:page\s*)?[-–—(]?\s*\d{1,4}\s*[-–—)]?(?:\s*(?:of|/)\s*\d{1,4})?\s*$", re.I)
_LEADERS = re.compile(r"(?:\.\s?){4,}\s*\d{1,4}\s*$|…{2,}\s*\d{1,4}\s*$|\s\.{2,}\s*\d{1,4}\s*$")
_MARKER = re.compile(r"^\s*(?:(?P<num>\d{1,2}|[a-z])[.)]|(?P<bullet>[•◦▪▫●○■□‣⁃∙·\-–*➢➤►✓✔]))(?:\s+|$)")
_DIGITS = re.compile(r"\d+")
_BOLD = re.compile(r"bold|black|heavy|semibold|demi", re.I)
_SYMBOL_FONT = re.compile(r"dingbat|symbol|wingding", re.I)
_CONTENTS = frozenset(("contents", "table of contents"))


@dataclass
class _Line:
    page: int
    y: float
    x: float
    size: float
    bold: bool
    text: str = ""
    parts: list[tuple[float, str, float]] = field(default_factory=list)  # (x, text, size) as drawn


def to_text(data: bytes, location: str) -> tuple[str, str]:
    """(text, reader kind): markdown rebuilt from the layout, or the lines as plain text when the layout
    tells nothing."""
    if not data.lstrip()[:1024].startswith(b"%PDF-") and b"%PDF-" not in data[:1024]:
        raise ReadError(f"{location} is not a PDF (it does not start as one); check the file")
    try:
        pages = _lines(data, location)
    except ReadError:
        raise
    except Exception as exc:  # pypdf's many ways of saying "damaged": one sentence, never a crash
        name = type(exc).__name__
        if name == "LimitReachedError":  # pypdf's guard against a stream that unpacks to hundreds of MB
            raise ReadError(f"{location} holds a part too large to read safely (a compressed stream that unpacks "
                            "past pypdf's limit); export it again from the original document") from None
        if name == "DependencyError":  # AES without the cryptography package
            raise ReadError(f"{location} is encrypted in a way this installation cannot open; save a copy "
                            "without protection for the bot") from None
        raise ReadError(f"{location} is a damaged PDF ({name}); export it again from the original "
                        "document") from None
    lines = _without_frame(pages)
    if not any(ln.text.strip() for ln in lines):
        raise ReadError(f"{location} has no text to read (a scanned PDF is pictures of pages): export it from the "
                        "original document, or run it through OCR first")
    return _markdown(lines)


# -- reading the pages ---------------------------------------------------------------------------------
def _lines(data: bytes, location: str) -> list[tuple[float, list[_Line]]]:
    """Per page: its height and its lines, in drawing order."""
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings about odd but readable files are noise
    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted and not reader.decrypt(""):  # many PDFs are "encrypted" with an empty password
        raise ReadError(f"{location} is password-protected; save a copy without a password for the bot")
    count = len(reader.pages)
    if count > MAX_PAGES:
        raise ReadError(f"{location} has {count} pages, more than {MAX_PAGES}; split it into smaller documents")
    started, chars = time.monotonic(), 0
    out: list[tuple[float, list[_Line]]] = []
    for number, page in enumerate(reader.pages):
        if time.monotonic() - started > MAX_SECONDS:
            raise ReadError(f"{location} takes too long to read (more than {MAX_SECONDS:.0f} s by page {number + 1} "
                            f"of {count}); export it again or split it")
        lines: list[_Line] = []

        def visit(text: str, cm: list[float], tm: list[float], font: object, size: float,
                  lines: list[_Line] = lines, number: int = number) -> None:
            piece = unicodedata.normalize("NFKC", text.replace("\n", " ").replace("\r", " "))
            if not piece.strip():
                return
            a, b, c, d, e, f = (tm[0] * cm[0] + tm[1] * cm[2], tm[0] * cm[1] + tm[1] * cm[3],
                                tm[2] * cm[0] + tm[3] * cm[2], tm[2] * cm[1] + tm[3] * cm[3],
                                tm[4] * cm[0] + tm[5] * cm[2] + cm[4], tm[4] * cm[1] + tm[5] * cm[3] + cm[5])
            eff = abs(size) * (math.sqrt(abs(a * d - b * c)) or 1.0)
            name = str(font.get("/BaseFont", "")) if isinstance(font, dict) else ""
            glyph = piece.strip()
            if len(glyph) == 1 and (_SYMBOL_FONT.search(name) or unicodedata.category(glyph) in ("Cc", "Co")):
                piece = "•"  # a bullet drawn as a glyph of a symbol font, or one no font table names
            eff = round(eff * 2) / 2
            last = lines[-1] if lines else None
            bold = bool(_BOLD.search(name)) or piece == "•"
            if last is not None and abs(last.y - f) <= max(1.0, 0.45 * min(eff, last.size or eff)):
                last.parts.append((e, piece, eff))
                last.bold = last.bold and bold
            else:
                lines.append(_Line(number, f, e, eff, bold, parts=[(e, piece, eff)]))

        page.extract_text(visitor_text=visit)
        height = float(page.mediabox.height) or 792.0
        for ln in lines:
            ln.text = _join(ln)
            sizes: Counter[float] = Counter()
            for _x, piece, size in ln.parts:
                sizes[size] += len(piece.strip())
            ln.size = sizes.most_common(1)[0][0]  # the size most of its letters have (not a bullet's)
            chars += len(ln.text)
        if chars > MAX_CHARS:
            raise ReadError(f"{location} holds more than {MAX_CHARS // 1_000_000} million characters of text; "
                            "split it into smaller documents")
        out.append((height, [ln for ln in lines if ln.text.strip()]))
    return out


def _join(line: _Line) -> str:
    """A line's pieces, with a space where the drawing left a gap and " | " between table cells."""
    text = ""
    end = None
    for x, piece, size in line.parts:
        if end is not None and text and piece.strip():
            gap = x - end
            if gap > CELL_GAP * size and not text.rstrip().endswith("•"):
                text = text.rstrip() + " | " + piece.lstrip()
                end = x + 0.5 * size * len(piece)
                continue
            if gap > 0.15 * size and not text.endswith(" ") and not piece.startswith(" "):
                text += " "
        text += piece
        end = x + 0.5 * size * len(piece)  # about half an em a letter: the visitor gives no widths
    return " ".join(text.split())


def _norm(text: str) -> str:
    return _DIGITS.sub("#", " ".join(text.split()).lower())


def _without_frame(pages: list[tuple[float, list[_Line]]]) -> list[_Line]:
    """Every page's lines without the frame: bare page numbers in the margins, and margin lines that come back
    in the margins of other pages (whatever number they carry)."""
    def in_margin(ln: _Line, height: float) -> bool:
        return ln.y > height * (1 - MARGIN) or ln.y < height * MARGIN

    seen: Counter[str] = Counter()
    for height, lines in pages:
        seen.update({_norm(ln.text) for ln in lines if in_margin(ln, height)})
    repeated = {t for t, n in seen.items() if len(pages) >= 2 and n >= max(2, (len(pages) + 2) // 3)}
    out: list[_Line] = []
    for height, lines in pages:
        for ln in lines:
            if in_margin(ln, height):
                if _norm(ln.text) in repeated:
                    continue
                # "Page 1 of 9 | Updated 2026-03-01": the page number goes, whatever shares its line
                cells = [c for c in ln.text.split(" | ") if not _PAGE_NUMBER.match(c)]
                if not cells:
                    continue
                ln.text = " | ".join(cells)
            out.append(ln)
    return out


# -- rebuilding the document ------------------------------------------------------------------------------
def _markdown(lines: list[_Line]) -> tuple[str, str]:
    lines = [ln for ln in lines if not _LEADERS.search(ln.text)]  # a table of contents' entries
    weights: Counter[float] = Counter()
    for ln in lines:
        weights[ln.size] += len(ln.text)
    body = weights.most_common(1)[0][0]
    body_bold = all(ln.bold for ln in lines if ln.size == body)  # a document all in bold says nothing by bold

    def heading_size(ln: _Line) -> float | None:
        if (len(ln.text) > 150 or _MARKER.match(ln.text) or ln.text.rstrip().endswith((".", ",", ";"))
                or " | " in ln.text):  # a table's (bold) header row is no heading
            return None
        if ln.size >= body * 1.12:
            return ln.size
        if ln.bold and not body_bold and ln.size >= body * 0.95 and len(ln.text) <= 100:
            return body  # bold at body size: the lowest heading level
        return None

    sizes = sorted({s for ln in lines if (s := heading_size(ln)) is not None}, reverse=True)
    if not sizes:  # nothing tells a heading by its look: the plain-text rules decide from the words
        return "\n".join(ln.text for ln in lines), "text"
    level = {s: min(k + 1, 6) for k, s in enumerate(sizes)}
    blocks: list[str] = []
    para: list[str] = []
    item = False
    prev: _Line | None = None

    def flush() -> None:
        nonlocal para, item
        if para:
            text = para[0]
            for nxt in para[1:]:
                if re.search(r"[A-Za-z]-$", text) and nxt[:1].islower():
                    text = text[:-1] + nxt  # "mem-" + "ber": a word broken at the line's end
                else:
                    text += " " + nxt
            blocks.append(text if item else _escape(text))
        para, item = [], False

    for ln in lines:
        hs = heading_size(ln)
        if hs is not None:
            if (prev is not None and blocks and blocks[-1].startswith("#") and not para
                    and heading_size(prev) == hs and prev.page == ln.page and 0 < prev.y - ln.y <= 1.6 * ln.size):
                blocks[-1] += " " + ln.text  # a heading set on two lines
            else:
                flush()
                blocks.append("#" * level[hs] + " " + _escape(ln.text))
            prev = ln
            continue
        if " | " in ln.text:  # a table row: rows stay rows, one table one block
            if not (blocks and not para and blocks[-1].startswith("|") and prev is not None and " | " in prev.text):
                flush()
                blocks.append("")
            cells = " | ".join(_escape(c).replace("|", "\\|") for c in ln.text.split(" | "))
            blocks[-1] += ("\n" if blocks[-1] else "") + f"| {cells} |"
            prev = ln
            continue
        marker = _MARKER.match(ln.text)
        close = (prev is not None and prev.page == ln.page and 0 < prev.y - ln.y <= 1.8 * max(ln.size, prev.size)
                 and heading_size(prev) is None)
        if marker:
            flush()
            rest = ln.text[marker.end():].strip()
            lead = f"{marker.group('num')}." if marker.group("num") and marker.group("num").isdigit() else "-"
            para, item = [f"{lead} {_escape(rest)}" if rest else lead], True
        elif close and para and not (para[-1].endswith(":") and not item):
            if item and len(para) == 1 and re.fullmatch(r"-|\d{1,2}\.", para[0]):
                para[0] += " " + _escape(ln.text)  # the marker drawn on its own line, the text on the next
            else:
                para.append(_escape(ln.text) if item else ln.text)
        else:
            flush()
            para = [ln.text]
        prev = ln
    flush()
    # list items follow each other without a blank line, so one list stays one list
    out: list[str] = []
    for b in blocks:
        if b.startswith("| "):  # a markdown table: its first row is the header, then the separator line
            rows = b.split("\n")
            width = max(r.count(" | ") for r in rows) + 1
            b = "\n".join([rows[0], "|" + " --- |" * width, *rows[1:]])
        if out and _is_item(b) and _is_item(out[-1]):
            out[-1] += "\n" + b
        else:
            out.append(b)
    out = _drop_empty_contents(out)
    return "\n\n".join(out) + "\n", "markdown"


def _is_item(block: str) -> bool:
    last = block.rsplit("\n", 1)[-1]
    return bool(re.match(r"^(?:\d{1,2}\.|-)(?:\s|$)", last))


def _drop_empty_contents(blocks: list[str]) -> list[str]:
    """A "Contents" heading whose entries (dotted leaders) were left out has nothing under it."""
    out = []
    for k, b in enumerate(blocks):
        if b.startswith("#") and b.lstrip("#").strip().lower() in _CONTENTS and (
                k + 1 == len(blocks) or blocks[k + 1].startswith("#")):
            continue
        out.append(b)
    return out


def _escape(text: str) -> str:
    """Text as markdown shows it: no heading, quote, list, HTML or emphasis made by accident."""
    text = text.replace("\\", "\\\\").replace("<", "&lt;").replace("*", "\\*").replace("`", "\\`")
    if re.match(r"^\s*(?:#|>|\+|=+\s*$|-{3,}|\d{1,9}[.)]\s)", text):
        text = "\\" + text.lstrip()
    return text

