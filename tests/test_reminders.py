from __future__ import annotations

import threading
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.core import reminders
from bot.core.services import Services
from bot.edges.settings import Settings
from bot.frontends import clock as scheduler
from bot.frontends.blocks import reminder_message
from commands import Context, dispatch

NY = "America/New_York"


@pytest.mark.parametrize(("spec", "cron"), [
    ("every day at 9:00", "0 9 * * *"),
    ("every weekday at 8:30am", "30 8 * * mon-fri"),
    ("every Monday and Thursday at 14:00", "0 14 * * mon,thu"),
    ("every mon,wed,fri at 9", "0 9 * * mon,wed,fri"),
    ("every weekend at noon", "0 12 * * sat,sun"),
    ("each tuesday 4:15 pm", "15 16 * * tue"),
    ("0 9 * * 1-5", "0 9 * * 1-5"),
])
def test_schedules_people_type(spec: str, cron: str) -> None:
    assert reminders.parse_schedule(spec, NY) == cron


@pytest.mark.parametrize("spec", ["tomorrow", "every day at 25:00", "every blursday at 9", "61 9 * * *",
                                  "every day at 13pm", ""])
def test_unparseable_schedules_get_a_sentence_with_an_example(spec: str) -> None:
    with pytest.raises(reminders.ScheduleError) as info:
        reminders.parse_schedule(spec, NY)
    assert "e.g." in str(info.value) or "Example" in str(info.value)


def ctx(services: Services, channel: str = "C1") -> Context:
    # the terminal surface: Slack's own (which also checks the channel with Slack) is in test_slack_scenarios
    return Context(services=services, user_id="U1", channel_id=channel, surface="chat")


def test_add_list_remove_and_bad_input(settings: Settings) -> None:
    svc = Services(settings)
    out = dispatch(ctx(svc), 'remind add "every weekday at 9:00" Process the Receiving Items queue')
    assert "Reminder #1 set" in out.text and "next:" in out.text
    out2 = dispatch(ctx(svc), "remind add every friday at 3pm Check overdue lending requests")
    assert "Reminder #2 set" in out2.text
    listed = dispatch(ctx(svc), "remind list")
    assert "#1 every weekday at 9:00" in listed.sections[0] and "#2 every friday at 3pm" in listed.sections[0]
    assert "No reminders" in dispatch(ctx(svc, "C2"), "remind list").text  # per channel
    assert "Example" in dispatch(ctx(svc), 'remind add "whenever" do it').text
    assert "What should I post" in dispatch(ctx(svc), 'remind add "every day at 9:00"').text
    assert "no reminder #1 in this channel" in dispatch(ctx(svc, "C2"), "remind remove 1").text
    assert "Reminder #1 removed" in dispatch(ctx(svc), "remind remove #1").text
    assert "Which one" in dispatch(ctx(svc), "remind remove first").text
    assert "/p2p remind list" in dispatch(ctx(svc), "remind").text
    svc.close()


def test_a_new_reminder_reaches_the_running_scheduler_without_restart(settings: Settings) -> None:
    svc = Services(settings)
    sched = scheduler.build(svc)  # not started: jobs are inspected, not run
    scheduler.sync_reminders(svc, sched)
    dispatch(ctx(svc), 'remind add "every day at 9:00" Morning sweep')
    assert any(j.id == "reminder:1" for j in sched.get_jobs())
    dispatch(ctx(svc), "remind remove 1")
    assert not any(j.id == "reminder:1" for j in sched.get_jobs())
    assert {j.id for j in sched.get_jobs()} >= {"morning-post", "index-sync", "status-refresh", "reminders-sync"}
    svc.close()


def test_each_occurrence_posts_once_even_with_two_clocks(settings: Settings, fake_slack: Any) -> None:
    from dataclasses import replace

    s = replace(settings, slack_bot_token="xoxb", slack_api_url=f"{fake_slack.url}/api/")
    a, b = Services(s), Services(s)
    r = reminders.Reminders(a.store).add("C9", "every day at 9:00", "Sweep @channel now", NY, "U1")
    at = datetime(2026, 12, 1, 9, 0, 2, tzinfo=ZoneInfo(NY))
    results: list[bool] = []
    barrier = threading.Barrier(2)

    def go(svc: Services) -> None:
        barrier.wait()
        results.append(reminders.fire(svc, reminder_message, r.id, at))

    threads = [threading.Thread(target=go, args=(x,)) for x in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, True]
    # the next day posts again
    assert reminders.fire(a, reminder_message, r.id, datetime(2026, 12, 2, 9, 0, 1, tzinfo=ZoneInfo(NY)))
    posts = fake_slack.of("chat.postMessage")
    assert len(posts) == 2 and posts[0]["channel"] == "C9"
    assert "<!channel>" not in str(posts[0]) and "@\u2060channel" in posts[0]["text"]
    a.close()
    b.close()
