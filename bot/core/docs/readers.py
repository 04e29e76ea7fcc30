"""Readers: markdown (markdown-it-py), HTML (lxml) and plain text, each turned into :class:`Block` s.

Plain text is what wiki exports look like: headings are bare short lines with no end punctuation, steps are
"1. Do this" or "Step 1: Do this" lines, bullets start with "-", tables arrive one cell per line ending in
"|". Nothing here knows any particular site; the rules are about documentation in general.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from bot.core.docs.model import Block, Page, ReadError, clean, slugify

if TYPE_CHECKING:
    from lxml.etree import _Element
    from markdown_it.token import Token

MARKDOWN_EXT = (".md", ".markdown")
HTML_EXT = (".html", ".htm")
TEXT_EXT = (".txt", ".text")
EXTENSIONS = MARKDOWN_EXT + HTML_EXT + TEXT_EXT


def parse(location: str, text: str, kind: str) -> Page:
    """Parse ``text`` as ``kind`` ('markdown', 'html' or 'text')."""
    if kind == "markdown":
        return read_markdown(location, text)
    if kind == "html":
        return read_html(location, text)
    return read_text(location, text)


def kind_for(name: str, content_type: str = "") -> str | None:
    """Which reader a file name (or an HTTP content type) needs; None when we cannot read it."""
    ct = content_type.split(";")[0].strip().lower()
    if ct:
        if ct in ("text/html", "application/xhtml+xml"):
            return "html"
        if ct in ("text/markdown", "text/x-markdown"):
            return "markdown"
        if ct == "text/plain":
            low = name.lower().split("?")[0]
            return "markdown" if low.endswith(MARKDOWN_EXT) else "text"
        return None
    low = name.lower()
    if low.endswith(MARKDOWN_EXT):
        return "markdown"
    if low.endswith(HTML_EXT):
        return "html"
    if low.endswith(TEXT_EXT):
        return "text"
    return None


# -- markdown -------------------------------------------------------------------------------------------
_FRONT = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)", re.S)


def read_markdown(location: str, text: str) -> Page:
    from markdown_it import MarkdownIt

    title = ""
    front = _FRONT.match(text)
    if front:
        t = re.search(r"^title:\s*(.+)$", front.group(1), re.M)
        title = t.group(1).strip().strip("'\"") if t else ""
        text = text[front.end():]
    md = MarkdownIt("commonmark").enable("table")
    tokens = md.parse(text)
    blocks: list[Block] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        line = (tok.map[0] + 1) if tok.map else 0
        if tok.type == "heading_open":
            content = clean(_md_inline(tokens[i + 1]))
            explicit = re.search(r"\s*\{#([\w-]+)\}\s*$", content)
            if explicit:
                content = content[: explicit.start()].strip()
            blocks.append(Block("heading", content, level=int(tok.tag[1]),
                                anchor=explicit.group(1) if explicit else slugify(content), line=line))
            i += 3
            continue
        if tok.type == "paragraph_open":
            blocks.append(Block("para", _md_inline(tokens[i + 1]).strip(), line=line))
            i += 3
            continue
        if tok.type in ("bullet_list_open", "ordered_list_open"):
            end = _close(tokens, i)
            items = _md_items(tokens[i + 1:end])
            blocks.append(Block("list", items=tuple(items), ordered=tok.type == "ordered_list_open", line=line))
            i = end + 1
            continue
        if tok.type == "table_open":
            end = _close(tokens, i)
            rows: list[tuple[str, ...]] = []
            row: list[str] = []
            for cell in tokens[i:end]:
                if cell.type == "tr_open":
                    row = []
                elif cell.type == "inline":
                    row.append(clean(_md_inline(cell)))
                elif cell.type == "tr_close":
                    rows.append(tuple(row))
            blocks.append(Block("table", rows=tuple(rows), line=line))
            i = end + 1
            continue
        if tok.type in ("fence", "code_block"):
            blocks.append(Block("para", tok.content.rstrip(), line=line))
        elif tok.type == "html_block":
            inner = read_html(location, tok.content).blocks
            blocks.extend(inner)
        i += 1
    if not title:
        title = next((b.text for b in blocks if b.kind == "heading"), "")
    return Page(location, title, tuple(blocks))


def _md_inline(tok: Token) -> str:
    """Inline content with links kept as their text and images as their alt text."""
    parts: list[str] = []
    for child in tok.children or ():
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(child.content)
    return "".join(parts) if tok.children else str(tok.content)


def _close(tokens: list[Token], i: int) -> int:
    depth = 0
    for j in range(i, len(tokens)):
        depth += tokens[j].nesting
        if depth == 0:
            return j
    return len(tokens) - 1


def _md_items(tokens: list[Token]) -> list[str]:
    """Top-level items of a list; nested lists become indented '- ' lines of their item."""
    items: list[str] = []
    depth = 0
    for tok in tokens:
        if tok.type == "list_item_open":
            depth += 1
            if depth == 1:
                items.append("")
        elif tok.type == "list_item_close":
            depth -= 1
        elif tok.type == "inline" and items:
            text = clean(_md_inline(tok))
            if depth <= 1:
                items[-1] = (items[-1] + " " + text).strip()
            else:
                items[-1] += "\n" + "   " * (depth - 2) + "- " + text
    return [i for i in items if i.strip()]


# -- HTML ------------------------------------------------------------------------------------------------
_DROP = ("nav", "header", "footer", "script", "style", "noscript", "aside", "form", "template", "svg",
         "iframe", "button", "select", "input", "head")
_DROP_ROLES = ("navigation", "banner", "contentinfo", "search", "complementary")
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_BLOCKS = {"p", "div", "section", "article", "main", "body", "blockquote", "pre", "ul", "ol", "table", "dl",
           "details", "summary", "figure", "figcaption", "center", "li", "dd", "dt", "address", "hr", "br", "html"}


def read_html(location: str, text: str) -> Page:
    import lxml.html
    from lxml import etree

    try:
        root = lxml.html.document_fromstring(text)
    except (etree.ParserError, ValueError) as exc:
        raise ReadError(f"{location} is not readable HTML ({exc})") from None
    title_el = root.find(".//title")
    title = clean(_content(title_el)) if title_el is not None else ""
    for el in list(root.iter()):
        if not isinstance(el.tag, str):  # comments, processing instructions
            if el.getparent() is not None:
                _drop(el)
            continue
        if ((el.tag in _DROP or (el.get("role") or "").lower() in _DROP_ROLES or el.get("hidden") is not None
             or _chrome(el)) and el.getparent() is not None):
            _drop(el)
    main = root.find(".//main")
    if main is None:
        main = _first(root, './/*[@role="main"]')
    if main is None:
        articles = root.findall(".//article")
        main = articles[0] if len(articles) == 1 else None
    for where in _CONTENT:  # wiki and CMS exports mark their content area instead
        if main is None:
            main = _first(root, where)
    body = main if main is not None else root.find("body")
    if body is None:
        body = root
    blocks: list[Block] = []
    _walk_html(body, blocks, [0])
    if not title:
        title = next((b.text for b in blocks if b.kind == "heading"), "")
    return Page(location, title, tuple(blocks))


def _content(el: _Element) -> str:
    """All the text inside ``el``, as lxml.html's ``text_content()`` gives it (that method is this XPath)."""
    return str(el.xpath("string()"))


