"""Alma webhooks: ``GET /alma/webhook?challenge=X`` answers the challenge; ``POST`` must carry
``X-Exl-Signature`` = base64(HMAC-SHA256(ALMA_WEBHOOK_SECRET, raw body)). Only ``JOB_END`` events are kept
(Alma sends one for every job in the institution); the morning check uses them, polling is the backstop.
A refused delivery is logged without its body."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs
from wsgiref.types import StartResponse, WSGIEnvironment

from sqlalchemy import insert

from bot.core.services import Services
from bot.edges.store import Store, utcnow, webhook_events

log = logging.getLogger(__name__)
MAX_BODY = 1_000_000


def signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify(secret: str, body: bytes, given: str | None) -> bool:
    if not secret or not given:
        return False
    return hmac.compare_digest(signature(secret, body), given.strip())


def _reply(start_response: StartResponse, status: str, body: dict[str, Any]) -> list[bytes]:
    raw = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(raw)))])
    return [raw]


def record(store: Store, payload: dict[str, Any], institution: str = "") -> bool:
    """Keep a JOB_END event; False for other actions."""
    if str(payload.get("action", "")).upper() != "JOB_END":
        return False
    inst = payload.get("job_instance") or {}
    with store.begin() as conn:
        conn.execute(insert(webhook_events).values(
            received_at=utcnow(), event_id=str(payload.get("id", ""))[:128], action="JOB_END",
            job_id=str((inst.get("job_info") or {}).get("id", ""))[:64], instance_id=str(inst.get("id", ""))[:64],
            institution=institution[:64], payload=json.dumps(payload)))
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
    if not verify(services.settings.alma_webhook_secret, body, given):
        log.warning("refused an Alma webhook: %s signature (%d bytes)", "missing" if not given else "bad", len(body))
        return _reply(start_response, "401 Unauthorized", {"error": "invalid signature"})
    try:
        payload = json.loads(body)
    except ValueError:
        return _reply(start_response, "400 Bad Request", {"error": "body is not JSON"})
    inst = (query.get("institution") or [""])[0]
    kept = record(services.store, payload if isinstance(payload, dict) else {}, inst)
    return _reply(start_response, "200 OK", {"ok": True, "recorded": kept})
