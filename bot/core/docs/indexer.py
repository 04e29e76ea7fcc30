"""Keeping the documentation index fresh: read only what changed, drop what disappeared, never lose the last
good sections of a source that cannot be read.

Files are compared by modification time and size (then by content hash), URLs by a conditional GET
(``If-None-Match`` / ``If-Modified-Since``). Every page's parsed sections are stored as JSON in the store,
so a restart or a new process loads them without reading a single page; a generation number in the store's ``cache`` table
tells each process whether its cached answer index is still current.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, NotRequired, TypedDict
from urllib.parse import urlsplit

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from bot.core.docs import odt, pdf, readers, word
from bot.core.docs.model import ReadError, slugify
from bot.core.docs.sections import count, topics_for
from bot.core.kb import Section, Step, Topic
from bot.edges.store import Store, docs_pages, docs_sources, utcnow

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

GENERATION_KEY = "docs.generation"  # keys in the store's cache table
SOURCES_KEY = "docs.sources"
READERS_KEY = "docs.readers"
# raised when the readers make something else of the same page (version 2: a heading without an id is linked
# by its words): every page is read again once, though it did not change
READERS_VERSION = 2
TIMEOUT_S = 15.0
MAX_BYTES = 5_000_000
# a Word file or a PDF carries its screenshots: its text is limited inside (word.MAX_XML_BYTES, pdf.MAX_PAGES)
MAX_PACKAGE_BYTES = 60_000_000
PACKAGES = ("docx", "odt", "fodt", "pdf", "mhtml", "eml")  # kinds read as bytes and turned into text by their own module
READABLE = ".md, .html/.htm, .txt, .docx, .odt, .pdf or .mht"
RACY_S = 2.0
# what a "soft 404" says in its title or first heading (HTTP 200 with a "Page not found" page: WordPress,
# Confluence, LibGuides do it): the whole title part or heading, not a phrase inside a longer one
_NOT_FOUND = re.compile(
    r"(?:error[\s:]*)?404(?:[\s:–—-]*(?:error|not found|page not found|file not found))?"
    r"|(?:error[\s:]*)?(?:page|file) not found(?:\s*\(?(?:error\s*)?404\)?)?"
    r"|not found"
    r"|(?:oops!?\s*)?(?:sorry,?\s*)?(?:that|this|the) page (?:can.?t|cannot|could not|couldn.?t) be found"
    r"|(?:oops!?\s*)?(?:sorry,?\s*)?(?:we )?(?:can.?t|cannot|couldn.?t) find (?:that|this|the) page"
    r"|(?:sorry,?\s*)?(?:the )?(?:requested )?page (?:you (?:requested|are looking for|were looking for) )?"
    r"(?:does not|doesn.?t) exist(?: any ?more)?"
    r"|(?:sorry,?\s*)?(?:the )?(?:requested )?page (?:could not|cannot|can.?t) be found", re.I)
_MEDIAWIKI_EMPTY = "There is currently no text in this page"
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)
_H1 = re.compile(r"<h1[^>]*>(.*?)</h1>", re.I | re.S)
_TAG = re.compile(r"<[^>]{0,2000}>")
SOFT_404_CHARS = 10_000  # a page whose first heading alone says "not found" is short; one about lost items is not


def soft_404(html: str) -> bool:
    """Whether a page served with HTTP 200 is a "Page not found" page: its title says so (any part between
    the site name's separators), or its first heading does and it is short, or it is MediaWiki's empty page."""
    def says(fragment: str) -> bool:
        text = " ".join(re.sub(r"&\w+;|&#\d+;", " ", _TAG.sub(" ", fragment)).split()).replace("’", "'")
        parts = [text, *re.split(r"\s[|–—:·-]\s|\s[|–—·]\s?", text)]
        return any(_NOT_FOUND.fullmatch(part.strip(" .!")) for part in parts if part.strip(" .!"))
    title = _TITLE.search(html[:20_000])
    if title and says(title.group(1)):
        return True
    if _MEDIAWIKI_EMPTY in html:
        return True
    h1 = _H1.search(html)
    if not (h1 and says(h1.group(1))):
        return False
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.I | re.S)
    return len(" ".join(_TAG.sub(" ", body).split())) < SOFT_404_CHARS


_LOGIN = re.compile(r"(^|[/_.-])(login|log-in|signin|sign-in|sso|saml|cas|auth|oauth2?|idp|shibboleth)([/_.?-]|$)", re.I)


def is_url(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


# -- topics to and from the store ---------------------------------------------------------------------
class TopicRecord(TypedDict):
    """One section as stored in ``docs_pages.sections`` (a JSON list of these)."""

    id: str
    title: str
    kind: str
    path: str
    line: int
    question: str
    source: str
    steps: list[tuple[int, str, int]]  # (number, text, line); back from JSON as 3-item lists
    sections: list[tuple[str, str, int]]  # (heading, text, line)
    anchor: str
    link: str
    trail: list[str]
    body: str
    search_text: NotRequired[str]  # records written before it existed lack it
    page: NotRequired[str]  # the page's title (likewise)


class PageListing(TypedDict):
    """One indexed page, as ``p2p-bot docs list --json`` shows it."""

    source: str
    location: str
    slug: str
    title: str
    sections: int
    procedures: int
    faqs: int
    indexed_at: str
    checked_at: str
    error: str


class SourceState(TypedDict):
    """One configured source's last check, as ``p2p-bot docs list --json`` shows it."""

    source: str
    status: str  # ok / failed
    detail: str
    checked_at: str
    ok_at: str


@dataclass(frozen=True)
class _Known:
    """What the store remembers of a page from the last run: enough to tell whether it changed."""

    id: int
    source: str
    location: str
    slug: str
    mtime_ns: int
    size: int
    etag: str
    last_modified: str
    content_hash: str
    error: str
    checked_at: datetime


def to_record(t: Topic) -> TopicRecord:
    return {"id": t.id, "title": t.title, "kind": t.kind, "path": t.path, "line": t.line, "question": t.question,
            "source": t.source, "steps": [(s.number, s.text, s.line) for s in t.steps],
            "sections": [(s.heading, s.text, s.line) for s in t.sections], "anchor": t.anchor, "link": t.link,
            "trail": list(t.trail), "body": t.body, "search_text": t.search_text, "page": t.page}


def from_record(d: TopicRecord) -> Topic:
    return Topic(id=d["id"], title=d["title"], kind=d["kind"], roles=(), keywords=(), related=(), path=d["path"],
                 line=int(d["line"]), question=d["question"], source=d["source"],
                 steps=tuple(Step(int(n), str(x), int(ln)) for n, x, ln in d["steps"]),
                 sections=tuple(Section(str(h), str(x), int(ln)) for h, x, ln in d["sections"]),
                 origin="docs", anchor=d["anchor"], link=d["link"], trail=tuple(d["trail"]), body=d["body"],
                 search_text=d.get("search_text", ""), page=d.get("page", ""))


# -- reports ------------------------------------------------------------------------------------------
@dataclass
class SourceReport:
    source: str
    sections: int = 0
    procedures: int = 0
    faqs: int = 0
    status: str = "ok"  # ok / failed
    detail: str = ""  # why it failed (a sentence)
    pages: int = 0


@dataclass
class IndexReport:
    sources: list[SourceReport] = field(default_factory=list)
    added: int = 0
    changed: int = 0
    removed: int = 0

    @property
    def ok(self) -> bool:
        return all(s.status == "ok" for s in self.sources)

    @property
    def failed(self) -> list[SourceReport]:
        return [s for s in self.sources if s.status != "ok"]

    def to_json(self) -> dict[str, object]:
        return {"sources": [{k: v for k, v in asdict(s).items() if k != "pages" and (k != "detail" or v)}
                            for s in self.sources],
                "added": self.added, "changed": self.changed, "removed": self.removed}


@dataclass
class _Fetched:
    text: str
    kind: str
    etag: str = ""
    last_modified: str = ""
    mtime_ns: int = 0
    size: int = 0
    web: bool = False  # a web page itself (not a Word file, PDF or archive turned into HTML): a browser opens it


class _NotModified(Exception):
    pass


# -- the indexer --------------------------------------------------------------------------------------
Progress = Callable[[str, int, int], None]  # (source, pages done, pages in the source)


class DocsIndexer:
    """Index ``sources`` (files, folders, URLs) into the store. ``http`` is an ``httpx.Client`` (made on
    first use when not given)."""

    def __init__(self, store: Store, http: httpx.Client | None = None, timeout: float = TIMEOUT_S,
                 progress: Progress | None = None) -> None:
        self.store = store
        self.progress = progress
        self._http = http
        self._own_http = http is None
        self.timeout = timeout

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            import httpx

            self._http = httpx.Client(timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 5.0)),
                                      follow_redirects=True, headers={"User-Agent": "p2p-bot docs indexer"})
        return self._http

    def close(self) -> None:
        if self._own_http and self._http is not None:
            self._http.close()
            self._http = None

    def run(self, sources: Sequence[str]) -> IndexReport:
        report = IndexReport()
        wanted = list(dict.fromkeys(s.strip() for s in sources if s.strip()))
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(docs_pages.c.id, docs_pages.c.source, docs_pages.c.location, docs_pages.c.slug,
                                       docs_pages.c.mtime_ns, docs_pages.c.size, docs_pages.c.etag,
                                       docs_pages.c.last_modified, docs_pages.c.content_hash,
                                       docs_pages.c.error, docs_pages.c.checked_at)).all()
        known = {(r.source, r.location): _Known(*r) for r in rows}
        got_readers = self.store.cache_get(READERS_KEY)
        if got_readers is None or got_readers[0] != READERS_VERSION:
            # pages read by older readers: read again (no "not modified", no "same content")
            known = {k: replace(v, mtime_ns=-1, size=-1, etag="", last_modified="", content_hash="")
                     for k, v in known.items()}
        slugs: dict[str, str] = {r.slug: r.location for r in rows if r.source in wanted}
        # sources no longer configured disappear with everything indexed from them
        # (a source that never gave a page, e.g. one that failed, has only its status row: that goes too)
        gone = [r for r in rows if r.source not in wanted]
        with self.store.begin() as conn:
            if gone:
                conn.execute(delete(docs_pages).where(docs_pages.c.id.in_([r.id for r in gone])))
            conn.execute(delete(docs_sources).where(docs_sources.c.source.notin_(wanted)))
        report.removed += len(gone)
        for source in wanted:
            report.sources.append(self._source(source, known, slugs, report))
        got = self.store.cache_get(GENERATION_KEY)
        generation = _generation_count(got[0]) if got is not None else None
        if report.added or report.changed or report.removed or generation is None:
            # every process compares this token with the one its cached answer index was built from; its random
            # part tells a database made again from scratch (whose count starts over) from the one before
            self.store.cache_put(GENERATION_KEY, f"{(generation or 0) + 1}.{secrets.token_hex(6)}")
        self.store.cache_put(SOURCES_KEY, wanted)
        # every page was read by these readers, or failed (a page with an error is read in full next time);
        # waiting for a run without failures re-read every page on every run while one source was down
        self.store.cache_put(READERS_KEY, READERS_VERSION)
        return report

    # -- one configured source ------------------------------------------------------------------------
    def _source(self, source: str, known: dict[tuple[str, str], _Known], slugs: dict[str, str],
                report: IndexReport) -> SourceReport:
        rep = SourceReport(source)
        problems: list[str] = []
        skipped: list[str] = []
        pages: list[tuple[str, str, str]] | None
        blocked: list[tuple[Path, str]] = []
        try:
            pages, skipped, blocked = self._list(source)
        except ReadError as exc:
            pages = None
            problems.append(str(exc))
        problems.extend(why for _, why in blocked)  # a sub-folder that cannot be opened: its pages are kept
        inside = tuple(str(folder) + os.sep for folder, _ in blocked)
        if pages is not None:
            seen = set()
            for done, (location, display, link) in enumerate(pages):
                if self.progress is not None:
                    self.progress(source, done, len(pages))
                seen.add(location)
                try:
                    self._page(source, location, display, link, known.get((source, location)), slugs, report)
                except ReadError as exc:
                    problems.append(str(exc))
                    self._mark_error(source, location, str(exc))
                except SQLAlchemyError:
                    raise  # the store itself failing is no page's fault: the run stops and says so
                except Exception as exc:  # a reader's slip on one page must not stop the others (nor lose them)
                    log.exception("indexing %s failed", display)
                    detail = f"{display} could not be read ({type(exc).__name__}); the log has the details"
                    problems.append(detail)
                    self._mark_error(source, location, detail)
            stale = [r for (src, loc), r in known.items() if src == source and loc not in seen
                     and not (inside and loc.startswith(inside))]
            if stale:
                with self.store.begin() as conn:
                    conn.execute(delete(docs_pages).where(docs_pages.c.id.in_([r.id for r in stale])))
                report.removed += len(stale)
        with self.store.engine.connect() as conn:
            for r in conn.execute(select(docs_pages.c.n_sections, docs_pages.c.n_procedures, docs_pages.c.n_faqs)
                                  .where(docs_pages.c.source == source)):
                rep.sections += r.n_sections
                rep.procedures += r.n_procedures
                rep.faqs += r.n_faqs
                rep.pages += 1
        named = ", ".join(skipped[:3]) + (f" and {len(skipped) - 3} more" if len(skipped) > 3 else "")
        if pages is not None and not pages and not problems:
            problems.append(f"{source} holds no {READABLE} pages" + (f", only {named}" if skipped else ""))
            skipped = []
        now = utcnow()
        if problems:
            rep.status, rep.detail = "failed", "; ".join(problems[:3]) + (
                f" (and {len(problems) - 3} more)" if len(problems) > 3 else "")
        if skipped:
            # named, so a page missing from the answers is no mystery
            note = f"not read, not being {READABLE}: {named}"
            rep.detail = f"{rep.detail}; {note}" if rep.detail else note
        values: dict[str, object] = {"status": rep.status, "detail": rep.detail, "checked_at": now}
        if rep.status == "ok":
            values["ok_at"] = now
        for _attempt in range(2):
            try:
                with self.store.begin() as conn:
                    if conn.execute(update(docs_sources).where(docs_sources.c.source == source)
                                    .values(**values)).rowcount == 0:
                        conn.execute(insert(docs_sources).values(source=source, **values))
                break
            except IntegrityError:  # inserted by another process between our update and insert: update it
                continue
        return rep

    def _list(self, source: str) -> tuple[list[tuple[str, str, str]], list[str], list[tuple[Path, str]]]:
        """(location, name shown to people, link) for every page of a source; the documents in a folder that
        no reader opens (an old .doc, an .rtf), to be named rather than passed over in silence; and the
        sub-folders (and names) that could not be opened, each with the sentence that says why."""
        if is_url(source):
            return [(source, source, source)], [], []
        path = Path(os.path.expanduser(source))
        if not path.exists():
            raise ReadError(f"{source} does not exist (check P2PBOT_DOCS)")
        if path.is_file():
            if _kind(path) is None:
                if path.name.lower().endswith(".doc"):
                    with path.open("rb") as fh:
                        what = readers.doc_kind_name(fh.read(4096))
                    if what == "an empty file":
                        raise ReadError(f"{source} is empty")
                    raise ReadError(f"{source} is {what}, which the bot cannot read; open it in Word and save it "
                                    "as .docx")
                raise ReadError(f"{source} is not a page the bot can read (use {READABLE})")
            full = str(path.resolve())
            return [(full, path.name, full)], [], []
        if not os.access(path, os.R_OK | os.X_OK):
            raise ReadError(f"{source} cannot be opened (no permission to read the folder)")
        out = []
        root = path.resolve()
        skipped: list[str] = []
        found: list[Path] = []
        errors: list[OSError] = []
        # os.walk, not rglob: rglob passes over a sub-folder it cannot open in silence, and its pages would
        # then look deleted; symbolic links to folders are not followed (as rglob did not)
        for top, dirs, files in os.walk(root, onerror=errors.append):
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "~$")))  # hidden folders
            found.extend(Path(top, f) for f in files)
        blocked = [(Path(e.filename), f"{e.filename} cannot be opened ({e.strerror or e})")
                   for e in errors if e.filename]
        for p in sorted(found):
            rel = p.relative_to(root)
            if any(part.startswith(".") or part.startswith("~$") for part in rel.parts):
                continue  # hidden files, and the lock files Word keeps beside an open document
            try:
                str(p).encode("utf-8")
            except UnicodeEncodeError:  # copied from an old share: the bot could neither store nor link it
                shown = os.fsencode(p).decode("utf-8", "replace")
                blocked.append((p, f"{shown} has a name that is not UTF-8; rename it"))
                continue
            try:
                mode = p.stat().st_mode
            except OSError as exc:
                if exc.errno == errno.EACCES and not _is_link(p):  # a folder listed but not entered (r--)
                    if all(folder != p.parent for folder, _ in blocked):
                        blocked.append((p.parent, f"{p.parent} cannot be opened ({exc.strerror})"))
                elif readers.kind_for(p.name) is not None or p.name.lower().endswith(".doc"):
                    # a link to a page that is gone (or loops): reading it says why, and what it held stays
                    out.append((str(p), rel.as_posix(), str(p)))
                continue
            if not stat.S_ISREG(mode):
                continue  # a pipe, a device or a socket with a page's name: nothing to read (reading one hangs)
            if _kind(p) is not None:
                out.append((str(p), rel.as_posix(), str(p)))
            elif p.name.lower().endswith(readers.UNREADABLE_DOCS):
                skipped.append(rel.as_posix())
        return out, skipped, blocked

    def _slug(self, source: str, location: str, display: str, slugs: dict[str, str]) -> str:
        # a page is named by its path (a URL's path without the host: moving the wiki keeps the ids)
        base = display if not is_url(source) else (urlsplit(location).path.strip("/") or urlsplit(location).netloc)
        base = re.sub(r"\.(md|markdown|html?|txt|text|docx|docm|odt|fodt|pdf|mht|mhtml|doc|eml)$", "", base, flags=re.I)
        slug = slugify(base.replace("/", "-"), limit=120)
        if slugs.get(slug, location) != location:  # two sources with the same page name
            slug = f"{slug}-{hashlib.sha1(location.encode()).hexdigest()[:6]}"
        slugs[slug] = location
        return slug

    def _page(self, source: str, location: str, display: str, link: str, old: _Known | None, slugs: dict[str, str],
              report: IndexReport) -> None:
        now = utcnow()
        try:
            got = self._fetch(location, old)
        except _NotModified:
            assert old is not None  # only a page read before can be unchanged since
            with self.store.begin() as conn:
                conn.execute(update(docs_pages).where(docs_pages.c.id == old.id).values(checked_at=now, error=""))
            return
        digest = hashlib.sha256(got.text.encode("utf-8", "replace")).hexdigest()
        if old is not None and old.content_hash == digest:
            with self.store.begin() as conn:
                conn.execute(update(docs_pages).where(docs_pages.c.id == old.id).values(
                    checked_at=now, error="", mtime_ns=got.mtime_ns, size=got.size, etag=got.etag,
                    last_modified=got.last_modified))
            return
        try:
            page = readers.parse(location, got.text, got.kind)
        except ReadError:
            raise
        except Exception as exc:  # a page the parser chokes on must not stop the other pages
            raise ReadError(f"{display} could not be read as {got.kind} ({type(exc).__name__}: {exc})") from None
        slug = old.slug if old is not None else self._slug(source, location, display, slugs)
        topics = topics_for(page, slug, display, link, fragments=got.web)
        n, procs, faqs = count(topics)
        values: dict[str, object] = {
            "slug": slug, "title": page.title, "mtime_ns": got.mtime_ns, "size": got.size, "etag": got.etag,
            "last_modified": got.last_modified, "content_hash": digest,
            "sections": json.dumps([to_record(t) for t in topics], ensure_ascii=False),
            "n_sections": n, "n_procedures": procs, "n_faqs": faqs, "indexed_at": now, "checked_at": now, "error": ""}
        where = (docs_pages.c.source == source) & (docs_pages.c.location == location)
        if old is None:
            try:
                with self.store.begin() as conn:
                    conn.execute(insert(docs_pages).values(source=source, location=location, **values))
                report.added += 1
                return
            except IntegrityError:  # another process indexed the same page a moment ago: ours is as new
                pass
        with self.store.begin() as conn:
            conn.execute(update(docs_pages).where(where).values(**values))
        report.changed += 1

    def _mark_error(self, source: str, location: str, detail: str) -> None:
        with self.store.begin() as conn:
            conn.execute(update(docs_pages).where((docs_pages.c.source == source) & (docs_pages.c.location == location))
                         .values(error=detail, checked_at=utcnow()))

    # -- reading ------------------------------------------------------------------------------------
    def _fetch(self, location: str, old: _Known | None) -> _Fetched:
        return self._fetch_url(location, old) if is_url(location) else self._fetch_file(location, old)

    def _fetch_file(self, location: str, old: _Known | None) -> _Fetched:
        path = Path(location)
        try:
            st = path.stat()
        except OSError as exc:
            if exc.errno == errno.ENOENT and _is_link(path):  # a shortcut left behind when its page moved
                raise ReadError(f"{location} is a link to {os.readlink(path)}, which does not exist") from None
            if exc.errno == errno.ELOOP:
                raise ReadError(f"{location} is a link that leads back to itself") from None
            raise ReadError(f"{location} cannot be read ({exc.strerror or exc})") from None
        if not stat.S_ISREG(st.st_mode):
            raise ReadError(f"{location} is not a file (a pipe, a device or a folder)")
        if (old is not None and not old.error and old.mtime_ns == st.st_mtime_ns and old.size == st.st_size
                and not _racy(st.st_mtime_ns, old.checked_at)):
            raise _NotModified
        kind = _kind(path) or "text"
        limit = _limit(kind)
        if st.st_size > limit:
            raise ReadError(f"{location} is larger than {limit // 1_000_000} MB; split it into smaller pages")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ReadError(f"{location} cannot be read ({exc.strerror or exc})") from None
        if kind in PACKAGES:
            return _Fetched(*_unpack(kind, data, location), mtime_ns=st.st_mtime_ns, size=st.st_size)
        # a web page says its character set in a <meta> (Word's: windows-1252); other text is guessed
        text = _decode_served(data, "", location) if kind == "html" else _decode(data, location)
        return _Fetched(text, kind, mtime_ns=st.st_mtime_ns, size=st.st_size, web=kind == "html")

    def _fetch_url(self, url: str, old: _Known | None) -> _Fetched:
        import httpx

        headers = {}
        if old is not None and not old.error:
            if old.etag:
                headers["If-None-Match"] = old.etag
            if old.last_modified:
                headers["If-Modified-Since"] = old.last_modified
        try:
            resp = self.http.get(url, headers=headers)
        except httpx.TimeoutException:
            raise ReadError(f"{url} did not answer within {self.timeout:.0f} s") from None
        except httpx.HTTPError as exc:
            raise ReadError(f"{url} could not be reached ({type(exc).__name__}: {exc})") from None
        if resp.status_code == 304 and old is not None:
            raise _NotModified
        final = str(resp.url)
        if resp.status_code in (401, 407) or (resp.status_code == 403):
            raise ReadError(f"{url} asks for a login (HTTP {resp.status_code}); the bot can only index pages "
                            "that open without signing in, so export them or give it a public copy")
        if resp.history and _LOGIN.search(urlsplit(final).path + "?" + urlsplit(final).query):
            raise ReadError(f"{url} sends visitors to a login page ({final}); the bot can only index pages that "
                            "open without signing in")
        if resp.status_code in (404, 410):
            raise ReadError(f"{url} was not found (HTTP {resp.status_code}); check the address in P2PBOT_DOCS")
        if resp.status_code >= 400:
            raise ReadError(f"{url} answered HTTP {resp.status_code}; it will be tried again at the next index run")
        ctype = resp.headers.get("content-type", "")
        kind = readers.kind_for(urlsplit(final).path, ctype or "text/html")
        if resp.content[:5] == b"%PDF-":
            kind = "pdf"  # a PDF is a PDF whatever type the server names (text/html and text/plain are common)
        elif kind not in PACKAGES and (package := readers.sniff_package(resp.content, urlsplit(final).path)):
            kind = package  # so is a Word or OpenDocument file served as application/zip or text/plain
        if kind is None:
            raise ReadError(f"{url} is not a web page (it is {ctype.split(';')[0] or 'of an unknown type'}); "
                            "the bot reads HTML, markdown, plain text, Word .docx, OpenDocument .odt, PDF and .mht web archives")
        if len(resp.content) > _limit(kind):
            raise ReadError(f"{url} is larger than {_limit(kind) // 1_000_000} MB")
        if kind in PACKAGES:
            return _Fetched(*_unpack(kind, resp.content, url), etag=resp.headers.get("etag", ""),
                            last_modified=resp.headers.get("last-modified", ""))
        text = _decode_served(resp.content, ctype, url)
        if kind == "html" and re.search(r"<input[^>]+type=[\"']?password", text, re.I):
            raise ReadError(f"{url} shows a login form instead of the page; the bot can only index pages that "
                            "open without signing in")
        if kind == "html" and soft_404(text):
            raise ReadError(f"{url} shows a \"page not found\" page (though it answered HTTP 200); check the "
                            "address in P2PBOT_DOCS")
        return _Fetched(text, kind, etag=resp.headers.get("etag", ""),
                        last_modified=resp.headers.get("last-modified", ""), web=kind == "html")


