"""The knowledge base: markdown topics in ``knowledge/`` loaded into typed topics.

Each file has YAML front matter (``id``, ``title``, ``kind``, ``roles``, ``keywords``, ``related``, optional ``asks``,
optional ``question`` for FAQs and ``source``) and a markdown body. markdown-it-py parses the body; every
step and section keeps the source line it came from, so errors and answers can point at it.

A bad file stops loading with a sentence naming the file and line (:class:`KnowledgeError`);
:func:`validate_dir` collects every problem instead, for ``p2p-bot check-knowledge``.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = ("procedure", "faq", "reference")
ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
STEPS_HEADING = "steps"


def default_dir() -> Path:
    """The shipped ``knowledge/`` folder: next to the ``bot`` package in a checkout (or an editable install),
    else where a regular install put it (``<prefix>/share/p2p-bot/knowledge``, see pyproject.toml)."""
    beside = Path(__file__).resolve().parents[2] / "knowledge"
    if beside.is_dir():
        return beside
    return Path(sys.prefix) / "share" / "p2p-bot" / "knowledge"


class KnowledgeError(ValueError):
    """A knowledge file is malformed; the message names the file and line."""

    def __init__(self, path: Path | str, line: int, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.reason = message
        # line 0: the problem is the folder or the whole file, not a line of it
        super().__init__(f"{self.path}, line {line}: {message}" if line > 0 else f"{self.path}: {message}")


@dataclass(frozen=True)
class Step:
    number: int
    text: str
    line: int


@dataclass(frozen=True)
class Section:
    heading: str
    text: str
    line: int


@dataclass(frozen=True)
class Topic:
    id: str
    title: str
    kind: str
    roles: tuple[str, ...]
    keywords: tuple[str, ...]
    related: tuple[str, ...]
    path: str
    line: int
    question: str = ""
    source: str = ""
    intro: str = ""
    steps: tuple[Step, ...] = ()
    sections: tuple[Section, ...] = field(default_factory=tuple)
    # sections of the library's own documentation (origin "docs") carry where they live and their text
    origin: str = "knowledge"
    anchor: str = ""
    link: str = ""  # a working link: the URL with '#anchor', or the file's path with '#anchor'
    trail: tuple[str, ...] = ()  # the headings above this section, outermost first
    page: str = ""  # the title of the page a section of the library's documentation is on
    body: str = ""  # the section as shown (docs only)
    search_text: str = ""  # what is indexed when it differs from the body (navigation lists left out)
    # other ways staff ask for this topic ("book came in from another library, what now"), like a
    # LibAnswers FAQ's alternate questions: searched, never shown
    asks: tuple[str, ...] = ()

    @property
    def is_procedure(self) -> bool:
        return self.kind == "procedure"

    @property
    def from_docs(self) -> bool:
        return self.origin == "docs"

    @property
    def place_title(self) -> str:
        """The title with the heading above it for a section of the library's pages ("Returning a loan › Steps
        at the desk"): a section's own heading often does not say which procedure it is."""
        if not self.from_docs:
            return self.title
        above = self.trail[-1:] or ((self.page,) if self.page and self.page != self.title else ())
        return " › ".join((*above, self.title))  # (a section at a page's top: the page it is on)

    def steps_text(self) -> str:
        return "\n".join(f"{s.number}. {s.text}" for s in self.steps)

    def heading_path(self) -> str:
        """'Borrowing › Receiving a single-volume item'."""
        return " › ".join((*self.trail, self.title))

    def citation(self) -> tuple[str, str]:
        """(what to call the source, a link to open it or ''): the page and heading path for indexed
        documentation, with its URL and anchor when it came from the web."""
        if not self.from_docs:
            return self.source_label(), ""
        label = f"{self.source} › {self.heading_path()}"
        return label, (self.link if self.link.lower().startswith(("http://", "https://")) else "")

    def source_label(self) -> str:
        """The file or URL with the section's anchor (``borrowing.html#receive``); the shipped topics name
        the page they came from and their file."""
        if self.from_docs:
            return f"{self.source}#{self.anchor}" if self.anchor else self.source
        name = Path(self.path).name
        return f"{self.source} ({name})" if self.source else name


