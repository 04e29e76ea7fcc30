"""OpenDocument text (.odt: LibreOffice, and Google Docs' "Download as OpenDocument") as the HTML reader reads it.

An .odt is a zip whose ``content.xml`` holds the text (ISO/IEC 26300). The translation keeps what the answer
engine needs: headings (``text:h`` with its outline level, or a paragraph in the Title style), numbered and
bulleted lists (the list style's level says which), tables (a merged cell keeps its text once), footnotes in
brackets where they are cited, and the paragraphs of text frames. Left out: the table of contents and other
indexes, tracked deletions, comments, hidden text and pictures. The result is small HTML handed to the HTML
reader, so sections, procedures and FAQ pairs come out by the same rules as out of web pages.

As for Word files (:mod:`bot.core.docs.word`): a part with a DOCTYPE is refused, the parts together may unpack to
at most MAX_XML_BYTES, and a password-protected document gets a sentence saying so.
"""

from __future__ import annotations

import html
import io
from typing import TYPE_CHECKING

from bot.core.docs.model import ReadError
from bot.core.docs.word import MAX_XML_BYTES, budgeted, one_sentence, open_package, parse_part

if TYPE_CHECKING:
    from lxml.etree import _Element

OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
STYLE = "{urn:oasis:names:tc:opendocument:xmlns:style:1.0}"
DRAW = "{urn:oasis:names:tc:opendocument:xmlns:drawing:1.0}"
CONTENT = "content.xml"
PARTS = (CONTENT, "styles.xml", "meta.xml")
# what is never read as text: indexes (their entries repeat the headings), tracked deletions, comments, the
# declarations at the top of the text, and what a reader does not see
_SKIP = frozenset(f"{TEXT}{t}" for t in (
    "table-of-content", "illustration-index", "table-index", "object-index", "user-index", "alphabetical-index",
    "bibliography", "tracked-changes", "sequence-decls", "variable-decls", "user-field-decls", "dde-connection-decls",
    "hidden-text", "hidden-paragraph", "note-citation", "bookmark-start", "bookmark-end", "soft-page-break",
)) | {f"{OFFICE}annotation", f"{OFFICE}annotation-end", f"{OFFICE}forms"}
_MAX_REPEAT = 50  # a cell "repeated" 1,024 times is the empty rest of a row, not 1,024 cells
_MAX_CELLS = 100_000  # in the whole document: more is not a staff page (or is a table bomb)
_MAX_MANIFEST = 1_000_000


def to_html(data: bytes, location: str, flat: bool = False) -> str:
    """The document's text as HTML (headings, paragraphs, lists, tables), with its title when it has one;
    ``flat`` for a flat OpenDocument file (.fodt)."""
    return one_sentence(lambda: flat_to_html(data, location) if flat else _to_html(data, location), location,
                        packed="is packed in a way the bot cannot open; save it again as .odt or .docx",
                        damaged="a damaged OpenDocument file", advice="open it and save it again")


def _to_html(data: bytes, location: str) -> str:
    with open_package(data, location, CONTENT,
                      "is not an OpenDocument text file the bot can read (it may be damaged); save it again as .odt "
                      "or .docx", f"is not an OpenDocument text (it has no {CONTENT})") as zf:
        if "META-INF/manifest.xml" in zf.namelist():
            with zf.open("META-INF/manifest.xml") as fh:  # read no further than a manifest can be long
                manifest = fh.read(_MAX_MANIFEST)
            if b"encryption-data" in manifest:
                raise ReadError(f"{location} is password-protected; save a copy without a password for the bot")
        parts = {i.filename: parse_part(zf, i, location, "OpenDocument") for i in budgeted(zf, PARTS, location)}
    return _render(parts[CONTENT], [p for n in ("styles.xml", CONTENT) if (p := parts.get(n)) is not None],
                   parts.get("meta.xml"), location)


