"""Alma errors: parsed from JSON *or* XML bodies, classified in one place (:func:`classify`).

Alma answers errors with a ``web_service_result``: ``errorsExist``, ``errorList.error[]`` with ``errorCode``,
``errorMessage`` and ``trackingId``. It sends it as XML (namespace ``http://com/exlibris/urm/general/xmlbeans``)
unless JSON was asked for, and the API gateway (invalid key: 400 ``UNAUTHORIZED``; too fast: 429
``PER_SECOND_THRESHOLD``) and Analytics send XML even to a JSON client. :func:`parse_error` reads every form
(JSON, namespaced or plain XML, HTML from a proxy, nothing) and never raises.

Classification goes by ``errorCode`` first, the HTTP status only when the code says nothing:

    AlmaError                 base; status, errorCode, message, trackingId, and (set by the client) the
    │                         institution code and the name of the environment variable holding its key
    ├── AlmaAuthError         the API key is wrong or lacks the permission: UNAUTHORIZED & co (Alma answers
    │                         400, not 401), or a bare 401/403
    ├── AlmaRateLimited       429 PER_SECOND_THRESHOLD (or a 429 that names no daily limit) that outlived
    │                         the client's retries; never the daily quota
    ├── AlmaQuotaExceeded     the daily API quota is used up: a DAILY_THRESHOLD code, or a 429 while
    │                         X-Exl-Api-Remaining says 0
    ├── AlmaNotFound          "not found" (HTTP 400 with a code, e.g. 402118 partner, 402218 job instance)
    ├── AlmaBadRequest        any other business error (400), e.g. 401664 mandatory field missing
    │   └── AlmaConflict      the record exists already: 402113 partner code, 411709 ISO symbol
    └── AlmaUnavailable       5xx, timeouts, connection errors, the caller's deadline passed
        └── AlmaBadResponse   a 200 the bot cannot read: not JSON, not a JSON object, or an object without
                              the fields the call needs (``{}``, a list without ``total_record_count``)

Messages never contain the API key or the request URL's query string. :func:`sentence` turns any of these
into the sentence staff see; a refused key is always said as a key problem, naming the variable to check.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

WSR_NS = "http://com/exlibris/urm/general/xmlbeans"


class AlmaError(Exception):
    def __init__(self, message: str, *, status: int = 0, code: str = "", tracking_id: str = "") -> None:
        self.status = status
        self.code = code
        self.message = message
        self.tracking_id = tracking_id
        self.institution = ""  # the institution code (set by the client that raised it)
        self.key_env = ""  # the environment variable holding that institution's key (ditto)
        super().__init__(f"{message} (Alma {code or status})" if (code or status) else message)


class AlmaNotFound(AlmaError):
    pass


class AlmaBadRequest(AlmaError):
    pass


class AlmaConflict(AlmaBadRequest):
    pass


class AlmaAuthError(AlmaError):
    pass


class AlmaRateLimited(AlmaError):
    pass


class AlmaQuotaExceeded(AlmaError):
    pass


class AlmaUnavailable(AlmaError):
    pass


class AlmaBadResponse(AlmaUnavailable):
    pass


NOT_FOUND_CODES = frozenset({
    "402118",  # partner not found
    "401650", "401651",  # identifier empty / not found
    "401890",  # user not found
    "401694",  # request identifier not found
    "40166450",  # no result found for given parameters (RS request by external id)
    "40166411", "40166412",  # lending request: invalid parameter / failed (no such request for this partner)
    "402216",  # invalid job id
    "402218",  # invalid job instance id
})
CONFLICT_CODES = frozenset({"402113", "411709"})
AUTH_CODES = frozenset({"UNAUTHORIZED", "INVALID_API_KEY", "API_KEY_NOT_VALID", "INVALID_KEY", "FORBIDDEN"})
PER_SECOND = "PER_SECOND_THRESHOLD"
DAILY_CODES = frozenset({"DAILY_THRESHOLD", "DAILY_THRESHOLD_EXCEEDED", "DAILY_THRESHOLD_REACHED"})


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _from_json(body: object) -> tuple[str, str, str]:
    """The first error of a JSON envelope ``{"errorList": {"error": [{...}]}}`` (or one error object)."""
    errs = body.get("errorList") if isinstance(body, dict) else None
    err = errs.get("error") if isinstance(errs, dict) else None
    if isinstance(err, list):
        err = err[0] if err else None
    if not isinstance(err, dict):
        return "", "", ""
    return (str(err.get("errorCode", "") or ""), str(err.get("errorMessage", "") or "").strip(),
            str(err.get("trackingId", "") or ""))


def _from_xml(text: str) -> tuple[str, str, str]:
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return "", "", ""
    for el in root.iter():
        if _local(el.tag) == "error":
            fields = {_local(c.tag): (c.text or "").strip() for c in el}
            if fields.get("errorCode") or fields.get("errorMessage"):
                return fields.get("errorCode", ""), fields.get("errorMessage", ""), fields.get("trackingId", "")
    return "", "", ""


def parse_error(body: object) -> tuple[str, str, str]:
    """(errorCode, errorMessage, trackingId) from any error body: a parsed JSON value, or raw bytes/text in
    JSON or XML. ("", "", "") when there is nothing to read (HTML, empty, not an envelope)."""
    if isinstance(body, (bytes, bytearray)):
        body = bytes(body).decode("utf-8", "replace")
    if isinstance(body, str):
        text = body.strip()
        if text.startswith("<"):
            return _from_xml(text)
        try:
            body = json.loads(text) if text else None
        except ValueError:
            return "", "", ""
    return _from_json(body)


def first_error(body: object) -> tuple[str, str, str]:
    """Kept for callers of the old name: same as :func:`parse_error`."""
    return parse_error(body)


def classify(status: int, code: str, message: str = "", tracking_id: str = "",
             remaining: int | None = None) -> AlmaError:
    """The one mapping from (HTTP status, errorCode) to an exception; the code decides first."""
    kind = _kind(status, code, remaining)
    return kind(message or f"Alma answered HTTP {status}", status=status, code=code, tracking_id=tracking_id)


def _kind(status: int, code: str, remaining: int | None) -> type[AlmaError]:
    upper = code.upper()
    if upper in AUTH_CODES:
        return AlmaAuthError
    if upper == PER_SECOND:
        return AlmaRateLimited
    if upper in DAILY_CODES or "DAILY" in upper:
        return AlmaQuotaExceeded
    if code in NOT_FOUND_CODES:
        return AlmaNotFound
    if code in CONFLICT_CODES:
        return AlmaConflict
    if status in (401, 403):
        return AlmaAuthError
    if status == 429:
        # no code that names the daily limit: only an exhausted X-Exl-Api-Remaining makes it the quota
        if remaining is not None and remaining <= 0:
            return AlmaQuotaExceeded
        return AlmaRateLimited
    if status >= 500:
        return AlmaUnavailable
    if status == 404:
        return AlmaNotFound
    return AlmaBadRequest


def from_response(status: int, body: object, remaining: int | None = None) -> AlmaError:
    """An exception for an error answer; ``body`` is parsed JSON or the raw bytes/text (JSON or XML)."""
    code, message, tracking = parse_error(body)
    return classify(status, code, message, tracking, remaining)


def key_sentence(institution: str, key_env: str = "") -> str:
    who = f"{institution}'s" if institution else "the bot's"
    check = f"check {key_env} and its API permissions" if key_env else "check the API key and its permissions"
    return f"Alma refused {who} API key: {check} (Developer Network)."


def sentence(exc: AlmaError, institution: str = "") -> str:
    """A sentence for staff; never leaks keys. ``institution`` (a name) is used when the error does not
    carry its institution code."""
    who = exc.institution or institution
    where = f" at {who}" if who else ""
    if isinstance(exc, AlmaAuthError):
        return key_sentence(who, exc.key_env)
    if isinstance(exc, AlmaQuotaExceeded):
        return f"The daily Alma API quota{where} is used up; lookups will work again after it resets."
    if isinstance(exc, AlmaRateLimited):
        return f"Alma{where} is asking us to slow down (too many calls per second). Please try again in a moment."
    if isinstance(exc, AlmaBadResponse):
        return f"Alma{where} sent an answer the bot cannot read ({exc.message}). Please try again later."
    if isinstance(exc, AlmaUnavailable):
        return f"Alma{where} is not answering right now ({exc.message}). Please try again in a few minutes."
    if isinstance(exc, AlmaNotFound):
        return f"Alma{where} has no such record ({exc.message})."
    if isinstance(exc, AlmaConflict):
        return f"Alma{where} says that record already exists: {exc.message}"
    return f"Alma{where} rejected the request: {exc.message}"
