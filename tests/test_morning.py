"""The morning post: exactly once per channel and day across threads, processes and restarts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.core import morning
from bot.core.services import Services
from bot.edges.settings import Settings
from bot.edges.store import Store
from bot.frontends.blocks import expiry_messages
from bot.sandbox.server import Sandbox
from tests.conftest import ROOT, TODAY, sandbox_institutions

NY = ZoneInfo("America/New_York")


def services_for(sandbox: Sandbox, fake: Any, db_url: str) -> Services:
    return Services(Settings(database_url=db_url, slack_bot_token="xoxb-t", slack_api_url=f"{fake.url}/api/",
                             institutions=sandbox_institutions(sandbox)))


def main_posts(fake: Any) -> list[dict[str, Any]]:
    return [p for p in fake.of("chat.postMessage") if not p.get("thread_ts")]


def test_post_content(sandbox: Sandbox, fake_slack: Any, db_url: str) -> None:
    svc = services_for(sandbox, fake_slack, db_url)
    failed = next(d for d, s in sandbox.state.by_code("GWA").scenario.items() if s == "failed")
    day = datetime.fromisoformat(failed).date()
    results = morning.post(svc, expiry_messages, day, datetime(day.year, day.month, day.day, 8, tzinfo=NY))
    assert [r.posted for r in results] == [True, True, True]  # one channel per institution
    post = main_posts(fake_slack)[0]
    text = json.dumps(post["blocks"], ensure_ascii=False)
    assert "❌" in text and "FAILED" in text and "How to fix" in text and "config-expiry-job" in text
    threads = [p for p in fake_slack.of("chat.postMessage") if p.get("thread_ts")]
    assert len(threads) == 3 and "did not move on" in json.dumps(threads[0])
    assert fake_slack.problems == []
    svc.close()


def test_two_clocks_racing_on_one_database_post_once(sandbox: Sandbox, fake_slack: Any, db_url: str) -> None:
    clocks = [services_for(sandbox, fake_slack, db_url) for _ in range(4)]  # separate engines, one SQLite file
    barrier = threading.Barrier(len(clocks))
    now = datetime(TODAY.year, TODAY.month, TODAY.day, 7, 30, tzinfo=NY)

    def go(svc: Services) -> None:
        barrier.wait()
        morning.post(svc, expiry_messages, TODAY, now)

    threads = [threading.Thread(target=go, args=(s,)) for s in clocks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(main_posts(fake_slack)) == 3  # one per channel, not 3 x 4
    assert len({p["channel"] for p in main_posts(fake_slack)}) == 3
    for s in clocks:
        s.close()


@pytest.mark.long
def test_two_real_processes_post_once(sandbox: Sandbox, fake_slack: Any, tmp_path: Path) -> None:
    env = {**os.environ, "ALMA_API_URL": sandbox.base_url, "ALMA_API_KEY": "sandbox-key-amu",
           "P2PBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'race.sqlite3'}", "SLACK_BOT_TOKEN": "xoxb-t",
           "SLACK_API_URL": f"{fake_slack.url}/api/", "P2PBOT_CHANNEL": "C0RACE"}
    Store(env["P2PBOT_DATABASE_URL"]).close()  # schema first, so the race is about the post
    procs = [subprocess.Popen([sys.executable, "-m", "bot", "expiry-check", "--json", "--post"], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-500:] for o in outs]
    posted = [json.loads(o[0])["posted"][0]["posted"] for o in outs]
    assert posted.count(True) == 1
    assert len(main_posts(fake_slack)) == 1


def test_a_restart_between_claim_and_post_recovers(sandbox: Sandbox, fake_slack: Any, db_url: str) -> None:
    svc = services_for(sandbox, fake_slack, db_url)
    channel = next(iter(morning.channels(svc)))
    assert svc.store.claim("morning", channel, TODAY.isoformat(), by="dead-process")  # then the process died
    now = datetime(TODAY.year, TODAY.month, TODAY.day, 7, 31, tzinfo=NY)
    first = {r.channel: r for r in morning.post(svc, expiry_messages, TODAY, now)}
    assert first[channel].posted is False  # a fresh claim is respected
    with svc.store.begin() as conn:  # 20 minutes later the unfinished claim is stale
        from sqlalchemy import update

        from bot.edges.store import claims

        conn.execute(update(claims).values(claimed_at=datetime.now(ZoneInfo("UTC")) - timedelta(minutes=20))
                     .where(claims.c.claimed_by == "dead-process"))
    again = {r.channel: r for r in morning.post(svc, expiry_messages, TODAY, now)}
    assert again[channel].posted is True
    assert len([p for p in main_posts(fake_slack) if p["channel"] == channel]) == 1
    svc.close()


def test_a_failed_post_releases_the_claim(sandbox: Sandbox, fake_slack: Any, db_url: str) -> None:
    svc = services_for(sandbox, fake_slack, db_url)
    fake_slack.fail["chat.postMessage"] = "channel_not_found"
    assert not any(r.posted for r in morning.post(svc, expiry_messages, TODAY))
    del fake_slack.fail["chat.postMessage"]
    assert all(r.posted for r in morning.post(svc, expiry_messages, TODAY))
    svc.close()


def test_catch_up_after_downtime(sandbox: Sandbox, fake_slack: Any, db_url: str, tmp_path: Path) -> None:
    svc = services_for(sandbox, fake_slack, db_url)
    before = datetime(TODAY.year, TODAY.month, TODAY.day, 6, 0, tzinfo=NY)
    assert morning.catch_up(svc, expiry_messages, before) == []  # not due yet
    within = datetime(TODAY.year, TODAY.month, TODAY.day, 9, 0, tzinfo=NY)
    assert all(r.posted and r.reason == "" for r in morning.catch_up(svc, expiry_messages, within))
    assert all(not r.posted for r in morning.catch_up(svc, expiry_messages, within))  # already done
    svc.close()
    late_svc = services_for(sandbox, fake_slack, f"sqlite:///{tmp_path / 'late.sqlite3'}")
    fake_slack.calls.clear()
    after = datetime(TODAY.year, TODAY.month, TODAY.day, 13, 0, tzinfo=NY)
    results = morning.catch_up(late_svc, expiry_messages, after)
    assert all(r.posted and r.reason == "late notice" for r in results)
    assert all("Late" in p["text"] for p in main_posts(fake_slack))
    late_svc.close()


# -- Alma cannot be asked; manual runs; a failed thread reply ----------------------------------------------
def test_unknown_is_could_not_check_not_an_alarm(sandbox: Sandbox, fake_slack: Any, db_url: str) -> None:
    svc = services_for(sandbox, fake_slack, db_url)
    sandbox.state.set_mode(refuse_all=True)
    now = datetime(TODAY.year, TODAY.month, TODAY.day, 7, 30, tzinfo=NY)
    assert all(r.posted for r in morning.post(svc, expiry_messages, TODAY, now))
    post = main_posts(fake_slack)[0]
    text = json.dumps(post, ensure_ascii=False)
    assert "❔" in text and "could not check" in text
    assert "did NOT run" not in text and "How to fix" not in text and "❌" not in text
    thread = json.dumps(next(p for p in fake_slack.of("chat.postMessage") if p.get("thread_ts")))
    assert "refused" in thread and "API key" in thread
    svc.close()


def test_a_manual_post_before_the_post_time_leaves_the_day_to_the_real_post(sandbox: Sandbox, fake_slack: Any,
                                                                           db_url: str) -> None:
    svc = services_for(sandbox, fake_slack, db_url)
    early = datetime(TODAY.year, TODAY.month, TODAY.day, 6, 0, tzinfo=NY)
    first = morning.post(svc, expiry_messages, TODAY, early, manual=True)
    assert all(r.posted and r.reason.startswith("provisional") for r in first)
    again = morning.post(svc, expiry_messages, TODAY, early, manual=True)
    assert not any(r.posted for r in again)  # one provisional post a day at most
    real = morning.post(svc, expiry_messages, TODAY, datetime(TODAY.year, TODAY.month, TODAY.day, 7, 30, tzinfo=NY))
    assert all(r.posted and r.reason == "" for r in real)  # the real morning post still went out
    assert not any(r.posted for r in morning.post(svc, expiry_messages, TODAY))  # and the day is done
    assert len(main_posts(fake_slack)) == 2 * len(first)
    svc.close()


def test_a_manual_post_with_unknown_does_not_claim_the_day(sandbox: Sandbox, fake_slack: Any, db_url: str) -> None:
    svc = services_for(sandbox, fake_slack, db_url)
    nine = datetime(TODAY.year, TODAY.month, TODAY.day, 9, 0, tzinfo=NY)
    sandbox.state.set_mode(refuse_all=True)
    first = morning.post(svc, expiry_messages, TODAY, nine, manual=True)
    assert all(r.posted and "could not check" in r.reason for r in first)
    sandbox.state.set_mode(refuse_all=False)  # the key is fixed
    later = morning.post(svc, expiry_messages, TODAY, nine, manual=True)
    assert all(r.posted and r.reason == "" for r in later)  # a full check claims the day
    assert not any(r.posted for r in morning.catch_up(svc, expiry_messages, nine))
    svc.close()


def test_a_failed_thread_reply_keeps_the_claim(sandbox: Sandbox, fake_slack: Any, db_url: str) -> None:
    svc = services_for(sandbox, fake_slack, db_url)
    fake_slack.fail_thread_replies = "ratelimited"
    now = datetime(TODAY.year, TODAY.month, TODAY.day, 7, 30, tzinfo=NY)
    first = morning.post(svc, expiry_messages, TODAY, now)
    assert all(r.posted and "thread reply failed" in r.reason for r in first)
    fake_slack.fail_thread_replies = ""
    rerun = morning.post(svc, expiry_messages, TODAY, now)
    assert not any(r.posted for r in rerun)  # the main post was out: no second one
    assert len(main_posts(fake_slack)) == len(first)
    svc.close()
