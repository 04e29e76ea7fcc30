"""The expiry-job check: every classification with an injected clock, the sandbox's thirty days over
HTTP, webhooks, and the CLI contract."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from bot.core import expiry
from bot.edges.alma.models import JobInstance
from bot.edges.store import Store
from bot.frontends.cli import main
from bot.sandbox.server import Sandbox
from tests.conftest import TODAY, fast_client, sandbox_institutions

NY = ZoneInfo("America/New_York")


def run(status: str, start: str, end: str = "", expired: int | None = 5, iid: str = "1") -> JobInstance:
    counters = [{"type": {"value": "c.expired", "desc": "Requests expired"}, "value": str(expired)}] \
        if expired is not None else []
    return JobInstance.from_json({"id": iid, "status": {"value": status, "desc": status.title()},
                                  "submit_time": start, "start_time": start, "end_time": end, "counter": counters})


NOW = datetime(2026, 11, 20, 12, 0, tzinfo=NY)
DAY = date(2026, 11, 20)


@pytest.mark.parametrize(("status", "expected"), [
    ("COMPLETED_SUCCESS", "ok"), ("COMPLETED_WARNING", "warning"), ("COMPLETED_FAILED", "warning"),
    ("FAILED", "failed"), ("SYSTEM_ABORTED", "failed"), ("USER_ABORTED", "failed"), ("RUNNING", "running"),
])
def test_each_classification(status: str, expected: str) -> None:
    got, r, detail = expiry.classify([run(status, "2026-11-20T07:00:03Z", "2026-11-20T07:01:00Z")], DAY,
                                     "America/New_York", NOW)
    assert got == expected and r is not None and detail


def test_missing_and_not_yet_due() -> None:
    assert expiry.classify([], DAY, "America/New_York", NOW)[0] == "missing"
    early = datetime(2026, 11, 20, 1, 0, tzinfo=NY)
    status, _r, detail = expiry.classify([], DAY, "America/New_York", early)
    assert status == "missing" and "Not run yet" in detail


def test_running_past_the_grace_period_says_stuck() -> None:
    r = run("RUNNING", "2026-11-20T07:00:00Z")
    soon = datetime(2026, 11, 20, 2, 30, tzinfo=NY)
    assert "Running since" in expiry.classify([r], DAY, "America/New_York", soon)[2]
    assert "stuck" in expiry.classify([r], DAY, "America/New_York", NOW)[2]


def test_a_day_with_two_runs_is_decided_by_the_last() -> None:
    aborted = run("SYSTEM_ABORTED", "2026-11-20T07:00:00Z", "2026-11-20T07:00:30Z", iid="a")
    rerun = run("COMPLETED_SUCCESS", "2026-11-20T14:15:00Z", "2026-11-20T14:16:00Z", expired=9, iid="b")
    status, decided, detail = expiry.classify([rerun, aborted], DAY, "America/New_York", NOW)
    assert status == "ok" and decided is rerun and "Earlier that day: System_Aborted" in detail
    assert expiry.classify([aborted, run("FAILED", "2026-11-20T15:00:00Z", iid="c")], DAY,
                           "America/New_York", NOW)[0] == "failed"


def test_daylight_saving_days_use_local_time() -> None:
    # 1 Nov 2026: clocks fall back; 02:00 EST is 07:00 UTC
    fall = run("COMPLETED_SUCCESS", "2026-11-01T07:00:02Z", "2026-11-01T07:01:00Z")
    after = datetime(2026, 11, 1, 12, 0, tzinfo=NY)
    assert expiry.classify([fall], date(2026, 11, 1), "America/New_York", after)[0] == "ok"
    # 8 Mar 2026: 02:00 does not exist; Alma runs at 03:00 EDT, still 07:00 UTC, still that local day
    spring = run("COMPLETED_SUCCESS", "2026-03-08T07:00:02Z", "2026-03-08T07:00:40Z")
    assert expiry.classify([spring], date(2026, 3, 8), "America/New_York",
                           datetime(2026, 3, 8, 12, tzinfo=NY))[0] == "ok"
    # late evening local time is the next UTC date but still the local day
    late = run("COMPLETED_SUCCESS", "2026-11-02T04:30:00Z", "2026-11-02T04:31:00Z")
    assert expiry.classify([late], date(2026, 11, 1), "America/New_York", after)[0] == "ok"
    assert expiry.classify([late], date(2026, 11, 2), "America/New_York",
                           datetime(2026, 11, 2, 12, tzinfo=NY))[0] == "missing"


def test_every_seeded_day_is_classified_as_the_sandbox_made_it(sandbox: Sandbox, http: httpx.Client,
                                                               store: Store) -> None:
    insts = list(sandbox_institutions(sandbox))
    clients = {i.code: fast_client(http, sandbox, i.api_key) for i in insts}
    now = datetime(TODAY.year, TODAY.month, TODAY.day, 12, tzinfo=NY)
    days = sorted(sandbox.state.by_code("GWA").scenario)
    assert len(days) == 30 and days[-1] == TODAY.isoformat()
    seen = set()
    for d in days:
        rep = expiry.check(insts, clients, store, date.fromisoformat(d), now)
        for i in rep.institutions:
            assert i.status == sandbox.state.by_code(i.code).scenario[d], (d, i.code, i.detail)
            seen.add(i.status)
    assert seen == set(expiry.STATUSES) - {"unknown"}  # Alma always answered


def test_job_not_found_and_alma_down_are_sentences(sandbox: Sandbox, http: httpx.Client, store: Store) -> None:
    inst = sandbox_institutions(sandbox)[0]
    from dataclasses import replace

    odd = replace(inst, expiry_job_name="No Such Job")
    out = expiry.check_institution(fast_client(http, sandbox), store, odd, TODAY)
    assert out.status == "missing" and "No Such Job" in out.detail
    sandbox.state.inject("500", count=100)
    down = expiry.check_institution(fast_client(http, sandbox, max_retries=1), Store("sqlite://"), inst, TODAY)
    assert down.status == "unknown" and down.detail.startswith("Could not check: ")
    assert "not answering" in down.detail


def test_a_webhook_job_end_fills_what_polling_does_not_see(sandbox: Sandbox, http: httpx.Client,
                                                          store: Store) -> None:

    from bot.frontends import webhook

    inst = sandbox_institutions(sandbox)[0]
    missing_day = next(d for d, s in sandbox.state.by_code("GWA").scenario.items() if s == "missing")
    payload = {"id": "evt1", "action": "JOB_END", "job_instance": {
        "id": "999", "status": {"value": "COMPLETED_SUCCESS", "desc": "Completed Successfully"},
        "submit_time": f"{missing_day}T07:00:00Z", "start_time": f"{missing_day}T07:00:01Z",
        "end_time": f"{missing_day}T07:00:30Z", "job_info": {"id": "S48011260000521"},
        "counter": [{"type": {"value": "x", "desc": "Requests expired"}, "value": "3"}]}}
    assert webhook.record(store, payload, "GWA")
    out = expiry.check_institution(fast_client(http, sandbox), store, inst, date.fromisoformat(missing_day))
    assert out.status == "ok" and out.expired == 3


def _env(monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox, db: str, **extra: str) -> None:
    monkeypatch.setenv("ALMA_API_URL", sandbox.base_url)
    monkeypatch.setenv("ALMA_API_KEY", "sandbox-key-gwa")
    monkeypatch.setenv("P2PBOT_DATABASE_URL", db)
    for k, v in extra.items():
        monkeypatch.setenv(k, v)


def test_cli_contract_for_a_date(monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox, db_url: str,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    _env(monkeypatch, sandbox, db_url)
    failed = next(d for d, s in sandbox.state.by_code("GWA").scenario.items() if s == "failed")
    assert main(["expiry-check", "--json", "--date", failed]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["date"] == failed
    inst = out["institutions"][0]
    assert set(inst) == {"code", "status", "started", "ended", "expired", "detail"}
    assert inst["status"] == "failed" and inst["started"].startswith(f"{failed}T02:00")


def test_cli_post_twice_posts_once(monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox, db_url: str,
                                   fake_slack: Any, capsys: pytest.CaptureFixture[str]) -> None:
    _env(monkeypatch, sandbox, db_url, SLACK_BOT_TOKEN="xoxb-t", SLACK_API_URL=f"{fake_slack.url}/api/",
         P2PBOT_CHANNEL="C0ILL")
    day = (TODAY - timedelta(days=1)).isoformat()
    assert main(["expiry-check", "--json", "--date", day, "--post"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(["expiry-check", "--json", "--date", day, "--post"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert first["posted"][0]["posted"] is True and second["posted"][0]["posted"] is False
    posts = [p for p in fake_slack.of("chat.postMessage") if "thread_ts" not in p]
    assert len(posts) == 1 and posts[0]["channel"] == "C0ILL"
    assert fake_slack.problems == []


# -- when Alma cannot be asked: "unknown" with the reason, never a false "did not run" ----------------------
def test_a_refused_key_gives_unknown_with_a_key_sentence(monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox,
                                                        db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    _env(monkeypatch, sandbox, db_url, ALMA_INSTITUTION="GWA")
    sandbox.state.set_mode(refuse_all=True)  # every call: XML 400 UNAUTHORIZED
    assert main(["expiry-check", "--json"]) == 0
    inst = json.loads(capsys.readouterr().out)["institutions"][0]
    assert inst["status"] == "unknown" and inst["started"] is None
    assert inst["detail"] == ("Could not check: Alma refused GWA's API key: check ALMA_API_KEY and its API "
                              "permissions (Developer Network).")


def test_xml_429_on_every_other_call_gives_the_same_check(sandbox: Sandbox, http: httpx.Client,
                                                         new_store: Callable[[], Store]) -> None:
    insts = list(sandbox_institutions(sandbox))
    now = datetime(TODAY.year, TODAY.month, TODAY.day, 12, tzinfo=NY)
    days = sorted(sandbox.state.by_code("GWA").scenario)[-12:]  # failed, missing, running... and today

    def reports() -> list[dict[str, Any]]:
        clients = {i.code: fast_client(http, sandbox, i.api_key) for i in insts}
        return [expiry.check(insts, clients, new_store(), date.fromisoformat(d), now).to_json()
                for d in days]

    calm = reports()
    sandbox.state.set_mode(throttle_every=2)
    stormy = reports()
    assert stormy == calm
    assert {i["status"] for r in calm for i in r["institutions"]} >= {"ok", "failed", "missing"}


def test_the_cli_check_is_the_same_under_429s(monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox, db_url: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    _env(monkeypatch, sandbox, db_url)
    failed = next(d for d, s in sandbox.state.by_code("GWA").scenario.items() if s == "failed")
    assert main(["expiry-check", "--json", "--date", failed]) == 0
    calm = json.loads(capsys.readouterr().out)
    sandbox.state.set_mode(throttle_every=2)
    assert main(["expiry-check", "--json", "--date", failed]) == 0
    assert json.loads(capsys.readouterr().out) == calm


@pytest.mark.parametrize(("mode", "phrase"), [({"odd_body": "empty"}, "cannot read"),
                                               ({"odd_body": "list", "odd_body_path": "/conf/jobs/"}, "cannot read"),
                                               ({"latency_ms": 3000}, "not answering")])
def test_unreadable_or_hung_alma_gives_unknown(sandbox: Sandbox, http: httpx.Client, store: Store,
                                               mode: dict[str, Any], phrase: str) -> None:
    inst = sandbox_institutions(sandbox)[0]
    expiry.check_institution(fast_client(http, sandbox), store, inst, TODAY)  # the job id is cached
    sandbox.state.set_mode(**mode)
    with httpx.Client(timeout=httpx.Timeout(30.0)) as patient:
        out = expiry.check_institution(fast_client(patient, sandbox), store, inst, TODAY, deadline_s=0.5)
    assert out.status == "unknown" and phrase in out.detail


def test_a_webhook_still_decides_when_alma_cannot_be_asked(sandbox: Sandbox, http: httpx.Client,
                                                           store: Store) -> None:
    from bot.frontends import webhook

    inst = sandbox_institutions(sandbox)[0]
    expiry.check_institution(fast_client(http, sandbox), store, inst, TODAY)  # the job id is cached
    day = TODAY.isoformat()
    assert webhook.record(store, {"id": "evt9", "action": "JOB_END", "job_instance": {
        "id": "w1", "status": {"value": "COMPLETED_SUCCESS", "desc": "Completed Successfully"},
        "submit_time": f"{day}T07:00:00Z", "start_time": f"{day}T07:00:01Z", "end_time": f"{day}T07:00:30Z",
        "job_info": {"id": "S48011260000521"},
        "counter": [{"type": {"value": "x", "desc": "Requests expired"}, "value": "4"}]}}, "GWA")
    sandbox.state.set_mode(refuse_all=True)
    out = expiry.check_institution(fast_client(http, sandbox), store, inst, TODAY)
    assert out.status == "ok" and out.expired == 4 and "could not be asked" in out.detail


def test_cli_post_posts_what_it_printed_asking_alma_once(monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox,
                                                         db_url: str, fake_slack: Any,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    _env(monkeypatch, sandbox, db_url, SLACK_BOT_TOKEN="xoxb-t", SLACK_API_URL=f"{fake_slack.url}/api/",
         P2PBOT_CHANNEL="C0ILL")
    day = next(d for d, s in sandbox.state.by_code("GWA").scenario.items() if s == "failed")
    assert main(["expiry-check", "--json", "--date", day, "--post"]) == 0
    assert json.loads(capsys.readouterr().out)["posted"][0]["posted"] is True
    assert sandbox.state.calls_to("GET", "/conf/jobs/S48011260000521/instances") == 1
