"""PDF documents, read by their layout.

A PDF keeps no headings, paragraphs or lists, only pieces of text placed on pages in a font of some size.
From those (pypdf's text visitor, in the order the pages draw them, with the fonts' own glyph widths) this
module rebuilds what a reader sees:
- lines: pieces at the same height, in drawing order (so two columns stay two, a table row stays a row,
  with " | " where a gap of over an em parts its cells); the same words drawn twice in place (a printer's
  fake bold) count once;
- the page's frame: a line at or under the body's size in the top or bottom margin that comes back on
  other pages (the running header, "Page 3 of 9", "Confidential") or is a bare page number is left out; a
  line in the body, or a heading, never is;
- headings: a short line set larger than the body text ("1. Purpose" in 16 pt too), or bold at body size
  when it stands alone (not a bold phrase wrapped inside a paragraph); its level follows its size;
- paragraphs: body lines close under each other, joined (a word broken by a hyphen at a line end is
  mended, unless the document hyphenates it elsewhere or it is a "self-" compound), also across a page
  turn mid-sentence; numbered, bulleted (also symbol-font bullets) and "Step N:" lines start items, whose
  text goes on only under their own indent;
- a table of contents (lines with dotted leaders and a page number) is left out.
The result is markdown with every character of the document escaped, for the markdown reader, so sections,
procedures and FAQ pairs come out of PDFs by the same rules as out of pages, and a PDF's "# " or "[link]()"
is shown as typed. A PDF set in one size with no bold (nothing tells a heading by its look) falls back to its
lines as plain text, for the plain-text rules (a bare short line is a heading).

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

from bot.core.docs.model import ReadError, slugify

MAX_PAGES = 1000
MAX_SECONDS = 20.0  # checked between pages
MAX_CHARS = 5_000_000
MARGIN = 0.07  # the top and bottom share of a page where running headers and footers sit
HEADING_SIZE = 1.12  # a line this many times the body's size (or more) is a heading
CELL_GAP = 1.0  # a gap wider than this many ems between two pieces of one line separates table cells
_PAGE_NUMBER = re.compile(r"^\s*(?:page\s*)?[-–—(]?\s*\d{1,4}\s*[-–—)]?(?:\s*(?:of|/)\s*\d{1,4})?\s*$", re.I)
_ROMAN_PAGE = re.compile(r"^\s*[ivxlc]{1,6}\s*$", re.I)  # front matter numbered i, ii, iii…
_LEADERS = re.compile(r"(?:\.\s?){4,}\s*\d{1,4}\s*$|…{2,}\s*\d{1,4}\s*$|\s\.{2,}\s*\d{1,4}\s*$")
_MARKER = re.compile(r"^\s*(?:step\s*(?P<step>\d{1,2})\s*[:.)\-–]|(?P<num>\d{1,2}|[a-z])[.)]|"
                     r"(?P<bullet>[•◦▪▫●○■□‣⁃∙·\-–*➢➤►✓✔]))(?:\s+|$)", re.I)
_LONE_MARKER = re.compile(r"^\s*(?:\d{1,2}[.)]?|[a-zA-Z][.)]|step\s*\d{1,2}[:.)]?)\s*$", re.I)
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
    parts: list[tuple[float, str, float, float]] = field(default_factory=list)  # (x, text, size, width) as drawn
    cells: bool = False  # wide gaps split it into table cells
    starts: list[float] = field(default_factory=list)  # where each cell begins


def to_text(data: bytes, location: str) -> tuple[str, str]:
    """(text, reader kind): markdown rebuilt from the layout, or the lines as plain text when the layout
    tells nothing."""
    if b"%PDF-" not in data[:1024]:  # the header may follow some junk, as readers allow
        raise ReadError(f"{location} is not a PDF (it does not start as one); check the file")
    try:
        pages = _lines(data, location)
    except ReadError:
        raise
    except Exception as exc:  # pypdf's many ways of saying "damaged": one sentence, never a crash
        name = type(exc).__name__
        if name == "LimitReachedError":  # pypdf's guards: a stream unpacking to hundreds of MB, a deep tree
            raise ReadError(f"{location} goes past a safety limit of the PDF reader (a part too large or nested "
                            "too deep); export it again from the original document") from None
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
        widths: dict[int, object] = {}

        def visit(text: str, cm: list[float], tm: list[float], font: object, size: float,
                  lines: list[_Line] = lines, number: int = number, widths: dict[int, object] = widths) -> None:
            # pypdf ends each text object's piece with a line break of its own: not a space of the document's
            piece = unicodedata.normalize("NFKC", text.strip("\r\n").replace("\n", " ").replace("\r", " "))
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
            width = _width(font, piece, widths) * eff
            eff = round(eff * 2) / 2
            last = lines[-1] if lines else None
            bold = bool(_BOLD.search(name)) or piece == "•"
            if last is not None and abs(last.y - f) <= max(1.0, 0.45 * min(eff, last.size or eff)):
                px, ptext, _, _ = last.parts[-1]
                if ptext == piece and abs(px - e) < 1.5:
                    return  # the same words drawn again a hair to the side: a printer's fake bold
                last.parts.append((e, piece, eff, width))
                last.bold = last.bold and bold
            else:
                lines.append(_Line(number, f, e, eff, bold, parts=[(e, piece, eff, width)]))

        page.extract_text(visitor_text=visit)
        height = float(page.mediabox.height) or 792.0
        for ln in lines:
            ln.text, ln.starts = _join(ln)
            ln.cells = len(ln.starts) > 1
            sizes: Counter[float] = Counter()
            for _x, piece, size, _w in ln.parts:
                sizes[size] += len(piece.strip())
            ln.size = sizes.most_common(1)[0][0]  # the size most of its letters have (not a bullet's)
            chars += len(ln.text)
        if chars > MAX_CHARS:
            raise ReadError(f"{location} holds more than {MAX_CHARS // 1_000_000} million characters of text; "
                            "split it into smaller documents")
        out.append((height, [ln for ln in lines if ln.text.strip()]))
    return out


def _join(line: _Line) -> tuple[str, list[float]]:
    """A line's pieces, with a space where the drawing left a gap (over 0.15 em) and " | " between table cells
    (over CELL_GAP ems); and where each of its cells begins."""
    text = ""
    end = None
    starts = [line.parts[0][0]] if line.parts else []
    for x, piece, size, width in line.parts:
        if end is not None and text and piece.strip():
            gap = x - end
            if _LONE_MARKER.match(text):  # "1." / "a)" / "10" set apart from its item's words: a list number
                text = text.strip() + ("." if text.strip().isdigit() else "") + " " + piece.lstrip()
                end = x + width
                continue
            if gap > CELL_GAP * size and not text.rstrip().endswith("•"):
                text = text.rstrip() + " | " + piece.lstrip()
                starts.append(x)
                end = x + width
                continue
            if (gap > 0.15 * size or text.endswith("•")) and not text.endswith(" ") and not piece.startswith(" "):
                text += " "  # (a bullet glyph is always followed by its item's words)
        text += piece
        end = x + width
    return " ".join(text.split()), starts


def _width(font: object, piece: str, cache: dict[int, object]) -> float:
    """The piece's width in ems, from the font's own widths (pypdf's font metrics, the 14 standard fonts
    included), or half an em a letter when the font says nothing usable."""
    try:
        from pypdf.generic._font import Font  # (pypdf 7: its font metrics have no public name yet)

        got = cache.get(id(font))
        if got is None:
            got = cache[id(font)] = Font.from_font_resource(font) if isinstance(font, dict) else False  # type: ignore[arg-type]
        if got:
            return float(got.get_text_width(piece)) / 1000.0  # type: ignore[attr-defined]
    except Exception:  # an odd font dictionary: the estimate will do
        cache[id(font)] = False
    return 0.5 * len(piece)


def _norm(text: str) -> str:
    return _DIGITS.sub("#", " ".join(text.split()).lower())


def _without_frame(pages: list[tuple[float, list[_Line]]]) -> list[_Line]:
    """Every page's lines without the frame: bare page numbers in the margins, and margin lines that come back
    in the margins of other pages: the same words, or (set smaller than the body) the same words around a
    number that changes ("Lending guide, page 7")."""
    inside = [ln for height, lines in pages for ln in lines if height * MARGIN <= ln.y <= height * (1 - MARGIN)]
    body = _body_size(inside or [ln for _, lines in pages for ln in lines])  # the text between the margins

    def in_margin(ln: _Line, height: float) -> bool:
        # a running header is set at the body's size or smaller; a larger line at the top is a heading
        return (ln.y > height * (1 - MARGIN) or ln.y < height * MARGIN) and ln.size < body * HEADING_SIZE

    def small(ln: _Line) -> bool:
        return ln.size < body * 0.95

    exact: Counter[str] = Counter()
    shaped: Counter[str] = Counter()
    for height, lines in pages:
        margin = [ln for ln in lines if in_margin(ln, height)]
        exact.update({" ".join(ln.text.split()).lower() for ln in margin})
        shaped.update({_norm(ln.text) for ln in margin if small(ln)})
    most = max(2, (len(pages) + 2) // 3)
    same = {t for t, n in exact.items() if len(pages) >= 2 and n >= most}
    numbered = {t for t, n in shaped.items() if len(pages) >= 2 and n >= most}
    out: list[_Line] = []
    for height, lines in pages:
        for k, ln in enumerate(lines):
            if ((k in (0, len(lines) - 1) or in_margin(ln, height)) and ln.size < body * HEADING_SIZE
                    and (_PAGE_NUMBER.match(ln.text) or _ROMAN_PAGE.match(ln.text))):
                continue  # a page number, wherever the page's first or last line sits (a "II" heading stays)
            if in_margin(ln, height):
                if " ".join(ln.text.split()).lower() in same or (small(ln) and _norm(ln.text) in numbered):
                    continue
                # "Page 1 of 9 | Updated 2026-03-01": the page number goes, whatever shares its line
                cells = [c for c in ln.text.split(" | ") if not _PAGE_NUMBER.match(c)]
                if not cells:
                    continue
                ln.text = " | ".join(cells)
            out.append(ln)
    return out


def _body_size(lines: list[_Line]) -> float:
    """The size most of the text is set in."""
    weights: Counter[float] = Counter()
    for ln in lines:
        weights[ln.size] += len(ln.text)
    return weights.most_common(1)[0][0] if weights else 10.0


# -- rebuilding the document ------------------------------------------------------------------------------
def _markdown(lines: list[_Line]) -> tuple[str, str]:
    lines = [ln for ln in lines if not _LEADERS.search(ln.text)]  # a table of contents' entries
    body = _body_size(lines)
    body_bold = all(ln.bold for ln in lines if ln.size == body)  # a document all in bold says nothing by bold

    def gap(a: _Line | None, b: _Line | None) -> float:
        """How far ``b`` sits under ``a`` in ems of the larger (inf across pages or upwards)."""
        if a is None or b is None or a.page != b.page or a.y <= b.y:
            return math.inf
        return (a.y - b.y) / max(a.size, b.size)

    def looks_heading(k: int, before_heading: float | None) -> float | None:
        """The heading size of line k (None for any other line), knowing whether the line before is one."""
        ln = lines[k]
        text = ln.text.rstrip()
        if len(text) > 150 or ln.cells or text.endswith((",", ";")):
            return None
        if ln.size >= body * HEADING_SIZE:
            return ln.size  # "1. Purpose" in 16 pt is a numbered heading, not a step
        if not ln.bold or body_bold or ln.size < body * 0.95 or len(text) > 100 or text.endswith(".") or _MARKER.match(text):
            return None
        # bold at body size is a heading only when it stands alone: not a bold phrase wrapped inside a
        # paragraph, not one line of a bold paragraph
        before = lines[k - 1] if k else None
        after = lines[k + 1] if k + 1 < len(lines) else None
        if before is not None and gap(before, ln) <= 1.35 and before.size == ln.size and not before.text.rstrip(
                ).endswith((".", ":", "!", "?")) and before_heading is None:
            return None
        if after is not None and gap(ln, after) <= 1.35 and after.bold and after.size == ln.size:
            return None
        return body  # the lowest heading level

    heading: list[float | None] = []
    for k in range(len(lines)):  # in order: each line's verdict needs the one before (no recursion)
        heading.append(looks_heading(k, heading[k - 1] if k else None))
    sizes = sorted({h for h in heading if h is not None}, reverse=True)
    if not sizes:  # nothing tells a heading by its look: the plain-text rules decide from the words
        return "\n".join(ln.text for ln in lines), "text"
    level = {sz: min(k + 1, 6) for k, sz in enumerate(sizes)}
    vocabulary = {w.lower() for ln in lines for w in re.findall(r"[A-Za-z]+(?:-[A-Za-z]+)*", ln.text)}
    blocks: list[str] = []
    para: list[str] = []
    item_x: float | None = None  # where the open list item's marker stands
    prev: _Line | None = None
    table: list[list[str]] = []  # the rows of the table being read, cell by cell
    row_line: _Line | None = None  # the line of its last row
    columns: list[float] = []  # where its columns begin

    def flush() -> None:
        nonlocal para, item_x, table
        if table:  # a markdown table: its first row is the header, then the separator line
            width = max(len(r) for r in table)
            rows = ["| " + " | ".join(r) + " |" for r in table]
            blocks.append("\n".join([rows[0], "|" + " --- |" * width, *rows[1:]]))
            table = []
        if para:
            text = para[0]
            for nxt in para[1:]:
                text = _mend(text, nxt, vocabulary)
            blocks.append(text)
        para, item_x = [], None

    for k, ln in enumerate(lines):
        hs = heading[k]
        if hs is not None:
            if (prev is not None and blocks and blocks[-1].startswith("#") and not para and heading[k - 1] == hs
                    and gap(prev, ln) <= 1.5 and len(prev.text) >= 35):
                whole = f"{prev.text} {ln.text}"  # a long heading wrapped onto a second line
                blocks[-1] = "#" * level[hs] + " " + _escape(whole) + _on_page(whole, prev.page)
                prev = _Line(prev.page, ln.y, prev.x, prev.size, prev.bold, whole)
                continue
            else:
                flush()
                # the link to a PDF's section opens its page (#page=N is what PDF viewers understand)
                blocks.append("#" * level[hs] + " " + _escape(ln.text) + _on_page(ln.text, ln.page))
            prev = ln
            continue
        if ln.cells:  # a table row: rows stay rows, one table one block
            if not table or para:
                flush()
            table.append([_escape(c) for c in ln.text.split(" | ")])
            if len(ln.starts) >= len(columns) or not table[1:]:
                columns = ln.starts  # the fullest row tells where the columns begin
            prev = row_line = ln
            continue
        if (table and row_line is not None and row_line.page == ln.page and abs(row_line.y - ln.y) <= 4 * ln.size
                and len(columns) > 1 and ln.x >= columns[1] - 0.5 * ln.size):
            # a cell's words wrapped onto more lines, under their own column (above or below the row's line,
            # as the table aligns its cells)
            col = max(j for j, x0 in enumerate(columns) if x0 <= ln.x + 0.5 * ln.size)
            row = table[-1]
            row.extend([""] * (col + 1 - len(row)))
            row[col] = (row[col] + " " + _escape(ln.text)).strip()
            prev = ln
            continue
        turned = prev is not None and prev.page + 1 == ln.page and ln.text[:1].islower()  # a sentence going on overleaf
        close = (gap(prev, ln) <= 1.5 or turned) and prev is not None and heading[k - 1] is None and not prev.cells
        marker = _MARKER.match(ln.text)
        if marker and close and para and item_x is None and not para[-1].rstrip().endswith((".", ":", "!", "?")):
            marker = None  # a wrapped line that happens to start with "– and" or "3. ": the sentence goes on
        if marker:
            flush()
            rest = _escape(ln.text[marker.end():].strip())
            num, step = marker.group("num"), marker.group("step")
            if step:
                para = [f"Step {step}: {rest}".rstrip()]  # the plain "Step N:" form the section rules know
                item_x = ln.x
            else:
                lead = f"{num}." if num and num.isdigit() else "-"
                para, item_x = [f"{lead} {rest}" if rest else lead], ln.x
        elif close and para and item_x is not None and (ln.x > item_x + 0.3 * ln.size or re.fullmatch(
                r"-|\d{1,2}\.", para[0])):
            para.append(_escape(ln.text))  # the item's text goes on under it (or after a marker drawn alone)
        elif close and para and item_x is None and not para[-1].endswith(":"):
            para.append(_escape(ln.text))
        else:
            flush()
            para = [_escape(ln.text)]
        prev = ln
    flush()
    # list items follow each other without a blank line, so one list stays one list
    out: list[str] = []
    for b in blocks:
        if out and _is_item(b) and _is_item(out[-1]):
            out[-1] += "\n" + b
        else:
            out.append(b)
    out = _drop_empty_contents(out)
    return "\n\n".join(out) + "\n", "markdown"


_KEEP_HYPHEN = frozenset("self non e x ex co cross well all half semi multi anti post pre long short".split())


def _mend(text: str, nxt: str, vocabulary: set[str]) -> str:
    """Join a paragraph's next line: a word broken by a hyphen at the line's end is mended unless the
    document writes it with its hyphen elsewhere, or its first part is a prefix that keeps one ("self-")."""
    broken = re.search(r"([A-Za-z]+)-$", text)
    if broken and nxt[:1].islower():
        first, second = broken.group(1).lower(), re.match(r"[a-z]+", nxt)
        rest = second.group(0) if second else ""
        if f"{first}{rest}" not in vocabulary and (f"{first}-{rest}" in vocabulary or first in _KEEP_HYPHEN):
            return text + nxt
        return text[:-1] + nxt
    return text + " " + nxt


def _on_page(heading: str, page: int) -> str:
    """The markdown reader's anchor attribute: the heading's usual id, and its page as the link's target."""
    slug = slugify(heading)
    return f" {{#{slug} @page={page + 1}}}" if re.fullmatch(r"[\w-]+", slug) else ""


