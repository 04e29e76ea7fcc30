"""The sandbox HTTP server: Alma's paths, parameters, JSON envelopes and error codes on loopback.

Faithful where the bot depends on it (each point learnt from ``../shared/alma-reference/``):
  * the API key picks the institution (each its own IZ); an unknown key is HTTP **400** ``UNAUTHORIZED``
    "API-key not defined or not configured to allow this API" (not a 401);
  * formats: ``Accept: application/json`` or ``format=json`` gets JSON, anything else XML (Alma's default);
    errors are a ``web_service_result`` (``errorsExist``, ``errorList.error[]`` with ``errorCode``,
    ``errorMessage``, ``trackingId``) in the same format, except that the gateway's errors (bad key, 429
    ``PER_SECOND_THRESHOLD``, the daily threshold) and Analytics always answer in XML, even to a JSON client;
  * "not found" is HTTP 400 with an ``errorCode`` from the OpenAPI files (402118 partner, 402216 job, 402218
    job instance, 40166450 request by external id, 401890 user ...);
  * lists are ``{"<item>": [...], "total_record_count": N}``, and an empty page leaves the list key out:
    ``{"total_record_count": 0}``;
  * 429 ``PER_SECOND_THRESHOLD`` above 25 calls/second per institution, a daily quota counted down in
    ``X-Exl-Api-Remaining``; the lending task list's 100-request cap (with the true ``total_record_count``);
  * partners: swap-all PUT (fields left out are reset), a top-level ``note`` list and ``link``, profile types
    other than ``ISO`` (``ISO_18626``, ``NCIP_P2P``, ``EMAIL``), and expiry fields kept only in the profile
    blocks that have them;
  * ``/conf/test`` (and the other test paths) answer a short XML body ``<test>GET - OK - institutionCode: ..</test>``;
  * Analytics: the ``ResumptionToken`` comes once, on the first page, and that same token is sent again for
    every next page until ``IsFinished`` is true (Alma keeps the cursor); ``limit`` is 25..1000 in multiples of
    25; column headings are whatever the report's author named them (``SandboxState.report_headings``).

Realistic modes (fields on :class:`SandboxState`; also ``p2p-bot sandbox`` flags, and ``POST /sandbox/mode``
with a JSON object of the same names on a running sandbox, ``GET /sandbox/mode`` shows them):

    refuse_all=True          every call is refused: XML 400 UNAUTHORIZED (as for a revoked key)  --refuse-all
    throttle_every=N         every Nth call per institution is an XML 429 PER_SECOND_THRESHOLD
                             (2 = every other call)                                            --throttle-every N
    odd_body="empty"         200 answers with a body that is not what the call needs: "empty" ``{}``,
             "list"/"string"/"null"  ``[]``, ``"OK"``, ``null``; limited to paths starting with
    odd_body_path="/partners"  ``odd_body_path`` (after /almaws/v1) when set            --odd-body K [--odd-body-path P]
    report_headings={"Request Status": "Status (current)"}  rename Analytics column headings; "" drops the
                             column (defaults: :data:`REPORT_COLUMNS`)              --report-heading OLD=NEW
    analytics_page_rows=N    Analytics pages hold at most N rows even when ``limit`` asks for more (0 = limit)
    gateway_json=True        gateway errors follow ``Accept`` instead of always being XML (as php-alma recorded)
    latency_ms=N             every answer waits N ms (a hung Alma: a large N)                  --latency-ms N
    remaining[key]=0         the daily quota is spent (429 DAILY_THRESHOLD); set it back to "reset" the day

Faults (5xx, 429, timeouts, garbage bodies) can also be injected by rate or queued for tests
(:meth:`SandboxState.inject`). Paths under ``/sandbox/`` are the sandbox's own controls, not Alma's.
"""

from __future__ import annotations

import copy
import json
import random
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeAlias
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from bot.edges.settings import Institution
from bot.sandbox import data

PREFIX = "/almaws/v1"
PER_SECOND_LIMIT = 25
WSR_NS = "http://com/exlibris/urm/general/xmlbeans"
PER_SECOND_MESSAGE = "HTTP requests are more than allowed per second. See https://goo.gl/2x1c1M "
UNAUTHORIZED_MESSAGE = "API-key not defined or not configured to allow this API."
ODD_BODIES: dict[str, object] = {"empty": {}, "list": [], "string": "OK", "null": None}
MODE_FIELDS = ("refuse_all", "throttle_every", "odd_body", "odd_body_path", "report_headings",
               "analytics_page_rows", "gateway_json", "latency_ms", "fault_rate", "garbage_rate", "timeout_rate")