def _split_front_matter(path: Path, text: str) -> tuple[dict[str, Any], int, list[str]]:
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise KnowledgeError(path, 1, "the file has no front matter (it must start with a '---' line)")
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if end is None:
        raise KnowledgeError(path, 1, "the front matter is never closed with a '---' line")
    import yaml  # loaded only when files are parsed (a cached answer index needs neither YAML nor markdown)

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader when libyaml is there
    try:
        data = yaml.load("\n".join(lines[1:end]), Loader=loader) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = (mark.line + 2) if mark is not None else 1
        raise KnowledgeError(path, line, f"the front matter is not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise KnowledgeError(path, 2, "the front matter must be a mapping of keys to values")
    return data, end + 1, lines


def _key_line(lines: list[str], key: str) -> int:
    for i, line in enumerate(lines):
        if line.startswith(f"{key}:"):
            return i + 1
    return 1


def _str_list(path: Path, lines: list[str], data: dict[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise KnowledgeError(path, _key_line(lines, key), f"'{key}' must be a list of words or phrases")
    return tuple(str(v).strip() for v in value if str(v).strip())


MAX_ASKS = 60
MAX_ASK_WORDS = 30


def _phrasings(path: Path, lines: list[str], data: dict[str, Any]) -> tuple[str, ...]:
    """``asks``: a list of phrases, each a short question as staff would type it (at most 60 of them, each
    at most 30 words: they are searched for every question, and a huge one would slow every answer)."""
    value = data.get("asks", [])
    line = _key_line(lines, "asks")
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise KnowledgeError(path, line, "'asks' must be a list of phrases (each a question in quotes)")
    out = tuple(v.strip() for v in value if v.strip())
    if len(out) > MAX_ASKS:
        raise KnowledgeError(path, line, f"'asks' has {len(out)} phrases; keep it to the {MAX_ASKS} best")
    for v in out:
        if len(v.split()) > MAX_ASK_WORDS:
            raise KnowledgeError(path, line, f"a phrase in 'asks' has {len(v.split())} words; keep each to "
                                             f"{MAX_ASK_WORDS} or fewer: {v[:60]}…")
    return out


_BLOCK_START = re.compile(r"^\s*(\d+[.)]\s|[-*+]\s|\||#)")


def unwrap(text: str) -> str:
    """Join the soft line breaks inside paragraphs; keep lists, tables and blank lines as they are."""
    out: list[str] = []
    for line in text.splitlines():
        prev = out[-1] if out else ""
        if (line.strip() and prev.strip() and not _BLOCK_START.match(line)
                and not prev.lstrip().startswith("|")):
            out[-1] = prev.rstrip() + " " + line.strip()
        else:
            out.append(line.rstrip())
    return "\n".join(out).strip()


def _strip_marker(text: str) -> str:
    return re.sub(r"^\s*(\d+[.)]|[-*+])\s+", "", text, count=1)


def _read_text(path: Path) -> str:
    """The file as UTF-8 text (a byte-order mark is skipped); anything else is a sentence naming the line."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise KnowledgeError(path, 0, f"the file cannot be read ({exc.strerror or exc.__class__.__name__})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise KnowledgeError(path, line, "the file is not UTF-8 text (save it as UTF-8)") from None


def parse_file(path: Path) -> Topic:
    """Parse one knowledge file; raise :class:`KnowledgeError` on the first problem."""
    text = _read_text(path)
    data, body_start, lines = _split_front_matter(path, text)
    topic_id, kind = _check_header(path, data, lines)
    intro, sections, steps = _parse_body(path, lines[body_start:], body_start)
    if kind == "procedure" and not steps:
        raise KnowledgeError(path, body_start + 1,
                             "a procedure needs a '## Steps' section with a numbered list of steps")
    if kind == "faq" and not (data.get("question") or sections):
        raise KnowledgeError(path, body_start + 1, "an FAQ needs a 'question' in its front matter")
    return Topic(
        id=topic_id,
        title=data["title"].strip(),
        kind=kind,
        roles=_str_list(path, lines, data, "roles"),
        keywords=_str_list(path, lines, data, "keywords"),
        asks=_phrasings(path, lines, data),
        related=_str_list(path, lines, data, "related"),
        path=str(path),
        line=_key_line(lines, "id"),
        question=str(data.get("question") or "").strip(),
        source=str(data.get("source") or "").strip(),
        intro=intro,
        steps=tuple(steps),
        sections=tuple(sections),
    )


def _check_header(path: Path, data: dict[str, Any], lines: list[str]) -> tuple[str, str]:
    """The front matter's required keys: return the topic id and kind."""
    for key in ("id", "title", "kind"):
        if not data.get(key) or not isinstance(data[key], str):
            raise KnowledgeError(path, _key_line(lines, key) if key in data else 1,
                                 f"the front matter has no '{key}'")
    topic_id = data["id"].strip()
    if not ID_RE.match(topic_id):
        raise KnowledgeError(path, _key_line(lines, "id"),
                             f"the id '{topic_id}' must be lower-case letters, digits and hyphens")
    kind = data["kind"].strip()
    if kind not in KINDS:
        raise KnowledgeError(path, _key_line(lines, "kind"),
                             f"the kind '{kind}' is not one of {', '.join(KINDS)}")
    return topic_id, kind


def _parse_body(path: Path, body_lines: list[str], body_start: int) -> tuple[str, list[Section], list[Step]]:
    """The markdown body: the intro before the first '##'/'###' heading, every section, and the steps of the
    'Steps' section."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse("\n".join(body_lines))

    def src(a: int, b: int) -> str:
        return unwrap("\n".join(body_lines[a:b]))

    sections: list[Section] = []
    steps: list[Step] = []
    heads = [(i, t) for i, t in enumerate(tokens) if t.type == "heading_open" and t.tag in ("h2", "h3")]
    intro_end = (heads[0][1].map or [len(body_lines)])[0] if heads else len(body_lines)
    for n, (i, tok) in enumerate(heads):
        heading = tokens[i + 1].content.strip()
        start = (tok.map[1] if tok.map else 0)
        nxt = heads[n + 1][1].map if n + 1 < len(heads) else None
        end = nxt[0] if nxt else len(body_lines)
        sections.append(Section(heading=heading, text=src(start, end), line=body_start + (tok.map or [0])[0] + 1))
        if heading.lower() == STEPS_HEADING:
            steps = _parse_steps(path, tokens, body_lines, body_start, start, end)
    return src(0, intro_end), sections, steps


def _parse_steps(path: Path, tokens: list[Any], body_lines: list[str], body_start: int,
                 start: int, end: int) -> list[Step]:
    """Top-level items of the ordered list(s) inside the Steps section, in order, one per step."""
    steps: list[Step] = []
    depth = 0
    in_range = False
    for tok in tokens:
        if tok.map:  # opening tokens carry source lines; closing ones keep the last answer
            in_range = start <= tok.map[0] < end
        if not in_range:
            continue
        if tok.type in ("ordered_list_open", "bullet_list_open"):
            depth += 1
            if depth == 1 and tok.type != "ordered_list_open":
                raise KnowledgeError(path, body_start + tok.map[0] + 1,
                                     "steps must be a numbered list (1. 2. 3.)")
        elif tok.type in ("ordered_list_close", "bullet_list_close"):
            depth -= 1
        elif tok.type == "list_item_open" and depth == 1:
            a, b = tok.map
            raw = "\n".join(body_lines[a:b]).strip()
            text = " ".join(_strip_marker(line).strip() if k == 0 else line.strip()
                            for k, line in enumerate(raw.splitlines()))
            text = re.sub(r"\s+", " ", text).strip()
            if not text:
                raise KnowledgeError(path, body_start + a + 1, "a step is empty")
            steps.append(Step(number=len(steps) + 1, text=text, line=body_start + a + 1))
    return steps


def md_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*.md") if p.is_file() and p.name.lower() != "readme.md")


def validate_dir(directory: Path | str, *more: Path | str) -> tuple[list[Topic], list[KnowledgeError]]:
    """Parse every file of one or more folders and check the cross-file rules (ids unique across all of
    them, ``related`` resolvable in any of them); return the topics and *all* problems."""
    errors: list[KnowledgeError] = []
    topics: list[Topic] = []
    for folder in (Path(directory), *(Path(m) for m in more)):
        if not folder.is_dir():
            errors.append(KnowledgeError(folder, 0, "this folder does not exist"))
            continue
        found = 0
        for path in md_files(folder):
            try:
                topics.append(parse_file(path))
                found += 1
            except KnowledgeError as exc:
                errors.append(exc)
                found += 1
        if not found:
            errors.append(KnowledgeError(folder, 0, "this folder has no knowledge files (*.md)"))
    seen: dict[str, Topic] = {}
    for t in topics:
        if t.id in seen:
            errors.append(KnowledgeError(t.path, t.line,
                                         f"the id '{t.id}' is already used by {seen[t.id].path}"))
        else:
            seen[t.id] = t
    for t in topics:
        for rel in t.related:
            if rel not in seen:
                errors.append(KnowledgeError(t.path, _related_line(t),
                                             f"'related' names '{rel}', which is not a topic id"))
    return topics, errors


def _related_line(t: Topic) -> int:
    try:
        lines = Path(t.path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return t.line
    return _key_line(lines, "related")


def load_dir(directory: Path | str | None = None, *more: Path | str) -> list[Topic]:
    """Load a folder of topics (and any extra folders on top); raise the first :class:`KnowledgeError`."""
    topics, errors = validate_dir(directory or default_dir(), *more)
    if errors:
        raise errors[0]
    return topics
