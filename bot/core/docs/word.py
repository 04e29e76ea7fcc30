"""Word documents (.docx, .docm) as the HTML reader reads them.

A .docx is a zip of XML parts (ECMA-376, "Office Open XML"). What the answer engine needs survives a plain
translation: headings (a paragraph style named "heading N" or "Title", or an outline level, on the paragraph
or a style it is based on), numbered and bulleted lists (the list's number format in numbering.xml, level by
level, also through list styles and level overrides), tables (merged cells keep their text), and the visible
text of runs, hyperlinks, text boxes, tracked insertions and footnotes (in brackets where they are cited).
Left out: deleted and hidden text, field codes, empty content-control placeholders, the table of contents,
headers, footers, comments and images. The result is small HTML handed to the HTML reader, so sections,
procedures and FAQ pairs come out of Word files by the same rules as out of web pages.

Word never writes a DOCTYPE: a part that has one is refused, so no entity is ever expanded. The XML parts
together may unpack to at most MAX_XML_BYTES; larger is a file to split, or a zip bomb.
"""

from __future__ import annotations

import html
import io
import re
import zipfile
from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.core.docs.model import ReadError

if TYPE_CHECKING:
    from lxml.etree import _Element

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
STRICT_W = b"http://purl.oclc.org/ooxml/wordprocessingml/main"  # "Strict Open XML": the same tags, another name
_W = f"{{{W}}}"
_MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
DOCUMENT = "word/document.xml"
PARTS = (DOCUMENT, "word/styles.xml", "word/numbering.xml", "word/footnotes.xml", "word/endnotes.xml",
         "docProps/core.xml")
MAX_XML_BYTES = 25_000_000  # about 4,000 pages of text; more is a file to split (or a zip bomb)
_DOCTYPE = re.compile(rb"<!DOCTYPE|<!ENTITY", re.I)
_LIST_STYLE = re.compile(r"^list (?:number|bullet|continue|paragraph)\s*(\d)$")
_SKIP = frozenset(f"{_W}{t}" for t in ("del", "moveFrom", "rPr", "pPr", "instrText", "delText", "sdtPr",
                                          "fldData", "commentReference", "annotationRef"))


def to_html(data: bytes, location: str) -> str:
    """The document's body as HTML (headings, paragraphs, lists, tables), with its title when it has one."""
    return one_sentence(lambda: _to_html(data, location), location,
                        packed="is password-protected or packed in a way the bot cannot open; save it from Word "
                               "again as .docx without a password",
                        damaged="a damaged Word file", advice="open it in Word and save it again as .docx")


def one_sentence(read: Callable[[], str], location: str, packed: str, damaged: str, advice: str) -> str:
    """What ``read`` returns, or a ReadError of one sentence, never a crash: for an entry packed with a method
    zipfile lacks (or encrypted), ``packed``; for anything else unexpected (zlib, an odd number), the file is
    ``damaged`` and ``advice`` says what to do."""
    try:
        return read()
    except ReadError:
        raise
    except (RuntimeError, NotImplementedError):
        raise ReadError(f"{location} {packed}") from None
    except Exception as exc:
        kind = type(exc).__name__ if type(exc).__name__ != "error" else f"{type(exc).__module__} error"
        raise ReadError(f"{location} is {damaged} ({kind}); {advice}") from None


