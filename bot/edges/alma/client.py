"""The Alma REST client: one class over an injected ``httpx.Client``, one method per endpoint.

Inside: ``Authorization: apikey …`` (the key never goes in URLs or logs), JSON, explicit timeouts, Alma's
error envelope mapped to :mod:`bot.edges.alma.errors`, bounded retries with backoff and jitter (429
``PER_SECOND_THRESHOLD`` always; 5xx, timeouts and garbage bodies only for idempotent calls), a limiter that
keeps each institution under its calls-per-second budget across threads, the daily quota from
``X-Exl-Api-Remaining``, and pagination (``limit`` ≤ 100, ``offset``, ``total_record_count``) behind
generators. This is the only module that imports httpx.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from bot.edges.alma import errors
from bot.edges.alma.errors import AlmaError, AlmaQuotaExceeded, AlmaRateLimited, AlmaUnavailable
from bot.edges.alma.models import Job, JobInstance, Library, Partner, RSRequest

log = logging.getLogger(__name__)

PAGE = 100  # Alma's maximum `limit`
TASK_LIST_CAP = 100  # the lending task list returns at most 100 requests and has no paging
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=10.0, pool=5.0)
_ROWSET_NS = "urn:schemas-microsoft-com:xml-analysis:rowset"


def make_http_client(timeout: httpx.Timeout | float = DEFAULT_TIMEOUT, **kwargs: Any) -> httpx.Client:
    """The shared connection pool; one per process is enough for every institution."""
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
    return httpx.Client(timeout=timeout, limits=limits, **kwargs)


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
    stamps: list[float] = field(default_factory=list)

    def peak_per_second(self) -> int:
        """The most calls started within any one-second window."""
        best, j = 0, 0
        s = sorted(self.stamps)
        for i in range(len(s)):
            while s[i] - s[j] >= 1.0:
                j += 1
            best = max(best, i - j + 1)
        return best


def seg(value: str) -> str:
    """One URL path segment: external ids like ``1//47BIB…`` must not become extra path parts."""
    return quote(str(value), safe="")


