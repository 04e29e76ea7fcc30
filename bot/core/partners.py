"""Onboarding a P2P partner: what Alma's API allows is done through it, the rest is a tracked checklist.

The API can read and update a partner (swap-all PUT) but has no call for the Resource Sharing Directory,
rota templates, Temporary Item Creation Rules or fulfillment-unit (TOU) rules. So the bot:
  1. finds the partner in Alma (paged list, cached; fuzzy on name and ISO symbol; asks when ambiguous),
     or shows the one UI step that brings it in (Partners > Community tab > Copy);
  2. refuses partners managed in the Network Zone (changes go through a Service Desk ticket);
  3. previews and, once confirmed, sets the profile: P2P borrowing / lending workflow profiles, request
     expiry in days (only where the partner's profile type has one: ``ISO`` and ``NCIP_P2P`` do,
     ``ISO_18626`` and ``EMAIL`` do not, and the bot says so instead of inventing the fields), active.
     GET, change only those fields, PUT the whole record. Once Alma accepts the PUT the audit row, the
     record and the claim are written at once; reading it back to verify is a separate step, and if that
     read fails the outcome is ``changed_unverified`` ("changed, not yet verified"), never a lost change.
     A claim in the store makes a double click or a retry PUT at most once;
  4. tracks the UI-only steps as a checklist with the exact values, who did each and when.
Every change is in the audit log with before and after.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import re
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypedDict

from rapidfuzz import fuzz, process
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.core.expiry import last_known
from bot.core.services import Services
from bot.edges.alma.client import AlmaClient, deadline
from bot.edges.alma.errors import AlmaError, AlmaNotFound, AlmaUnavailable, sentence
from bot.edges.alma.models import Partner, obj, profile_block
from bot.edges.settings import Institution, PartnerPolicy
from bot.edges.store import JSONValue, Store, checklist, partners, utcnow

log = logging.getLogger(__name__)
CACHE_TTL = timedelta(hours=1)
# profile types whose details block carries request_expiry_type / expiry_time (XSD-partner: iso_details,
# ncip_p2p_details, fulfillment_network_details); iso_18626_details, email_details and the others do not
EXPIRY_PROFILE_TYPES = frozenset({"ISO", "NCIP_P2P", "FULFILLMENT_NETWORK"})
EXPIRY_FIELDS = ("request_expiry_type", "expiry_time")
USER_DEADLINE_S = 20.0  # a person waits for a preview, a check or a confirmation at most about this long
GENERIC_NAME_WORDS = frozenset("university college of the at and library libraries institute state community".split())


class PartnerError(ValueError):
    """A sentence for staff (not allowed, not found, refused …)."""


@dataclass(frozen=True)
class Item:
    key: str
    title: str
    how: str
    topic: str


def checklist_items(policy: PartnerPolicy, name: str, locate_profile: str) -> list[Item]:
    return [
        Item("rota", f"Add to the rota template \"{policy.rota_template}\"",
             f"Fulfillment > Resource Sharing > Rota Templates > \"{policy.rota_template}\" (…) Edit > Template "
             f"Members > + Add Partners > search \"{name}\" > Add Partners > Save", "partner-add-directory"),
        Item("temp_item_rule", f"Add to the Temporary Item Creation Rule \"{policy.temp_item_rule}\"",
             f"Configuration > (your RS library) > Fulfillment > Library Management > Temporary Item Creation Rules > "
             f"\"{policy.temp_item_rule}\" (…) Edit > Input Parameters > Resource Sharing Partner | In List > add "
             f"\"{name}\" > Save > Save", "partner-add-temp-item-rule"),
        Item("tou", f"Add to the Lending Resource Sharing rule \"{policy.lending_rule}\" (TOU)",
             f"Configuration > (your RS library) > Fulfillment > Physical Location > Fulfillment Units > (P2P unit) "
             f"Edit > Fulfillment Unit Rules > Lending Resource Sharing > \"{policy.lending_rule}\" > Resource Sharing "
             f"Partner | In List > add \"{name}\" > Save > Save > Save", "partner-add-tou"),
        Item("locate_profile", f"Review the locate profile \"{locate_profile or 'copied with the partner'}\"",
             "Configuration > Fulfillment > Resource Sharing > Locate Profiles > (…) Edit > Locate Profile "
             "Parameters (e.g. Ignore Electronic and Digital Resources)", "partner-review-locate-profile"),
        Item("expiry_job", "Confirm the expiry job runs daily and the working days are set",
             "Configuration > Fulfillment > General > Fulfillment Jobs Configuration (Expired Resource Sharing "
             "Requests: Active, every day) and Resource Sharing > Resource Sharing Working Days",
             "partner-check-configs"),
    ]


@dataclass
class Change:
    field: str
    before: JSONValue  # a policy field as Alma has it, and as the policy wants it
    after: JSONValue


class ChecklistState(TypedDict):
    """One step only the Alma UI can do, and whether someone has done it."""

    item: str
    title: str
    how: str
    topic: str
    done: bool
    done_by: str  # a Slack user id, or "cli"
    done_at: str  # ISO time to the minute, "" when not done


class RegistryEntry(TypedDict):
    """A partner onboarded through the bot, as ``p2p-bot partner list`` and ``/p2p partner list`` show it."""

    institution: str
    code: str
    name: str
    state: str
    done: int
    total: int
    checklist: list[ChecklistState]
    created_by: str
    updated_at: str


@dataclass
class Candidate:
    code: str
    name: str
    symbol: str
    score: float


@dataclass
class Outcome:
    """What happened (or would happen) for one partner; the CLI prints it as JSON."""

    institution: str
    code: str = ""
    name: str = ""
    # not_found / ambiguous / refused / preview / profile_set / changed_unverified / unchanged / failed / complete
    state: str = ""
    message: str = ""
    changes: list[Change] = field(default_factory=list)
    changed: bool = False
    candidates: list[Candidate] = field(default_factory=list)
    checklist: list[ChecklistState] = field(default_factory=list)
    preview_key: str = ""
    drift: list[Change] = field(default_factory=list)
    not_settable: list[str] = field(default_factory=list)  # policy fields this partner's profile type lacks

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# -- reading and comparing profiles ----------------------------------------------------------------------
def policy_fields(p: dict[str, Any]) -> dict[str, Any]:
    pd = obj(p.get("partner_details"))
    block = profile_block(p)
    exp = block.get("request_expiry_type")
    return {
        "borrowing_workflow": pd.get("borrowing_workflow"),
        "lending_workflow": pd.get("lending_workflow"),
        "request_expiry_type": exp.get("value") if isinstance(exp, dict) else exp,
        "expiry_time": block.get("expiry_time"),
        "status": pd.get("status"),
    }


def profile_type(p: dict[str, Any]) -> str:
    prof = obj(obj(p.get("partner_details")).get("profile_details"))
    ptype = prof.get("profile_type")
    return str((ptype.get("value") if isinstance(ptype, dict) else ptype) or "").upper()


def has_expiry(p: dict[str, Any]) -> bool:
    return profile_type(p) in EXPIRY_PROFILE_TYPES


def wanted(policy: PartnerPolicy, p: dict[str, Any] | None = None) -> dict[str, Any]:
    """The policy's fields for partner ``p``: without the expiry when its profile type has none."""
    out = {"borrowing_workflow": policy.borrowing_workflow, "lending_workflow": policy.lending_workflow,
           "request_expiry_type": "EXPIRY_TIME", "expiry_time": policy.expiry_days, "status": "ACTIVE"}
    if p is not None and not has_expiry(p):
        for k in EXPIRY_FIELDS:
            del out[k]
    return out


