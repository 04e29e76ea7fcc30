"""Partner onboarding against the sandbox over HTTP: the whole flow, every refusal and Alma error, and a
field-by-field check that the swap-all PUT preserved everything the bot did not mean to change."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.core.partners import Onboarding, PartnerError, flatten
from bot.core.services import Services
from bot.edges.settings import PartnerPolicy, Settings
from bot.edges.store import Store, audit_log
from bot.sandbox.server import Sandbox
from commands import Context, dispatch
from tests.conftest import fast_client, sandbox_institutions
from tests.slack_harness import SlackHarness

POLICY = PartnerPolicy(borrowing_workflow="P2P_BORROWING", lending_workflow="P2P_LENDING", expiry_days=5,
                       rota_template="LOAN Rota", temp_item_rule="P2P Temp Items", lending_rule="SUNY Lending",
                       managers=("UMGR",))


def ob(sandbox: Sandbox, http: httpx.Client, store: Store, **kw: Any) -> Onboarding:
    inst = sandbox_institutions(sandbox)[0]
    return Onboarding(store, POLICY, inst, fast_client(http, sandbox, inst.api_key, **kw))


def partner(sandbox: Sandbox, code: str) -> dict[str, Any]:
    return json.loads(json.dumps(sandbox.state.by_code("GWA").partners[code]))


def test_whole_flow_for_a_new_partner(sandbox: Sandbox, http: httpx.Client, store: Store) -> None:
    o = ob(sandbox, http, store)
    before = partner(sandbox, "P2P_CLEMSON")
    pre = o.preview("Clemson", "UMGR")
    assert pre.state == "preview" and pre.code == "P2P_CLEMSON"
    assert {c.field for c in pre.changes} == {"borrowing_workflow", "lending_workflow", "expiry_time"}
    done = o.confirm(pre.code, "UMGR", pre.preview_key)
    assert done.state == "profile_set" and done.changed
    after = partner(sandbox, "P2P_CLEMSON")
    assert after["partner_details"]["borrowing_workflow"] == "P2P_BORROWING"
    assert after["partner_details"]["profile_details"]["iso_details"]["expiry_time"] == 5
    # the swap-all PUT kept every other field exactly as it was
    a, b = flatten(before), flatten(after)
    changed = {k for k in set(a) | set(b) if a.get(k) != b.get(k)}
    assert changed == {"partner_details.borrowing_workflow", "partner_details.lending_workflow",
                       "partner_details.profile_details.iso_details.expiry_time"}
    assert sandbox.state.calls_to("PUT", "/partners/P2P_CLEMSON") == 1
    # the checklist, with exact values, survives and completes
    items = [c["item"] for c in done.checklist]
    assert items == ["rota", "temp_item_rule", "tou", "locate_profile", "expiry_job"]
    assert '"LOAN Rota"' in done.checklist[0]["title"] and "Clemson University" in done.checklist[1]["how"]
    finished = False
    for item in items:
        out, finished_now = o.mark_done("P2P_CLEMSON", item, "UMGR")
        finished = finished or finished_now
    assert finished and out.state == "complete"
    again = Onboarding(store, POLICY, o.inst, o.client)  # a restart: the record is in the store
    assert again.registry()[0]["done"] == 5 and again.registry()[0]["state"] == "complete"
    with store.engine.connect() as conn:
        actions = [r.action for r in conn.execute(select(audit_log))]
    assert actions.count("partner.profile") == 1 and actions.count("partner.checklist") == 5


def test_a_second_run_changes_nothing_and_says_so(sandbox: Sandbox, http: httpx.Client, store: Store) -> None:
    o = ob(sandbox, http, store)
    pre = o.preview("P2P_JMU", "UMGR")
    assert pre.state == "preview"
    o.confirm(pre.code, "UMGR", pre.preview_key)
    second = o.confirm("P2P_JMU", "UMGR")
    assert second.state == "unchanged" and "nothing was changed" in second.message
    assert sandbox.state.calls_to("PUT", "/partners/P2P_JMU") <= 1


def test_double_confirm_puts_once(sandbox: Sandbox, http: httpx.Client, store: Store) -> None:
    o = ob(sandbox, http, store)
    pre = o.preview("SFU", "UMGR")  # an ISO symbol
    assert pre.code == "P2P_FURMAN" and pre.changes
    o.confirm(pre.code, "UMGR", pre.preview_key)
    o.confirm(pre.code, "UMGR", pre.preview_key)
    assert sandbox.state.calls_to("PUT", f"/partners/{pre.code}") <= 1


def test_partner_already_in_policy(sandbox: Sandbox, http: httpx.Client, store: Store) -> None:
    pre = ob(sandbox, http, store).preview("University of South Carolina", "UMGR")
    assert pre.state == "preview" and pre.changes == [] and "already matches" in pre.message


def test_ambiguous_name_offers_a_choice(sandbox: Sandbox, http: httpx.Client, store: Store) -> None:
    pre = ob(sandbox, http, store).preview("University of", "UMGR")
    assert pre.state == "ambiguous" and len(pre.candidates) >= 2


def test_nz_managed_partner_is_refused(sandbox: Sandbox, http: httpx.Client, store: Store) -> None:
    pre = ob(sandbox, http, store).preview("Buffalo", "UMGR")
    assert pre.state == "refused" and "servicedesk@wrlc.org" in pre.message
    assert sandbox.state.calls_to("PUT", "/partners") == 0


def test_not_in_alma_yet_then_copied(sandbox: Sandbox, http: httpx.Client, store: Store) -> None:
    o = ob(sandbox, http, store)
    miss = o.preview("Florida Atlantic University", "UMGR")
    assert miss.state == "not_found" and "Community tab" in miss.message
    httpx.post(sandbox.base_url.replace("/almaws/v1", "/sandbox/directory/GWA/P2P_FAU"))  # staff copy it in the UI
    found = o.preview("Florida Atlantic University", "UMGR", refresh=True)
    assert found.state == "preview" and found.code == "P2P_FAU"


@pytest.mark.parametrize("query", ["", "   "])
def test_an_empty_partner_query_changes_nothing(sandbox: Sandbox, http: httpx.Client, store: Store,
                                                 query: str) -> None:
    """An empty code once matched a partner whose ISO symbol is empty, and `partner add '' --yes` set its
    profile in Alma."""
    o = ob(sandbox, http, store)
    assert o.find(query) == []
    with pytest.raises(PartnerError, match="Give the partner's code"):
        o.preview(query, "UMGR")
    assert sandbox.state.calls_to("PUT", "/partners") == 0


@pytest.mark.parametrize(("fault", "phrase"), [("500", "not answering"), ("429", "slow down")])
def test_alma_errors_on_put_leave_the_partner_as_it_was(sandbox: Sandbox, http: httpx.Client, store: Store,
                                                       fault: str, phrase: str) -> None:
    o = ob(sandbox, http, store, max_retries=1)
    pre = o.preview("P2P_ROLLINS", "UMGR")
    assert pre.changes
    before = partner(sandbox, "P2P_ROLLINS")
    sandbox.state.inject(fault, count=10, path="/partners/P2P_ROLLINS", method="PUT")
    out = o.confirm("P2P_ROLLINS", "UMGR", pre.preview_key)
    assert out.state == "failed" and phrase in out.message and "as it was" in out.message
    assert partner(sandbox, "P2P_ROLLINS") == before
    sandbox.state.faults.clear()
    assert o.confirm("P2P_ROLLINS", "UMGR", pre.preview_key).state == "profile_set"  # the claim was released


def test_business_errors_from_alma_are_sentences(sandbox: Sandbox, http: httpx.Client, store: Store) -> None:
    o = ob(sandbox, http, store)
    pre = o.preview("P2P_ODU", "UMGR")
    # another partner already uses the symbol this record carries: Alma answers 411709 on the PUT
    sandbox.state.by_code("GWA").partners["P2P_ODU"]["partner_details"]["profile_details"]["iso_details"][
        "iso_symbol"] = "SEA"
    out = o.confirm("P2P_ODU", "UMGR", pre.preview_key)
    assert out.state == "failed" and "ISO symbol SEA" in out.message
    assert "402118" not in out.message
    gone = o.check("NOT_A_PARTNER")
    assert gone.state == "not_found"  # 402118 became a sentence


def test_drift_check(sandbox: Sandbox, http: httpx.Client, store: Store) -> None:
    o = ob(sandbox, http, store)
    res = o.check("P2P_CLEMSON")
    assert res.state == "drift" and {c.field for c in res.drift} >= {"borrowing_workflow"}
    lists = o.in_list_names()
    assert all("University of South Carolina" in names for names in lists.values())


def _svc(sandbox: Sandbox, db_url: str, fake: Any = None) -> Services:
    s = Settings(database_url=db_url, institutions=sandbox_institutions(sandbox), partner_policy=POLICY,
                 rs_channel="C0RS")
    if fake is not None:
        s = replace(s, slack_bot_token="xoxb", slack_api_url=f"{fake.url}/api/")
    return Services(s)


def test_non_managers_are_refused_in_slack(sandbox: Sandbox, db_url: str) -> None:
    svc = _svc(sandbox, db_url)
    out = dispatch(Context(svc, user_id="USTUDENT", surface="slack"), "partner add Clemson")
    assert "Only partner managers" in out.text
    assert sandbox.state.calls_to("GET", "/partners") == 0
    listing = dispatch(Context(svc, user_id="USTUDENT", surface="slack"), "partner list")  # reading is fine
    assert "No partners onboarded" in listing.text
    svc.close()


def test_slack_flow_with_buttons_and_retries(slack: SlackHarness) -> None:
    slack.services.settings = replace(slack.services.settings, partner_policy=POLICY, rs_channel="C0RS")
    refused = slack.command("partner add Clemson", user="UOTHER")
    assert "Only partner managers" in refused.json()["text"]
    ack = slack.command("partner add Clemson", user="UMGR").json()
    assert "Looking the partner up" in ack["text"]  # acknowledged before Alma is asked

    def posted(phrase: str) -> list[dict[str, Any]]:
        return [m for m in slack.fake.of("response_url") if phrase in json.dumps(m)]

    assert slack.fake.wait_for(lambda: bool(posted("Confirm")))
    preview = posted("Confirm")[0]
    confirm = next(el for b in preview["blocks"] if b["type"] == "actions" for el in b["elements"]
                   if el["text"]["text"] == "Confirm")
    slack.click("partner_cmd", confirm["value"], user="UMGR")
    slack.click("partner_cmd", confirm["value"], user="UMGR")  # a double click
    assert slack.fake.wait_for(lambda: bool(posted("verified in Alma")) and bool(posted("already")))
    assert slack.sandbox.state.calls_to("PUT", "/partners/P2P_CLEMSON") == 1  # two clicks, one PUT
    done_values = sorted({el["value"] for m in posted("verified in Alma") for b in m.get("blocks", [])
                          if b["type"] == "actions" for el in b["elements"] if el["value"].startswith("done ")})
    assert len(done_values) == 5
    for value in done_values:
        slack.click("partner_cmd", value, user="UMGR")
    assert slack.fake.wait_for(lambda: any(p.get("channel") == "C0RS" for p in slack.fake.of("chat.postMessage")))
    summary = [p for p in slack.fake.of("chat.postMessage") if p.get("channel") == "C0RS"]
    assert len(summary) == 1 and "is now a P2P partner" in summary[0]["text"]


def test_cli_add_yes_json_then_again_then_list(monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox, db_url: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from bot.frontends.cli import main

    monkeypatch.setenv("ALMA_API_URL", sandbox.base_url)
    monkeypatch.setenv("ALMA_API_KEY", "sandbox-key-amu")
    monkeypatch.setenv("P2PBOT_DATABASE_URL", db_url)
    assert main(["partner", "add", "P2P_UCF", "--yes", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["state"] == "profile_set" and first["changed"] is True
    amu = sandbox.state.by_code("AMU").partners["P2P_UCF"]["partner_details"]
    assert (amu["borrowing_workflow"], amu["lending_workflow"]) == ("P2P_BORROWING", "P2P_LENDING")
    assert main(["partner", "add", "P2P_UCF", "--yes", "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["state"] == "unchanged" and second["changed"] is False and "nothing" in second["message"]
    assert main(["partner", "done", "P2P_UCF", "rota", "--json"]) == 0
    capsys.readouterr()
    assert main(["partner", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["code"] == "P2P_UCF" and rows[0]["done"] == 1 and rows[0]["total"] == 5
    assert main(["partner", "check", "P2P_UCF", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "ok"


def test_nightly_audit_posts_drift_once_a_day(sandbox: Sandbox, db_url: str, fake_slack: Any) -> None:
    from bot.core.partners import nightly_audit, onboarding

    svc = _svc(sandbox, db_url, fake_slack)
    o = onboarding(svc)
    pre = o.preview("P2P_FURMAN", "cli")
    o.confirm(pre.code, "cli", pre.preview_key)
    sandbox.state.by_code("GWA").partners["P2P_FURMAN"]["partner_details"]["lending_workflow"] = "DEFAULT_LEND_WF"
    drifted = nightly_audit(svc)
    assert [d.code for d in drifted] == ["P2P_FURMAN"] and drifted[0].drift[0].field == "lending_workflow"
    nightly_audit(svc)
    posts = [p for p in fake_slack.of("chat.postMessage") if p["channel"] == "C0RS"]
    assert len(posts) == 1 and "Furman University" in posts[0]["text"]
    svc.close()


# -- profile types, a failed read-back, the institution asked for --------------------------------------------
def test_iso_18626_and_email_partners_get_workflows_and_no_invented_expiry(sandbox: Sandbox, http: httpx.Client,
                                                                          store: Store) -> None:
    o = ob(sandbox, http, store)
    for code, block in (("P2P_TAMU", "iso_18626_details"), ("P2P_APPSTATE", "email_details")):
        before = partner(sandbox, code)
        pre = o.preview(code, "UMGR")
        assert {c.field for c in pre.changes} == {"borrowing_workflow", "lending_workflow"}
        assert pre.not_settable == ["request_expiry_type", "expiry_time"] and "no request expiry" in pre.message
        done = o.confirm(code, "UMGR", pre.preview_key)
        assert done.state == "profile_set" and "cannot be set" in done.message
        after = partner(sandbox, code)
        a, b = flatten(before), flatten(after)
        assert {k for k in set(a) | set(b) if a.get(k) != b.get(k)} == {
            "partner_details.borrowing_workflow", "partner_details.lending_workflow"}
        assert set(after["partner_details"]["profile_details"]) == {"profile_type", block}
        assert o.check(code).state == "ok"  # no drift over a field the type does not have


def test_ncip_p2p_partner_gets_its_expiry_in_its_own_block(sandbox: Sandbox, http: httpx.Client,
                                                           store: Store) -> None:
    o = ob(sandbox, http, store)
    pre = o.preview("Davidson College", "UMGR")
    assert pre.code == "P2P_DAVIDSON" and "expiry_time" in {c.field for c in pre.changes} and not pre.not_settable
    assert o.confirm(pre.code, "UMGR", pre.preview_key).state == "profile_set"
    details = partner(sandbox, "P2P_DAVIDSON")["partner_details"]["profile_details"]
    assert details["ncip_p2p_details"]["expiry_time"] == 5 and set(details) == {"profile_type", "ncip_p2p_details"}


def test_a_failed_read_back_is_changed_not_yet_verified_and_audited(sandbox: Sandbox, http: httpx.Client,
                                                                    store: Store) -> None:
    o = ob(sandbox, http, store, max_retries=1)
    pre = o.preview("P2P_WINTHROP", "UMGR")
    # the GET before the PUT goes through; the read-back after it fails
    sandbox.state.inject("500", count=10, path="/partners/P2P_WINTHROP", method="GET", skip=1)
    out = o.confirm("P2P_WINTHROP", "UMGR", pre.preview_key)
    assert out.state == "changed_unverified" and out.changed and "not yet verified" in out.message
    assert partner(sandbox, "P2P_WINTHROP")["partner_details"]["profile_details"]["iso_details"]["expiry_time"] == 5
    with store.engine.connect() as conn:
        rows = [r for r in conn.execute(select(audit_log)) if r.action == "partner.profile"]
    assert len(rows) == 1 and json.loads(rows[0].after)["expiry_time"] == 5  # the real change is audited
    assert o.record("P2P_WINTHROP")["state"] == "profile_set"  # type: ignore[index]
    sandbox.state.faults.clear()
    again = o.confirm("P2P_WINTHROP", "UMGR", pre.preview_key)
    assert again.state == "unchanged" and sandbox.state.calls_to("PUT", "/partners/P2P_WINTHROP") == 1


def test_onboarding_never_falls_back_to_another_institution(sandbox: Sandbox, db_url: str) -> None:
    from bot.core.partners import PartnerError, onboarding

    svc = _svc(sandbox, db_url)
    assert onboarding(svc).inst.code == "GWA"  # nothing asked for: the default
    assert onboarding(svc, "amu").inst.code == "AMU"
    with pytest.raises(PartnerError) as info:
        onboarding(svc, "XYZ")
    assert "XYZ" in str(info.value) and "GWA, AMU, MU" in str(info.value)
    svc.close()


def test_a_hung_alma_answers_the_person_within_the_deadline(sandbox: Sandbox, http: httpx.Client,
                                                            store: Store) -> None:
    from bot.edges.alma.errors import AlmaUnavailable

    sandbox.state.latency_ms = 3000
    with httpx.Client(timeout=httpx.Timeout(30.0)) as patient:
        o = ob(sandbox, patient, store)
        o.deadline_s = 0.2
        with pytest.raises(AlmaUnavailable) as info:
            o.preview("P2P_CLEMSON", "UMGR", refresh=True)
    assert info.value.code == "DEADLINE"


def test_a_put_alma_never_answered_is_not_called_unchanged(sandbox: Sandbox, http: httpx.Client,
                                                           store: Store) -> None:
    o = ob(sandbox, http, store)
    pre = o.preview("P2P_WINTHROP", "UMGR")
    sandbox.state.timeout_sleep = 3.0  # Alma applies the PUT, but only after we stopped waiting
    sandbox.state.inject("timeout", count=1, path="/partners/P2P_WINTHROP", method="PUT")
    with httpx.Client(timeout=httpx.Timeout(30.0)) as patient:
        slow = ob(sandbox, patient, store)
        slow.deadline_s = 1.0
        out = slow.confirm("P2P_WINTHROP", "UMGR", pre.preview_key)
    assert out.state == "failed" and "did not say whether" in out.message and "as it was" not in out.message
    assert sandbox.state.calls_to("PUT", "/partners/P2P_WINTHROP") == 1  # a PUT that may have landed: not resent
