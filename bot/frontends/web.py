"""HTTP mode: one WSGI app for Slack (``POST /slack/events``), Alma webhooks (``/alma/webhook``) and
``GET /healthz``, served by waitress."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

from bot.core.services import Services

log = logging.getLogger(__name__)
StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def build_app(services: Services, client: WebClient | None = None) -> App:
    """The Bolt app (sync), wired to the services; Slack's Web API base URL comes from settings."""
    from bot.frontends.slack import register

    s = services.settings
    web = client or WebClient(token=s.slack_bot_token or None, base_url=s.slack_api_url)
    app = App(
        signing_secret=s.slack_signing_secret or None,
        client=web,
        token_verification_enabled=False,  # auth.test happens on the first request, not at import time
        process_before_response=False,  # ack() answers Slack at once; the listener goes on in a thread
        listener_executor=ThreadPoolExecutor(max_workers=64, thread_name_prefix="p2p-listener"),
    )
    register(app, services)
    return app


def _json(start_response: StartResponse, status: str, body: dict[str, Any]) -> list[bytes]:
    raw = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(raw)))])
    return [raw]


def make_wsgi(app: App, services: Services) -> WSGIApp:
    bolt = SlackRequestHandler(app)

    def wsgi(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/slack/events":
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

            return handle_webhook(environ, start_response, services)
        return _json(start_response, "404 Not Found", {"ok": False, "error": "not_found"})

    return wsgi


def serve(services: Services, host: str, port: int, threads: int = 16) -> None:
    import waitress

    wsgi = make_wsgi(build_app(services), services)
    log.info("p2p-bot listening on http://%s:%s (POST /slack/events, /alma/webhook, GET /healthz)", host, port)
    waitress.serve(wsgi, host=host, port=port, threads=threads, ident="p2p-bot")