def not_settable_note(policy: PartnerPolicy, p: dict[str, Any]) -> str:
    """What the policy asks for that this partner's profile type cannot hold (empty when nothing)."""
    if has_expiry(p):
        return ""
    ptype = profile_type(p) or "this"
    return (f"Alma's {ptype} partner profile has no request expiry, so the agreed {policy.expiry_days}-day "
            "Expiry Time cannot be set on this partner (by the bot or in the UI); requests to it expire as the "
            "partner's own system decides.")


def diff(current: dict[str, Any], target: dict[str, Any]) -> list[Change]:
    have = policy_fields(current)
    return [Change(k, have.get(k), v) for k, v in target.items() if have.get(k) != v]


def apply_policy(p: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    """A copy of the whole record with only the policy fields changed (swap-all PUT sends all of it)."""
    new = copy.deepcopy(p)
    have = policy_fields(p)
    pd = new.setdefault("partner_details", {})
    for key in ("borrowing_workflow", "lending_workflow", "status"):
        if have[key] != target[key]:
            pd[key] = target[key]
    if not all(k in target for k in EXPIRY_FIELDS):
        return new  # this profile type has no expiry: nothing is invented
    block = profile_block(new)
    if not block:  # the type has an expiry but the record has no block for it: never invent one
        return new
    if have["request_expiry_type"] != target["request_expiry_type"]:
        old_exp = block.get("request_expiry_type")
        # a code object: send the new value ("desc" is output only and would now be wrong)
        block["request_expiry_type"] = {"value": target["request_expiry_type"]} if isinstance(old_exp, dict) or \
            old_exp is None else target["request_expiry_type"]
    if have["expiry_time"] != target["expiry_time"]:
        block["expiry_time"] = target["expiry_time"]
    return new


def flatten(obj: object, prefix: str = "") -> dict[str, object]:
    """Every leaf of a JSON value by its path (``partner_details.profile_details.iso_details.expiry_time``)."""
    if isinstance(obj, dict):
        out: dict[str, object] = {}
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(obj, list):
        out = {}
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}[{i}]"))
        return out
    return {prefix: obj}


