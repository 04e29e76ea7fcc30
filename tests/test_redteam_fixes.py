"""The red team's findings on ``p2p-bot serve``, each replayed as Slack would send it (signed, through Bolt's
dispatch or over HTTP through the WSGI gate), against the real app, the sandbox as Alma and a fake Slack."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from bot.frontends.slack.actions import NOT_YOURS, TYPE_IT
from bot.frontends.slack.common import EXPIRED
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