Answer: TypeAlias = tuple[int, object]  # HTTP status and the body: a JSON value, XML text, or None (no body)
RequestBody: TypeAlias = Callable[[], object]  # reads the caller's JSON body when a route needs it


class AlmaHTTPError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def tracking_id() -> str:
    return f"E01-{int(time.time() * 1000) % 10**10:010d}-SNDBX-AWAE{random.randint(10**8, 10**9 - 1)}"


def envelope(code: str, message: str) -> dict[str, Any]:
    """The JSON form of Alma's ``web_service_result`` (as in the recorded ``error_response.json``)."""
    return {"errorsExist": True, "errorList": {"error": [
        {"errorCode": code, "errorMessage": message, "trackingId": tracking_id()}
    ]}, "result": None}


def envelope_xml(code: str, message: str) -> str:
    """The XML form of Alma's ``web_service_result`` (namespace as in ``web_service_result.xsd``)."""
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            f'<web_service_result xmlns="{WSR_NS}"><errorsExist>true</errorsExist><errorList><error>'
            f"<errorCode>{escape(code)}</errorCode><errorMessage>{escape(message)}</errorMessage>"
            f"<trackingId>{tracking_id()}</trackingId></error></errorList></web_service_result>")


def to_xml(root: str, body: object) -> str:
    """Alma's XML for a JSON body: code objects ``{value, desc}`` become ``<x desc="..">value</x>``, arrays
    repeat the singular element, a list envelope's ``total_record_count`` is an attribute of the root."""
    out: list[str] = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>']

    def scalar(v: object) -> str:
        return "true" if v is True else "false" if v is False else escape(str(v))

    def emit(name: str, v: object) -> None:
        if v is None:
            return
        if isinstance(v, list):
            for item in v:
                emit(name, item)
            return
        if isinstance(v, dict):
            if "value" in v and set(v) <= {"value", "desc", "link"}:
                attrs = "".join(f' {k}="{escape(str(v[k]), {chr(34): "&quot;"})}"' for k in ("desc", "link")
                                if v.get(k) is not None)
                out.append(f"<{name}{attrs}>{'' if v['value'] is None else scalar(v['value'])}</{name}>")
                return
            attrs = "".join(f' {k}="{escape(str(v[k]))}"' for k in ("link", "total_record_count") if k in v)
            out.append(f"<{name}{attrs}>")
            for k, sub in v.items():
                if k not in ("link", "total_record_count"):
                    emit(k, sub)
            out.append(f"</{name}>")
            return
        out.append(f"<{name}>{scalar(v)}</{name}>")

    emit(root, body)
    return "".join(out)


LIST_ROOTS = {"partner": "partners", "job": "jobs", "job_instance": "job_instances", "library": "libraries",
              "user_resource_sharing_request": "user_resource_sharing_requests"}


EMPTY_LIST_ROOTS = {"partners": "partners", "jobs": "jobs", "instances": "job_instances", "libraries": "libraries",
                    "lending-requests": "user_resource_sharing_requests"}


def xml_root(parts: list[str], body: object) -> str:
    if isinstance(body, dict):
        for key, root in LIST_ROOTS.items():
            if key in body:
                return root
        if set(body) == {"total_record_count"} and parts and parts[-1] in EMPTY_LIST_ROOTS:
            return EMPTY_LIST_ROOTS[parts[-1]]
    if parts[:1] == ["partners"]:
        return "user_resource_sharing_request" if "lending-requests" in parts else "partner"
    if "instances" in parts:
        return "job_instance"
    if parts[:2] == ["conf", "jobs"]:
        return "job"
    if parts[:2] == ["conf", "code-tables"]:
        return "code_table"
    if parts[:1] == ["users"]:
        return "user_resource_sharing_request"
    return "result"


@dataclass
class Fault:
    kind: str  # 500 / 503 / 429 / daily / garbage / timeout
    count: int = 1
    path: str = ""  # only for paths starting with this (after /almaws/v1)
    method: str = ""
    skip: int = 0  # let this many matching calls through first


