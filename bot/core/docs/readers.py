"""Readers: markdown (markdown-it-py), HTML (lxml) and plain text, each turned into :class:`Block` s.

Plain text is what wiki exports look like: headings are bare short lines with no end punctuation, steps are
"1. Do this" or "Step 1: Do this" lines, bullets start with "-", tables arrive one cell per line ending in
"|". Nothing here knows any particular site; the rules are about documentation in general.
"""

from __future__ import annotations

import contextlib
import re
from itertools import pairwise
from typing import TYPE_CHECKING

from bot.core.docs.model import Block, Page, ReadError, clean, slugify, text_fragment

if TYPE_CHECKING:
    from lxml.etree import _Element
    from markdown_it.token import Token

MARKDOWN_EXT = (".md", ".markdown")
HTML_EXT = (".html", ".htm")
TEXT_EXT = (".txt", ".text")
WORD_EXT = (".docx", ".docm")  # a macro-enabled document is the same package (its macros are never run)
PDF_EXT = (".pdf",)
# a web page saved as one file (a browser's or Word's "single file web page"), and Confluence's "Export to
# Word", which writes the same MIME archive under a .doc name
MHTML_EXT = (".mht", ".mhtml")
ODT_EXT = (".odt",)  # LibreOffice, and Google Docs' "Download as OpenDocument"
FODT_EXT = (".fodt",)  # LibreOffice's flat (single XML file) OpenDocument
EML_EXT = (".eml",)  # an e-mail saved by Thunderbird, Apple Mail, Outlook on the web or Gmail ("Download message")
ODT_TYPE = "application/vnd.oasis.opendocument.text"
EXTENSIONS = MARKDOWN_EXT + HTML_EXT + TEXT_EXT + WORD_EXT + PDF_EXT + MHTML_EXT + ODT_EXT + FODT_EXT + EML_EXT
WORD_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
# documents someone may keep beside their pages that no reader here opens: named when a folder holds them
# (images, stylesheets and scripts of an exported site are a page's parts and pass without a word)
UNREADABLE_DOCS = (".doc", ".rtf", ".pages", ".epub", ".wpd")


def parse(location: str, text: str, kind: str) -> Page:
    """Parse ``text`` as ``kind`` ('markdown', 'html' or 'text')."""
    if kind == "markdown":
        return read_markdown(location, text)
    if kind == "html":
        return read_html(location, text)
    return read_text(location, text)


def sniff_doc(head: bytes) -> str | None:
    """What a .doc file really is, from its first bytes: 'mhtml' (a MIME web archive, as Confluence's Export to
    Word writes), 'html' (a web page renamed .doc), or None (a Word 97-2003 binary file, which no reader here
    opens)."""
    if head.startswith(b"PK\x03\x04"):  # a .docx or an .odt renamed .doc
        return "odt" if b"application/vnd.oasis.opendocument.text" in head[:200] else "docx"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        head = head.decode("utf-16", errors="replace").encode("utf-8", errors="replace")
        return "html" if b"<html" in head.lower()[:2048] else None
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if start.startswith(b"\xd0\xcf\x11\xe0"):
        return None
    start = re.sub(rb"\A(?:\s*<!--.*?-->)+\s*", b"", start, flags=re.S)  # "<!-- saved from url=... -->" first
    if b"mime-version:" in start[:2048] or b"multipart/related" in start[:4096]:
        return "mhtml"
    if start.startswith((b"<html", b"<!doctype html")) or (start.startswith(b"<?xml") and b"<html" in start[:2048]):
        return "html"
    return None


def sniff_package(data: bytes, path: str) -> str | None:
    """A Word or OpenDocument file served under another type (application/zip, text/plain): 'docx', 'odt' or
    None, from its first bytes."""
    if not data.startswith(b"PK\x03\x04"):
        return None
    if b"application/vnd.oasis.opendocument.text" in data[:200]:
        return "odt"
    if path.lower().endswith(WORD_EXT) or b"word/document.xml" in data[:65536] or b"[Content_Types].xml" in data[:200]:
        return "docx"
    return None


def doc_kind_name(head: bytes) -> str:
    """What an unreadable .doc is, for the sentence that names it."""
    if not head.strip():
        return "an empty file"
    if head.lstrip().startswith(b"{\\rtf"):
        return "a Rich Text (RTF) file"
    return "a Word 97-2003 document"


MAX_PAGE_BYTES = 5_000_000  # a web page inside an archive is held to the limit a page on its own has


