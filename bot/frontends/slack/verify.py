"""Is this request from Slack? Checked on the raw bytes before anything parses them.

Slack signs every request: ``X-Slack-Signature`` = ``v0=`` + hex(HMAC-SHA256(signing secret,
``v0:{timestamp}:{body}``)) with ``X-Slack-Request-Timestamp`` in whole seconds. A missing, non-integer or
stale (over five minutes either way) timestamp, or a bad signature, is refused before Bolt sees the body,
so nothing in an unverified body (its ``response_url`` above all) is ever used.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping

MAX_AGE = 5 * 60  # seconds, Slack's own rule
_STAMP = re.compile(r"[0-9]{1,12}")  # ASCII digits only: int() would also take ' 12', '1_2' and '١٢'


def timestamp_ok(stamp: str | None, now: Callable[[], float] = time.time) -> bool:
    """Present, whole seconds in ASCII digits, and within five minutes of now."""
    if stamp is None or not _STAMP.fullmatch(stamp):
        return False
    return abs(now() - int(stamp)) <= MAX_AGE


def verified(secret: str, body: bytes, headers: Mapping[str, str],
             now: Callable[[], float] = time.time) -> bool:
    """True only for a request signed with ``secret`` within the last five minutes.
    ``headers`` are looked up by their lower-case names (``x-slack-request-timestamp``)."""
    stamp = headers.get("x-slack-request-timestamp")
    signature = headers.get("x-slack-signature")
    if not secret.strip() or not signature or not timestamp_ok(stamp, now):
        return False
    assert stamp is not None  # timestamp_ok said so
    given = signature.encode("utf-8", "replace")  # compare_digest refuses non-ASCII str
    return hmac.compare_digest(signature_for(secret, stamp, body).encode(), given)


def signature_for(secret: str, stamp: str, body: bytes) -> str:
    """Slack's v0 signature, on the raw bytes (slack_sdk's SignatureVerifier would first decode them as
    UTF-8 and raise on anything else, which must be a refusal here, not an exception)."""
    mac = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
    return "v0=" + mac.hexdigest()
