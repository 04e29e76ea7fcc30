"""How hard our own never-read question sets are, next to the evaluation's unseen set.

Issue #9 gives one figure for its unseen questions, measured on the code of the day it was filed: top-1 0.919,
recall@3 0.977, every out-of-scope question abstained. Our own held-out sets are measured today. Whether they
are harder or easier than the evaluation's set can be seen by asking that same old engine our questions.

``python -m bench.calibrate`` (``make bench WHAT=calibrate``):
- takes the shipped engine and knowledge of commit ``FILED`` (the last commit before the issue was filed) out
  of git into a temporary folder;
- runs it in its own process on every held-out question file;
- runs today's engine on the same files;
- prints both side by side, with the issue's own figure for its set.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

from bot.core import kb
from bot.core.answers import AnswerEngine
from bot.core.evaluate import evaluate, read_items

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
# 2026-11-29 17:50 UTC: the end of the first session; issues #9-#13 were filed on this code
FILED = "ddc78df617877e1ea1f33e70a3ccf1252cae398d"
ISSUE_FIGURES = (0.919, 0.977)  # the issue's "today" on its unseen set, OOS all abstained
# (file, never read?) in the order the benchmark prints them
SETS = (("heldout-final.jsonl", True), ("heldout3.jsonl", True), ("heldout5.jsonl", True),
        ("heldout8.jsonl", True), ("heldout9.jsonl", True), ("heldout11.jsonl", True), ("heldout12.jsonl", True),
        ("heldout13.jsonl", True), ("heldout14.jsonl", True), ("heldout15.jsonl", True),
        ("heldout-dev.jsonl", False), ("heldout4.jsonl", False), ("heldout6.jsonl", False),
        ("heldout7.jsonl", False), ("heldout10.jsonl", False))
DEV_STYLE = {"heldout8.jsonl", "heldout9.jsonl", "heldout11.jsonl", "heldout12.jsonl", "heldout13.jsonl",
             "heldout14.jsonl", "heldout15.jsonl"}

# run inside the old tree: its own bot package, its own knowledge folder
_OLD = """
import json, sys
sys.path.insert(0, sys.argv[1])
from bot import kb
from bot.answers import AnswerEngine
from bot.evaluate import evaluate, read_items
engine = AnswerEngine(kb.load_dir(sys.argv[1] + "/knowledge"))
out = {}
for path in sys.argv[2:]:
    r = evaluate(lambda q: engine.ask(q, top=10), read_items(path))
    out[path] = [round(r.top1 * r.in_scope), round(r.recall_at_3 * r.in_scope), r.in_scope,
                 r.abstained_oos, r.out_of_scope]
print(json.dumps(out))
"""


class CalibrateError(Exception):
    """A sentence saying why the old engine could not be run."""


def old_tree(commit: str, into: Path) -> Path:
    """The commit's bot/ and knowledge/ folders, unpacked from git (no worktree is left behind)."""
    if not re.fullmatch(r"[0-9A-Za-z][0-9A-Za-z_./^~-]{0,99}", commit) or ".." in commit:
        raise CalibrateError(f"{commit!r} is not a commit name (a hash, a tag or a branch)")
    got = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", f"{commit}^{{commit}}", "bot",
                          "knowledge"], capture_output=True)
    if got.returncode != 0:
        why = got.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["git failed"]
        raise CalibrateError(f"git cannot give the files of {commit}: {why[0]} (a shallow clone or an export "
                             "has no history: clone the repository whole)")
    with tarfile.open(fileobj=BytesIO(got.stdout)) as tar:
        members = tar.getmembers()
        if any(m.name.startswith(("/", "..")) or "/../" in m.name or m.issym() or m.islnk() for m in members):
            raise CalibrateError(f"the files of {commit} hold a link or a path outside the folder")
        for m in members:  # (tar's own "data" filter needs Python 3.11.4)
            tar.extract(m, into)
    return into


