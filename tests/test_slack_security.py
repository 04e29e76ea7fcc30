"""Nothing unverified gets through (issue 11, items 1 and 2): over HTTP as an attacker would send it, and
in-process through Bolt's own dispatch for the error handler behind the gate."""

from __future__ import annotations

import io
import json
import logging
import socket
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_bolt import BoltRequest
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import select

from bot.edges.store import walkthroughs
from bot.frontends.slack.verify import signature_for, timestamp_ok, verified
from bot.frontends.web import MAX_BODY, make_wsgi
from tests.slack_harness import SECRET, SlackHarness

# every kind of timestamp an attacker might try; int() accepts some of them ('١٢٣', ' 12', '1_2')
HOSTILE_STAMPS = ["", "abc", "1e9", "-5", "12.5", "+1700000000", "1_700_000_000", "١٧٠٠٠٠٠٠٠٠",
                  "9" * 40, "0", "NaN", "0x10"]


def command_form(response_url: str, text: str = "walk borrow-receive") -> str:
    return urlencode({"token": "legacy", "team_id": "T0001", "channel_id": "C123", "user_id": "U111",
                      "command": "/p2p", "text": text, "response_url": response_url, "trigger_id": "t-attack"})


def action_form(response_url: str) -> str:
    payload = {"type": "block_actions", "user": {"id": "U111"}, "channel": {"id": "C123"},
               "response_url": response_url, "trigger_id": "t-attack",
               "actions": [{"action_id": "no_such_action", "value": "x", "action_ts": "1.2"}]}
    return urlencode({"payload": json.dumps(payload)})


def raw_post(slack: SlackHarness, body: bytes, headers: dict[str, Any]) -> Any:
    headers = {"Content-Type": "application/x-www-form-urlencoded", **headers}
    return slack.http.post(f"{slack.url}/slack/events", content=body, headers=headers)


def test_timestamp_rule() -> None:
    now = 1_700_000_000.0
    assert timestamp_ok("1700000000", lambda: now)
    assert timestamp_ok(str(int(now) - 300), lambda: now)
    assert not timestamp_ok(str(int(now) - 301), lambda: now)
    assert not timestamp_ok(str(int(now) + 301), lambda: now)
    assert not timestamp_ok(None, lambda: now)
    assert not timestamp_ok(" 1700000000", lambda: now)
    for bad in HOSTILE_STAMPS:
        assert not timestamp_ok(bad, lambda: now), bad


def test_signature_rule() -> None:
    stamp = str(int(time.time()))
    body = b"a=1"
    good = SignatureVerifier(SECRET).generate_signature(timestamp=stamp, body=body)
    assert good is not None
    heads = {"x-slack-request-timestamp": stamp, "x-slack-signature": good}
    assert verified(SECRET, body, heads)
    assert not verified(SECRET, b"a=2", heads)
    assert not verified("another-secret", body, heads)
    assert not verified("", body, heads)
    assert not verified(SECRET, body, {"x-slack-request-timestamp": stamp})
    assert not verified(SECRET, body, {**heads, "x-slack-signature": "v0=é"})
    assert not verified(SECRET, b"\xff\xfe", heads)  # not UTF-8: refused, not an exception
    assert signature_for(SECRET, stamp, body) == good  # the same as Slack's own SDK computes


def test_unsigned_requests_with_any_timestamp_cause_no_outbound_call(slack: SlackHarness) -> None:
    listener = f"{slack.fake.url}/response/attacker"  # a local listener stands for "any URL"
    bodies = [command_form(listener).encode(), action_form(listener).encode()]
    for stamp in [*HOSTILE_STAMPS, str(int(time.time()) - 301), str(int(time.time()) + 400)]:
        for body in bodies:
            for sig in ("v0=" + "0" * 64, "", "garbage"):
                r = raw_post(slack, body, {"X-Slack-Request-Timestamp": stamp.encode(), "X-Slack-Signature": sig})
                assert r.status_code == 401, (stamp, sig, r.status_code)
        r = raw_post(slack, bodies[0], {})  # no headers at all
        assert r.status_code == 401
    # the only way the old hole fired was synchronously inside the request; and nothing reached Bolt at all
    assert slack.fake.calls == []
    with slack.services.store.engine.connect() as conn:
        assert conn.execute(select(walkthroughs)).all() == []


def test_the_error_handler_behind_the_gate_does_not_trust_the_body(slack: SlackHarness, caplog: Any) -> None:
    """Even handed straight to Bolt (no WSGI gate), a non-numeric timestamp makes no call to the body's URL."""
    caplog.set_level(logging.DEBUG)
    listener = f"{slack.fake.url}/response/attacker"
    for body in (command_form(listener), action_form(listener)):
        for stamp in ("abc", "", "1e9"):
            resp = slack.app.dispatch(BoltRequest(body=body, headers={
                "content-type": "application/x-www-form-urlencoded",
                "x-slack-request-timestamp": stamp, "x-slack-signature": "v0=" + "0" * 64}))
            assert resp.status in (401, 500)
    assert slack.fake.calls == []
    assert "t-attack" not in caplog.text  # nor did the body reach the log


