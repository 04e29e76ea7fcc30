"""Scoring the answer engine on a question file (``{"q", "topics", "facts"}`` per line).

Metrics: top-1 (best hit is one of the expected topics), recall@3, MRR, abstention on out-of-scope
questions (empty ``topics``), answered-but-wrong (the bot answered and the best hit is wrong, or it
answered an out-of-scope question), facts@1 (the shown answer contains every expected fact), and latency.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bot.core.answers import Result


@dataclass
class EvalItem:
    q: str
    topics: list[str]
    facts: list[str]


@dataclass
class EvalReport:
    questions: int = 0
    in_scope: int = 0
    out_of_scope: int = 0
    top1: float = 0.0
    recall_at_3: float = 0.0
    mrr: float = 0.0
    abstained_oos: int = 0
    abstention_oos: float = 0.0
    answered_wrong: int = 0
    abstained_in_scope: int = 0
    facts_at_1: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p95_ms: float = 0.0
    misses: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def read_items(path: str | Path) -> list[EvalItem]:
    """The questions of a JSONL file; a ValueError names the file and line of anything else."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # a byte-order mark is not part of line 1
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None
    items: list[EvalItem] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
        except ValueError:
            d = None
        if not isinstance(d, dict) or not isinstance(d.get("q"), str) or not _strings(d.get("topics", [])) \
                or not _strings(d.get("facts", [])):
            raise ValueError(f"{path}, line {n}: expected a JSON object with \"q\" (text), \"topics\" and "
                             "\"facts\" (lists of text; empty topics = out of scope)")
        items.append(EvalItem(d["q"], list(d.get("topics", [])), list(d.get("facts", []))))
    if not items:
        raise ValueError(f"{path} holds no questions")
    return items


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1))))
    return ordered[k]


def evaluate(ask: Callable[[str], Result], items: Iterable[EvalItem]) -> EvalReport:
    rep = EvalReport()
    lat: list[float] = []
    top1 = rec3 = rr = facts_ok = 0.0
    for it in items:
        t0 = time.perf_counter()
        res = ask(it.q)
        lat.append((time.perf_counter() - t0) * 1000)
        ids = [h.topic.id for h in res.hits]
        rep.questions += 1
        if not it.topics:
            rep.out_of_scope += 1
            if res.answered:
                rep.answered_wrong += 1
                rep.misses.append({"q": it.q, "expected": [], "got": ids[:3], "answered": True})
            else:
                rep.abstained_oos += 1
            continue
        rep.in_scope += 1
        hit1 = bool(ids) and ids[0] in it.topics
        top1 += hit1
        rec3 += any(i in it.topics for i in ids[:3])
        rank = next((r for r, i in enumerate(ids, 1) if i in it.topics), None)
        rr += 1.0 / rank if rank else 0.0
        answer = res.hits[0].answer.lower() if res.hits else ""
        facts_ok += all(f.lower() in answer for f in it.facts)
        if not res.answered:
            rep.abstained_in_scope += 1
        elif not hit1:
            rep.answered_wrong += 1
        if not hit1 or not res.answered:
            rep.misses.append({"q": it.q, "expected": it.topics, "got": ids[:3], "answered": res.answered})
    n = max(rep.in_scope, 1)
    rep.top1, rep.recall_at_3, rep.mrr, rep.facts_at_1 = top1 / n, rec3 / n, rr / n, facts_ok / n
    rep.abstention_oos = rep.abstained_oos / rep.out_of_scope if rep.out_of_scope else 1.0
    rep.latency_p50_ms = statistics.median(lat) if lat else 0.0
    rep.latency_p95_ms = percentile(lat, 95)
    return rep


def format_report(rep: EvalReport, name: str = "") -> str:
    lines = [
        f"questions        {rep.questions} ({rep.in_scope} in scope, {rep.out_of_scope} out of scope)" +
        (f"  [{name}]" if name else ""),
        f"top-1            {rep.top1:.3f}",
        f"recall@3         {rep.recall_at_3:.3f}",
        f"MRR              {rep.mrr:.3f}",
        f"facts@1          {rep.facts_at_1:.3f}",
        f"OOS abstained    {rep.abstained_oos}/{rep.out_of_scope} ({rep.abstention_oos:.2f})",
        f"answered-wrong   {rep.answered_wrong}",
        f"abstained (in)   {rep.abstained_in_scope}",
        f"latency p50/p95  {rep.latency_p50_ms:.2f} / {rep.latency_p95_ms:.2f} ms",
    ]
    for m in rep.misses:
        lines.append(f"  miss: {m['q']!r} expected {m['expected']} got {m['got']} answered={m['answered']}")
    return "\n".join(lines)
