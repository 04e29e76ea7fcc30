"""The Alma REST client: one class over an injected ``httpx.Client``, one method per endpoint.

Inside: ``Authorization: apikey …`` (the key never goes in URLs or logs), JSON, explicit timeouts, Alma's
error answers (JSON or XML) mapped to :mod:`bot.edges.alma.errors`, a limiter that keeps each institution
under its calls-per-second budget across threads, the daily quota from ``X-Exl-Api-Remaining``, and
pagination (``limit`` ≤ 100, ``offset``, ``total_record_count``) behind generators. Every error the client
raises carries the institution code and the name of the variable holding its key, so any caller can say
"Alma refused GWA's API key: check ALMA_KEY_GWA …" (:func:`errors.sentence`).

Retries live in one place (:meth:`AlmaClient.request` around :meth:`AlmaClient._attempt`, decided by
:meth:`AlmaClient._retry_delay`): 429 ``PER_SECOND_THRESHOLD`` and failures to connect are retried for every
method (Alma did not apply the call); 5xx, timeouts and unreadable bodies only for GET/DELETE. A PUT or POST
that may have reached Alma is never sent twice.

Bounded waiting: ``with deadline(20):`` gives every Alma call made inside it (this thread; threads started
with :func:`run_in_context` / ``contextvars.copy_context``) one total time budget, retries and back-off
included: each attempt's timeout is cut to what is left, no back-off sleeps past it, and when it is spent the
call raises :class:`AlmaUnavailable` (code ``DEADLINE``) at once. Nested deadlines keep the earlier end.

The daily quota: when Alma says it is spent (``X-Exl-Api-Remaining`` ≤ the reserve, or a daily-threshold
error) calls are refused locally, but one call per ``quota_probe_s`` (default 60 s) still goes to Alma, and
the first answer that shows calls left ends the lock: no hour-long block after the quota resets.

This is the only module that imports httpx.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import random
import ssl
import threading
import time
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ParamSpec, Protocol, TypeAlias, TypeVar
from urllib.parse import quote

import httpx

from bot.edges.alma import errors
from bot.edges.alma.errors import (
    AlmaBadResponse,
    AlmaError,
    AlmaQuotaExceeded,
    AlmaRateLimited,
    AlmaUnavailable,
)
from bot.edges.alma.models import Job, JobInstance, Library, Partner, RSRequest

log = logging.getLogger(__name__)

PAGE = 100  # Alma's maximum `limit`
TASK_LIST_CAP = 100  # the lending task list returns at most 100 requests and has no paging
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=10.0, pool=5.0)
_ROWSET_NS = "urn:schemas-microsoft-com:xml-analysis:rowset"
QUOTA_PROBE_S = 60.0  # while the daily quota is spent, one call this often still asks Alma
RATE_LIMITED_FACTOR = 4  # a 429 PER_SECOND_THRESHOLD gets this many times max_retries (each waits at most 2 s)
EMPTY_PAGES_MAX = 3  # Analytics pages without rows (not finished) tolerated in a row
T = TypeVar("T")
P = ParamSpec("P")
Params: TypeAlias = Mapping[str, str | int | None]  # query parameters; None and "" are left out of the URL

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("alma_deadline", default=None)


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Every Alma call inside finishes (answers or raises) within ``seconds`` from now, retries included."""
    end = time.monotonic() + seconds
    current = _DEADLINE.get()
    token = _DEADLINE.set(end if current is None else min(current, end))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def time_left() -> float | None:
    """Seconds left before the current deadline, or None when there is none."""
    end = _DEADLINE.get()
    return None if end is None else end - time.monotonic()


def run_in_context(fn: Callable[P, T]) -> Callable[P, T]:
    """Wrap ``fn`` for a worker thread so it runs under the caller's deadline (thread pools do not copy
    context variables by themselves)."""
    ctx = contextvars.copy_context()

    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        return ctx.copy().run(fn, *args, **kwargs)

    return call


@functools.cache
def _tls() -> ssl.SSLContext:
    """httpx's default TLS settings, made once: each new context reads the whole CA bundle (~40 ms)."""
    return httpx.create_ssl_context()