class AlmaClient:
    def __init__(self, http: httpx.Client, base_url: str, api_key: str, *, institution: str = "",
                 limiter: RateLimiter | None = None, max_retries: int = 4, backoff: float = 0.5,
                 quota_reserve: int = 0, sleep: Callable[[float], None] = time.sleep,
                 jitter: Callable[[], float] = random.random) -> None:
        self._http = http
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self.institution = institution
        self.limiter = limiter if limiter is not None else limiter_for(institution or self.base_url)
        self.max_retries = max_retries
        self.backoff = backoff
        self.quota_reserve = quota_reserve
        self._sleep = sleep
        self._jitter = jitter
        self.stats = CallStats()
        self._stats_lock = threading.Lock()

    def __repr__(self) -> str:  # never show the key
        return f"AlmaClient({self.institution or self.base_url!r})"

    @property
    def remaining(self) -> int | None:
        return self.stats.remaining

    # -- transport ---------------------------------------------------------------------------------
    def _headers(self, xml: bool) -> dict[str, str]:
        accept = "application/xml" if xml else "application/json"
        return {"Authorization": f"apikey {self._key}", "Accept": accept, "Content-Type": "application/json"}

    def _record(self, response: httpx.Response) -> None:
        raw = response.headers.get("X-Exl-Api-Remaining")
        with self._stats_lock:
            if raw is not None and raw.strip().lstrip("-").isdigit():
                self.stats.remaining = int(raw)
                self.stats.remaining_at = time.monotonic()

    def _quota_guard(self) -> None:
        st = self.stats
        # a recent answer said the day's quota is gone; don't spend what isn't there (it resets daily,
        # so after an hour one call is allowed to find out)
        if st.remaining is not None and st.remaining <= self.quota_reserve \
                and time.monotonic() - st.remaining_at < 3600:
            raise AlmaQuotaExceeded("the daily Alma API quota is used up", code="DAILY_THRESHOLD")

    def _delay(self, attempt: int) -> float:
        return float(self.backoff * (2 ** attempt) * (0.5 + self._jitter()))

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                json_body: Any = None, xml: bool = False) -> Any:
        """One API call with retries; returns parsed JSON (or the XML text when ``xml``)."""
        url = f"{self.base_url}{path}"
        clean = {k: v for k, v in (params or {}).items() if v is not None and v != ""}
        idempotent = method in ("GET", "PUT", "DELETE")
        last: AlmaError | None = None
        for attempt in range(self.max_retries + 1):
            self._quota_guard()
            granted = self.limiter.acquire()
            with self._stats_lock:
                self.stats.calls += 1
                self.stats.stamps.append(granted)
                if attempt:
                    self.stats.retries += 1
            try:
                resp = self._http.request(method, url, params=clean, json=json_body, headers=self._headers(xml))
            except httpx.TimeoutException:
                last = AlmaUnavailable("Alma did not answer in time", code="TIMEOUT")
                if idempotent and attempt < self.max_retries:
                    self._sleep(self._delay(attempt))
                    continue
                raise last from None
            except httpx.TransportError as exc:
                last = AlmaUnavailable(f"could not reach Alma ({type(exc).__name__})", code="CONNECTION")
                if idempotent and attempt < self.max_retries:
                    self._sleep(self._delay(attempt))
                    continue
                raise last from None
            self._record(resp)
            if resp.status_code < 400:
                if resp.status_code == 204 or not resp.content:
                    return None
                if xml:
                    return resp.text
                try:
                    return resp.json()
                except ValueError:
                    last = AlmaUnavailable("Alma sent a response that is not valid JSON", status=resp.status_code,
                                           code="GARBAGE")
                    if idempotent and attempt < self.max_retries:
                        self._sleep(self._delay(attempt))
                        continue
                    raise last from None
            try:
                body = resp.json()
            except ValueError:
                body = {}
            err = errors.from_response(resp.status_code, body)
            retryable = isinstance(err, AlmaRateLimited) or (isinstance(err, AlmaUnavailable) and idempotent)
            if retryable and attempt < self.max_retries:
                last = err
                # Alma's per-second threshold: back off briefly and retry (php-alma sleeps 0.5 s)
                self._sleep(self._delay(attempt))
                continue
            log.info("alma %s %s -> %s %s", method, path.split("?")[0], resp.status_code, err.code)
            raise err
        assert last is not None
        raise last

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def _paged(self, path: str, key: str, params: dict[str, Any], page: int = PAGE) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            body = self.request("GET", path, params={**params, "limit": page, "offset": offset}) or {}
            items = body.get(key) or []
            if isinstance(items, dict):
                items = [items]
            yield from items
            total = int(body.get("total_record_count") or 0)
            offset += len(items)
            if not items or offset >= total:
                return

    # -- endpoints ---------------------------------------------------------------------------------
    def test(self) -> bool:
        """Cheap key check (GET /conf/test)."""
        self.request("GET", "/conf/test")
        return True

    def partners(self, status: str | None = None) -> Iterator[Partner]:
        for d in self._paged("/partners", "partner", {"status": status}):
            yield Partner.from_json(d)

    def get_partner_json(self, code: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/partners/{seg(code)}"))

    def get_partner(self, code: str) -> Partner:
        return Partner.from_json(self.get_partner_json(code))

    def create_partner(self, partner: dict[str, Any]) -> dict[str, Any]:
        return dict(self.request("POST", "/partners", json_body=partner))

    def update_partner(self, code: str, partner: dict[str, Any]) -> dict[str, Any]:
        """Swap-all PUT: ``partner`` must be the whole object as GET returned it, with the changes."""
        return dict(self.request("PUT", f"/partners/{seg(code)}", json_body=partner))

    def lending_requests(self, library: str, *, status: str | None = None, partner: str | None = None,
                         printed: str | None = None, reported: str | None = None) -> tuple[list[RSRequest], int]:
        """One slice of the lending task list: at most 100 requests, plus the true total."""
        body = self.request("GET", "/task-lists/rs/lending-requests", params={
            "library": library, "status": status, "partner": partner, "printed": printed, "reported": reported,
        }) or {}
        items = body.get("user_resource_sharing_request") or []
        if isinstance(items, dict):
            items = [items]
        return [RSRequest.from_json(d, "lending") for d in items], int(body.get("total_record_count") or 0)

    def lending_request(self, partner: str, request_id: str) -> RSRequest:
        d = self.request("GET", f"/partners/{seg(partner)}/lending-requests/{seg(request_id)}")
        return RSRequest.from_json(d, "lending")

    def borrowing_request_by_external(self, user_id: str, external_id: str) -> RSRequest:
        d = self.request("GET", f"/users/{seg(user_id)}/resource-sharing-requests/{seg(external_id)}",
                         params={"request_id_type": "external"})
        return RSRequest.from_json(d, "borrowing")

    def jobs(self, job_type: str = "SCHEDULED", category: str | None = None) -> Iterator[Job]:
        for d in self._paged("/conf/jobs", "job", {"type": job_type, "category": category}):
            yield Job.from_json(d)

    def job_instances(self, job_id: str, submit_date_from: str, submit_date_to: str,
                      status: str | None = None) -> Iterator[JobInstance]:
        params = {"submit_date_from": submit_date_from, "submit_date_to": submit_date_to, "status": status}
        for d in self._paged(f"/conf/jobs/{seg(job_id)}/instances", "job_instance", params):
            yield JobInstance.from_json(d)

    def code_table(self, name: str, lang: str = "en") -> dict[str, str]:
        body = self.request("GET", f"/conf/code-tables/{seg(name)}", params={"lang": lang}) or {}
        rows = body.get("row") or []
        return {str(r.get("code")): str(r.get("description") or r.get("code")) for r in rows if r.get("code")}

    def libraries(self) -> list[Library]:
        body = self.request("GET", "/conf/libraries") or {}
        return [Library.from_json(d) for d in (body.get("library") or [])]

    def analytics_report(self, path: str, *, filter_xml: str | None = None,
                         limit: int = 1000) -> Iterator[dict[str, str]]:
        """Rows of an Analytics report as {column heading: value}, following ResumptionToken pages."""
        token: str | None = None
        headings: dict[str, str] = {}
        while True:
            params: dict[str, Any] = {"limit": limit, "col_names": "true"}
            if token:
                params["token"] = token
            else:
                params["path"] = path
                params["filter"] = filter_xml
            text = self.request("GET", "/analytics/reports", params=params, xml=True) or ""
            try:
                root = ET.fromstring(text)
            except ET.ParseError:
                raise AlmaUnavailable("Alma Analytics sent a report that is not valid XML", code="GARBAGE") from None
            qr = root.find(".//QueryResult")
            if qr is None:
                qr = root
            token = (qr.findtext("ResumptionToken") or token or "").strip() or None
            finished = (qr.findtext("IsFinished") or "true").strip().lower() == "true"
            for el in qr.iter():
                heading = el.attrib.get("{urn:saw-sql}columnHeading")
                if heading and el.attrib.get("name"):
                    headings[el.attrib["name"]] = heading
            rows = qr.findall(f".//{{{_ROWSET_NS}}}Row") or qr.findall(".//Row")
            for row in rows:
                yield {headings.get(_local(c.tag), _local(c.tag)): (c.text or "") for c in row}
            if finished or not rows or not token:
                return


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