def decode_page(data: bytes, declared: str = "") -> str:
    """A web page's bytes as text: in the character set it declares (its header's or its <meta>'s) when that
    decodes them, else UTF-8, else Windows-1252 (which takes any byte)."""
    import codecs

    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    if data.startswith(codecs.BOM_UTF8):  # a byte-order mark outranks any label, as in browsers
        return data.decode("utf-8-sig", errors="replace")
    names = [declared] if declared else []
    m = re.search(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", data[:4096], re.I)
    if m:
        names.append(m.group(1).decode("ascii", "replace"))
    try:
        utf8 = data.decode("utf-8")
    except UnicodeDecodeError:
        utf8 = None
    for name in [*names, "utf-8"]:
        try:
            codec = codecs.lookup(name).name
        except LookupError:
            continue  # a charset Python does not know: the next guess
        if codec == "utf-16" or codec.startswith("utf-16-"):
            continue  # bytes that say UTF-16 in ASCII are not UTF-16
        if codec in ("latin-1", "iso8859-1", "ascii"):
            codec = "cp1252"  # what browsers read these labels as (the WHATWG encoding standard)
        if utf8 is not None and codec != "utf-8" and _single_byte(codec):
            return utf8  # multi-byte text that is valid UTF-8 is almost never meant as one byte a letter
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue  # the declared charset is wrong
    return data.decode("cp1252", errors="replace")


def _single_byte(codec: str) -> bool:
    import codecs

    try:
        return len(codecs.encode("é", codec)) == 1
    except (UnicodeError, LookupError):
        return False


def _looks_mime(data: bytes) -> bool:
    head = data[:4096].lower()
    return b"mime-version:" in head or b"content-type:" in head


def mhtml_to_html(data: bytes, location: str) -> str:
    """The web page inside a MIME web archive (.mht, .mhtml, Confluence's Word export): its first text/html part,
    decoded from quoted-printable or base64 in its own character set. A damaged archive gets one sentence;
    a page merely saved under .mht is read as the page it is."""
    import email
    import email.errors
    from email import policy

    if not _looks_mime(data) and re.match(rb"\s*(?:\xef\xbb\xbf)?\s*<", data):
        return _within(decode_page(data), location)
    damaged = (email.errors.MissingHeaderBodySeparatorDefect, email.errors.InvalidBase64CharactersDefect,
               email.errors.InvalidBase64PaddingDefect, email.errors.InvalidBase64LengthDefect,
               email.errors.StartBoundaryNotFoundDefect)
    try:
        msg = email.message_from_bytes(data, policy=policy.default)
        parts = list(msg.walk())
        for part in parts:
            if part.get_content_type() != "text/html" or part.is_multipart():
                continue
            raw = part.get_payload(decode=True)
            if not isinstance(raw, bytes):
                continue
            encoded = str(part.get("content-transfer-encoding", "")).strip().lower()
            body = part.get_payload(decode=False)
            if (any(isinstance(d, damaged) for d in (*msg.defects, *part.defects)) or (
                    encoded == "base64" and isinstance(body, str)
                    and not re.fullmatch(r"[A-Za-z0-9+/=\s]*", body))):
                raise ReadError(f"{location} is a damaged web archive (its page is cut short or badly encoded); "
                                "save the page again")
            if len(raw) > MAX_PAGE_BYTES:
                raise ReadError(f"{location} holds a page larger than {MAX_PAGE_BYTES // 1_000_000} MB; split it "
                                "into smaller pages")
            text = decode_page(raw, part.get_content_charset() or "")
            cut = any(isinstance(d, email.errors.CloseBoundaryNotFoundDefect) for p in parts for d in p.defects)
            if cut and not re.search(r"</(?:html|body)\s*>", text, re.I):
                raise ReadError(f"{location} is a damaged web archive (it ends in the middle of its page); save "
                                "the page again")
            if "<" not in text:
                raise ReadError(f"{location} is a damaged web archive (its page holds no HTML); save the page again")
            return text
    except RecursionError:
        raise ReadError(f"{location} is not a readable web archive (its parts are nested too deeply)") from None
    except (ValueError, TypeError, IndexError, LookupError) as exc:
        raise ReadError(f"{location} is not a readable web archive ({type(exc).__name__})") from None
    raise ReadError(f"{location} holds no web page (a web archive with no text/html part)")


def eml_to_text(data: bytes, location: str) -> tuple[str, str]:
    """(text, reader kind) of a saved e-mail: its plain-text body under its From, Subject and Date lines (the
    text reader takes the subject as the title), or its HTML body titled by the subject. One sentence for a
    message with no text."""
    import email
    from email import policy
    from html import escape

    try:
        msg = email.message_from_bytes(data, policy=policy.default)
        subject = clean(str(msg.get("subject", "") or ""))
        body = msg.get_body(preferencelist=("plain", "html"))
        content = body.get_content() if body is not None else None
    except (ValueError, TypeError, IndexError, LookupError, AttributeError, RecursionError) as exc:
        raise ReadError(f"{location} is not a readable e-mail ({type(exc).__name__})") from None
    if not isinstance(content, str) or not content.strip():
        raise ReadError(f"{location} is an e-mail with no text to read (only attachments or images)")
    content = _within(content, location)
    if body is not None and body.get_content_type() == "text/html":
        return f"<title>{escape(subject)}</title>\n{content}", "html"
    sender = clean(str(msg.get("from", "") or "")) or "unknown"
    date = clean(str(msg.get("date", "") or ""))
    return f"From: {sender}\nSubject: {subject}\nDate: {date}\n\n{content}", "text"


def _within(text: str, location: str) -> str:
    if len(text) > MAX_PAGE_BYTES:
        raise ReadError(f"{location} is larger than {MAX_PAGE_BYTES // 1_000_000} MB; split it into smaller pages")
    return text


def kind_for(name: str, content_type: str = "") -> str | None:
    """Which reader a file name (or an HTTP content type) needs ('markdown', 'html', 'text', or 'docx', 'odt',
    'pdf' and 'mhtml', which are read as bytes: see :mod:`bot.core.docs.word`, :mod:`bot.core.docs.odt`,
    :mod:`bot.core.docs.pdf` and :func:`mhtml_to_html`); None when we cannot read it (a .doc is told by its first
    bytes: :func:`sniff_doc`)."""
    ct = content_type.split(";")[0].strip().lower()
    if ct:
        path = name.lower().split("?")[0]
        if ct in ("text/html", "application/xhtml+xml"):
            return "html"
        if ct in ("text/markdown", "text/x-markdown"):
            return "markdown"
        if ct == WORD_TYPE or (ct == "application/octet-stream" and path.endswith(WORD_EXT)):
            return "docx"
        if ct in ("application/pdf", "application/x-pdf") or (ct == "application/octet-stream" and path.endswith(PDF_EXT)):
            return "pdf"
        if ct == ODT_TYPE or (ct == "application/octet-stream" and path.endswith(ODT_EXT)):
            return "odt"
        if ct == "message/rfc822" or (ct == "application/octet-stream" and path.endswith(EML_EXT)):
            return "eml"
        if ct in ("multipart/related", "application/x-mimearchive") or (
                ct == "application/octet-stream" and path.endswith(MHTML_EXT)):
            return "mhtml"
        if ct == "text/plain":
            return "markdown" if path.endswith(MARKDOWN_EXT) else "text"
        return None
    low = name.lower()
    return next((kind for exts, kind in _BY_EXTENSION if low.endswith(exts)), None)


_BY_EXTENSION = ((MARKDOWN_EXT, "markdown"), (HTML_EXT, "html"), (TEXT_EXT, "text"), (WORD_EXT, "docx"),
                 (PDF_EXT, "pdf"), (MHTML_EXT, "mhtml"), (ODT_EXT, "odt"), (FODT_EXT, "fodt"), (EML_EXT, "eml"))


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
    tokens = md.parse(_pipe_tables(_flavoured(text)))
    blocks: list[Block] = []
    last_level = 0  # the level of the last real heading: a bold line is a heading one level under it
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        line = (tok.map[0] + 1) if tok.map else 0
        if tok.type == "heading_open":
            content = clean(_md_inline(tokens[i + 1]))
            # "## Title {#id}" names the heading's anchor; "{#id @page=3}" also where a link to it lands (a PDF's
            # page: see bot.core.docs.pdf)
            explicit = re.search(r"\s*\{#([\w-]+)(?:\s+@([\w=.-]+))?\}\s*$", content)
            if explicit:
                content = content[: explicit.start()].strip()
            blocks.append(Block("heading", content, level=int(tok.tag[1]),
                                anchor=explicit.group(1) if explicit else slugify(content), line=line,
                                target=(explicit.group(2) or "") if explicit else ""))
            last_level = int(tok.tag[1])
            i += 3
            continue
        if tok.type == "paragraph_open":
            inline = tokens[i + 1]
            nxt = tokens[i + 3].type if i + 3 < len(tokens) else ""
            lines = _md_lines(inline)
            first, rest = _md_bold(lines[0]), "\n".join(_md_text(ln) for ln in lines[1:]).strip()
            before_list = nxt in ("bullet_list_open", "ordered_list_open") and not rest
            heading = (pseudo_heading(first, before_list=before_list) if first else None) or question_line(
                _md_text(lines[0]))
            if heading:  # a line set wholly in bold (how Word and Google Docs exports show headings), or "Q: …?"
                level = min(last_level + 1, 6) if last_level else (1 if not blocks else 2)
                blocks.append(Block("heading", heading, level=level, anchor=slugify(heading), line=line))
                if rest:  # the answer written on the next line of the same paragraph
                    blocks.append(Block("para", rest, line=line + 1))
            else:
                blocks.append(Block("para", _md_inline(inline).strip(), line=line))
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
        elif tok.type == "html_block":  # the author's own HTML (a callout, <details>): content, never chrome
            inner = read_html(location, tok.content, fragment=True, level=last_level).blocks
            blocks.extend(inner)
        i += 1
    if not title:
        title = next((b.text for b in blocks if b.kind == "heading"), "")
    return Page(location, title, tuple(blocks))


def _pipe_row(line: str, starts: list[int]) -> str:
    """One line of a simple table cut where the rule's runs of dashes start, as a pipe-table row."""
    ends = [*starts[1:], len(line) + 1]
    cut = [line[a:b].strip() for a, b in zip([0, *starts[1:]], ends, strict=True)]
    return "| " + " | ".join(c.replace("|", "\\|") for c in cut) + " |"


def _md_lines(tok: Token) -> list[list[Token]]:
    """An inline run's children, line by line (split at soft and hard breaks)."""
    lines: list[list[Token]] = [[]]
    for c in tok.children or ():
        if c.type in ("softbreak", "hardbreak"):
            lines.append([])
        else:
            lines[-1].append(c)
    return lines


def _md_text(kids: list[Token]) -> str:
    return clean("".join(c.content for c in kids if c.type in ("text", "code_inline", "image")))


def _md_bold(children: list[Token]) -> str:
    """The text of one line of inline tokens that is one bold span and nothing else (``**Purpose**``), else ''."""
    kids = [c for c in children if not (c.type == "text" and not c.content.strip())]
    if len(kids) < 3 or kids[0].type != "strong_open" or kids[-1].type != "strong_close":
        return ""
    depth = 0
    for c in kids[:-1]:
        depth += 1 if c.type == "strong_open" else -1 if c.type == "strong_close" else 0
        if depth == 0 or c.type in ("softbreak", "hardbreak"):  # two bold spans, or more than one line
            return ""
    return clean("".join(c.content for c in kids if c.type in ("text", "code_inline")))


_QUESTION = re.compile(r"^\s*(?:Q|Question)\s*\d{0,3}\s*[:.)–-]\s*(\S.{2,300}\?)\s*$", re.I | re.S)


def question_line(text: str) -> str | None:
    """"Q: Can I reuse a slip?" -> "Can I reuse a slip?" (how FAQs are often typed); None otherwise."""
    m = _QUESTION.match(text)
    return clean(m.group(1)) if m else None


_LABEL = re.compile(r"^(?:note|notes|tip|tips|warning|caution|important|nb|example|or|and)\b", re.I)
_NUMBERED = re.compile(r"^\s*(?:step\s*)?\d{1,2}\s*[.):]?(?:\s|$)", re.I)


def pseudo_heading(text: str, before_list: bool = False) -> str | None:
    """The heading a paragraph set wholly in bold stands for, or None when it reads as emphasis.

    Word, Google Docs and WYSIWYG editors let authors "make a heading" by bolding a short line: "Purpose",
    "Before you begin:", "Which printer do the slips go to?". Labels ("Note:") and sentences are not
    headings; a bold numbered line ("Step 2: Edit the record") is a heading only when its own list of
    steps follows, otherwise it is a step."""
    s = clean(text)
    s = s[:-1].rstrip() if s.endswith(":") else s
    if not (2 <= len(s) <= 100) or len(s.split()) > 14 or not re.search(r"[A-Za-z]", s):
        return None
    if re.search(r"[.,;!]$", s) or _LABEL.match(s) or (_NUMBERED.match(s) and not before_list):
        return None
    return s


_RULE = re.compile(r"^\s*-{3,}(?:\s+-{3,})+\s*$")


_QUOTE = re.compile(r"^(?:[ \t]*>[ \t]?)*")
_FENCE_OPEN = re.compile(r"^([ \t]*)(`{3,}(?=[^`]*$)|~{3,})")
_FENCE_CLOSE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*$")
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)")
_BACKTICKS = re.compile(r"`+")
# GitBook's block tags (a template language's own tags, "{% if %}", are text a page may quote)
_LIQUID_TAB = re.compile(r"\{%-?\s*tab\s+title=\"([^\"]*)\"\s*-?%\}")
_LIQUID = re.compile(r"\{%-?\s*(?:end)?(?:hint|tabs|tab|content-ref|embed|code|file|stepper|step|columns|column|"
                     r"swagger|swagger-description|openapi)\b[^%]*-?%\}")
_BOX_TYPES = frozenset("note tip info warning danger caution success important details spoiler question example "
                       "quote abstract summary todo failure bug error hint attention seealso admonition alert "
                       "secondary".split())
# ":::tip[Title]", ":::note Title", ':::caution{title="Title"}', or a closing ":::" (Docusaurus, HackMD)
_CONTAINER = re.compile(r"^[ \t]*:{3,}[ \t]*([A-Za-z][\w-]*)?(\{[^}\n]*\})?[ \t]*(?:\[([^\]\n]*)\])?(.*)$")
# MkDocs' '!!! note "Title"' and '??? tip' (its text is the indented lines under it)
_ADMONITION = re.compile(r'^([ \t]*)(?:!!!|\?\?\?\+?)[ \t]*[\w-]+(?:[ \t]+"([^"\n]*)")?[ \t]*$')
_TOC_LINE = re.compile(r"^\s*(?:\[toc\]|\[\[_toc_\]\]|\{:toc\}|\$\{toc\}|\[\[toc\]\])\s*$", re.I)
_WIKILINK = re.compile(r"(?<![\w\]])!?\[\[([^\[\]|#]+)(?:#[^\[\]|]*)?(?:\|([^\[\]]+))?\]\]")
_CALLOUT = re.compile(r"^\[![A-Za-z][\w-]*\][+-]?[ \t]*")


def _indent(line: str) -> int:
    """The width of a line's leading blanks, a tab counting four."""
    width = 0
    for ch in line:
        if ch == " ":
            width += 1
        elif ch == "\t":
            width += 4 - width % 4
        else:
            break
    return width


def _code_spans(line: str) -> list[tuple[int, int]]:
    """Where a line's inline code spans are: a run of backticks up to the next run of the same length (found
    in one pass from the right, so a line of a thousand backticks takes no longer than one of ten)."""
    runs = [(m.start(), m.end()) for m in _BACKTICKS.finditer(line)]
    following: list[int | None] = [None] * len(runs)
    seen: dict[int, int] = {}
    for k in range(len(runs) - 1, -1, -1):
        width = runs[k][1] - runs[k][0]
        following[k] = seen.get(width)
        seen[width] = k
    spans, k = [], 0
    while k < len(runs):
        close = following[k]
        if close is None:
            k += 1
            continue
        spans.append((runs[k][0], runs[close][1]))
        k = close + 1
    return spans


