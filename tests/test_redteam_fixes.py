"""The red team's findings on ``p2p-bot serve``, each replayed as Slack would send it (signed, through Bolt's
dispatch or over HTTP through the WSGI gate), against the real app, the sandbox as Alma and a fake Slack."""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import replace
from typing import Any
from urllib.parse import quote_plus, urlencode

import pytest
from sqlalchemy import select

from bot.core import reminders
from bot.core.outgoing import literal
from bot.edges.alma.client import seg
from bot.edges.alma.errors import AlmaNotFound
from bot.edges.store import webhook_events
from bot.frontends.blocks import reminder_message
from bot.frontends.slack.actions import NOT_YOURS, TYPE_IT
from bot.frontends.slack.common import EXPIRED
from bot.frontends.webhook import signature
from tests.slack_harness import SlackHarness
from tests.test_partners import POLICY
from tests.test_slack_scenarios import borrowing_with_patron, mention, text_of


def buttons_of(msg: dict[str, Any]) -> dict[str, str]:
    return {el["action_id"]: el["value"] for b in msg.get("blocks", []) if b["type"] == "actions"
            for el in b["elements"]}


def click_public(slack: SlackHarness, action_id: str, value: str, user: str, n: int,
                 channel: str = "C123") -> Any:
    """A click on a message everyone in the channel sees (a thread answer), not an ephemeral one."""
    payload = {"type": "block_actions", "team": {"id": "T0001"}, "user": {"id": user}, "api_app_id": "A0001",
               "token": "legacy", "trigger_id": f"tp{n}",
               "container": {"type": "message", "message_ts": f"1700000001.{n:06d}", "channel_id": channel,
                             "is_ephemeral": False},
               "channel": {"id": channel, "name": "ill"},
               "response_url": f"{slack.fake.url}/response/public{n}",
               "actions": [{"type": "button", "action_id": action_id, "block_id": "b1", "value": value,
                            "action_ts": f"{time.time():.6f}{n}"}]}
    return slack._post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")


def said_at(slack: SlackHarness, path: str) -> list[dict[str, Any]]:
    with slack.fake.lock:
        return [c["body"] for c in slack.fake.calls if c["path"] == path]


# -- 1. what replaces a public message is public ----------------------------------------------------------
def test_a_lookup_run_from_a_public_did_you_mean_keeps_the_patron_out_of_the_channel(slack: SlackHarness) -> None:
    ext, patron = borrowing_with_patron(slack)
    mention(slack, f"<@UBOT> lokup {ext}", 1)
    slack.drain()
    asked = slack.fake.of("chat.postMessage")[0]
    assert "Did you mean" in text_of(asked)
    values = buttons_of(asked)
    assert click_public(slack, "run_command", values["run_command"], "U222", 1).status_code == 200
    slack.drain()
    said = said_at(slack, "/response/public1")
    in_place = [m for m in said if m.get("replace_original") in (True, "true")]
    below = [m for m in said if m.get("response_type") == "ephemeral" and m.get("replace_original") in (False, "false")]
    assert in_place and all(patron not in text_of(m) for m in in_place)
    assert any(ext in text_of(m) for m in in_place)  # the lookup did replace it, without the patron
    assert any(patron in text_of(m) for m in below)  # the full card, only to the person who clicked


# -- 2. did you mean never escalates --------------------------------------------------------------------
def test_did_you_mean_offers_no_button_for_a_change(slack: SlackHarness) -> None:
    slack.services.settings = replace(slack.services.settings, partner_policy=POLICY)
    mention(slack, "<@UBOT> partnr confirm GWA P2P_JMU", 1)
    slack.drain()
    asked = slack.fake.of("chat.postMessage")[0]
    assert "/p2p partner confirm GWA P2P_JMU" in text_of(asked) and "type it yourself" in text_of(asked)
    assert "run_command" not in buttons_of(asked)


def test_a_change_in_a_run_command_button_is_not_run_even_for_a_manager(slack: SlackHarness) -> None:
    slack.services.settings = replace(slack.services.settings, partner_policy=POLICY)
    value = json.dumps({"c": "partner confirm GWA P2P_JMU", "u": "UMGR"})  # an old or crafted button
    assert click_public(slack, "run_command", value, "UMGR", 1).status_code == 200
    slack.drain()
    said = said_at(slack, "/response/public1")
    assert len(said) == 1 and TYPE_IT.format(command="partner confirm GWA P2P_JMU").split("`")[2] in text_of(said[0])
    assert said[0]["response_type"] == "ephemeral"
    assert slack.sandbox.state.calls_to("PUT", "/") == 0 and slack.sandbox.state.calls_to("GET", "/partners") == 0


