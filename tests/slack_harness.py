"""The real app, signed like Slack signs, talking to a FakeSlack.

Requests go in-process through Bolt's own dispatch (``app.dispatch(BoltRequest(...))``, the way Bolt tests
itself) by default, or over HTTP through waitress and the WSGI gate (``over_http=True``) for the end-to-end
scenarios and everything about verification."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from typing import Any
from urllib.parse import urlencode

from slack_bolt import BoltRequest
from slack_sdk.signature import SignatureVerifier
from waitress.server import create_server

from bot.core.services import Services
from bot.edges.alma.client import make_http_client
from bot.frontends.web import build_app, make_wsgi, server_options
from tests.fake_slack import FakeSlack

SECRET = "test-signing-secret"


class Answered:
    """Bolt's answer to an in-process dispatch, shaped like an HTTP response."""

    def __init__(self, status: int, body: str) -> None:
        self.status_code = status
        self.text = body

    def json(self) -> Any:
        return json.loads(self.text)


class SlackHarness:
    def __init__(self, services: Services, fake: FakeSlack, over_http: bool = False) -> None:
        self.over_http = over_http
        self.services = services
        self.fake = fake
        self.app = build_app(services)
        self.server = create_server(make_wsgi(self.app, services), host="127.0.0.1", port=0,
                                    **server_options(threads=8))
        self.thread = threading.Thread(target=self._run, daemon=True)
        self._stopping = False
        self.http = make_http_client(timeout=10)
        self._n = 0
        self.sandbox: Any = None  # the Alma sandbox behind the settings, when a test needs to look at it

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.effective_port}"  # type: ignore[union-attr]

    def start(self) -> SlackHarness:
        self.thread.start()
        return self

    def _run(self) -> None:
        try:
            self.server.run()
        except (OSError, ValueError):
            # closing waitress from another thread interrupts its select loop on a closed socket
            if not self._stopping:
                raise

    def stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        self.http.close()  # waitress's loop ends once its listening socket and every connection are closed
        # close from inside waitress's loop (a trigger wakes its select at once); closed from here, the loop
        # would only notice at its next one-second select timeout
        try:
            self.server.trigger.pull_trigger(self.server.close)  # type: ignore[union-attr]
        except OSError:  # the loop already ended and closed its trigger (a race seen on loaded CI machines)
            with contextlib.suppress(OSError):
                self.server.close()
        self.thread.join(timeout=5)
        # its request threads too: closing the server leaves them waiting for work (8 idle threads per test)
        self.server.task_dispatcher.shutdown()  # type: ignore[union-attr]

    def command(self, text: str, user: str = "U111", trigger: str | None = None, channel: str = "C123",
                **kw: Any) -> Any:
        self._n += 1
        form = {"token": "legacy", "team_id": "T0001", "team_domain": "test", "channel_id": channel,
                "channel_name": "ill", "user_id": user, "user_name": "staff", "command": "/p2p", "text": text,
                "api_app_id": "A0001", "response_url": f"{self.fake.url}/response/cmd{self._n}",
                "trigger_id": trigger or f"trig-{self._n}-{time.time()}"}
        return self._post(urlencode(form), "application/x-www-form-urlencoded", **kw)

    def click(self, action_id: str, value: str, user: str = "U111", action_ts: str | None = None,
              response: str | None = None, message_ts: str = "1.1", home: bool = False, **kw: Any) -> Any:
        """A button press on a message (or, with ``home``, on the App Home tab: no channel, no response_url)."""
        self._n += 1
        payload: dict[str, Any] = {
            "type": "block_actions", "team": {"id": "T0001"}, "user": {"id": user, "username": "staff"},
            "api_app_id": "A0001", "token": "legacy", "trigger_id": f"t{self._n}",
            "container": {"type": "message", "message_ts": message_ts, "channel_id": "C123", "is_ephemeral": True},
            "channel": {"id": "C123", "name": "ill"},
            "response_url": response or f"{self.fake.url}/response/act{self._n}",
            "actions": [{"type": "button", "action_id": action_id, "block_id": "b1", "value": value,
                         "action_ts": action_ts or f"{time.time():.6f}{self._n}"}],
        }
        if home:
            payload["container"] = {"type": "view", "view_id": "VHOME"}
            payload["view"] = {"id": "VHOME", "type": "home", "blocks": []}
            del payload["channel"], payload["response_url"]
        return self._post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded", **kw)

    def submit(self, callback_id: str, text: str, user: str = "U111", view_id: str | None = None, **kw: Any) -> Any:
        """A modal's Submit (view_submission) with one text field, as the Home tab's modals have."""
        self._n += 1
        payload = {"type": "view_submission", "team": {"id": "T0001"}, "user": {"id": user},
                   "api_app_id": "A0001", "token": "legacy", "trigger_id": f"t{self._n}",
                   "view": {"id": view_id or f"V{self._n}", "hash": f"h{self._n}", "type": "modal",
                            "callback_id": callback_id,
                            "state": {"values": {"q": {"text": {"type": "plain_text_input", "value": text}}}}}}
        return self._post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded", **kw)

    def event(self, event: dict[str, Any], event_id: str, **kw: Any) -> Any:
        body = {"token": "legacy", "team_id": "T0001", "api_app_id": "A0001", "type": "event_callback",
                "event_id": event_id, "event_time": int(time.time()), "event": event,
                "authorizations": [{"team_id": "T0001", "user_id": "UBOT", "is_bot": True}]}
        return self._post(json.dumps(body), "application/json", **kw)

    def _post(self, body: str, ctype: str, *, ts: int | None = None, signature: str | None = None,
              retry: int | None = None, over_http: bool | None = None) -> Any:
        stamp = str(ts if ts is not None else int(time.time()))
        sig = signature or SignatureVerifier(SECRET).generate_signature(timestamp=stamp, body=body)
        headers = {"Content-Type": ctype, "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": sig}
        if retry is not None:
            headers["X-Slack-Retry-Num"] = str(retry)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        if self.over_http if over_http is None else over_http:
            return self.http.post(f"{self.url}/slack/events", content=body.encode(), headers=headers)
        resp = self.app.dispatch(BoltRequest(body=body, headers={k.lower(): v for k, v in headers.items()}))
        return Answered(resp.status, resp.body)

    def drain(self) -> None:
        """Wait for every listener and every piece of background work started so far to finish: the real
        event to wait for before asserting that something did not happen."""
        assert self.services.drain()