def _flavour_text(text: str) -> str:
    """One stretch of a line outside inline code, its wiki markup reduced to the text it shows."""
    text = _LIQUID.sub("", _LIQUID_TAB.sub(lambda m: m.group(1).strip() + ":", text))
    return _WIKILINK.sub(lambda m: (m.group(2) or m.group(1)).strip(), text)


def _flavour_line(body: str) -> str:
    """A line of text (its blockquote markers taken off), its wiki markup reduced to the text it shows."""
    if _TOC_LINE.match(body):
        return ""
    admonition = _ADMONITION.match(body)
    if admonition:
        return admonition.group(1) + (admonition.group(2) or "")
    box = _CONTAINER.match(body)
    if box and (box.group(1) is None or box.group(1).lower() in _BOX_TYPES):
        titled = re.search(r'title="([^"]*)"', box.group(2) or "")
        return (box.group(3) or (titled.group(1) if titled else "") or box.group(4).strip(" \t:")).strip()
    body = _CALLOUT.sub("", body)
    parts, last = [], 0
    for start, end in _code_spans(body):
        parts += [_flavour_text(body[last:start]), body[start:end]]
        last = end
    return "".join([*parts, _flavour_text(body[last:])])


def _flavoured(text: str) -> str:
    """The markup wiki flavours add to markdown, reduced to the text it shows: GitBook's ``{% hint %}`` and
    ``{% tab title="..." %}`` tags, Docusaurus and HackMD ``:::note Title`` containers, MkDocs' ``!!! note``
    admonitions, Obsidian's ``[[Page|label]]`` links and ``> [!note] Title`` callouts, ``[TOC]`` markers.
    Code is left as it is: fences (which a list item's end also closes), indented code blocks (a list item's
    or an admonition's indented lines are text) and inline code."""
    out = []
    fence, fence_indent = "", 0
    nested = False  # inside a list or an admonition: indented lines are its text, not code
    code_block = False
    previous_blank = True
    for line in text.split("\n"):
        quote = _QUOTE.match(line)
        prefix = quote.group(0) if quote else ""
        body = line[len(prefix):]
        blank = not body.strip()
        indent = _indent(body)
        if fence and not blank and fence_indent and indent < fence_indent:
            fence = ""  # the list item that held the fence has ended
        if fence:
            close = _FENCE_CLOSE.match(body)
            if close and close.group(1)[0] == fence[0] and len(close.group(1)) >= len(fence):
                fence = ""
            out.append(line)
            previous_blank = blank
            continue
        if blank:
            out.append(line)
            previous_blank = True
            continue
        if indent >= 4 and (code_block or (previous_blank and not nested)):
            code_block = True  # an indented code block
            out.append(line)
            previous_blank = False
            continue
        code_block = False
        opening = _FENCE_OPEN.match(body)
        if opening:
            fence, fence_indent = opening.group(2), indent
            out.append(line)
            previous_blank = False
            continue
        if _LIST_ITEM.match(body) or _ADMONITION.match(body):
            nested = True
        elif indent == 0 and previous_blank:
            nested = False
        out.append(prefix + _flavour_line(body))
        previous_blank = False
    return "\n".join(out)


def _pipe_tables(text: str) -> str:
    """Pandoc's "simple tables" (a header line, a dashed rule with one run of dashes per column, rows
    aligned under the runs; what pandoc writes for Word tables) rewritten as pipe tables, line for line,
    so markdown-it reads them as tables and not as a paragraph, a rule and a paragraph."""
    lines = text.split("\n")
    k = 1
    while k < len(lines):
        rule = lines[k]
        if not (_RULE.match(rule) and lines[k - 1].strip() and not _RULE.match(lines[k - 1])):
            k += 1
            continue
        starts = [m.start() for m in re.finditer(r"-{3,}", rule)]
        end = k + 1
        while end < len(lines) and lines[end].strip() and not _RULE.match(lines[end]):
            end += 1
        lines[k - 1] = _pipe_row(lines[k - 1], starts)
        lines[k] = "|" + " --- |" * len(starts)
        for r in range(k + 1, end):
            lines[r] = _pipe_row(lines[r], starts)
        if end < len(lines) and _RULE.match(lines[end]):  # the closing rule of a table with one
            lines[end] = ""
        k = end + 1
    return "\n".join(lines)


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
    """Top-level items of a list; nested lists become indented lines of their item, '1. ' numbered when the
    nested list is ordered (sub-steps), '- ' otherwise."""
    items: list[str] = []
    depth = 0
    lists: list[list[int]] = []  # [ordered, items so far] of each list we are in, outermost first
    fresh = False  # a nested item's first paragraph has its number; the ones after it carry on under it
    for tok in tokens:
        if tok.type in ("ordered_list_open", "bullet_list_open"):
            start = tok.attrGet("start") if tok.type == "ordered_list_open" else None
            lists.append([int(tok.type == "ordered_list_open"), int(start) - 1 if isinstance(start, int) else 0])
        elif tok.type in ("ordered_list_close", "bullet_list_close") and lists:
            lists.pop()
        elif tok.type == "list_item_open":
            depth += 1
            fresh = True
            if lists:
                lists[-1][1] += 1
            if depth == 1:
                items.append("")
        elif tok.type == "list_item_close":
            depth -= 1
        elif tok.type == "inline" and items:
            text = clean(_md_inline(tok))
            if depth <= 1:
                items[-1] = (items[-1] + " " + text).strip()
            elif fresh:
                ordered, count = lists[-1] if lists else (0, 0)
                items[-1] += "\n" + "   " * (depth - 2) + (f"{count}. " if ordered else "- ") + text
            else:
                items[-1] += "\n" + "   " * (depth - 1) + text
            fresh = False
    return [i for i in items if i.strip()]


# -- HTML ------------------------------------------------------------------------------------------------
_DROP = ("nav", "header", "footer", "script", "style", "noscript", "aside", "form", "template", "svg",
         "iframe", "button", "select", "input", "head")
_DROP_ROLES = ("navigation", "banner", "contentinfo", "search", "complementary")
_SKIP_LINK = re.compile(r"^(?:skip|jump)\s+to\s+(?:the\s+)?(?:main\s+)?(?:content|navigation|search|menu|page content)$|"
                        r"^skip\s+(?:navigation|nav|links)$", re.I)
_EDIT_LINKS = frozenset(("edit", "edit this page", "edit page", "edit on github", "edit on gitlab", "[edit]"))
_NEVER_CONTENT = ("script", "style", "noscript", "template", "svg", "head")
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_BLOCKS = {"p", "div", "section", "article", "main", "body", "blockquote", "pre", "ul", "ol", "table", "dl",
           "details", "summary", "figure", "figcaption", "center", "li", "dd", "dt", "address", "hr", "br", "html",
           "header", "hgroup"}


_TOGGLE = "x-toggle"  # what a bare accordion toggle is renamed to while the page is read
# a box inside the text (Confluence's info and note macros, panels): its "title" paragraph labels the box,
# it is not the document's title
_IN_PANEL = ('ancestor::*[contains(concat(" ", normalize-space(@class), " "), "-macro ") or '
             'contains(@class, "-macro-") or contains(@class, "panelHeader") or contains(@class, "panelContent")]')
# a toggle that only shows more of what is already there, or opens a menu: never a question
_DISCLOSURE = re.compile(r"^(?:(?:show|read|see|view|load|display)\s+(?:more|less|all|details|fewer)\b.*|"
                         r"(?:expand|collapse|open|close)(?:\s+all)?|more|less|menu|share.*|toggle.*|options|settings|"
                         r"filters?|sort.*|language|english|español|français|deutsch|search|print|on this page|"
                         r"contents|table of contents|in this (?:article|section|page)|[^A-Za-z]*)$", re.I)


# classes that hide an element from the screen and keep it for screen readers ("Question: " before a LibAnswers
# FAQ's title, "Skip to main content", a search box's label): not what a reader of the page sees
_SCREEN_READER_ONLY = frozenset("""sr-only visually-hidden visuallyhidden screen-reader-text screen-reader-only
    screenreader-only sr-text element-invisible offscreen hidden-visually u-visually-hidden a11y-hidden
    assistive-text show-for-sr""".split())


_KEEP_WHEN_HIDDEN = frozenset("h1 h2 h3 h4 h5 h6 table caption thead tbody tr td th main article section ul ol dl li "
                              "form fieldset".split())


def _for_screen_readers(el: _Element) -> bool:
    """A short label kept for screen readers only: hidden from the screen, not content. A heading, a table
    (the data behind a chart), a list or a whole content area with such a class is kept."""
    if not {c.lower() for c in (el.get("class") or "").split()} & _SCREEN_READER_ONLY or el.tag in _KEEP_WHEN_HIDDEN:
        return False
    if any(isinstance(d.tag, str) and d.tag in _KEEP_WHEN_HIDDEN for d in el.iterdescendants()):
        return False
    return len(clean(_content(el))) <= 40


def _decoration(el: _Element) -> bool:
    """An icon inside a heading or a toggle: its text ("expand_more", "chevron_right") is not words."""
    names = {c.lower() for c in (el.get("class") or "").split()}
    return (el.get("aria-hidden") or "").lower() == "true" or bool(
        names & {"material-icons", "material-symbols-outlined", "fa", "fas", "far", "glyphicon", "icon"}) or any(
        n.startswith(("fa-", "icon-", "glyphicon-")) for n in names)


def _toggle_text(el: _Element) -> str:
    for d in list(el.iterdescendants()):
        if isinstance(d.tag, str) and d.getparent() is not None and _decoration(d):
            _drop(d)
    return clean(_content(el))


def _toggle(button: _Element, root: _Element) -> bool:
    """Whether a <button aria-expanded> outside a heading is an accordion's question: not a menu, a language
    picker or "Show more", and with a panel (the element it controls, or the one right after it)."""
    if button.get("aria-expanded") is None or (button.get("aria-haspopup") or "false").lower() != "false":
        return False
    text = _toggle_text(button)
    if not 2 <= len(text) <= 200 or _DISCLOSURE.match(text):
        return False
    target = button.get("aria-controls") or ""
    panel = _first(root, f'.//*[@id="{target}"]') if re.fullmatch(r"[\w:.-]+", target) else None
    if panel is None:
        panel = button.getnext()
    return panel is not None and (panel.get("role") or "").lower() not in ("menu", "listbox", "dialog", "tooltip")


