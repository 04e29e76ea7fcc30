"""Alma errors, mapped from HTTP status + ``errorCode`` in one place (:func:`from_response`).

    AlmaError                 base; carries status, errorCode, message, trackingId
    ├── AlmaNotFound          "not found" (Alma answers HTTP 400 with a code, e.g. 402118, 40166450)
    ├── AlmaBadRequest        any other business error (400), e.g. 401664 mandatory field missing
    │   └── AlmaConflict      the record exists already: 402113 partner code, 411709 ISO symbol
    ├── AlmaAuthError         the API key is wrong or lacks the permission (401/403)
    ├── AlmaRateLimited       429 PER_SECOND_THRESHOLD that outlived our retries
    ├── AlmaQuotaExceeded     the daily API quota is used up (429 DAILY_THRESHOLD or remaining = 0)
    └── AlmaUnavailable       5xx, timeouts, connection errors or garbage bodies that outlived retries

Messages never contain the API key or the request URL's query string.
"""

from __future__ import annotations

from typing import Any


class AlmaError(Exception):
    def __init__(self, message: str, *, status: int = 0, code: str = "", tracking_id: str = "") -> None:
        self.status = status
        self.code = code
        self.message = message
        self.tracking_id = tracking_id
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


NOT_FOUND_CODES = frozenset({
    "402118",  # partner not found
    "401650", "401651",  # identifier empty / not found
    "401890",  # user not found
    "40166450",  # no result found for given parameters (RS request by external id)
    "40166411", "40166412",  # lending request not found / not of this partner
    "402216",  # invalid job id
    "402220",  # job instance not found
    "401861",  # code table not found
})
CONFLICT_CODES = frozenset({"402113", "411709"})
AUTH_CODES = frozenset({"UNAUTHORIZED", "INVALID_API_KEY", "API_KEY_NOT_VALID"})
PER_SECOND = "PER_SECOND_THRESHOLD"
DAILY_CODES = frozenset({"DAILY_THRESHOLD", "DAILY_THRESHOLD_EXCEEDED"})


def first_error(body: Any) -> tuple[str, str, str]:
    """(errorCode, errorMessage, trackingId) from Alma's ``web_service_result`` envelope, if any."""
    try:
        err = body["errorList"]["error"]
        if isinstance(err, list):
            err = err[0]
        return str(err.get("errorCode", "")), str(err.get("errorMessage", "")).strip(), str(err.get("trackingId", ""))
    except (KeyError, TypeError, IndexError, AttributeError):
        return "", "", ""


def from_response(status: int, body: Any) -> AlmaError:
    code, message, tracking = first_error(body)
    message = message or f"Alma answered HTTP {status}"
    kw: dict[str, Any] = {"status": status, "code": code, "tracking_id": tracking}
    if code in AUTH_CODES or status in (401, 403):
        return AlmaAuthError(message, **kw)
    if code == PER_SECOND:
        return AlmaRateLimited(message, **kw)
    if code in DAILY_CODES or (status == 429 and code != PER_SECOND):
        return AlmaQuotaExceeded(message, **kw)
    if status >= 500:
        return AlmaUnavailable(message, **kw)
    if code in NOT_FOUND_CODES or status == 404:
        return AlmaNotFound(message, **kw)
    if code in CONFLICT_CODES:
        return AlmaConflict(message, **kw)
    return AlmaBadRequest(message, **kw)


def sentence(exc: AlmaError, institution: str = "") -> str:
    """A sentence for staff; never leaks keys."""
    where = f" at {institution}" if institution else ""
    if isinstance(exc, AlmaAuthError):
        return (f"Alma{where} refused the bot's API key. Ask your Alma administrator to check the key and its "
                "permissions (Developer Network).")
    if isinstance(exc, AlmaQuotaExceeded):
        return f"The daily Alma API quota{where} is used up; lookups will work again after it resets."
    if isinstance(exc, AlmaRateLimited):
        return f"Alma{where} is asking us to slow down (too many calls per second). Please try again in a moment."
    if isinstance(exc, AlmaUnavailable):
        return f"Alma{where} is not answering right now ({exc.message}). Please try again in a few minutes."
    if isinstance(exc, AlmaNotFound):
        return f"Alma{where} has no such record ({exc.message})."
    if isinstance(exc, AlmaConflict):
        return f"Alma{where} says that record already exists: {exc.message}"
    return f"Alma{where} rejected the request: {exc.message}"