def test_only_the_person_who_asked_may_answer_did_you_mean(slack: SlackHarness) -> None:
    mention(slack, "<@UBOT> stauts", 1)  # U222 asks
    slack.drain()
    values = buttons_of(slack.fake.of("chat.postMessage")[0])
    assert set(values) == {"run_command", "ask_anyway"}
    click_public(slack, "run_command", values["run_command"], "U333", 1)
    click_public(slack, "ask_anyway", values["ask_anyway"], "U333", 2)
    slack.drain()
    for n in (1, 2):
        said = said_at(slack, f"/response/public{n}")
        assert len(said) == 1 and said[0]["response_type"] == "ephemeral" and NOT_YOURS[:30] in text_of(said[0])
    click_public(slack, "run_command", values["run_command"], "U222", 3)  # the asker may
    slack.drain()
    assert "P2P status" in text_of(said_at(slack, "/response/public3"))


# -- 6. a listener that fails after ack() still answers Slack 200 ---------------------------------------
def test_an_expired_trigger_on_the_home_tab_is_told_and_slack_gets_200(slack_http: SlackHarness) -> None:
    slack_http.fake.fail["views.open"] = "expired_trigger_id"
    r = slack_http.click("home_ask", "", home=True)
    assert r.status_code == 200
    slack_http.drain()
    dms = [m for m in slack_http.fake.of("chat.postMessage") if m.get("channel") == "U111"]
    assert len(dms) == 1 and EXPIRED in text_of(dms[0])


# -- 3. a form that mentions "payload" is still a form --------------------------------------------------
def test_a_command_whose_body_contains_the_word_payload_is_answered(slack_http: SlackHarness) -> None:
    r = slack_http.command("what is the payload of a request")
    assert r.status_code == 200 and r.json()["text"].strip()
    form = {"token": "legacy", "team_id": "T0001", "channel_id": "C123", "channel_name": "payloads-team",
            "user_id": "U111", "command": "/p2p", "text": "help", "response_url": f"{slack_http.fake.url}/response/p",
            "trigger_id": "t-payload"}
    r = slack_http._post(urlencode(form), "application/x-www-form-urlencoded")
    assert r.status_code == 200 and "What I can do" in r.json()["text"]


# -- 5. signed malformed bodies get a 400, never a 500 ------------------------------------------------------
def _action(**over: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"type": "block_actions", "user": {"id": "U111"}, "channel": {"id": "C123"},
                               "container": {"type": "message", "message_ts": "1.1", "is_ephemeral": True},
                               "response_url": "http://127.0.0.1:9/x", "trigger_id": "t",
                               "actions": [{"action_id": "vote_up", "value": "{}", "action_ts": "1.2"}]}
    payload.update(over)
    return payload


def _view(**over: Any) -> dict[str, Any]:
    view: dict[str, Any] = {"id": "V1", "hash": "h", "type": "modal", "callback_id": "home_ask",
                            "state": {"values": {"q": {"text": {"type": "plain_text_input", "value": "x"}}}}}
    view.update(over)
    return {"type": "view_submission", "user": {"id": "U111"}, "view": view}


def _event(event: Any) -> str:
    return json.dumps({"type": "event_callback", "event_id": "Ev1", "team_id": "T0001", "event": event})


def _form(payload: Any) -> str:
    return urlencode({"payload": json.dumps(payload)})


