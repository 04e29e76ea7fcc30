"""Pages into answerable sections: the heading tree, procedures, FAQ pairs and passages.

Each section becomes a :class:`~bot.core.kb.Topic` with ``origin="docs"``, a stable id
``<doc slug>#<section slug>``, its heading path, anchor and text, so the answer engine, walkthroughs,
feedback and shared answers treat shipped topics and a library's own pages alike.

- A **procedure** is a numbered list of actions (``1. Do this``, ``Step 1: Do this``, ``1: Do this``) or a
  bullet list of instructions ("Go to…", "Click…"); the lines between two steps belong to the first.
- An **FAQ pair** is a heading that asks a question, followed by its answer.
- A section longer than :data:`PASSAGE_CHARS` (not a procedure) is cut into passages that keep its heading.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.core.docs.model import Block, Page, slugify, text_fragment
from bot.core.kb import Section, Step, Topic

PASSAGE_CHARS = 1400
_STEP = re.compile(r"^\s*(?:step\s*)?(\d{1,2})\s*[.):]\s+(\S.*)$", re.I | re.S)
_STEP_DASH = re.compile(r"^\s*step\s*(\d{1,2})\s*[-–—]\s*(\S.*)$", re.I | re.S)  # "Step 2 – Scan the item"


def _step_line(text: str) -> re.Match[str] | None:
    """"1. Do this", "Step 1: Do this", "1) Do this", "Step 1 – Do this": group 1 the number, group 2 the action."""
    return _STEP.match(text) or _STEP_DASH.match(text)
_VERBS = frozenset("""go click choose select enter open find search add check make scroll navigate type scan print
    confirm verify set configure edit save locate insert place return use press tick untick uncheck remove delete
    create run wait review fill log sign pick put attach write fold tape cut send ship mark update change copy
    download upload switch turn follow repeat submit request record note contact ask apply close drag expand
    pull sort take start shelve hand give wrap pack stamp lock unlock keep bring move drop leave count empty
    hold collect gather compare read tell call email notify deliver route forward label stick load prepare
    complete enable disable assign tap hit stop restart reboot log""".split())
_LEAD = re.compile(r"^(?:(?:in|under|from|on|once|to|after|when|if|at|for)\b[^,]{0,90},\s*)?"
                   r"(?:then\s+|next,?\s+|now\s+|first,?\s+)?([a-z]+)", re.I)


@dataclass
class _Sec:
    title: str
    anchor: str
    level: int
    trail: tuple[str, ...]
    line: int
    blocks: list[Block] = field(default_factory=list)
    target: str = ""  # where a link lands when the page has no id for this heading (see Block.target)


def _instruction(item: str) -> bool:
    m = _LEAD.match(item.strip())
    return bool(m and m.group(1).lower() in _VERBS)


_STEP_HEADING = re.compile(r"^\s*step\s*(\d{1,2})\b\s*[.):–—-]?\s*(.*)$", re.I | re.S)


def _own_steps(blocks: list[Block], k: int) -> bool:
    """Whether the heading at ``k`` is over headings, a numbered list or numbered sub-steps of its own."""
    end = k + 1
    while end < len(blocks) and not (blocks[end].kind == "heading" and blocks[end].level <= blocks[k].level):
        end += 1
    return any(x.kind == "heading" or (x.kind == "list" and (x.ordered or any(
        re.search(r"\n\s*\d{1,2}\. ", i) for i in x.items))) for x in blocks[k + 1:end])


def _fold_step_headings(blocks: list[Block]) -> list[Block]:
    """Headings "Step 1: Open Receiving Items", "Step 2 …" each over a little text are the steps of the
    section above them, not sections of one step: they become its numbered steps, their text kept with them.
    When one "Step" heading is over a numbered list, a list with numbered sub-steps or headings of its own (a
    part with steps of its own), they all stay headings."""
    if sum(b.kind == "heading" and bool(_STEP_HEADING.match(b.text)) for b in blocks) < 2:
        return blocks
    if any(_own_steps(blocks, k) for k, b in enumerate(blocks) if b.kind == "heading" and _STEP_HEADING.match(b.text)):
        return blocks  # one of them is a part with steps of its own: so are its siblings, all headings
    out: list[Block] = []
    k = 0
    while k < len(blocks):
        b = blocks[k]
        m = _STEP_HEADING.match(b.text) if b.kind == "heading" else None
        end = k + 1
        while end < len(blocks) and not (blocks[end].kind == "heading" and blocks[end].level <= b.level):
            end += 1
        under = blocks[k + 1:end]
        if not m:
            out.append(b)
            k += 1
            continue
        detail = "\n".join(_render(x) for x in under)
        text = f"{m.group(1)}. {m.group(2).strip()}\n{detail}" if m.group(2).strip() else f"{m.group(1)}. {detail}"
        out.append(Block("para", text.strip(), line=b.line))
        k = end
    return out


def split_sections(page: Page) -> list[_Sec]:
    secs: list[_Sec] = []
    stack: list[tuple[int, str]] = []
    # what comes before the first heading: its id is the page title's slug, its link the page itself
    cur = _Sec(page.title, slugify(page.title) if page.title else "top", 0, (), 1, target="")
    for b in _fold_step_headings(list(page.blocks)):
        m = _step_line(b.text) if b.kind == "para" else None
        if (m and m.group(1) == "1" and cur.blocks and cur.trail
                and all(x.kind == "list" and not x.ordered for x in cur.blocks)):
            # "Required Roles", a list, then "1: Open…": the steps belong to the page above, not to the list
            secs.append(cur)
            parent = cur.trail[-1]
            cur = _Sec(parent, slugify(parent) + "-steps", cur.level - 1, cur.trail[:-1], b.line)
        if b.kind == "heading":
            secs.append(cur)
            while stack and stack[-1][0] >= b.level:
                stack.pop()
            while b.text.endswith("?") and stack and stack[-1][1].endswith("?"):
                stack.pop()  # a question is never the chapter of the next one (accordions nest them oddly)
            cur = _Sec(b.text, b.anchor or slugify(b.text), b.level, tuple(t for _, t in stack), b.line,
                       target=b.target)
            stack.append((b.level, b.text))
        else:
            cur.blocks.append(b)
    secs.append(cur)
    return [s for s in secs if s.blocks]


_TASK = re.compile(r"^\s*\[[ xX✓]?\]\s*")
_ANSWER = re.compile(r"^\s*(?:A|Answer)\s*[:.)–-]\s*", re.I)


@dataclass
class _Piece:
    """A rendered part of a section: a step (``number`` > 0) or other text."""

    text: str
    number: int = 0


_SUB_STEP = re.compile(r"^(\d{1,2})\. (\S.*)$")


def _sub_steps(item: str) -> tuple[str, list[str]] | None:
    """A list item's own words and its numbered sub-steps (each with the lines under it), when it has two or
    more; None otherwise."""
    label: list[str] = []
    steps: list[str] = []
    for line in item.split("\n"):
        m = _SUB_STEP.match(line)
        if m:
            steps.append(m.group(2))
        elif steps:
            steps[-1] += "\n" + (line[3:] if line.startswith("   ") else line)
        else:
            label.append(line)
    return (" ".join(label).strip(), steps) if len(steps) >= 2 else None


def _pieces(blocks: list[Block]) -> tuple[list[_Piece], bool]:
    """The section's parts in order, with numbered steps gathered; True when it is a procedure."""
    flat: list[Block | tuple[int, str]] = []
    for b in blocks:
        m = _step_line(b.text) if b.kind == "para" else None
        if m:
            flat.append((int(m.group(1)), m.group(2).strip()))
        elif b.kind == "list" and b.ordered and len(b.items) >= 1:
            flat.extend((0, item) for item in b.items)
        elif b.kind == "list" and not b.ordered and len(b.items) == 1 and _sub_steps(b.items[0]):
            # one bullet over numbered sub-steps (a Notion toggle, "- Copy the partner:" then 1., 2., 3.)
            label, subs = _sub_steps(b.items[0]) or ("", [])
            if label:
                flat.append(Block("para", label))
            flat.extend((0, sub) for sub in subs)
        elif b.kind == "list" and len(b.items) >= 2 and all(_TASK.match(i) for i in b.items):
            flat.extend((0, _TASK.sub("", item)) for item in b.items)  # a checklist ("- [ ] Copy the partner")
        else:
            flat.append(b)
    step_idx = [k for k, f in enumerate(flat) if isinstance(f, tuple)]
    numbered = len(step_idx) >= 2
    if not numbered:  # a bullet list of instructions is a procedure too
        for k, f in enumerate(flat):
            if (isinstance(f, Block) and f.kind == "list" and not f.ordered and len(f.items) >= 3
                    and sum(_instruction(i) for i in f.items) >= max(3, 0.6 * len(f.items))):
                flat[k:k + 1] = [(0, i) for i in f.items]
                step_idx = [j for j, g in enumerate(flat) if isinstance(g, tuple)]
                break
    pieces: list[_Piece] = []
    last_step = step_idx[-1] if len(step_idx) >= 2 else -1
    n = 0
    for k, f in enumerate(flat):
        if isinstance(f, tuple) and last_step >= 0:
            n += 1
            pieces.append(_Piece(f[1], n))
            continue
        text = _render(f) if isinstance(f, Block) else f"{f[0] or ''}. {f[1]}".lstrip(". ")
        if pieces and pieces[-1].number and (k < last_step or (
                k == last_step + 1 and isinstance(f, Block) and f.kind in ("list", "table")
                and _ANNOUNCES.search(pieces[-1].text))):
            # between two steps: it belongs to the step before (its options, a table of values, a note); so
            # does the list right after the last step when that step points at it ("check the boxes below")
            pieces[-1].text += "\n" + text
        else:
            pieces.append(_Piece(text))
    return pieces, n >= 2