@dataclass
class SandboxState:
    """Everything the sandbox serves and every switch that changes how it answers (see the module docstring
    for the realistic modes)."""

    today: date
    scale: int = 0
    scale_institution: str = ""  # all generated requests in this one institution (a code)
    seed: int = 20201
    extra_institutions: int = 0
    latency_ms: float = 0.0
    fault_rate: float = 0.0
    garbage_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_sleep: float = 3.0
    per_second: int = PER_SECOND_LIMIT
    quota: int = 500_000
    # -- realistic modes --
    refuse_all: bool = False
    throttle_every: int = 0
    odd_body: str = ""
    odd_body_path: str = ""
    report_headings: dict[str, str] = field(default_factory=dict)
    analytics_page_rows: int = 0
    gateway_json: bool = False
    # -- state --
    institutions: dict[str, data.Inst] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    calls: list[tuple[str, str, str, str]] = field(default_factory=list)  # (inst, method, path, query)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _windows: dict[str, deque[float]] = field(default_factory=dict)
    _counts: dict[str, int] = field(default_factory=dict)
    remaining: dict[str, int] = field(default_factory=dict)
    cursors: dict[str, tuple[str, int]] = field(default_factory=dict)  # Analytics token -> (institution, offset)
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    # cleared: every call waits (Alma slow to answer) until it is set again, at most `timeout_sleep` * 10 s
    answering: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.answering.set()
        if self.odd_body and self.odd_body not in ODD_BODIES:
            raise ValueError(f"odd_body must be one of {', '.join(ODD_BODIES)}")
        if not self.institutions:
            for inst in data.build(self.today, seed=self.seed, scale=self.scale,
                                   extra_institutions=self.extra_institutions,
                                   scale_institution=self.scale_institution):
                self.institutions[inst.api_key] = inst
        for key in self.institutions:
            self.remaining.setdefault(key, self.quota)
            self._windows.setdefault(key, deque())
            self._counts.setdefault(key, 0)

    @property
    def demo_key(self) -> str:
        return next(iter(self.institutions))

    def by_code(self, code: str) -> data.Inst:
        return next(i for i in self.institutions.values() if i.code == code)

    def inject(self, kind: str, count: int = 1, path: str = "", method: str = "", skip: int = 0) -> None:
        """Answer the next ``count`` matching calls (after ``skip`` of them) with fault ``kind``."""
        with self.lock:
            self.faults.append(Fault(kind, count, path, method, skip))

    def set_mode(self, **modes: object) -> None:
        """Change realistic modes on a running sandbox (names as in :data:`MODE_FIELDS`)."""
        unknown = set(modes) - set(MODE_FIELDS)
        if unknown:
            raise ValueError(f"unknown sandbox mode(s): {', '.join(sorted(unknown))}")
        if modes.get("odd_body") and modes["odd_body"] not in ODD_BODIES:
            raise ValueError(f"odd_body must be one of {', '.join(ODD_BODIES)}")
        with self.lock:
            for k, v in modes.items():
                setattr(self, k, v)

    def modes(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in MODE_FIELDS}

    def calls_to(self, method: str, path_prefix: str) -> int:
        with self.lock:
            return sum(1 for _i, m, p, _q in self.calls if m == method and p.startswith(path_prefix))

    def _take_fault(self, method: str, path: str) -> str | None:
        with self.lock:
            for f in self.faults:
                if f.count > 0 and path.startswith(f.path) and (not f.method or f.method == method):
                    if f.skip > 0:
                        f.skip -= 1
                        continue
                    f.count -= 1
                    kind = f.kind
                    self.faults = [x for x in self.faults if x.count > 0]
                    return kind
            r = self.rng.random()
            if r < self.fault_rate:
                return "500"
            if r < self.fault_rate + self.garbage_rate:
                return "garbage"
            if r < self.fault_rate + self.garbage_rate + self.timeout_rate:
                return "timeout"
        return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out as two writes on a keep-alive connection: with Nagle's algorithm on, the body
    # waits for the client's delayed ACK of the headers (~40 ms on Linux) and every call took that long
    disable_nagle_algorithm = True
    server: SandboxHTTPServer

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        return

    # -- plumbing ----------------------------------------------------------------------------------
    def _send(self, status: int, body: object, key: str | None = None, ctype: str = "application/json") -> None:
        raw = body if isinstance(body, bytes) else (body.encode() if isinstance(body, str) and ctype != "application/json"
                                                    else json.dumps(body).encode())
        self.send_response(status)
        self.send_header("Content-Type", f"{ctype};charset=UTF-8")
        self.send_header("Content-Length", str(len(raw)))
        st = self.server.state
        if key is not None and key in st.remaining:
            self.send_header("X-Exl-Api-Remaining", str(max(st.remaining[key], 0)))
        self.end_headers()
        self.wfile.write(raw)

    def _wants_json(self, query: dict[str, list[str]]) -> bool:
        fmt = _q(query, "format").lower()
        if fmt in ("json", "xml"):
            return fmt == "json"
        return "json" in self.headers.get("Accept", "").lower()

    def _error(self, status: int, code: str, message: str, key: str | None, as_json: bool) -> None:
        if as_json:
            self._send(status, envelope(code, message), key)
        else:
            self._send(status, envelope_xml(code, message), key, "application/xml")

    def _gateway_error(self, status: int, code: str, message: str, key: str | None,
                       query: dict[str, list[str]]) -> None:
        """The API gateway answers in XML whatever the client asked for (unless ``gateway_json``)."""
        self._error(status, code, message, key, self.server.state.gateway_json and self._wants_json(query))

    def _read(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _body(self) -> object:
        raw = self._raw
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise AlmaHTTPError(400, "402119", "The request body is not valid JSON.") from None

    def _key(self, query: dict[str, list[str]]) -> str:
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("apikey "):
            return auth[7:].strip()
        return (query.get("apikey") or [""])[0]

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        st = self.server.state
        # read the whole body first, whatever the answer: leftovers would corrupt the next request on a
        # kept-alive connection
        self._raw = self._read()
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        if parts.path.startswith("/sandbox/"):
            self._control(method, parts.path, query)
            return
        if not parts.path.startswith(PREFIX):
            self._send(404, "<html><body><h1>404 Not Found</h1></body></html>", None, "text/html")
            return
        path = parts.path[len(PREFIX):] or "/"
        key = self._key(query)
        inst = st.institutions.get(key)
        if inst is None:
            self._gateway_error(400, "UNAUTHORIZED", UNAUTHORIZED_MESSAGE, None, query)
            return
        with st.lock:
            st.calls.append((inst.code, method, path, parts.query))
            if st.refuse_all:
                refused = True
            else:
                refused = False
                now = time.monotonic()
                win = st._windows[key]
                while win and now - win[0] >= 1.0:
                    win.popleft()
                win.append(now)
                over = len(win) > st.per_second
                st._counts[key] += 1
                throttled = bool(st.throttle_every) and st._counts[key] % st.throttle_every == 0
                st.remaining[key] -= 1
                spent = st.remaining[key] < 0
        if refused:
            self._gateway_error(400, "UNAUTHORIZED", UNAUTHORIZED_MESSAGE, None, query)
            return
        if st.latency_ms:
            time.sleep(st.latency_ms / 1000.0)
        st.answering.wait(timeout=st.timeout_sleep * 10)
        if over or throttled:
            self._gateway_error(429, "PER_SECOND_THRESHOLD", PER_SECOND_MESSAGE, key, query)
            return
        if spent:
            self._gateway_error(429, "DAILY_THRESHOLD", "Daily threshold of API calls has been reached.", key, query)
            return
        fault = st._take_fault(method, path)
        if fault == "timeout":
            time.sleep(st.timeout_sleep)
        elif fault in ("500", "503"):
            self._send(int(fault), "<html><body><h1>Service Unavailable</h1></body></html>", key, "text/html")
            return
        elif fault == "429":
            self._gateway_error(429, "PER_SECOND_THRESHOLD", PER_SECOND_MESSAGE, key, query)
            return
        elif fault == "daily":
            self._gateway_error(429, "DAILY_THRESHOLD", "Daily threshold of API calls has been reached.", key, query)
            return
        elif fault == "garbage":
            self._send(200, "<html>upstream proxy error</html>{", key, "text/html")
            return
        as_json = self._wants_json(query)
        segs = [unquote(p) for p in path.split("/") if p]
        if segs in TEST_PATHS:  # a short XML body whatever was asked for (OAS-conf: "returns a short XML")
            self._send(200, f"<test>{method} - OK - institutionCode: {inst.inst_code}</test>", key, "application/xml")
            return
        analytics = segs[:1] == ["analytics"]
        try:
            status, body = route(st, inst, method, path, query, self._body)
        except AlmaHTTPError as exc:
            self._error(exc.status, exc.code, exc.message, key, as_json and not analytics)
            return
        if isinstance(body, str):
            self._send(status, body, key, "application/xml")
            return
        if st.odd_body and status == 200 and path.startswith(st.odd_body_path):
            self._send(200, json.dumps(ODD_BODIES[st.odd_body]).encode(), key)
            return
        if body is None:
            self._send(status, b"", key)
        elif as_json:
            self._send(status, body, key)
        else:
            self._send(status, to_xml(xml_root(segs, body), body), key, "application/xml")

    def _control(self, method: str, path: str, query: dict[str, list[str]]) -> None:
        st = self.server.state
        parts = [unquote(p) for p in path.split("/") if p]
        try:
            if parts[1] == "mode" and method == "GET":
                self._send(200, st.modes())
            elif parts[1] == "mode" and method == "POST":
                try:
                    change = json.loads(self._raw or b"{}")
                    if not isinstance(change, dict):
                        raise ValueError("send a JSON object of mode names and values")
                    st.set_mode(**change)
                except (ValueError, TypeError) as exc:
                    self._send(400, {"error": str(exc)})
                    return
                self._send(200, st.modes())
            elif parts[1] == "scenario" and method == "GET":
                self._send(200, st.by_code(parts[2]).scenario)
            elif parts[1] == "directory" and method == "POST":
                inst = st.by_code(parts[2])
                found = data.directory_partner(parts[3])
                if found is None:
                    self._send(404, envelope("NOT_FOUND", "Not in the Resource Sharing Directory."))
                    return
                with st.lock:
                    inst.partners[found[0]] = data.partner_json(found[0], found[1], found[2], f"01{found[0][4:]}_INST")
                self._send(200, {"copied": found[0]})
            else:
                self._send(404, envelope("NOT_FOUND", "No such sandbox control."))
        except (IndexError, StopIteration):
            self._send(404, envelope("NOT_FOUND", "No such sandbox control."))


TEST_PATHS = (["conf", "test"], ["partners", "operation", "test"], ["users", "operation", "test"],
              ["analytics", "test"], ["task-lists", "test"])


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, addr: tuple[str, int], state: SandboxState) -> None:
        self.state = state
        super().__init__(addr, Handler)

    def handle_error(self, request: socket.socket | tuple[bytes, socket.socket], client_address: object) -> None:
        # a client closing its keep-alive connection is normal, not an error worth a traceback
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError, TimeoutError)):
            return
        super().handle_error(request, client_address)