def _is_link(path: Path) -> bool:
    """Whether a name is a symbolic link; False when even that cannot be asked (a folder not entered)."""
    try:
        return stat.S_ISLNK(path.lstat().st_mode)
    except OSError:
        return False


def _kind(path: Path) -> str | None:
    """The reader a file needs; a .doc is what its first bytes say (Confluence's Word export is a web archive)."""
    if path.name.lower().endswith(".doc"):
        try:
            with path.open("rb") as f:
                return readers.sniff_doc(f.read(4096))
        except OSError:
            return None
    return readers.kind_for(path.name)


def _generation_count(value: object) -> int:
    """The count in a generation token ("12.3fa9c0…"; a plain number from before the token had a random part)."""
    head = str(value).split(".", 1)[0]
    return int(head) if head.isdigit() else 0


def _limit(kind: str) -> int:
    return MAX_PACKAGE_BYTES if kind in PACKAGES else MAX_BYTES


def _unpack(kind: str, data: bytes, location: str) -> tuple[str, str]:
    """(text, reader kind) of a Word file or a PDF: HTML for the HTML reader, markdown or plain text."""
    if kind == "docx":
        return word.to_html(data, location), "html"
    if kind == "mhtml":
        return readers.mhtml_to_html(data, location), "html"
    if kind == "eml":
        return readers.eml_to_text(data, location)
    if kind in ("odt", "fodt"):
        return odt.to_html(data, location, flat=kind == "fodt"), "html"
    return pdf.to_text(data, location)


