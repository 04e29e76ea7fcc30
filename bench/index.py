"""Benchmarks of the request index: sync, lookups and the shared rate budget (they print figures).

``python -m bench lookup`` : sync of one institution with N lending requests (default 20,000) and with
``--big`` (default 100,000) requests, a re-sync with nothing changed, lookup misses, cold lookup hits.
``python -m bench budget`` : two `p2p-bot sync` processes and three `p2p-bot lookup` processes at once
against one institution; the calls per second Alma sees, counted at the sandbox.

Every figure is the median (min–max) over ``--reps`` runs, beside its floor:

- *calls floor, naive*: ceil(N/100), Alma's 100 requests per task-list call; reachable only if the task
  list's filters cut every slice into parts of exactly 100, which they do not.
- *calls floor, exact*: the fewest task-list calls any reader could make to read every request, even knowing
  all of them in advance: every (library, status) slice must be asked; a slice over 100 is read through cuts
  by partner, printed, reported, requested and supplied format, only parts with requests asked. Computed from
  the sandbox's data by exhaustive search. The reader must also ask the parts it cuts (it does not know the
  data), so it cannot reach this floor exactly either.

The sandbox runs in its own process (so the bot's memory is measured alone), answers after ``--latency-ms``
and enforces Alma's 25 calls per second; the bot paces itself at 20 per second through the shared budget.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bot.sandbox.harness import StampedCalls, institutions_toml

ROOT = Path(__file__).resolve().parent.parent
TODAY = date(2026, 11, 29)
INST = "GWA"


def fig(values: Sequence[float], fmt: str = "{:.0f}") -> str:
    """median (min–max)"""
    if not values:
        return "-"
    med = fmt.format(statistics.median(values))
    if len(values) == 1:
        return med
    return f"{med} ({fmt.format(min(values))}–{fmt.format(max(values))})"


# -- the exact floor ---------------------------------------------------------------------------------
Key = tuple[str, str, str, str, str, str]  # status, partner, printed, reported, format, supplied format


def _facets(r: dict[str, Any]) -> Key:
    return (r["status"]["value"], r["partner"]["value"], "Y" if r.get("printed") else "N",
            "Y" if r.get("reported") else "N", (r.get("format") or {}).get("value") or "",
            (r.get("supplied_format") or {}).get("value") or "")


def exact_floor(requests: list[dict[str, Any]], statuses: Sequence[str]) -> int:
    """The fewest task-list calls that read every request (see the module docstring); 10**6 per part that
    no combination of filters brings under 100."""
    items = list(Counter(_facets(r) for r in requests).items())
    memo: dict[tuple[tuple[int, str], ...], int] = {}

    def best(its: list[tuple[Key, int]], dims: tuple[int, ...], key: tuple[tuple[int, str], ...]) -> int:
        total = sum(c for _k, c in its)
        if total == 0:
            return 0
        if total <= 100:
            return 1
        if key in memo:
            return memo[key]
        result = 10**6
        for d in dims:
            if d == 5 and any(k[5] == "" for k, _c in its):
                continue  # requests not supplied yet have no supplied format: no part would hold them
            groups: dict[str, list[tuple[Key, int]]] = {}
            for k, c in its:
                groups.setdefault(k[d], []).append((k, c))
            rest = tuple(x for x in dims if x != d)
            cost = 0
            for v, g in groups.items():
                cost += best(g, rest, tuple(sorted((*key, (d, v)))))
                if cost >= result:
                    break
            result = min(result, cost)
        memo[key] = result
        return result

    floor = 0
    for status in statuses:  # every slice is asked, empty or not
        part = [(k, c) for k, c in items if k[0] == status]
        floor += max(1, best(part, (1, 2, 3, 4, 5), ((0, status),)))
    return floor


# -- a sandbox process ---------------------------------------------------------------------------------
class SandboxProcess:
    def __init__(self, scale: int, latency_ms: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "sandbox", "--port", "0", "--scale", str(scale), "--scale-institution",
             INST, "--latency-ms", str(latency_ms), "--today", TODAY.isoformat()],
            cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().split()
        self.url = first[3]
        from bot.sandbox.data import INSTITUTIONS

        self.key = next(k for c, _n, _ic, k, _l, _s in INSTITUTIONS if c == INST)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def _service(url: str, key: str, db: str, rate: float = 20.0) -> Any:
    from bot.core.lookup import LookupService
    from bot.edges.alma.client import AlmaClient, make_http_client
    from bot.edges.settings import Institution
    from bot.edges.store import Store
    from bot.sandbox.data import REPORT_PATH

    store = Store(db)
    inst = Institution(code=INST, name="George Washington University", base_url=url, api_key=key,
                       rs_libraries=("GELMAN",), borrowing_report=REPORT_PATH, api_key_env="ALMA_KEY_GWA")
    client = AlmaClient(make_http_client(), url, key, institution=INST, key_env="ALMA_KEY_GWA",
                        limiter=store.budget(f"{INST}@{url}", rate))
    return LookupService(store, [inst], {INST: client}, refresh_after=timedelta(days=1)), client, store


def _data(scale: int) -> list[dict[str, Any]]:
    from bot.sandbox import data

    insts = data.build(TODAY, scale=scale, scale_institution=INST)
    return next(i for i in insts if i.code == INST).lending


def bench_sync(n: int, reps: int, latency: float) -> dict[str, Any]:
    from bot.sandbox.data import LENDING_MANDATORY, LENDING_OPTIONAL

    lending = _data(n)
    total = len(lending)
    statuses = [c for c, _d in LENDING_MANDATORY + LENDING_OPTIONAL]
    exact = exact_floor(lending, statuses)
    out: dict[str, list[float]] = {k: [] for k in ("indexed", "calls", "tl", "retries", "secs", "peak",
                                                    "again_calls", "again_secs", "truncated")}
    sb = SandboxProcess(n, latency)
    try:
        for _ in range(reps):
            with tempfile.TemporaryDirectory() as tmp:
                svc, client, store = _service(sb.url, sb.key, f"sqlite:///{tmp}/b.sqlite3")
                svc.labels(INST, "lending")  # reference data in the cache, as after a first start
                svc.partner_codes(INST)
                calls0, retries0 = client.stats.calls, client.stats.retries
                tracemalloc.start()
                t0 = time.perf_counter()
                rep = svc.sync([INST], full=True)[0]
                secs = time.perf_counter() - t0
                _cur, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                assert rep.ok, rep.problem
                out["indexed"].append(100.0 * rep.lending / total)
                out["calls"].append(client.stats.calls - calls0)
                out["tl"].append(client.stats.calls - calls0 - 1)  # one Analytics page
                out["retries"].append(client.stats.retries - retries0)
                out["secs"].append(secs)
                out["peak"].append(peak / 2**20)
                out["truncated"].append(len(rep.truncated))
                t0 = time.perf_counter()
                again = svc.sync([INST])[0]
                out["again_secs"].append(time.perf_counter() - t0)
                out["again_calls"].append(again.calls)
                store.close()
    finally:
        sb.stop()
    return {"n": total, "naive": math.ceil(total / 100), "exact": exact, "slices": len(statuses), **out}


def bench_lookups(n: int, reps: int, latency: float) -> dict[str, Any]:
    sb = SandboxProcess(n, latency)
    lending = _data(n)
    rng = random.Random(5)
    out: dict[str, list[float]] = {"miss_calls": [], "miss_secs": [], "again_calls": [], "cold_calls": [],
                                   "cold_secs": [], "cold_found": [], "cold_total": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            svc, client, store = _service(sb.url, sb.key, f"sqlite:///{tmp}/b.sqlite3")
            assert svc.sync([INST])[0].ok
            for k in range(reps):
                typo = f"ILL-{rng.randint(10**6, 10**7)}X{k}"
                c0 = client.stats.calls
                t0 = time.perf_counter()
                res = svc.lookup(typo)
                out["miss_secs"].append(time.perf_counter() - t0)
                out["miss_calls"].append(client.stats.calls - c0)
                assert not res.found and res.checked
                c0 = client.stats.calls
                svc.lookup(typo)
                out["again_calls"].append(client.stats.calls - c0)
            store.close()
            by_status: dict[str, list[dict[str, Any]]] = {}
            for r in lending:
                by_status.setdefault(r["status"]["value"], []).append(r)
            for k in range(reps):
                # a request the index does not have yet: one from each status, the index empty
                cold, ccalls, csecs = 0, [], []
                for status, reqs in sorted(by_status.items()):
                    svc2, client2, store2 = _service(sb.url, sb.key, f"sqlite:///{tmp}/cold-{k}-{status}.sqlite3")
                    svc2.labels(INST, "lending")
                    c0 = client2.stats.calls
                    t0 = time.perf_counter()
                    res = svc2.lookup(rng.choice(reqs)["external_id"])
                    csecs.append(time.perf_counter() - t0)
                    ccalls.append(client2.stats.calls - c0)
                    cold += bool(res.found)
                    store2.close()
                out["cold_calls"].append(statistics.median(ccalls))
                out["cold_secs"].append(statistics.median(csecs))
                out["cold_found"].append(cold)
                out["cold_total"].append(len(by_status))
    finally:
        sb.stop()
    return out


def bench_lookup(args: argparse.Namespace) -> int:
    n, big, reps, latency = args.requests, args.big, args.reps, args.latency_ms
    print(f"Request index, one institution ({INST}), sandbox in its own process answering after {latency:.0f} ms, "
          f"Alma's 25 calls/s enforced, the bot at 20 calls/s; {reps} runs each, median (min–max). "
          f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d')}.")
    rows = []
    for size in (n, big):
        if size <= 0:
            continue
        print(f"  syncing {size:,} requests…", file=sys.stderr, flush=True)
        r = bench_sync(size, reps if size == n else max(1, args.big_reps), latency)
        rows.append(r)
    print("\n| sync (full, cold index) | indexed | calls | floor naive / exact | × exact | 429s | seconds | peak MiB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = [c / r["exact"] for c in r["tl"]]
        print(f"| 1 × {r['n']:,} lending | {fig(r['indexed'], '{:.1f}')}% | {fig(r['calls'])} "
              f"| {r['naive']} / {r['exact']} | {fig(ratio, '{:.2f}')} | {fig(r['retries'])} | {fig(r['secs'], '{:.1f}')} "
              f"| {fig(r['peak'], '{:.1f}')} |")
    for r in rows:
        print(f"re-sync of 1 × {r['n']:,} with nothing changed: {fig(r['again_calls'])} calls (floor {r['slices']} + 1: "
              f"one per slice, one Analytics page), {fig(r['again_secs'], '{:.1f}')} s; "
              f"slices not readable whole: {fig(r['truncated'])}")
    print(f"  lookups against 1 × {n:,}…", file=sys.stderr, flush=True)
    lk = bench_lookups(n, reps, latency)
    print("\n| lookup | calls | seconds | floor / target |")
    print("|---|---|---|---|")
    print(f"| miss (a typo, after a sync) | {fig(lk['miss_calls'])} "
          f"| {fig(lk['miss_secs'], '{:.2f}')} | 1 per RS library (its total unchanged since the sync) / ≤ 20 |")
    print(f"| the same miss again | {fig(lk['again_calls'])} | - | 0 (remembered) |")
    print(f"| cold hit (empty index), median over one id per status | {fig(lk['cold_calls'])} "
          f"| {fig(lk['cold_secs'], '{:.2f}')} | 1 library + ≤ 1 per status / a handful |")
    print(f"cold hits found live: {fig(lk['cold_found'])} of {lk['cold_total'][0]:.0f} (an id deep in a slice over 100 "
          "is answered 'not found, not indexed yet' until the next sync)")
    return 0


def bench_budget(args: argparse.Namespace) -> int:
    """Two sync processes and three lookup processes on one institution; calls per second counted at Alma."""
    from bot.sandbox.server import Sandbox, SandboxState

    n, latency, reps = args.requests, args.latency_ms, args.reps
    peaks, over, sync_secs, totals = [], [], [], []
    for _ in range(reps):
        state = SandboxState(today=TODAY, scale=n, scale_institution=INST, latency_ms=latency)
        log = StampedCalls()
        state.calls = log
        with Sandbox(state) as sb, tempfile.TemporaryDirectory() as tmp:
            toml, keys = institutions_toml(sb.base_url, calls_per_second=20)
            env = {**os.environ, **keys}
            (Path(tmp) / "p.toml").write_text(toml, encoding="utf-8")
            env = {k: v for k, v in env.items() if not k.startswith("ALMA_API")}
            env.update({"P2PBOT_CONFIG": f"{tmp}/p.toml", "P2PBOT_DATABASE_URL": f"sqlite:///{tmp}/p.db"})
            argvs = [["sync", "--full", "--institution", INST]] * 2 + [["lookup", f"NO-SUCH-{k}", "--json"]
                                                                     for k in range(3)]
            t0 = time.perf_counter()
            procs = [subprocess.Popen([sys.executable, "-m", "bot", *a], env=env, cwd=ROOT, text=True,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for a in argvs]
            ends = []
            for p in procs[:2]:
                p.wait(timeout=1800)
                ends.append(time.perf_counter() - t0)
            for p in procs[2:]:
                p.wait(timeout=600)
            assert [p.returncode for p in procs] == [0, 0, 1, 1, 1], [p.returncode for p in procs]
        mine = sorted(t for inst, t in log.at if inst == INST)
        best, j, excess = 0, 0, 0
        for i, t in enumerate(mine):
            while t - mine[j] >= 1.0:
                j += 1
            best = max(best, i - j + 1)
            excess += (i - j + 1) > 25  # the sandbox answered this one with a 429
        peaks.append(best)
        over.append(excess)
        sync_secs.append(max(ends))
        totals.append(len(mine))
    print(f"Shared rate budget: 2 × `p2p-bot sync --full` + 3 × `p2p-bot lookup` at once, one institution with "
          f"{n:,} lending requests, sandbox latency {latency:.0f} ms, each process configured at 20 calls/s; "
          f"{reps} runs, median (min–max); counted at the sandbox")
    print("| calls/s peak (any 1 s window) | limit | 429s | calls | both syncs done (s) |")
    print("|---|---|---|---|---|")
    print(f"| {fig(peaks)} | 25 (Alma) / 20 (configured) | {fig(over)} | {fig(totals)} | {fig(sync_secs, '{:.1f}')} |")
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--big", type=int, default=100_000, help="lookup: the large sync (0 to skip)")
    p.add_argument("--reps", type=int, default=3, help="answers, lookup, budget: repetitions")
    p.add_argument("--big-reps", type=int, default=1, help="lookup: repetitions of the large sync")