def preserved(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Paths that changed between two records, other than the policy fields (should be empty)."""
    allowed = ("partner_details.borrowing_workflow", "partner_details.lending_workflow", "partner_details.status",
               "request_expiry_type", "expiry_time")
    a, b = flatten(before), flatten(after)
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k) and not any(x in k for x in allowed))


# -- the service -----------------------------------------------------------------------------------------
class Onboarding:
    def __init__(self, store: Store, policy: PartnerPolicy, institution: Institution, client: AlmaClient,
                 deadline_s: float | None = USER_DEADLINE_S) -> None:
        self.store = store
        self.policy = policy
        self.inst = institution
        self.client = client
        self.deadline_s = deadline_s  # every Alma step a person waits for ends within this

    # finding
    def directory(self, refresh: bool = False) -> list[dict[str, str]]:
        key = f"partners:{self.inst.code}"
        cached = None if refresh else self.store.cache_get(key)
        if cached and utcnow() - cached[1] < CACHE_TTL:
            return list(cached[0])
        rows = [{"code": p.code, "name": p.name, "symbol": p.iso_symbol, "status": p.status}
                for p in self.client.partners()]
        self.store.cache_put(key, rows)
        return rows

    def find(self, query: str, refresh: bool = False) -> list[Candidate]:
        q = query.strip()
        if not q:
            return []  # nothing asked is nothing found (an empty query must never "match" an empty symbol)
        rows = self.directory(refresh)
        exact = [r for r in rows if q.lower() in (r["code"].lower(), r["symbol"].lower())]
        if exact:
            return [Candidate(r["code"], r["name"], r["symbol"], 100.0) for r in exact[:1]]
        names = [r["name"] for r in rows]
        scored = process.extract(q, names, scorer=fuzz.WRatio, limit=12, score_cutoff=75)
        # every distinctive word of the query must be in the name: "Florida Atlantic" is not "Florida International"
        words = [w for w in re.findall(r"[a-z0-9]+", q.lower()) if w not in GENERIC_NAME_WORDS]

        def has_all(name: str) -> bool:
            mine = re.findall(r"[a-z0-9]+", name.lower())
            return all(any(fuzz.ratio(w, m) >= 80 or (len(w) >= 3 and m.startswith(w)) for m in mine) for w in words)

        return [Candidate(rows[i]["code"], rows[i]["name"], rows[i]["symbol"], float(s))
                for _n, s, i in scored if has_all(rows[i]["name"])][:6]

    def nz_managed(self, name: str) -> bool:
        return any(n.lower() in name.lower() for n in self.policy.nz_managed)

    # the record
    def record(self, code: str) -> dict[str, Any] | None:
        with self.store.engine.connect() as conn:
            row = conn.execute(select(partners).where((partners.c.institution == self.inst.code)
                                                      & (partners.c.code == code))).first()
        return dict(row._mapping) if row is not None else None

    def _ensure_record(self, p: Partner, user: str) -> int:
        existing = self.record(p.code)
        if existing:
            return int(existing["id"])
        now = utcnow()
        try:
            with self.store.begin() as conn:
                pk = conn.execute(insert(partners).values(
                    institution=self.inst.code, code=p.code, name=p.name, symbol=p.iso_symbol,
                    locate_profile=locate_profile_of(p), state="previewed", created_by=user, created_at=now,
                    updated_at=now)).inserted_primary_key
            assert pk is not None
            return int(pk[0])
        except IntegrityError:  # a parallel request created it first (unique constraint): use that one
            again = self.record(p.code)
            if again is None:
                raise
            return int(again["id"])

    def checklist_state(self, code: str) -> list[ChecklistState]:
        rec = self.record(code)
        done: dict[str, tuple[str, datetime]] = {}
        if rec:
            with self.store.engine.connect() as conn:
                for r in conn.execute(select(checklist).where(checklist.c.partner_id == rec["id"])):
                    if r.done_at is not None:
                        done[r.item] = (r.done_by, r.done_at)
        name = rec["name"] if rec else code
        locate = rec.get("locate_profile", "") if rec else ""
        last = last_known(self.store, self.inst.code)
        out: list[ChecklistState] = []
        for it in checklist_items(self.policy, name, locate):
            who, when = done.get(it.key, ("", None))
            how = it.how
            if it.key == "expiry_job" and last:  # what the bot's own morning check saw
                how += f". Last check ({last.get('date')}): {last.get('status')}"
            out.append({"item": it.key, "title": it.title, "how": how, "topic": it.topic, "done": it.key in done,
                        "done_by": who, "done_at": when.isoformat(timespec="minutes") if when else ""})
        return out

    # the flow
    def preview(self, query: str, user: str, refresh: bool = False) -> Outcome:
        """Find the partner and show what would change (within the deadline)."""
        with self._bounded(self.deadline_s):
            return self._preview(query, user, refresh)

    def _preview(self, query: str, user: str, refresh: bool = False) -> Outcome:
        if not query.strip():
            raise PartnerError("Give the partner's code, ISO symbol or name, e.g. `partner add P2P_VT`.")
        out = Outcome(self.inst.code)
        found = self.find(query, refresh)
        if not found:
            out.state = "not_found"
            where = "Alma" if self.inst.name.strip().lower() in ("", "alma") else f"{self.inst.name}'s Alma"
            out.message = (f"\"{query}\" is not among the partners in {where} yet. Copy it from the "
                           "Resource Sharing Directory first (the API cannot): Fulfillment > Resource Sharing > "
                           "Partners > Community tab > search by Name or Symbol > (…) Copy. Then check again.")
            return out
        top = found[0]
        if len(found) > 1 and not (top.score >= 95 and top.score - found[1].score >= 8):
            out.state = "ambiguous"
            out.candidates = found[:5]
            out.message = f"Several partners match \"{query}\"; which one?"
            return out
        if self.nz_managed(top.name):
            out.code, out.name, out.state = top.code, top.name, "refused"
            out.message = (f"{top.name} is managed in the WRLC Network Zone, so its profile can't be changed here. "
                           "Send a Service Desk ticket to servicedesk@wrlc.org with the change you need "
                           "(see `suny-nz-partners`).")
            return out
        current = self.client.get_partner_json(top.code)
        p = Partner.from_json(current)
        out.code, out.name = p.code, p.name
        self._ensure_record(p, user)
        out.changes = diff(current, wanted(self.policy, current))
        out.preview_key = fingerprint(current)
        out.state = "preview"
        out.message = (f"{len(out.changes)} change(s) to {p.name}'s profile." if out.changes
                       else f"{p.name}'s profile already matches the P2P policy; nothing to change in Alma.")
        note = not_settable_note(self.policy, current)
        if note:
            out.not_settable = list(EXPIRY_FIELDS)
            out.message += " " + note
        out.checklist = self.checklist_state(p.code)
        return out

    def _bounded(self, seconds: float | None) -> AbstractContextManager[None]:
        return deadline(seconds) if seconds is not None else nullcontext()

    def confirm(self, code: str, user: str, preview_key: str = "") -> Outcome:
        """GET, change only the policy fields, PUT the whole record (once per preview), record the change at
        once, then verify it with a separate read. The GET and PUT share one deadline; reading back (to verify,
        or to see what a failed PUT left) has its own, shorter one, so the person always hears back."""
        follow: list[Callable[[], None]] = []
        with self._bounded(self.deadline_s):
            out = self._put(code, user, preview_key, follow)
        with self._bounded(self.deadline_s / 2 if self.deadline_s is not None else None):
            for step in follow:
                step()
        return out

    def _put(self, code: str, user: str, preview_key: str, follow: list[Callable[[], None]]) -> Outcome:
        out = Outcome(self.inst.code, code=code)
        current = self.client.get_partner_json(code)
        p = Partner.from_json(current)
        out.name = p.name
        if self.nz_managed(p.name):
            out.state = "refused"
            out.message = f"{p.name} is managed in the Network Zone; send a Service Desk ticket to servicedesk@wrlc.org."
            return out
        pid = self._ensure_record(p, user)
        target = wanted(self.policy, current)
        note = not_settable_note(self.policy, current)
        out.not_settable = [] if not note else list(EXPIRY_FIELDS)
        changes = diff(current, target)
        out.checklist = self.checklist_state(code)
        if not changes:
            out.state = "unchanged"
            out.message = f"{p.name}'s profile already matches the policy; nothing was changed." + \
                (f" {note}" if note else "")
            self._set_state(pid, "profile_set")
            return out
        key = preview_key or fingerprint(current)
        if not self.store.claim("partner-put", f"{self.inst.code}:{code}", key, by=user):
            out.state = "unchanged"
            out.message = "That change is already being applied (a second click or a retry); nothing more was done."
            return out
        new = apply_policy(current, target)
        try:
            self.client.update_partner(code, new)
        except AlmaError as exc:
            follow.append(partial(self._put_failed, out, code, current, key, user, exc))
            return out
        self._applied(pid, code, key, user, current, new)
        out.changes = changes
        out.changed = True

        def verify() -> None:
            self._verify(out, code, current, target, note)
            out.checklist = self.checklist_state(code)

        follow.append(verify)
        return out

    def _put_failed(self, out: Outcome, code: str, current: dict[str, Any], key: str, user: str,
                    exc: AlmaError) -> None:
        """Alma refused the PUT (or may not have applied it): read back to say what the partner looks like.
        A change that shows up anyway is audited as a change; one that may still come is said to be unsure."""
        self.store.release("partner-put", f"{self.inst.code}:{code}", key)
        out.state = "failed"
        why = sentence(exc, self.inst.name)
        unsure = isinstance(exc, AlmaUnavailable) and exc.code in ("TIMEOUT", "DEADLINE", "CONNECTION")
        try:
            now_json: dict[str, Any] | None = self.client.get_partner_json(code)
        except AlmaError:
            now_json = None
        if now_json is None:
            out.message = (f"{why} I could not read the partner back to see whether anything changed; check it "
                           f"with `/p2p partner check {code}`.")
        elif moved := [c.field for c in diff(current, policy_fields(now_json))]:
            out.message = f"{why} Careful: these fields changed anyway: {', '.join(moved)}."
            out.changed = True
            self.store.audit(user, "partner.profile", f"{self.inst.code}:{code}", policy_fields(current),
                             policy_fields(now_json))
            return
        elif unsure:
            out.message = (f"{why} Alma did not say whether it took the change, and it has not shown up yet; check "
                           f"it in a minute with `/p2p partner check {code}`.")
        else:
            out.message = f"{why} The partner is as it was: nothing was changed."
        self.store.audit(user, "partner.put.failed", f"{self.inst.code}:{code}", policy_fields(current),
                         {"error": exc.code or str(exc.status)})

    def _applied(self, pid: int, code: str, key: str, user: str, current: dict[str, Any],
                 sent: dict[str, Any]) -> None:
        """Alma accepted the PUT: the claim, the audit row and the record, before anything else can fail."""
        self.store.finish_claim("partner-put", f"{self.inst.code}:{code}", key)
        self.store.audit(user, "partner.profile", f"{self.inst.code}:{code}", policy_fields(current),
                         policy_fields(sent))
        with self.store.begin() as conn:
            conn.execute(update(partners).where(partners.c.id == pid).values(
                state="profile_set", updated_at=utcnow(), before=json.dumps(policy_fields(current)),
                after=json.dumps(policy_fields(sent))))

    def _verify(self, out: Outcome, code: str, current: dict[str, Any], target: dict[str, Any],
                note: str) -> None:
        """Read the partner back and compare: the change is recorded already, this only says whether it held."""
        try:
            after = self.client.get_partner_json(code)
        except AlmaError as exc:
            out.state = "changed_unverified"
            out.message = (f"{out.name}'s profile was changed in Alma, but not yet verified: reading it back "
                           f"failed. {sentence(exc, self.inst.name)} Check it with `/p2p partner check {code}`.")
            return
        remaining = diff(after, target)
        extra = preserved(current, after)
        with self.store.begin() as conn:
            conn.execute(update(partners).where((partners.c.institution == self.inst.code)
                                                & (partners.c.code == code)).values(
                after=json.dumps(policy_fields(after)), updated_at=utcnow()))
        if remaining or extra:
            out.state = "failed"
            out.message = ("Alma accepted the update but reading it back shows "
                           + (f"{', '.join(c.field for c in remaining)} not as intended" if remaining else "")
                           + (f"; other fields changed: {', '.join(extra[:5])}" if extra else "") + ".")
            return
        out.state = "profile_set"
        out.message = f"{out.name}'s profile is set (verified in Alma). Now the steps only the Alma UI can do." + \
            (f" {note}" if note else "")

    def _set_state(self, pid: int, state: str) -> None:
        with self.store.begin() as conn:
            conn.execute(update(partners).where(partners.c.id == pid).values(state=state, updated_at=utcnow()))

    def mark_done(self, code: str, item: str, user: str) -> tuple[Outcome, bool]:
        """Tick a checklist item; returns (outcome, True when this tick completed the whole checklist)."""
        rec = self.record(code)
        out = Outcome(self.inst.code, code=code)
        if rec is None:
            raise PartnerError(f"{code} is not being onboarded; start with `/p2p partner add {code}`.")
        keys = [i.key for i in checklist_items(self.policy, rec["name"], "")]
        if item not in keys:
            raise PartnerError(f"There is no checklist item \"{item}\"; items: {', '.join(keys)}.")
        now = utcnow()
        with self.store.begin() as conn:
            res = conn.execute(update(checklist).where((checklist.c.partner_id == rec["id"]) & (checklist.c.item == item)
                                                       & checklist.c.done_at.is_(None)).values(done_by=user, done_at=now))
            if res.rowcount == 0:
                exists = conn.execute(select(checklist.c.id).where((checklist.c.partner_id == rec["id"])
                                                                   & (checklist.c.item == item))).first()
                if exists is None:
                    conn.execute(insert(checklist).values(partner_id=rec["id"], item=item, done_by=user, done_at=now))
        self.store.audit(user, "partner.checklist", f"{self.inst.code}:{code}", "", item)
        out.name = rec["name"]
        out.checklist = self.checklist_state(code)
        complete = all(c["done"] for c in out.checklist) and rec["state"] in ("profile_set", "complete")
        out.state = "complete" if complete else rec["state"]
        finished_now = False
        if complete and rec["state"] != "complete":
            self._set_state(int(rec["id"]), "complete")
            finished_now = self.store.claim("partner-complete", self.inst.code, code)
        out.message = f"{out.name}: onboarding complete." if complete else f"Marked done: {item}."
        return out, finished_now

    def registry(self) -> list[RegistryEntry]:
        with self.store.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(select(partners).where(
                partners.c.institution == self.inst.code).order_by(partners.c.name))]
        out: list[RegistryEntry] = []
        for r in rows:
            items = self.checklist_state(r["code"])
            out.append({"institution": r["institution"], "code": r["code"], "name": r["name"], "state": r["state"],
                        "done": sum(1 for i in items if i["done"]), "total": len(items), "checklist": items,
                        "created_by": r["created_by"], "updated_at": r["updated_at"].isoformat(timespec="minutes")
                        if r["updated_at"] else ""})
        return out

    def check(self, code: str) -> Outcome:
        """The partner's profile against the policy (within the deadline)."""
        with self._bounded(self.deadline_s):
            return self._check(code)

    def _check(self, code: str) -> Outcome:
        out = Outcome(self.inst.code, code=code)
        try:
            current = self.client.get_partner_json(code)
        except AlmaNotFound:
            out.state = "not_found"
            out.message = f"{code} is not a partner in {self.inst.name}'s Alma."
            return out
        p = Partner.from_json(current)
        out.name = p.name
        out.drift = diff(current, wanted(self.policy, current))
        out.state = "drift" if out.drift else "ok"
        out.message = (f"{p.name} differs from the P2P policy in {len(out.drift)} field(s)." if out.drift
                       else f"{p.name} matches the P2P policy.")
        rec = self.record(code)
        if rec:
            out.checklist = self.checklist_state(code)
        return out

    def in_list_names(self) -> dict[str, list[str]]:
        """The partner names each UI-only In List should hold: every onboarded partner plus every Alma
        partner already on the P2P workflow profiles."""
        names = {r["name"] for r in self.registry()}
        for p in self.client.partners():
            if p.borrowing_workflow == self.policy.borrowing_workflow and p.lending_workflow == self.policy.lending_workflow:
                names.add(p.name)
        ordered = sorted(names)
        return {f"Rota template \"{self.policy.rota_template}\"": ordered,
                f"Temporary Item Creation Rule \"{self.policy.temp_item_rule}\"": ordered,
                f"Lending Resource Sharing rule \"{self.policy.lending_rule}\"": ordered}


def locate_profile_of(p: Partner) -> str:
    lp = obj(p.raw.get("partner_details")).get("locate_profile")
    if isinstance(lp, dict):
        return str(lp.get("desc") or lp.get("value") or "")
    return str(lp or "")


def fingerprint(p: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(policy_fields(p), sort_keys=True).encode()).hexdigest()[:16]


def onboarding(services: Services, institution: str | None = None) -> Onboarding:
    insts = services.settings.institutions
    if not insts:
        raise PartnerError("No Alma institution is configured.")
    if institution is None:
        inst = insts[0]  # nothing asked for: the first configured institution is the default
    else:
        found = next((i for i in insts if i.code.lower() == institution.strip().lower()), None)
        if found is None:  # never someone else's institution instead of the one asked for
            raise PartnerError(f"There is no institution \"{institution}\" in the configuration; "
                               f"use one of: {', '.join(i.code for i in insts)}.")
        inst = found
    return Onboarding(services.store, services.settings.partner_policy, inst, services.alma[inst.code])


def nightly_audit(services: Services) -> list[Outcome]:
    """Every onboarded partner's profile against the policy; drift is posted once a day."""
    drifted = []
    for inst in services.settings.institutions:
        ob = onboarding(services, inst.code)
        for rec in ob.registry():
            try:
                res = ob.check(rec["code"])
            except AlmaError as exc:
                log.warning("audit of %s/%s failed: %s", inst.code, rec["code"], exc)
                continue
            if res.drift or res.state == "not_found":
                drifted.append(res)
    services.store.cache_put("partners:drift", [d.to_json() for d in drifted])
    channel = services.settings.rs_channel
    if drifted and channel and services.settings.slack_bot_token:
        day = utcnow().date().isoformat()
        if services.store.claim("partner-audit", channel, day):
            lines = [f"• {d.name or d.code} ({d.institution}): " + ", ".join(
                f"{c.field} is {c.before!r}, policy {c.after!r}" for c in d.drift) for d in drifted]
            services.slack.chat_postMessage(channel=channel, text="P2P partner profiles that drifted from policy:\n"
                                            + "\n".join(lines)[:2900])
    return drifted
