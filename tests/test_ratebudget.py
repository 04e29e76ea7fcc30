"""One Alma calls-per-second budget per institution, shared by every process on the store."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.edges.ratebudget import LocalPacer
from bot.edges.store import Store
from bot.frontends.cli import main
from bot.sandbox.data import INSTITUTIONS, REPORT_PATH
from bot.sandbox.harness import StampedCalls, institutions_toml
from bot.sandbox.server import PER_SECOND_LIMIT, Sandbox, SandboxState
from tests.conftest import ROOT, TODAY, fast_client


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += max(0.0, seconds)


def test_two_processes_share_one_evenly_paced_budget(tmp_path: Path) -> None:
    """Two stores on one database file stand for two processes: their slots interleave, one 1/rate apart."""
    url = f"sqlite:///{tmp_path / 'b.sqlite3'}"
    first, second = Store(url), Store(url)
    clock = FakeClock()
    a = first.budget("GWA@host", 20)
    b = second.budget("GWA@host", 20)
    for budget in (a, b):
        budget._clock, budget._sleep = clock, clock.sleep
    slots = [(a if k % 3 else b).reserve() for k in range(60)]
    assert sorted(slots) == slots
    gaps = {round(y - x, 6) for x, y in itertools.pairwise(slots)}
    assert gaps == {0.05}  # 20 per second, never two in the same slot, whichever process asked
    other = first.budget("AMU@host", 20)
    other._clock = clock
    assert other.reserve() == clock.now  # each institution has its own budget
    first.close()
    second.close()


def test_an_idle_budget_does_not_save_up_a_burst(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'b.sqlite3'}")
    clock = FakeClock()
    budget = store.budget("GWA@host", 10)
    budget._clock, budget._sleep = clock, clock.sleep
    budget.acquire()
    clock.sleep(60)  # a quiet minute
    slots = [budget.acquire() for _ in range(5)]
    assert [round(s - slots[0], 6) for s in slots] == [0.0, 0.1, 0.2, 0.3, 0.4]
    store.close()


@pytest.mark.long
def test_a_client_on_the_shared_budget_is_never_refused(tmp_path: Path, http: httpx.Client) -> None:
    store = Store(f"sqlite:///{tmp_path / 'b.sqlite3'}")
    with Sandbox(SandboxState(today=TODAY)) as sb:
        clients = [fast_client(http, sb, limiter=store.budget("GWA@sandbox", 20)) for _ in range(2)]

        def work(c: Any) -> None:
            for _ in range(6):  # 36 calls asked for at once, well over Alma's 25 in a second
                c.test()

        threads = [threading.Thread(target=work, args=(c,)) for c in clients for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(c.stats.calls for c in clients) == 36 and all(c.stats.retries == 0 for c in clients)
    store.close()


def test_local_pacer_spaces_calls() -> None:
    clock = FakeClock()
    pacer = LocalPacer(4, clock=clock, sleep=clock.sleep)
    slots = [pacer.acquire() for _ in range(5)]
    assert [round(s - slots[0], 6) for s in slots] == [0.0, 0.25, 0.5, 0.75, 1.0]


def busiest_second(stamps: list[float]) -> int:
    stamps = sorted(stamps)
    best, j = 0, 0
    for i, t in enumerate(stamps):
        while t - stamps[j] >= 1.0:
            j += 1
        best = max(best, i - j + 1)
    return best


@pytest.mark.long(8)
def test_two_syncs_and_three_lookups_stay_under_alma_limit(tmp_path: Path) -> None:
    """Five p2p-bot processes at once against one institution: Alma never sees more than 25 calls in a second.

    Each process is configured at 15 calls/s: alone, the two syncs would send 30 a second (five processes 75);
    shared, all five send 15, and the margin to 25 absorbs the scheduling delays of a loaded test machine.
    With each process pacing only itself, the busiest second holds about 50 calls."""
    state = SandboxState(today=TODAY, scale=600, scale_institution="GWA")
    state.calls = StampedCalls()
    with Sandbox(state) as sb:
        toml, keys = institutions_toml(sb.base_url, calls_per_second=15)
        env = {**os.environ, **keys}
        (tmp_path / "p2p.toml").write_text(toml, encoding="utf-8")
        env.update({"P2PBOT_CONFIG": str(tmp_path / "p2p.toml"), "P2PBOT_DATABASE_URL": f"sqlite:///{tmp_path}/p.db"})
        env.pop("ALMA_API_URL", None)
        env.pop("ALMA_API_KEY", None)
        argvs = [["sync", "--full", "--institution", "GWA"], ["sync", "--full", "--institution", "GWA"],
                 ["lookup", "NO-SUCH-1", "--json"],
                 ["lookup", "NO-SUCH-2", "--json"], ["lookup", "NO-SUCH-3", "--json"]]
        procs = [subprocess.Popen([sys.executable, "-m", "bot", *a], env=env, cwd=ROOT, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for a in argvs]
        outs = [p.communicate(timeout=300) for p in procs]
        codes = [p.returncode for p in procs]
    assert codes == [0, 0, 1, 1, 1], outs
    stamps = [t for inst, t in state.calls.at if inst == "GWA"]
    assert len(stamps) > 3 * PER_SECOND_LIMIT  # seconds of work at the five processes' demand of 75 a second
    assert any(f in q for i, _m, p, q in state.calls if i == "GWA" and p.startswith("/task-lists")
               for f in ("partner=", "printed=", "reported=", "requested_format="))  # big slices were cut
    assert busiest_second(stamps) <= PER_SECOND_LIMIT


@pytest.mark.long
def test_a_refused_key_is_exit_3_for_lookup_and_a_failed_sync_naming_the_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`p2p-bot sync` then `lookup` (the CLI's main, in this process: the five processes above run the same
    commands as processes); then every call refused by an XML 400 UNAUTHORIZED."""
    with Sandbox(SandboxState(today=TODAY)) as sb:
        code, name, _ic, key, libs, _sfx = INSTITUTIONS[0]
        (tmp_path / "p2p.toml").write_text(
            f'[[institution]]\ncode = "{code}"\nname = "{name}"\nurl = "{sb.base_url}"\napi_key_env = "ALMA_KEY_{code}"\n'
            f'rs_libraries = {json.dumps(libs)}\nborrowing_report = "{REPORT_PATH}"\n', encoding="utf-8")
        for var in [k for k in os.environ if k.startswith("ALMA_")]:
            monkeypatch.delenv(var)
        monkeypatch.setenv("P2PBOT_CONFIG", str(tmp_path / "p2p.toml"))
        monkeypatch.setenv(f"ALMA_KEY_{code}", key)
        monkeypatch.setenv("P2PBOT_DATABASE_URL", f"sqlite:///{tmp_path}/p.db")

        def bot(*argv: str) -> tuple[int, str, str]:
            code = main(list(argv))
            out = capsys.readouterr()
            return code, out.out, out.err

        assert bot("sync")[0] == 0
        ext = sb.state.by_code(code).lending[0]["external_id"]
        sb.state.set_mode(refuse_all=True)
        status, _out, err = bot("sync")
        assert status != 0 and f"ALMA_KEY_{code}" in err and code in err
        status, out, err = bot("lookup", "NOT-A-REQUEST", "--json")
        assert status == 3, out + err
        said = json.loads(out)["could_not_check"]
        assert said[0].startswith(f"could not check {code}: ") and f"ALMA_KEY_{code}" in said[0]
        assert bot("lookup", ext, "--no-live", "--json")[0] == 0  # the indexed rows are all still there