def _drop(el: _Element) -> None:
    """Remove ``el`` with everything in it, its tail text joined to what came before (lxml.html's
    ``drop_tree``: every node of a tree lxml.html parsed has it, which lxml-stubs does not say of ``_Element``)."""
    from lxml.html import HtmlMixin

    if isinstance(el, HtmlMixin):
        el.drop_tree()


def _first(root: _Element, path: str) -> _Element | None:
    """The first element an XPath finds, or None."""
    from lxml.etree import _Element

    found = root.xpath(path)
    return next((x for x in found if isinstance(x, _Element)), None) if isinstance(found, list) else None


# ids and classes that mark a site's chrome (Confluence, MediaWiki, LibGuides, BookStack and most themes)
_CHROME = frozenset("""header footer nav navbar navigation breadcrumbs breadcrumb sidebar side-bar menu skip-link
    site-header site-footer page-header page-footer global-nav aui-header toolbar cookie-banner""".split())
_CONTENT = ('.//*[@id="main-content"]', './/*[@id="content"]', './/*[@id="mw-content-text"]',
            './/*[contains(concat(" ", normalize-space(@class), " "), " wiki-content ")]',
            './/*[contains(concat(" ", normalize-space(@class), " "), " page-content ")]')


def _chrome(el: _Element) -> bool:
    if el.tag not in ("div", "section", "ol", "ul", "span", "table"):
        return False
    names = {(el.get("id") or "").lower(), *(c.lower() for c in (el.get("class") or "").split())}
    return bool(names & _CHROME)