def test_bolts_own_verifier_logs_no_body(slack: SlackHarness, caplog: Any) -> None:
    """Handed straight to Bolt with a well-formed but wrong signature, Bolt logs its refusal at INFO: the
    sentence stays, the body (which may hold anything) does not."""
    caplog.set_level(logging.DEBUG)
    body = command_form(f"{slack.fake.url}/response/attacker", text="secret-looking-text-4242")
    resp = slack.app.dispatch(BoltRequest(body=body, headers={
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": str(int(time.time())), "x-slack-signature": "v0=" + "0" * 64}))
    assert resp.status == 401
    assert "Invalid request signature" in caplog.text  # Bolt did log its refusal
    assert "secret-looking-text-4242" not in caplog.text and "response_url" not in caplog.text
    assert slack.fake.calls == []


def test_a_signed_request_still_works(slack: SlackHarness) -> None:
    r = slack.command("help", over_http=True)
    assert r.status_code == 200 and "What I can do" in r.text


def test_a_5_mb_body_is_refused_before_it_is_read(slack: SlackHarness, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    big = 5 * 1024 * 1024
    # waitress answers 413 from the headers alone: the body is never sent, and the answer still comes
    with socket.create_connection(("127.0.0.1", slack.server.effective_port), timeout=10) as s:  # type: ignore[union-attr]
        s.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"X-Slack-Request-Timestamp: 1\r\nContent-Length: " + str(big).encode() + b"\r\n\r\n" + b"{" * 1024)
        answer = s.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:80]
    # and sent in full, it is refused the same way with nothing big in the log
    r = raw_post(slack, b"x" * big, {"X-Slack-Request-Timestamp": "1", "X-Slack-Signature": "v0=0"})
    assert r.status_code == 413
    assert max((len(rec.getMessage()) for rec in caplog.records), default=0) < 1000
    assert slack.fake.calls == []


def test_the_wsgi_layer_caps_bodies_without_reading_them(slack: SlackHarness) -> None:
    """The cap holds behind any server: the WSGI app refuses on Content-Length and never touches the input."""
    class Unreadable(io.RawIOBase):
        def read(self, n: int = -1) -> bytes:
            raise AssertionError("the body was read")

    wsgi = make_wsgi(slack.app, slack.services)
    for path in ("/slack/events", "/alma/webhook"):
        seen: list[str] = []
        environ = {"PATH_INFO": path, "REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(MAX_BODY + 1),
                   "CONTENT_TYPE": "application/json", "wsgi.input": Unreadable(), "QUERY_STRING": ""}
        b"".join(wsgi(environ, lambda status, headers, *a, seen=seen: seen.append(status)))
        assert seen == ["413 Payload Too Large"], path


def signed_raw(slack: SlackHarness, body: bytes, ctype: str) -> Any:
    stamp = str(int(time.time()))
    sig = signature_for(SECRET, stamp, body)
    return slack.http.post(f"{slack.url}/slack/events", content=body, headers={
        "Content-Type": ctype, "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": sig})


FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize("body,ctype", [
    (b"text=\xff\xfe&command=/p2p", FORM),  # not UTF-8
    (b"payload=%FF%FE", FORM),  # percent-encoded bytes that are not UTF-8
    (urlencode({"payload": "{not json"}).encode(), FORM),
    (urlencode({"payload": "[1, 2]"}).encode(), FORM),
    (urlencode({"payload": '"a string"'}).encode(), FORM),
    (urlencode({"payload": json.dumps({"type": "block_actions", "actions": []})}).encode(), FORM),
    (urlencode({"payload": json.dumps({"type": "block_actions", "actions": [1]})}).encode(), FORM),
    (urlencode({"payload": json.dumps({"type": "block_actions"})}).encode(), FORM),
    (b"[1, 2, 3]", "application/json"),
    (b"{nope", "application/json"),
    (b"\xff", "application/json"),
])
def test_signed_garbage_gets_a_400_not_a_traceback(slack: SlackHarness, caplog: Any, body: bytes,
                                                   ctype: str) -> None:
    caplog.set_level(logging.DEBUG)
    r = signed_raw(slack, body, ctype)
    assert r.status_code == 400, r.text
    assert not [rec for rec in caplog.records if rec.exc_info], "a traceback was logged"
    assert slack.fake.calls == []


def test_webhook_bodies_are_capped_too(slack: SlackHarness) -> None:
    r = slack.http.post(f"{slack.url}/alma/webhook", content=b"{" + b" " * (2 * MAX_BODY) + b"}",
                        headers={"Content-Type": "application/json", "X-Exl-Signature": "x"})
    assert r.status_code == 413


def test_the_slack_path_takes_only_post(slack: SlackHarness) -> None:
    assert slack.http.get(f"{slack.url}/slack/events").status_code == 405