@pytest.mark.xdist_group("postgres")  # one worker, one throwaway server (make test: --dist loadgroup)
def test_the_budget_and_the_index_swap_on_postgres(pg_db: str, http: httpx.Client) -> None:
    """The same atomic slot-taking and the staged, all-or-nothing swap on a real PostgreSQL server."""
    from bot.core.lookup import LookupService
    from tests.conftest import sandbox_institutions

    first, second = Store(pg_db), Store(pg_db)
    clock = FakeClock()
    a, b = first.budget("GWA@pg", 20), second.budget("GWA@pg", 20)
    for budget in (a, b):
        budget._clock, budget._sleep = clock, clock.sleep
    slots = [(a if k % 2 else b).reserve() for k in range(20)]
    assert {round(y - x, 6) for x, y in itertools.pairwise(slots)} == {0.05}
    with Sandbox(SandboxState(today=TODAY, scale=1500, scale_institution="GWA")) as sb:
        insts = sandbox_institutions(sb)
        svc = LookupService(first, insts, {i.code: fast_client(http, sb, i.api_key, limiter=first.budget(i.code, 1000))
                                           for i in insts})
        sb.state.per_second = 10**6  # this test is about the database, not Alma's limit
        rep = svc.sync(["GWA"])[0]
        assert rep.ok and rep.lending == len(sb.state.by_code("GWA").lending)
        sb.state.set_mode(odd_body="empty", odd_body_path="/task-lists")
        assert not svc.sync(["GWA"])[0].ok
        again = LookupService(second, insts, svc.clients)
        ext = sb.state.by_code("GWA").lending[-1]["external_id"]
        assert again.lookup(ext, live=False).found  # every row kept through the failed sync
    first.close()
    second.close()