DEEP = "[" * 100_000 + "]" * 100_000
FORM, JSON = "application/x-www-form-urlencoded", "application/json"
MALFORMED = {
    "blank payload": ("payload=", FORM),
    "form starting with {": ('{"type": "block_actions"}', FORM),
    "repeated payload": (_form(_action()) + "&" + _form({"type": "x"}), FORM),
    "deep JSON": (DEEP, JSON),
    "deep JSON object": ('{"a": ' + DEEP + "}", JSON),
    "deep payload": (urlencode({"payload": '{"a": ' + DEEP + "}"}), FORM),
    "empty action": (_form(_action(actions=[{}])), FORM),
    "numeric action_id": (_form(_action(actions=[{"action_id": 5, "value": "x"}])), FORM),
    "list action_id": (_form(_action(actions=[{"action_id": ["vote_up"], "value": "x"}])), FORM),
    "view a string": (_form({"type": "view_submission", "user": {"id": "U1"}, "view": "x"}), FORM),
    "state a string": (_form(_view(state="x")), FORM),
    "values a list": (_form(_view(state={"values": []})), FORM),
    "event a string": (_event("x"), JSON),
    "event a list": (_event([]), JSON),
    "home opened by a number": (_event({"type": "app_home_opened", "user": 5, "tab": "home"}), JSON),
    "user a string": (_form(_action(user="U1")), FORM),
    "channel a string": (_form(_action(channel="C1")), FORM),
    "container a string": (_form(_action(container="x")), FORM),
    "authorizations a string": (json.dumps({"type": "event_callback", "authorizations": "x",
                                            "event": {"type": "app_mention"}}), JSON),
    "form that is no command": ("text=hello", FORM),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_signed_malformed_bodies_get_400_not_500(slack_http: SlackHarness, name: str,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    body, ctype = MALFORMED[name]
    r = slack_http._post(body, ctype)
    assert r.status_code == 400 and r.json()["ok"] is False
    slack_http.drain()
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]


def test_a_deeply_nested_webhook_gets_400(slack_http: SlackHarness) -> None:
    body = ('{"a": ' + DEEP + "}").encode()
    r = slack_http.http.post(f"{slack_http.url}/alma/webhook", content=body,
                             headers={"X-Exl-Signature": signature("webhook-secret", body)})
    assert r.status_code == 400


def test_listeners_read_button_values_defensively(slack: SlackHarness, caplog: pytest.LogCaptureFixture) -> None:
    r = slack.click("more_answers", json.dumps({"q": "how do I receive a borrowed item", "skip": 5}))
    assert r.status_code == 200
    slack.drain()
    said = slack.fake.of("response_url")
    assert len(said) == 1 and ("Other pages" in text_of(said[0]) or "Nothing else" in text_of(said[0]))
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]


# -- 4. reminders cannot be turned into spam ---------------------------------------------------------------
@pytest.mark.parametrize(("typed", "said"), [
    ('"* * * * *" spam', "at most hourly"),
    ('"*/30 9-17 * * *" check the queue', "at most hourly"),
    ('"0,1 9 * * *" twice', "at most hourly"),
    ('"0 9 31 2 *" never', "never comes round"),
    ('"' + "every day at 9:00 " * 2500 + '" long', "characters long"),
    ('"every day at 9:00" ' + "x" * 1001, "keep it under 1,000"),
])
def test_reminders_that_would_be_abuse_are_refused_with_a_sentence(slack: SlackHarness, typed: str,
                                                                   said: str) -> None:
    slack.fake.channels["C123"] = {"id": "C123", "is_private": False, "is_member": True}
    body = slack.command(f"remind add {typed}").json()
    slack.drain()
    text = text_of(body) + "".join(text_of(m) for m in slack.fake.of("response_url"))
    assert said in text
    assert reminders.Reminders(slack.services.store).active("C123") == []


def test_an_hourly_reminder_is_fine_and_a_channel_has_at_most_twenty(slack: SlackHarness) -> None:
    slack.fake.channels["C123"] = {"id": "C123", "is_private": False, "is_member": True}
    store = reminders.Reminders(slack.services.store)
    for n in range(reminders.MAX_PER_CHANNEL - 1):
        store.add("C123", "every day at 9:00", f"r{n}", "UTC", "U111")
    slack.command('remind add "0 * * * *" hourly check')
    slack.drain()
    assert "Reminder #20 set" in text_of(slack.fake.of("response_url")[-1])
    slack.command('remind add "every day at 10:00" one too many')
    slack.drain()
    assert "already has 20 reminders" in text_of(slack.fake.of("response_url")[-1])
    assert len(store.active("C123")) == reminders.MAX_PER_CHANNEL


def test_bidi_controls_never_reach_a_post() -> None:
    r = reminders.Reminder(1, "C123", "0 9 * * *", "every day at 9:00", "pay \u202egpj.exe\u202c now \u2066x\u2069",
                           "UTC", "U1")
    shown = json.dumps(reminder_message(r).kwargs(), ensure_ascii=False)
    assert not re.search("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]", shown)
    assert "gpj.exe" in shown


