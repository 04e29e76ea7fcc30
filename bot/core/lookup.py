"""Finding a request by its External Identifier across every configured institution.

Alma cannot search lending requests by external id, and needs the patron for borrowing requests, so the
bot keeps its own index (``request_index``), filled by :meth:`LookupService.sync`:

- **Lending**: the task list, one slice per resource-sharing library and status. Alma returns at most 100
  requests per call (with the true ``total_record_count``) and has no paging, so a slice over 100 is cut
  again with the task list's own filters (``partner``, ``printed``, ``reported``, ``requested_format``),
  choosing the cut from the rows already read (partners that actually have requests, how the rows split)
  and keeping those rows. Cells of a cut are read until their totals add up to the slice's total, so
  partners without requests cost nothing. A slice that no cut can bring under 100 is reported ("not indexed
  yet"), never passed off as complete. A slice whose total did not change since the last complete sync is
  not cut again: its rows are carried over from the index.
- **Borrowing**: the Analytics report, its headings mapped by ``borrowing_report_columns``.

Rows are written in batches to ``request_stage`` as they arrive (no raw JSON is kept) and swapped into
``request_index`` in one transaction only when the whole read was complete and parseable: a failed,
partial or unparseable read keeps the last good rows.

A lookup answers from the index. On a miss it asks Alma a bounded number of times (at most one call per
resource-sharing library plus one per unfiltered status slice, per institution, in parallel), shares one
scan between concurrent lookups of the same id and remembers recent misses, so a typo costs a few calls
once. When an institution could not be asked the answer says so ("could not check GWA: …"), never "not
found".
"""

from __future__ import annotations

import itertools
import logging
import math
import re
import threading
import time
import unicodedata
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypedDict

from sqlalchemy import RowMapping, String, delete, func, insert, literal, select

from bot.edges.alma.client import TASK_LIST_CAP, AlmaClient, deadline, run_in_context
from bot.edges.alma.errors import AlmaError, AlmaNotFound, sentence
from bot.edges.alma.models import RSRequest, code
from bot.edges.settings import DEFAULT_REPORT_COLUMNS, Institution
from bot.edges.store import Store, as_utc, request_index, request_stage, sync_runs, utcnow

log = logging.getLogger(__name__)

MAX_ID_LEN = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
LENDING_TABLES = ("MandatoryLendingWorkflowSteps", "OptionalLendingWorkflowSteps")
BORROWING_TABLES = ("MandatoryBorrowingWorkflowSteps", "OptionalBorrowingWorkflowSteps")
FORMATS_TABLE = "RequestFormats"
DEFAULT_FORMATS = ("PHYSICAL", "DIGITAL", "PHYSICAL_NON_RETURNABLE")
# where a new request most likely sits, so a live scan and a sync start there
ACTIVE_FIRST = ("REQUEST_CREATED_LEND", "BEING_PROCESSED", "WILL_SUPPLY", "SHIPPED_PHYSICALLY", "LOCATE_FAILED",
                "RECEIVED_BY_PARTNER", "RETURNED_BY_PARTNER", "OVERDUE")
# the task list's own filters that cut a slice into parts. Every request has one value of each, except
# `supplied_format` (a request not supplied yet has none): a cut by it is used only where the rows read show
# every request has one, and the parts' totals must still add up to the slice's
DIMS = ("partner", "printed", "reported", "requested_format", "supplied_format")
BATCH = 500  # rows per write to the stage table
LOOKUP_DEADLINE_S = 20.0  # a lookup's Alma calls, retries included, end within this (a hung Alma: "could not check")
SYNC_WORKERS = 4  # slices read at once per institution (the rate budget paces them anyway)
INSTITUTIONS_AT_ONCE = 4  # institutions synced at once
MISS_MEMORY_SECONDS = 300.0  # a miss is remembered this long (a typo must not cost calls on every retry)
TARGET_CELL = 80  # a cut aims at parts this size, leaving room under the 100 cap for how rows really split
ROW_COLUMNS = ("institution", "kind", "external_id", "request_id", "status", "status_desc", "partner_code",
               "partner_name", "title", "author", "library", "requester", "created", "modified", "source",
               "synced_at")
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))

