"""The sandbox HTTP server: Alma's paths, parameters, JSON envelopes and error codes on loopback.

Faithful where the bot depends on it: the API key picks the institution (each its own IZ), 429
``PER_SECOND_THRESHOLD`` above 25 calls/second per institution, a daily quota counted down in
``X-Exl-Api-Remaining``, "not found" as HTTP 400 with an ``errorCode``, the 100-request cap of the lending
task list (with the true ``total_record_count``), and swap-all PUT on partners (fields left out are reset).
Latency and faults (5xx, 429, timeouts, garbage bodies) can be injected by rate or queued for tests.
Paths under ``/sandbox/`` are the sandbox's own controls, not Alma's.
"""

from __future__ import annotations

import copy
import json
import random
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from bot.sandbox import data

PREFIX = "/almaws/v1"
PER_SECOND_LIMIT = 25


class AlmaHTTPError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def envelope(code: str, message: str) -> dict[str, Any]:
    return {"errorsExist": True, "errorList": {"error": [
        {"errorCode": code, "errorMessage": message, "trackingId": f"E01-{int(time.time() * 1000) % 10**10}-SANDBOX"}
    ]}, "result": None}


@dataclass
class Fault:
    kind: str  # 500 / 503 / 429 / daily / garbage / timeout
    count: int = 1
    path: str = ""  # only for paths starting with this (after /almaws/v1)
    method: str = ""