def _racy(mtime_ns: int, checked_at: datetime | None) -> bool:
    """A file changed within a moment of the last check may have changed again since without its time or size
    moving (coarse file-system clocks): read it again, as git does for 'racily clean' files."""
    from bot.edges.store import as_utc

    when = as_utc(checked_at)
    return when is None or mtime_ns >= (when.timestamp() - RACY_S) * 1e9


def _decode_served(data: bytes, content_type: str, location: str) -> str:
    """A web page's text: in the character set its Content-Type names, else the one its own <meta> names
    (Word's web pages say windows-1252 there, and servers often send no charset), else UTF-8 or Windows-1252."""
    import codecs

    if b"\x00" in data[:4096] and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ReadError(f"{location} is not text (it looks like a binary file)")
    m = re.search(r"charset\s*=\s*([^;\s]+)", content_type, re.I)
    return readers.decode_page(data, m.group(1).strip("\"'") if m else "")


def _decode(data: bytes, location: str) -> str:
    import codecs

    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # Notepad's "Unicode", Word's UTF-16 web page
        return data.decode("utf-16", errors="replace")
    if b"\x00" in data[:4096]:
        raise ReadError(f"{location} is not text (it looks like a binary file)")
    for enc in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise ReadError(f"{location} is not text (it could not be decoded as UTF-8 or Windows-1252)")