# -- routing -----------------------------------------------------------------------------------------
def _q(query: dict[str, list[str]], name: str, default: str = "") -> str:
    return (query.get(name) or [default])[0]


def _int(query: dict[str, list[str]], name: str, default: int, lo: int, hi: int) -> int:
    raw = _q(query, name, str(default)) or str(default)
    try:
        v = int(raw)
    except ValueError:
        raise AlmaHTTPError(400, "402219", f"Parameter {name} is not valid.") from None
    if not lo <= v <= hi:
        raise AlmaHTTPError(400, "402219", f"Parameter {name} must be between {lo} and {hi}.")
    return v


def _page(items: list[dict[str, Any]], query: dict[str, list[str]], key: str) -> dict[str, Any]:
    limit = _int(query, "limit", 10, 0, 100)
    offset = _int(query, "offset", 0, 0, 10**9)
    return listing(key, items[offset:offset + limit], len(items))


def listing(key: str, page: list[dict[str, Any]], total: int) -> dict[str, Any]:
    """A list envelope; Alma leaves the list key out when there is nothing on the page."""
    if not page:
        return {"total_record_count": total}
    return {key: copy.deepcopy(page), "total_record_count": total}


def _date(query: dict[str, list[str]], name: str) -> date | None:
    raw = _q(query, name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw.rstrip("Z"))
    except ValueError:
        raise AlmaHTTPError(400, "402217", f"Invalid date format for {name}: expected YYYY-MM-DD.") from None


