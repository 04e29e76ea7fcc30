"""Lookup by External Identifier against the sandbox over HTTP, with a real SQLite index."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from bot.core.lookup import LookupInputError, LookupService, clean_external_id
from bot.edges.alma.client import AlmaClient
from bot.edges.store import Store, request_index
from bot.sandbox.server import Sandbox, SandboxState
from tests.conftest import TODAY, fast_client, sandbox_institutions, unthrottled


def service(sb: Sandbox, http: httpx.Client, store: Store, **kw: object) -> LookupService:
    insts = sandbox_institutions(sb)
    clients: dict[str, AlmaClient] = {i.code: fast_client(http, sb, i.api_key) for i in insts}
    return LookupService(store, insts, clients, **kw)  # type: ignore[arg-type]


def index_count(store: Store, inst: str | None = None) -> int:
    q = select(func.count()).select_from(request_index)
    if inst:
        q = q.where(request_index.c.institution == inst)
    with store.engine.connect() as conn:
        return int(conn.execute(q).scalar_one())


def test_sync_indexes_every_request(sandbox: Sandbox, http: httpx.Client, store: Store) -> None:
    svc = service(sandbox, http, store)
    reports = svc.sync()
    assert all(r.ok for r in reports)
    for r in reports:
        inst = sandbox.state.by_code(r.institution)
        assert r.lending == len(inst.lending)
        assert 0 < r.borrowing < len(inst.borrowing) + 1
    assert svc.freshness()["GWA"] is not None


def test_warm_lookup_costs_no_calls_and_says_what_next(sandbox: Sandbox, http: httpx.Client, store: Store) -> None:
    svc = service(sandbox, http, store)
    svc.sync()
    req = next(r for r in sandbox.state.by_code("AMU").lending if r["status"]["value"] == "REQUEST_CREATED_LEND")
    res = svc.lookup(req["external_id"])
    assert res.calls == 0 and not res.live_scan
    f = res.found[0]
    assert (f.institution, f.kind, f.status_label, f.topic_id) == ("AMU", "lending", "Created lending request",
                                                                    "lend-pull-ship")
    assert f.title == req["title"] and f.partner_code == req["partner"]["value"]


def test_borrowing_shipped_points_to_receiving(sandbox: Sandbox, http: httpx.Client, store: Store) -> None:
    svc = service(sandbox, http, store, refresh_after=timedelta(0))
    svc.sync()
    rows = [r for r in sandbox.state.by_code("GWA").borrowing if r["status"]["value"] == "SHIPPED_PHYSICALLY"
            and r["created_date"] < TODAY.isoformat()]
    res = svc.lookup(rows[0]["external_id"])
    got = next(f for f in res.found if f.institution == "GWA")
    assert got.kind == "borrowing" and got.status == "SHIPPED_PHYSICALLY" and got.topic_id == "borrow-receive"
    assert got.source == "live" and res.calls >= 1  # refreshed through the users API with the known patron


def test_both_sides_shown_when_both_are_ours(sandbox: Sandbox, http: httpx.Client, store: Store) -> None:
    svc = service(sandbox, http, store)
    svc.sync()
    amu_lending = {r["external_id"] for r in sandbox.state.by_code("AMU").lending}
    shared = next(r for r in sandbox.state.by_code("GWA").borrowing if r["external_id"] in amu_lending
                  and r["created_date"] < TODAY.isoformat())
    res = svc.lookup(shared["external_id"])
    assert res.both_sides
    assert [(f.institution, f.kind) for f in res.found] == [("GWA", "borrowing"), ("AMU", "lending")]


def test_cold_lookup_scans_live_and_fills_the_index(sandbox: Sandbox, http: httpx.Client, store: Store) -> None:
    svc = service(sandbox, http, store)
    req = next(r for r in sandbox.state.by_code("MU").lending if r["status"]["value"] == "SHIPPED_PHYSICALLY")
    res = svc.lookup(req["external_id"])
    assert res.live_scan and res.found[0].request_id == req["request_id"] and res.calls > 0
    again = svc.lookup(req["external_id"])
    assert not again.live_scan and again.calls == 0


def test_unknown_id_is_not_found_after_a_live_scan(sandbox: Sandbox, http: httpx.Client, store: Store) -> None:
    res = service(sandbox, http, store).lookup("NO-SUCH-ID")
    assert res.found == () and res.live_scan and res.problems == () and res.checked


@pytest.mark.parametrize(("raw", "phrase"), [("", "Give me"), ("   ", "Give me"), ("x" * 300, "at most 255"),
                                             ("abc\x00def", "control characters"), ("a\nb", "control characters"),
                                             ("abc def!", "no spaces"), ("ILL-1\u00a0ILL-2", "no spaces")])
def test_malformed_ids_get_a_sentence(raw: str, phrase: str) -> None:
    with pytest.raises(LookupInputError, match=phrase):
        clean_external_id(raw)


def test_failed_sync_leaves_the_old_index_whole(sandbox: Sandbox, http: httpx.Client, store: Store) -> None:
    svc = service(sandbox, http, store)
    svc.sync(["GWA"])
    before = index_count(store, "GWA")
    sandbox.state.inject("500", count=10_000, path="/task-lists")
    rep = svc.sync(["GWA"])[0]
    assert not rep.ok and "not answering" in rep.problem
    assert index_count(store, "GWA") == before


def test_big_slices_are_cut_until_every_request_is_indexed(http: httpx.Client, tmp_path: Path) -> None:
    sb = Sandbox(unthrottled(SandboxState(today=TODAY, scale=3000, scale_institution="GWA"))).start()
    try:
        store = Store(f"sqlite:///{tmp_path / 'x.sqlite3'}")
        svc = service(sb, http, store)
        rep = svc.sync(["GWA"])[0]
        inst = sb.state.by_code("GWA")
        assert rep.ok and rep.truncated == []
        assert rep.lending == len(inst.lending) > 3000 and rep.lending + rep.borrowing == index_count(store, "GWA")
        cuts = [q for _i, _m, p, q in sb.state.calls if p.startswith("/task-lists") and ("partner=" in q
                or "printed=" in q or "reported=" in q or "requested_format=" in q)]
        assert cuts  # slices over 100 were cut again with the task list's own filters
        # nothing changed in Alma: the next sync asks each slice once and carries the rows over
        before = len(sb.state.calls)
        again = svc.sync(["GWA"])[0]
        assert again.ok and again.lending == rep.lending and again.carried > 0
        asked = {c[3] for c in sb.state.calls[before:] if c[2].startswith("/task-lists")}
        assert len(asked) == again.slices and all(q.count("=") == 2 for q in asked)  # library and status only
        store.close()
    finally:
        sb.stop()


def test_a_slice_no_filter_can_split_is_reported_not_indexed_yet(http: httpx.Client, tmp_path: Path) -> None:
    sb = Sandbox(unthrottled(SandboxState(today=TODAY))).start()
    try:
        inst = sb.state.by_code("MU")
        twin = next(r for r in inst.lending if r["status"]["value"] == "CANCELLED")
        for k in range(130):  # 130 requests alike in every filter the task list has
            inst.lending.append({**twin, "request_id": f"99{k:06d}", "external_id": f"TWIN-{k}"})
        store = Store(f"sqlite:///{tmp_path / 'x.sqlite3'}")
        svc = service(sb, http, store)
        rep = svc.sync(["MU"])[0]
        assert rep.ok and len(rep.truncated) == 1 and "not indexed yet" in rep.truncated[0]
        unread = next(f"TWIN-{k}" for k in range(130) if not svc.lookup(f"TWIN-{k}", live=False).found)
        res = svc.lookup(unread, live=False)
        assert res.found == () and any("CANCELLED" in n and "not indexed yet" in n for n in res.not_indexed)
        store.close()
    finally:
        sb.stop()


def test_alma_down_during_lookup_is_could_not_check(sandbox: Sandbox, http: httpx.Client, store: Store) -> None:
    sandbox.state.inject("500", count=10_000)
    res = service(sandbox, http, store).lookup("ANY-ID")
    assert res.found == () and not res.checked
    assert sorted(c.split(":")[0] for c in res.could_not_check) == ["could not check AMU", "could not check GWA",
                                                                     "could not check MU"]
    assert all("not answering" in c for c in res.could_not_check)


def test_the_nightly_full_sync_sees_a_swap_the_quarter_hourly_sync_cannot(http: httpx.Client, tmp_path: Path) -> None:
    """Two requests of big (cut) slices trade statuses: both slices keep their totals, so the incremental
    sync carries their rows over; the clock's nightly full sync reads them again."""
    from bot.frontends.clock import full_sync_index  # the job the clock runs

    sb = Sandbox(unthrottled(SandboxState(today=TODAY, scale=1200, scale_institution="GWA"))).start()
    try:
        store = Store(f"sqlite:///{tmp_path / 'x.sqlite3'}")
        svc = service(sb, http, store)
        assert svc.sync(["GWA"])[0].ok
        lending = sb.state.by_code("GWA").lending
        sizes = Counter((r["owner"], r["status"]["value"]) for r in lending)
        (lib, st1), (_, st2) = [k for k, n in sizes.most_common() if k[0] == lending[0]["owner"] and n > 100][:2]
        # the last of each slice: a cut slice's first page (its first 100) is read every time anyway
        a = [r for r in lending if (r["owner"], r["status"]["value"]) == (lib, st1)][-1]
        b = [r for r in lending if (r["owner"], r["status"]["value"]) == (lib, st2)][-1]
        a["status"], b["status"] = b["status"], a["status"]

        def indexed(ext: str) -> str:  # the stored row as the index holds it (a lookup would refresh it)
            q = select(request_index.c.status).where(request_index.c.external_id == ext)
            with store.engine.connect() as conn:
                return str(conn.execute(q).scalar_one())

        rep = svc.sync(["GWA"])[0]
        assert rep.ok and rep.carried  # both totals unchanged: rows carried over, stale
        assert (indexed(a["external_id"]), indexed(b["external_id"])) == (st1, st2)
        full_sync_index(svc)
        assert (indexed(a["external_id"]), indexed(b["external_id"])) == (st2, st1)
        store.close()
    finally:
        sb.stop()