def _anchor(el: _Element) -> str:
    if el.get("id"):
        return str(el.get("id"))
    for child in el.iter():
        if child is not el and (child.get("id") or (child.tag == "a" and child.get("name"))):
            return str(child.get("id") or child.get("name"))
    parent = el.getparent()
    if parent is not None and parent.tag in ("section", "div", "article") and parent.get("id"):
        first = next((c for c in parent if isinstance(c.tag, str)), None)
        if first is el:
            return str(parent.get("id"))
    return ""


def _text(el: _Element) -> str:
    for br in el.iter("br"):
        br.tail = "\n" + (br.tail or "")
    return "\n".join(clean(line) for line in _content(el).split("\n") if clean(line))


def _walk_html(el: _Element, out: list[Block], summary_level: list[int]) -> None:
    """Depth-first over block elements; text sitting directly in a container becomes a paragraph."""
    if el.text and clean(el.text) and el.tag not in _HEADINGS:
        out.append(Block("para", clean(el.text)))
    inline: list[str] = []

    def flush() -> None:
        if inline and clean(" ".join(inline)):
            out.append(Block("para", clean(" ".join(inline))))
        inline.clear()

    for child in el:
        if not isinstance(child.tag, str):
            continue
        tag = child.tag.lower()
        if tag in _HEADINGS:
            flush()
            text = clean(_content(child))
            if text:
                summary_level[0] = _HEADINGS[tag]
                out.append(Block("heading", text, level=_HEADINGS[tag], anchor=_anchor(child) or slugify(text)))
        elif tag in ("ul", "ol"):
            flush()
            items = [_list_item(li) for li in child if isinstance(li.tag, str) and li.tag == "li"]
            items = [i for i in items if i]
            if items:
                out.append(Block("list", items=tuple(items), ordered=tag == "ol"))
        elif tag == "table":
            flush()
            rows = tuple(tuple(clean(_content(c)) for c in tr if isinstance(c.tag, str) and c.tag in ("td", "th"))
                         for tr in child.iter("tr"))
            rows = tuple(r for r in rows if any(r))
            if rows:
                out.append(Block("table", rows=rows))
        elif tag == "details":
            flush()
            summ = child.find("summary")
            if summ is not None:
                q = clean(_content(summ))
                _drop(summ)
                if q:
                    out.append(Block("heading", q, level=min(summary_level[0] + 1, 6),
                                     anchor=_anchor(child) or slugify(q)))
            _walk_html(child, out, summary_level)
        elif tag == "dl":  # a definition list: each term is a small heading (an FAQ's question), then its answer
            flush()
            for part in child:
                if not isinstance(part.tag, str) or not clean(_content(part)):
                    continue
                if part.tag == "dt":
                    term = clean(_content(part))
                    out.append(Block("heading", term, level=min(summary_level[0] + 1, 6),
                                     anchor=_anchor(part) or slugify(term)))
                else:
                    _walk_html(part, out, summary_level)
        elif tag == "pre":
            flush()
            out.append(Block("para", _content(child).rstrip()))
        elif tag == "p":
            flush()
            text = _text(child)
            if text:
                out.append(Block("para", text))
        elif tag in _BLOCKS:
            flush()
            _walk_html(child, out, summary_level)
        else:
            inline.append(_content(child))
        if child.tail and clean(child.tail):
            if tag in _BLOCKS or tag in _HEADINGS:
                flush()
                out.append(Block("para", clean(child.tail)))
            else:
                inline.append(child.tail)
    flush()


def _list_item(li: _Element) -> str:
    nested = [c for c in li if isinstance(c.tag, str) and c.tag in ("ul", "ol")]
    for n in nested:
        li.remove(n)  # n is one of li's children
    text = clean(_content(li))
    for n in nested:
        for sub in n:
            if isinstance(sub.tag, str) and sub.tag == "li":
                s = _list_item(sub).replace("\n", "\n   ")
                if s:
                    text += "\n- " + s
    return text


