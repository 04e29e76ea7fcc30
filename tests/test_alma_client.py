"""The Alma client against the sandbox over real HTTP on loopback: happy paths and every fault."""

from __future__ import annotations

import logging
import time

import httpx
import pytest

from bot.edges.alma import errors
from bot.edges.alma.client import AlmaClient, RateLimiter
from bot.sandbox.server import Sandbox
from tests.conftest import fast_client, in_threads

JOB = "S48011260000521"


def test_paging_is_hidden_and_complete(http: httpx.Client, sandbox: Sandbox) -> None:
    c = fast_client(http, sandbox)
    all_partners = list(c.partners())
    assert len(all_partners) == len(sandbox.state.by_code("GWA").partners) == 30
    small = list(c._paged("/partners", "partner", {}, page=7))  # 5 pages of 7 then the rest
    assert [p["partner_details"]["code"] for p in small] == [p.code for p in all_partners]
    assert sandbox.state.calls_to("GET", "/partners") == 1 + 5
    assert all(p.iso_symbol for p in all_partners)


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
    assert c.stats.calls == 4  # bounded


def test_real_rate_limit_kept_across_threads(http: httpx.Client, sandbox: Sandbox) -> None:
    c = fast_client(http, sandbox, limiter=RateLimiter(20))

    def work() -> None:
        for _ in range(8):
            c.test()

    in_threads(work, 6)
    assert c.stats.calls == 48 and c.stats.retries == 0  # the sandbox never had to say 429
    assert c.stats.peak_per_second() <= 20


def test_a_client_that_goes_too_fast_gets_429_and_recovers(http: httpx.Client, sandbox: Sandbox) -> None:
    c = fast_client(http, sandbox, limiter=RateLimiter(1000), sleep=time.sleep, backoff=0.2, max_retries=10)

    def work() -> None:
        for _ in range(10):
            c.test()

    in_threads(work, 8)
    assert c.stats.retries > 0  # the sandbox enforced 25/s and the client backed off until it succeeded
    assert c.stats.calls - c.stats.retries == 80


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