@dataclass
class SandboxState:
    today: date
    scale: int = 0
    seed: int = 20201
    extra_institutions: int = 0
    latency_ms: float = 0.0
    fault_rate: float = 0.0
    garbage_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_sleep: float = 3.0
    per_second: int = PER_SECOND_LIMIT
    quota: int = 500_000
    institutions: dict[str, data.Inst] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    calls: list[tuple[str, str, str, str]] = field(default_factory=list)  # (inst, method, path, query)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _windows: dict[str, deque[float]] = field(default_factory=dict)
    remaining: dict[str, int] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def __post_init__(self) -> None:
        if not self.institutions:
            for inst in data.build(self.today, seed=self.seed, scale=self.scale,
                                   extra_institutions=self.extra_institutions):
                self.institutions[inst.api_key] = inst
        for key in self.institutions:
            self.remaining.setdefault(key, self.quota)
            self._windows.setdefault(key, deque())

    @property
    def demo_key(self) -> str:
        return next(iter(self.institutions))

    def by_code(self, code: str) -> data.Inst:
        return next(i for i in self.institutions.values() if i.code == code)

    def inject(self, kind: str, count: int = 1, path: str = "", method: str = "") -> None:
        with self.lock:
            self.faults.append(Fault(kind, count, path, method))

    def calls_to(self, method: str, path_prefix: str) -> int:
        with self.lock:
            return sum(1 for _i, m, p, _q in self.calls if m == method and p.startswith(path_prefix))

    def _take_fault(self, method: str, path: str) -> str | None:
        with self.lock:
            for f in self.faults:
                if f.count > 0 and path.startswith(f.path) and (not f.method or f.method == method):
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
    server: SandboxHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        return

    # -- plumbing ----------------------------------------------------------------------------------
    def _send(self, status: int, body: Any, key: str | None = None, ctype: str = "application/json") -> None:
        raw = body if isinstance(body, bytes) else (body.encode() if isinstance(body, str)
                                                    else json.dumps(body).encode())
        self.send_response(status)
        self.send_header("Content-Type", f"{ctype};charset=UTF-8")
        self.send_header("Content-Length", str(len(raw)))
        st = self.server.state
        if key is not None and key in st.remaining:
            self.send_header("X-Exl-Api-Remaining", str(max(st.remaining[key], 0)))
        self.end_headers()
        self.wfile.write(raw)

    def _read(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _body(self) -> Any:
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
            self._send(404, envelope("NOT_FOUND", "No such path."))
            return
        path = parts.path[len(PREFIX):] or "/"
        key = self._key(query)
        inst = st.institutions.get(key)
        if inst is None:
            self._send(401, envelope("UNAUTHORIZED", "API-key not defined or not configured to allow this API."))
            return
        with st.lock:
            st.calls.append((inst.code, method, path, parts.query))
            now = time.monotonic()
            win = st._windows[key]
            while win and now - win[0] >= 1.0:
                win.popleft()
            win.append(now)
            over = len(win) > st.per_second
            st.remaining[key] -= 1
            spent = st.remaining[key] < 0
        if st.latency_ms:
            time.sleep(st.latency_ms / 1000.0)
        if over:
            self._send(429, envelope("PER_SECOND_THRESHOLD",
                                     "HTTP requests are more than allowed per second. See https://goo.gl/2x1c1M "), key)
            return
        if spent:
            self._send(429, envelope("DAILY_THRESHOLD", "Daily threshold of API calls has been reached."), key)
            return
        fault = st._take_fault(method, path)
        if fault == "timeout":
            time.sleep(st.timeout_sleep)
        elif fault in ("500", "503"):
            self._send(int(fault), "<html><body><h1>Service Unavailable</h1></body></html>", key, "text/html")
            return
        elif fault == "429":
            self._send(429, envelope("PER_SECOND_THRESHOLD",
                                     "HTTP requests are more than allowed per second. See https://goo.gl/2x1c1M "), key)
            return
        elif fault == "daily":
            self._send(429, envelope("DAILY_THRESHOLD", "Daily threshold of API calls has been reached."), key)
            return
        elif fault == "garbage":
            self._send(200, "<html>upstream proxy error</html>{", key)
            return
        try:
            status, body = route(st, inst, method, path, query, self._body)
        except AlmaHTTPError as exc:
            self._send(exc.status, envelope(exc.code, exc.message), key)
            return
        if isinstance(body, str):
            self._send(status, body, key, "application/xml")
        else:
            self._send(status, body if body is not None else b"", key)

    def _control(self, method: str, path: str, query: dict[str, list[str]]) -> None:
        st = self.server.state
        parts = [unquote(p) for p in path.split("/") if p]
        try:
            if parts[1] == "scenario" and method == "GET":
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


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, addr: tuple[str, int], state: SandboxState) -> None:
        self.state = state
        super().__init__(addr, Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
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


def _page(items: list[Any], query: dict[str, list[str]], key: str) -> dict[str, Any]:
    limit = _int(query, "limit", 10, 0, 100)
    offset = _int(query, "offset", 0, 0, 10**9)
    return {key: copy.deepcopy(items[offset:offset + limit]), "total_record_count": len(items)}


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


def _validate_partner(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("partner_details"), dict):
        raise AlmaHTTPError(400, "401664", "Mandatory field is missing: partner_details")
    pd = body["partner_details"]
    for f in ("code", "name", "status", "profile_details", "system_type"):
        if not pd.get(f):
            raise AlmaHTTPError(400, "401664", f"Mandatory field is missing: {f}")
    if not (pd["profile_details"] or {}).get("profile_type"):
        raise AlmaHTTPError(400, "401664", "Mandatory field is missing: profile_type")
    # swap-all: whatever the caller left out is reset to its default
    full = {"partner_details": {**PARTNER_DEFAULTS, **pd},
            "contact_info": body.get("contact_info") or {"address": [], "email": [], "phone": []},
            "notes": body.get("notes") or {"note": []}}
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
        raise AlmaHTTPError(400, "401861", f"Code table {name} was not found.")
    return {"name": name, "description": name, "sub_system": {"value": "FULFILLMENT", "desc": "Fulfillment"},
            "patron_facing": False, "language": {"value": "en", "desc": "English"},
            "scope": {"library_id": {"value": ""}, "institution_id": {"value": ""}},
            "row": [{"code": c, "description": d, "default": False, "enabled": True} for c, d in rows]}


def route(st: SandboxState, inst: data.Inst, method: str, path: str, query: dict[str, list[str]],
          body: Any) -> tuple[int, Any]:
    parts = [unquote(p) for p in path.split("/") if p]
    with st.lock:
        return _route(st, inst, method, parts, query, body)


def _route(st: SandboxState, inst: data.Inst, method: str, parts: list[str], query: dict[str, list[str]],
           body: Any) -> tuple[int, Any]:
    if parts in (["conf", "test"], ["partners", "operation", "test"], ["users", "operation", "test"],
                 ["analytics", "test"], ["task-lists", "test"]):
        return 200, {"test": f"{method} - OK"}
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
                items = [r for r in items if bool(r.get(name)) == (want.upper() == "Y")]
        # Alma returns at most 100 lending requests here and offers no paging (php-alma notes the same)
        return 200, {"user_resource_sharing_request": copy.deepcopy(items[:100]), "total_record_count": len(items)}
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
        return 200, {"library": libs, "total_record_count": len(libs)}
    if parts == ["analytics", "reports"] and method == "GET":
        return 200, _report(st, inst, query)
    raise AlmaHTTPError(400, "402119", f"General error: no such operation {method} /{'/'.join(parts)}.")


def _partners(inst: data.Inst, method: str, parts: list[str], query: dict[str, list[str]],
              body: Any) -> tuple[int, Any]:
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
          query: dict[str, list[str]]) -> tuple[int, Any]:
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
        raise AlmaHTTPError(400, "402216", f"Job {parts[2]} was not found.")
    if len(parts) == 3 and job is not None:
        return 200, copy.deepcopy(job)
    if len(parts) >= 4 and parts[3] == "instances":
        items = [i for i in inst.instances if parts[2] == "ALL" or i["job_info"]["id"] == parts[2]]
        if len(parts) == 5:
            found = next((i for i in items if i["id"] == parts[4]), None)
            if found is None:
                raise AlmaHTTPError(400, "402220", f"Job instance {parts[4]} was not found.")
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
    token = _q(query, "token")
    limit = _int(query, "limit", 25, 25, 1000)
    if token:
        try:
            _code, off = token.split("-", 1)
            offset = int(off)
        except ValueError:
            raise AlmaHTTPError(400, "420033", "Invalid token.") from None
    else:
        path = _q(query, "path")
        if path != data.REPORT_PATH:
            raise AlmaHTTPError(400, "420033", f"No report found at path {path}.")
        offset = 0
    # Analytics is loaded by a nightly ETL: requests created today are not in the report yet
    cutoff = datetime.combine(st.today, dtime(0, 0), tzinfo=ZoneInfo(inst.timezone))
    rows = [r for r in inst.borrowing
            if datetime.fromisoformat(r["created_time"].replace("Z", "+00:00")) < cutoff]
    page = rows[offset:offset + limit]
    finished = offset + limit >= len(rows)
    out = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>', "<report><QueryResult>"]
    out.append(f"<ResumptionToken>{inst.code}-{offset + limit}</ResumptionToken>")
    out.append(f"<IsFinished>{'true' if finished else 'false'}</IsFinished>")
    out.append('<ResultXml><rowset xmlns="urn:schemas-microsoft-com:xml-analysis:rowset">')
    if not token:
        out.append('<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
                   'xmlns:saw-sql="urn:saw-sql"><xsd:complexType name="Row"><xsd:sequence>')
        out.append('<xsd:element name="Column0" saw-sql:columnHeading="0"/>')
        for n, heading in enumerate(REPORT_COLUMNS, 1):
            out.append(f'<xsd:element name="Column{n}" saw-sql:columnHeading="{escape(heading)}"/>')
        out.append("</xsd:sequence></xsd:complexType></xsd:schema>")
    for r in page:
        values = [r["external_id"], r["request_id"], r["status"]["desc"], r["partner"]["value"],
                  r["partner"]["desc"], r["title"], r["requester"]["value"], r["created_date"].rstrip("Z"),
                  r["last_modified_date"].rstrip("Z"), r["owner"]]
        cells = "".join(f"<Column{n}>{escape(str(v))}</Column{n}>" for n, v in enumerate(values, 1))
        out.append(f"<Row><Column0>0</Column0>{cells}</Row>")
    out.append("</rowset></ResultXml></QueryResult></report>")
    return "".join(out)


class Sandbox:
    """A running sandbox in a background thread (tests, the demo, benchmarks)."""

    def __init__(self, state: SandboxState | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = state or SandboxState(today=date.today())
        self.httpd = SandboxHTTPServer((host, port), self.state)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       name="alma-sandbox", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}{PREFIX}"

    def start(self) -> Sandbox:
        self.thread.start()
        return self

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