def _after_toggle(el: _Element) -> bool:
    """A hidden element right after an accordion's question (a toggle, or a heading holding one): its answer."""
    prev = el.getprevious()
    if prev is None or not isinstance(prev.tag, str):
        return False
    return prev.tag == _TOGGLE or (prev.tag in _HEADINGS and bool(prev.xpath(".//button[@aria-expanded]")))



def read_html(location: str, text: str, fragment: bool = False, level: int = 0) -> Page:
    import lxml.html
    from lxml import etree

    # an XHTML page's XML declaration names an encoding the text no longer has (lxml refuses it in a str)
    text = re.sub(r"\A(\ufeff)?\s*<\?xml[^>]*\?>", "", text)
    try:
        root = lxml.html.document_fromstring(text)
    except (etree.ParserError, ValueError) as exc:
        if fragment:  # a closing tag on its own ("</details>" in markdown): nothing to read, not a broken page
            return Page(location, "", ())
        raise ReadError(f"{location} is not readable HTML ({exc})") from None
    title_el = root.find(".//title")
    title = clean(_content(title_el)) if title_el is not None else ""
    whole = root.find("body")
    total = len(clean(_content(whole if whole is not None else root)))
    controlled = {c for e in root.iter() if isinstance(e.tag, str) for c in (e.get("aria-controls") or "").split()}
    for el in list(root.iter()):
        if not isinstance(el.tag, str):  # comments, processing instructions
            if el.getparent() is not None:
                _drop(el)
            continue
        if fragment and el.tag not in _NEVER_CONTENT:
            continue
        if el.tag == "header" and el.xpath("ancestor::article or ancestor::main or ancestor::section"):
            continue  # an article's or a section's own header holds its title, not the site's banner
        if el.tag == "a" and (clean(_content(el)).lower() in _EDIT_LINKS or (
                _SKIP_LINK.match(clean(_content(el))) and str(el.get("href") or "").startswith("#"))) \
                and el.getparent() is not None:  # (a skip link jumps within the page; one that leaves it is text)
            _drop(el)
            continue
        if el.tag == "h1" and _home_link_only(el) and el.getparent() is not None:
            _drop(el)  # <h1><a href="/">Staff Wiki</a></h1>: the site's logo, not the page's title
            continue
        if el.tag == "button" and el.xpath("ancestor::h1 or ancestor::h2 or ancestor::h3 or ancestor::h4 or "
                                           "ancestor::h5 or ancestor::h6 or ancestor::dt or ancestor::summary"):
            continue  # an accordion's question is the button in its heading
        if el.tag == "button" and _toggle(el, root):
            el.tag = _TOGGLE  # an accordion's question as a bare toggle (SharePoint, ARIA patterns): a heading
            continue
        if el.get("hidden") is not None and ((el.get("id") and el.get("id") in controlled) or _after_toggle(el)):
            continue  # a collapsed accordion panel: the answer, shown when its question is clicked
        if ((el.tag in _DROP or (el.get("role") or "").lower() in _DROP_ROLES or el.get("hidden") is not None
             or _for_screen_readers(el) or (_chrome(el, total) and not _in_heading(el))) and el.getparent() is not None):
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
    _mark_terms(body)
    blocks: list[Block] = []
    _walk_html(body, blocks, [level])  # a fragment's <summary> or bold question sits under the heading around it
    # the page's own main heading names it; a browser-tab title adds the site ("Receiving - Access Services -
    # Staff Wiki"): without a main heading, the tab title's first part
    mains = [b.text for b in blocks if b.kind == "heading" and b.level == 1]
    tab = _tab_title(title)
    if len(mains) > 1:  # several main headings (a page of pages): the tab title names it, when there is one
        main_heading = tab or mains[0]
    else:  # (a site's name in an <h1> is a logo: dropped with the logo area, or as a link home, above)
        main_heading = mains[0] if mains else ""
    title = main_heading or tab or next((b.text for b in blocks if b.kind == "heading"), "")
    return Page(location, title, tuple(blocks))


def _tab_title(title: str) -> str:
    parts = re.split(r"\s+[-|–—·•]\s+|\s+::\s+", title)
    return parts[0].strip() if len(parts) > 1 and parts[0].strip() else title


def _home_link_only(h: _Element) -> bool:
    """Whether a heading's words are all one link to the site's home page ("/", "index.html", the site root)."""
    links = [a for a in h.iter("a") if a is not h]
    if len(links) != 1 or clean(_content(links[0])) != clean(_content(h)):
        return False
    href = str(links[0].get("href") or "").strip()
    if not href:
        return False  # an anchor (<a name="_Toc12">: Word's headings) is no link
    return bool(re.fullmatch(r"(?:https?://[^/]+)?/?(?:index\.html?|home|~?[\w.-]*/?)?", href)) and "#" not in href \
        and href.count("/") <= 3 and not re.search(r"\.(?:html?|php|aspx?)$", href.replace("index.htm", ""))


def _in_heading(el: _Element) -> bool:
    """Whether ``el`` is part of a heading's words (MediaWiki's <span class="mw-headline" id="Related_pages">
    names its heading, whatever its id says)."""
    return any(isinstance(a.tag, str) and a.tag in _HEADINGS for a in el.iterancestors())


def _content(el: _Element) -> str:
    """All the text inside ``el``, as lxml.html's ``text_content()`` gives it (that method is this XPath)."""
    return str(el.xpath("string()"))


def _drop(el: _Element) -> None:
    """Remove ``el`` with everything in it, its tail text joined to what came before (lxml.html's
    ``drop_tree``: every node of a tree lxml.html parsed has it, which lxml-stubs does not say of ``_Element``)."""
    from lxml.html import HtmlMixin

    if isinstance(el, HtmlMixin):
        el.drop_tree()


def _elements(root: _Element, path: str) -> list[_Element]:
    """The elements an XPath finds, in document order."""
    from lxml.etree import _Element

    found = root.xpath(path)
    return [x for x in found if isinstance(x, _Element)] if isinstance(found, list) else []


def _first(root: _Element, path: str) -> _Element | None:
    """The first element an XPath finds, or None."""
    from lxml.etree import _Element

    found = root.xpath(path)
    return next((x for x in found if isinstance(x, _Element)), None) if isinstance(found, list) else None


# ids and classes that mark a site's chrome (Confluence, MediaWiki, LibGuides, BookStack and most themes)
_CHROME = frozenset("""header footer nav navbar navigation breadcrumbs breadcrumb sidebar side-bar menu skip-link
    site-header site-footer page-header page-footer global-nav aui-header toolbar cookie-banner
    noprint no-print d-print-none hidden-print sitenotice""".split())  # what the site itself keeps off paper
_CONTENT = ('.//*[@id="main-content"]', './/*[@id="content"]', './/*[@id="mw-content-text"]',
            './/*[contains(concat(" ", normalize-space(@class), " "), " wiki-content ")]',
            './/*[contains(concat(" ", normalize-space(@class), " "), " page-content ")]')


# words inside ids and classes ("s-lib-public-header", "s-lg-page-prevnext", "toc-macro") that mark chrome
_CHROME_WORDS = frozenset("""header footer nav navbar breadcrumb breadcrumbs sidebar menu skip skiplink cookie
    prevnext pager pagination toc masthead colophon catlinks printfooter jump meta metadata related rating
    feedback comments logo branding""".split())  # (meta: "Views: 113", post dates; related: other pages' links; rating: "Was
# this helpful?"; comments: the thread under a wiki or SharePoint page)
_STATE = re.compile(r"^(?:has|no|with|without|show|hide|is)-")  # "has-sidebar": a state of the page, not a part


# words that only say a part of the page holds something ("CommentsWrapper", "siteHeader", "SuiteNavBar")
_FILLER = frozenset("wrapper wrap container inner outer area region zone bar box block holder site page global top "
                    "bottom main suite links list".split())


def _name_words(name: str) -> list[str]:
    """The words of an id or class: split at "-" and "_", and at camelCase humps only when every part is a
    chrome or filler word ("CommentsWrapper" is comments; "articleHeaderText" and Confluence's "panelHeader"
    stay one word each, being content)."""
    words: list[str] = []
    for part in re.split(r"[-_]+", name):
        humps = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", part).lower().split()
        if len(humps) > 1 and all(h in _CHROME_WORDS or h in _FILLER for h in humps):
            words.extend(humps)
        else:
            words.append(part.lower())
    return words


def _chrome(el: _Element, total: int = 0) -> bool:
    if el.tag not in ("div", "section", "ol", "ul", "span", "table", "p", "a"):
        return False
    names = {(el.get("id") or "").lower(), *(c.lower() for c in (el.get("class") or "").split())}
    if names & _CHROME:
        return el.tag not in ("p", "a")
    words = {w for n in (el.get("id") or "", *(el.get("class") or "").split()) if n and not _STATE.match(n.lower())
             for w in _name_words(n)}
    if not words & _CHROME_WORDS:
        return False
    if "header" in words and not words & (_CHROME_WORDS - {"header"}) and (
            el.xpath(".//h1") or words & {"card", "accordion", "panel", "collapse", "faq", "question", "item"}
            or el.xpath(".//button[@aria-expanded]")):
        return False  # a page header holding the page's title; an accordion's or a card's header (its question)
    # chrome is never most of a page: a wrapper named "content-with-sidebar" is not chrome
    return len(clean(_content(el))) < 0.5 * total if total else True


def _anchor(el: _Element) -> str:
    if el.get("id"):
        return str(el.get("id"))
    for child in el.iter():
        if child is not el and (child.get("id") or (child.tag == "a" and child.get("name"))):
            return str(child.get("id") or child.get("name"))
    parent = el.getparent()
    if parent is not None and parent.tag in ("section", "div", "article") and parent.get("id"):
        first = next((c for c in parent if isinstance(c.tag, str)), None)
        # the wrapper is this heading's section only when no other heading of its rank or higher is in it
        # (a box of FAQ questions that starts with one of them is not that question's section)
        rank = _HEADINGS.get(str(el.tag), 6)
        others = [h for h in parent.iter(*_HEADINGS) if h is not el and _HEADINGS[str(h.tag)] <= rank]
        if first is el and not others:
            return str(parent.get("id"))
    return ""


