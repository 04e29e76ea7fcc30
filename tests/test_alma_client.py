"""The Alma client against the sandbox over real HTTP on loopback: happy paths and every fault."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
import pytest

from bot.edges.alma import errors
from bot.edges.alma.client import RATE_LIMITED_FACTOR, AlmaClient, RateLimiter
from bot.sandbox.server import PER_SECOND_LIMIT, Sandbox
from tests.conftest import fast_client, in_threads

JOB = "S48011260000521"


def test_paging_is_hidden_and_complete(http: httpx.Client, sandbox: Sandbox) -> None:
    c = fast_client(http, sandbox)
    all_partners = list(c.partners())
    assert len(all_partners) == len(sandbox.state.by_code("GWA").partners) == 33
    small = list(c._paged("/partners", "partner", {}, page=7))  # 4 pages of 7 then the rest
    assert [p["partner_details"]["code"] for p in small] == [p.code for p in all_partners]
    assert sandbox.state.calls_to("GET", "/partners") == 1 + 5
    assert all(p.iso_symbol for p in all_partners if p.profile_type in ("ISO", "ISO_18626", "NCIP_P2P"))
    assert {p.profile_type for p in all_partners} == {"ISO", "ISO_18626", "NCIP_P2P", "EMAIL"}


def test_remaining_quota_is_recorded_and_decreases(http: httpx.Client, sandbox: Sandbox) -> None:
    c = fast_client(http, sandbox)
    c.test()
    first = c.remaining
    c.test()
    assert first is not None and c.remaining == first - 1


def test_per_second_storm_is_retried(http: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.state.inject("429", count=3)
    c = fast_client(http, sandbox)
    assert c.get_partner("SUNYBUF").name == "University at Buffalo, SUNY"
    assert c.stats.retries == 3


def test_endless_per_second_storm_ends_in_a_sentence(http: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.state.inject("429", count=50)
    c = fast_client(http, sandbox, max_retries=3)
    with pytest.raises(errors.AlmaRateLimited) as info:
        c.get_partner("SUNYBUF")
    assert "slow down" in errors.sentence(info.value)
    assert c.stats.calls == 1 + 3 * RATE_LIMITED_FACTOR  # bounded (a 429 gets more tries than other errors)


@pytest.mark.long
def test_a_client_that_goes_too_fast_gets_429_and_recovers(http: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.state.per_second = PER_SECOND_LIMIT  # Alma's real limit, which this client ignores
    c = fast_client(http, sandbox, limiter=RateLimiter(1000), sleep=time.sleep, backoff=0.2, max_retries=10)

    def work() -> None:
        for _ in range(6):
            c.test()

    in_threads(work, 8)  # 48 calls at once
    assert c.stats.retries > 0  # the sandbox enforced 25/s and the client backed off until it succeeded
    assert c.stats.calls - c.stats.retries == 48


@pytest.mark.parametrize("kind", ["500", "503", "garbage"])
def test_transient_faults_are_retried(http: httpx.Client, sandbox: Sandbox, kind: str) -> None:
    sandbox.state.inject(kind, count=2)
    c = fast_client(http, sandbox)
    reqs, total = c.lending_requests("GELMAN")
    assert total == len(reqs) > 0


@pytest.mark.parametrize(("kind", "phrase"), [("500", "not answering"), ("garbage", "not valid JSON")])
def test_persistent_faults_end_in_unavailable(http: httpx.Client, sandbox: Sandbox, kind: str, phrase: str) -> None:
    sandbox.state.inject(kind, count=20)
    c = fast_client(http, sandbox, max_retries=2)
    with pytest.raises(errors.AlmaUnavailable) as info:
        c.lending_requests("GELMAN")
    assert phrase in errors.sentence(info.value) or phrase in str(info.value)


def test_timeouts_are_retried(sandbox: Sandbox) -> None:
    sandbox.state.timeout_sleep = 0.6
    sandbox.state.inject("timeout", count=1)
    with httpx.Client(timeout=httpx.Timeout(2.0, read=0.3)) as short:
        c = fast_client(short, sandbox)
        assert c.get_partner("SUNYALB").code == "SUNYALB"
        assert c.stats.retries == 1


def test_post_is_not_retried_on_5xx(http: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.state.inject("500", count=1, method="POST")
    c = fast_client(http, sandbox)
    body = c.get_partner_json("P2P_UCF")
    body["partner_details"]["code"] = "NEWCODE"
    with pytest.raises(errors.AlmaUnavailable):
        c.create_partner(body)
    assert sandbox.state.calls_to("POST", "/partners") == 1


def test_wrong_key_is_an_auth_error_without_the_key(http: httpx.Client, sandbox: Sandbox,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "l8xx-super-secret-key"
    c = AlmaClient(http, sandbox.base_url, secret, institution="X", sleep=lambda _s: None)
    with pytest.raises(errors.AlmaAuthError) as info:
        c.test()
    text = errors.sentence(info.value) + str(info.value) + repr(c) + caplog.text
    assert secret not in text
    assert "API key" in errors.sentence(info.value)


def test_not_found_is_http_400_with_a_code(http: httpx.Client, sandbox: Sandbox) -> None:
    c = fast_client(http, sandbox)
    with pytest.raises(errors.AlmaNotFound) as info:
        c.get_partner("NOPE")
    assert info.value.status == 400 and info.value.code == "402118"
    with pytest.raises(errors.AlmaNotFound):
        c.borrowing_request_by_external("G00000000", "x")  # 401890 user not found


def test_daily_quota_stops_calls(http: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.state.remaining["sandbox-key-gwa"] = 2
    c = fast_client(http, sandbox)
    c.test()
    c.test()
    assert c.remaining == 0
    calls = len(sandbox.state.calls)
    with pytest.raises(errors.AlmaQuotaExceeded):
        c.test()
    assert len(sandbox.state.calls) == calls  # refused locally: no call spent past the quota


def test_ids_with_slashes_are_one_path_segment(http: httpx.Client, sandbox: Sandbox) -> None:
    inst = sandbox.state.by_code("GWA")
    req = next(r for r in inst.borrowing if r["external_id"].startswith("1//47BIB"))
    c = fast_client(http, sandbox)
    got = c.borrowing_request_by_external(req["requester"]["value"], req["external_id"])
    assert got.request_id == req["request_id"]


def test_limiter_never_exceeds_its_rate_in_any_second() -> None:
    now = [0.0]
    stamps: list[float] = []

    def sleep(s: float) -> None:
        now[0] += s

    lim = RateLimiter(5, clock=lambda: now[0], sleep=sleep)
    for _ in range(23):
        lim.acquire()
        stamps.append(now[0])
        now[0] += 0.01
    for i, t in enumerate(stamps):
        assert sum(1 for u in stamps[i:] if u - t < 1.0) <= 5


def test_analytics_report_follows_the_resumption_token(http: httpx.Client, sandbox: Sandbox) -> None:
    from bot.sandbox.data import REPORT_PATH

    c = fast_client(http, sandbox)
    rows = list(c.analytics_report(REPORT_PATH, limit=25))
    assert len(rows) > 25 and sandbox.state.calls_to("GET", "/analytics/reports") == -(-len(rows) // 25)
    assert {"External Request ID", "Requester Primary Identifier", "Request Status"} <= set(rows[0])


# -- real Alma's answers: XML errors, refused keys, 429s, odd bodies, quota, deadlines ----------------------
def test_xml_and_json_error_bodies_parse_the_same() -> None:
    xml = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><web_service_result '
           'xmlns="http://com/exlibris/urm/general/xmlbeans"><errorsExist>true</errorsExist><errorList><error>'
           '<errorCode>402118</errorCode><errorMessage>Partner not found.</errorMessage>'
           '<trackingId>E01-1</trackingId></error></errorList></web_service_result>')
    as_json = {"errorsExist": True, "errorList": {"error": [{"errorCode": "402118", "errorMessage":
                                                                 "Partner not found.", "trackingId": "E01-1"}]}}
    assert errors.parse_error(xml.encode()) == errors.parse_error(as_json) == ("402118", "Partner not found.",
                                                                               "E01-1")
    assert errors.parse_error(xml.replace(' xmlns="http://com/exlibris/urm/general/xmlbeans"', ""))[0] == "402118"
    for junk in (b"", b"<html>bad gateway</html>", b"[1, 2]", b"{", "null", None, 42):
        assert errors.parse_error(junk) == ("", "", "")


@pytest.mark.parametrize(("status", "code", "remaining", "kind"), [
    (400, "UNAUTHORIZED", None, errors.AlmaAuthError),
    (429, "PER_SECOND_THRESHOLD", 0, errors.AlmaRateLimited),  # the code decides, not the header
    (429, "DAILY_THRESHOLD", None, errors.AlmaQuotaExceeded),
    (429, "", 5, errors.AlmaRateLimited),
    (429, "", 0, errors.AlmaQuotaExceeded),
    (400, "402218", None, errors.AlmaNotFound),
    (400, "411709", None, errors.AlmaConflict),
    (401, "", None, errors.AlmaAuthError),
    (502, "", None, errors.AlmaUnavailable),
    (400, "401664", None, errors.AlmaBadRequest),
])
def test_classification_goes_by_error_code_first(status: int, code: str, remaining: int | None,
                                                 kind: type[errors.AlmaError]) -> None:
    assert type(errors.classify(status, code, remaining=remaining)) is kind


def test_a_refused_key_is_said_as_a_key_problem_naming_the_variable(http: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.state.set_mode(refuse_all=True)
    c = fast_client(http, sandbox, key_env="ALMA_KEY_GWA")
    with pytest.raises(errors.AlmaAuthError) as info:
        list(c.partners())
    assert info.value.status == 400 and info.value.code == "UNAUTHORIZED"
    assert errors.sentence(info.value, "George Washington University") == (
        "Alma refused GWA's API key: check ALMA_KEY_GWA and its API permissions (Developer Network).")
    assert c.stats.calls == 1  # a refused key is not retried


def test_xml_429_on_every_other_call_changes_nothing(http: httpx.Client, sandbox: Sandbox) -> None:
    plain = [p.code for p in fast_client(http, sandbox).partners()]
    sandbox.state.set_mode(throttle_every=2)
    c = fast_client(http, sandbox)
    assert [p.code for p in c.partners()] == plain
    c.get_partner("SUNYBUF")
    assert c.stats.retries > 0 and c.remaining is not None  # retried, and never taken for the daily quota


@pytest.mark.parametrize("odd", ["empty", "list", "string", "null"])
def test_non_object_answers_are_a_readable_error_not_a_traceback(http: httpx.Client, sandbox: Sandbox,
                                                                 odd: str) -> None:
    c = fast_client(http, sandbox)
    req = sandbox.state.by_code("GWA").lending[0]
    sandbox.state.set_mode(odd_body=odd)
    calls: list[Any] = [lambda: list(c.partners()), lambda: c.get_partner("SUNYBUF"),
                        lambda: c.lending_requests("GELMAN"), lambda: list(c.jobs()), c.libraries,
                        lambda: c.code_table("systemJobStatus"),
                        lambda: c.lending_request(req["partner"]["value"], req["request_id"])]
    for call in calls:
        with pytest.raises(errors.AlmaBadResponse) as info:
            call()
        assert "cannot read" in errors.sentence(info.value)


def test_an_empty_list_is_an_answer_and_an_empty_object_is_not(http: httpx.Client, sandbox: Sandbox) -> None:
    c = fast_client(http, sandbox)
    assert list(c.job_instances(JOB, "2001-01-01", "2001-01-02")) == []
    sandbox.state.set_mode(odd_body="empty", odd_body_path="/conf/jobs")
    with pytest.raises(errors.AlmaBadResponse):
        list(c.job_instances(JOB, "2001-01-01", "2001-01-02"))


def test_the_key_check_reads_the_short_xml_answer(http: httpx.Client, sandbox: Sandbox) -> None:
    assert fast_client(http, sandbox).test() is True


def test_the_quota_lock_ends_when_alma_answers_again(http: httpx.Client, sandbox: Sandbox) -> None:
    now = [1000.0]
    sandbox.state.remaining["sandbox-key-gwa"] = 1
    c = fast_client(http, sandbox, clock=lambda: now[0])
    c.test()
    assert c.remaining == 0
    with pytest.raises(errors.AlmaQuotaExceeded):
        c.test()  # refused locally
    sandbox.state.remaining["sandbox-key-gwa"] = 1000  # the day's quota resets
    now[0] += 61  # a minute later, not an hour
    assert c.test() and c.remaining == 999
    c.test()  # and the lock is gone


def test_a_spent_quota_answered_by_alma_is_the_quota_not_a_slowdown(http: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.state.inject("daily", count=1)
    c = fast_client(http, sandbox)
    with pytest.raises(errors.AlmaQuotaExceeded) as info:
        c.get_partner("SUNYBUF")
    assert c.stats.calls == 1 and "quota" in errors.sentence(info.value)


def test_a_hung_alma_answers_within_the_deadline(sandbox: Sandbox) -> None:
    from bot.edges.alma.client import deadline

    sandbox.state.answering.clear()  # Alma holds every call until released: only the deadline can end it
    try:
        with httpx.Client(timeout=httpx.Timeout(30.0)) as slow:
            c = fast_client(slow, sandbox, sleep=time.sleep)
            with deadline(0.2), pytest.raises(errors.AlmaUnavailable) as info:
                c.get_partner("SUNYBUF")
    finally:
        sandbox.state.answering.set()
    assert info.value.code == "DEADLINE"  # the answer came from the deadline, not from Alma
    assert c.stats.calls == 1


def test_put_is_retried_only_when_alma_surely_did_not_apply_it(http: httpx.Client, sandbox: Sandbox) -> None:
    c = fast_client(http, sandbox)
    body = c.get_partner_json("P2P_UCF")
    sandbox.state.inject("429", count=2, method="PUT")
    c.update_partner("P2P_UCF", body)  # a 429 was refused before Alma did anything: retried
    assert sandbox.state.calls_to("PUT", "/partners") == 3
    sandbox.state.inject("500", count=1, method="PUT")
    with pytest.raises(errors.AlmaUnavailable):
        c.update_partner("P2P_UCF", body)  # a 500 may have applied it: never sent twice
    assert sandbox.state.calls_to("PUT", "/partners") == 4
    dead = fast_client(http, sandbox)
    dead.base_url = "http://127.0.0.1:9/almaws/v1"  # nothing listens: connecting fails, so it was not sent
    with pytest.raises(errors.AlmaUnavailable) as info:
        dead.update_partner("P2P_UCF", body)
    assert info.value.code == "CONNECT" and dead.stats.retries == dead.max_retries


def test_analytics_token_comes_once_and_is_reused(http: httpx.Client, sandbox: Sandbox) -> None:
    from urllib.parse import parse_qs

    from bot.sandbox.data import REPORT_PATH

    sandbox.state.set_mode(analytics_page_rows=25, report_headings={"Request Status": "Status (now)"})
    c = fast_client(http, sandbox)
    rows = list(c.analytics_report(REPORT_PATH, limit=1000))
    queries = [parse_qs(q) for _i, _m, p, q in sandbox.state.calls if p == "/analytics/reports"]
    assert len(queries) == -(-len(rows) // 25) > 1
    tokens = {q["token"][0] for q in queries[1:]}
    assert len(tokens) == 1 and "path" not in queries[1]  # one token, sent again for every page
    assert "Status (now)" in rows[0] and "Request Status" not in rows[0]
    assert len({r["Internal Request ID"] for r in rows}) == len(rows)  # no page read twice


def test_odd_nested_shapes_never_raise() -> None:
    from bot.edges.alma.models import JobInstance, Partner, RSRequest

    for odd in ("x", 3, None, [], [1], {"value": None}):
        p = Partner.from_json({"partner_details": odd})
        assert p.code == "" and p.expiry_time is None
        Partner.from_json({"partner_details": {"code": "A", "profile_details": odd}})
        j = JobInstance.from_json({"id": "1", "counter": odd, "alert": odd, "job_info": odd, "status": odd})
        assert j.id == "1" and j.job_id == ""
        RSRequest.from_json({"request_id": "1", "status": odd, "partner": odd, "owner": odd}, "lending")


def test_a_lookup_against_a_hung_alma_says_could_not_check_within_its_deadline(
        sandbox: Sandbox, store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The deadline reaches the lookup's worker threads too (#10.7)."""
    from bot.core import lookup

    monkeypatch.setattr(lookup, "LOOKUP_DEADLINE_S", 0.2)
    sandbox.state.latency_ms = 5000
    insts = sandbox.institutions(1)
    with httpx.Client(timeout=httpx.Timeout(30.0)) as patient:
        svc = lookup.LookupService(store, insts, {insts[0].code: fast_client(patient, sandbox, insts[0].api_key)})
        result = svc.lookup("NO-SUCH-ID")
    assert not result.found and result.could_not_check
    assert "not answering" in result.could_not_check[0] and "GWA" in result.could_not_check[0]
