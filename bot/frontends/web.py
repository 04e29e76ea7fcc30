"""HTTP mode: one WSGI app for Slack (``POST /slack/events``), Alma webhooks (``/alma/webhook``) and
``GET /healthz``, served by waitress.

Nothing unverified gets through: a body over ``MAX_BODY`` is refused with 413 before it is read (waitress
refuses it too), a Slack request is checked (timestamp, signature) on its raw bytes with 401 before Bolt
parses it, and a verified body that is not a Slack payload gets a 400: not UTF-8, JSON nested too deep to
parse, a form that Bolt would read as JSON (it starts with ``{``), a repeated field (the gate and Bolt would
read different copies), a blank or non-JSON ``payload``, or any field our listeners read in the wrong shape
(:func:`shape_problem`, the one place those shapes are checked). The gate's own parse is what Bolt then uses:
Bolt 1.x parses a form whose body merely contains the word "payload" (``text=the payload of …``) as empty.
Request bodies are never logged, by us, Bolt or slack_sdk (:class:`WithholdBodies`).
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterable, Mapping
from typing import TypedDict
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from slack_bolt import App, BoltContext, BoltRequest, BoltResponse
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.request.internals import build_context
from slack_sdk import WebClient

from bot.core.services import Services
from bot.frontends.slack import register
from bot.frontends.slack.verify import verified
from commands import load_all

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


# Bolt's own loggers copy the filters of the logger given to the App, so this one filter covers them all;
# slack_sdk's clients log every outgoing body at DEBUG (a lookup card with its patron, a response_url), so
# their loggers get it too (a filter on a logger, not a handler: it holds whatever handlers are attached)
BOLT_LOG = logging.getLogger("bot.frontends.bolt")
BOLT_LOG.addFilter(WithholdBodies())
SDK_LOGS = ("slack_sdk.web.base_client", "slack_sdk.webhook.client", "slack_sdk.web.client", "slack_sdk.http_retry")


class WithholdDetails(logging.Filter):
    """slack_sdk's lines ("Sending a request - url: …/response/…, json_body: {…}", "Received the following
    response - …, body: …"): keep what happened, drop where to and what was in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        head = msg.split(" - ", 1)[0].split(":", 1)[0].split("(", 1)[0].strip()
        if head != msg:
            record.msg, record.args = f"{head} (details withheld)", None
        return True


for _name in SDK_LOGS:
    logging.getLogger(_name).addFilter(WithholdDetails())
PARSED = "p2p.slack_body"  # the environ key where the gate leaves the body it parsed for Bolt


def build_app(services: Services, client: WebClient | None = None) -> App:
    """The Bolt app (sync), wired to the services; Slack's Web API base URL comes from settings."""
    s = services.settings
    web = client or WebClient(token=s.slack_bot_token or None, base_url=s.slack_api_url)
    app = App(
        name="p2p-bot",  # unnamed, Bolt names the app after its caller's file, read from the whole call stack
        signing_secret=s.slack_signing_secret or None,
        client=web,
        token_verification_enabled=False,  # auth.test happens on the first request, not at import time
        process_before_response=False,  # ack() answers Slack at once; the listener goes on in a thread
        listener_executor=services.listeners,
        logger=BOLT_LOG,
    )
    register(app, services)
    return app


def _json(start_response: StartResponse, status: str, body: Mapping[str, object]) -> list[bytes]:
    raw = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(raw)))])
    return [raw]


def read_body(environ: WSGIEnvironment) -> bytes | None:
    """The request body, or None when it is over ``MAX_BODY`` (checked before reading, and while reading)."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if length < 0 or length > MAX_BODY:
        return None
    body: bytes = environ["wsgi.input"].read(length) if length else b""
    return body


def _headers(environ: WSGIEnvironment) -> dict[str, str]:
    return {k[5:].lower().replace("_", "-"): str(v) for k, v in environ.items() if k.startswith("HTTP_")}


def payload_problem(body: bytes, content_type: str) -> str:
    """Why a verified body cannot be a Slack payload ('' when it can): Bolt would fail on it with a 500."""
    return read_payload(body, content_type)[1]


def read_payload(body: bytes, content_type: str) -> tuple[dict[str, object], str]:
    """(what Bolt is to see, '') for a body that is a Slack request, ({}, why not) otherwise. Parsed the way
    Slack sends it: JSON when the content type says so (Bolt's rule: exactly ``application/json`` before any
    ``;``), else a form whose ``payload`` field, when there is one, holds the JSON."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return {}, "body is not UTF-8"
    if content_type.split(";")[0] == "application/json":
        data = _json_object(text)
        if data is None:
            return {}, "body is not a JSON object"
        return data, shape_problem(data)
    if text.startswith("{"):
        return {}, "a form body must not start with '{'"  # Bolt would read it as JSON whatever the type
    from urllib.parse import parse_qsl

    try:
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict")
    except (ValueError, UnicodeDecodeError):
        return {}, "body is not a form"
    form = dict(pairs)
    if len(form) != len(pairs):
        return {}, "a form field is repeated"
    if "payload" not in form:
        if "command" not in form and "ssl_check" not in form:
            return {}, "a form without a payload must be a slash command"
        fields: dict[str, object] = dict(form)
        return fields, ""
    payload = _json_object(form["payload"])
    if payload is None:
        return {}, "payload is not a JSON object"
    return payload, shape_problem(payload)