# a heading's own links that are not its words: "[edit]" (MediaWiki), "¶" permalinks (Sphinx, MkDocs), "#"
_HEADING_LINKS = frozenset("headerlink anchor anchorjs-link header-anchor heading-anchor permalink editsection "
                           "mw-editsection edit-link edit-section".split())
_LINK_MARKS = frozenset(("¶", "#", "§", "🔗", "edit", "[edit]", "[ edit ]"))


def _heading_text(h: _Element) -> str:
    """The words of a heading without its permalink or edit link."""
    for el in list(h.iter("a", "span", "i", "svg")):
        if el is h or el.getparent() is None:
            continue
        names = {c.lower() for c in (el.get("class") or "").split()}
        if names & _HEADING_LINKS or clean(_content(el)).lower() in _LINK_MARKS or _decoration(el):
            _drop(el)
    return clean(_content(h))


_ABOVE = "data-p2p-above"  # set on each definition term while a page is read


def _mark_terms(root: _Element) -> None:
    """Mark each definition-list term with the id of the heading above it (MediaWiki's "Words you will
    hear"): where a link to the term can land. One pass in document order (a glossary has thousands)."""
    last = ""
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        if el.tag in _HEADINGS:
            last = _anchor(el) or last
        elif el.tag == "dt" and last:
            el.set(_ABOVE, last)


def _above(el: _Element, text: str = "") -> str:
    """Where a link to a definition term can land: the heading above it that has an id, else the closest
    element around it that has one (else the term's own words)."""
    return str(el.get(_ABOVE) or "") or _near(el, text)


def _near(el: _Element, text: str = "") -> str:
    """The id of the closest element around ``el`` that has one (a FAQ box, the article): where a link
    to a heading the page gives no id of its own can land. Without one, a text fragment of the heading
    (``:~:text=…``, which browsers scroll to) rather than an id the page does not have."""
    for up in el.iterancestors():
        if up.get("id") and up.tag not in ("html", "body"):
            return str(up.get("id"))
    return text_fragment(text) if text else ""


def _bold_first(p: _Element) -> bool:
    """Whether a paragraph's first line is all in one <strong> or <b>, ended by a <br>."""
    kids = [c for c in p if isinstance(c.tag, str)]
    return (len(kids) >= 2 and kids[0].tag in ("strong", "b") and kids[1].tag == "br" and not clean(p.text or "")
            and not clean(kids[0].tail or ""))


def _bold_only(p: _Element) -> bool:
    """Whether all of a paragraph's text sits in one <strong> or <b> (one line, nothing around it)."""
    kids = [c for c in p if isinstance(c.tag, str)]
    if len(kids) != 1 or kids[0].tag not in ("strong", "b") or clean(p.text or "") or clean(kids[0].tail or ""):
        return False
    return not kids[0].findall(".//br")


_SEPARATE = frozenset(("p", "div", "li", "br", "dd", "dt", "blockquote", "pre", "summary", "h1", "h2", "h3", "h4", "h5",
                       "h6", "section", "tr", "table", "ul", "ol"))


def _spaced(el: _Element) -> str:
    """The text inside ``el`` with its inner blocks (paragraphs, line breaks) kept apart by a space."""
    for d in el.iterdescendants():
        if isinstance(d.tag, str) and d.tag in _SEPARATE:
            d.tail = " " + (d.tail or "")
    return _content(el)


def _text(el: _Element) -> str:
    """A paragraph's text, one line per <br>: a line break in the page's source is a space (Word's "Save as
    Web Page" wraps its paragraphs at 80 characters)."""
    for d in el.iter():
        if not isinstance(d.tag, str) or any(a.tag == "pre" for a in d.iterancestors()):
            continue
        if d.text and d.tag != "pre":
            d.text = d.text.replace("\n", " ")
        if d is not el and d.tail:
            d.tail = d.tail.replace("\n", " ")
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
            own = _anchor(child)
            text = _heading_text(child)
            if text:
                summary_level[0] = _HEADINGS[tag]
                out.append(Block("heading", text, level=_HEADINGS[tag], anchor=own or slugify(text),
                                 target="" if own else _near(child, text)))
        elif tag in ("ul", "ol"):
            flush()
            items = [_list_item(li) for li in child if isinstance(li.tag, str) and li.tag == "li"]
            items = [i for i in items if i]
            if items:
                out.append(Block("list", items=tuple(items), ordered=tag == "ol"))
        elif tag == "table" and child.xpath(".//h1 or .//h2 or .//h3 or .//h4 or .//h5 or .//h6 or .//table"):
            flush()  # a layout table (old sites put the whole page in one): its cells are containers
            for cell in _elements(child, "./tr/td | ./tr/th | ./*/tr/td | ./*/tr/th"):
                links = "".join(_content(a) for a in cell.iter("a"))
                if clean(links).replace(" ", "") != clean(_content(cell)).replace(" ", ""):
                    _walk_html(cell, out, summary_level)  # (a cell of nothing but links is the site's menu)
        elif tag == "table":
            flush()
            rows = tuple(tuple(clean(_spaced(c)) for c in tr if isinstance(c.tag, str) and c.tag in ("td", "th"))
                         for tr in child.iter("tr"))
            rows = tuple(r for r in rows if any(r))
            if rows:
                out.append(Block("table", rows=rows))
        elif tag == _TOGGLE:  # the question of an accordion whose answer is the panel that follows
            flush()
            q = _toggle_text(child)
            own = _anchor(child)
            out.append(Block("heading", q, level=min(summary_level[0] + 1, 6), anchor=own or slugify(q),
                             target="" if own else _near(child, q)))
        elif tag == "details":
            flush()
            summ = child.find("summary")
            if summ is not None:
                q = clean(_content(summ))
                _drop(summ)
                own = _anchor(child)
                if q:
                    out.append(Block("heading", q, level=min(summary_level[0] + 1, 6),
                                     anchor=own or slugify(q), target="" if own else _near(child, q)))
            _walk_html(child, out, summary_level)
        elif tag == "dl":  # a definition list: each term is a small heading (an FAQ's question), then its answer
            flush()
            for part in child:
                if not isinstance(part.tag, str) or not clean(_content(part)):
                    continue
                if part.tag == "dt":
                    term = clean(_content(part))
                    own = _anchor(part)
                    out.append(Block("heading", term, level=min(summary_level[0] + 1, 6),
                                     anchor=own or slugify(term), target="" if own else _above(part, term)))
                else:
                    _walk_html(part, out, summary_level)
        elif tag == "pre":
            flush()
            out.append(Block("para", _content(child).rstrip()))
        elif tag == "p" and {"title", "msotitle"} & set((child.get("class") or "").lower().split()) and not \
                child.xpath(_IN_PANEL) and not any(
                b.kind == "heading" for b in out) and clean(_content(child)):
            flush()  # a paragraph in the editor's "Title" style (Google Docs, Word's web page): the document's title
            text = clean(_content(child))
            own = str(child.get("id") or "")
            summary_level[0] = 1
            out.append(Block("heading", text, level=1, anchor=own or slugify(text),
                             target="" if own else _near(child, text)))
        elif tag == "p":
            flush()
            text = _text(child)
            lines = text.split("\n") if text else []
            heading = pseudo_heading(text) if text and _bold_only(child) else None
            rest = ""
            if not heading and lines:  # "<strong>Question?</strong><br>Answer", "Q: …?" then its answer
                heading = (pseudo_heading(lines[0]) if len(lines) > 1 and _bold_first(child) else None) or \
                    question_line(lines[0])
                rest = "\n".join(lines[1:]) if heading else ""
            if heading:  # <p><strong>Which printer do the slips go to?</strong></p>: an editor's heading
                own = str(child.get("id") or "")
                out.append(Block("heading", heading, level=min(summary_level[0] + 1, 6),
                                 anchor=own or slugify(heading), target="" if own else _near(child, heading)))
                if rest:
                    out.append(Block("para", rest))
            elif sum(bool(_STEP.match(ln)) for ln in lines) >= 2:  # "1. Go to…<br>2. Scan…": one step a line
                out.extend(Block("para", ln) for ln in lines)
            elif text:
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
    # the lists under an item; in a toggle (<details>, as Notion exports), the lists under its <summary>
    holders = [li, *(c for c in li if isinstance(c.tag, str) and c.tag == "details")]
    nested = [c for h in holders for c in h if isinstance(c.tag, str) and c.tag in ("ul", "ol")]
    for n in nested:
        parent = n.getparent()
        if parent is not None:
            parent.remove(n)
    text = clean(_spaced(li))
    for n in nested:
        start = str(n.get("start") or "1")
        count = int(start) - 1 if start.isascii() and start.isdigit() else 0  # Notion: one <ol start=N> a step
        for sub in n:
            if isinstance(sub.tag, str) and sub.tag == "li":
                count += 1
                s = _list_item(sub).replace("\n", "\n   ")
                if s:  # sub-steps keep their numbers
                    text += ("\n" + f"{count}. " if n.tag == "ol" else "\n- ") + s
    return text


# -- plain text ------------------------------------------------------------------------------------------
_BULLET = re.compile(r"^\s*[-*•·–]\s*(.*)$")
_STEP = re.compile(r"^\s*(?:step\s*)?(\d{1,2})\s*[.):]\s+(\S.*)$|^\s*step\s*\d{1,2}\s*[-–—]\s*\S", re.I)
_END_PUNCT = re.compile(r"[.,;:!…]$")
_NOT_HEADING_START = re.compile(r"^(and|but|or|then|so|because|which|that|note|tip|warning|caution|important|nb)\b",
                                re.I)


_NUMBERED_LINE = re.compile(r"^(\s*)(\d{1,2})\.\s+(\S.*)$")


def _style(text: str) -> tuple[bool, bool]:
    """How a numbered line is written: in capitals, and ended like a sentence."""
    return text.isupper(), bool(re.search(r"[.:;!?]$", text.rstrip("\"'”’)")))