def _is_item(block: str) -> bool:
    last = block.rsplit("\n", 1)[-1]
    return bool(re.match(r"^(?:\d{1,2}\.|-)(?:\s|$)", last))


def _drop_empty_contents(blocks: list[str]) -> list[str]:
    """A "Contents" heading whose entries (dotted leaders) were left out has nothing under it."""
    out = []
    for k, b in enumerate(blocks):
        if b.startswith("#") and re.sub(r"\s*\{#.*\}$", "", b.lstrip("#")).strip().lower() in _CONTENTS and (
                k + 1 == len(blocks) or blocks[k + 1].startswith("#")):
            continue
        out.append(b)
    return out


def _escape(text: str) -> str:
    """Text as markdown shows it, word for word: no heading, quote, list, code, link, HTML, entity or
    emphasis made by accident (markdown-it honours a backslash before any ASCII punctuation)."""
    text = re.sub(r"([\\`*_\[\]<>&~|])", r"\\\1", text.strip())
    if re.match(r"\d{1,9}[.)](?:\s|$)", text):
        return re.sub(r"^(\d{1,9})([.)])", r"\1\\\2", text)  # "2024. A year" is no list item
    if re.match(r"(?:[#>+=-]|\s)", text):
        return "\\" + text  # a heading, quote, list or rule marker at the start
    return text