def counts_now(paths: list[Path]) -> dict[str, list[int]]:
    engine = AnswerEngine(kb.load_dir())
    out = {}
    for p in paths:
        r = evaluate(lambda q: engine.ask(q, top=10), read_items(p))
        out[str(p)] = [round(r.top1 * r.in_scope), round(r.recall_at_3 * r.in_scope), r.in_scope,
                       r.abstained_oos, r.out_of_scope]
    return out


def _fmt(c: list[int]) -> str:
    t1, r3, n, oos, n_oos = c
    return f"{t1 / n:.3f} | {r3 / n:.3f} | {oos}/{n_oos}"


def _pool(rows: list[list[int]]) -> list[int]:
    return [sum(col) for col in zip(*rows, strict=True)] if rows else [0, 0, 1, 0, 0]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.calibrate", description=__doc__.split("\n\n")[0])
    p.add_argument("--commit", default=FILED, help=f"the old code to compare with (default {FILED})")
    args = p.parse_args(argv)
    paths = [DATA / name for name, _ in SETS if (DATA / name).exists()]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tree = old_tree(args.commit, Path(tmp))
            got = subprocess.run([sys.executable, "-c", _OLD, str(tree), *map(str, paths)],
                                 capture_output=True, text=True, cwd=tmp)
            if got.returncode != 0:
                tail = got.stderr.strip().splitlines()[-1:] or [f"exit {got.returncode}"]
                raise CalibrateError(f"the engine of {args.commit} failed on the question files: {tail[0]}")
    except (CalibrateError, OSError) as exc:
        print(f"python -m bench.calibrate: {exc}", file=sys.stderr)
        return 1
    old = json.loads(got.stdout)
    now = counts_now(paths)
    print(f"# Held-out sets on the engine of {args.commit} (when #9 was filed) and today's\n")
    print("| questions | read? | then top-1 | recall@3 | OOS | now top-1 | recall@3 | OOS |")
    print("|---|---|---|---|---|---|---|---|")
    never = dict(SETS)
    for path in paths:
        print(f"| {path.stem} | {'never read' if never[path.name] else 'read'} | {_fmt(old[str(path)])} | "
              f"{_fmt(now[str(path)])} |")
    for label, names in (("dev-style never-read sets pooled", DEV_STYLE),
                         ("all never-read sets pooled", {n for n, v in SETS if v})):
        keep = [str(p) for p in paths if p.name in names]
        if keep:
            o, n = _pool([old[k] for k in keep]), _pool([now[k] for k in keep])
            print(f"| **{label}** | | {_fmt(o)} | {_fmt(n)} |")
    print(f"| the issue's unseen set | never seen | {ISSUE_FIGURES[0]:.3f} | {ISSUE_FIGURES[1]:.3f} | all | "
          "? | ? | ? |")
    keep = [str(p) for p in paths if p.name in DEV_STYLE]
    if keep:
        o, n = _pool([old[k] for k in keep]), _pool([now[k] for k in keep])
        miss_then, miss_now = 1 - o[0] / o[2], 1 - n[0] / n[2]
        r3_then, r3_now = 1 - o[1] / o[2], 1 - n[1] / n[2]
        print(f"\nOn the dev-style sets the old engine's top-1 errors fell from {miss_then:.3f} to {miss_now:.3f} "
              f"(x{miss_now / miss_then:.2f}) and its recall@3 misses from {r3_then:.3f} to {r3_now:.3f} "
              f"(x{(r3_now / r3_then) if r3_then else 0:.2f}).")
        gap = ISSUE_FIGURES[0] - o[0] / o[2]
        print(f"The issue's set scored {gap:+.3f} top-1 and {ISSUE_FIGURES[1] - o[1] / o[2]:+.3f} recall@3 "
              f"against them on the same old engine ({'easier' if gap > 0 else 'harder'} than ours). "
              "The same shrinkage of errors on it would give top-1 "
              f"{1 - (1 - ISSUE_FIGURES[0]) * miss_now / miss_then:.3f}, recall@3 "
              f"{1 - (1 - ISSUE_FIGURES[1]) * ((r3_now / r3_then) if r3_then else 0):.3f} (a projection, "
              "not a measurement).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
