"""The client and the sandbox agree with Ex Libris' own OpenAPI files and recorded real responses.

Reads ../shared/alma-reference/ when it is there (it is in CI) and skips cleanly when it is not.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from bot.core.lookup import LookupService
from bot.edges.alma import errors
from bot.edges.alma.models import Job, JobInstance, RSRequest
from bot.edges.store import Store
from bot.sandbox.server import Sandbox
from tests.conftest import fast_client, sandbox_institutions, shared_file

# The lending task list has no OpenAPI file any more (Ex Libris answers 404 for it); the brief describes it.
TASK_LIST = ("/task-lists/rs/lending-requests", {"library", "status", "printed", "reported", "partner",
                                                 "requested_format", "supplied_format"})


def _spec() -> dict[tuple[str, str], set[str]]:
    ops: dict[tuple[str, str], set[str]] = {}
    folder = shared_file("alma-reference", "openapi")
    for f in sorted(folder.glob("*.json")):
        spec = json.loads(f.read_text(encoding="utf-8"))
        for path, item in spec["paths"].items():
            shared = item.get("parameters", [])
            for method, op in item.items():
                if method not in ("get", "post", "put", "delete"):
                    continue
                names = {p.get("name") for p in shared + op.get("parameters", []) if p.get("in") == "query"}
                ops[(method.upper(), path.removeprefix("/almaws/v1"))] = {n for n in names if n}
    return ops


def _template_match(path: str, templates: list[str]) -> str | None:
    for t in templates:
        rx = "^" + re.sub(r"\{[^/]+\}", "[^/]+", t.rstrip("/")) + "/?$"
        if re.match(rx, path):
            return t
    return None


def _exercise(http: httpx.Client, sandbox: Sandbox, tmp_path: Path) -> list[tuple[str, str, str]]:
    """Drive every client method and the lookup service, and return the calls the sandbox saw."""
    c = fast_client(http, sandbox)
    c.test()
    list(c.partners(status="ACTIVE"))
    body = c.get_partner_json("P2P_UCF")
    c.update_partner("P2P_UCF", body)
    body["partner_details"]["code"] = "P2P_NEWONE"
    body["partner_details"]["profile_details"]["iso_details"]["iso_symbol"] = "ZZZ"
    c.create_partner(body)
    reqs, _ = c.lending_requests("GELMAN", status="SHIPPED_PHYSICALLY", partner=None, printed="N", reported="N")
    c.lending_request(reqs[0].partner_code, reqs[0].request_id)
    b = sandbox.state.by_code("GWA").borrowing[0]
    c.borrowing_request_by_external(b["requester"]["value"], b["external_id"])
    job = next(j for j in c.jobs("SCHEDULED") if "Expired Resource" in j.name)
    list(c.job_instances(job.id, "2026-11-01", "2026-11-29"))
    c.code_table("MandatoryLendingWorkflowSteps")
    c.libraries()
    svc = LookupService(Store(f"sqlite:///{tmp_path / 'c.sqlite3'}"), sandbox_institutions(sandbox)[:1],
                        {"GWA": c})
    svc.sync()
    svc.lookup("does-not-exist")
    return [(m, p, q) for _i, m, p, q in sandbox.state.calls]


def test_every_path_and_parameter_exists_in_the_reference(http: httpx.Client, sandbox: Sandbox,
                                                          tmp_path: Path) -> None:
    spec = _spec()
    seen = _exercise(http, sandbox, tmp_path)
    assert len(seen) > 20
    for method, path, query in seen:
        params = set(parse_qs(query, keep_blank_values=True))
        if path == TASK_LIST[0]:
            assert method == "GET" and params <= TASK_LIST[1], (path, params)
            brief = shared_file("alma-reference", "ALMA-API-FACTS.md").read_text(encoding="utf-8")
            assert all(f"`{p}`" in brief for p in params)
            continue
        templates = [p for (m, p) in spec if m == method]
        t = _template_match(path, templates)
        assert t is not None, f"{method} {path} is not in Ex Libris' OpenAPI files"
        assert params <= spec[(method, t)], f"{method} {t}: {params - spec[(method, t)]} not documented"


def _sample(name: str) -> Any:
    return json.loads(shared_file("alma-reference", "samples", name).read_text(encoding="utf-8"))


def test_recorded_lending_requests_parse() -> None:
    for name, status in (("lending_requests_created.json", "REQUEST_CREATED_LEND"),
                         ("lending_requests_loc_failed.json", "LOCATE_FAILED")):
        body = _sample(name)
        reqs = [RSRequest.from_json(d, "lending") for d in body["user_resource_sharing_request"]]
        assert reqs and all(r.status == status and r.external_id and r.partner_code for r in reqs)
    shipped = RSRequest.from_json(_sample("lending_request_shipped.json"), "lending")
    assert (shipped.status, shipped.status_desc, shipped.barcode) == ("SHIPPED_PHYSICALLY", "Shipped Physically",
                                                                      "2239409-10")
    assert shipped.partner_name == "ANCA-TEST" and shipped.owner == "AS1"


def test_recorded_jobs_parse() -> None:
    job = Job.from_json(_sample("job_response.json"))
    assert job.id == "M26714670000011" and job.type == "MANUAL"
    jobs = [Job.from_json(d) for d in _sample("jobs_response.json")["job"]]
    assert len(jobs) == 1
    inst = JobInstance.from_json(_sample("jobinstance_response.json"))
    assert inst.status == "QUEUED" and inst.end_time.startswith("2015-04-15") and inst.counters
    listed = [JobInstance.from_json(d) for d in _sample("jobinstances_response.json")["job_instance"]]
    assert listed[0].id == "1108569450000121"


@pytest.mark.parametrize(("name", "status", "kind", "code"), [
    ("error_response.json", 400, errors.AlmaBadRequest, "401664"),
    ("per_second_threshold_error_response.json", 429, errors.AlmaRateLimited, "PER_SECOND_THRESHOLD"),
])
def test_recorded_errors_map(name: str, status: int, kind: type[errors.AlmaError], code: str) -> None:
    err = errors.from_response(status, _sample(name))
    assert type(err) is kind and err.code == code


def test_sandbox_answers_in_the_recorded_shapes(http: httpx.Client, sandbox: Sandbox) -> None:
    real = _sample("lending_requests_created.json")["user_resource_sharing_request"][0]
    ours = http.get(f"{sandbox.base_url}/task-lists/rs/lending-requests", params={"library": "GELMAN"},
                     headers={"Authorization": "apikey sandbox-key-gwa", "Accept": "application/json"}).json()
    assert set(ours) == {"user_resource_sharing_request", "total_record_count"}
    mine = ours["user_resource_sharing_request"][0]
    for key in ("request_id", "external_id", "status", "owner", "partner", "format", "citation_type", "title",
                "printed", "reported", "created_time", "last_modified_time", "level_of_service"):
        assert key in real and key in mine
        assert isinstance(mine[key], type(real[key])) or real[key] is None, key
    assert set(mine["status"]) == {"value", "desc"} and set(mine["partner"]) >= {"value", "desc", "link"}
    err = http.get(f"{sandbox.base_url}/partners/NOPE", headers={"Authorization": "apikey sandbox-key-gwa",
                                                                   "Accept": "application/json"})
    assert err.status_code == 400
    assert set(err.json()) == set(_sample("error_response.json"))
    assert set(err.json()["errorList"]["error"][0]) == {"errorCode", "errorMessage", "trackingId"}
    job = _sample("jobinstance_response.json")
    mine_inst = http.get(f"{sandbox.base_url}/conf/jobs/S48011260000521/instances",
                          params={"submit_date_from": "2026-11-28", "submit_date_to": "2026-11-29", "limit": 5,
                                  "format": "json"},
                          headers={"Authorization": "apikey sandbox-key-gwa"}).json()["job_instance"][0]
    assert set(job) - {"action"} <= set(mine_inst)


def test_the_sandbox_speaks_xml_unless_json_is_asked_for(http: httpx.Client, sandbox: Sandbox) -> None:
    """Alma's default format is XML; errors are a namespaced web_service_result with the recorded fields."""
    import xml.etree.ElementTree as ET

    key = {"Authorization": "apikey sandbox-key-gwa"}
    err = http.get(f"{sandbox.base_url}/partners/NOPE", headers=key)
    assert err.status_code == 400 and err.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(err.text)
    assert root.tag == f"{{{errors.WSR_NS}}}web_service_result"
    fields = {el.tag.rsplit("}", 1)[-1] for el in root.iter()}
    recorded = _sample("error_response.json")
    assert set(recorded) - {"result"} <= fields and set(recorded["errorList"]["error"][0]) <= fields
    assert errors.parse_error(err.content)[0] == "402118"
    ok = http.get(f"{sandbox.base_url}/partners/P2P_UCF", headers=key)
    assert ET.fromstring(ok.text).tag == "partner"
    assert http.get(f"{sandbox.base_url}/partners/P2P_UCF", params={"format": "json"},
                     headers=key).json()["partner_details"]["code"] == "P2P_UCF"
    # the key test answers a short XML body even to a JSON client (OAS-conf's description of /conf/test)
    test = http.get(f"{sandbox.base_url}/conf/test", headers={**key, "Accept": "application/json"})
    assert test.status_code == 200 and test.text.startswith("<test>GET - OK")


