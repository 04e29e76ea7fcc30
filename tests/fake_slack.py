"""A local stand-in for Slack's Web API and response URLs (for tests and benchmarks, the way Bolt tests
itself): it records what the
bot sends and checks every message against Block Kit's rules (via slack_sdk's models)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from slack_sdk.models.blocks import Block


def validate_view(view: Any) -> list[str]:
    """Problems with a Home tab or modal view (empty when it is valid)."""
    from slack_sdk.models.views import View

    if isinstance(view, str):
        view = json.loads(view)
    if not isinstance(view, dict):
        return ["no view"]
    problems = []
    blocks = view.get("blocks") or []
    if len(blocks) > 100:
        problems.append(f"{len(blocks)} blocks in a view")
    try:
        View(**view).to_dict()
        for blk in Block.parse_all(blocks):
            blk.to_dict()
    except Exception as exc:
        problems.append(f"invalid view: {exc}")
    return problems + _pings(view)


def _pings(payload: dict[str, Any]) -> list[str]:
    """Broadcast mentions anywhere in an outgoing payload (none may come from the bot)."""
    text = json.dumps(payload)
    return [f"contains {ping}" for ping in ("<!channel>", "<!here>", "<!everyone>") if ping in text]


def validate_message(msg: dict[str, Any]) -> list[str]:
    """Problems with one outgoing message (empty when it is valid)."""
    problems = []
    blocks = msg.get("blocks")
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    if not (msg.get("text") or "").strip():
        problems.append("no top-level text fallback")
    if blocks:
        if len(blocks) > 50:
            problems.append(f"{len(blocks)} blocks")
        for b in blocks:
            ids = [e.get("action_id") for e in b.get("elements", []) if isinstance(e, dict) and e.get("action_id")]
            if len(ids) != len(set(ids)):
                problems.append(f"repeated action_id in one block: {ids}")
        try:
            for blk in Block.parse_all(blocks):
                blk.to_dict()  # validates lengths and required fields
        except Exception as exc:
            problems.append(f"invalid blocks: {exc}")
    return problems + _pings(msg)


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.problems: list[str] = []
        self.lock = threading.Lock()
        self.fail: dict[str, str] = {}  # method -> Slack error to answer with
        self.fail_thread_replies = ""  # a Slack error for chat.postMessage calls with a thread_ts
        self.fail_in: dict[str, str] = {}  # channel -> Slack error for posts there (not_in_channel, …)
        self.channels: dict[str, dict[str, Any]] = {}  # conversations.info answers, by channel id
        self.hold: dict[str, threading.Event] = {}  # method -> answered only once the event is set
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                ctype = self.headers.get("Content-Type", "")
                if "json" in ctype:
                    body = json.loads(raw or b"{}")
                else:
                    body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                method = self.path.rsplit("/", 1)[-1] if self.path.startswith("/api/") else "response_url"
                with fake.lock:
                    fake.calls.append({"method": method, "path": self.path, "body": body, "at": time.perf_counter()})
                    if method in ("chat.postMessage", "chat.update", "response_url", "chat.postEphemeral"):
                        fake.problems += [f"{method}: {p}" for p in validate_message(body)]
                    if method in ("views.publish", "views.open"):
                        fake.problems += [f"{method}: {p}" for p in validate_view(body.get("view"))]
                if method in fake.hold:
                    fake.hold[method].wait(30)
                channel = str(body.get("channel", ""))
                if method in fake.fail:
                    out: dict[str, Any] = {"ok": False, "error": fake.fail[method]}
                elif fake.fail_thread_replies and method == "chat.postMessage" and body.get("thread_ts"):
                    out = {"ok": False, "error": fake.fail_thread_replies}
                elif method.startswith("chat.") and channel in fake.fail_in:
                    out = {"ok": False, "error": fake.fail_in[channel]}
                elif method == "conversations.info":
                    info = fake.channels.get(channel)
                    out = {"ok": True, "channel": info} if info is not None else \
                        {"ok": False, "error": "channel_not_found"}
                elif method == "auth.test":
                    out = {"ok": True, "url": "https://example.slack.com/", "team": "Test", "user": "p2p-bot",
                           "team_id": "T0001", "user_id": "UBOT", "bot_id": "BBOT"}
                elif method == "chat.postMessage":
                    out = {"ok": True, "channel": body.get("channel"), "ts": f"{time.time():.6f}",
                           "message": {"text": body.get("text")}}
                else:
                    out = {"ok": True}
                data = json.dumps(out).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> FakeSlack:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def of(self, method: str) -> list[dict[str, Any]]:
        with self.lock:
            return [c["body"] for c in self.calls if c["method"] == method]

    def wait_for(self, pred: Callable[[], bool], timeout: float = 10.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if pred():
                return True
            time.sleep(0.02)
        return pred()