def _numbered_headings(lines: list[str]) -> set[int]:
    """The numbered lines that are section headings ("3. A patron returns a LOAN book", as a manual's numbered
    headings come out of pdftotext or Word's .txt), decided for a whole series at once (1., 2., 3. at one
    indent): every line bare like a heading (no end punctuation), most not instructions, and most with text of
    their own before the next number: paragraphs at their own indent, or a numbered list of their own further
    in. A step's indented notes, its wrapped lines and the next step right under it are not text of its own."""
    from bot.core.docs.sections import _instruction

    found = [(k, len(m.group(1).expandtabs()), int(m.group(2)), m.group(3).strip())
             for k, ln in enumerate(lines) if (m := _NUMBERED_LINE.match(ln))]
    series: list[list[tuple[int, int, int, str]]] = []
    # indent -> the series still counting there, latest last: a manual's chapters ("1. OPENING", "2. RECEIVING")
    # go on past the steps numbered inside them at the same indent ("1. Unlock the door.", "2. Switch on …")
    open_at: dict[int, list[list[tuple[int, int, int, str]]]] = {}
    for item in found:
        k, indent, number, text = item
        for deeper in [i for i in open_at if i > indent]:
            del open_at[deeper]  # a series further in ends where one further out goes on
        runs = open_at.setdefault(indent, [])
        fits = [r for r in runs if number == r[-1][2] + 1]
        # of two series this number could go on, the one written like it (chapters in capitals or without a
        # full stop, steps not)
        alike = [r for r in fits if _style(r[0][3]) == _style(text)]
        chosen = alike or fits
        if chosen:
            run = chosen[-1]
            run.append(item)
            del runs[runs.index(run) + 1:]  # the series opened inside it have ended
        else:
            runs.append([item])
            series.append(runs[-1])
    out: set[int] = set()
    for run in series:
        if len(run) < 2:
            continue
        bare = all(len(t) <= 80 and not re.search(r"[.:;,!?]$", t.rstrip("\"'”’)")) for _, _, _, t in run)
        actions = sum(_instruction(t) for _, _, _, t in run)
        owning = sublists = 0
        owners: set[int] = set()
        for i, (k, indent, _, text) in enumerate(run):
            end = run[i + 1][0] if i + 1 < len(run) else len(lines)
            own = 0
            sublist = gap = False
            first = True
            for ln in lines[k + 1:end]:
                if not ln.strip():
                    gap = True
                    continue
                depth = len(ln) - len(ln.lstrip())
                if depth < indent:
                    break  # back out past this series: the rest is not its
                step = _NUMBERED_LINE.match(ln)
                if step and (depth > indent or (first and step.group(2) == "1" and _style(step.group(3)) != _style(text))):
                    # a numbered list of its own, further in, or starting again at 1 at its indent, written
                    # unlike it ("2. Receiving" over "1. Scan the slip.")
                    own += 2
                    sublist = True
                elif depth <= indent and not _NUMBERED_LINE.match(ln) and not ln.strip()[0].islower():
                    own += 2 if gap else 1  # a paragraph after a blank line; a line right under it may be a note
                elif depth > indent + 6 or _GAP.search(ln.strip()):
                    own += 2  # a table or a centred line (a step's own notes sit just under its words)
                first = False
            owning += own >= (1 if text.endswith("?") else 2)  # a question's answer may be one line
            sublists += sublist
            if own:
                owners.add(k)
        asked = all(t.endswith("?") for _, _, _, t in run)  # a numbered FAQ: each question over its answer
        headings = (bare or asked) and owning * 2 >= len(run) and owning >= 2 and actions * 2 < len(run)
        if headings or (sublists * 2 >= len(run) and sublists >= 2):  # (over lists of their own: whatever verbs)
            out.update(k for k, _, _, _ in run if k in owners)  # one with nothing under it stays a line
    return out


_GREETING = re.compile(r"(?:hi|hello|hey|hiya|dear|thanks|thank you|morning|good (?:morning|afternoon|evening)|fyi|"
                       r"ok|okay|so|all|team|folks|everyone)\b", re.I)


def _is_question(line: str) -> bool:
    """A line that asks a question an FAQ answers: longer than a heading may be, but one question, after at
    most one sentence that sets the scene ("A patron wants to renew a P2P book at the desk. Can we do it?")."""
    s = line.strip()
    if not (s.endswith("?") and 3 <= len(s.split()) <= 25 and len(s) <= 200 and s[0].isupper()
            and not _BULLET.match(s)):
        return False
    breaks = list(re.finditer(r"[.!?]\s", s))
    if not breaks:
        return True
    scene = s[:breaks[0].start()]  # a plain statement of the case (or a first question), not a greeting
    return len(breaks) == 1 and len(scene.split()) <= 15 and not _GREETING.match(scene) and "thank" not in scene.lower()


def _is_heading(line: str) -> bool:
    s = line.strip()
    if not (2 <= len(s) <= 80) or len(s.split()) > 12:
        return False
    if _END_PUNCT.search(s) or "|" in s or "=" in s or _BULLET.match(s) or _STEP.match(s):
        return False
    if not (s[0].isupper() or s[0].isdigit()) or not re.search(r"[A-Za-z]", s):
        return False
    return not _NOT_HEADING_START.match(s)


def _long_heading(line: str, following: str) -> bool:
    """A bare line of 50-80 characters in a text with one paragraph a line is a heading when what follows
    is a paragraph (a capitalised sentence, or a label such as "What to do:") or a list (its steps)."""
    if _STEP.match(following) or _BULLET.match(following):
        return True
    return following[:1].isupper() and (following.endswith((".", ":", "!", "?")) or len(following) >= 100)


_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DATE_LINE = re.compile(rf"^(?:last\s+)?(?:updated|revised|posted|created|edited|reviewed|published)\b|"
                        rf"\b(?:updated|revised|reviewed|edited)\s+(?:on\s+)?{_MONTH}\s+\d{{4}}\b|"
                        rf"\b{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}\b|\b\d{{1,2}}\s+{_MONTH}\s+\d{{4}}\b", re.I)


def _byline(line: str) -> bool:
    """A signature ("Jane Smith, Coordinator, Hartwell College": parts without an "and" that would make them
    a list) or a date line ("Updated 14 March 2026 by ..."): short and bare like a heading, but no heading."""
    parts = line.count(",") + line.count(" - ") + line.count(" – ") + line.count(" | ") + \
        2 * (line.count(" · ") + line.count(" • "))  # a middle dot separates a byline's parts, never a heading's
    listing = re.search(r"\b(?:and|or)\b|&", line, re.I)  # "Stony Brook, Binghamton, Albany, and Buffalo"
    return ((parts >= 2 and not listing) or bool(_DATE_LINE.search(line))
            or line.lower().startswith("sent from my "))


_PAGE_LINE = re.compile(r"^\s*(?:page\s*)?[-–—(]?\s*(\d{1,4})\s*[-–—)]?(?:\s*(?:of|/)\s*\d{1,4})?\s*$", re.I)
_PAGE_OF = re.compile(r"\bpage\s+\d{1,4}\s+of\s+\d{1,4}\s*$", re.I)
_EDGE = 2  # a page's running header or footer sits in its first or last two lines


def _furniture(line: str) -> str:
    """A line's key as a running header or footer: its words, with any number standing for any other."""
    return re.sub(r"\d+", "#", " ".join(line.lower().split()))


def _may_be_furniture(line: str) -> bool:
    """Running headers and footers are short labels: never a step, a list item or a sentence."""
    s = " ".join(line.split())
    return (len(s) <= 100 and bool(re.search(r"[A-Za-z]", s)) and not _STEP.match(s) and not _BULLET.match(s)
            and not re.search(r"[.!?:;,]$", s))  # (a bare number is a page number only if they count up)


def _counts_up(footers: list[str]) -> bool:
    """Whether the "Page N of M" of successive footers goes up."""
    ns = [int(m.group(1)) for f in footers if (m := re.search(r"page\s+(\d+)\s+of", f, re.I))]
    return len(ns) >= 2 and all(b > a for a, b in pairwise(ns))


def _heads_a_table(lines: list[str], k: int) -> bool:
    """Whether a line laid out in columns is followed by more lines laid out the same way (a table's rows)."""
    gapped = re.compile(r"\S(?: {3,}|\t)\S")
    if not gapped.search(lines[k].strip()):
        return False
    following = [ln for ln in lines[k + 1:k + 4] if ln.strip()]
    return bool(following) and bool(gapped.search(following[0].strip()))


def _page_numbers(pages: list[list[str]]) -> set[tuple[int, int]]:
    """(page, line) of each page's bare page number: the outermost line of a page when it is a number, and
    only when those numbers count up page by page (a lone "7" closing a table of loan periods is a value)."""
    found: list[tuple[int, int, int]] = []  # (page, line, number)
    for p, lines in enumerate(pages):
        filled = [k for k, ln in enumerate(lines) if ln.strip()]
        for k in (filled[-1:] + filled[:1]) if filled else []:
            m = _PAGE_LINE.match(lines[k])
            if m:
                found.append((p, k, int(m.group(1))))
                break
    counting = [(p, k) for (p, k, n), (p2, _, n2) in pairwise(found) if n2 - n == p2 - p]
    counting += [(p2, k2) for (p, _, n), (p2, k2, n2) in pairwise(found) if n2 - n == p2 - p]
    return set(counting)