@pytest.mark.parametrize("accept", ["application/json", "application/xml"])
def test_gateway_errors_are_xml_even_for_json_clients(http: httpx.Client, sandbox: Sandbox, accept: str) -> None:
    bad = http.get(f"{sandbox.base_url}/partners", headers={"Authorization": "apikey nope", "Accept": accept})
    assert bad.status_code == 400 and bad.text.lstrip().startswith("<")
    assert errors.parse_error(bad.content)[:2] == ("UNAUTHORIZED", "API-key not defined or not configured to "
                                                                   "allow this API.")
    sandbox.state.set_mode(throttle_every=1)
    slow = http.get(f"{sandbox.base_url}/partners", headers={"Authorization": "apikey sandbox-key-gwa",
                                                              "Accept": accept})
    assert slow.status_code == 429 and errors.parse_error(slow.content)[0] == "PER_SECOND_THRESHOLD"
    # the same code and message as the recorded real 429
    assert errors.parse_error(slow.content)[1].strip() == _sample(
        "per_second_threshold_error_response.json")["errorList"]["error"][0]["errorMessage"].strip()


def test_error_codes_the_sandbox_uses_are_in_the_reference(http: httpx.Client, sandbox: Sandbox) -> None:
    """Every errorCode the sandbox answers with for these calls is listed in Ex Libris' OpenAPI files."""
    spec_text = "".join(f.read_text(encoding="utf-8") for f in
                        sorted(shared_file("alma-reference", "openapi").glob("*.json")))
    key = {"Authorization": "apikey sandbox-key-gwa", "Accept": "application/json"}
    for path, params in (("/partners/NOPE", {}), ("/conf/jobs/S0", {}), ("/conf/jobs/S48011260000521/instances/1", {}),
                         ("/conf/jobs", {"type": "NOPE"}), ("/conf/code-tables/NoSuchTable", {}),
                         ("/conf/jobs/S48011260000521/instances", {"submit_date_from": "x"}),
                         ("/users/G0/resource-sharing-requests/x", {"request_id_type": "external"})):
        code = http.get(f"{sandbox.base_url}{path}", params=params, headers=key).json()[
            "errorList"]["error"][0]["errorCode"]
        assert f"{code} - " in spec_text, (path, code)