# (kind, status) -> (what to do next, the knowledge topic that explains it)
NEXT_STEPS: dict[tuple[str, str], tuple[str, str]] = {
    ("borrowing", "SHIPPED_PHYSICALLY"): ("The lender has shipped it. When the book arrives, receive it in "
                                          "Resource Sharing > Receiving Items with this External Identifier.",
                                          "borrow-receive"),
    ("borrowing", "RECEIVED_PHYSICALLY"): ("It is here. Print the receive slip and put it on the hold shelf "
                                           "for the patron.", "borrow-receive"),
    ("borrowing", "LOANED"): ("The patron has it. When it comes back, return it to the lender.", "borrow-return"),
    ("borrowing", "RENEWED"): ("The patron has it (renewed). When it comes back, return it to the lender.",
                               "borrow-return"),
    ("borrowing", "RETURNED_BY_PATRON"): ("The patron returned it: send it back to the lender through "
                                          "Return Items.", "borrow-return"),
    ("borrowing", "RETURNED_TO_PARTNER"): ("It is on its way back to the lender; nothing to do.",
                                           "faq-transit-destination"),
    ("borrowing", "REQUEST_SENT"): ("Waiting for the lender to ship. If they don't ship within their expiry "
                                    "days, the nightly expiry job moves it to the next lender.",
                                    "partner-review-profile"),
    ("borrowing", "READY_TO_SEND"): ("Not sent to a lender yet; check the Sending Borrowing Request rule.",
                                     "config-sending-rule"),
    ("borrowing", "REQUEST_CREATED_BOR"): ("Just created; Alma is routing it to a lender.", "p2p-overview"),
    ("borrowing", "LOCATE_IN_PROCESS"): ("Alma is looking for a lender.", "p2p-overview"),
    ("borrowing", "EXPIRED"): ("The lender did not ship in time; the expiry job rolls it to the next lender.",
                               "config-expiry-job"),
    ("borrowing", "REJECTED"): ("The lender said no; Alma moves it to the next lender in the rota.",
                                "config-rota-template"),
    ("borrowing", "LOCATE_FAILED"): ("No lender could be found for it.", "config-rs-library"),
    ("lending", "REQUEST_CREATED_LEND"): ("New request: print the pull slip, fetch the book and ship it.",
                                          "lend-pull-ship"),
    ("lending", "BEING_PROCESSED"): ("Pull the book and ship it in Resource Sharing > Shipping Items.",
                                     "lend-pull-ship"),
    ("lending", "WILL_SUPPLY"): ("You said you will supply it: ship it in Resource Sharing > Shipping Items.",
                                 "lend-pull-ship"),
    ("lending", "SHIPPED_PHYSICALLY"): ("Shipped to the borrower; nothing to do until it comes back.",
                                        "lend-pull-ship"),
    ("lending", "RECEIVED_BY_PARTNER"): ("The borrowing library has it.", "lend-pull-ship"),
    ("lending", "RETURNED_BY_PARTNER"): ("It is on its way back to you; check it in when it arrives.",
                                         "faq-transit-destination"),
    ("lending", "OVERDUE"): ("Overdue at the borrowing library; contact their ILL office.", "lend-pull-ship"),
    ("lending", "EXPIRED"): ("It expired before you shipped; it has moved to another lender.",
                             "config-expiry-job"),
    ("lending", "LOCATE_FAILED"): ("Alma found no available copy; it will move on to another lender.",
                                   "config-rs-library"),
}
DONE_STATUSES = {"REQUEST_COMPLETED", "CANCELLED", "DELETED", "REJECTED"}


class LookupInputError(ValueError):
    """The id itself is unusable; the message is a sentence for staff."""


class SyncProblem(Exception):
    """The read of an institution cannot be trusted (an odd answer, a missing report column); the message
    says what, in words for staff."""


def normalise_id(raw: str) -> str:
    """The identifier as Alma stores it: Unicode compatibility forms folded (full-width letters), digits of
    any script as ASCII digits, zero-width characters and surrounding blanks/quotes removed."""
    value = unicodedata.normalize("NFKC", raw or "").translate(_ZERO_WIDTH)
    value = "".join(str(unicodedata.decimal(ch)) if not ch.isascii() and unicodedata.decimal(ch, None) is not None
                    else ch for ch in value)
    return value.strip().strip("`'\"").strip()


def clean_external_id(raw: str) -> str:
    value = normalise_id(raw)
    if not value:
        raise LookupInputError("Give me an External Identifier, e.g. `/p2p status 1//47BIBSYSHIT0018273`.")
    if len(value) > MAX_ID_LEN:
        raise LookupInputError(f"That is {len(value)} characters long; an External Identifier is at most "
                               f"{MAX_ID_LEN}. Please paste just the identifier.")
    if _CONTROL.search(value):
        raise LookupInputError("That identifier contains control characters; please paste it again as plain text.")
    if any(ch.isspace() for ch in value):
        # Alma's External Identifiers never hold blanks; two words are two ids or a sentence, not one id
        raise LookupInputError("An External Identifier has no spaces: look up one identifier at a time, "
                               "e.g. `/p2p status 1//47BIBSYSHIT0018273`.")
    return value


def same_id(a: str, b: str) -> bool:
    """Alma's External Identifiers are matched without regard to letter case (staff type `ill-123456`)."""
    return a == b or a.casefold() == b.casefold()


@dataclass(frozen=True)
class Found:
    institution: str
    institution_name: str
    kind: str
    external_id: str
    request_id: str
    status: str
    status_label: str
    partner_code: str
    partner_name: str
    title: str
    author: str
    library: str
    requester: str
    created: str
    modified: str
    source: str  # index / live / task list / analytics
    as_of: str  # ISO time the data was read from Alma
    next_step: str
    topic_id: str


@dataclass(frozen=True)
class LookupResult:
    external_id: str
    found: tuple[Found, ...] = ()
    searched: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    live_scan: bool = False
    calls: int = 0
    could_not_check: tuple[str, ...] = ()  # "could not check GWA: …", one per institution Alma did not answer
    not_indexed: tuple[str, ...] = ()  # parts of the task lists the index does not hold completely yet

    @property
    def both_sides(self) -> bool:
        return len({f.kind for f in self.found}) > 1

    @property
    def checked(self) -> bool:
        """Every institution answered (so "not found" is a real answer)."""
        return not self.could_not_check

    def to_json(self) -> dict[str, Any]:
        return {"external_id": self.external_id, "found": [asdict(f) for f in self.found],
                "searched": list(self.searched), "problems": list(self.problems), "live_scan": self.live_scan,
                "calls": self.calls, "could_not_check": list(self.could_not_check),
                "not_indexed": list(self.not_indexed)}


@dataclass
class SyncReport:
    institution: str
    ok: bool = True
    lending: int = 0
    borrowing: int = 0
    calls: int = 0
    seconds: float = 0.0
    truncated: list[str] = field(default_factory=list)
    problem: str = ""
    slices: int = 0  # (library, status) slices asked
    carried: int = 0  # slices whose total had not changed: rows carried over from the index


def next_step(kind: str, status: str, label: str) -> tuple[str, str]:
    if (kind, status) in NEXT_STEPS:
        return NEXT_STEPS[(kind, status)]
    if status in DONE_STATUSES:
        return ("This request is closed; nothing to do.", "p2p-overview")
    return (f"Status \"{label or status}\": check it in Alma's "
            f"{'Lending' if kind == 'lending' else 'Borrowing'} Requests task list.",
            "lend-pull-ship" if kind == "lending" else "borrow-receive")


