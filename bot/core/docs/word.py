"""Word documents (.docx) as the HTML reader reads them.

A .docx is a zip of XML parts (ECMA-376, "Office Open XML"). What the answer engine needs survives a plain
translation: headings (a paragraph style named "heading N" or "Title", or an outline level, on the paragraph
or a style it is based on), numbered and bulleted lists (the list's number format in numbering.xml, level by
level), tables, and the text of runs, hyperlinks and tracked insertions. Deleted text, field codes, headers,
footers, comments and images are left out. The result is small HTML handed to the HTML reader, so sections,
procedures and FAQ pairs come out of Word files by the same rules as out of web pages.
"""

from __future__ import annotations

import html
import io
import zipfile
from typing import TYPE_CHECKING

from bot.core.docs.model import ReadError

if TYPE_CHECKING:
    from lxml.etree import _Element

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_W = f"{{{W}}}"
DOCUMENT = "word/document.xml"
MAX_PART_BYTES = 50_000_000  # a document part larger than this unpacked is refused (a zip bomb, not a manual)
_ORDERED = frozenset(("decimal", "decimalZero", "upperRoman", "lowerRoman", "upperLetter", "lowerLetter",
                      "ordinal", "cardinalText", "ordinalText", "decimalEnclosedParen", "decimalEnclosedCircle"))


def to_html(data: bytes, location: str) -> str:
    """The document's body as HTML (headings, paragraphs, lists, tables), with its title when it has one."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ReadError(f"{location} is not a Word .docx file the bot can read (it may be damaged, "
                        "password-protected or an old .doc: save it again as .docx)") from None
    with zf:
        body = _part(zf, DOCUMENT, location)
        if body is None:
            raise ReadError(f"{location} is not a Word document (it has no {DOCUMENT})")
        doc = _Doc(_part(zf, "word/styles.xml", location), _part(zf, "word/numbering.xml", location))
        title = _title(_part(zf, "docProps/core.xml", location))
        root = body.find(f"{_W}body")
        out: list[str] = []
        if root is not None:
            doc.blocks(root, out)
        doc.close_lists(out, -1)
    head = f"<title>{html.escape(title)}</title>" if title else ""
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'>{head}</head><body>{''.join(out)}</body></html>"


def _part(zf: zipfile.ZipFile, name: str, location: str) -> _Element | None:
    from lxml import etree

    try:
        info = zf.getinfo(name)
    except KeyError:
        return None
    if info.file_size > MAX_PART_BYTES:
        raise ReadError(f"{location} is too large to read ({name} unpacks to more than "
                        f"{MAX_PART_BYTES // 1_000_000} MB)")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True)
    try:
        return etree.fromstring(zf.read(info), parser)
    except (etree.XMLSyntaxError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ReadError(f"{location} is a damaged Word file ({name}: {type(exc).__name__})") from None


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


class _Doc:
    """Styles and list formats of one document, and the HTML lists open while its paragraphs are written."""

    def __init__(self, styles: _Element | None, numbering: _Element | None) -> None:
        self.styles: dict[str, _Element] = {}
        if styles is not None:
            for st in styles.iter(f"{_W}style"):
                sid = st.get(f"{_W}styleId")
                if sid:
                    self.styles[sid] = st
        self.formats: dict[tuple[str, int], str] = {}
        if numbering is not None:
            abstract: dict[str, dict[int, str]] = {}
            for an in numbering.iter(f"{_W}abstractNum"):
                levels: dict[int, str] = {}
                for lvl in an.iter(f"{_W}lvl"):
                    fmt = _val(lvl, f"{_W}numFmt") or "decimal"
                    levels[int(lvl.get(f"{_W}ilvl") or 0)] = fmt
                abstract[an.get(f"{_W}abstractNumId") or ""] = levels
            for num in numbering.iter(f"{_W}num"):
                levels = abstract.get(_val(num, f"{_W}abstractNumId") or "", {})
                for ilvl, fmt in levels.items():
                    self.formats[(num.get(f"{_W}numId") or "", ilvl)] = fmt
        self.open: list[str] = []  # the tags of the lists open now, outermost first

    # -- styles --------------------------------------------------------------------------------------
    def _style_chain(self, sid: str | None) -> list[_Element]:
        chain: list[_Element] = []
        while sid and sid in self.styles and len(chain) < 20:
            st = self.styles[sid]
            chain.append(st)
            sid = _val(st, f"{_W}basedOn")
        return chain

    def heading_level(self, ppr: _Element | None) -> int:
        """1-6 for a heading paragraph, 0 for any other."""
        outline = _val(ppr, f"{_W}outlineLvl")
        if outline is not None and outline.isdigit() and int(outline) < 9:
            return min(int(outline) + 1, 6)
        for st in self._style_chain(_val(ppr, f"{_W}pStyle")):
            name = (_val(st, f"{_W}name") or "").strip().lower()
            if name == "title":
                return 1
            if name.startswith("heading ") and name[8:].strip().isdigit():
                return min(max(int(name[8:].strip()), 1), 6)
            lvl = _val(st.find(f"{_W}pPr"), f"{_W}outlineLvl")
            if lvl is not None and lvl.isdigit() and int(lvl) < 9:
                return min(int(lvl) + 1, 6)
        return 0

    def list_item(self, ppr: _Element | None) -> tuple[str, int] | None:
        """('ol' or 'ul', level) when the paragraph is a list item."""
        numpr = ppr.find(f"{_W}numPr") if ppr is not None else None
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
        ilvl_s = _val(numpr, f"{_W}ilvl") or "0"
        ilvl = int(ilvl_s) if ilvl_s.isdigit() else 0
        fmt = self.formats.get((num, ilvl), "decimal")
        if fmt == "none":
            return None
        return ("ol" if fmt in _ORDERED else "ul"), min(ilvl, 8)

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
            elif tag in (f"{_W}sdt", f"{_W}customXml"):  # content controls hold ordinary paragraphs
                content = el.find(f"{_W}sdtContent") if tag == f"{_W}sdt" else el
                if content is not None:
                    self.blocks(content, out)

    def paragraph(self, p: _Element, out: list[str]) -> None:
        ppr = p.find(f"{_W}pPr")
        text = _runs(p)
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
        for tr in tbl.iter(f"{_W}tr"):
            cells = []
            for tc in tr.findall(f"{_W}tc"):
                cell = " ".join(_runs(p) for p in tc.iter(f"{_W}p"))
                cells.append(f"<td>{html.escape(' '.join(cell.split()))}</td>")
            if cells:
                rows.append(f"<tr>{''.join(cells)}</tr>")
        if rows:
            out.append(f"<table>{''.join(rows)}</table>")


def _runs(p: _Element) -> str:
    """A paragraph's visible text: runs (also inside hyperlinks, insertions and smart tags), tabs and breaks as
    spaces; deleted text, field codes and footnote marks left out."""
    parts: list[str] = []
    for el in p.iter():
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag == f"{_W}t":
            if not any(a.tag in (f"{_W}del", f"{_W}moveFrom") for a in el.iterancestors()):
                parts.append(el.text or "")
        elif tag in (f"{_W}tab", f"{_W}br", f"{_W}cr"):
            parts.append(" ")
        elif tag == f"{_W}noBreakHyphen":
            parts.append("-")
    return "".join(parts)