def test_empty_lists_leave_the_list_key_out(http: httpx.Client, sandbox: Sandbox) -> None:
    key = {"Authorization": "apikey sandbox-key-gwa", "Accept": "application/json"}
    body = http.get(f"{sandbox.base_url}/conf/jobs/S48011260000521/instances", headers=key,
                     params={"submit_date_from": "2001-01-01", "submit_date_to": "2001-01-02"}).json()
    assert body == {"total_record_count": 0}


def test_modes_switch_on_a_running_sandbox(http: httpx.Client, sandbox: Sandbox) -> None:
    control = sandbox.base_url.replace("/almaws/v1", "/sandbox/mode")
    assert http.post(control, json={"refuse_all": True}).json()["refuse_all"] is True
    refused = http.get(f"{sandbox.base_url}/conf/test", headers={"Authorization": "apikey sandbox-key-gwa"})
    assert refused.status_code == 400 and errors.parse_error(refused.content)[0] == "UNAUTHORIZED"
    assert http.post(control, json={"no_such_mode": 1}).status_code == 400
    assert http.post(control, json={"odd_body": "weird"}).status_code == 400
    assert http.post(control, json={"refuse_all": False}).status_code == 200
    assert http.get(f"{sandbox.base_url}/conf/test", headers={"Authorization": "apikey sandbox-key-gwa"}
                     ).status_code == 200


def test_sandbox_command_takes_the_realistic_modes() -> None:
    import subprocess
    import sys

    from tests.conftest import ROOT

    sb = subprocess.Popen([sys.executable, "-m", "bot", "sandbox", "--port", "0", "--throttle-every", "1",
                           "--report-heading", "Request Status=Status"], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert sb.stdout is not None
        m = re.search(r"(http://127\.0\.0\.1:\d+/almaws/v1)\s+demo API key: (\S+)", sb.stdout.readline())
        assert m
        url, key = m.groups()
        r = httpx.get(f"{url}/partners", headers={"Authorization": f"apikey {key}", "Accept": "application/json"})
        assert r.status_code == 429 and errors.parse_error(r.content)[0] == "PER_SECOND_THRESHOLD"
        modes = httpx.get(url.replace("/almaws/v1", "/sandbox/mode")).json()
        assert modes["throttle_every"] == 1 and modes["report_headings"] == {"Request Status": "Status"}
    finally:
        sb.terminate()
        sb.wait(timeout=30)


def test_xml_lists_are_named_for_what_they_hold(sandbox: Sandbox) -> None:
    import xml.etree.ElementTree as ET

    key = {"Authorization": "apikey sandbox-key-gwa"}
    full = ET.fromstring(httpx.get(f"{sandbox.base_url}/partners", params={"limit": 2}, headers=key).text)
    assert full.tag == "partners" and [c.tag for c in full] == ["partner", "partner"]
    assert full.attrib["total_record_count"] == str(len(sandbox.state.by_code("GWA").partners))
    empty = ET.fromstring(httpx.get(f"{sandbox.base_url}/conf/jobs/S48011260000521/instances", headers=key,
                                    params={"submit_date_from": "2001-01-01", "submit_date_to": "2001-01-02"}).text)
    assert empty.tag == "job_instances" and empty.attrib == {"total_record_count": "0"} and len(empty) == 0