def flat_to_html(data: bytes, location: str) -> str:
    """A flat OpenDocument text (.fodt): the same document as one XML file (styles, meta and body together)."""
    import zipfile as _zipfile

    if len(data) > MAX_XML_BYTES:
        raise ReadError(f"{location} is too large to read (more than {MAX_XML_BYTES // 1_000_000} MB of XML): "
                        "split it into smaller documents")
    buf = io.BytesIO()
    with _zipfile.ZipFile(buf, "w") as zf:  # the package rules (no DOCTYPE, well-formed) through one code path
        zf.writestr("document.fodt", data)
    with _zipfile.ZipFile(buf) as zf:
        root = parse_part(zf, zf.getinfo("document.fodt"), location, "OpenDocument")
    return _render(root, [root], root, location)


def _render(content: _Element, styled: list[_Element], meta: _Element | None, location: str) -> str:
    body = content.find(f"{OFFICE}body/{OFFICE}text")
    if body is None:
        raise ReadError(f"{location} is not a text document (a spreadsheet or a presentation?); the bot reads "
                        "OpenDocument text (.odt)")
    doc = _Doc(styled)
    doc.location = location
    out: list[str] = []
    doc.blocks(body, out)
    title = _title(meta)
    head = f"<title>{html.escape(title)}</title>" if title else ""
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'>{head}</head><body>{''.join(out)}</body></html>"


def _title(meta: _Element | None) -> str:
    if meta is None:
        return ""
    el = meta.find(f"{OFFICE}meta/{{http://purl.org/dc/elements/1.1/}}title")
    return " ".join((el.text or "").split()) if el is not None else ""


def _count(text: str | None, default: int = 1) -> int:
    return int(text) if text is not None and text.isascii() and text.isdigit() else default