def _without_page_furniture(text: str) -> str:
    """Text printed to pages (a PDF or Word document saved as text, pages split by form feeds): each page's
    running header and footer ("Birch Library Circulation   Page 2 of 4": a short label at the edge of two or
    more pages, the same but for its numbers) and page numbers that count up go; pages join as paragraphs. A
    running header that is also the title keeps its first line. Without form feeds, only lines that end in
    "Page N of M" and come back go."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    pages = [p.split("\n") for p in text.split("\f")]
    if len(pages) < 2:
        lines = pages[0]
        footers: dict[str, list[int]] = {}  # the same label each time, its page number counting up
        for k, ln in enumerate(lines):
            if _PAGE_OF.search(ln) and _may_be_furniture(ln):
                footers.setdefault(_furniture(ln), []).append(k)
        drop = {k for ks in footers.values() if len(ks) >= 2 and _counts_up([lines[k] for k in ks]) for k in ks}
        return "\n".join("" if k in drop else ln for k, ln in enumerate(lines)) if drop else text
    edges: list[list[int]] = []
    seen: dict[str, set[int]] = {}
    numbers_of: dict[str, list[tuple[int, tuple[int, ...]]]] = {}
    for p, lines in enumerate(pages):
        filled = [k for k, ln in enumerate(lines) if ln.strip()]
        reach = _EDGE if len(filled) > 2 * _EDGE else 1  # on a short page, only its first and last line
        edge = sorted(k for k in set(filled[:reach] + filled[-reach:]) if _may_be_furniture(lines[k]))
        edges.append(edge)
        for k in edge:
            key = _furniture(lines[k])
            seen.setdefault(key, set()).add(p)
            numbers_of.setdefault(key, []).append((p, tuple(int(n) for n in re.findall(r"\d+", lines[k])[:6])))
    # a label that comes back with other numbers is furniture only when one of them counts the pages
    # ("Page 2 of 4"); "Loan period 14 days" at the foot of one page and "28 days" of the next are values
    for key, found in numbers_of.items():
        values = {nums for _, nums in found}
        if len(values) == 1:  # the same words each time: a running header when on three pages or more, or
            # on two when it is laid out as one (left and right parts far apart: "Maple Library   Manual")
            wide = any(re.search(r"\S(?: {3,}|\t)\S", pages[p][k].strip()) for p, edge in enumerate(edges)
                       for k in edge if _furniture(pages[p][k]) == key)
            counts = len(seen[key]) >= 3 or (wide and len(seen[key]) >= 2)
        else:  # other numbers each time: one of them must be the page's number (counting from 1, give or take)
            counts = any(len(offsets := {nums[i] - p for p, nums in found if len(nums) > i}) == 1
                         and next(iter(offsets)) in range(-2, 4) for i in range(max(len(v) for v in values)))
        if not counts:
            seen[key] = set()
    numbers = _page_numbers(pages)
    out: list[str] = []
    kept_first: set[str] = set()
    for p, (lines, edge) in enumerate(zip(pages, edges, strict=True)):
        drop = set()
        for k in edge:
            key = _furniture(lines[k])
            if len(seen[key]) >= 2 and _heads_a_table(lines, k) and p == min(seen[key]):
                continue  # a table's header row, repeated on each page it runs over: the first one stays
            if len(seen[key]) >= 2:
                if (p == min(seen[key]) and "#" not in key and key not in kept_first
                        and not re.search(r"\S(?: {3,}|\t)\S", lines[k].strip())):
                    kept_first.add(key)  # the title on the first page, repeated as the running header after it
                    continue
                drop.add(k)
        drop |= {k for q, k in numbers if q == p}
        out.append("\n".join("" if k in drop else ln for k, ln in enumerate(lines)))
    joined = out[0]
    for page in out[1:]:
        # a sentence cut by the page break carries on: the page's last line ends mid-sentence and the next
        # page's first line starts in lower case
        last = next((ln for ln in reversed(joined.split("\n")) if ln.strip()), "")
        first = next((ln for ln in page.split("\n") if ln.strip()), "")
        mid = bool(last) and bool(first) and not re.search(r"[.!?:;]$", last.strip()) and first.strip()[0].islower()
        joined = joined.rstrip("\n") + "\n" + page.lstrip("\n") if mid else joined + "\n\n" + page
    return joined


def _tab_cells(line: str) -> list[str]:
    """A line's cells when tabs separate two or more of them (a table saved as text), else []. An empty
    cell between two others stays, so the columns line up."""
    if "\t" not in line.strip(" \r\n") or _BULLET.match(line) or _STEP.match(line):
        return []  # (a list item with a tab in it is a list item)
    cells = [c.strip() for c in line.strip(" \r\n").split("\t")]  # an empty first or last cell stays a cell
    return cells if any(cells) else []


# Word saves a list as text with a tab after each marker: "•<tab>Scan the book", "o<tab>…" one level down,
# "1.<tab>Open Receiving Items"
_TAB_MARKER = re.compile(r"^(\s*)(?:([•·▪◦o§*–-]|[a-z][.)]|[ivx]{1,4}[.)]|\d{1,2}(?:\.\d{1,2})+\.?)|(\d{1,2}[.)]))\t+")


def _untab_marker(line: str) -> str:
    """ "1.<tab>Open…" is a step; a bullet, "a.<tab>", "ii)<tab>" or "1.2<tab>" is a list item."""
    m = _TAB_MARKER.match(line)
    if not m:
        return line
    marker = "-" if m.group(2) else m.group(3)
    return f"{m.group(1)}{marker} {line[m.end():]}"


_GAP = re.compile(r"(?<=\S) {3,}(?=\S)")


def _aligned_columns(lines: list[str]) -> list[str]:
    """Columns lined up with spaces (pdftotext's layout, a plain-text table): two or more lines in a row with a
    gap of three spaces or more between words get a tab there, so the table reader sees their cells."""
    gapped = [bool(_GAP.search(ln.strip())) and "\t" not in ln and not _STEP.match(ln) and not _BULLET.match(ln)
              for ln in lines]  # (a step or a list item set off with spaces is no table row)
    out = list(lines)

    def near(k: int, step: int) -> bool:  # the next line with words, across one blank line at most
        j = k + step
        if 0 <= j < len(lines) and not lines[j].strip():
            j += step
        return 0 <= j < len(lines) and gapped[j]

    rows = [k for k, _ in enumerate(lines) if gapped[k] and (near(k, -1) or near(k, 1))]
    runs: list[list[int]] = []
    for k in rows:
        if runs and k - runs[-1][-1] <= 2:
            runs[-1].append(k)
        else:
            runs.append([k])
    for run in runs:
        # where each column starts, from every row's cells (a cell left empty keeps its column: the cells
        # after it sit under the column they line up with)
        starts = sorted({m.end() for k in run for m in re.finditer(r"(?:(?<=   )|^ *)(?=\S)", lines[k])})
        columns: list[int] = []
        for pos in starts:
            if not columns or pos - columns[-1] > 2:
                columns.append(pos)
        for k in run:
            cells = [""] * len(columns)
            for m in re.finditer(r"\S+(?: {1,2}\S+)*", lines[k]):
                col = max((i for i, c in enumerate(columns) if c <= m.start() + 2), default=0)
                cells[col] = f"{cells[col]} {m.group()}".strip()
            indent = lines[k][: len(lines[k]) - len(lines[k].lstrip())]
            out[k] = indent + "\t".join(cells).rstrip("\t") if len(columns) > 1 else lines[k]
    return out


_LONE = re.compile(r"(\s*)(\d{1,2}[.)])\s*")  # (a lone bullet is read where lists are: see read_text)


def _lone_markers(lines: list[str]) -> list[str]:
    """A list number alone on its line, its words on the next line with words (plain pdftotext puts them
    apart): one line again, where the words were, so what wraps after them stays with them."""
    out = list(lines)
    for k, ln in enumerate(lines):
        m = _LONE.fullmatch(ln)
        if not m:
            continue
        j = next((i for i in range(k + 1, min(k + 3, len(lines))) if lines[i].strip()), None)
        if j is None or _LONE.fullmatch(lines[j]) or _STEP.match(lines[j]) or _BULLET.match(lines[j]):
            continue
        out[k] = ""
        out[j] = f"{m.group(1)}{m.group(2)} {lines[j].strip()}"
    return out


def _tab_tables(lines: list[str]) -> set[int]:
    """The lines that are rows of a table saved as text: two or more lines in a row with the same number of
    tab-separated cells, unless every row is a sentence split by a stray tab (two cells, ending like one)."""
    rows: set[int] = set()
    n = 0
    while n < len(lines):
        cells = _tab_cells(lines[n])
        end = n + 1
        while cells and end < len(lines):
            nxt = end + 1 if not lines[end].strip() and end + 1 < len(lines) else end  # (one blank line between rows)
            if len(_tab_cells(lines[nxt])) != len(cells):
                break
            end = nxt + 1
        run = [k for k in range(n, end) if lines[k].strip()]
        full = sum(1 for k in run if sum(bool(c) for c in _tab_cells(lines[k])) >= 2)
        if cells and len(run) >= 2 and full >= 2 and (len(cells) >= 3 or any(
                not re.search(r"[.!?,;]$", lines[k].strip()) for k in run)):
            rows.update(run)
        n = end
    return rows


# a saved e-mail or memo starts with its header lines ("From:", "To:", "Subject:", "Date:", Outlook's "Sent:",
# "Received:", "X-Mailer:": any RFC 5322 field name), a long value continued on indented lines
_MAIL_HEADER = re.compile(r"^([A-Za-z][A-Za-z0-9-]{0,40})[ \t]*:(.*)$")
_MEMO_LINE = re.compile(r"^(?:memo|memorandum|e-?mail|message)\s*:?$", re.I)
_REPLY_PREFIX = re.compile(r"^(?:(?:re|fw|fwd|aw|wg|sv|vs)\s*:\s*)+", re.I)
# "-- " alone on a line starts a signature (RFC 3676); a bare "--" does only over contact lines
_SIG_RULE = "-- "
_CONTACT = re.compile(r"@|\+?\d[\d ().-]{6,}\d|\bx\d{3,5}\b|\||\b(?:ext|tel|phone|room)\b", re.I)
_QUOTED = re.compile(r"^[ \t]*(?:>[ \t]?)+")


def _mail_subject(raw: str) -> str:
    """The subject without "RE:"/"FW:" and with MIME encoded words ("=?UTF-8?B?...?=") decoded."""
    if "=?" in raw:
        from email.header import decode_header, make_header

        with contextlib.suppress(ValueError, LookupError, UnicodeError):
            raw = str(make_header(decode_header(raw)))
    return clean(_REPLY_PREFIX.sub("", clean(raw)))


def _mail_headers(text: str) -> tuple[str, str]:
    """(the subject, the text with the header lines blanked) when the text starts with an e-mail's or a memo's
    headers (a From, with a Subject, To, Date or Sent, three fields at least); else ("", text). The "-- "
    signature and the ">" marks of quoted replies go too (a closing "Thanks, Name" stays: it says who wrote
    it, and a P.S. may follow). Line numbers stay."""
    lines = text.split("\n")
    k = 0
    while k < len(lines) and (not lines[k].strip("\f \t\r") or (not k and _MEMO_LINE.match(lines[k].strip()))):
        k += 1
    fields: dict[str, list[str]] = {}
    end = k
    last = ""
    while end < len(lines):
        line = lines[end].rstrip("\r").lstrip("\f")
        m = _MAIL_HEADER.match(line)
        if m and not line[:1].isspace():
            last = m.group(1).lower()
            fields.setdefault(last, [m.group(2).strip()])
        elif line[:1] in (" ", "\t") and line.strip() and last:
            fields[last].append(line.strip())  # a list: a header continued over many lines stays linear
        else:
            break
        end += 1
    if "from" not in fields or not ({"subject", "to", "sent", "date"} & fields.keys()) or len(fields) < 3 \
            or (end < len(lines) and lines[end].strip()):  # the headers end at a blank line
        return "", text
    subject = _mail_subject(" ".join(fields.get("subject", [])))
    body = lines[end:]
    filled = [j for j, ln in enumerate(body) if ln.strip()]
    sig = next((j for j in reversed(filled[-12:]) if body[j].rstrip("\r") == _SIG_RULE or (
        body[j].strip() == "--" and any(_CONTACT.search(body[i]) for i in filled if i > j))), None)
    if sig is not None and len([i for i in filled if i > sig]) <= 8:
        body = [*body[:sig], *("" for _ in body[sig:])]
        filled = [j for j in filled if j < sig]
    body = [_QUOTED.sub("", ln) for ln in body]
    return subject, "\n".join(["" for _ in lines[:end]] + body)


def read_text(location: str, text: str) -> Page:
    """Plain text: bare short lines without end punctuation are headings; the first one is the title.

    Levels come from the page itself: a bullet list whose items name later headings is a table of
    contents, so those headings sit one level under the heading that holds the list; other headings sit
    under the closest such heading. Text printed to pages loses its running headers, footers and page
    numbers first; lines of tab-separated cells, two or more in a row, are a table."""
    subject, text = _mail_headers(text)
    text = _without_page_furniture(text)
    lines = _lone_markers(_aligned_columns([_untab_marker(ln.rstrip(" \r")) for ln in text.split("\n")]))
    table_rows = _tab_tables(lines)
    numbered_headings = _numbered_headings(lines)
    lines = [ln if k in table_rows else ln.replace("\t", " ") for k, ln in enumerate(lines)]
    raw: list[tuple[str, str, int, list[str]]] = []  # (kind, text, line, cells)
    # paragraphs separated by blank lines (and maybe wrapped at a fixed width), or one paragraph a line
    inner = text.strip().splitlines()
    blanks = sum(1 for ln in inner if not ln.strip())
    spaced = blanks >= 2 and blanks >= 0.1 * (len(inner) - blanks)
    # a text wrapped at a fixed width has many lines near one length: a long bare line there may be a paragraph
    # cut mid-sentence; in a text with one paragraph a line, a bare line up to 80 characters is a heading
    unwrapped = max((len(ln) for ln in inner), default=0) > 120
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
        if n in table_rows:
            raw.append(("row", "", n + 1, _tab_cells(lines[n])))
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
        if n in numbered_headings:  # "2. Returning a book" over paragraphs and steps of its own
            raw.append(("heading", s, n + 1, []))
            listing = False
            n += 1
            continue
        if b and b.group(1):
            raw.append(("bullet", b.group(1).strip(), n + 1, []))
            listing = listing or s.endswith(":")
        elif _STEP.match(s):
            raw.append(("step", s, n + 1, []))
            listing = s.endswith(":")
        elif (asked := _asked(lines, n)) is not None:  # "Q: …" (over one line or more), then "A: …"
            raw.append(("heading", asked[0], n + 1, []))
            lines[asked[1]] = _ANSWER_MARK.sub("", lines[asked[1]], count=1)
            n = asked[1]
            continue
        elif question_line(s) and _next_content(lines, n) is not None:
            raw.append(("heading", question_line(s) or s, n + 1, []))
        elif (_is_heading(s) or _is_question(s)) and not _byline(s) and _next_content(lines, n) is not None and (not spaced or (
                after_blank and (len(s) < 50 or n + 1 >= len(lines) or not lines[n + 1].strip()
                                 or (unwrapped and _long_heading(s, lines[n + 1].strip()))))):
            raw.append(("heading", s, n + 1, []))
            listing = False
        else:
            raw.append(("para", s, n + 1, []))
            listing = s.endswith(":")
        n += 1
    # a sentence without its full stop ("More information … can be found in Salesforce case #07877638") right
    # before a heading is the last line of its section, not a heading with nothing under it
    for k in range(len(raw) - 1):
        kind, s, line, cells = raw[k]
        if (kind == "heading" and raw[k + 1][0] == "heading" and k > 0 and raw[k - 1][0] in ("para", "step")
                and len(raw[k + 1][1].split()) >= 3  # (over "Cause" or "Steps" it is their heading: a symptom)
                and _SENTENCE.search(s) and not _QUESTION_START.match(s) and len(s.split()) >= 7):
            raw[k] = ("para", s, line, cells)
    if subject:  # the e-mail's subject is its title
        raw.insert(0, ("heading", subject, 1, []))
    numbered = {k for k, r in enumerate(raw) if r[0] == "heading" and r[2] - 1 in numbered_headings}
    if numbered and min(numbered) == min(k for k, r in enumerate(raw) if r[0] == "heading"):
        levels = {k: 2 for k, r in enumerate(raw) if r[0] == "heading"}  # "1. Introduction" is no page title
    else:
        levels = _text_levels(raw)
        top = max(2, min(levels.get(k, 2) for k in numbered)) if numbered else 2
        levels.update({k: top for k in numbered})  # the numbered sections are siblings
    if numbered:  # "2.1 Unpacking" under "2. RECEIVING", "2.1.3 …" under that
        top = min(levels[k] for k in numbered)
        for k, r in enumerate(raw):
            if r[0] == "heading" and (dec := _DECIMAL_HEADING.match(r[1])):
                levels[k] = top + dec.group(1).count(".")
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
    title = next((b.text for b in blocks if b.kind == "heading" and b.level == 1), "") or (
        "" if numbered else next((b.text for b in blocks if b.kind == "heading"), ""))
    return Page(location, title, tuple(blocks))


_DECIMAL_HEADING = re.compile(r"^\s*\d{1,2}((?:\.\d{1,2})+)\.?\s+\S")
_SENTENCE = re.compile(r"\b(?:is|are|was|were|can|could|will|would|should|must|may|might|has|have|had)\b", re.I)
_QUESTION_START = re.compile(r"^\s*(?:who|what|when|where|why|how|which|can|could|do|does|did|is|are|should|will|may)\b",
                             re.I)
_ASKED = re.compile(r"^\s*(?:Q|Question)\s*\d{0,3}\s*:\s*(\S.*)$", re.I)
_ANSWER_MARK = re.compile(r"^(\s*)(?:A|Answer)\s*\d{0,3}\s*:\s*", re.I)
_OPTION_B = re.compile(r"^\s*B\s*[:.)]\s*\S")  # "A: Front desk / B: ILL office": options of a quiz, no answer


def _asked(lines: list[str], n: int) -> tuple[str, int] | None:
    """A question typed as "Q: …" on line n, maybe over a few lines, answered on a line "A: …": (the
    question, the answer's line); None otherwise. With the "A:" there, a question needs no question mark
    ("Q: What happens if step 4 is skipped." / "A: …")."""
    first = _ASKED.match(lines[n])
    if first is None:
        return None
    parts = [first.group(1).strip()]
    m = n + 1
    while m < len(lines) and m <= n + 4 and lines[m].strip() and not _ANSWER_MARK.match(lines[m]) \
            and not _ASKED.match(lines[m]):
        parts.append(lines[m].strip())
        m += 1
    if m >= len(lines) or not _ANSWER_MARK.match(lines[m]) or not _ANSWER_MARK.sub("", lines[m], count=1).strip():
        return None
    if any(_OPTION_B.match(ln) for ln in lines[m + 1:m + 4]):
        return None
    question = clean(" ".join(parts))
    return (question, m) if 3 <= len(question) <= 300 else None


_UNDERLINE = re.compile(r"^(={3,}|-{3,}|~{3,})$")
_MARKED_HEADING = re.compile(r"^(?:#{1,6}\s+(.+?)\s*#*|={1,6}\s+(.+?)\s+={1,6})$")


def _continues(prev: tuple[str, str, int, list[str]], line: str, spaced: bool) -> bool:
    """Whether ``line`` carries on the paragraph or item above it (text wrapped at a fixed width)."""
    kind, text = prev[0], prev[1]
    if kind not in ("para", "bullet", "step", "heading") or not line or not text or text.endswith((".", "!", "?", ":")):
        return False
    if (_BULLET.match(line) or _STEP.match(line) or line.endswith("|") or line in ("-", "–", "•")
            or question_line(line)):
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
        later = {_norm(raw[h][1]): h for h in heads if h >= k}  # the first named heading may follow at once
        found = [h for h in (_match(item, later) for item in run) if h is not None]
        if len(run) >= 2 and len(found) >= max(2, int(0.6 * len(run))):
            if current_head != heads[0] and current_head + 1 == k - len(run):
                # a heading that holds nothing but the list ("Contents", "On this page") names its siblings
                base = levels.setdefault(current_head, 2) - 1
            else:
                base = levels.get(current_head, 2)
            for h in found:
                levels.setdefault(h, base + 1)
    # every other heading sits under the closest heading placed by a table of contents
    # a heading followed at once by another one (no text between) opens a group: "Frequently Asked
    # Questions" then its questions, "Benefits" then each benefit
    anchor_level = 1
    prev = heads[0]
    chain = False  # the previous heading came right after another one
    for h in heads[1:]:
        if h in levels:
            anchor_level = levels[h]
            chain = False
        elif h == prev + 1:
            # only the first of a run of bare headings opens a group: the rest are its parts, side by side (a
            # table flattened one cell a line is not a staircase of headings ten levels deep)
            if not chain:
                anchor_level = levels[prev]
            levels[h] = anchor_level + 1
            chain = True
        else:
            levels[h] = anchor_level + 1
            chain = False
        prev = h
    return levels