def make_http_client(timeout: httpx.Timeout | float = DEFAULT_TIMEOUT) -> httpx.Client:
    """A connection pool (each institution gets its own); all of them share one TLS context."""
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
    return httpx.Client(timeout=timeout, limits=limits, verify=_tls())


class Limiter(Protocol):
    """Anything that waits for the next call slot (e.g. :class:`bot.edges.ratebudget.SharedBudget`: one budget
    per institution shared by every process)."""

    def acquire(self) -> float: ...


class RateLimiter:
    """At most ``rate`` calls in any rolling second, across threads (Alma allows ~25/s per institution)."""

    def __init__(self, rate: float = 20.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate = int(rate)
        self._clock = clock
        self._sleep = sleep
        self._stamps: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait for a slot; returns the moment it was granted (on the limiter's clock)."""
        while True:
            with self._lock:
                now = self._clock()
                while self._stamps and now - self._stamps[0] >= 1.0:
                    self._stamps.popleft()
                if len(self._stamps) < self.rate:
                    self._stamps.append(now)
                    return now
                wait = 1.0 - (now - self._stamps[0]) + 0.001
            self._sleep(wait)


_LIMITERS: dict[str, RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def limiter_for(institution: str, rate: float = 20.0) -> RateLimiter:
    """One limiter per institution for the whole process, whatever number of clients exist."""
    with _LIMITERS_LOCK:
        if institution not in _LIMITERS:
            _LIMITERS[institution] = RateLimiter(rate)
        return _LIMITERS[institution]


@dataclass
class CallStats:
    calls: int = 0
    retries: int = 0
    remaining: int | None = None
    remaining_at: float = 0.0


def seg(value: str) -> str:
    """One URL path segment: external ids like ``1//47BIB…`` must not become extra path parts. An empty,
    ``.`` or ``..`` segment would change the path itself (HTTP clients resolve dot segments, so
    ``partners/..`` asks for ``/almaws/v1``): refused with a sentence for the person."""
    raw = str(value)
    if raw.strip() in ("", ".", ".."):
        raise errors.AlmaNotFound(f"\"{raw.strip()}\" is not an id or code a record in Alma can have")
    return quote(raw, safe="")


class AlmaClient:
    def __init__(self, http: httpx.Client, base_url: str, api_key: str, *, institution: str = "",
                 key_env: str = "", limiter: Limiter | None = None, max_retries: int = 4,
                 backoff: float = 0.5, quota_reserve: int = 0, quota_probe_s: float = QUOTA_PROBE_S,
                 sleep: Callable[[float], None] = time.sleep, jitter: Callable[[], float] = random.random,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._http = http
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self.institution = institution
        self.key_env = key_env
        self.limiter: Limiter = limiter if limiter is not None else limiter_for(institution or self.base_url)
        self.max_retries = max_retries
        self.backoff = backoff
        self.quota_reserve = quota_reserve
        self.quota_probe_s = quota_probe_s
        self._sleep = sleep
        self._jitter = jitter
        self._clock = clock
        self.stats = CallStats()
        self._stats_lock = threading.Lock()

    def __repr__(self) -> str:  # never show the key
        return f"AlmaClient({self.institution or self.base_url!r})"

    @property
    def remaining(self) -> int | None:
        return self.stats.remaining

    deadline = staticmethod(deadline)

    # -- transport ---------------------------------------------------------------------------------
    def _headers(self, xml: bool) -> dict[str, str]:
        accept = "application/xml" if xml else "application/json"
        return {"Authorization": f"apikey {self._key}", "Accept": accept, "Content-Type": "application/json"}

    def _tag(self, err: AlmaError) -> AlmaError:
        """Every error says which institution and which key variable it is about."""
        err.institution = err.institution or self.institution
        err.key_env = err.key_env or self.key_env
        return err

    def _record(self, response: httpx.Response) -> int | None:
        raw = response.headers.get("X-Exl-Api-Remaining")
        value = int(raw) if raw is not None and raw.strip().lstrip("-").isdigit() else None
        with self._stats_lock:
            if value is not None:
                self.stats.remaining = value
                self.stats.remaining_at = self._clock()
            elif response.status_code < 400 and self.stats.remaining is not None \
                    and self.stats.remaining <= self.quota_reserve:
                self.stats.remaining = None  # Alma answered: whatever the lock assumed is over
        return value

    def _quota_guard(self) -> None:
        """Refuse locally while the day's quota is known to be spent, except one probe per ``quota_probe_s``:
        the quota resets, and the first answer showing calls left ends the lock."""
        with self._stats_lock:
            st = self.stats
            if st.remaining is None or st.remaining > self.quota_reserve:
                return
            now = self._clock()
            if now - st.remaining_at >= self.quota_probe_s:
                st.remaining_at = now  # this call is the probe; the others keep waiting
                return
        raise self._tag(AlmaQuotaExceeded("the daily Alma API quota is used up", code="DAILY_THRESHOLD"))

    def _delay(self, attempt: int) -> float:
        return float(self.backoff * (2 ** attempt) * (0.5 + self._jitter()))

    def _retry_delay(self, err: AlmaError, method: str, attempt: int) -> float | None:
        """How long to wait before trying ``err``'s call again, or None to give up. The only retry policy."""
        slow_down = isinstance(err, AlmaRateLimited)
        # Alma's per-second threshold says "not now", never "no": worth more tries, each a short wait
        if attempt >= (self.max_retries * RATE_LIMITED_FACTOR if slow_down else self.max_retries) \
                or err.code == "DEADLINE":
            return None
        not_applied = slow_down or err.code == "CONNECT"  # Alma never processed it
        transient = isinstance(err, AlmaUnavailable) and method in ("GET", "DELETE")
        if not (not_applied or transient):
            return None
        wait = min(self._delay(attempt), 2.0) if slow_down else self._delay(attempt)
        left = time_left()
        if left is not None and left <= wait:
            return None  # no time for another try: answer now
        return wait

    def _attempt(self, method: str, url: str, params: Params, json_body: Mapping[str, object] | None,
                 xml: bool) -> object:
        """One call, no retries: the parsed answer, or an :class:`AlmaError`."""
        self._quota_guard()
        left = time_left()
        if left is not None and left <= 0:
            raise AlmaUnavailable("Alma did not answer within the time allowed", code="DEADLINE")
        self.limiter.acquire()
        with self._stats_lock:
            self.stats.calls += 1
        timeout = self._http.timeout  # what the pool would use anyway
        left = time_left()
        if left is not None:
            if left <= 0:
                raise AlmaUnavailable("Alma did not answer within the time allowed", code="DEADLINE")
            base = self._http.timeout  # never longer than the pool's own timeouts, never past the deadline
            timeout = httpx.Timeout(connect=min(left, base.connect or left), read=min(left, base.read or left),
                                    write=min(left, base.write or left), pool=min(left, base.pool or left))
        try:
            resp = self._http.request(method, url, params=params, json=json_body, headers=self._headers(xml),
                                      timeout=timeout)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise AlmaUnavailable(f"could not reach Alma ({type(exc).__name__})", code="CONNECT") from None
        except httpx.TimeoutException:
            code = "DEADLINE" if (time_left() or 1.0) <= 0 else "TIMEOUT"
            raise AlmaUnavailable("Alma did not answer in time", code=code) from None
        except httpx.TransportError as exc:
            raise AlmaUnavailable(f"the connection to Alma failed ({type(exc).__name__})",
                                  code="CONNECTION") from None
        remaining = self._record(resp)
        if resp.status_code < 400:
            if resp.status_code == 204 or not resp.content:
                return None
            if xml:
                return resp.text
            try:
                return resp.json()
            except ValueError:
                raise AlmaBadResponse("Alma sent a response that is not valid JSON", status=resp.status_code,
                                      code="GARBAGE") from None
        err = errors.from_response(resp.status_code, resp.content, remaining)
        if isinstance(err, AlmaQuotaExceeded):
            with self._stats_lock:
                self.stats.remaining = 0 if remaining is None else remaining
                self.stats.remaining_at = self._clock()
        raise err

    def request(self, method: str, path: str, *, params: Params | None = None,
                json_body: Mapping[str, object] | None = None, xml: bool = False) -> object:
        """One API call with retries; returns parsed JSON (or the XML text when ``xml``; None for an empty
        answer), whose shape the caller checks (:meth:`_object`, :meth:`_listing`)."""
        url = f"{self.base_url}{path}"
        clean = {k: v for k, v in (params or {}).items() if v is not None and v != ""}
        attempt = 0
        while True:
            try:
                return self._attempt(method, url, clean, json_body, xml)
            except AlmaError as err:
                self._tag(err)
                wait = self._retry_delay(err, method, attempt)
                if wait is None:
                    log.info("alma %s %s -> %s %s", method, path.split("?")[0], err.status, err.code)
                    raise
                attempt += 1
                with self._stats_lock:
                    self.stats.retries += 1
                self._sleep(wait)

    # -- reading answers: anything but the expected shape is an AlmaBadResponse, never a traceback -------
    def _bad(self, what: str) -> AlmaBadResponse:
        err = AlmaBadResponse(f"the answer for {what} is not the JSON object expected", code="NOT_OBJECT")
        self._tag(err)
        return err

    def _object(self, body: object, what: str, needs: str = "") -> dict[str, Any]:
        if not isinstance(body, dict) or (needs and not body.get(needs)):
            raise self._bad(what)
        return body

    def _listing(self, body: object, key: str, what: str) -> tuple[list[dict[str, Any]], int]:
        """Items and ``total_record_count`` of a list answer; ``{"total_record_count": 0}`` is an empty list,
        ``{}`` (no count) or a non-object is not an answer."""
        obj = self._object(body, what)
        raw_total = obj.get("total_record_count")
        if isinstance(raw_total, bool) or not isinstance(raw_total, (int, str)) or not str(raw_total).isdigit():
            raise self._bad(what)
        items = obj.get(key) or []
        if isinstance(items, dict):
            items = [items]
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise self._bad(what)
        return items, int(raw_total)

    def _paged(self, path: str, key: str, params: Params, page: int = PAGE) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            body = self.request("GET", path, params={**params, "limit": page, "offset": offset})
            items, total = self._listing(body, key, path)
            yield from items
            offset += len(items)
            if not items or offset >= total:
                return

    # -- endpoints ---------------------------------------------------------------------------------
    def test(self) -> bool:
        """Cheap key check (GET /conf/test answers a short XML body)."""
        self.request("GET", "/conf/test", xml=True)
        return True

    def partners(self, status: str | None = None) -> Iterator[Partner]:
        for d in self._paged("/partners", "partner", {"status": status}):
            yield Partner.from_json(d)

    def get_partner_json(self, code: str) -> dict[str, Any]:
        body = self._object(self.request("GET", f"/partners/{seg(code)}"), f"partner {code}", "partner_details")
        if not isinstance(body["partner_details"], dict):
            raise self._bad(f"partner {code}")
        return dict(body)

    def get_partner(self, code: str) -> Partner:
        return Partner.from_json(self.get_partner_json(code))

    def create_partner(self, partner: dict[str, Any]) -> dict[str, Any]:
        return dict(self._object(self.request("POST", "/partners", json_body=partner), "the new partner"))

    def update_partner(self, code: str, partner: dict[str, Any]) -> dict[str, Any]:
        """Swap-all PUT: ``partner`` must be the whole object as GET returned it, with the changes. Alma's
        answer is returned as it came (``{}`` when it sent nothing readable: the PUT was still accepted)."""
        body = self.request("PUT", f"/partners/{seg(code)}", json_body=partner)
        return dict(body) if isinstance(body, dict) else {}

    def lending_requests(self, library: str, *, status: str | None = None, partner: str | None = None,
                         printed: str | None = None, reported: str | None = None) -> tuple[list[RSRequest], int]:
        """One slice of the lending task list: at most 100 requests, plus the true total."""
        body = self.request("GET", "/task-lists/rs/lending-requests", params={
            "library": library, "status": status, "partner": partner, "printed": printed, "reported": reported,
        })
        items, total = self._listing(body, "user_resource_sharing_request", "the lending task list")
        return [RSRequest.from_json(d, "lending") for d in items], total

    def lending_request(self, partner: str, request_id: str) -> RSRequest:
        d = self.request("GET", f"/partners/{seg(partner)}/lending-requests/{seg(request_id)}")
        return RSRequest.from_json(self._object(d, f"lending request {request_id}", "request_id"), "lending")

    def borrowing_request_by_external(self, user_id: str, external_id: str) -> RSRequest:
        d = self.request("GET", f"/users/{seg(user_id)}/resource-sharing-requests/{seg(external_id)}",
                         params={"request_id_type": "external"})
        return RSRequest.from_json(self._object(d, f"borrowing request {external_id}", "request_id"), "borrowing")

    def jobs(self, job_type: str = "SCHEDULED", category: str | None = None) -> Iterator[Job]:
        for d in self._paged("/conf/jobs", "job", {"type": job_type, "category": category}):
            yield Job.from_json(d)

    def job_instances(self, job_id: str, submit_date_from: str, submit_date_to: str,
                      status: str | None = None) -> Iterator[JobInstance]:
        params = {"submit_date_from": submit_date_from, "submit_date_to": submit_date_to, "status": status}
        for d in self._paged(f"/conf/jobs/{seg(job_id)}/instances", "job_instance", params):
            yield JobInstance.from_json(d)

    def code_table(self, name: str, lang: str = "en") -> dict[str, str]:
        body = self._object(self.request("GET", f"/conf/code-tables/{seg(name)}", params={"lang": lang}),
                            f"code table {name}")
        if "row" not in body and "name" not in body:
            raise self._bad(f"code table {name}")
        rows = body.get("row") or []
        if isinstance(rows, dict):
            rows = [rows]
        if not isinstance(rows, list):
            raise self._bad(f"code table {name}")
        return {str(r.get("code")): str(r.get("description") or r.get("code"))
                for r in rows if isinstance(r, dict) and r.get("code")}

    def libraries(self) -> list[Library]:
        items, _total = self._listing(self.request("GET", "/conf/libraries"), "library", "the libraries")
        return [Library.from_json(d) for d in items]

    def analytics_report(self, path: str, *, filter_xml: str | None = None,
                         limit: int = 1000) -> Iterator[dict[str, str]]:
        """Rows of an Analytics report as {column heading: value}. The first page brings the
        ``ResumptionToken`` (and the headings); the same token is sent for every next page until
        ``IsFinished``. A page that cannot be read, or a report that stops before ``IsFinished``, raises
        :class:`AlmaBadResponse`: the caller never mistakes a partial read for the whole report."""
        token: str | None = None
        headings: dict[str, str] = {}
        empty = 0
        while True:
            params: dict[str, str | int | None] = {"limit": limit, "col_names": "true"}
            if token:
                params["token"] = token
            else:
                params["path"] = path
                params["filter"] = filter_xml
            body = self.request("GET", "/analytics/reports", params=params, xml=True)
            text = body if isinstance(body, str) else ""  # None when Alma sent nothing
            try:
                root = ET.fromstring(text)
            except ET.ParseError:
                raise self._tag(AlmaBadResponse("Alma Analytics sent a report that is not valid XML",
                                                code="GARBAGE")) from None
            qr = root if _local(root.tag) == "QueryResult" else root.find(".//QueryResult")
            if qr is None:
                raise self._tag(AlmaBadResponse("Alma Analytics sent no QueryResult", code="NOT_OBJECT"))
            token = (qr.findtext("ResumptionToken") or "").strip() or token
            finished = (qr.findtext("IsFinished") or "").strip().lower() == "true"
            for el in qr.iter():
                heading = el.attrib.get("{urn:saw-sql}columnHeading")
                if heading and el.attrib.get("name"):
                    headings[el.attrib["name"]] = heading
            rows = qr.findall(f".//{{{_ROWSET_NS}}}Row") or qr.findall(".//Row")
            for row in rows:
                yield {headings.get(_local(c.tag), _local(c.tag)): (c.text or "") for c in row}
            if finished:
                return
            empty = 0 if rows else empty + 1
            if not token or empty >= EMPTY_PAGES_MAX:
                raise self._tag(AlmaBadResponse("Alma Analytics stopped before the end of the report",
                                                code="PARTIAL"))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
