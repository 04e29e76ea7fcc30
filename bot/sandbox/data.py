"""Seed data for the sandbox: three consortium institutions, each its own IZ and API key.

Everything here is the project's own construction using Alma's real field names. Status codes and labels
come from the sandbox's own copies of the four workflow-step code tables (the bot reads labels from those
tables, never from a hard-coded list), so a real Alma with other codes works the same way.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

UTC = ZoneInfo("UTC")
EXPIRY_JOB = "Expired Resource Sharing Requests"
EXPIRY_JOB_ID = "S48011260000521"
REPORT_PATH = "/shared/Washington Research Library Consortium (WRLC) Network/Reports/P2P/Borrowing Requests"

LENDING_MANDATORY = [
    ("REQUEST_CREATED_LEND", "Created lending request"), ("LOCATE_FAILED", "Locate failed"),
    ("BEING_PROCESSED", "Being processed"), ("SHIPPED_PHYSICALLY", "Shipped physically"),
    ("RECEIVED_BY_PARTNER", "Received by partner"), ("RETURNED_BY_PARTNER", "Returned by partner"),
    ("REQUEST_COMPLETED", "Request completed"), ("CANCELLED", "Cancelled"), ("DELETED", "Deleted"),
]
LENDING_OPTIONAL = [
    ("WILL_SUPPLY", "Will supply"), ("OVERDUE", "Overdue request"), ("EXPIRED", "Expired"),
    ("REJECTED", "Rejected the borrower request"), ("DAMAGED", "Damaged"),
]
BORROWING_MANDATORY = [
    ("REQUEST_CREATED_BOR", "Request created"), ("READY_TO_SEND", "Ready to be sent"),
    ("REQUEST_SENT", "Sent to partner"), ("SHIPPED_PHYSICALLY", "Shipped physically"),
    ("RECEIVED_PHYSICALLY", "Physically received by library"), ("LOANED", "Loaned item to patron"),
    ("RETURNED_BY_PATRON", "Returned by patron"), ("RETURNED_TO_PARTNER", "Returned item to partner"),
    ("REQUEST_COMPLETED", "Completed"), ("CANCELLED", "Cancelled"),
]
BORROWING_OPTIONAL = [
    ("LOCATE_IN_PROCESS", "Locate in process"), ("LOCATE_FAILED", "Locate failed"), ("EXPIRED", "Expired"),
    ("REJECTED", "Rejected by partner"), ("RENEWED", "Renewed by partner"), ("LOST", "Lost communicated"),
    ("EXPORTED", "Exported to third party"),
]
CODE_TABLES = {
    "MandatoryLendingWorkflowSteps": LENDING_MANDATORY,
    "OptionalLendingWorkflowSteps": LENDING_OPTIONAL,
    "MandatoryBorrowingWorkflowSteps": BORROWING_MANDATORY,
    "OptionalBorrowingWorkflowSteps": BORROWING_OPTIONAL,
    "systemJobStatus": [
        ("QUEUED", "Queued"), ("PENDING", "Pending"), ("INITIALIZING", "Initializing"), ("RUNNING", "Running"),
        ("FINALIZING", "Finalizing"), ("COMPLETED_SUCCESS", "Completed Successfully"),
        ("COMPLETED_WARNING", "Completed with Warnings"), ("COMPLETED_FAILED", "Completed with Errors"),
        ("COMPLETED_NO_BULKS", "Completed with no bulks"), ("FAILED", "Failed"), ("SKIPPED", "Skipped"),
        ("SYSTEM_ABORTED", "Aborted by System"), ("USER_ABORTED", "Aborted by User"),
    ],
    "RequestFormats": [("PHYSICAL", "Physical"), ("DIGITAL", "Digital"),
                       ("PHYSICAL_NON_RETURNABLE", "Physical non-returnable")],
    "ExpiryType": [("NO_EXPIRY", "No Expiry"), ("INTEREST_DATE", "Interest Date"), ("EXPIRY_TIME", "Expiry Time")],
}

# (code, name, ISO symbol, NZ-managed)
SUNY = [
    ("SUNYSB", "Stony Brook University, SUNY", "YSM", True),
    ("SUNYBIN", "Binghamton University, SUNY", "ZBM", True),
    ("SUNYALB", "University at Albany, SUNY", "NAM", True),
    ("SUNYBUF", "University at Buffalo, SUNY", "BUF", True),
]
LOAN = [
    ("P2P_CLEMSON", "Clemson University", "SEA"), ("P2P_USC", "University of South Carolina", "SUC"),
    ("P2P_COFC", "College of Charleston", "SBM"), ("P2P_FURMAN", "Furman University", "SFU"),
    ("P2P_WINTHROP", "Winthrop University", "SWW"), ("P2P_FSU", "Florida State University", "FDA"),
    ("P2P_UCF", "University of Central Florida", "FTU"), ("P2P_FIU", "Florida International University", "FXG"),
    ("P2P_USF", "University of South Florida", "FHM"), ("P2P_ROLLINS", "Rollins College", "FWP"),
    ("P2P_STETSON", "Stetson University", "FSU"), ("P2P_MIAMI", "University of Miami", "FQG"),
    ("P2P_JMU", "James Madison University", "VMC"), ("P2P_GMU", "George Mason University", "VGM"),
    ("P2P_VT", "Virginia Tech", "VPI"), ("P2P_UVA", "University of Virginia", "VA@"),
    ("P2P_WM", "William & Mary", "VWM"), ("P2P_VCU", "Virginia Commonwealth University", "VRC"),
    ("P2P_ODU", "Old Dominion University", "VOD"), ("P2P_RADFORD", "Radford University", "VRU"),
    ("P2P_LIBERTY", "Liberty University", "VLB"), ("P2P_CNU", "Christopher Newport University", "VCN"),
    ("P2P_UNF", "University of North Florida", "FNP"), ("P2P_CITADEL", "The Citadel", "SCM"),
]
# partners listed in the Resource Sharing Directory but not yet copied into any IZ (for onboarding)
DIRECTORY_ONLY = [("P2P_FAU", "Florida Atlantic University", "FGM"), ("P2P_ECU", "East Carolina University", "ERE"),
                  ("P2P_COASTAL", "Coastal Carolina University", "SCC")]

TITLES = [
    "The Making of the Atlantic World", "Reading Shakespeare's Sonnets", "A History of Chesapeake Fisheries",
    "Urban Ecology in Practice", "Medieval Latin Lyrics", "The Cold War and the Third World",
    "Introduction to Bayesian Statistics", "Women Writers of the Harlem Renaissance", "Appalachian Folk Music",
    "Coastal Geomorphology", "Islamic Architecture in Spain", "The Federalist Papers: A Commentary",
    "Linguistic Fieldwork", "Deep Learning for Libraries", "Baroque Organ Repertoire", "The Hanseatic League",
    "Public Health Law", "Readings in Buddhist Philosophy", "Victorian Periodicals", "Soil Microbiology",
]
AUTHORS = ["Alvarez, Maria", "Chen, Wei", "Okafor, Ngozi", "Smith, John", "Dubois, Claire", "Kowalski, Jan",
           "Nguyen, Thi", "Haddad, Rami", "Johnson, Lee", "Ivanova, Olga"]


@dataclass
class Inst:
    code: str
    name: str
    inst_code: str
    api_key: str
    rs_libraries: list[str]
    suffix: str
    timezone: str = "America/New_York"
    partners: dict[str, dict[str, Any]] = field(default_factory=dict)
    lending: list[dict[str, Any]] = field(default_factory=list)
    borrowing: list[dict[str, Any]] = field(default_factory=list)
    users: dict[str, str] = field(default_factory=dict)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    instances: list[dict[str, Any]] = field(default_factory=list)
    scenario: dict[str, str] = field(default_factory=dict)  # day (ISO) -> what the seed made of it


INSTITUTIONS = [
    ("GWA", "George Washington University", "01WRLC_GWA", "sandbox-key-gwa", ["GELMAN"], "4107"),
    ("AMU", "American University", "01WRLC_AMU", "sandbox-key-amu", ["BENDER"], "4102"),
    ("MU", "Marymount University", "01WRLC_MU", "sandbox-key-mu", ["MU_MAIN"], "4111"),
]


def partner_json(code: str, name: str, symbol: str, inst_code: str, *, p2p: bool = False,
                 expiry: int = 5) -> dict[str, Any]:
    return {
        "partner_details": {
            "code": code, "name": name, "status": "ACTIVE",
            "profile_details": {
                "profile_type": "ISO",
                "iso_details": {
                    "ill_server": f"{code.lower().replace('_', '-')}.alma.exlibrisgroup.com", "ill_port": 1611,
                    "iso_symbol": symbol,
                    "request_expiry_type": {"value": "EXPIRY_TIME", "desc": "Expiry Time"},
                    "expiry_time": expiry, "alternative_document_delivery": False,
                    "send_requester_information": False, "shared_barcodes": True,
                    "ignore_shipping_cost_override": False, "resending_overdue_message_interval": 0,
                },
            },
            "system_type": {"value": "ALMA", "desc": "Alma"},
            "avg_supply_time": 4, "delivery_delay": 2, "currency": "USD",
            "borrowing_supported": True,
            "borrowing_workflow": "P2P_BORROWING" if p2p else "DEFAULT_BOR_WF",
            "lending_supported": True,
            "lending_workflow": "P2P_LENDING" if p2p else "DEFAULT_LEND_WF",
            "locate_profile": {"value": f"{code}_LOCATE", "desc": f"{name} locate profile"},
            "institution_code": inst_code, "holding_code": "MAIN",
        },
        "contact_info": {
            "address": [{"line1": "Interlibrary Loan Office", "line2": name, "city": "Anytown",
                         "postal_code": "00000", "country": {"value": "USA", "desc": "United States"},
                         "address_type": ["ALL"], "preferred": True}],
            "email": [{"email_address": f"ill@{code.lower().replace('_', '')}.example.edu", "email_type": ["ALL"],
                       "preferred": True, "description": "ILL office"}],
            "phone": [{"phone_number": "555-0100", "phone_type": ["ALL"], "preferred": True}],
        },
        # Alma's JSON: the notes are a top-level "note" list, and the record carries its own "link"
        "note": [{"content": "Seeded by the p2p-bot sandbox", "type": {"value": "GENERAL", "desc": "General"},
                  "created_by": "System", "created_date": "2026-01-05Z"}],
        "link": f"/almaws/v1/partners/{code}",
    }


# Partners whose profile is not ISO: the P2P workflow profiles apply to them too, but only some profile types
# carry a request expiry (XSD-partner: iso_details and ncip_p2p_details do, iso_18626_details and
# email_details do not). (code, name, profile type, details block)
OTHER_PROFILES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("P2P_TAMU", "Texas A&M University Libraries", "ISO_18626", {
        "iso_18626_details": {"ill_server": "https://illiad.example.edu/iso18626", "iso_symbol": "TXA",
                              "alternative_document_delivery": False, "send_requester_information": False,
                              "shared_barcodes": True, "resending_overdue_message_interval": 0}}),
    ("P2P_DAVIDSON", "Davidson College Library", "NCIP_P2P", {
        "ncip_p2p_details": {"ill_server": "https://ncip.example.edu/ncip", "partner_symbol": "NDD",
                             "institution_code": "01DAVIDSON_INST", "general_user_id_type": {"value": "OTHER_ID_1"},
                             "request_expiry_type": {"value": "EXPIRY_TIME", "desc": "Expiry Time"}, "expiry_time": 7,
                             "alternative_document_delivery": False, "send_requester_information": False,
                             "email_address": "ill@davidson.example.edu", "resending_overdue_message_interval": 0}}),
    ("P2P_APPSTATE", "Appalachian State University", "EMAIL", {
        "email_details": {"email": "ill@appstate.example.edu", "send_requester_information": True}}),
]
EXPIRY_PROFILE_TYPES = frozenset({"ISO", "NCIP_P2P", "FULFILLMENT_NETWORK"})


def other_partner_json(code: str, name: str, ptype: str, details: dict[str, Any]) -> dict[str, Any]:
    p = partner_json(code, name, "", f"01{code[4:]}_INST")
    p["partner_details"]["profile_details"] = {"profile_type": ptype, **copy.deepcopy(details)}
    return p


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


FORMATS = [("PHYSICAL", "Physical"), ("DIGITAL", "Digital"), ("PHYSICAL_NON_RETURNABLE", "Physical non-returnable")]
SUPPLIED = {"SHIPPED_PHYSICALLY", "RECEIVED_BY_PARTNER", "RETURNED_BY_PARTNER", "OVERDUE", "REQUEST_COMPLETED"}


def _request(rng: random.Random, inst: Inst, kind: str, status: tuple[str, str], partner: dict[str, Any],
             ext: str, now: datetime, library: str, requester: str = "", facets: bool = False) -> dict[str, Any]:
    created = now - timedelta(days=rng.randint(0, 40), minutes=rng.randint(0, 1440))
    modified = min(now, created + timedelta(days=rng.randint(0, 5), minutes=rng.randint(1, 600)))
    pd = partner["partner_details"]
    rid = f"{rng.randint(10**12, 10**13 - 1)}{inst.suffix}"
    title = rng.choice(TITLES)
    d: dict[str, Any] = {
        "request_id": rid, "external_id": ext,
        "status": {"value": status[0], "desc": status[1]},
        "owner": library,
        "partner": {"value": pd["code"], "desc": pd["name"], "link": f"/almaws/v1/partners/{pd['code']}"},
        "format": {"value": "PHYSICAL", "desc": "Physical"},
        "citation_type": {"value": "BOOK" if kind == "lending" else "BK", "desc": "Book"},
        "title": title, "author": rng.choice(AUTHORS), "year": str(rng.randint(1950, 2025)),
        "isbn": f"978{rng.randint(10**9, 10**10 - 1)}",
        "created_date": created.strftime("%Y-%m-%dZ"), "last_modified_date": modified.strftime("%Y-%m-%dZ"),
        "created_time": _iso(created), "last_modified_time": _iso(modified),
        "printed": False, "reported": False, "has_active_notes": False, "rs_note": [],
        "level_of_service": {"value": "WHEN_CONVENIENT", "desc": "When Convenient"},
        "user_request": {"value": None, "link": None}, "requested_media": "7", "allow_other_formats": False,
        "supplied_format": {"value": None, "desc": None}, "copyright_status": {"value": None, "desc": None},
        "shipping_cost": {"sum": 0, "currency": {"value": "USD", "desc": "US Dollar"}},
    }
    if facets:  # the task list's own filters: printed slip, reported to the borrower, formats
        fmt = rng.choices(FORMATS, weights=(75, 20, 5))[0]
        d["format"] = {"value": fmt[0], "desc": fmt[1]}
        moved = status[0] != "REQUEST_CREATED_LEND"
        d["printed"] = rng.random() < (0.85 if moved else 0.5)  # pull slips are printed in daily batches
        d["reported"] = rng.random() < (0.5 if moved else 0.1)
        if status[0] in SUPPLIED:  # mostly as requested; sometimes a scan instead of the book, or the reverse
            d["supplied_format"] = dict(d["format"]) if rng.random() < 0.8 else dict(zip(
                ("value", "desc"), rng.choice([f for f in FORMATS if f[0] != fmt[0]]), strict=True))
    if kind == "borrowing":
        d["requester"] = {"value": requester, "desc": inst.users.get(requester, "")}
        d["pickup_location"] = {"value": library, "desc": library}
        d["pickup_location_type"] = "LIBRARY"
        d["agree_to_copyright_terms"] = True
    else:
        d["requester"] = None
        if status[0] in ("SHIPPED_PHYSICALLY", "RECEIVED_BY_PARTNER", "RETURNED_BY_PARTNER", "OVERDUE"):
            d["barcode"] = f"3{rng.randint(10**12, 10**13 - 1)}"
    return d


def _ext(rng: random.Random, suffix: str) -> str:
    style = rng.random()
    if style < 0.75:  # Alma-to-Alma: the borrower's request id
        return f"{rng.randint(10**12, 10**13 - 1)}{suffix}"
    if style < 0.9:
        return f"ILL-{rng.randint(100000, 999999)}"
    return f"1//47BIB{rng.randint(10**8, 10**9 - 1)}"


def _jobs(inst: Inst) -> list[dict[str, Any]]:
    names = [
        ("S48011140000521", "Loans - Overdue and Lost Item", "FULFILLMENT"),
        ("S48011150000521", "Requests - Expired hold shelf items", "FULFILLMENT"),
        ("S48011160000521", "Send Courtesy Notices and Handle Loan Renewals", "FULFILLMENT"),
        (EXPIRY_JOB_ID, EXPIRY_JOB, "FULFILLMENT"),
        ("S48011170000521", "Resource Sharing - Lending Requests Auto Renew", "FULFILLMENT"),
        ("S48011180000521", "Fines/Fees notifications", "FULFILLMENT"),
        ("S48011190000521", "Publishing Platform Job", "PUBLISHING"),
        ("S48011200000521", "Analytics Updates", "ANALYTICS"),
        ("S48011210000521", "Users - Purge Users", "USERS"),
        ("S48011220000521", "Course Loading", "COURSES"),
        ("S48011230000521", "Distribute Network Changes", "NETWORK"),
        ("S48011240000521", "Bursar Export", "FULFILLMENT"),
    ]
    return [{"id": jid, "name": name, "description": name,
             "type": {"value": "SCHEDULED", "desc": "Scheduled"},
             "category": {"value": cat, "desc": cat.title()},
             "content": {"value": "", "desc": ""},
             "schedule": {"value": "DAILY_0200" if jid == EXPIRY_JOB_ID else "DAILY", "desc": "Every day at 02:00"},
             "creator": "System", "next_run": "", "link": f"/almaws/v1/conf/jobs/{jid}"} for jid, name, cat in names]


def _instance(inst: Inst, day: date, local_start: time, status: str, status_desc: str, expired: int,
              run_minutes: float, submitted_by: str = "System", counter: bool = True,
              alert: str = "The job completed successfully.") -> dict[str, Any]:
    tz = ZoneInfo(inst.timezone)
    start = datetime.combine(day, local_start, tzinfo=tz)
    submit = start - timedelta(seconds=2)
    end = start + timedelta(minutes=run_minutes)
    running = status in ("RUNNING", "PENDING", "QUEUED", "INITIALIZING", "FINALIZING")
    iid = f"{day.strftime('%Y%m%d')}{local_start.hour:02d}{local_start.minute:02d}0004{inst.suffix[-3:]}"
    return {
        "id": iid, "external_id": iid,
        "name": f"{EXPIRY_JOB} - {day.strftime('%m/%d/%Y')} {local_start.strftime('%H:%M')}",
        "submitted_by": {"value": submitted_by, "desc": submitted_by},
        "submit_time": _iso(submit), "start_time": _iso(start), "end_time": "" if running else _iso(end),
        "progress": 40 if running else 100,
        "status": {"value": status, "desc": status_desc},
        "status_date": day.isoformat(),
        "alert": [{"value": "alert_general", "desc": alert}],
        "counter": [{"type": {"value": "c.jobs.rs.expired", "desc": "Requests expired"}, "value": str(expired)},
                    {"type": {"value": "c.jobs.rs.examined", "desc": "Requests examined"},
                     "value": str(expired * 7 + 3)}] if counter else [],
        "job_info": {"id": EXPIRY_JOB_ID, "name": EXPIRY_JOB, "description": EXPIRY_JOB,
                     "type": {"value": "SCHEDULED", "desc": "Scheduled"},
                     "category": {"value": "FULFILLMENT", "desc": "Fulfillment"},
                     "link": f"/almaws/v1/conf/jobs/{EXPIRY_JOB_ID}"},
        "link": f"/almaws/v1/conf/jobs/{EXPIRY_JOB_ID}/instances/{iid}",
    }


def _job_history(rng: random.Random, inst: Inst, today: date) -> None:
    """Thirty days of the expiry job: a failed day, a missing day, warnings and errors, a day with two runs
    (aborted by the system, then re-run by staff), a run left RUNNING, and today's run."""
    two = time(2, 0)
    for back in range(29, -1, -1):
        day = today - timedelta(days=back)
        key = day.isoformat()
        n = rng.randint(0, 25)
        if back == 6:
            inst.scenario[key] = "missing"
            continue
        if back == 3:
            inst.instances.append(_instance(inst, day, two, "FAILED", "Failed", 0, 1.5,
                                            alert="The job failed."))
            inst.scenario[key] = "failed"
        elif back == 9:
            inst.instances.append(_instance(inst, day, two, "COMPLETED_FAILED", "Completed with Errors", n, 2,
                                            alert="The job completed with errors."))
            inst.scenario[key] = "warning"
        elif back == 11:
            inst.instances.append(_instance(inst, day, two, "COMPLETED_WARNING", "Completed with Warnings", n, 2,
                                            alert="The job completed with warnings."))
            inst.scenario[key] = "warning"
        elif back == 16:
            inst.instances.append(_instance(inst, day, two, "SYSTEM_ABORTED", "Aborted by System", 0, 0.5,
                                            alert="The job was aborted by the system."))
            inst.instances.append(_instance(inst, day, time(9, 15), "COMPLETED_SUCCESS", "Completed Successfully",
                                            n, 1.2, submitted_by="exl_impl"))
            inst.scenario[key] = "ok"  # re-run succeeded
        elif back == 20:
            inst.instances.append(_instance(inst, day, two, "RUNNING", "Running", 0, 0))
            inst.scenario[key] = "running"
        else:
            inst.instances.append(_instance(inst, day, two, "COMPLETED_SUCCESS", "Completed Successfully", n,
                                            rng.uniform(0.4, 3.0)))
            inst.scenario[key] = "ok"


