"""Typed views of Alma's JSON. Alma writes codes as ``{"value", "desc"}`` objects and sometimes as plain
strings (``owner``, partner ``status``); :func:`code` and :func:`desc` read both. Models keep the raw
dict where Alma's swap-all PUT needs the whole object back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def code(value: object) -> str:
    if isinstance(value, dict):
        v = value.get("value")
        return "" if v is None else str(v)
    return "" if value is None else str(value)


def desc(value: object) -> str:
    if isinstance(value, dict):
        d = value.get("desc")
        return "" if d is None else str(d)
    return ""


def _s(value: object) -> str:
    return "" if value is None else str(value)


def _list(value: object) -> list[object]:
    """A JSON array as a list; one object (XML-to-JSON gives one child as an object) as a list of one."""
    if isinstance(value, list):
        return value
    return [] if value is None or value == "" else [value]


def obj(value: object) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one: a nested field of an odd shape never raises."""
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class RSRequest:
    """A resource-sharing request (``user_resource_sharing_request``), lending or borrowing."""

    kind: str  # lending / borrowing
    request_id: str
    external_id: str
    status: str
    status_desc: str
    partner_code: str
    partner_name: str
    owner: str
    title: str
    author: str
    format: str
    requester: str
    created: str
    modified: str
    barcode: str = ""
    raw: Mapping[str, object] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, object], kind: str) -> RSRequest:
        if not isinstance(d, Mapping):
            raise ValueError("a resource sharing request must be a JSON object")
        return cls(
            kind=kind,
            request_id=_s(d.get("request_id")),
            external_id=_s(d.get("external_id")),
            status=code(d.get("status")),
            status_desc=desc(d.get("status")),
            partner_code=code(d.get("partner")),
            partner_name=desc(d.get("partner")),
            owner=code(d.get("owner")),
            title=_s(d.get("title")),
            author=_s(d.get("author")),
            format=code(d.get("format")),
            requester=code(d.get("requester")),
            created=_s(d.get("created_time") or d.get("created_date")),
            modified=_s(d.get("last_modified_time") or d.get("last_modified_date")),
            barcode=_s(d.get("barcode")),
            raw=d,
        )


@dataclass(frozen=True)
class Partner:
    code: str
    name: str
    status: str
    profile_type: str
    iso_symbol: str
    borrowing_workflow: str
    lending_workflow: str
    request_expiry_type: str
    expiry_time: int | None
    system_type: str
    raw: Mapping[str, object] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> Partner:
        pd = obj(d.get("partner_details"))
        prof = obj(pd.get("profile_details"))
        ptype = _s(prof.get("profile_type"))
        details = _profile_block(prof)
        exp = details.get("expiry_time")
        return cls(
            code=_s(pd.get("code")),
            name=_s(pd.get("name")),
            status=code(pd.get("status")),
            profile_type=code(ptype) if isinstance(ptype, dict) else ptype,
            iso_symbol=_s(details.get("iso_symbol") or details.get("partner_symbol")),
            borrowing_workflow=code(pd.get("borrowing_workflow")),
            lending_workflow=code(pd.get("lending_workflow")),
            request_expiry_type=code(details.get("request_expiry_type")),
            expiry_time=int(exp) if isinstance(exp, (int, float, str)) and str(exp).isdigit() else None,
            system_type=code(pd.get("system_type")),
            raw=d,
        )


def _profile_block(profile_details: dict[str, Any]) -> dict[str, Any]:
    """The ``*_details`` block that matches ``profile_type`` (e.g. ``iso_details`` for ISO)."""
    ptype = code(profile_details.get("profile_type")).lower()
    block = profile_details.get(f"{ptype}_details")
    if isinstance(block, dict):
        return block
    for key, value in profile_details.items():
        if key.endswith("_details") and isinstance(value, dict):
            return value
    return {}


def profile_block(partner_json: dict[str, Any]) -> dict[str, Any]:
    return _profile_block(obj(obj(partner_json.get("partner_details")).get("profile_details")))


@dataclass(frozen=True)
class Job:
    id: str
    name: str
    type: str
    category: str
    next_run: str

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> Job:
        return cls(_s(d.get("id")), _s(d.get("name")), code(d.get("type")), code(d.get("category")),
                   _s(d.get("next_run")))


@dataclass(frozen=True)
class JobInstance:
    id: str
    name: str
    status: str
    status_desc: str
    submit_time: str
    start_time: str
    end_time: str
    progress: int
    counters: tuple[tuple[str, str, str], ...]  # (type value, type desc, value)
    alerts: tuple[str, ...]
    job_id: str

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> JobInstance:
        counters = tuple((code(c.get("type")), desc(c.get("type")), _s(c.get("value")))
                         for c in _list(d.get("counter")) if isinstance(c, dict))
        alerts = tuple(desc(a) or code(a) for a in _list(d.get("alert")))
        raw_progress = d.get("progress") or 0
        try:
            progress = int(raw_progress) if isinstance(raw_progress, (int, float, str)) else 0
        except ValueError:
            progress = 0
        return cls(_s(d.get("id")), _s(d.get("name")), code(d.get("status")), desc(d.get("status")),
                   _s(d.get("submit_time")), _s(d.get("start_time")), _s(d.get("end_time")), progress,
                   counters, alerts, _s(obj(d.get("job_info")).get("id")))


@dataclass(frozen=True)
class Library:
    code: str
    name: str
    resource_sharing: bool

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> Library:
        rs = d.get("resource_sharing")
        return cls(_s(d.get("code")), _s(d.get("name")), rs is True or str(rs).lower() == "true")