# a step that points at the list or table after it
_ANNOUNCES = re.compile(r":\s*$|\b(?:listed|shown|given|set out) below\b|\bas follows\b|\bbelow\s*[:,]|"
                        r"\b(?:the following|these) (?:boxes|options|values|settings|fields|items|parameters|codes)\b",
                        re.I)


def _render(b: Block) -> str:
    if b.kind == "list":
        return "\n".join((f"{k}. " if b.ordered else "- ") + item.replace("\n", "\n   ")
                         for k, item in enumerate(b.items, 1))
    if b.kind == "table":
        return "\n".join(" | ".join(r) for r in b.rows)
    return b.text


def _body(pieces: list[_Piece]) -> str:
    return "\n".join(f"{p.number}. " + p.text.replace("\n", "\n   ") if p.number else p.text
                     for p in pieces).strip()


def _nav_free(pieces: list[_Piece], headings: set[str], own: str = "") -> str:
    """The section's text without the lines that only name other headings (a table of contents); ``own`` is
    the section's own heading, which a line may name (the set is shared by every section: never copied)."""
    keep = []
    for line in _body(pieces).splitlines():
        bare = re.sub(r"^\s*(?:-|\d+\.)\s*", "", line).strip().lower()
        if bare not in headings or bare == own:
            keep.append(line)
    return "\n".join(keep)


