"""Benchmarks that print figures (never run by the test suite).

``python -m bench answers`` (``make bench WHAT=answers``): see :mod:`bench.answers` (quality on the shipped
topics, the raw seed and other pages vs bm25s; ask latency at 10k/50k sections; indexing 1,000 pages; cold ask).
``python -m bench calibrate``: see :mod:`bench.calibrate` (our never-read question sets on the engine of the day
#9 was filed and on today's, beside the issue's own figure for its unseen set).
``python -m bench alma-faults [--baseline]``: the expiry check on real Alma's bad days (XML 429s, a refused
key, a hung Alma with and without the deadline).
``python -m bench lookup`` / ``python -m bench budget``: see :mod:`bench.index` (sync at 20k and 100k beside its
calls floor, misses, cold hits; the rate budget shared by five processes, counted at the sandbox).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.answers import bench_answers
from bot.core.evaluate import percentile
from bot.sandbox.harness import institutions_toml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_QUESTIONS = ROOT.parent / "shared" / "eval" / "dev-questions.jsonl"


def _spawn(argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bot", *argv], env=env, cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def bench_slack(args: argparse.Namespace) -> int:
    """Signed /p2p status <id> commands against `p2p-bot serve` (its own process, as deployed), with the
    sandbox (its own process) answering every Alma call after 2 s; a fake Slack receives the final answers."""
    import os
    import socket
    import tempfile
    from urllib.parse import urlencode

    import httpx
    from slack_sdk.signature import SignatureVerifier

    from bot.sandbox.data import INSTITUTIONS
    from tests.fake_slack import FakeSlack

    n, latency = args.commands, args.latency_ms
    secret = "bench-secret"
    fake = FakeSlack().start()
    procs: list[subprocess.Popen[str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            sandbox = _spawn(["sandbox", "--port", "0", "--latency-ms", str(latency)], dict(os.environ))
            procs.append(sandbox)
            assert sandbox.stdout is not None
            base = sandbox.stdout.readline().split()[3]
            tables, keys = institutions_toml(base)
            env = {**os.environ, **keys}
            (Path(tmp) / "p2p.toml").write_text("[bot]\nlookup_refresh_minutes = 0\n\n" + tables, encoding="utf-8")
            env.update({"P2PBOT_CONFIG": str(Path(tmp) / "p2p.toml"), "P2PBOT_DATABASE_URL": f"sqlite:///{tmp}/b.db",
                        "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": secret,
                        "SLACK_API_URL": f"{fake.url}/api/"})
            print(f"indexing the sandbox first (every call takes {latency:.0f} ms)…", flush=True)
            subprocess.run([sys.executable, "-m", "bot", "sync"], env=env, cwd=ROOT, check=True, capture_output=True)
            with httpx.Client() as c:
                ids = [r["external_id"] for code, _n, _ic, key, libs, _s in INSTITUTIONS
                       for r in c.get(f"{base}/task-lists/rs/lending-requests", params={"library": libs[0]},
                                      headers={"Authorization": f"apikey {key}", "Accept": "application/json"},
                                      timeout=30).json()
                       ["user_resource_sharing_request"]]
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            procs.append(_spawn(["serve", "--host", "127.0.0.1", "--port", str(port)], env))
            url = f"http://127.0.0.1:{port}/slack/events"
            with httpx.Client() as c:
                for _ in range(100):
                    try:
                        if c.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                            break
                    except httpx.TransportError:
                        time.sleep(0.1)
            verifier = SignatureVerifier(secret)
            acks: list[float] = []
            sent: dict[str, float] = {}
            lock = threading.Lock()
            local = threading.local()

            def one(k: int) -> None:
                if not hasattr(local, "client"):
                    local.client = httpx.Client(timeout=30)
                form = {"command": "/p2p", "text": f"status {ids[k % len(ids)]}", "user_id": f"U{k}",
                        "channel_id": "C1", "team_id": "T1", "trigger_id": f"t{k}",
                        "response_url": f"{fake.url}/response/{k}"}
                body = urlencode(form)
                ts = str(int(time.time()))
                headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": ts,
                           "X-Slack-Signature": verifier.generate_signature(timestamp=ts, body=body)}
                t0 = time.perf_counter()
                r = local.client.post(url, content=body, headers=headers)
                dt = time.perf_counter() - t0
                assert r.status_code == 200 and "Looking up" in r.text, r.text[:200]
                with lock:
                    acks.append(dt * 1000)
                    sent[f"/response/{k}"] = t0

            t_start = time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
                list(pool.map(one, range(n)))
            fake.wait_for(lambda: len(fake.of("response_url")) >= n, timeout=600)
            wall = time.perf_counter() - t_start
            with fake.lock:
                finals = [(c["at"] - sent[c["path"]]) * 1000 for c in fake.calls
                          if c["method"] == "response_url" and c["path"] in sent]
        finally:
            for p in procs:
                p.terminate()
                p.wait(timeout=10)
            fake.stop()
    print(f"{n} signed `/p2p status <id>` commands, {args.concurrency} in flight, to `p2p-bot serve`; the sandbox "
          f"answers every Alma call after {latency:.0f} ms and each lookup re-reads its request live")
    print("| measure                      |   p50    |   p99    |   max    |")
    print("|------------------------------|----------|----------|----------|")
    for name, vals in (("HTTP acknowledgement (ms)", acks), ("time to final answer (ms)", finals)):
        print(f"| {name:<28} | {statistics.median(vals):8.1f} | {percentile(vals, 99):8.1f} | {max(vals):8.1f} |")
    print(f"final answers received: {len(finals)}/{n}; wall time {wall:.1f} s; ack p99 target <= 300 ms: "
          f"{'met' if percentile(acks, 99) <= 300 else 'NOT met'}")
    return 0


def bench_expiry(args: argparse.Namespace) -> int:
    """The expiry check for N institutions with Alma answering after 200 ms: all at once vs one by one."""
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    from bot.core import expiry
    from bot.edges.alma.client import AlmaClient, RateLimiter, make_http_client
    from bot.edges.store import Store
    from bot.sandbox.server import Sandbox, SandboxState

    n, latency = args.institutions, args.latency_ms
    state = SandboxState(today=date.today(), latency_ms=latency, extra_institutions=max(0, n - 3))
    now = datetime.now(ZoneInfo("America/New_York"))
    rows = []
    with Sandbox(state) as sb:
        http = make_http_client()
        insts = sb.institutions(n)
        for label, workers in (("parallel (one thread per institution)", 32), ("sequential baseline", 1)):
            times, calls = [], []
            for _ in range(3):
                clients = {i.code: AlmaClient(http, i.base_url, i.api_key, institution=i.code, limiter=RateLimiter(20))
                           for i in insts}
                store = Store("sqlite://")  # cold: the job id is looked up again, as on a first morning
                t0 = time.perf_counter()
                rep = expiry.check(insts, clients, store, now.date(), now, workers=workers)
                times.append(time.perf_counter() - t0)
                calls.append(sum(c.stats.calls for c in clients.values()))
                assert len(rep.institutions) == n
            rows.append((label, statistics.median(times), statistics.median(calls)))
        http.close()
    print(f"expiry check for {n} institutions, Alma latency {latency:.0f} ms, cold job-id cache (median of 3 runs)")
    print("| run                                   | seconds | Alma calls |")
    print("|---------------------------------------|---------|------------|")
    for label, secs, median_calls in rows:
        print(f"| {label:<37} | {secs:7.2f} | {median_calls:10.0f} |")
    print(f"speed-up: {rows[1][1] / rows[0][1]:.1f}x")
    return 0


def bench_alma_faults(args: argparse.Namespace) -> int:
    """The expiry check of the 3 seeded institutions against real Alma's bad days: calm, an XML 429 on every
    other call, every call refused (XML 400 UNAUTHORIZED), and a hung Alma (answers after 60 s)."""
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    from bot.core import expiry
    from bot.edges.alma.client import AlmaClient, RateLimiter, make_http_client
    from bot.edges.store import Store
    from bot.sandbox.server import Sandbox, SandboxState

    now = datetime.now(ZoneInfo("America/New_York"))
    runs = args.runs
    modes: list[tuple[str, dict[str, Any], float | None]] = [
        ("calm", {}, expiry.DEADLINE_S),
        ("XML 429 on every other call", {"throttle_every": 2}, expiry.DEADLINE_S),
        ("every call refused (XML 400)", {"refuse_all": True}, expiry.DEADLINE_S),
        ("hung Alma (60 s), deadline 20 s", {"latency_ms": 60_000}, expiry.DEADLINE_S),
    ]
    if args.baseline:
        modes.append(("hung Alma (60 s), no deadline", {"latency_ms": 60_000}, None))
    print(f"expiry check, 3 institutions, real back-off sleeps (median and min-max of {runs} runs)")
    print("| Alma                              | seconds (median, min-max) | statuses                  |")
    print("|-----------------------------------|---------------------------|---------------------------|")
    calm_json: Any = None
    for label, mode, limit in modes:
        times, statuses, same = [], "", True
        for _ in range(runs if limit is not None else 1):
            with Sandbox(SandboxState(today=date.today())) as sb:
                sb.state.set_mode(**mode)
                http = make_http_client()
                insts = list(sb.institutions())
                clients = {i.code: AlmaClient(http, i.base_url, i.api_key, institution=i.code,
                                              key_env=i.api_key_env, limiter=RateLimiter(20)) for i in insts}
                t0 = time.perf_counter()
                rep = expiry.check(insts, clients, Store("sqlite://"), now.date(), now, deadline_s=limit)
                times.append(time.perf_counter() - t0)
                http.close()
            statuses = ", ".join(f"{i.code} {i.status}" for i in rep.institutions)
            if not mode:
                calm_json = rep.to_json()
            elif "throttle_every" in mode:
                same = same and rep.to_json() == calm_json
        spread = f"{statistics.median(times):6.2f} ({min(times):.2f}-{max(times):.2f})"
        print(f"| {label:<33} | {spread:<25} | {statuses:<25} |" + ("" if same else "  DIFFERENT from calm"))
    if not args.baseline:
        print("(no-deadline baseline: add --baseline; it waits 5 attempts x 30 s read timeout, about 2.5 min)")
    return 0


def run(what: str, args: Any) -> int:
    if what == "alma-faults":
        return bench_alma_faults(args)
    if what == "expiry":
        if getattr(args, "latency_ms", None) is None:
            args.latency_ms = 200.0
        return bench_expiry(args)
    if getattr(args, "latency_ms", None) is None:
        args.latency_ms = 2000.0 if what == "slack" else 50.0
    if what == "slack":
        return bench_slack(args)
    if what == "answers":
        return bench_answers(args)
    if what == "calibrate":
        from bench.calibrate import main as calibrate

        return calibrate([])
    if what == "lookup":
        from bench.index import bench_lookup

        return bench_lookup(args)
    if what == "budget":
        from bench.index import bench_budget

        return bench_budget(args)
    print(f"unknown benchmark {what}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description="p2p-bot benchmarks: they print figures")
    p.add_argument("what", choices=["answers", "calibrate", "lookup", "budget", "slack", "expiry", "alma-faults"])
    p.add_argument("--runs", type=int, default=3, help="alma-faults: repetitions per mode")
    p.add_argument("--baseline", action="store_true", help="alma-faults: also one run without a deadline")
    p.add_argument("--institutions", type=int, default=20, help="expiry: institutions to check")
    p.add_argument("--commands", type=int, default=200, help="slack: signed commands to send")
    p.add_argument("--concurrency", type=int, default=20, help="slack: commands in flight at once")
    p.add_argument("--requests", type=int, default=20_000, help="lookup: generated lending requests")
    p.add_argument("--latency-ms", type=float, default=None,
                   help="sandbox latency per call (lookup: 50, slack: 2000)")
    p.add_argument("--questions", default="", help="question file (default: ../shared/eval/dev-questions.jsonl)")
    from bench.index import add_arguments

    add_arguments(p)
    args = p.parse_args(argv)
    return run(args.what, args)


if __name__ == "__main__":
    sys.exit(main())
