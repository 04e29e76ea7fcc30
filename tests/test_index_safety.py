"""The index is never lost to a bad read, and a miss asks Alma a bounded number of times."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.core.lookup import LookupService, clean_external_id
from bot.edges.alma.client import AlmaClient
from bot.edges.settings import ConfigError, Institution, load
from bot.edges.store import Store
from bot.sandbox.server import Sandbox
from tests.conftest import sandbox_institutions
from tests.test_lookup import index_count, service


def synced(sb: Sandbox, http: httpx.Client, store: Store) -> tuple[LookupService, int, str]:
    svc = service(sb, http, store)
    assert all(r.ok for r in svc.sync())
    ext = next(r for r in sb.state.by_code("GWA").lending if r["status"]["value"] == "SHIPPED_PHYSICALLY")["external_id"]
    return svc, index_count(store, "GWA"), ext


@pytest.mark.parametrize("body", ["empty", "list", "string", "null"])
def test_an_odd_answer_keeps_the_last_good_rows(sandbox: Sandbox, http: httpx.Client, store: Store, body: str) -> None:
    svc, before, ext = synced(sandbox, http, store)
    sandbox.state.set_mode(odd_body=body, odd_body_path="/task-lists")  # a 200 with `{}`, `[]`, "OK" or null
    rep = svc.sync(["GWA"])[0]
    assert not rep.ok and "GWA" in rep.problem and "kept" in rep.problem
    assert index_count(store, "GWA") == before
    assert svc.lookup(ext, live=False).found


def test_renamed_report_headings_fail_naming_the_heading(sandbox: Sandbox, http: httpx.Client, store: Store,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    svc, before, ext = synced(sandbox, http, store)
    sandbox.state.set_mode(report_headings={"External Request ID": "Ext. Request Id"})  # the author renamed it
    rep = svc.sync(["GWA"])[0]
    assert not rep.ok and "'External Request ID'" in rep.problem and "borrowing_report_columns" in rep.problem
    assert index_count(store, "GWA") == before and svc.lookup(ext, live=False).found
    # mapped in the configuration, the same report reads again
    insts = tuple(Institution(**{**i.__dict__, "borrowing_report_columns": (("external_id", "Ext. Request Id"),)})
                  for i in sandbox_institutions(sandbox))
    svc2 = LookupService(store, insts, svc.clients)
    rep2 = svc2.sync(["GWA"])[0]
    assert rep2.ok and rep2.borrowing > 0


def test_a_refused_key_keeps_the_index_and_says_it_is_the_key(sandbox: Sandbox, http: httpx.Client,
                                                              store: Store) -> None:
    svc, before, ext = synced(sandbox, http, store)
    sandbox.state.set_mode(refuse_all=True)  # every call: XML 400 UNAUTHORIZED
    bad = LookupService(store, sandbox_institutions(sandbox), svc.clients)
    rep = bad.sync(["GWA"])[0]
    assert not rep.ok and "API key" in rep.problem and "GWA" in rep.problem
    # the first refusal ends the read: only the slices already in flight still ask (not one call per slice)
    assert rep.calls <= bad.workers  # it was one refused call per slice: 14 for GWA
    assert index_count(store, "GWA") == before and bad.lookup(ext, live=False).found
    miss = bad.lookup("NOT-THERE-ANYWHERE")
    assert miss.found == () and not miss.checked
    assert sorted(c.split(":")[0] for c in miss.could_not_check) == [
        "could not check AMU", "could not check GWA", "could not check MU"]
    assert all("API key" in c for c in miss.could_not_check)


def test_429_on_every_other_call_gives_the_same_index(sandbox: Sandbox, http: httpx.Client, tmp_path: Path) -> None:
    calm = Store(f"sqlite:///{tmp_path / 'calm.sqlite3'}")
    service(sandbox, http, calm).sync(["AMU"])
    stormy = Store(f"sqlite:///{tmp_path / 'stormy.sqlite3'}")
    svc = service(sandbox, http, stormy)
    sandbox.state.set_mode(throttle_every=2)  # every other call: XML 429 PER_SECOND_THRESHOLD
    rep = svc.sync(["AMU"])[0]
    miss = svc.lookup("NOT-THERE-ANYWHERE")
    assert miss.found == () and miss.checked
    assert rep.ok
    from sqlalchemy import select

    from bot.edges.store import request_index

    def ids(s: Store) -> set[tuple[str, str]]:
        with s.engine.connect() as conn:
            return {(r.kind, r.request_id) for r in conn.execute(
                select(request_index.c.kind, request_index.c.request_id).where(request_index.c.institution == "AMU"))}

    assert ids(stormy) == ids(calm) and ids(calm)
    calm.close()
    stormy.close()


def test_a_miss_is_bounded_shared_and_remembered(sandbox: Sandbox, http: httpx.Client, store: Store) -> None:
    svc, _before, _ext = synced(sandbox, http, store)
    libraries = sum(len(i.rs_libraries) for i in sandbox.state.institutions.values())
    statuses = len(svc.labels("GWA", "lending"))
    before = len(sandbox.state.calls)
    results = []
    lock = threading.Lock()

    def look() -> None:
        r = svc.lookup("TYPO-12345")
        with lock:
            results.append(r)

    threads = [threading.Thread(target=look) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spent = len(sandbox.state.calls) - before
    assert all(r.found == () and r.checked for r in results)
    assert 0 < spent <= libraries * (1 + statuses)  # one scan for five lookups, at most one call per slice
    again = svc.lookup(" typo-12345 ")
    assert again.found == () and again.calls == 0 and len(sandbox.state.calls) - before == spent  # remembered


def test_ids_are_normalised_before_the_lookup(sandbox: Sandbox, http: httpx.Client, store: Store) -> None:
    assert clean_external_id(" \u200b１２３４\u0665 ") == "12345"  # full-width and Arabic-Indic digits, zero-width
    svc, _before, _ext = synced(sandbox, http, store)
    req = next(r for r in sandbox.state.by_code("GWA").lending if r["external_id"].startswith("ILL-"))
    res = svc.lookup(req["external_id"].lower(), live=False)  # typed in lower case
    assert [f.request_id for f in res.found] == [req["request_id"]]


def test_report_columns_come_from_the_configuration(tmp_path: Path) -> None:
    toml = tmp_path / "p.toml"
    base = ('[[institution]]\ncode = "GWA"\napi_key_env = "K"\nurl = "http://127.0.0.1:1/almaws/v1"\n'
            '[institution.borrowing_report_columns]\n')
    toml.write_text(base + 'external_id = "Ext Id"\n', encoding="utf-8")
    inst = load({"P2PBOT_CONFIG": str(toml), "K": "x"}).institutions[0]
    cols = dict(inst.borrowing_report_columns)
    assert cols["external_id"] == "Ext Id" and cols["title"] == "Title"
    toml.write_text(base + 'externl_id = "Ext Id"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="externl_id"):
        load({"P2PBOT_CONFIG": str(toml), "K": "x"})


def test_clients_keep_their_own_pools(tmp_path: Path) -> None:
    from bot.core.services import Services
    from bot.edges.settings import Settings

    insts = (Institution("A", "A", "http://127.0.0.1:1/almaws/v1", "k"), Institution("B", "B", "http://127.0.0.1:1/almaws/v1", "k"))
    services = Services(Settings(database_url=f"sqlite:///{tmp_path / 's.sqlite3'}", institutions=insts))
    clients: dict[str, AlmaClient] = services.alma
    assert clients["A"]._http is not clients["B"]._http
    services.close()


def test_slack_says_could_not_check_when_a_key_is_refused(slack: object) -> None:
    """The same sentence as the CLI, in the Slack reply: never "No request … found" when Alma was not asked."""
    import json as _json

    from tests.test_slack_app import ack_body

    harness: Any = slack
    harness.sandbox.state.set_mode(refuse_all=True)
    body = ack_body(harness.command("status NOT-A-REQUEST-9"))
    assert "Looking up" in body["text"]
    assert harness.fake.wait_for(lambda: len(harness.fake.of("response_url")) == 1)
    card = _json.dumps(harness.fake.of("response_url")[0], ensure_ascii=False)
    assert "could not check GWA: " in card and "API key" in card and "No request" not in card