# -- reading the task list --------------------------------------------------------------------------------
Facets = tuple[str, str, str, str, str]  # partner, printed, reported, requested and supplied format (DIMS)


@dataclass
class Page:
    """One task-list answer, reduced to what the index keeps (no raw JSON)."""

    rows: list[RequestRow]
    facets: list[Facets]
    total: int


def _yn(value: object) -> str:
    return "Y" if value is True or str(value).lower() in ("true", "y") else "N"


def task_list_page(client: AlmaClient, inst: str, library: str, now: datetime,
                   filters: Mapping[str, str] | None = None) -> Page:
    """One call to the lending task list, checked: an answer that is not a list envelope (``{}``, a JSON
    array, a list without ``total_record_count``) raises :class:`SyncProblem` rather than reading as empty."""
    body = client.request("GET", "/task-lists/rs/lending-requests", params={"library": library, **(filters or {})})
    if not isinstance(body, dict) or "total_record_count" not in body:
        shape = "an empty object" if body == {} else ("no body" if body is None else f"a JSON {type(body).__name__}")
        raise SyncProblem(f"Alma answered the lending task list of {library} with {shape} instead of a list of "
                          "requests")
    try:
        total = int(body.get("total_record_count") or 0)
    except (TypeError, ValueError):
        raise SyncProblem(f"Alma's lending task list of {library} has a total that is not a number") from None
    items = body.get("user_resource_sharing_request") or []
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list) or not all(isinstance(d, dict) for d in items):
        raise SyncProblem(f"Alma's lending task list of {library} holds something other than requests")
    if len(items) > total:
        total = len(items)
    rows = [lending_row(inst, d, now) for d in items]
    facets = [(code(d.get("partner")), _yn(d.get("printed")), _yn(d.get("reported")), code(d.get("format")),
               code(d.get("supplied_format"))) for d in items]
    return Page(rows, facets, total)


class RequestRow(TypedDict):
    """One request as the index holds it: the columns of ``request_index`` (and ``request_stage``) that
    :data:`ROW_COLUMNS` names."""

    institution: str
    kind: str  # lending / borrowing
    external_id: str
    request_id: str
    status: str
    status_desc: str
    partner_code: str
    partner_name: str
    title: str
    author: str
    library: str
    requester: str
    created: str
    modified: str
    source: str  # task list / analytics / live
    synced_at: datetime


class StagedRow(RequestRow):
    """A row of ``request_stage``: one sync run's copy of a request until the swap."""

    run: str
    staged_at: datetime


def indexed_row(m: RowMapping) -> RequestRow:
    """A ``request_index`` row as read from the database (its id left behind)."""
    return RequestRow(institution=m["institution"], kind=m["kind"], external_id=m["external_id"],
                      request_id=m["request_id"], status=m["status"], status_desc=m["status_desc"],
                      partner_code=m["partner_code"], partner_name=m["partner_name"], title=m["title"],
                      author=m["author"], library=m["library"], requester=m["requester"], created=m["created"],
                      modified=m["modified"], source=m["source"], synced_at=m["synced_at"])


def lending_row(inst: str, d: Mapping[str, object], now: datetime, source: str = "task list") -> RequestRow:
    r = RSRequest.from_json(dict(d), "lending")
    return request_row(inst, r, source, now)


def request_row(inst: str, r: RSRequest, source: str, now: datetime) -> RequestRow:
    return {"institution": inst, "kind": r.kind, "external_id": r.external_id[:MAX_ID_LEN],
            "request_id": r.request_id[:64], "status": r.status[:64], "status_desc": r.status_desc[:255],
            "partner_code": r.partner_code[:128], "partner_name": r.partner_name[:255], "title": r.title,
            "author": r.author, "library": r.owner[:64], "requester": r.requester[:255], "created": r.created[:40],
            "modified": r.modified[:40], "source": source, "synced_at": now}


class StageWriter:
    """Rows of one sync run, written to ``request_stage`` in batches as they arrive (thread-safe)."""

    def __init__(self, store: Store, run: str) -> None:
        self.store = store
        self.run = run
        self.count = 0
        self._buf: list[StagedRow] = []
        self._lock = threading.Lock()

    def add(self, rows: Iterable[RequestRow]) -> None:
        out: list[StagedRow] = []
        with self._lock:
            for r in rows:
                self._buf.append(StagedRow(**r, run=self.run, staged_at=r["synced_at"]))
                self.count += 1
            if len(self._buf) >= BATCH:
                out, self._buf = self._buf, []
        if out:
            self._write(out)

    def flush(self) -> None:
        with self._lock:
            out, self._buf = self._buf, []
        if out:
            self._write(out)

    def _write(self, rows: list[StagedRow]) -> None:
        with self.store.begin() as conn:
            conn.execute(insert(request_stage), rows)


@dataclass
class SliceMemory:
    """What the last complete sync of an institution saw: each slice's total, and each library's."""

    slices: dict[str, int] = field(default_factory=dict)  # "LIB|STATUS" -> total
    libraries: dict[str, int] = field(default_factory=dict)  # LIB -> total (only when every slice was complete)

    def to_json(self) -> dict[str, dict[str, int]]:
        return {"slices": self.slices, "libraries": self.libraries}

    @classmethod
    def from_json(cls, data: object) -> SliceMemory:
        if not isinstance(data, dict):
            return cls()
        slices, libs = data.get("slices"), data.get("libraries")
        return cls({str(k): int(v) for k, v in slices.items()} if isinstance(slices, dict) else {},
                   {str(k): int(v) for k, v in libs.items()} if isinstance(libs, dict) else {})


def _key(library: str, status: str) -> str:
    return f"{library}|{status}"