def topics_for(page: Page, doc_slug: str, source: str, link: str, fragments: bool = True) -> list[Topic]:
    """Every answerable section of a page. ``source`` names the page for people (a file name or URL),
    ``link`` is where it can be opened (the URL, or the file's path). ``fragments``: the page opens in a
    browser, so a heading without an id of its own is linked by its words (``#:~:text=…``)."""
    secs = split_sections(page)
    headings = {s.title.strip().lower() for s in secs}
    titles = [s.title.strip().lower() for s in secs]
    used: set[str] = set()
    out: list[Topic] = []
    for s in secs:
        pieces, is_proc = _pieces(s.blocks)
        if pieces and s.title.rstrip().endswith("?"):  # "A: No, print a new one." answers; "A:" is not the answer
            pieces[0].text = _ANSWER.sub("", pieces[0].text, count=1)
        body = _body(pieces)
        own = s.title.strip().lower()
        if not body or not _nav_free(pieces, headings, own).strip():
            continue  # nothing, or only a list naming the page's other headings ("Contents"): not an answer
        slug = slugify(s.anchor)
        if slug in used:
            slug = f"{slugify(s.trail[-1])}--{slug}" if s.trail else slug
        base, k = slug, 2
        while slug in used:
            slug, k = f"{base}-{k}", k + 1
        used.add(slug)
        is_faq = s.title.rstrip().endswith("?")
        where = (s.target or s.anchor) if s.level else ""  # the top of the page needs no anchor
        if where.startswith(":~:") and not fragments:
            where = s.anchor  # a Word file or a PDF has no anchors at all: the heading's name says where
        elif where.startswith(":~:") and titles.count(own) > 1 and pieces:
            # "Steps" under each procedure: the words of this one's first line find it, its heading does not
            where = text_fragment(" ".join(pieces[0].text.split()[:10])) or where
        kind = "procedure" if is_proc else ("faq" if is_faq else "reference")
        steps = tuple(Step(p.number, p.text, s.line) for p in pieces if p.number) if is_proc else ()
        chunks = [pieces] if is_proc or len(body) <= PASSAGE_CHARS else _passages(pieces)
        for c, chunk in enumerate(chunks):
            sid = slug if c == 0 else f"{slug}-part-{c + 1}"
            text = _body(chunk)
            search = _nav_free(chunk, headings, own)
            out.append(Topic(
                id=f"{doc_slug}#{sid}", title=s.title or page.title or doc_slug, kind=kind, roles=(), keywords=(),
                related=(), path=page.location, line=s.line, question=s.title if is_faq else "", source=source,
                steps=steps, sections=(Section(s.title, text, s.line),), origin="docs", anchor=where,
                link=f"{link}#{where}" if where else link, trail=s.trail, page=page.title, body=text,
                search_text=search if search != text else ""))
    return out


def _passages(pieces: list[_Piece]) -> list[list[_Piece]]:
    """Cut a long section at piece boundaries (paragraphs, lists, tables) into passages of a readable size;
    a single piece longer than that is cut at sentence ends."""
    flat: list[_Piece] = []
    for p in pieces:
        if len(p.text) <= PASSAGE_CHARS:
            flat.append(p)
            continue
        buf = ""
        for sentence in re.split(r"(?<=[.!?])\s+", p.text):
            if buf and len(buf) + len(sentence) > PASSAGE_CHARS * 0.7:
                flat.append(_Piece(buf))
                buf = ""
            buf = f"{buf} {sentence}".strip()
        if buf:
            flat.append(_Piece(buf))
    out: list[list[_Piece]] = [[]]
    size = 0
    for p in flat:
        if out[-1] and size + len(p.text) > PASSAGE_CHARS * 0.7:
            out.append([])
            size = 0
        out[-1].append(p)
        size += len(p.text) + 1
    return [c for c in out if c]


def count(topics: Iterable[Topic]) -> tuple[int, int, int]:
    """(sections, procedures, FAQ pairs)."""
    ts = list(topics)
    return len(ts), sum(t.kind == "procedure" for t in ts), sum(bool(t.question) for t in ts)