# -- plain text ------------------------------------------------------------------------------------------
_BULLET = re.compile(r"^\s*[-*•·–]\s*(.*)$")
_STEP = re.compile(r"^\s*(?:step\s*)?(\d{1,2})\s*[.):]\s+(\S.*)$", re.I)
_END_PUNCT = re.compile(r"[.,;:!…]$")
_NOT_HEADING_START = re.compile(r"^(and|but|or|then|so|because|which|that|note|tip|warning|caution|important|nb)\b",
                                re.I)


def _is_heading(line: str) -> bool:
    s = line.strip()
    if not (2 <= len(s) <= 80) or len(s.split()) > 12:
        return False
    if _END_PUNCT.search(s) or "|" in s or "=" in s or _BULLET.match(s) or _STEP.match(s):
        return False
    if not (s[0].isupper() or s[0].isdigit()) or not re.search(r"[A-Za-z]", s):
        return False
    return not _NOT_HEADING_START.match(s)


def read_text(location: str, text: str) -> Page:
    """Plain text: bare short lines without end punctuation are headings; the first one is the title.

    Levels come from the page itself: a bullet list whose items name later headings is a table of
    contents, so those headings sit one level under the heading that holds the list; other headings sit
    under the closest such heading."""
    lines = [ln.rstrip() for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    raw: list[tuple[str, str, int, list[str]]] = []  # (kind, text, line, cells)
    # paragraphs separated by blank lines (and maybe wrapped at a fixed width), or one paragraph a line
    inner = text.strip().splitlines()
    blanks = sum(1 for ln in inner if not ln.strip())
    spaced = blanks >= 2 and blanks >= 0.1 * (len(inner) - blanks)
    n = 0
    listing = False  # after "…the following:" the items may come as a bare "-" line, then the item
    while n < len(lines):
        s = lines[n].strip()
        after_blank = n == 0 or not lines[n - 1].strip()
        if raw and not after_blank and _continues(raw[-1], s, spaced):
            kind, prev, line, prev_cells = raw[-1]
            raw[-1] = ("para" if kind == "heading" else kind, f"{prev} {s}", line, prev_cells)
            n += 1
            continue
        if _UNDERLINE.match(s) and raw and not after_blank and raw[-1][0] in ("para", "heading"):
            raw[-1] = ("heading", raw[-1][1], raw[-1][2], [])  # a setext heading: the line above, underlined
            n += 1
            continue
        marked = _MARKED_HEADING.match(s)
        if marked:
            raw.append(("heading", (marked.group(1) or marked.group(2)).strip(), n + 1, []))
            n += 1
            continue
        if s in ("-", "–", "•") and listing:
            nxt = _next_content(lines, n)
            if nxt is not None and not _BULLET.match(nxt.strip()) and nxt.strip() not in ("-", "–", "•"):
                m = n + 1
                while not lines[m].strip():
                    m += 1
                raw.append(("bullet", lines[m].strip(), m + 1, []))
                n = m + 1
                continue
        if s in ("", "-", "–", "•"):
            n += 1
            continue
        if s == "|":  # a table row: one cell per line, each ending in '|'
            cells: list[str] = []
            n += 1
            while n < len(lines) and lines[n].strip().endswith("|") and lines[n].strip() != "|":
                cells.append(lines[n].strip()[:-1].strip())
                n += 1
            if cells:
                raw.append(("row", "", n, cells))
            continue
        b = _BULLET.match(s)
        if b and b.group(1):
            raw.append(("bullet", b.group(1).strip(), n + 1, []))
            listing = listing or s.endswith(":")
        elif _STEP.match(s):
            raw.append(("step", s, n + 1, []))
            listing = s.endswith(":")
        elif _is_heading(s) and _next_content(lines, n) is not None and (not spaced or (
                after_blank and (len(s) < 50 or n + 1 >= len(lines) or not lines[n + 1].strip()))):
            raw.append(("heading", s, n + 1, []))
            listing = False
        else:
            raw.append(("para", s, n + 1, []))
            listing = s.endswith(":")
        n += 1
    levels = _text_levels(raw)
    blocks: list[Block] = []
    k = 0
    while k < len(raw):
        kind, s, line, cells = raw[k]
        if kind == "heading":
            blocks.append(Block("heading", s, level=levels.get(k, 2), anchor=slugify(s), line=line))
        elif kind == "bullet":
            items = []
            while k < len(raw) and raw[k][0] == "bullet":
                items.append(raw[k][1])
                k += 1
            blocks.append(Block("list", items=tuple(items), line=line))
            continue
        elif kind == "row":
            rows = []
            while k < len(raw) and raw[k][0] == "row":
                rows.append(tuple(raw[k][3]))
                k += 1
            blocks.append(Block("table", rows=tuple(rows), line=line))
            continue
        else:  # para and step lines; the section builder gathers steps into procedures
            blocks.append(Block("para", s, line=line))
        k += 1
    title = next((b.text for b in blocks if b.kind == "heading"), "")
    return Page(location, title, tuple(blocks))


_UNDERLINE = re.compile(r"^(={3,}|-{3,}|~{3,})$")
_MARKED_HEADING = re.compile(r"^(?:#{1,6}\s+(.+?)\s*#*|={1,6}\s+(.+?)\s+={1,6})$")


def _continues(prev: tuple[str, str, int, list[str]], line: str, spaced: bool) -> bool:
    """Whether ``line`` carries on the paragraph or item above it (text wrapped at a fixed width)."""
    kind, text = prev[0], prev[1]
    if kind not in ("para", "bullet", "step", "heading") or not line or not text or text.endswith((".", "!", "?", ":")):
        return False
    if _BULLET.match(line) or _STEP.match(line) or line.endswith("|") or line in ("-", "–", "•"):
        return False
    if line[0].islower():
        return kind != "heading" or spaced
    # a capitalised line carries on only where paragraphs are blank-line separated and the line above is long
    return spaced and kind != "heading" and len(text) >= 50


def _next_content(lines: list[str], n: int) -> str | None:
    for ln in lines[n + 1:]:
        if ln.strip() not in ("", "-", "–", "•"):
            return ln
    return None


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", s.lower()).strip()


def _match(item: str, headings: dict[str, int]) -> int | None:
    """The later heading a table-of-contents item names (exactly, or nearly: 'Partner' for 'Partners')."""
    from rapidfuzz import fuzz, process

    key = _norm(item)
    if key in headings:
        return headings[key]
    found = process.extractOne(key, list(headings), scorer=fuzz.ratio, score_cutoff=90)
    return headings[found[0]] if found else None


def _text_levels(raw: list[tuple[str, str, int, list[str]]]) -> dict[int, int]:
    heads = [k for k, r in enumerate(raw) if r[0] == "heading"]
    if not heads:
        return {}
    levels: dict[int, int] = {heads[0]: 1}
    # tables of contents: runs of bullets whose items (mostly) name later headings
    k = 0
    current_head = heads[0]
    while k < len(raw):
        if raw[k][0] == "heading":
            current_head = k
            k += 1
            continue
        if raw[k][0] != "bullet":
            k += 1
            continue
        run = []
        while k < len(raw) and raw[k][0] == "bullet":
            run.append(raw[k][1])
            k += 1
        later = {_norm(raw[h][1]): h for h in heads if h > k}
        found = [h for h in (_match(item, later) for item in run) if h is not None]
        if len(run) >= 2 and len(found) >= max(2, int(0.6 * len(run))):
            base = levels.get(current_head, 2)
            for h in found:
                levels.setdefault(h, base + 1)
    # every other heading sits under the closest heading placed by a table of contents
    # a heading followed at once by another one (no text between) opens a group: "Frequently Asked
    # Questions" then its questions, "Benefits" then each benefit
    anchor_level = 1
    prev = heads[0]
    nested = False  # the previous heading was itself opened as the first part of a group
    for h in heads[1:]:
        if h in levels:
            anchor_level = levels[h]
            nested = False
        else:
            # a run of three bare headings is read as group, part, part: not three levels deep
            opens = h == prev + 1 and not nested
            if opens:
                anchor_level = levels[prev]
            levels[h] = anchor_level + 1
            nested = opens
        prev = h
    return levels