# -- 7. an institution's own webhook secret is the only one that speaks for it ---------------------------
def test_the_shared_webhook_secret_cannot_speak_for_an_institution_with_its_own(slack: SlackHarness) -> None:
    insts = tuple(replace(i, webhook_secret="gwa-own") if i.code == "GWA" else i
                  for i in slack.services.settings.institutions)
    slack.services.settings = replace(slack.services.settings, institutions=insts)
    gwa = next(i for i in insts if i.code == "GWA")
    body = json.dumps({"id": "e-shared", "action": "JOB_END", "institution": {"value": gwa.alma_code}}).encode()
    r = slack.http.post(f"{slack.url}/alma/webhook", content=body,
                        headers={"X-Exl-Signature": signature("webhook-secret", body)})
    assert r.status_code == 401 and webhook_rows(slack) == []
    r = slack.http.post(f"{slack.url}/alma/webhook", content=body,
                        headers={"X-Exl-Signature": signature("gwa-own", body)})
    assert r.status_code == 200 and r.json()["recorded"] is True and webhook_rows(slack) == ["GWA"]


def test_long_webhook_ids_do_not_collide(slack: SlackHarness) -> None:
    gwa = slack.services.settings.institutions[0]
    for last in "ab":
        body = json.dumps({"id": "x" * 300 + last, "action": "JOB_END",
                           "institution": {"value": gwa.alma_code}}).encode()
        r = slack.http.post(f"{slack.url}/alma/webhook", content=body,
                            headers={"X-Exl-Signature": signature("webhook-secret", body)})
        assert r.status_code == 200 and r.json()["recorded"] is True
    assert len(webhook_rows(slack)) == 2


def webhook_rows(slack: SlackHarness) -> list[str]:
    with slack.services.store.engine.connect() as conn:
        return [r.institution for r in conn.execute(select(webhook_events))]


# -- 8. dot segments never reach Alma's URL -----------------------------------------------------------------
@pytest.mark.parametrize("code", [".", ".."])
def test_dot_segments_are_refused_before_alma_is_asked(slack: SlackHarness, code: str) -> None:
    before = len(slack.sandbox.state.calls)
    slack.command(f"partner check {code}")
    slack.drain()
    said = text_of(slack.fake.of("response_url")[-1])
    assert "is not a partner" in said
    assert slack.sandbox.state.calls[before:] == []
    with pytest.raises(AlmaNotFound):
        seg(code)
    assert seg("1//47BIB") == "1%2F%2F47BIB"


# -- 9. at DEBUG, slack_sdk logs no outgoing body ----------------------------------------------------------
def test_debug_logging_keeps_patrons_and_response_urls_out(slack: SlackHarness,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    ext, patron = borrowing_with_patron(slack)
    caplog.set_level(logging.DEBUG)
    mention(slack, f"<@UBOT> lookup {ext}", 1, channel="D123", channel_type="im")
    slack.command(f"lookup {ext}")
    slack.drain()
    assert any(patron in text_of(m) for m in slack.fake.of("response_url"))  # it was sent…
    assert any(r.name.startswith("slack_sdk") for r in caplog.records)  # …slack_sdk did log at DEBUG…
    assert patron not in caplog.text and "/response/" not in caplog.text  # …and nothing of it is in the log


# -- 10. a person's own mrkdwn is echoed as typed, not as formatting ----------------------------------------
def test_echoed_text_keeps_its_formatting_characters_inert(slack: SlackHarness) -> None:
    assert literal("*URGENT* _x_ ~x~ `x` P2P_JMU") == "\u2217URGENT\u2217 \u02cdx\u02cd \u223cx\u223c \u02cbx\u02cb P2P_JMU"
    body = slack.command("stauts x` *y*").json()
    said = body["blocks"][0]["text"]["text"]
    assert said.startswith("Did you mean `/p2p status x\u02cb *y*`?")
    assert said.count("`") == 2  # the code span the bot opened is the one it closes


# -- 5. the listeners themselves read defensively (requests that reach Bolt without the HTTP gate) -------
IN_PROCESS = {
    "user a string": (_form(_action(user="U1")), FORM),
    "container a string": (_form(_action(container="x")), FORM),
    "state a string": (_form(_view(state="x")), FORM),
    "values a list": (_form(_view(state={"values": []})), FORM),
}  # (a number as an event's user breaks Bolt's own routing before any listener: only the gate stops that)


@pytest.mark.parametrize("name", list(IN_PROCESS))
def test_listeners_survive_wrong_shapes_without_the_gate(slack: SlackHarness, name: str,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    body, ctype = IN_PROCESS[name]
    body = body.replace(quote_plus("http://127.0.0.1:9/x"), quote_plus(f"{slack.fake.url}/response/x"))
    assert slack._post(body, ctype).status_code == 200
    slack.drain()
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
