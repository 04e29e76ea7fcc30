"""Scenario tests: the real Bolt app with signed requests (through Bolt's dispatch; a few over HTTP on
loopback), and a fake Slack Web API."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import select

from bot.edges.store import feedback, walkthroughs
from tests.fake_slack import validate_message
from tests.slack_harness import SlackHarness


def ack_body(resp: Any) -> dict[str, Any]:
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    assert validate_message(body) == []
    return body


def buttons(msg: dict[str, Any]) -> dict[str, str]:
    out = {}
    for b in msg.get("blocks", []):
        for el in b.get("elements", []) if b["type"] == "actions" else []:
            out[el["action_id"]] = el.get("value", "")  # repeats carry ".1", ".2"
        acc = b.get("accessory")
        if acc and acc.get("type") == "button":
            out[acc["action_id"]] = acc.get("value", "")
    return out


def text_of(msg: dict[str, Any]) -> str:
    return json.dumps(msg.get("blocks", []), ensure_ascii=False)


def test_a_question_gets_the_right_procedure(slack: SlackHarness) -> None:
    body = ack_body(slack.command("how do I receive a borrowed item"))
    assert body["response_type"] == "ephemeral"
    assert "Receiving a P2P item borrowed from a partner" in text_of(body)
    assert "Fulfillment &gt; Resource Sharing &gt; Receiving Items" in text_of(body)
    assert {"walk_start", "share_answer", "vote_up", "vote_down", "more_answers"} <= set(buttons(body))


def test_out_of_scope_is_an_honest_not_sure(slack: SlackHarness) -> None:
    body = ack_body(slack.command("how do I book a study room"))
    assert "not sure" in body["text"]
    assert "show_topic" in buttons(body)


def test_forged_and_stale_requests_are_refused_without_side_effects(slack: SlackHarness) -> None:
    forged = slack.command("walk borrow-receive", signature="v0=" + "0" * 64, over_http=True)
    stale = slack.command("walk borrow-receive", ts=int(time.time()) - 600, over_http=True)
    assert forged.status_code == 401 and stale.status_code == 401  # refused before Bolt: nothing runs later
    with slack.services.store.engine.connect() as conn:
        assert conn.execute(select(walkthroughs)).all() == []
    assert slack.fake.calls == []


def test_help_lists_every_sub_command(slack: SlackHarness) -> None:
    text = text_of(ack_body(slack.command("help")))
    for sub in ("/p2p help", "/p2p walk", "/p2p status", "/p2p lookup", "/p2p ask"):
        assert sub in text


def test_walkthrough_driven_to_the_end_with_back_double_next_and_stale_clicks(slack: SlackHarness) -> None:
    first = ack_body(slack.command("walk borrow-receive"))
    assert "Step 1 of 8" in text_of(first)
    token0 = buttons(first)["walk_next"]
    slack.click("walk_next", token0)
    assert slack.fake.wait_for(lambda: len(slack.fake.of("response_url")) == 1)
    step2 = slack.fake.of("response_url")[-1]
    assert step2["replace_original"] is True and "Step 2 of 8" in text_of(step2)
    token1 = buttons(step2)["walk_next"]
    slack.click("walk_back", buttons(step2)["walk_back"])
    assert slack.fake.wait_for(lambda: len(slack.fake.of("response_url")) == 2)
    back = slack.fake.of("response_url")[-1]
    assert "Step 1 of 8" in text_of(back)
    # a click on the stale step-2 message: nothing moves, the current step is shown
    slack.click("walk_next", token1)
    assert slack.fake.wait_for(lambda: len(slack.fake.of("response_url")) == 3)
    assert "Step 1 of 8" in text_of(slack.fake.of("response_url")[-1])
    # a double click on Next: one step, not two
    token = buttons(back)["walk_next"]
    slack.click("walk_next", token)
    slack.click("walk_next", token)
    assert slack.fake.wait_for(lambda: len(slack.fake.of("response_url")) == 5)
    with slack.services.store.engine.connect() as conn:
        row = conn.execute(select(walkthroughs)).one()
    assert row.step == 1
    # and on to the end
    current = slack.fake.of("response_url")[-1]
    for n in range(7):
        k = len(slack.fake.of("response_url"))
        latest = [m for m in slack.fake.of("response_url") if "walk_next" in buttons(m)][-1]
        slack.click("walk_next", buttons(latest)["walk_next"])
        assert slack.fake.wait_for(lambda k=k: len(slack.fake.of("response_url")) == k + 1), n
        current = slack.fake.of("response_url")[-1]
    assert "Done" in current["text"]
    with slack.services.store.engine.connect() as conn:
        row = conn.execute(select(walkthroughs)).one()
    assert row.status == "done" and row.completed_at is not None


def test_walk_survives_a_restart(slack: SlackHarness, fake_slack: Any) -> None:
    from bot.core.services import Services
    from tests.slack_harness import SlackHarness as Harness

    total = len(slack.services.engine.by_id["lend-pull-ship"].steps)
    token = buttons(ack_body(slack.command("walk lend-pull-ship")))["walk_next"]
    slack.stop()
    fresh = Harness(Services(slack.services.settings), fake_slack).start()  # a new process, same database
    try:
        fresh.click("walk_next", token)
        assert fake_slack.wait_for(lambda: len(fake_slack.of("response_url")) == 1)
        assert f"Step 2 of {total}" in text_of(fake_slack.of("response_url")[-1])
        resumed = ack_body(fresh.command("walk"))
        assert "Resuming" in text_of(resumed) and f"Step 2 of {total}" in text_of(resumed)
    finally:
        fresh.stop()
        slack.http = __import__("httpx").Client()


def test_a_retried_command_changes_nothing_twice(slack: SlackHarness) -> None:
    slack.command("walk borrow-return", trigger="same-trigger")
    slack.command("walk borrow-return", trigger="same-trigger", retry=1)
    assert slack.services.drain()  # every listener and background job has finished
    with slack.services.store.engine.connect() as conn:
        assert len(conn.execute(select(walkthroughs)).all()) == 1


def test_a_retried_mention_is_answered_once_in_the_thread(slack: SlackHarness) -> None:
    event = {"type": "app_mention", "user": "U222", "text": "<@UBOT> how do I return a borrowed book",
             "ts": "1700000000.000100", "channel": "C123", "event_ts": "1700000000.000100"}
    assert slack.event(event, "Ev0001").status_code == 200
    assert slack.event(event, "Ev0001", retry=1).status_code == 200
    assert slack.fake.wait_for(lambda: len(slack.fake.of("chat.postMessage")) >= 1)
    assert slack.services.drain()  # every listener and background job has finished
    posts = slack.fake.of("chat.postMessage")
    assert len(posts) == 1
    assert posts[0]["thread_ts"] == "1700000000.000100"
    assert "Returning a borrowed P2P item" in text_of(posts[0])


def test_direct_messages_are_answered(slack: SlackHarness) -> None:
    event = {"type": "message", "channel_type": "im", "user": "U222", "text": "keep both slips?",
             "ts": "1700000001.000200", "channel": "D999"}
    slack.event(event, "Ev0002")
    assert slack.fake.wait_for(lambda: len(slack.fake.of("chat.postMessage")) == 1)
    assert "Which slips to keep" in text_of(slack.fake.of("chat.postMessage")[0])


def test_lookup_acks_at_once_then_replaces_with_the_card(slack: SlackHarness) -> None:
    gwa = slack.services.settings.institutions[0]
    slack.services.lookup.sync([gwa.code])
    from bot.sandbox.server import Sandbox  # noqa: F401  (the sandbox is behind the settings)

    ext = next(r for r in slack.services.lookup.store.engine.connect().execute(
        select(__import__("bot.edges.store", fromlist=["request_index"]).request_index)) if r.kind == "lending").external_id
    body = ack_body(slack.command(f"status {ext}"))
    assert "Looking up" in body["text"]
    assert slack.fake.wait_for(lambda: len(slack.fake.of("response_url")) == 1)
    card = slack.fake.of("response_url")[0]
    assert card["replace_original"] is True
    assert ext in card["text"] and "walk_start" in buttons(card)


def test_bad_lookup_ids_get_a_sentence(slack: SlackHarness) -> None:
    body = ack_body(slack.command("lookup " + "x" * 400))
    assert "at most 255" in body["text"]


def test_share_posts_once_and_says_who(slack: SlackHarness) -> None:
    body = ack_body(slack.command("how do I return a borrowed item"))
    value = buttons(body)["share_answer"]
    url = f"{slack.fake.url}/response/the-answer"
    slack.click("share_answer", value, response=url)
    slack.click("share_answer", value, response=url)  # double click
    assert slack.fake.wait_for(lambda: len(slack.fake.of("chat.postMessage")) >= 1)
    assert slack.services.drain()  # every listener and background job has finished
    posts = slack.fake.of("chat.postMessage")
    assert len(posts) == 1 and posts[0]["channel"] == "C123"
    assert "Shared by <@U111>" in text_of(posts[0])


def test_share_where_the_bot_is_not_invited(slack: SlackHarness) -> None:
    slack.fake.fail["chat.postMessage"] = "not_in_channel"
    value = buttons(ack_body(slack.command("how do I return a borrowed item")))["share_answer"]
    slack.click("share_answer", value)
    assert slack.fake.wait_for(lambda: len(slack.fake.of("response_url")) == 1)
    assert "/invite" in slack.fake.of("response_url")[0]["text"]


def test_votes_are_stored_once(slack: SlackHarness) -> None:
    value = buttons(ack_body(slack.command("keep both slips?")))["vote_down"]
    slack.click("vote_down", value)
    slack.click("vote_down", value)
    assert slack.fake.wait_for(lambda: len(slack.fake.of("response_url")) == 2)
    with slack.services.store.engine.connect() as conn:
        rows = conn.execute(select(feedback)).all()
    assert len(rows) == 1 and rows[0].vote == -1 and rows[0].topic_id == "faq-keep-slips"


def test_not_what_i_need_offers_three_more(slack: SlackHarness) -> None:
    value = buttons(ack_body(slack.command("print the receive slip")))["more_answers"]
    slack.click("more_answers", value)
    assert slack.fake.wait_for(lambda: len(slack.fake.of("response_url")) == 1)
    more = slack.fake.of("response_url")[0]
    shown = [json.loads(v)["t"] for v in buttons(more).values()]
    assert len(shown) == 3 and "borrow-receive" not in shown
    slack.click("show_topic.2", buttons(more)["show_topic.2"])
    assert slack.fake.wait_for(lambda: len(slack.fake.of("response_url")) == 2)
    assert shown[2] in json.dumps(slack.fake.of("response_url")[1])


def test_broadcast_mentions_in_user_text_are_neutralised(slack: SlackHarness) -> None:
    body = ack_body(slack.command("<!channel> @here how do I return a borrowed book"))
    dumped = json.dumps(body)
    assert "<!channel>" not in dumped and "@here" not in dumped.replace("@\\u2060here", "")


def test_long_answers_stay_within_limits(slack: SlackHarness) -> None:
    body = ack_body(slack.command("nz to iz migration cleanup statuses"))
    assert len(body["blocks"]) <= 50
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in body["blocks"] if b["type"] == "section")


def test_a_question_end_to_end_over_http(slack_http: SlackHarness) -> None:
    body = ack_body(slack_http.command("how do I receive a borrowed item"))
    assert "Receiving a P2P item borrowed from a partner" in text_of(body)
    value = buttons(body)["walk_start"]
    slack_http.click("walk_start", value)
    assert slack_http.fake.wait_for(lambda: len(slack_http.fake.of("response_url")) == 1)
    assert "Step 1 of" in text_of(slack_http.fake.of("response_url")[0])


def test_healthz(slack: SlackHarness) -> None:
    r = slack.http.get(f"{slack.url}/healthz")
    assert r.status_code == 200 and r.json()["ok"] is True


def test_no_secret_reaches_the_logs(slack: SlackHarness, caplog: Any) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    gwa = slack.services.settings.institutions[0]
    slack.services.lookup.sync([gwa.code])
    slack.command("how do I receive a borrowed item")
    slack.command("status NO-SUCH-ID")
    slack.command("walk borrow-return")
    assert slack.fake.wait_for(lambda: len(slack.fake.of("response_url")) >= 1)
    assert slack.services.drain()  # every listener and background job has finished
    for secret in ("xoxb-test-token", "test-signing-secret", gwa.api_key, "webhook-secret"):
        assert secret not in caplog.text, secret