class _Doc:
    """Paragraph styles (what each is based on, and the list style it carries) and list styles (which levels
    are numbered) of one document."""

    def __init__(self, roots: list[_Element]) -> None:
        self.parent: dict[str, str] = {}
        self.display: dict[str, str] = {}
        self.list_of: dict[str, str] = {}  # paragraph style -> the list style it numbers with
        self.numbered: dict[str, dict[int, bool]] = {}  # list style -> level -> numbered
        self.hidden: set[str] = set()  # styles whose text is hidden (LibreOffice's "Hidden" font effect)
        self.cells = 0
        self.location = ""
        for root in roots:  # (content.xml last: its automatic styles are the ones its text names)
            for st in root.iter(f"{STYLE}style"):
                name = st.get(f"{STYLE}name") or ""
                self.parent[name] = st.get(f"{STYLE}parent-style-name") or ""
                props = st.find(f"{STYLE}text-properties")
                if props is not None and (props.get(f"{TEXT}display") or "") == "none":
                    self.hidden.add(name)
                else:
                    self.hidden.discard(name)
                self.display[name] = (st.get(f"{STYLE}display-name") or name).replace("_20_", " ")
                if st.get(f"{STYLE}list-style-name"):
                    self.list_of[name] = st.get(f"{STYLE}list-style-name") or ""
            for ls in root.iter(f"{TEXT}list-style"):
                levels: dict[int, bool] = {}
                for lvl in ls:
                    if isinstance(lvl.tag, str) and lvl.tag.startswith(f"{TEXT}list-level-style-"):
                        levels[_count(lvl.get(f"{TEXT}level"))] = lvl.tag == f"{TEXT}list-level-style-number"
                self.numbered[ls.get(f"{STYLE}name") or ""] = levels

    def _chain(self, name: str) -> list[str]:
        out: list[str] = []
        while name and name not in out and len(out) < 20:
            out.append(name)
            name = self.parent.get(name, "")
        return out

    def heading_level(self, p: _Element) -> int:
        """1-6 for a paragraph in a heading style ("Heading 2"), 0 for the Title style (the document's title),
        -1 for any other paragraph."""
        for name in self._chain(p.get(f"{TEXT}style-name") or ""):
            shown = self.display.get(name, name).lower().replace("_", " ")
            if shown == "title":
                return 0
            if shown.startswith("heading ") and shown[8:].strip().isdigit():
                return min(max(int(shown[8:].strip()), 1), 6)
        return -1

    def is_hidden(self, el: _Element) -> bool:
        """Text the reader never sees: a hidden style (or one based on it), a hidden section, or a paragraph a
        hidden-paragraph field hides."""
        if (el.get(f"{TEXT}display") or "") == "none":
            return True
        if any(n in self.hidden for n in self._chain(el.get(f"{TEXT}style-name") or "")):
            return True
        return any((f.get(f"{TEXT}is-hidden") or "true") != "false" for f in el.iterchildren(f"{TEXT}hidden-paragraph"))

    def is_numbered(self, style: str, level: int) -> bool:
        levels = self.numbered.get(style, {})
        return levels.get(level, levels.get(1, False))

    # -- text ------------------------------------------------------------------------------------------
    def inline(self, el: _Element, frames: list[_Element], notes: list[str] | None = None) -> str:
        """The escaped HTML of a paragraph's content: spaces, tabs and line breaks as written, notes in
        brackets (or into ``notes``, for a heading), links as their words; text frames are kept aside to follow
        the paragraph."""
        out = [html.escape(el.text or "")]
        for child in el:
            tag = child.tag if isinstance(child.tag, str) else ""
            if tag in _SKIP or not tag or self.is_hidden(child):
                pass
            elif tag == f"{TEXT}number":  # the number a numbered heading shows: apart from its words
                out.append(html.escape(" ".join((child.text or "").split())) + " ")
            elif tag == f"{TEXT}s":
                out.append(" " * min(_count(child.get(f"{TEXT}c")), 8))
            elif tag == f"{TEXT}tab":
                out.append(" ")
            elif tag == f"{TEXT}line-break":
                out.append("<br>")
            elif tag == f"{TEXT}note":
                body = child.find(f"{TEXT}note-body")
                note = " ".join(self.plain(p) for p in body.iter(f"{TEXT}p")) if body is not None else ""
                if note.strip() and notes is not None:
                    notes.append(note.strip())
                elif note.strip():
                    out.append(f" [{html.escape(note.strip())}]")
            elif tag == f"{DRAW}frame":
                frames.extend(child.iter(f"{DRAW}text-box"))
            elif tag.startswith(DRAW):  # a drawing shape's words: apart from the sentence around it
                words = " ".join(self.plain(p) for p in child.iter(f"{TEXT}p"))
                out.append(f" {html.escape(words)} " if words else " ")
            else:  # spans, links, fields: their words
                out.append(self.inline(child, frames, notes))
            out.append(html.escape(child.tail or ""))
        return "".join(out)

    def plain(self, el: _Element) -> str:
        return " ".join(html.unescape(self.inline(el, [])).replace("<br>", " ").split())

    # -- blocks ----------------------------------------------------------------------------------------
    def blocks(self, parent: _Element, out: list[str]) -> None:
        for el in parent:
            self.block(el, out)

    def block(self, el: _Element, out: list[str]) -> None:
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag in _SKIP or not tag or self.is_hidden(el):
            return
        if tag in (f"{TEXT}h", f"{TEXT}p"):
            self.paragraph(el, out)
        elif tag == f"{TEXT}list" and el.find(f".//{TEXT}h") is not None:
            # numbered headings ("1. Receiving", "2. Returns") are written as a list of headings: they stay
            # headings, and what sits with them in the list stays in order
            style = el.get(f"{TEXT}style-name") or ""
            for item in el:
                if item.tag not in (f"{TEXT}list-item", f"{TEXT}list-header"):
                    continue
                for part in item:  # a list inside takes this one's style, a level down
                    if part.tag == f"{TEXT}list" and part.find(f".//{TEXT}h") is None:
                        self.a_list(part, out, style, 2)
                    else:
                        self.block(part, out)
        elif tag == f"{TEXT}list":
            self.a_list(el, out, el.get(f"{TEXT}style-name") or "", 1)
        elif tag == f"{TEXT}numbered-paragraph":  # a paragraph with a list's number, standing alone
            self.a_list(el, out, el.get(f"{TEXT}style-name") or "", _count(el.get(f"{TEXT}level")), single=True)
        elif tag == f"{TABLE}table":
            self.table(el, out)
        elif tag in (f"{TEXT}section", f"{TEXT}index-body", f"{OFFICE}text"):
            self.blocks(el, out)
        elif tag == f"{DRAW}frame":
            for box in el.iter(f"{DRAW}text-box"):
                self.blocks(box, out)

    def paragraph(self, el: _Element, out: list[str]) -> None:
        frames: list[_Element] = []
        level = min(max(_count(el.get(f"{TEXT}outline-level")), 1), 6) if el.tag == f"{TEXT}h" else \
            self.heading_level(el)
        notes: list[str] = []  # a heading's notes follow it: they are not its words, nor its anchor
        text = self.inline(el, frames, notes if level >= 0 else None).strip()
        if text:
            if level == 0:
                out.append(f"<p class='title'>{text}</p>")
            elif level > 0:
                out.append(f"<h{level}>{text}</h{level}>")
            else:
                out.append(f"<p>{text}</p>")
        out.extend(f"<p>[{html.escape(n)}]</p>" for n in notes)
        for box in frames:
            self.blocks(box, out)

    def a_list(self, el: _Element, out: list[str], style: str, level: int, single: bool = False) -> None:
        style = el.get(f"{TEXT}style-name") or style
        if not style:  # a list written without a style takes the one its first paragraph's style carries
            first = el.find(f".//{TEXT}p")
            for name in self._chain(first.get(f"{TEXT}style-name") or "") if first is not None else []:
                if name in self.list_of:
                    style = self.list_of[name]
                    break
        tag = "ol" if self.is_numbered(style, level) else "ul"
        opened = False
        for item in ([el] if single else el):
            if item.tag == f"{TEXT}list-header" and not opened:  # the unnumbered lines above a list
                self.blocks(item, out)
                continue
            if item.tag not in (f"{TEXT}list-item", f"{TEXT}list-header") and not single:
                continue
            if self.is_hidden(item):
                continue
            if not opened:
                out.append(f"<{tag}>")
                opened = True
            out.append("<li>")
            for part in item:
                if not isinstance(part.tag, str) or self.is_hidden(part):
                    continue
                if part.tag == f"{TEXT}list":
                    self.a_list(part, out, style, level + 1)
                elif part.tag in (f"{TEXT}p", f"{TEXT}h"):
                    frames: list[_Element] = []
                    text = self.inline(part, frames).strip()
                    if text:
                        out.append(f"<p>{text}</p>")
                    for box in frames:
                        self.blocks(box, out)
                elif part.tag == f"{TABLE}table":
                    self.table(part, out)
            out.append("</li>")
        if opened:
            out.append(f"</{tag}>")

    def table(self, el: _Element, out: list[str]) -> None:
        rows: list[str] = []
        for row in el.iter(f"{TABLE}table-row"):
            if row.getparent() is not None and any(a.tag == f"{TABLE}table" and a is not el
                                                   for a in row.iterancestors(f"{TABLE}table")):
                continue  # a row of a table inside a cell: read with that cell
            cells: list[str] = []
            spanned = 0  # covered cells still to come that the cell before spans: they show its text
            for cell in row:
                if cell.tag == f"{TABLE}covered-table-cell":
                    # merged into the cell before it (across: its text again) or above it (down: empty)
                    cells.append(cells[-1] if spanned > 0 and cells else "")
                    spanned -= 1
                    continue
                if cell.tag != f"{TABLE}table-cell":
                    continue
                text = " ".join(self.plain(p) for p in cell.iter(f"{TEXT}p", f"{TEXT}h") if not self.is_hidden(p))
                repeat = _count(cell.get(f"{TABLE}number-columns-repeated"))
                cells.extend([html.escape(text)] * (min(repeat, _MAX_REPEAT) if text else 1))
                spanned = min(_count(cell.get(f"{TABLE}number-columns-spanned")), _MAX_REPEAT) - 1
            while cells and not cells[-1]:
                cells.pop()
            self.cells += len(cells)
            if self.cells > _MAX_CELLS:
                raise ReadError(f"{self.location} has tables of more than {_MAX_CELLS:,} cells; split it into smaller "
                                "documents")
            if cells:
                rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        if rows:
            out.append("<table>" + "".join(rows) + "</table>")
