"""Alma webhooks over HTTP on the real server: challenge, good / bad / missing signatures, the institution
from the signed payload (never the query string), duplicate deliveries, and pruning."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from bot.edges.store import processed_events, sync_runs, utcnow, webhook_events
from bot.frontends.webhook import signature
from tests.slack_harness import SlackHarness


def payload(event_id: str = "e1", inst: str | None = "01WRLC_GWA", instance: str = "77") -> bytes:
    body: dict[str, Any] = {"id": event_id, "action": "JOB_END", "time": "2026-11-29T07:00:42Z",
                            "job_instance": {"id": instance, "status": {"value": "COMPLETED_SUCCESS"},
                                             "job_info": {"id": "S48011260000521"}}}
    if inst is not None:
        body["institution"] = {"value": inst, "desc": "Some institution"}
    return json.dumps(body).encode()


BODY = payload()


def events(slack: SlackHarness) -> list[Any]:
    with slack.services.store.engine.connect() as conn:
        return list(conn.execute(select(webhook_events)).all())


def deliver(slack: SlackHarness, body: bytes, query: str = "") -> Any:
    return slack.http.post(f"{slack.url}/alma/webhook{query}", content=body,
                           headers={"X-Exl-Signature": signature("webhook-secret", body),
                                    "Content-Type": "application/json"})


def test_challenge(slack: SlackHarness) -> None:
    r = slack.http.get(f"{slack.url}/alma/webhook", params={"challenge": "abc123"})
    assert r.status_code == 200 and r.json() == {"challenge": "abc123"}


def test_good_signature_is_recorded_for_the_institution_the_payload_names(slack: SlackHarness) -> None:
    r = deliver(slack, payload(inst="01WRLC_AMU"), "?institution=GWA")  # the unsigned query string lies
    assert r.status_code == 200 and r.json()["recorded"] is True
    rows = events(slack)
    assert len(rows) == 1 and rows[0].job_id == "S48011260000521" and rows[0].institution == "AMU"


def test_an_unknown_or_missing_institution_is_not_kept(slack: SlackHarness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    for body in (payload("e2", inst="01SOMEONE_ELSE"), payload("e3", inst=None)):
        r = deliver(slack, body, "?institution=GWA")
        assert r.status_code == 200 and r.json()["recorded"] is False
    assert events(slack) == [] and "alma_institution_code" in caplog.text


def test_a_single_institution_needs_no_mapping(sandbox: Any, db_url: str) -> None:
    from dataclasses import replace

    from bot.core.services import Services
    from bot.edges.settings import Settings
    from bot.frontends.webhook import institution_for
    from tests.conftest import sandbox_institutions

    one = replace(sandbox_institutions(sandbox)[0], alma_code="")
    svc = Services(Settings(database_url=db_url, institutions=(one,)))
    assert institution_for(json.loads(payload(inst=None)), svc.settings.institutions) is one
    assert institution_for(json.loads(payload(inst="01X")), svc.settings.institutions) is one
    svc.close()


def test_duplicate_deliveries_are_ignored(slack: SlackHarness) -> None:
    first = deliver(slack, BODY)
    again = deliver(slack, BODY)  # Alma retries the same event
    assert first.json()["recorded"] is True and again.json() == {"ok": True, "recorded": False, "duplicate": True}
    same_body_no_id = payload("", instance="78")
    assert deliver(slack, same_body_no_id).json()["recorded"] is True
    assert deliver(slack, same_body_no_id).json()["recorded"] is False
    assert len(events(slack)) == 2


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
    r = deliver(slack, body)
    assert r.status_code == 200 and r.json()["recorded"] is False
    assert deliver(slack, b"[1, 2]").status_code == 400  # signed, but not an event


def test_old_deliveries_keys_and_sync_runs_are_pruned(db_url: str) -> None:
    from bot.core.services import Services
    from bot.edges.settings import Settings
    from bot.frontends.clock import prune_logs

    svc = Services(Settings(database_url=db_url, retention_days=30))
    old, new = utcnow() - timedelta(days=40), utcnow() - timedelta(days=2)
    with svc.store.begin() as conn:
        for at, n in ((old, 1), (new, 2)):
            conn.execute(insert(processed_events).values(key=f"k{n}", at=at))
            conn.execute(insert(webhook_events).values(received_at=at, event_id=f"e{n}", action="JOB_END",
                                                       payload="{}"))
        for at, inst in ((old, "GWA"), (old, "GWA"), (new, "GWA"), (old, "AMU")):
            conn.execute(insert(sync_runs).values(institution=inst, started_at=at, ok=True))
    assert prune_logs(svc) == {"processed_events": 1, "webhook_events": 1, "sync_runs": 2}
    with svc.store.engine.connect() as conn:
        left = dict(conn.execute(select(sync_runs.c.institution, func.count()).group_by(sync_runs.c.institution))
                    .all())
        keys = [r.key for r in conn.execute(select(processed_events))]
    assert left == {"GWA": 1, "AMU": 1}  # AMU's only (old) run is kept: the latest per institution stays
    assert keys == ["k2"]
    svc.close()


def test_an_institutions_own_secret_identifies_it(slack: SlackHarness) -> None:
    from dataclasses import replace

    insts = slack.services.settings.institutions
    own = tuple(replace(i, webhook_secret="mu-own-secret") if i.code == "MU" else i for i in insts)
    slack.services.settings = replace(slack.services.settings, institutions=own)
    body = payload("e7", inst=None)  # the payload names no institution: the signature does
    r = slack.http.post(f"{slack.url}/alma/webhook?institution=GWA", content=body,
                        headers={"X-Exl-Signature": signature("mu-own-secret", body)})
    assert r.status_code == 200 and r.json()["recorded"] is True
    assert [e.institution for e in events(slack)] == ["MU"]


def test_a_named_webhook_secret_variable_must_be_set(tmp_path: Any) -> None:
    from bot.edges.settings import ConfigError, load

    toml = tmp_path / "p.toml"
    toml.write_text('[[institution]]\ncode = "GWA"\napi_key_env = "K"\nalma_institution_code = "01WRLC_GWA"\n'
                    'webhook_secret_env = "WH_GWA"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load({"P2PBOT_CONFIG": str(toml), "K": "key"})
    assert "WH_GWA" in str(info.value)
    inst = load({"P2PBOT_CONFIG": str(toml), "K": "key", "WH_GWA": "s3cret"}).institutions[0]
    assert inst.webhook_secret == "s3cret" and inst.alma_code == "01WRLC_GWA" and "s3cret" not in repr(inst)