def open_package(data: bytes, location: str, main: str, not_zip: str, not_doc: str) -> zipfile.ZipFile:
    """An office document's zip package (Word, OpenDocument) holding its ``main`` part; one sentence naming the
    file (``location`` followed by ``not_zip`` or ``not_doc``) when it is no zip or lacks that part."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ReadError(f"{location} {not_zip}") from None
    if main not in zf.namelist():
        zf.close()
        raise ReadError(f"{location} {not_doc}")
    return zf


def budgeted(zf: zipfile.ZipFile, parts: tuple[str, ...], location: str) -> list[zipfile.ZipInfo]:
    """Those of ``parts`` the package holds, once their unpacked size is known to stay within MAX_XML_BYTES."""
    names = set(zf.namelist())
    wanted = [zf.getinfo(n) for n in parts if n in names]
    if sum(i.file_size for i in wanted) > MAX_XML_BYTES:
        raise ReadError(f"{location} is too large to read (its text unpacks to more than "
                        f"{MAX_XML_BYTES // 1_000_000} MB): split it into smaller documents")
    return wanted


def _to_html(data: bytes, location: str) -> str:
    with open_package(data, location, DOCUMENT,
                      "is not a Word .docx file the bot can read (it may be damaged, password-protected or an old "
                      ".doc: save it again as .docx)", f"is not a Word document (it has no {DOCUMENT})") as zf:
        parts = {i.filename: _parse(zf, i, location) for i in budgeted(zf, PARTS, location)}
    body = parts[DOCUMENT].find(f"{_W}body")
    if body is None:
        raise ReadError(f"{location} has no document body the bot understands; open it in Word and save it as "
                        "a Word Document (.docx)")
    doc = _Doc(parts.get("word/styles.xml"), parts.get("word/numbering.xml"),
               [p for n in ("word/footnotes.xml", "word/endnotes.xml") if (p := parts.get(n)) is not None])
    out: list[str] = []
    doc.blocks(body, out)
    doc.close_lists(out, -1)
    title = _title(parts.get("docProps/core.xml"))
    head = f"<title>{html.escape(title)}</title>" if title else ""
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'>{head}</head><body>{''.join(out)}</body></html>"


def _parse(zf: zipfile.ZipFile, info: zipfile.ZipInfo, location: str) -> _Element:
    return parse_part(zf, info, location, "Word")


def parse_part(zf: zipfile.ZipFile, info: zipfile.ZipInfo, location: str, what: str) -> _Element:
    """One XML part of an office package (``what`` names the kind of file in messages): never with a DOCTYPE,
    so no entity is ever expanded."""
    from lxml import etree

    raw = zf.read(info)
    if _DOCTYPE.search(raw):
        raise ReadError(f"{location} declares entities ({info.filename} has a DOCTYPE, which {what} never writes); "
                        "it was not read")
    raw = raw.replace(STRICT_W, W.encode())
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                             remove_comments=True, remove_pis=True)
    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as exc:
        raise ReadError(f"{location} is a damaged {what} file ({info.filename} is not well-formed XML, or one of "
                        f"its texts is too long: {type(exc).__name__})") from None
    if getattr(root.getroottree().docinfo, "doctype", ""):  # one the byte search missed (UTF-16): not expanded, still refused
        raise ReadError(f"{location} declares entities ({info.filename} has a DOCTYPE, which {what} never writes); "
                        "it was not read")
    return root


def _title(core: _Element | None) -> str:
    if core is None:
        return ""
    el = core.find("{http://purl.org/dc/elements/1.1/}title")
    return " ".join((el.text or "").split()) if el is not None else ""


def _val(el: _Element | None, path: str) -> str | None:
    if el is None:
        return None
    got = el.find(path)
    return got.get(f"{_W}val") if got is not None else None


def _int(text: str | None, default: int = 0) -> int:
    """A number attribute; anything else (Unicode digits, letters) is the default."""
    return int(text) if text is not None and text.isascii() and text.isdigit() else default


def _on(el: _Element | None) -> bool:
    """A toggle property (w:vanish, w:showingPlcHdr): present and not switched off."""
    return el is not None and (el.get(f"{_W}val") or "true").lower() not in ("0", "false", "off")


class _Doc:
    """Styles, list formats and notes of one document, and the HTML lists open while its paragraphs are written."""

    def __init__(self, styles: _Element | None, numbering: _Element | None, notes: list[_Element]) -> None:
        self.styles: dict[str, _Element] = {}
        if styles is not None:
            for st in styles.iter(f"{_W}style"):
                sid = st.get(f"{_W}styleId")
                if sid:
                    self.styles[sid] = st
        self.formats: dict[tuple[str, int], str] = {}
        if numbering is not None:
            self._read_numbering(numbering)
        self.notes: dict[str, str] = {}
        for part in notes:
            for note in part:
                nid = note.get(f"{_W}id")
                if nid and (note.get(f"{_W}type") or "normal") == "normal":
                    text = " ".join(self.runs(p) for p in note.iter(f"{_W}p"))
                    self.notes.setdefault(nid, " ".join(text.split()))
        self.open: list[str] = []  # the tags of the lists open now, outermost first

    def _read_numbering(self, numbering: _Element) -> None:
        abstract: dict[str, dict[int, str]] = {}
        links: dict[str, str] = {}  # abstract list -> the list style it takes its levels from
        defines: dict[str, str] = {}  # list style -> the abstract list that defines it
        for an in numbering.iter(f"{_W}abstractNum"):
            aid = an.get(f"{_W}abstractNumId") or ""
            abstract[aid] = {_int(lvl.get(f"{_W}ilvl")): _val(lvl, f"{_W}numFmt") or "decimal"
                             for lvl in an.findall(f"{_W}lvl")}
            if link := _val(an, f"{_W}numStyleLink"):
                links[aid] = link
            if style := _val(an, f"{_W}styleLink"):
                defines[style] = aid
        nums: dict[str, str] = {}
        overrides: dict[str, dict[int, str]] = {}
        for num in numbering.iter(f"{_W}num"):
            nid = num.get(f"{_W}numId") or ""
            nums[nid] = _val(num, f"{_W}abstractNumId") or ""
            for ov in num.findall(f"{_W}lvlOverride"):
                lvl = ov.find(f"{_W}lvl")
                fmt = _val(lvl, f"{_W}numFmt")
                if fmt:
                    overrides.setdefault(nid, {})[_int(ov.get(f"{_W}ilvl"))] = fmt
        for aid, link in links.items():  # a list defined by a list style: its levels are the style's list's
            st = self.styles.get(link)
            target = defines.get(link) or (
                nums.get(_val(st.find(f"{_W}pPr/{_W}numPr"), f"{_W}numId") or "", "") if st is not None else "")
            if not abstract.get(aid) and target in abstract:
                abstract[aid] = abstract[target]
        for nid, aid in nums.items():
            for ilvl, fmt in {**abstract.get(aid, {}), **overrides.get(nid, {})}.items():
                self.formats[(nid, ilvl)] = fmt

    # -- styles --------------------------------------------------------------------------------------
    def _style_chain(self, sid: str | None) -> list[_Element]:
        chain: list[_Element] = []
        while sid and sid in self.styles and len(chain) < 20:
            st = self.styles[sid]
            chain.append(st)
            sid = _val(st, f"{_W}basedOn")
        return chain

    def _names(self, ppr: _Element | None) -> list[str]:
        return [(_val(st, f"{_W}name") or "").strip().lower() for st in self._style_chain(_val(ppr, f"{_W}pStyle"))]

    def is_contents(self, ppr: _Element | None) -> bool:
        """A table-of-contents line or its title: a copy of the headings, not content."""
        names = self._names(ppr)
        return bool(names) and (names[0].startswith("toc ") or names[0] in ("toc heading", "table of contents"))

    def heading_level(self, ppr: _Element | None) -> int:
        """1-6 for a heading paragraph, 0 for any other (outline level 9 is body text, whatever the style)."""
        outline = _val(ppr, f"{_W}outlineLvl")
        if outline is not None:
            return min(_int(outline, 9) + 1, 6) if _int(outline, 9) < 9 else 0
        for st in self._style_chain(_val(ppr, f"{_W}pStyle")):
            name = (_val(st, f"{_W}name") or "").strip().lower()
            if name == "title":
                return 1
            if name.startswith("heading ") and 1 <= _int(name[8:].strip()) <= 9:
                return min(_int(name[8:].strip()), 6)
            lvl = _val(st.find(f"{_W}pPr"), f"{_W}outlineLvl")
            if lvl is not None:
                return min(_int(lvl, 9) + 1, 6) if _int(lvl, 9) < 9 else 0
        return 0

    def list_item(self, ppr: _Element | None) -> tuple[str, int] | None:
        """('ol' or 'ul', depth) when the paragraph is a list item."""
        numpr = ppr.find(f"{_W}numPr") if ppr is not None else None
        depth_from_style = 0
        names = self._names(ppr)
        if names and (m := _LIST_STYLE.match(names[0])):  # Word's "List Number 2" is a second-level list
            depth_from_style = int(m.group(1)) - 1
        if numpr is None:
            for st in self._style_chain(_val(ppr, f"{_W}pStyle")):
                numpr = st.find(f"{_W}pPr/{_W}numPr")
                if numpr is not None:
                    break
        if numpr is None:
            return None
        num = _val(numpr, f"{_W}numId") or ""
        if num in ("", "0"):  # numId 0 switches numbering off
            return None
        ilvl = min(_int(_val(numpr, f"{_W}ilvl")), 8)
        fmt = self.formats.get((num, ilvl), "decimal")
        if fmt == "none":
            return None
        return ("ul" if fmt == "bullet" else "ol"), (ilvl or depth_from_style)

    # -- writing ------------------------------------------------------------------------------------
    def close_lists(self, out: list[str], keep: int) -> None:
        """Close open lists until ``keep + 1`` remain (-1 closes them all)."""
        while len(self.open) > keep + 1:
            out.append(f"</li></{self.open.pop()}>")

    def blocks(self, parent: _Element, out: list[str]) -> None:
        for el in parent:
            tag = el.tag if isinstance(el.tag, str) else ""
            if tag == f"{_W}p":
                self.paragraph(el, out)
            elif tag == f"{_W}tbl":
                self.close_lists(out, -1)
                self.table(el, out)
            elif tag == f"{_W}sdt":
                props = el.find(f"{_W}sdtPr")
                if props is not None and (_on(props.find(f"{_W}showingPlcHdr")) or (_val(
                        props, f"{_W}docPartObj/{_W}docPartGallery") or "").lower() == "table of contents"):
                    continue  # "Click here to enter text", or the table of contents
                content = el.find(f"{_W}sdtContent")
                if content is not None:
                    self.blocks(content, out)
            elif tag in (f"{_W}customXml", f"{_W}ins", f"{_W}moveTo", f"{_MC}AlternateContent", f"{_MC}Choice"):
                self.blocks(el, out)  # wrappers of ordinary paragraphs (mc:Fallback repeats mc:Choice)

    def paragraph(self, p: _Element, out: list[str]) -> None:
        ppr = p.find(f"{_W}pPr")
        if self.is_contents(ppr):
            return
        text = self.runs(p)
        if not text.strip():
            return  # an empty paragraph is spacing; it does not end a list
        level = self.heading_level(ppr)
        item = None if level else self.list_item(ppr)
        esc = html.escape(" ".join(text.split()))
        if level:
            self.close_lists(out, -1)
            out.append(f"<h{level}>{esc}</h{level}>")
        elif item is not None:
            tag, depth = item
            if len(self.open) > depth + 1:
                self.close_lists(out, depth)
            if len(self.open) == depth + 1:
                if self.open[-1] != tag:  # a numbered list after a bulleted one at the same depth
                    out.append(f"</li></{self.open.pop()}>")
                else:
                    out.append("</li><li>" + esc)
                    return
            while len(self.open) < depth + 1:
                self.open.append(tag)
                out.append(f"<{tag}><li>")
            out.append(esc)
        else:
            self.close_lists(out, -1)
            out.append(f"<p>{esc}</p>")

    def table(self, tbl: _Element, out: list[str]) -> None:
        rows: list[str] = []
        above: dict[int, str] = {}  # column -> the text of the cell a vertical merge continues
        for tr in tbl.findall(f"{_W}tr"):
            cells, col = [], 0
            for tc in tr.findall(f"{_W}tc"):
                props = tc.find(f"{_W}tcPr")
                span = max(1, _int(_val(props, f"{_W}gridSpan"), 1))
                merge = props.find(f"{_W}vMerge") if props is not None else None
                if merge is not None and (merge.get(f"{_W}val") or "continue") == "continue":
                    cell = above.get(col, "")
                else:
                    cell = " ".join(self.cell_text(tc).split())
                    above[col] = cell
                cells.append(f"<td>{html.escape(cell)}</td>")
                col += span
            if cells:
                rows.append(f"<tr>{''.join(cells)}</tr>")
        if rows:
            out.append(f"<table>{''.join(rows)}</table>")

    def cell_text(self, tc: _Element) -> str:
        """A cell's paragraphs, and a table nested in it as its rows' text, once each."""
        parts: list[str] = []
        for el in tc:
            if el.tag == f"{_W}p":
                parts.append(self.runs(el))
            elif el.tag == f"{_W}tbl":
                parts.extend(" ".join(self.cell_text(c) for c in tr.findall(f"{_W}tc")) for tr in el.findall(f"{_W}tr"))
            elif el.tag == f"{_W}sdt" and (content := el.find(f"{_W}sdtContent")) is not None:
                parts.append(self.cell_text(content))
        return " ".join(parts)

    def runs(self, p: _Element) -> str:
        """A paragraph's visible text: runs (also in hyperlinks, insertions, smart tags, inline content controls
        and text boxes), tabs and breaks as spaces, footnotes in brackets; deleted and hidden text, field codes
        and placeholders left out."""
        parts: list[str] = []
        self._text(p, parts)
        return "".join(parts)

    def _text(self, el: _Element, parts: list[str]) -> None:
        for child in el:
            tag = child.tag if isinstance(child.tag, str) else ""
            if tag in _SKIP or tag == f"{_MC}Fallback":
                continue
            if tag == f"{_W}t":
                parts.append(child.text or "")
            elif tag == f"{_W}r":
                if not _on(child.find(f"{_W}rPr/{_W}vanish")):
                    self._text(child, parts)
            elif tag in (f"{_W}tab", f"{_W}br", f"{_W}cr"):
                parts.append(" ")
            elif tag == f"{_W}noBreakHyphen":
                parts.append("-")
            elif tag in (f"{_W}footnoteReference", f"{_W}endnoteReference"):
                note = self.notes.get(child.get(f"{_W}id") or "")
                if note:
                    parts.append(f" [{note}]")
            elif tag == f"{_W}txbxContent":  # a text box: its paragraphs, apart from the text around them
                parts.append(" " + " ".join(self.runs(p) for p in child.iter(f"{_W}p")) + " ")
            elif tag == f"{_W}sdt":
                props = child.find(f"{_W}sdtPr")
                if props is None or not _on(props.find(f"{_W}showingPlcHdr")):
                    self._text(child, parts)
            else:
                self._text(child, parts)