PARTNER_DEFAULTS: dict[str, Any] = {
    "avg_supply_time": 0, "delivery_delay": 0, "currency": "", "borrowing_supported": False,
    "borrowing_workflow": "DEFAULT_BOR_WF", "lending_supported": False, "lending_workflow": "DEFAULT_LEND_WF",
    "locate_profile": {"value": "", "desc": ""}, "institution_code": "", "holding_code": "",
}


def _validate_partner(body: object) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("partner_details"), dict):
        raise AlmaHTTPError(400, "401664", "Mandatory field is missing: partner_details")
    pd = body["partner_details"]
    for f in ("code", "name", "status", "profile_details", "system_type"):
        if not pd.get(f):
            raise AlmaHTTPError(400, "401664", f"Mandatory field is missing: {f}")
    if not (pd["profile_details"] or {}).get("profile_type"):
        raise AlmaHTTPError(400, "401664", "Mandatory field is missing: profile_type")
    # swap-all: whatever the caller left out is reset to its default
    details: dict[str, Any] = {**PARTNER_DEFAULTS, **copy.deepcopy(pd)}
    full: dict[str, Any] = {"partner_details": details,
            "contact_info": body.get("contact_info") or {"address": [], "email": [], "phone": []},
            "note": body.get("note") if isinstance(body.get("note"), list) else [],
            "link": f"/almaws/v1/partners/{pd['code']}"}
    prof: dict[str, Any] = details["profile_details"]
    if str(prof.get("profile_type")) not in data.EXPIRY_PROFILE_TYPES:
        # this profile type has no request expiry in Alma's schema: such fields are not kept
        for k, block in prof.items():
            if k.endswith("_details") and isinstance(block, dict):
                block.pop("request_expiry_type", None)
                block.pop("expiry_time", None)
    return full


