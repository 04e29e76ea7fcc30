"""Alma webhooks over HTTP on the real server: challenge, good / bad / missing signatures."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import select

from bot.edges.store import webhook_events
from bot.frontends.webhook import signature
from tests.slack_harness import SlackHarness

BODY = json.dumps({"id": "e1", "action": "JOB_END", "time": "2026-11-29T07:00:42Z",
                   "job_instance": {"id": "77", "status": {"value": "COMPLETED_SUCCESS"},
                                    "job_info": {"id": "S48011260000521"}}}).encode()


def events(slack: SlackHarness) -> list[object]:
    with slack.services.store.engine.connect() as conn:
        return list(conn.execute(select(webhook_events)).all())


def test_challenge(slack: SlackHarness) -> None:
    r = slack.http.get(f"{slack.url}/alma/webhook", params={"challenge": "abc123"})
    assert r.status_code == 200 and r.json() == {"challenge": "abc123"}


def test_good_signature_is_recorded(slack: SlackHarness) -> None:
    r = slack.http.post(f"{slack.url}/alma/webhook?institution=GWA", content=BODY,
                        headers={"X-Exl-Signature": signature("webhook-secret", BODY),
                                 "Content-Type": "application/json"})
    assert r.status_code == 200 and r.json()["recorded"] is True
    rows = events(slack)
    assert len(rows) == 1 and rows[0].job_id == "S48011260000521" and rows[0].institution == "GWA"


@pytest.mark.parametrize("sig", [None, "", "bm90IHRoZSBzaWduYXR1cmU=", signature("wrong-secret", BODY)])
def test_bad_or_missing_signatures_are_refused_and_logged_without_the_body(
        slack: SlackHarness, sig: str | None, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    headers = {"Content-Type": "application/json"} | ({"X-Exl-Signature": sig} if sig is not None else {})
    r = slack.http.post(f"{slack.url}/alma/webhook", content=BODY, headers=headers)
    assert r.status_code == 401
    assert events(slack) == []
    assert "refused an Alma webhook" in caplog.text and "COMPLETED_SUCCESS" not in caplog.text


def test_other_events_are_acknowledged_not_kept(slack: SlackHarness) -> None:
    body = json.dumps({"id": "e2", "action": "LOAN"}).encode()
    r = slack.http.post(f"{slack.url}/alma/webhook", content=body,
                        headers={"X-Exl-Signature": signature("webhook-secret", body)})
    assert r.status_code == 200 and r.json()["recorded"] is False