def _json_object(text: str) -> dict[str, object] | None:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        return None
    return data if isinstance(data, dict) else None


def _bad(data: Mapping[str, object], keys: tuple[str, ...], kind: type | tuple[type, ...]) -> str:
    """The first of ``keys`` present in ``data`` (and not null) that is not of ``kind``."""
    return next((k for k in keys if data.get(k) is not None and not isinstance(data[k], kind)), "")


def shape_problem(data: Mapping[str, object]) -> str:
    """'' when every field our listeners (and Bolt's own routing) read has the shape Slack gives it, else
    what is wrong. Checked once here, so a listener never meets a number where Slack sends a string."""
    bad = _bad(data, ("type", "token", "trigger_id", "response_url", "api_app_id", "event_id", "challenge",
                      "user_id", "channel_id", "team_id", "text"), str)
    bad = bad or _bad(data, ("user", "channel", "container", "view", "event", "message", "state"), dict)
    bad = bad or _bad(data, ("team", "enterprise"), (dict, str))
    bad = bad or _bad(data, ("actions", "authorizations"), list)
    if bad:
        return f"{bad} has the wrong type"
    # the fields above have their types now: read them through isinstance
    authorizations = data.get("authorizations")
    if isinstance(authorizations, list) and any(not isinstance(a, dict) for a in authorizations):
        return "authorizations has the wrong type"
    for part in ("user", "channel", "team"):
        given = data.get(part)
        if isinstance(given, dict) and _bad(given, ("id", "name", "username"), str):
            return f"{part} has the wrong type"
    container = data.get("container")
    container = container if isinstance(container, dict) else {}
    if _bad(container, ("type", "message_ts", "channel_id", "view_id"), str) or \
            _bad(container, ("is_ephemeral",), bool):
        return "container has the wrong type"
    kind = data.get("type")
    if kind == "block_actions":
        actions = data.get("actions")
        if not isinstance(actions, list) or not actions or not all(isinstance(a, dict) for a in actions):
            return "no actions"
        if any(not isinstance(a.get("action_id"), str) or _bad(a, ("value", "action_ts", "block_id", "type"), str)
               for a in actions):
            return "an action has the wrong shape"
    if kind in ("view_submission", "view_closed"):
        view = data.get("view")
        if not isinstance(view, dict) or not isinstance(view.get("callback_id"), str):
            return "no view"
        if _bad(view, ("id", "hash", "type"), str) or _bad(view, ("state",), dict):
            return "view has the wrong shape"
        values = (view.get("state") or {}).get("values")
        if values is not None and (not isinstance(values, dict) or not all(
                isinstance(block, dict) and all(isinstance(el, dict) for el in block.values())
                for block in values.values())):
            return "view state has the wrong shape"
    if kind == "event_callback":
        event = data.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return "no event"
        if _bad(event, ("user", "channel", "text", "ts", "thread_ts", "channel_type", "tab", "subtype", "bot_id",
                        "event_ts"), str):
            return "event has the wrong shape"
    return ""


def slack_gate(environ: WSGIEnvironment, secret: str) -> tuple[str, str] | None:
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
    parsed, problem = read_payload(body, str(environ.get("CONTENT_TYPE") or ""))
    if problem:
        log.warning("refused a signed Slack request: %s (%d bytes)", problem, len(body))
        return "400 Bad Request", problem
    environ[PARSED] = parsed
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return None


class GatedHandler(SlackRequestHandler):
    """Bolt's WSGI adapter, handing Bolt the body the gate parsed (its raw text stays for Bolt's own
    signature check)."""

    def dispatch(self, request: WsgiHttpRequest) -> BoltResponse:
        req = BoltRequest(body=request.get_body(), query=request.query_string, headers=request.get_headers())
        parsed = request.environ.get(PARSED)
        if isinstance(parsed, dict):
            req.body = parsed
            req.context = build_context(BoltContext({}), parsed)
        return self.app.dispatch(req)


def make_wsgi(app: App, services: Services) -> WSGIApplication:
    bolt = GatedHandler(app)
    secret = services.settings.slack_signing_secret

    def wsgi(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
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
    warm_up(services)
    log.info("p2p-bot listening on http://%s:%s (POST /slack/events, /alma/webhook, GET /healthz)", host, port)
    waitress.serve(wsgi, host=host, port=port, **server_options(threads))


def warm_up(services: Services) -> None:
    """Load what every request needs before listening (the answer engine, the store, the sub-commands, the
    lookup service): otherwise the first burst of commands after a (re)start all wait behind that loading and
    their acknowledgements come late."""
    load_all()
    _ = services.store, services.engine, services.lookup


class ServerOptions(TypedDict):
    threads: int
    ident: str
    max_request_body_size: int


def server_options(threads: int = 16) -> ServerOptions:
    """waitress settings, shared with the tests' server: bodies over MAX_BODY are refused by waitress too."""
    return {"threads": threads, "ident": "p2p-bot", "max_request_body_size": MAX_BODY}
