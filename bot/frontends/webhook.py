"""Alma webhooks: ``GET /alma/webhook?challenge=X`` answers the challenge; ``POST`` must carry
``X-Exl-Signature`` = base64(HMAC-SHA256(ALMA_WEBHOOK_SECRET, raw body)). Only ``JOB_END`` events are kept
(Alma sends one for every job in the institution); the morning check uses them, polling is the backstop.

Which institution an event is about comes from signed data only: an institution whose own Webhooks profile
has its own secret (``webhook_secret_env``) is known by the signature itself, and only that secret speaks
for it (an event signed with the shared secret that is about such an institution is refused); otherwise the payload's
``institution.value`` (Alma's code such as ``01WRLC_GWA``) is mapped through each institution's
``alma_institution_code``. The query string is not signed, so it is never trusted. With a single
configured institution and no mapping, events are that institution's; an event naming no configured
institution is acknowledged and not kept (logged, so the mapping can be added). A delivery seen before
(Alma retries after 1, 3 and 6 hours; by event ``id``, else by body) is acknowledged and ignored. Stored
deliveries are pruned by the clock after ``bot.retention_days``. A refused delivery is logged without its
body."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qs
from wsgiref.types import StartResponse, WSGIEnvironment

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from bot.core.services import Services
from bot.edges.settings import Institution
from bot.edges.store import Store, processed_events, utcnow, webhook_events

log = logging.getLogger(__name__)
MAX_BODY = 1_000_000


def signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify(secret: str, body: bytes, given: str | None) -> bool:
    if not secret or not given:
        return False
    return hmac.compare_digest(signature(secret, body), given.strip())


def _reply(start_response: StartResponse, status: str, body: Mapping[str, object]) -> list[bytes]:
    raw = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(raw)))])
    return [raw]


def alma_code(payload: Mapping[str, object]) -> str:
    """Alma's institution code as the payload carries it (``{"value": ..}`` or a plain string)."""
    raw = payload.get("institution")
    value = raw.get("value") if isinstance(raw, dict) else raw
    return str(value or "").strip()


def institution_for(payload: Mapping[str, object], institutions: tuple[Institution, ...]) -> Institution | None:
    """The configured institution a signed payload is about, or None when it names none of them."""
    code = alma_code(payload).lower()
    if code:
        found = next((i for i in institutions if i.alma_code and i.alma_code.lower() == code), None)
        if found is not None:
            return found
    if len(institutions) == 1 and not institutions[0].alma_code:
        return institutions[0]  # one institution and no mapping: nothing else it could be about
    return None


MAX_KEY = 255  # processed_events.key


def delivery_key(payload: Mapping[str, object], body: bytes) -> str:
    """The dedupe key: the event id (hashed when it would not fit, so two long ids never share a key), else
    the body's hash."""
    event_id = str(payload.get("id") or "").strip()
    key = "alma-webhook:" + (event_id or "sha256:" + hashlib.sha256(body).hexdigest())
    if len(key) > MAX_KEY:
        key = "alma-webhook:id-sha256:" + hashlib.sha256(event_id.encode("utf-8", "replace")).hexdigest()
    return key


def record(store: Store, payload: Mapping[str, object], institution: str = "", key: str = "") -> bool:
    """Keep a JOB_END event once; False for other actions and for a delivery already kept (``key``)."""
    if str(payload.get("action", "")).upper() != "JOB_END":
        return False
    inst = payload.get("job_instance")
    inst = inst if isinstance(inst, dict) else {}
    info = inst.get("job_info")
    info = info if isinstance(info, dict) else {}
    try:
        with store.begin() as conn:  # the dedupe key and the event in one transaction: both or neither
            if key:
                conn.execute(insert(processed_events).values(key=key[:255], at=utcnow()))
            conn.execute(insert(webhook_events).values(
                received_at=utcnow(), event_id=str(payload.get("id", ""))[:128], action="JOB_END",
                job_id=str(info.get("id", ""))[:64], instance_id=str(inst.get("id", ""))[:64],
                institution=institution[:64], payload=json.dumps(payload)))
    except IntegrityError:
        return False  # delivered before
    return True


def handle_webhook(environ: WSGIEnvironment, start_response: StartResponse, services: Services) -> Iterable[bytes]:
    method = environ.get("REQUEST_METHOD", "GET")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if method == "GET":
        challenge = (query.get("challenge") or [""])[0]
        if not challenge:
            return _reply(start_response, "400 Bad Request", {"error": "missing challenge"})
        return _reply(start_response, "200 OK", {"challenge": challenge})
    if method != "POST":
        return _reply(start_response, "405 Method Not Allowed", {"error": "method not allowed"})
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY:
        return _reply(start_response, "413 Payload Too Large", {"error": "too large"})
    body = environ["wsgi.input"].read(length) if length else b""
    given = environ.get("HTTP_X_EXL_SIGNATURE")
    signer = next((i for i in services.settings.institutions if i.webhook_secret and verify(i.webhook_secret, body,
                                                                                           given)), None)
    if signer is None and not verify(services.settings.alma_webhook_secret, body, given):
        log.warning("refused an Alma webhook: %s signature (%d bytes)", "missing" if not given else "bad", len(body))
        return _reply(start_response, "401 Unauthorized", {"error": "invalid signature"})
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        return _reply(start_response, "400 Bad Request", {"error": "body is not JSON"})
    if not isinstance(payload, dict):
        return _reply(start_response, "400 Bad Request", {"error": "body is not a JSON object"})
    if str(payload.get("action", "")).upper() != "JOB_END":
        return _reply(start_response, "200 OK", {"ok": True, "recorded": False})
    inst = signer or institution_for(payload, services.settings.institutions)
    if signer is None and inst is not None and inst.webhook_secret:
        log.warning("refused an Alma webhook for %s: signed with the shared secret, not its own", inst.code)
        return _reply(start_response, "401 Unauthorized", {"error": "invalid signature"})
    if inst is None:
        log.warning("an Alma JOB_END for institution %r matches no configured alma_institution_code; not kept",
                    alma_code(payload)[:64])
        return _reply(start_response, "200 OK", {"ok": True, "recorded": False, "reason": "unknown institution"})
    kept = record(services.store, payload, inst.code, delivery_key(payload, body))
    reply: dict[str, object] = {"ok": True, "recorded": kept}
    if not kept:
        reply["duplicate"] = True
    return _reply(start_response, "200 OK", reply)