def build(today: date, *, seed: int = 20201, scale: int = 0, now: datetime | None = None,
          extra_institutions: int = 0, scale_institution: str = "") -> list[Inst]:
    """The consortium's data. ``scale`` generated lending requests more, spread over the three institutions,
    or all in ``scale_institution`` (a code) when given; they vary in every task-list filter (partner,
    printed, reported, requested and supplied format), and a scaled institution lends to one partner per
    1,000 of them (at most 100, the LOAN network's size)."""
    rng = random.Random(seed)
    now = now or datetime.combine(today, time(12, 0), tzinfo=ZoneInfo("America/New_York"))
    insts = [Inst(c, n, ic, key, libs, sfx) for c, n, ic, key, libs, sfx in INSTITUTIONS]
    extras: list[Inst] = []
    for k in range(extra_institutions):  # more IZs for benchmarks: the expiry job and a few partners each
        code = f"I{k + 4:02d}"
        extra = Inst(code, f"LOAN Library {k + 4}", f"01LOAN_{code}", f"sandbox-key-{code.lower()}",
                     [f"{code}_RS"], f"4{k + 200:03d}")
        extra.jobs = _jobs(extra)
        _job_history(rng, extra, today)
        for pcode, name, sym in LOAN[:5]:
            extra.partners[pcode] = partner_json(pcode, name, sym, f"01{pcode[4:]}_INST", p2p=True)
        extras.append(extra)
    for inst in insts:
        for code, name, sym, _nz in SUNY:
            inst.partners[code] = partner_json(code, name, sym, "01SUNY_NETWORK", p2p=True)
        for k, (code, name, sym) in enumerate(LOAN):
            inst.partners[code] = partner_json(code, name, sym, f"01{code[4:]}_INST", p2p=k % 3 != 0,
                                               expiry=5 if k % 4 else 7)
        for other in insts:
            if other is not inst:
                code = f"WRLC_{other.code}"
                inst.partners[code] = partner_json(code, other.name, f"DGW{other.code}", other.inst_code, p2p=True)
        for _u in range(40):
            inst.users[f"{inst.code[0]}{rng.randint(10**7, 10**8 - 1)}"] = f"{rng.choice(AUTHORS)} (patron)"
        inst.jobs = _jobs(inst)
        _job_history(rng, inst, today)
    statuses = LENDING_MANDATORY + LENDING_OPTIONAL
    for inst in insts:
        partners = list(inst.partners.values())
        lib = inst.rs_libraries[0]
        for k, st in enumerate(statuses):
            for _ in range(3 if k < 6 else 2):
                inst.lending.append(_request(rng, inst, "lending", st, rng.choice(partners),
                                             _ext(rng, rng.choice(["4146", "4129", "4088"])), now, lib))
        users = list(inst.users)
        for st in BORROWING_MANDATORY + BORROWING_OPTIONAL:
            for _ in range(3):
                inst.borrowing.append(_request(rng, inst, "borrowing", st, rng.choice(partners),
                                               _ext(rng, inst.suffix), now, lib, rng.choice(users)))
    # both sides in the consortium: GWA borrows from AMU and the request exists in both IZs
    gwa, amu, mu = insts
    for borrower, lender, bst, lst in ((gwa, amu, BORROWING_MANDATORY[3], LENDING_MANDATORY[3]),
                                       (amu, mu, BORROWING_MANDATORY[2], LENDING_MANDATORY[0]),
                                       (mu, gwa, BORROWING_MANDATORY[6], LENDING_MANDATORY[4])):
        for _ in range(2):
            ext = f"{rng.randint(10**12, 10**13 - 1)}{borrower.suffix}"
            b = _request(rng, borrower, "borrowing", bst, borrower.partners[f"WRLC_{lender.code}"], ext, now,
                         borrower.rs_libraries[0], rng.choice(list(borrower.users)))
            lreq = _request(rng, lender, "lending", lst, lender.partners[f"WRLC_{borrower.code}"], ext, now,
                            lender.rs_libraries[0])
            lreq["title"] = b["title"]
            lreq["author"] = b["author"]
            borrower.borrowing.append(b)
            lender.lending.append(lreq)
    for inst in insts:  # after the requests, so the seeded requests stay what they were
        for code, name, ptype, details in OTHER_PROFILES:
            inst.partners[code] = other_partner_json(code, name, ptype, details)
    if scale:
        weights = [14, 4, 10, 22, 8, 6, 18, 3, 1, 5, 2, 3, 3, 1]
        targets = [i for i in insts if i.code == scale_institution] or insts
        per = scale // len(targets)
        for inst in targets:
            # a library lending this much lends to more of the network: one partner per 1,000 requests,
            # up to the LOAN network's ~100 libraries
            for k in range(len(inst.partners), min(100, per // 1000)):
                code = f"P2P_L{k:03d}"
                inst.partners[code] = partner_json(code, f"LOAN Library {k}", f"L{k:03d}", f"01L{k:03d}_INST",
                                                   p2p=True)
            partners = list(inst.partners.values())
            lib = inst.rs_libraries[0]
            for st in rng.choices(statuses, weights=weights, k=per):
                inst.lending.append(_request(rng, inst, "lending", st, rng.choice(partners),
                                             _ext(rng, "4146"), now, lib, facets=True))
    return insts + extras


def directory_partner(code: str) -> tuple[str, str, str] | None:
    for c, name, sym in DIRECTORY_ONLY:
        if c == code:
            return c, name, sym
    return None
