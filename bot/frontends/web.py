"""HTTP mode: one WSGI app for Slack (``POST /slack/events``), Alma webhooks (``/alma/webhook``) and
``GET /healthz``, served by waitress.

Nothing unverified gets through: a body over ``MAX_BODY`` is refused with 413 before it is read (waitress
refuses it too), a Slack request is checked (timestamp, signature) on its raw bytes with 401 before Bolt
parses it, and a verified body that is not a Slack payload (not UTF-8, ``payload`` not a JSON object, no
actions) gets a 400. Request bodies are never logged.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

from bot.core.services import Services
from bot.frontends.slack import register
from bot.frontends.slack.verify import verified

log = logging.getLogger(__name__)
MAX_BODY = 1_048_576  # 1 MB: Slack's own payloads are a few KB; Alma's webhooks are small too


class WithholdBodies(logging.Filter):
    """Bolt puts whole request bodies into some log lines ("Invalid request signature detected (... body:
    ...)" at INFO, "did not call ack() ... ({body})" at WARNING). Keep the sentence, drop the body."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if "body" in msg or "{" in msg:
            head = msg.split("(", 1)[0].strip()
            record.msg, record.args = f"{head} (request details withheld)", None
        return True


# Bolt's own loggers copy the filters of the logger given to the App, so this one filter covers them all
BOLT_LOG = logging.getLogger("bot.frontends.bolt")
BOLT_LOG.addFilter(WithholdBodies())
StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def build_app(services: Services, client: WebClient | None = None) -> App:
    """The Bolt app (sync), wired to the services; Slack's Web API base URL comes from settings."""
    s = services.settings
    web = client or WebClient(token=s.slack_bot_token or None, base_url=s.slack_api_url)
    app = App(
        signing_secret=s.slack_signing_secret or None,
        client=web,
        token_verification_enabled=False,  # auth.test happens on the first request, not at import time
        process_before_response=False,  # ack() answers Slack at once; the listener goes on in a thread
        listener_executor=services.listeners,
        logger=BOLT_LOG,
    )
    register(app, services)
    return app


def _json(start_response: StartResponse, status: str, body: dict[str, Any]) -> list[bytes]:
    raw = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(raw)))])
    return [raw]


def read_body(environ: dict[str, Any]) -> bytes | None:
    """The request body, or None when it is over ``MAX_BODY`` (checked before reading, and while reading)."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if length < 0 or length > MAX_BODY:
        return None
    body: bytes = environ["wsgi.input"].read(length) if length else b""
    return body


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    return {k[5:].lower().replace("_", "-"): str(v) for k, v in environ.items() if k.startswith("HTTP_")}


def payload_problem(body: bytes, content_type: str) -> str:
    """Why a verified body cannot be a Slack payload ('' when it can): Bolt would fail on it with a 500."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "body is not UTF-8"
    if content_type.startswith("application/json"):
        try:
            data = json.loads(text) if text else None
        except ValueError:
            return "body is not JSON"
        return "" if isinstance(data, dict) else "body is not a JSON object"
    from urllib.parse import parse_qs

    try:
        form = parse_qs(text, errors="strict")
    except (ValueError, UnicodeDecodeError):
        return "body is not a form"
    if "payload" not in form:
        return ""
    try:
        payload = json.loads(form["payload"][0])
    except ValueError:
        return "payload is not JSON"
    if not isinstance(payload, dict):
        return "payload is not a JSON object"
    if payload.get("type") == "block_actions":
        actions = payload.get("actions")
        if not isinstance(actions, list) or not actions or not all(isinstance(a, dict) for a in actions):
            return "no actions"
    return ""


def slack_gate(environ: dict[str, Any], secret: str) -> tuple[str, str] | None:
    """(status, error) when a request to /slack/events must be refused; None to hand it to Bolt, whose
    ``wsgi.input`` then holds the very bytes that were verified."""
    if environ.get("REQUEST_METHOD") != "POST":
        return "405 Method Not Allowed", "method not allowed"
    body = read_body(environ)
    if body is None:
        return "413 Payload Too Large", "too large"
    if not verified(secret, body, _headers(environ)):
        log.warning("refused an unverified Slack request (%d bytes)", len(body))
        return "401 Unauthorized", "invalid request"
    problem = payload_problem(body, str(environ.get("CONTENT_TYPE") or ""))
    if problem:
        log.warning("refused a signed Slack request: %s (%d bytes)", problem, len(body))
        return "400 Bad Request", problem
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return None


def make_wsgi(app: App, services: Services) -> WSGIApp:
    bolt = SlackRequestHandler(app)
    secret = services.settings.slack_signing_secret

    def wsgi(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/slack/events":
            refused = slack_gate(environ, secret)
            if refused is not None:
                return _json(start_response, refused[0], {"ok": False, "error": refused[1]})
            return bolt(environ, start_response)  # type: ignore[no-any-return]
        if path == "/healthz" and method in ("GET", "HEAD"):
            try:
                version = services.store.schema_version()
                return _json(start_response, "200 OK", {"ok": True, "schema": version,
                                                        "topics": len(services.engine.topics)})
            except Exception as exc:  # health must report, not crash
                return _json(start_response, "503 Service Unavailable", {"ok": False, "error": type(exc).__name__})
        if path == "/alma/webhook":
            from bot.frontends.webhook import handle_webhook

            if method == "POST":  # capped here, before the endpoint reads anything
                body = read_body(environ)
                if body is None:
                    return _json(start_response, "413 Payload Too Large", {"ok": False, "error": "too large"})
                environ["wsgi.input"] = io.BytesIO(body)
                environ["CONTENT_LENGTH"] = str(len(body))
            return handle_webhook(environ, start_response, services)
        return _json(start_response, "404 Not Found", {"ok": False, "error": "not_found"})

    return wsgi


def serve(services: Services, host: str, port: int, threads: int = 16) -> None:
    import waitress

    wsgi = make_wsgi(build_app(services), services)
    log.info("p2p-bot listening on http://%s:%s (POST /slack/events, /alma/webhook, GET /healthz)", host, port)
    waitress.serve(wsgi, host=host, port=port, **server_options(threads))


def server_options(threads: int = 16) -> dict[str, Any]:
    """waitress settings, shared with the tests' server: bodies over MAX_BODY are refused by waitress too."""
    return {"threads": threads, "ident": "p2p-bot", "max_request_body_size": MAX_BODY}