# -- loading ------------------------------------------------------------------------------------------
def load_topics(store: Store, sources: Iterable[str]) -> list[Topic]:
    """Every indexed section of the configured sources, in a stable order (source, page, section)."""
    wanted = [s.strip() for s in sources if s.strip()]
    if not wanted:
        return []
    order = {s: k for k, s in enumerate(wanted)}
    with store.engine.connect() as conn:
        rows = conn.execute(select(docs_pages.c.source, docs_pages.c.location, docs_pages.c.sections)
                            .where(docs_pages.c.source.in_(wanted))).all()
    rows = sorted(rows, key=lambda r: (order.get(r.source, 0), r.location))
    out: list[Topic] = []
    seen: set[str] = set()
    for r in rows:
        for d in json.loads(r.sections):
            if d["id"] not in seen:
                seen.add(d["id"])
                out.append(from_record(d))
    return out


def listing(store: Store) -> list[PageListing]:
    """What is indexed and when, per page, for ``p2p-bot docs list``."""
    with store.engine.connect() as conn:
        pages = conn.execute(select(docs_pages.c.source, docs_pages.c.location, docs_pages.c.slug, docs_pages.c.title,
                                    docs_pages.c.n_sections, docs_pages.c.n_procedures, docs_pages.c.n_faqs,
                                    docs_pages.c.indexed_at, docs_pages.c.checked_at, docs_pages.c.error)
                             .order_by(docs_pages.c.source, docs_pages.c.location)).all()
    return [{"source": p.source, "location": p.location, "slug": p.slug, "title": p.title, "sections": p.n_sections,
             "procedures": p.n_procedures, "faqs": p.n_faqs, "indexed_at": _iso(p.indexed_at),
             "checked_at": _iso(p.checked_at), "error": p.error} for p in pages]


def source_states(store: Store) -> list[SourceState]:
    """Per configured source: status, why it failed, when it was last checked and last read well."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(docs_sources).order_by(docs_sources.c.source)).all()
    return [{"source": r.source, "status": r.status, "detail": r.detail, "checked_at": _iso(r.checked_at),
             "ok_at": _iso(r.ok_at)} for r in rows]


def _iso(value: datetime | None) -> str:
    from bot.edges.store import as_utc

    v = as_utc(value)
    return v.isoformat() if v is not None else ""