def plan_cut(total: int, sample: list[Facets], dims: tuple[str, ...],
             domains: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    """Which filters to add to a slice of ``total`` requests (its first page, ``sample``, already read):
    the combination expected to cost the fewest further calls, counting the cuts its parts will need in
    turn. How the requests split is read from the sample itself (filters go together: a book supplied as
    a book); where the sample has too few rows to tell, from each filter's own shares. A part is asked only
    when it may hold something; a cut that leaves requests in no part (no supplied format yet) is avoided."""
    n = len(sample)
    shares: dict[str, list[float]] = {}
    unreachable: dict[str, float] = {}
    for d in dims:
        i = DIMS.index(d)
        counts = Counter(f[i] for f in sample)
        values = domains[d]
        shares[d] = [(counts.get(v, 0) + 1.5) / (n + 1.5 * len(values)) for v in values]
        unreachable[d] = counts.get("", 0) / max(1, n)
    rough: dict[tuple[int, tuple[str, ...]], float] = {}

    def indep(size: float, combo: tuple[str, ...], rest: tuple[str, ...], limit: float) -> float:
        """Expected calls of cutting ``size`` requests by ``combo``, each filter independent of the others."""
        lost = size * (1.0 - math.prod(1.0 - unreachable[d] for d in combo))
        cost = 1000.0 * lost if lost >= 0.5 else 0.0  # what no part of the cut would hold
        for cell in itertools.product(*(shares[d] for d in combo)):
            part = size * math.prod(cell)
            further = over_cap(part) * guess(part, rest) if part > TASK_LIST_CAP / 2 else 0.0
            cost += (1.0 - math.exp(-part)) * (1.0 + further)
            if cost >= limit:
                break
        return cost

    def guess(size: float, left: tuple[str, ...]) -> float:
        """Expected calls with each filter taken as independent of the others."""
        if size <= TASK_LIST_CAP:
            return 0.0
        if not left:
            return 1000.0  # cannot be read whole
        key = (round(size), left)
        if key not in rough:
            found = math.inf
            for k in range(1, len(left) + 1):
                for combo in itertools.combinations(left, k):
                    if math.prod(len(shares[d]) for d in combo) > 4 * size / TARGET_CELL + 64:
                        continue  # far more parts than requests
                    found = min(found, indep(size, combo, tuple(d for d in left if d not in combo), found))
            rough[key] = found
        return rough[key]

    def best(rows: list[Facets], size: float, left: tuple[str, ...], known: bool = False) -> tuple[float, tuple[str, ...]]:
        if size <= TASK_LIST_CAP:
            return 0.0, ()
        if not known:  # an estimate: a part a little over 100 may well hold 100 or fewer
            chance = over_cap(size)
            if chance < 0.02:
                return 0.0, ()
            if len(rows) < 8:
                return chance * guess(size, left), ()
            cost, combo = best(rows, size, left, True)
            return chance * cost, combo
        if not left:
            return 1000.0, ()
        if len(rows) < 8:
            return guess(size, left), ()
        m = len(rows)
        choice: tuple[float, tuple[str, ...]] = (math.inf, ())
        for k in range(1, len(left) + 1):
            for combo in itertools.combinations(left, k):
                cells = math.prod(len(domains[d]) for d in combo)
                if cells > 4 * size / TARGET_CELL + 64:
                    continue
                rest = tuple(d for d in left if d not in combo)
                if m < 4 * cells:  # too few rows read to see how they split this finely
                    cost = indep(size, combo, rest, choice[0])
                    if cost < choice[0]:
                        choice = (cost, combo)
                    continue
                idx = [DIMS.index(d) for d in combo]
                groups: dict[tuple[str, ...], list[Facets]] = {}
                lost_rows = 0
                for f in rows:
                    cell = tuple(f[i] for i in idx)
                    if "" in cell:
                        lost_rows += 1
                    else:
                        groups.setdefault(cell, []).append(f)
                lost = size * lost_rows / m
                cost = 1000.0 * lost if lost >= 0.5 else 0.0  # what no part of the cut would hold
                for g in groups.values():
                    cost += 1.0 + best(g, size * len(g) / m, rest)[0]
                    if cost >= choice[0]:
                        break
                unseen = cells - len(groups)
                if unseen > 0 and size > m:
                    # what the sample did not see: likely there when the sample is small beside the total
                    cost += unseen * min(1.0, size * 0.5 * unseen / (m + 0.5 * cells) / max(1, unseen))
                if cost < choice[0]:
                    choice = (cost, combo)
        return choice

    return best(sample, float(total), dims, True)[1]


def over_cap(estimate: float) -> float:
    """The chance that a part estimated at ``estimate`` requests (from a sample) holds more than 100."""
    spread = 1.5 * math.sqrt(max(estimate, 1.0))
    return 0.5 * math.erfc((TASK_LIST_CAP + 0.5 - estimate) / (spread * math.sqrt(2.0)))


class LendingReader:
    """Reads every lending request of one institution into a :class:`StageWriter`, slice by slice."""

    def __init__(self, service: LookupService, inst: str, writer: StageWriter, memory: SliceMemory,
                 *, full: bool, now: datetime) -> None:
        self.svc = service
        self.inst = inst
        self.client = service.clients[inst]
        self.writer = writer
        self.memory = memory
        self.full = full
        self.now = now
        self.seen_partners: Counter[str] = Counter()
        self.truncated: list[str] = []
        self.carried: list[tuple[str, str]] = []
        self.totals: dict[str, int] = {}  # this sync's slice totals
        self.incomplete: set[str] = set()  # libraries with a slice not read completely
        self._lock = threading.Lock()
        self._domains: dict[str, tuple[str, ...]] | None = None

    def domains(self) -> dict[str, tuple[str, ...]]:
        with self._lock:
            if self._domains is not None:
                return self._domains
        partners = tuple(self.svc.partner_codes(self.inst))
        try:
            formats = tuple(self.client.code_table(FORMATS_TABLE)) or DEFAULT_FORMATS
        except AlmaNotFound:
            formats = DEFAULT_FORMATS
        with self._lock:
            self._domains = {"partner": partners, "printed": ("N", "Y"), "reported": ("N", "Y"),
                             "requested_format": formats, "supplied_format": formats}
            return self._domains

    def page(self, library: str, filters: Mapping[str, str]) -> Page:
        page = task_list_page(self.client, self.inst, library, self.now, filters)
        self.writer.add(page.rows)
        with self._lock:
            self.seen_partners.update(f[0] for f in page.facets)
        return page

    def read_slice(self, library: str, status: str) -> None:
        key = _key(library, status)
        first = self.page(library, {"status": status})
        with self._lock:
            self.totals[key] = first.total
        if first.total <= TASK_LIST_CAP:
            return
        if not self.full and self.memory.slices.get(key) == first.total:
            with self._lock:  # unchanged since the last complete sync: carry its rows over from the index
                self.carried.append((library, status))
            return
        self._cut(library, {"status": status}, first, tuple(DIMS))

    def _cut(self, library: str, filters: dict[str, str], parent: Page, dims: tuple[str, ...]) -> None:
        where = "/".join([library, *filters.values()])
        if not dims:
            self._short(library, where, parent.total - TASK_LIST_CAP)
            return
        domains = self.domains()
        combo = plan_cut(parent.total, parent.facets, dims, domains)
        idx = [DIMS.index(d) for d in combo]
        seen = Counter(tuple(f[i] for i in idx) for f in parent.facets)
        cells = list(itertools.product(*(domains[d] for d in combo)))
        pos = {c: n for n, c in enumerate(cells)}
        if "partner" in combo:  # unseen partners: the ones that have requests elsewhere first
            p = combo.index("partner")
            rank = {c: n for n, (c, _k) in enumerate(self.seen_partners.most_common())}
            unseen_order = sorted((c for c in cells if c not in seen), key=lambda c: (rank.get(c[p], 10**6), pos[c]))
        else:
            unseen_order = [c for c in cells if c not in seen]
        order = sorted(seen, key=lambda c: (-seen[c], pos.get(c, 0))) + unseen_order
        got = 0
        for cell in order:
            if cell not in pos:
                continue  # a value the filters do not know (e.g. a partner no longer in the list)
            if cell not in seen and got >= parent.total:
                break  # the parts read add up to the whole slice: the rest hold nothing
            sub = {**filters, **dict(zip(combo, cell, strict=True))}
            page = self.page(library, sub)
            got += page.total
            if page.total > TASK_LIST_CAP:
                self._cut(library, sub, page, tuple(d for d in dims if d not in combo))
        if got < parent.total:
            self._short(library, where, parent.total - got)

    def _short(self, library: str, where: str, missing: int) -> None:
        with self._lock:
            self.truncated.append(f"{where}: {missing} requests could not be read (no filter cuts it under "
                                  f"{TASK_LIST_CAP}); not indexed yet")
            self.incomplete.add(library)


class LookupService:
    def __init__(self, store: Store, institutions: Iterable[Institution], clients: dict[str, AlmaClient],
                 *, refresh_after: timedelta = timedelta(minutes=15), workers: int = SYNC_WORKERS,
                 miss_memory: float = MISS_MEMORY_SECONDS) -> None:
        self.store = store
        self.institutions = {i.code: i for i in institutions}
        self.clients = clients
        self.refresh_after = refresh_after
        self.workers = workers
        self.miss_memory = miss_memory
        self._labels: dict[tuple[str, str], dict[str, str]] = {}
        self._partners: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self._inflight: dict[str, Future[MissScan]] = {}
        self._misses: dict[str, tuple[float, MissScan]] = {}

    # -- reference data --------------------------------------------------------------------------
    def labels(self, inst: str, kind: str) -> dict[str, str]:
        """Status code -> label, from the institution's workflow-step code tables (cached)."""
        key = (inst, kind)
        with self._lock:
            if key in self._labels:
                return self._labels[key]
        cached = self.store.cache_get(f"labels:{inst}:{kind}")
        if cached and isinstance(cached[0], dict) and cached[0] and utcnow() - cached[1] < timedelta(days=1):
            table: dict[str, str] = dict(cached[0])
        else:
            table = {}
            for name in (LENDING_TABLES if kind == "lending" else BORROWING_TABLES):
                table.update(self.clients[inst].code_table(name))
            if not table:
                raise SyncProblem(f"Alma's {' and '.join(LENDING_TABLES if kind == 'lending' else BORROWING_TABLES)}"
                                  " code tables came back empty")
            self.store.cache_put(f"labels:{inst}:{kind}", table)
        with self._lock:
            self._labels[key] = table
        return table

    def rs_libraries(self, inst: str) -> list[str]:
        conf = self.institutions[inst].rs_libraries
        if conf:
            return list(conf)
        cached = self.store.cache_get(f"rslibs:{inst}")
        if cached and cached[0] and utcnow() - cached[1] < timedelta(days=1):
            return list(cached[0])
        libs = [lib.code for lib in self.clients[inst].libraries() if lib.resource_sharing]
        if not libs:
            raise SyncProblem("Alma lists no resource-sharing library (set rs_libraries in P2PBOT_CONFIG)")
        self.store.cache_put(f"rslibs:{inst}", libs)
        return libs

    def partner_codes(self, inst: str) -> list[str]:
        with self._lock:
            if inst in self._partners:
                return self._partners[inst]
        codes = [p.code for p in self.clients[inst].partners()]
        with self._lock:
            self._partners[inst] = codes
        return codes

    def _statuses(self, inst: str) -> list[str]:
        statuses = list(self.labels(inst, "lending"))
        order = {s: n for n, s in enumerate(ACTIVE_FIRST)}
        statuses.sort(key=lambda s: order.get(s, len(order)))
        return statuses

    def _slices(self, inst: str) -> list[tuple[str, str]]:
        return [(lib, st) for st in self._statuses(inst) for lib in self.rs_libraries(inst)]

    def memory(self, inst: str) -> SliceMemory:
        cached = self.store.cache_get(f"slices:{inst}")
        return SliceMemory.from_json(cached[0]) if cached else SliceMemory()

    # -- sync ------------------------------------------------------------------------------------
    def sync(self, codes: Iterable[str] | None = None, progress: Callable[[str], None] | None = None,
             *, full: bool = False) -> list[SyncReport]:
        """Refresh the index of the chosen institutions (default: all), a few at a time. ``full`` re-reads
        every slice, even those whose totals did not change since the last complete sync."""
        chosen = [c for c in (codes or self.institutions) if c in self.institutions]
        with ThreadPoolExecutor(max_workers=max(1, min(len(chosen), INSTITUTIONS_AT_ONCE))) as pool:
            return list(pool.map(lambda c: self.sync_one(c, progress, full=full), chosen))

    def sync_one(self, inst: str, progress: Callable[[str], None] | None = None, *,
                 full: bool = False) -> SyncReport:
        """Read one institution into the stage, then swap it into the index, or keep the old rows and say
        why."""
        started = utcnow()
        client = self.clients[inst]
        before = client.stats.calls
        rep = SyncReport(inst)
        run = uuid.uuid4().hex
        writer = StageWriter(self.store, run)
        self._prune_stage()
        try:
            reader = self._read_lending(inst, writer, full, started, progress, rep)
            borrowing = self._read_borrowing(inst, writer, started, progress)
            writer.flush()
            kinds = ["lending"] + (["borrowing"] if borrowing is not None else [])
            rep.lending, rep.borrowing = self._swap(inst, run, kinds, reader.carried)
            self._remember(inst, reader)
        except (AlmaError, SyncProblem) as exc:
            rep.ok = False
            name = self.institutions[inst].name
            reason = sentence(exc, name) if isinstance(exc, AlmaError) else f"{inst} ({name}): {exc}."
            rep.problem = f"{reason} The requests indexed before were kept."
            log.warning("sync of %s failed: %s", inst, exc)
        finally:
            with self.store.begin() as conn:
                conn.execute(delete(request_stage).where(request_stage.c.run == run))
        rep.calls = client.stats.calls - before
        rep.seconds = (utcnow() - started).total_seconds()
        with self.store.begin() as conn:
            conn.execute(insert(sync_runs).values(
                institution=inst, started_at=started, finished_at=utcnow(), ok=rep.ok, calls=rep.calls,
                requests=rep.lending + rep.borrowing, detail=(rep.problem or "\n".join(rep.truncated))[:2000]))
        return rep

    def _read_lending(self, inst: str, writer: StageWriter, full: bool, now: datetime,
                      progress: Callable[[str], None] | None, rep: SyncReport) -> LendingReader:
        reader = LendingReader(self, inst, writer, SliceMemory() if full else self.memory(inst), full=full, now=now)
        slices = self._slices(inst)
        done = [0]
        lock = threading.Lock()

        stop = threading.Event()

        def one(s: tuple[str, str]) -> None:
            if stop.is_set():
                return  # the read already failed: no more calls on a refused key or a spent quota
            try:
                reader.read_slice(*s)
            except BaseException:
                stop.set()
                raise
            with lock:
                done[0] += 1
                n = done[0]
            if progress is not None and (n == len(slices) or n % max(1, len(slices) // 5) == 0):
                progress(f"{inst}: {n}/{len(slices)} task-list slices read, {writer.count} rows so far")

        with ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            futures = [pool.submit(one, s) for s in slices]
            try:
                for fut in futures:
                    fut.result()  # the first failure ends the read (and the sync keeps the old rows)
            except BaseException:
                for fut in futures:
                    fut.cancel()
                raise
        rep.slices, rep.carried, rep.truncated = len(slices), len(reader.carried), reader.truncated
        return reader

    def _read_borrowing(self, inst: str, writer: StageWriter, now: datetime,
                        progress: Callable[[str], None] | None) -> int | None:
        conf = self.institutions[inst]
        if not conf.borrowing_report:
            return None
        if progress is not None:
            progress(f"{inst}: reading the borrowing Analytics report")
        columns = dict(DEFAULT_REPORT_COLUMNS)
        columns.update(dict(conf.borrowing_report_columns))
        n = 0
        batch: list[RequestRow] = []
        for row in self.clients[inst].analytics_report(conf.borrowing_report):
            if not isinstance(row, dict):
                raise SyncProblem("the borrowing Analytics report sent a row that is not a row")
            if n == 0:
                missing = [f"'{h}' (our {f})" for f, h in columns.items() if h and h not in row]
                if missing:
                    raise SyncProblem(f"the borrowing Analytics report has no column {', '.join(missing)}; "
                                      "fix borrowing_report_columns in P2PBOT_CONFIG or the report")
            n += 1
            r = borrowing_from_report(row, columns)
            if r is not None:
                batch.append(request_row(inst, r, "analytics", now))
            if len(batch) >= BATCH:
                writer.add(batch)
                batch = []
        writer.add(batch)
        return n

    def _swap(self, inst: str, run: str, kinds: list[str], carried: list[tuple[str, str]]) -> tuple[int, int]:
        """Carry unchanged slices over from the index, then replace the institution's rows with the stage's
        in one transaction (readers see the old index or the new one, never a mix)."""
        cols = [request_index.c[c] for c in ROW_COLUMNS]
        scols = [request_stage.c[c] for c in ROW_COLUMNS]
        with self.store.begin() as conn:
            for library, status in carried:
                conn.execute(insert(request_stage).from_select(
                    ["run", "staged_at", *ROW_COLUMNS],
                    select(literal(run, String(40)), request_index.c.synced_at, *cols).where(
                        (request_index.c.institution == inst) & (request_index.c.kind == "lending")
                        & (request_index.c.library == library) & (request_index.c.status == status))))
            first = select(func.min(request_stage.c.id)).where(request_stage.c.run == run) \
                .group_by(request_stage.c.kind, request_stage.c.request_id)
            conn.execute(delete(request_index).where((request_index.c.institution == inst)
                                                     & (request_index.c.kind.in_(kinds))))
            conn.execute(insert(request_index).from_select(
                list(ROW_COLUMNS), select(*scols).where(request_stage.c.id.in_(first))))
            counts: dict[str, int] = dict(conn.execute(select(request_index.c.kind, func.count()).where(
                request_index.c.institution == inst).group_by(request_index.c.kind)).all())
        return int(counts.get("lending", 0)), int(counts.get("borrowing", 0))

    def _remember(self, inst: str, reader: LendingReader) -> None:
        """The slice totals of a complete sync, for the next sync (skip what did not change) and for a miss
        (a library whose total did not change is fully in the index)."""
        libs: dict[str, int] = {}
        for key, total in reader.totals.items():
            lib = key.split("|", 1)[0]
            libs[lib] = libs.get(lib, 0) + total
        complete = {k: v for k, v in reader.totals.items() if k.split("|", 1)[0] not in reader.incomplete}
        self.store.cache_put(f"slices:{inst}", SliceMemory(
            complete, {k: v for k, v in libs.items() if k not in reader.incomplete}).to_json())

    def _prune_stage(self) -> None:
        """Rows left by a sync that died half-way (a killed process) go after a day."""
        with self.store.begin() as conn:
            conn.execute(delete(request_stage).where(request_stage.c.staged_at < utcnow() - timedelta(days=1)))

    def _upsert(self, rows: list[RequestRow]) -> None:
        with self.store.begin() as conn:
            for row in rows:
                conn.execute(delete(request_index).where(
                    (request_index.c.institution == row["institution"]) & (request_index.c.kind == row["kind"])
                    & (request_index.c.request_id == row["request_id"])))
                conn.execute(insert(request_index).values(**row))

    def freshness(self) -> dict[str, datetime | None]:
        """The last successful sync per institution."""
        out: dict[str, datetime | None] = dict.fromkeys(self.institutions)
        with self.store.engine.connect() as conn:
            for inst, at in conn.execute(select(sync_runs.c.institution, sync_runs.c.finished_at)
                                         .where(sync_runs.c.ok.is_(True)).order_by(sync_runs.c.finished_at)):
                if inst in out:
                    out[inst] = as_utc(at)
        return out

    def not_indexed(self, inst: str) -> list[str]:
        """What the last sync of ``inst`` could not read completely (from its run record)."""
        with self.store.engine.connect() as conn:
            row = conn.execute(select(sync_runs.c.ok, sync_runs.c.detail).where(sync_runs.c.institution == inst)
                               .where(sync_runs.c.ok.is_(True))
                               .order_by(sync_runs.c.id.desc()).limit(1)).first()
        if row is None or not row[1]:
            return []
        return [f"{inst} {part}" for part in str(row[1]).splitlines() if "not indexed yet" in part]

    # -- lookup ----------------------------------------------------------------------------------
    def lookup(self, raw_id: str, *, live: bool = True) -> LookupResult:
        """Every Alma call the lookup makes (in any of its threads) ends within ``LOOKUP_DEADLINE_S``."""
        with deadline(LOOKUP_DEADLINE_S):
            return self._lookup(raw_id, live=live)

    def _lookup(self, raw_id: str, *, live: bool = True) -> LookupResult:
        ext = clean_external_id(raw_id)
        calls0 = self._calls()
        rows = self._indexed(ext)
        problems: list[str] = []
        unchecked: list[str] = []
        not_indexed: list[str] = []
        scanned = False
        if not rows and live:
            scanned = True
            miss = self._miss(ext)
            rows, unchecked, not_indexed = list(miss.rows), list(miss.could_not_check), list(miss.not_indexed)
        elif not rows:
            not_indexed = [n for inst in self.institutions for n in self.not_indexed(inst)]
        if not rows:
            # Alma has no call that finds a borrowing request by its External Identifier alone: without the
            # Analytics report, our borrowing side is never indexed, and "not found" would be a guess there
            not_indexed += [f"{code} borrowing requests (no Analytics report is configured: `borrowing_report` "
                            "in the config, or ALMA_BORROWING_REPORT)"
                            for code, inst in self.institutions.items() if not inst.borrowing_report]
        found = []
        for row in rows:
            f, problem = self._found(row, live)
            found.append(f)
            if problem:
                problems.append(problem)
        found.sort(key=lambda f: (f.kind != "borrowing", f.institution))
        return LookupResult(ext, tuple(found), tuple(self.institutions), tuple(problems), scanned,
                            self._calls() - calls0, tuple(unchecked), tuple(not_indexed))

    def _indexed(self, ext: str) -> list[RequestRow]:
        with self.store.engine.connect() as conn:
            rows = [indexed_row(r._mapping) for r in conn.execute(
                select(request_index).where(request_index.c.external_id == ext))]
            if not rows:  # staff type ids in any case; Alma's are matched without regard to it
                rows = [indexed_row(r._mapping) for r in conn.execute(
                    select(request_index).where(func.lower(request_index.c.external_id) == ext.lower()))]
        return [r for r in rows if r["institution"] in self.institutions]

    def _calls(self) -> int:
        return sum(c.stats.calls for c in self.clients.values())

    def _found(self, row: RequestRow, live: bool) -> tuple[Found, str]:
        inst, kind = row["institution"], row["kind"]
        synced = as_utc(row["synced_at"]) or utcnow()
        problem = ""
        source = row["source"]
        if live and utcnow() - synced > self.refresh_after:
            try:
                fresh = self._refresh(row)
            except AlmaNotFound:
                name = self.institutions[inst].name
                problem = f"{name}: Alma no longer finds this request; showing what was indexed."
            except AlmaError as exc:
                problem = sentence(exc, self.institutions[inst].name) + " Showing the indexed copy."
            except ValueError:
                problem = f"{self.institutions[inst].name}: Alma sent an odd answer; showing the indexed copy."
            else:
                row = request_row(inst, fresh, "live", utcnow())  # every column read again
                self._upsert([row])
                synced, source = utcnow(), "live"
        label = row["status_desc"]
        status = row["status"]
        if not status and label:  # Analytics gives labels; map them back to codes
            status = next((c for c, lab in self._safe_labels(inst, kind).items() if lab.lower() == label.lower()), "")
        elif status and not label:
            label = self._safe_labels(inst, kind).get(status, status)
        todo, topic = next_step(kind, status, label)
        return Found(inst, self.institutions[inst].name, kind, row["external_id"], row["request_id"], status, label,
                     row["partner_code"], row["partner_name"], row["title"], row["author"], row["library"],
                     row["requester"], row["created"], row["modified"], source, synced.isoformat(timespec="seconds"),
                     todo, topic), problem

    def _safe_labels(self, inst: str, kind: str) -> dict[str, str]:
        try:
            return self.labels(inst, kind)
        except (AlmaError, SyncProblem):
            return {}

    def _refresh(self, row: RequestRow) -> RSRequest:
        client = self.clients[row["institution"]]
        if row["kind"] == "lending":
            return client.lending_request(row["partner_code"], row["request_id"])
        return client.borrowing_request_by_external(row["requester"], row["external_id"])

    # -- a miss: a bounded live scan, shared and remembered ---------------------------------------
    def _miss(self, ext: str) -> MissScan:
        key = ext.casefold()
        now = time.monotonic()
        with self._lock:
            remembered = self._misses.get(key)
            if remembered and now - remembered[0] < self.miss_memory:
                return remembered[1]
            fut = self._inflight.get(key)
            mine = fut is None
            if fut is None:
                fut = Future()
                self._inflight[key] = fut
        if not mine:
            return fut.result()  # another lookup of the same id is asking Alma: share its answer
        try:
            scan = self._live_scan(ext)
        except BaseException as exc:
            fut.set_exception(exc)
            raise
        finally:
            with self._lock:
                self._inflight.pop(key, None)
        with self._lock:
            if not scan.rows and not scan.could_not_check:
                self._misses[key] = (time.monotonic(), scan)
                if len(self._misses) > 1000:
                    for k, _v in sorted(self._misses.items(), key=lambda kv: kv[1][0])[:200]:
                        self._misses.pop(k, None)
        fut.set_result(scan)
        return scan

    def _live_scan(self, ext: str) -> MissScan:
        """Every institution in parallel, each at most one call per library and one per status slice."""
        def scan(inst: str) -> MissScan:
            return self._scan_institution(inst, ext)

        with ThreadPoolExecutor(max_workers=max(1, min(len(self.institutions), 16))) as pool:
            parts = list(pool.map(run_in_context(scan), list(self.institutions)))
        rows = [r for p in parts for r in p.rows]
        if rows:
            self._upsert(rows)
        return MissScan(tuple(rows), tuple(c for p in parts for c in p.could_not_check),
                        tuple(n for p in parts for n in p.not_indexed))

    def _scan_institution(self, inst: str, ext: str) -> MissScan:
        client = self.clients[inst]
        now = utcnow()
        memory = self.memory(inst)
        rows: list[RequestRow] = []
        notes: list[str] = []
        try:
            for library in self.rs_libraries(inst):
                page = task_list_page(client, inst, library, now)
                rows += [r for r in page.rows if same_id(r["external_id"], ext)]
                if rows or page.total <= TASK_LIST_CAP or memory.libraries.get(library) == page.total:
                    continue  # found, read whole, or unchanged since a complete sync (so the index has it all)
                statuses = self._statuses(inst)

                def one_slice(st: str, lib: str = library) -> tuple[str, Page]:
                    return st, task_list_page(client, inst, lib, now, {"status": st})

                with ThreadPoolExecutor(max_workers=max(1, min(len(statuses), self.workers))) as pool:
                    pages = list(pool.map(run_in_context(one_slice), statuses))
                for status, p in pages:
                    rows += [r for r in p.rows if same_id(r["external_id"], ext)]
                    key = _key(library, status)
                    if p.total > TASK_LIST_CAP and memory.slices.get(key) != p.total:
                        notes.append(f"{inst} {library}/{status}: {p.total} requests, {p.total - TASK_LIST_CAP} "
                                     "of them not read live and changed since the last sync; not indexed yet")
                if rows:
                    notes = []
                    break
        except (AlmaError, SyncProblem) as exc:
            if rows:
                return MissScan(tuple(rows), (), ())
            reason = sentence(exc, self.institutions[inst].name) if isinstance(exc, AlmaError) else str(exc)
            return MissScan((), (f"could not check {inst}: {reason}",), ())
        if not rows:
            notes += self.not_indexed(inst)
        return MissScan(tuple(rows), (), tuple(notes))


@dataclass(frozen=True)
class MissScan:
    rows: tuple[RequestRow, ...]
    could_not_check: tuple[str, ...]
    not_indexed: tuple[str, ...]


def borrowing_from_report(row: Mapping[str, str], columns: Mapping[str, str]) -> RSRequest | None:
    """One Analytics row as a borrowing request; ``columns`` maps our fields to the report's headings."""
    def get(name: str) -> str:
        heading = columns.get(name, "")
        return str(row.get(heading, "") or "").strip() if heading else ""

    ext = get("external_id")
    if not ext:
        return None
    return RSRequest(kind="borrowing", request_id=get("request_id"), external_id=ext, status="",
                     status_desc=get("status"), partner_code=get("partner_code"), partner_name=get("partner_name"),
                     owner=get("library"), title=get("title"), author="", format="", requester=get("requester"),
                     created=get("created"), modified=get("modified"))