def _symbol(p: dict[str, Any]) -> str:
    prof = p["partner_details"]["profile_details"]
    for k, v in prof.items():
        if k.endswith("_details") and isinstance(v, dict):
            return str(v.get("iso_symbol") or v.get("partner_symbol") or "")
    return ""


def _code_table(name: str) -> dict[str, Any]:
    rows = data.CODE_TABLES.get(name)
    if rows is None:
        raise AlmaHTTPError(400, "40166411", f"Param value is invalid: code table {name}.")
    return {"name": name, "description": name, "sub_system": {"value": "FULFILLMENT", "desc": "Fulfillment"},
            "patron_facing": False, "language": {"value": "en", "desc": "English"},
            "scope": {"library_id": {"value": ""}, "institution_id": {"value": ""}},
            "row": [{"code": c, "description": d, "default": False, "enabled": True} for c, d in rows]}


def route(st: SandboxState, inst: data.Inst, method: str, path: str, query: dict[str, list[str]],
          body: RequestBody) -> Answer:
    parts = [unquote(p) for p in path.split("/") if p]
    with st.lock:
        return _route(st, inst, method, parts, query, body)


def _route(st: SandboxState, inst: data.Inst, method: str, parts: list[str], query: dict[str, list[str]],
           body: RequestBody) -> Answer:
    if parts[:1] == ["partners"]:
        return _partners(inst, method, parts, query, body)
    if parts == ["task-lists", "rs", "lending-requests"] and method == "GET":
        library = _q(query, "library")
        if not library:
            raise AlmaHTTPError(400, "401664", "Mandatory field is missing: library")
        if library not in inst.rs_libraries:
            raise AlmaHTTPError(400, "40166414", f"Library {library} is not a resource sharing library.")
        items = [r for r in inst.lending if r["owner"] == library]
        for name, field_ in (("status", "status"), ("partner", "partner")):
            want = _q(query, name)
            if want:
                items = [r for r in items if r[field_]["value"] == want]
        for name in ("printed", "reported"):
            want = _q(query, name)
            if want:
                if want.upper() not in ("Y", "N"):
                    raise AlmaHTTPError(400, "40166410", f"Invalid parameter {name}: {want}. Valid options are: Y, N.")
                items = [r for r in items if bool(r.get(name)) == (want.upper() == "Y")]
        for name, field_ in (("requested_format", "format"), ("supplied_format", "supplied_format")):
            want = _q(query, name)
            if want:
                items = [r for r in items if ((r.get(field_) or {}).get("value") or "") == want]
        # Alma returns at most 100 lending requests here and offers no paging (php-alma notes the same)
        return 200, listing("user_resource_sharing_request", items[:100], len(items))
    if parts[:1] == ["users"] and len(parts) == 4 and parts[2] == "resource-sharing-requests" and method == "GET":
        user, rid = parts[1], parts[3]
        if user not in inst.users:
            raise AlmaHTTPError(400, "401890", f"User with identifier {user} was not found.")
        by_ext = _q(query, "request_id_type") == "external"
        for r in inst.borrowing:
            if r["requester"]["value"] == user and (r["external_id"] if by_ext else r["request_id"]) == rid:
                return 200, copy.deepcopy(r)
        raise AlmaHTTPError(400, "40166450", "No result found for given parameters.")
    if parts[:2] == ["conf", "jobs"]:
        return _jobs(st, inst, method, parts, query)
    if parts[:2] == ["conf", "code-tables"] and len(parts) == 3 and method == "GET":
        return 200, _code_table(parts[2])
    if parts == ["conf", "libraries"] and method == "GET":
        libs = [{"code": c, "name": f"{inst.name} - {c}", "resource_sharing": True, "description": "",
                 "campus": {"value": "MAIN", "desc": "Main"}} for c in inst.rs_libraries]
        libs.append({"code": "LAW", "name": f"{inst.name} Law Library", "resource_sharing": False,
                     "description": "", "campus": {"value": "LAW", "desc": "Law"}})
        return 200, listing("library", libs, len(libs))
    if parts == ["analytics", "reports"] and method == "GET":
        return 200, _report(st, inst, query)
    raise AlmaHTTPError(400, "402119", f"General error: no such operation {method} /{'/'.join(parts)}.")


