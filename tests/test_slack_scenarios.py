"""Issue 11 scenarios through Bolt's dispatch with signed requests: escaping both ways, privacy of patrons,
duplicates, acknowledging first, channels the bot is not in, "did you mean", the small truths, App Home,
and the manifest against what is registered."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from bot.core import reminders
from bot.core.expiry import ExpiryReport, InstitutionExpiry, Run
from bot.edges.store import request_index
from bot.frontends.blocks import expiry_messages, expiry_summary, reminder_message
from bot.frontends.escaping import incoming, neutral
from bot.frontends.slack import COMMANDS, EVENTS, SCOPES
from tests.fake_slack import validate_message
from tests.slack_harness import SlackHarness

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = [
    "<!channel> how do I return a borrowed book",
    "<!chan<!here>nel> keep both slips?",
    "&lt;!everyone&gt; how do I receive a borrowed item",
    "<!subteam^S0123|@ill-staff> print the receive slip",
    "<https://evil.example/phish|click here> how do I return a borrowed book",
    "see www.evil.example or https://evil.example/x about receiving",
    "<@U999|boss> @here @channel what is the expiry job",
    "lookup <!here>",
    "walk <!channel>",
    "stauts <!everyone>",
]


def shown(msg: Any) -> str:
    """Every piece of text Slack renders from a message or view (button values are data, not shown)."""
    if isinstance(msg, dict):
        return "\n".join(shown(v) if k != "value" else "" for k, v in msg.items())
    if isinstance(msg, list):
        return "\n".join(shown(v) for v in msg)
    return msg if isinstance(msg, str) else ""


def live(text: str) -> list[str]:
    """What in a message Slack would act on: broadcasts, user-group mentions, links, bare URLs."""
    found = re.findall(r"<![^>]*>|<https?:[^>]*>|<mailto:[^>]*>", text)
    found += re.findall(r"(?<![\w\u2060])(?:https?://|www\.)evil", text)
    found += re.findall(r"(?<![\w\u2060])@(?:here|channel|everyone)\b", text)
    return found


def public_posts(slack: SlackHarness) -> list[dict[str, Any]]:
    return slack.fake.of("chat.postMessage") + slack.fake.of("chat.update")


def text_of(msg: dict[str, Any]) -> str:
    return json.dumps(msg, ensure_ascii=False)


def mention(slack: SlackHarness, text: str, n: int, channel: str = "C123", channel_type: str = "channel",
            kind: str = "app_mention") -> None:
    event = {"type": kind, "user": "U222", "text": text, "ts": f"1700000000.{n:06d}", "channel": channel,
             "event_ts": f"1700000000.{n:06d}", "channel_type": channel_type}
    assert slack.event(event, f"Ev{n:06d}").status_code == 200


# -- 3. escaping ----------------------------------------------------------------------------------------
def test_incoming_text_is_unescaped_once_and_markup_becomes_words() -> None:
    assert incoming("a &amp;lt; b &amp; c &gt; d") == "a &lt; b & c > d"
    assert incoming("ask <@U1|ann> about <#C1|ill> and <https://x.example|the page>") == \
        "ask @ann about #ill and the page"
    assert incoming("<!chan<!here>nel> x") == "x"


@pytest.mark.parametrize("text", [*HOSTILE, "<!date^1392734382^{date}|Feb 18>", "<!!here>>", "@Here loud"])
def test_neutral_leaves_nothing_live(text: str) -> None:
    out = neutral(incoming(text))
    assert live(out) == [], out
    assert neutral("`/p2p lookup <external id>`") == "`/p2p lookup &lt;external id&gt;`"


def test_hostile_mentions_produce_nothing_live_in_any_public_message(slack: SlackHarness) -> None:
    for n, text in enumerate(HOSTILE):
        mention(slack, f"<@UBOT> {text}", n)
    slack.drain()
    posts = public_posts(slack)
    assert len(slack.fake.of("chat.postMessage")) == len(HOSTILE)
    for post in posts:
        assert live(shown(post)) == [], shown(post)


def test_hostile_commands_and_reminders_echo_nothing_live(slack: SlackHarness) -> None:
    for text in HOSTILE:
        body = slack.command(text).json()
        assert live(shown(body)) == [], shown(body)
    r = reminders.Reminder(7, "C123", "0 9 * * *", "every day at 9:00 <!here>",
                           "<!channel> Process the queue <https://evil.example|now> @here", "UTC", "U1")
    msg = reminder_message(r)
    assert live(shown(msg.kwargs())) == [] and validate_message(msg.kwargs()) == []


def test_help_shows_its_placeholders_as_typed(slack: SlackHarness) -> None:
    body = slack.command("help").json()
    dumped = text_of(body)
    assert re.findall(r"<[a-z][^>]*>", dumped) == []  # no bare <word>: Slack would eat it
    assert "&lt;question&gt;" in dumped and "&lt;external id&gt;" in dumped


# -- 4. privacy -----------------------------------------------------------------------------------------
def borrowing_with_patron(slack: SlackHarness) -> tuple[str, str]:
    gwa = slack.services.settings.institutions[0]
    slack.services.lookup.sync([gwa.code])
    with slack.services.store.engine.connect() as conn:
        rows = conn.execute(select(request_index)).all()
    row = next(r for r in rows if r.kind == "borrowing" and r.requester)
    return str(row.external_id), str(row.requester)


def test_a_lookup_by_mention_in_a_channel_keeps_the_patron_out_of_the_thread(slack: SlackHarness) -> None:
    ext, patron = borrowing_with_patron(slack)
    mention(slack, f"<@UBOT> lookup {ext}", 1)
    slack.drain()
    thread = public_posts(slack)
    assert thread and any(ext in text_of(p) for p in slack.fake.of("chat.update"))
    assert all(patron not in text_of(p) for p in thread)
    private = slack.fake.of("chat.postEphemeral")
    assert len(private) == 1 and private[0]["user"] == "U222" and patron in text_of(private[0])


def test_a_lookup_in_a_dm_shows_the_patron(slack: SlackHarness) -> None:
    ext, patron = borrowing_with_patron(slack)
    mention(slack, f"lookup {ext}", 2, channel="D777", channel_type="im", kind="message")
    slack.drain()
    assert any(patron in text_of(p) for p in slack.fake.of("chat.update"))
    assert slack.fake.of("chat.postEphemeral") == []


def test_sharing_a_lookup_posts_it_once_without_the_patron(slack: SlackHarness) -> None:
    ext, patron = borrowing_with_patron(slack)
    slack.command(f"lookup {ext}")
    slack.drain()
    card = slack.fake.of("response_url")[0]
    assert patron in text_of(card)  # the person who asked sees the patron
    value = next(el["value"] for b in card["blocks"] if b["type"] == "actions" for el in b["elements"]
                 if el["action_id"] == "share_lookup")
    for k in range(3):
        slack.click("share_lookup", value, response=f"{slack.fake.url}/response/sl{k}", message_ts="777.1")
    slack.drain()
    posts = slack.fake.of("chat.postMessage")
    assert len(posts) == 1 and posts[0]["channel"] == "C123"
    assert ext in text_of(posts[0]) and patron not in text_of(posts[0])


# -- 5. duplicates --------------------------------------------------------------------------------------
def test_share_posts_once_however_many_clicks_and_response_urls(slack: SlackHarness) -> None:
    body = slack.command("how do I return a borrowed item").json()
    value = next(el["value"] for b in body["blocks"] if b["type"] == "actions" for el in b["elements"]
                 if el["action_id"] == "share_answer")
    for k in range(4):  # four clicks, each its own delivery and response_url, on the same message
        slack.click("share_answer", value, response=f"{slack.fake.url}/response/share{k}", message_ts="555.1")
    slack.drain()
    assert len(slack.fake.of("chat.postMessage")) == 1
    slack.click("share_answer", value, message_ts="556.1")  # another message (asked again): its own share
    slack.drain()
    assert len(slack.fake.of("chat.postMessage")) == 2


def test_a_dm_delivered_as_message_and_as_mention_is_answered_once(slack: SlackHarness) -> None:
    event = {"user": "U222", "text": "<@UBOT> keep both slips?", "ts": "1700000009.000100", "channel": "D999",
             "channel_type": "im"}
    slack.event({**event, "type": "message"}, "EvA")
    slack.event({**event, "type": "app_mention"}, "EvB")  # another event id for the same message
    slack.drain()
    assert len(slack.fake.of("chat.postMessage")) == 1


# -- 6. ack first ---------------------------------------------------------------------------------------
def test_the_user_group_check_waits_for_the_acknowledgement(slack: SlackHarness) -> None:
    from bot.edges.settings import PartnerPolicy

    policy = replace(slack.services.settings.partner_policy, managers=("S0MANAGERS",))
    assert isinstance(policy, PartnerPolicy)
    slack.services.settings = replace(slack.services.settings, partner_policy=policy)
    held = threading.Event()
    slack.fake.hold["usergroups.users.list"] = held  # Slack is slow: it does not answer until released
    try:
        ack = slack.command("partner add Clemson", user="UMGR")
        # the acknowledgement came back while Slack still had not answered the user-group question
        assert ack.status_code == 200 and "Looking the partner up" in ack.json()["text"]
    finally:
        held.set()
    assert slack.fake.wait_for(lambda: bool(slack.fake.of("response_url")))
    assert "Only partner managers" in text_of(slack.fake.of("response_url")[0])  # UMGR is not in the group
    assert slack.fake.of("usergroups.users.list")


# -- 7. channels the bot is not in ----------------------------------------------------------------------
def test_remind_add_checks_the_channel(slack: SlackHarness) -> None:
    slack.fake.channels["CPUB"] = {"id": "CPUB", "is_private": False, "is_member": False}
    slack.fake.channels["GPRIV"] = {"id": "GPRIV", "is_private": True, "is_member": False}
    slack.command('remind add "every day at 9:00" Sweep the queue', channel="GPRIV")
    slack.command('remind add "every day at 9:00" Sweep the queue', channel="CPUB")
    slack.command('remind add "every day at 9:00" Sweep the queue', channel="CGONE")
    slack.drain()
    said = [text_of(m) for m in slack.fake.of("response_url")]
    assert sum("didn't set the reminder" in t and "/invite @p2p-bot" in t for t in said) == 2
    assert sum("Reminder #1 set" in t for t in said) == 1
    assert [r.channel for r in reminders.Reminders(slack.services.store).active()] == ["CPUB"]


def test_a_reminder_that_cannot_be_posted_is_said_to_who_set_it(slack: SlackHarness) -> None:
    store = reminders.Reminders(slack.services.store)
    r = store.add("CPRIV", "every day at 9:00", "Sweep the queue", "UTC", "USETTER")
    slack.fake.fail_in["CPRIV"] = "not_in_channel"
    with pytest.raises(Exception):  # noqa: B017 - the job fails (the scheduler logs it)
        reminders.fire(slack.services, reminder_message, r.id)
    dm = [p for p in slack.fake.of("chat.postMessage") if p["channel"] == "USETTER"]
    assert len(dm) == 1 and "could not be posted" in dm[0]["text"] and "/invite @p2p-bot" in dm[0]["text"]
    assert "<#CPRIV>" in dm[0]["text"]


def test_expiry_check_post_exits_non_zero_when_a_post_failed(slack: SlackHarness, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from bot.frontends.cli import main

    gwa = slack.services.settings.institutions[0]
    monkeypatch.setenv("ALMA_API_URL", gwa.base_url)
    monkeypatch.setenv("ALMA_API_KEY", gwa.api_key)
    monkeypatch.setenv("P2PBOT_DATABASE_URL", slack.services.settings.database_url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-token")
    monkeypatch.setenv("SLACK_API_URL", f"{slack.fake.url}/api/")
    monkeypatch.setenv("P2PBOT_CHANNEL", "CNOTIN")
    monkeypatch.delenv("P2PBOT_CONFIG", raising=False)
    slack.fake.fail_in["CNOTIN"] = "not_in_channel"
    code = main(["expiry-check", "--post", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [p["channel"] for p in out["posted"]] == ["CNOTIN"] and not out["posted"][0]["posted"]
    assert "Invite me with `/invite @p2p-bot`" in out["posted"][0]["reason"]
    slack.fake.fail_in.clear()
    assert main(["expiry-check", "--post", "--json"]) == 0  # the post goes out now: success
    assert json.loads(capsys.readouterr().out)["posted"][0]["posted"] is True


# -- 8. did you mean ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("typed", "meant"), [("stauts 123", "status 123"), ("walkk", "walk"),
                                              ("lokup 01GWA-1", "lookup 01GWA-1"), ("remidn list", "remind list")])
def test_a_typo_gets_did_you_mean(slack: SlackHarness, typed: str, meant: str) -> None:
    body = slack.command(typed).json()
    assert f"Did you mean `/p2p {meant}`?" in body["text"]
    run = next(el["value"] for b in body["blocks"] if b["type"] == "actions" for el in b["elements"]
               if el["action_id"] == "run_command")
    assert json.loads(run) == {"c": meant, "u": "U111"}  # what to run, and who may run it


@pytest.mark.parametrize("question", ["expired requests what do I do", "walking a patron through pickup",
                                      "reminder slips for the lender", "status of a request"])
def test_real_questions_are_not_taken_for_typos(slack: SlackHarness, question: str) -> None:
    assert "Did you mean" not in slack.command(question).json()["text"]


def test_yes_runs_the_command_and_no_answers_the_question(slack: SlackHarness) -> None:
    body = slack.command("walkk borrow-receive").json()
    values = {el["action_id"]: el["value"] for b in body["blocks"] if b["type"] == "actions" for el in b["elements"]}
    slack.click("run_command", values["run_command"])
    slack.click("ask_anyway", values["ask_anyway"])
    slack.drain()
    said = [text_of(m) for m in slack.fake.of("response_url")]
    assert any("Step 1 of" in t for t in said)
    assert len(said) == 2


# -- 9. small truths ------------------------------------------------------------------------------------
def test_done_early_does_not_claim_every_step(slack: SlackHarness) -> None:
    first = slack.command("walk borrow-receive").json()
    token = next(el["value"] for b in first["blocks"] if b["type"] == "actions" for el in b["elements"]
                 if el["action_id"] == "walk_next")
    slack.click("walk_next", token)
    assert slack.fake.wait_for(lambda: len(slack.fake.of("response_url")) == 1)
    step2 = slack.fake.of("response_url")[0]
    token = next(el["value"] for b in step2["blocks"] if b["type"] == "actions" for el in b["elements"]
                 if el["action_id"] == "walk_done")
    slack.click("walk_done", token)
    assert slack.fake.wait_for(lambda: len(slack.fake.of("response_url")) == 2)
    done = text_of(slack.fake.of("response_url")[1])
    assert "finished at step 2 of 8" in done and "all 8 steps" not in done


def test_expiry_notification_counts_warnings_and_thread_times_are_local() -> None:
    ok = InstitutionExpiry("GWA", "Gwa", "ok", "2026-11-29T02:00:00+13:00", "2026-11-29T02:05:00+13:00", 3)
    warned = InstitutionExpiry("AMU", "Amu", "warning", "2026-11-29T02:00:00+13:00", None, 1, runs=[
        Run("99", "COMPLETED_WARNING", "Completed with warnings", "2026-11-28T13:00:00Z", "2026-11-28T13:04:00Z", 1)])
    report = ExpiryReport("2026-11-29", [ok, warned])
    assert expiry_summary(report) == "All ran, 1 with warnings: AMU"
    main, thread = expiry_messages(report)
    assert "1 with warnings" in main.text
    assert "started 2026-11-29 02:00, ended 2026-11-29 02:04" in text_of(thread.kwargs())  # 13:00Z at +13:00


def test_lookup_offers_a_walkthrough_only_for_real_procedures(slack: SlackHarness) -> None:
    from commands.lookup import lookup_reply
    from commands.replies import Deferred, LookupReply

    ext, _patron = borrowing_with_patron(slack)
    reply = lookup_reply(slack.services and __import__("commands").Context(slack.services, "U1", "C1", "slack"), ext)
    assert isinstance(reply, Deferred)
    final = reply.run()
    assert isinstance(final, LookupReply)
    by_id = slack.services.engine.by_id
    assert final.procedures == {f.topic_id for f in final.result.found
                                if f.topic_id in by_id and by_id[f.topic_id].is_procedure}


# -- 10. App Home ---------------------------------------------------------------------------------------
def test_app_home_shows_the_walkthrough_the_expiry_result_and_the_actions(slack: SlackHarness) -> None:
    slack.command("walk borrow-receive")
    gwa = slack.services.settings.institutions[0]
    from datetime import datetime
    from zoneinfo import ZoneInfo

    today = datetime.now(ZoneInfo(slack.services.settings.timezone)).date().isoformat()
    slack.services.store.cache_put(f"expiry:last:{gwa.code}", {"date": today, "status": "ok", "expired": 4})
    slack.event({"type": "app_home_opened", "user": "U111", "channel": "D1", "tab": "home"}, "EvHome")
    slack.drain()
    published = slack.fake.of("views.publish")
    assert len(published) == 1 and published[0]["user_id"] == "U111"
    view = published[0]["view"] if isinstance(published[0]["view"], dict) else json.loads(published[0]["view"])
    shown = text_of(view)
    assert view["type"] == "home" and "step 1 of 8" in shown and "Receiving" in shown
    assert f"*{gwa.name}* ({gwa.code}): ok today, 4 expired" in shown
    assert {"home_ask", "home_lookup", "home_walk", "home_resume"} <= set(re.findall(r'"action_id": "(\w+)"', shown))


def test_app_home_buttons_open_a_modal_and_the_answer_arrives_by_dm(slack: SlackHarness) -> None:
    slack.click("home_ask", "home_ask", home=True)
    slack.drain()
    opened = slack.fake.of("views.open")
    assert len(opened) == 1
    view = opened[0]["view"] if isinstance(opened[0]["view"], dict) else json.loads(opened[0]["view"])
    assert view["callback_id"] == "home_ask"
    assert slack.submit("home_ask", "how do I receive a borrowed item").status_code == 200
    slack.drain()
    dms = slack.fake.of("chat.postMessage")
    assert len(dms) == 1 and dms[0]["channel"] == "U111"
    assert "Receiving a P2P item borrowed from a partner" in text_of(dms[0])


# -- manifest -------------------------------------------------------------------------------------------
def test_manifest_matches_what_is_registered() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    features, settings = manifest["features"], manifest["settings"]
    assert [c["command"] for c in features["slash_commands"]] == list(COMMANDS)
    assert sorted(settings["event_subscriptions"]["bot_events"]) == sorted(EVENTS)
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == sorted(SCOPES)
    assert features["app_home"]["home_tab_enabled"] is True
    assert settings["interactivity"]["is_enabled"] is True
    # each event needs its scope, and no unused scope is asked for
    needs = {"app_mention": "app_mentions:read", "message.im": "im:history"}
    assert all(needs[e] in SCOPES for e in EVENTS if e in needs)
    assert not {"im:read", "im:write", "users:read"} & set(SCOPES)


def test_every_web_api_method_the_code_calls_has_its_scope() -> None:
    method_scope = {"chat_postMessage": "chat:write", "chat_update": "chat:write", "chat_postEphemeral": "chat:write",
                    "views_publish": None, "views_open": None, "usergroups_users_list": "usergroups:read",
                    "conversations_info": "channels:read"}
    called = set()
    for path in [*ROOT.joinpath("bot").rglob("*.py"), *ROOT.joinpath("commands").rglob("*.py")]:
        called |= set(re.findall(r"\.(\w+_\w+)\(", path.read_text()))
    slack_calls = {m for m in called if m.split("_")[0] in ("chat", "views", "usergroups", "conversations",
                                                             "users", "im", "reactions", "files")}
    assert slack_calls <= set(method_scope), slack_calls - set(method_scope)
    assert {s for m, s in method_scope.items() if m in slack_calls and s} <= set(SCOPES)
