"""Scale-out: two `serve` replicas behind a (simulated) load balancer, one PostgreSQL.

Each replica is the real WSGI app on its own waitress server with its own Services (its own engine and
connection pool, its own thread pools), as two processes would have; requests alternate between them
and everything that must be shared goes through the database: walkthrough state, Slack retry dedupe,
double-click dedupe. Skips only where no PostgreSQL server can be started.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from itertools import count
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import select
from waitress.server import create_server

from bot.core.services import Services
from bot.edges.alma.client import make_http_client
from bot.edges.settings import Settings
from bot.edges.store import walkthroughs
from bot.frontends.web import build_app, make_wsgi, warm_up
from tests.fake_slack import FakeSlack

pytestmark = pytest.mark.xdist_group("postgres")  # one worker, one throwaway server (make test: --dist loadgroup)
SECRET = "replica-signing-secret"
_n = count(1)


class Replica:
    """One `p2p-bot serve` process: its own Services over the shared database URL, on its own port."""

    def __init__(self, settings: Settings) -> None:
        self.services = Services(settings)
        warm_up(self.services)  # as `serve` does before it listens: the first command must not wait for the engine
        self.server = create_server(make_wsgi(build_app(self.services), self.services), host="127.0.0.1", port=0,
                                    threads=4)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        self.http = make_http_client(timeout=10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.effective_port}/slack/events"  # type: ignore[union-attr]

    def post(self, body: str, ctype: str, retry: int | None = None) -> httpx.Response:
        stamp = str(int(time.time()))
        headers = {"Content-Type": ctype, "X-Slack-Request-Timestamp": stamp,
                   "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(timestamp=stamp, body=body)}
        if retry is not None:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        return self.http.post(self.url, content=body.encode(), headers=headers)

    def stop(self) -> None:
        self.http.close()
        self.server.trigger.pull_trigger(self.server.close)  # type: ignore[union-attr]
        self.thread.join(timeout=10)
        self.server.task_dispatcher.shutdown()  # type: ignore[union-attr]  # its idle request threads too
        self.services.close()


@pytest.fixture
def replicas(pg_db: str) -> Iterator[tuple[Replica, Replica, FakeSlack]]:
    fake = FakeSlack().start()
    settings = Settings(database_url=pg_db, slack_bot_token="xoxb-replica", slack_signing_secret=SECRET,
                        slack_api_url=f"{fake.url}/api/")
    a, b = Replica(settings), Replica(settings)
    yield a, b, fake
    a.stop()
    b.stop()
    fake.stop()
    assert fake.problems == [], fake.problems


def command(r: Replica, fake: FakeSlack, text: str) -> dict[str, Any]:
    n = next(_n)
    form = {"token": "legacy", "team_id": "T0001", "team_domain": "test", "channel_id": "C123", "channel_name": "ill",
            "user_id": "U111", "user_name": "staff", "command": "/p2p", "text": text, "api_app_id": "A0001",
            "response_url": f"{fake.url}/response/cmd{n}", "trigger_id": f"trig-{n}"}
    resp = r.post(urlencode(form), "application/x-www-form-urlencoded")
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def click(r: Replica, fake: FakeSlack, action_id: str, value: str, action_ts: str | None = None) -> None:
    n = next(_n)
    payload = {"type": "block_actions", "team": {"id": "T0001"}, "user": {"id": "U111", "username": "staff"},
               "api_app_id": "A0001", "token": "legacy", "trigger_id": f"t{n}",
               "container": {"type": "message", "message_ts": "1.1", "channel_id": "C123", "is_ephemeral": True},
               "channel": {"id": "C123", "name": "ill"}, "response_url": f"{fake.url}/response/act{n}",
               "actions": [{"type": "button", "action_id": action_id, "block_id": "b1", "value": value,
                            "action_ts": action_ts or f"{time.time():.6f}{n}"}]}
    assert r.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded").status_code == 200


def buttons(msg: dict[str, Any]) -> dict[str, str]:
    out = {}
    for b in msg.get("blocks", []):
        for el in b.get("elements", []) if b["type"] == "actions" else []:
            out[el["action_id"]] = el.get("value", "")
        acc = b.get("accessory")
        if acc and acc.get("type") == "button":
            out[acc["action_id"]] = acc.get("value", "")
    return out


def text_of(msg: dict[str, Any]) -> str:
    return json.dumps(msg.get("blocks", []), ensure_ascii=False)


def settle(*rs: Replica) -> None:
    """Wait until every replica has finished all it started (listeners, background work)."""
    while not all(r.services.drain() for r in rs):
        pass


def test_a_walkthrough_advances_consistently_across_replicas(replicas: tuple[Replica, Replica, FakeSlack]) -> None:
    a, b, fake = replicas
    first = command(a, fake, "walk borrow-receive")
    total = len(a.services.engine.by_id["borrow-receive"].steps)
    assert f"Step 1 of {total}" in text_of(first)
    token = buttons(first)["walk_next"]
    click(b, fake, "walk_next", token)  # the next click lands on the other replica
    assert fake.wait_for(lambda: len(fake.of("response_url")) == 1)
    step2 = fake.of("response_url")[-1]
    assert f"Step 2 of {total}" in text_of(step2)
    click(a, fake, "walk_next", token)  # the stale step-1 button, on the first replica: nothing moves
    assert fake.wait_for(lambda: len(fake.of("response_url")) == 2)
    assert f"Step 2 of {total}" in text_of(fake.of("response_url")[-1])
    latest = step2
    for n in range(3, total + 1):  # on to the end, alternating
        k = len(fake.of("response_url"))
        click(a if n % 2 else b, fake, "walk_next", buttons(latest)["walk_next"])
        assert fake.wait_for(lambda k=k: len(fake.of("response_url")) == k + 1), n
        latest = fake.of("response_url")[-1]
        assert f"Step {n} of {total}" in text_of(latest), n
    resumed = command(b, fake, "walk")  # either replica knows where the walk stands
    assert "Resuming" in text_of(resumed) and f"Step {total} of {total}" in text_of(resumed)
    with a.services.store.engine.connect() as conn:
        row = conn.execute(select(walkthroughs)).one()
    assert (row.step, row.status) == (total - 1, "active")


def test_a_retried_event_is_answered_once_across_replicas(replicas: tuple[Replica, Replica, FakeSlack]) -> None:
    a, b, fake = replicas
    event = {"type": "app_mention", "user": "U222", "text": "<@UBOT> how do I return a borrowed book",
             "ts": "1700000000.000100", "channel": "C123", "event_ts": "1700000000.000100"}
    body = {"token": "legacy", "team_id": "T0001", "api_app_id": "A0001", "type": "event_callback",
            "event_id": "EvReplica1", "event_time": int(time.time()), "event": event,
            "authorizations": [{"team_id": "T0001", "user_id": "UBOT", "is_bot": True}]}
    raw = json.dumps(body)
    assert a.post(raw, "application/json").status_code == 200
    assert b.post(raw, "application/json", retry=1).status_code == 200  # Slack retried; the balancer chose b
    assert a.post(raw, "application/json", retry=2).status_code == 200
    settle(a, b)
    posts = fake.of("chat.postMessage")
    assert len(posts) == 1 and posts[0]["thread_ts"] == "1700000000.000100"


def test_a_double_click_acts_once_across_replicas(replicas: tuple[Replica, Replica, FakeSlack]) -> None:
    a, b, fake = replicas
    answer = command(a, fake, "how do I return a borrowed item")
    value = buttons(answer)["share_answer"]
    stamp = f"{time.time():.6f}"
    click(a, fake, "share_answer", value, action_ts=stamp)  # the same click delivered to both replicas
    click(b, fake, "share_answer", value, action_ts=stamp)
    settle(a, b)
    posts = fake.of("chat.postMessage")
    assert len(posts) == 1 and posts[0]["channel"] == "C123"