def _partners(inst: data.Inst, method: str, parts: list[str], query: dict[str, list[str]],
              body: RequestBody) -> Answer:
    if len(parts) == 1:
        if method == "GET":
            items = list(inst.partners.values())
            status = _q(query, "status")
            if status:
                items = [p for p in items if p["partner_details"]["status"] == status.upper()]
            return 200, _page(items, query, "partner")
        if method == "POST":
            new = _validate_partner(body())
            code = new["partner_details"]["code"]
            if code in inst.partners:
                raise AlmaHTTPError(400, "402113", f"Partner with code {code} already exists.")
            sym = _symbol(new)
            if sym and any(_symbol(p) == sym for p in inst.partners.values()):
                raise AlmaHTTPError(400, "411709", f"A partner with the ISO symbol {sym} already exists.")
            inst.partners[code] = new
            return 200, copy.deepcopy(new)
    code = parts[1]
    if len(parts) == 2:
        if code not in inst.partners:
            if method == "DELETE":
                raise AlmaHTTPError(400, "401651", f"Identifier not found: {code}.")
            raise AlmaHTTPError(400, "402118", f"Partner {code} was not found.")
        if method == "GET":
            return 200, copy.deepcopy(inst.partners[code])
        if method == "PUT":
            new = _validate_partner(body())
            if new["partner_details"]["code"] != code:
                raise AlmaHTTPError(400, "402119", "The partner code cannot be changed.")
            sym = _symbol(new)
            if sym and any(_symbol(p) == sym for c, p in inst.partners.items() if c != code):
                raise AlmaHTTPError(400, "411709", f"A partner with the ISO symbol {sym} already exists.")
            inst.partners[code] = new
            return 200, copy.deepcopy(new)
        if method == "DELETE":
            del inst.partners[code]
            return 204, None
    if len(parts) == 4 and parts[2] == "lending-requests" and method == "GET":
        for r in inst.lending:
            if r["request_id"] == parts[3]:
                if r["partner"]["value"] != code:
                    raise AlmaHTTPError(400, "40166412", "The request does not belong to this partner.")
                return 200, copy.deepcopy(r)
        raise AlmaHTTPError(400, "40166411", f"Lending request {parts[3]} was not found.")
    raise AlmaHTTPError(400, "402119", "General error.")


JOB_TYPES = {"MANUAL", "SCHEDULED", "OTHER"}
JOB_STATUSES = {c for c, _d in data.CODE_TABLES["systemJobStatus"]}


def _jobs(st: SandboxState, inst: data.Inst, method: str, parts: list[str],
          query: dict[str, list[str]]) -> Answer:
    if method != "GET":
        raise AlmaHTTPError(400, "402248", "Cannot submit scheduled job.")
    if len(parts) == 2:
        jtype = _q(query, "type")
        if jtype and jtype not in JOB_TYPES:
            raise AlmaHTTPError(400, "40166410", f"Invalid type: {jtype}.")
        jobs = [j for j in inst.jobs if not jtype or j["type"]["value"] == jtype]
        cat = _q(query, "category")
        if cat:
            jobs = [j for j in jobs if j["category"]["value"] == cat]
        return 200, _page(jobs, query, "job")
    job = next((j for j in inst.jobs if j["id"] == parts[2]), None)
    if job is None and parts[2] != "ALL":
        raise AlmaHTTPError(400, "402216", f"Invalid job id: {parts[2]}.")
    if len(parts) == 3 and job is not None:
        return 200, copy.deepcopy(job)
    if len(parts) >= 4 and parts[3] == "instances":
        items = [i for i in inst.instances if parts[2] == "ALL" or i["job_info"]["id"] == parts[2]]
        if len(parts) == 5:
            found = next((i for i in items if i["id"] == parts[4]), None)
            if found is None:
                raise AlmaHTTPError(400, "402218", f"Invalid job instance id: {parts[4]}.")
            return 200, copy.deepcopy(found)
        frm, to = _date(query, "submit_date_from"), _date(query, "submit_date_to")
        status = _q(query, "status")
        if status and status not in JOB_STATUSES:
            raise AlmaHTTPError(400, "40166410", f"Invalid status: {status}.")

        def submitted(i: dict[str, Any]) -> date:
            return datetime.fromisoformat(i["submit_time"].replace("Z", "+00:00")).date()  # Alma filters in UTC

        items = [i for i in items if (frm is None or submitted(i) >= frm) and (to is None or submitted(i) <= to)
                 and (not status or i["status"]["value"] == status)]
        items.sort(key=lambda i: i["submit_time"], reverse=True)
        return 200, _page(items, query, "job_instance")
    raise AlmaHTTPError(400, "402119", "General error.")


REPORT_COLUMNS = ["External Request ID", "Internal Request ID", "Request Status", "Partner Code", "Partner Name",
                  "Title", "Requester Primary Identifier", "Request Created Date", "Status Date", "Library Code"]


def _report(st: SandboxState, inst: data.Inst, query: dict[str, list[str]]) -> str:
    """One page of the borrowing report, as Alma Analytics sends it: the ``ResumptionToken`` only on the
    first page; the same token then returns the next page on every call until ``IsFinished``; the column
    schema (headings as the author named them) only on the first page."""
    token = _q(query, "token")
    limit = _int(query, "limit", 25, 25, 1000)
    limit -= limit % 25  # multiples of 25
    if token:
        with st.lock:
            cursor = st.cursors.get(token)
        if cursor is None or cursor[0] != inst.code:
            raise AlmaHTTPError(400, "402119", "General error: the resumption token is not valid.")
        offset = cursor[1]
    else:
        path = _q(query, "path")
        if path != data.REPORT_PATH:
            raise AlmaHTTPError(400, "500", f"access denied for user to path {path} - make sure the report is "
                                            "saved in a shared folder.")
        offset = 0
    # Analytics is loaded by a nightly ETL: requests created today are not in the report yet
    cutoff = datetime.combine(st.today, dtime(0, 0), tzinfo=ZoneInfo(inst.timezone))
    rows = [r for r in inst.borrowing
            if datetime.fromisoformat(r["created_time"].replace("Z", "+00:00")) < cutoff]
    size = min(limit, st.analytics_page_rows) if st.analytics_page_rows else limit
    page = rows[offset:offset + size]
    finished = offset + size >= len(rows)
    out = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>', "<report><QueryResult>"]
    if not token:
        token_out = f"{random.getrandbits(128):032X}"
        with st.lock:
            st.cursors[token_out] = (inst.code, offset + size)
        out.append(f"<ResumptionToken>{token_out}</ResumptionToken>")
    else:
        with st.lock:
            st.cursors[token] = (inst.code, offset + size)
    out.append(f"<IsFinished>{'true' if finished else 'false'}</IsFinished>")
    out.append('<ResultXml><rowset xmlns="urn:schemas-microsoft-com:xml-analysis:rowset">')
    headings = [st.report_headings.get(h, h) for h in REPORT_COLUMNS]
    if not token:
        out.append('<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" targetNamespace='
                   '"urn:schemas-microsoft-com:xml-analysis:rowset" xmlns:saw-sql="urn:saw-sql">'
                   '<xsd:complexType name="Row"><xsd:sequence>')
        out.append('<xsd:element minOccurs="0" maxOccurs="1" name="Column0" type="xsd:string" '
                   'saw-sql:type="integer" saw-sql:columnHeading="0"/>')
        for n, heading in enumerate(headings, 1):
            if heading:
                out.append(f'<xsd:element minOccurs="0" maxOccurs="1" name="Column{n}" type="xsd:string" '
                           f'saw-sql:type="varchar" saw-sql:columnHeading="{escape(heading, {chr(34): "&quot;"})}"/>')
        out.append("</xsd:sequence></xsd:complexType></xsd:schema>")
    for r in page:
        values = [r["external_id"], r["request_id"], r["status"]["desc"], r["partner"]["value"],
                  r["partner"]["desc"], r["title"], r["requester"]["value"], r["created_date"].rstrip("Z"),
                  r["last_modified_date"].rstrip("Z"), r["owner"]]
        cells = "".join(f"<Column{n}>{escape(str(v))}</Column{n}>" for n, v in enumerate(values, 1)
                        if headings[n - 1])
        out.append(f"<Row><Column0>0</Column0>{cells}</Row>")
    out.append("</rowset></ResultXml></QueryResult></report>")
    return "".join(out)


class Sandbox:
    """A running sandbox in a background thread (tests, the demo, benchmarks)."""

    def __init__(self, state: SandboxState | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = state or SandboxState(today=date.today())
        self.httpd = SandboxHTTPServer((host, port), self.state)
        # stop() returns at the server loop's next poll: tests start and stop a sandbox each
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01},
                                       name="alma-sandbox", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}{PREFIX}"

    def start(self) -> Sandbox:
        self.thread.start()
        return self

    def institutions(self, limit: int | None = None) -> tuple[Institution, ...]:
        """Settings for the sandbox's institutions (the first ``limit``): this server's URL, each one's API key,
        RS libraries and borrowing report, a channel ``#<code>-ill`` for its morning post, Alma's institution
        code (how its signed webhooks name it) and ``ALMA_KEY_<code>`` as the name of its key's variable."""
        return tuple(Institution(code=i.code, name=i.name, base_url=self.base_url, api_key=key,
                                 rs_libraries=tuple(i.rs_libraries), borrowing_report=data.REPORT_PATH,
                                 channel=f"#{i.code.lower()}-ill", alma_code=i.inst_code,
                                 api_key_env=f"ALMA_KEY_{i.code}")
                     for key, i in list(self.state.institutions.items())[:limit])

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def today_in(tz: str) -> date:
    return datetime.now(ZoneInfo(tz)).date()


def yesterday(d: date) -> date:
    return d - timedelta(days=1)
