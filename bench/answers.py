"""``python -m bench answers`` (``make bench WHAT=answers``): answer quality and speed, printed as tables.

1. Quality: this engine vs plain BM25 (bm25s, Lucene scoring) vs rapidfuzz-only ranking over the same topics
   or sections: the shipped ``knowledge/`` (dev questions, the paraphrase sets, and five held-out sets
   written from the topic list and the seed only, by writers who saw neither ``knowledge/`` nor the engine:
   ``heldout-dev`` and ``heldout4`` whose failures were read, ``heldout-final``, ``heldout3`` and
   ``heldout5`` whose were not, also pooled; ``heldout6``, ``heldout7`` (read) and ``heldout8`` (never read)
   in the style and mix of the dev sample), the raw seed indexed alone as documentation (with
   ``P2PBOT_KNOWLEDGE_DIR`` empty; a tuned question file, held-out ones read and never read), and pages
   written by other libraries (``tests/data/docs``, ``otherdocs`` to ``otherdocs5``).
2. Speed: ``ask()`` p95 at 10k and 50k sections beside bm25s on the same corpus; a cold ``p2p-bot ask``
   process beside a bare ``python -c pass``; index build time and memory for 1,000 pages.
Every timing is the median (min–max) over ``--reps`` repetitions.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from bot.core import kb
from bot.core.answers import AnswerEngine, Hit, Result, answer_text
from bot.core.evaluate import EvalItem, EvalReport, evaluate, percentile, read_items

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
DEFAULT_QUESTIONS = ROOT.parent / "shared" / "eval" / "dev-questions.jsonl"
SEED = ROOT.parent / "shared" / "seed"


def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    """'median (min–max)'."""
    if not values:
        return "n/a"
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


# -- baselines over the same topics / sections ----------------------------------------------------------
def _doc_text(t: kb.Topic) -> str:
    if t.from_docs:
        return " ".join([*t.trail, t.title, t.body])
    sections = (s.heading + " " + s.text for s in t.sections)
    return " ".join([t.title, " ".join(t.keywords), t.question, t.intro, *sections])


def _as_result(query: str, topics: list[kb.Topic], ranked: list[tuple[int, float]]) -> Result:
    hits = tuple(Hit(topics[i], s, 1.0, answer_text(topics[i])[1], "") for i, s in ranked)
    return Result(query, bool(hits), 1.0, hits)  # baselines never abstain


def bm25_baseline(topics: list[kb.Topic]) -> Callable[[str], Result]:
    import bm25s

    corpus = [_doc_text(t) for t in topics]
    retriever = bm25s.BM25(method="lucene")
    retriever.index(bm25s.tokenize(corpus, stopwords="en", show_progress=False), show_progress=False)

    def ask(q: str) -> Result:
        toks = bm25s.tokenize([q], stopwords="en", show_progress=False)
        if not toks.vocab:
            return _as_result(q, topics, [])
        k = min(10, len(topics))
        docs, scores = retriever.retrieve(toks, k=k, show_progress=False)
        ranked = [(int(d), float(s)) for d, s in zip(docs[0], scores[0], strict=True) if s > 0]
        return _as_result(q, topics, ranked)

    return ask


def fuzz_baseline(topics: list[kb.Topic]) -> Callable[[str], Result]:
    from rapidfuzz import fuzz, process

    choices = [f"{t.title} {' '.join(t.keywords)} {t.question}" for t in topics]

    def ask(q: str) -> Result:
        found = process.extract(q, choices, scorer=fuzz.WRatio, limit=10)
        return _as_result(q, topics, [(i, float(s)) for _c, s, i in found])

    return ask


# -- corpora ------------------------------------------------------------------------------------------
def docs_engine(docs: list[str], tmp: Path) -> tuple[AnswerEngine, float]:
    """An engine over documentation alone (empty knowledge folder), indexed into a fresh SQLite store;
    returns it with the indexing time in seconds."""
    from bot.core.docs.catalog import index_now, load_engine
    from bot.edges.settings import Settings
    from bot.edges.store import Store

    empty = tmp / "empty-knowledge"
    empty.mkdir(parents=True, exist_ok=True)
    settings = Settings(database_url=f"sqlite:///{tmp / 'bench.sqlite3'}", knowledge_dir=str(empty), docs=tuple(docs),
                        cache_dir=str(tmp / "cache"))
    store = Store(settings.database_url)
    t0 = time.perf_counter()
    index_now(settings, store)
    took = time.perf_counter() - t0
    engine = load_engine(settings, lambda: store, use_cache=False)
    store.close()
    return engine, took


def _phrases(rng: random.Random) -> Callable[[int], str]:
    """phrase(k): k random library-operations words drawn with rng."""
    vocab = _WORDS + [f"{rng.choice(_WORDS)}{k}" for k in range(4000)]
    return lambda k: " ".join(rng.choice(vocab) for _ in range(k))


def synthetic_topics(n: int, seed: int = 7) -> list[kb.Topic]:
    """n plausible library-operations topics with random titles, keywords, steps and prose."""
    rng = random.Random(seed)
    phrase = _phrases(rng)
    out: list[kb.Topic] = []
    for i in range(n):
        steps = tuple(kb.Step(j + 1, f"Open {phrase(3)} and set {phrase(4)}.", j + 1) for j in range(rng.randint(3, 8)))
        out.append(kb.Topic(
            id=f"gen-{i}", title=phrase(5).capitalize(), kind="procedure", roles=(), related=(),
            keywords=tuple(phrase(2) for _ in range(6)), path=f"gen/{i}.md", line=1, intro=phrase(25),
            steps=steps, sections=(kb.Section("Steps", "\n".join(s.text for s in steps), 5),
                                   kb.Section("Notes", phrase(30), 20)),
        ))
    return out


def synthetic_sections(n: int, seed: int = 13) -> list[kb.Topic]:
    """n sections of indexed documentation (as the docs readers make them): a heading, the headings above it
    and about 80 words of text, so the engine also builds a meaning vector for each."""
    phrase = _phrases(random.Random(seed))
    out: list[kb.Topic] = []
    for i in range(n):
        page = i // 6
        out.append(kb.Topic(
            id=f"page-{page}#s{i}", title=phrase(4).capitalize(), kind="reference", roles=(), related=(),
            keywords=(), path=f"pages/{page}.html", line=1, origin="docs", trail=(phrase(3).capitalize(),),
            body=f"{phrase(40).capitalize()}. {phrase(40).capitalize()}.",
        ))
    return out


_WORDS = ("acquisition vendor invoice serial binding course reserve patron fine fee barcode shelf stack "
          "storage digitize scan copy license journal periodical database proxy authentication catalog record "
          "holding portfolio collection bundle circulation desk policy loan renewal hold pickup notice letter "
          "report analytics job import export profile rule template workflow calendar hours closure").split()


def synthetic_pages(folder: Path, n: int, seed: int = 11) -> None:
    """n pages of staff documentation in markdown, HTML and plain text (a third each), six sections apiece."""
    rng = random.Random(seed)
    vocab = _WORDS + [f"{rng.choice(_WORDS)}{k}" for k in range(3000)]

    def phrase(k: int) -> str:
        return " ".join(rng.choice(vocab) for _ in range(k))

    for i in range(n):
        title = phrase(4).capitalize()
        secs = [(phrase(3).capitalize(), [f"{phrase(6).capitalize()}." for _ in range(rng.randint(2, 6))],
                 rng.random() < 0.5) for _ in range(6)]
        sub = folder / f"area{i % 20}"
        sub.mkdir(parents=True, exist_ok=True)
        if i % 3 == 0:
            body = [f"# {title}", "", f"{phrase(20).capitalize()}.", ""]
            for head, lines, proc in secs:
                body += [f"## {head}", ""] + [f"{k}. {ln}" if proc else ln for k, ln in enumerate(lines, 1)] + [""]
            (sub / f"page{i}.md").write_text("\n".join(body))
        elif i % 3 == 1:
            parts = [f"<html><head><title>{title}</title></head><body><nav><a href='/'>Home</a></nav><main>",
                     f"<h1>{title}</h1><p>{phrase(20)}.</p>"]
            for k, (head, lines, proc) in enumerate(secs):
                items = "".join(f"<li>{ln}</li>" for ln in lines)
                parts.append(f"<h2 id='s{k}'>{head}</h2>" + (f"<ol>{items}</ol>" if proc else f"<p>{' '.join(lines)}</p>"))
            parts.append("</main><footer>footer</footer></body></html>")
            (sub / f"page{i}.html").write_text("".join(parts))
        else:
            body = [title, f"{phrase(20).capitalize()}."]
            for head, lines, proc in secs:
                body += [head] + [f"Step {k}: {ln}" if proc else ln for k, ln in enumerate(lines, 1)]
            (sub / f"page{i}.txt").write_text("\n".join(body))


CLOSE_PHRASING = 80.0
ABLATION_NOTES: list[str] = []


# -- tables -------------------------------------------------------------------------------------------
def _row(corpus: str, qname: str, name: str, r: EvalReport, chars: float) -> str:
    return (f"| {corpus:<22} | {qname:<26} | {name:<22} | {r.top1:5.3f} | {r.recall_at_3:8.3f} | {r.mrr:5.3f} | "
            f"{r.abstained_oos}/{r.out_of_scope:<3} | {r.abstained_in_scope:>3}/{r.in_scope:<3} | {r.facts_at_1:7.3f} | "
            f"{chars:>7.0f} |")


def _plain(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def without_close_phrasings(topics: list[kb.Topic], items: list[EvalItem], cutoff: float = CLOSE_PHRASING
                            ) -> tuple[list[kb.Topic], int, int]:
    """The topics with every alternate phrasing that is close to one of these questions taken out (rapidfuzz
    ratio >= cutoff on lower-case words): (topics, phrasings removed, questions that had a close phrasing).

    The phrasings' writers never saw a question file, but short staff questions written from the same pages
    converge ("what does LOAN stand for"); scoring without them shows how much the figures owe to that."""
    from rapidfuzz import fuzz, process

    questions = [_plain(it.q) for it in items]
    removed, touched = 0, set()
    out = []
    for t in topics:
        keep = []
        for a in t.asks:
            hits = process.extract(_plain(a), questions, scorer=fuzz.ratio, score_cutoff=cutoff, limit=None)
            if hits:
                removed += 1
                touched.update(k for _, _, k in hits)
            else:
                keep.append(a)
        out.append(dataclasses.replace(t, asks=tuple(keep)) if len(keep) != len(t.asks) else t)
    return out, removed, len(touched)


def quality(items_by_file: dict[str, list[EvalItem]], corpus: str, engine: AnswerEngine,
            ablate: bool = False) -> None:
    """``ablate``: also score each file with the phrasings close to its questions taken out."""
    topics = engine.topics
    rankers: list[tuple[str, Callable[[str], Result]]] = [
        ("p2p-bot engine", lambda q: engine.ask(q, top=10)),
        ("BM25 (bm25s, lucene)", bm25_baseline(topics)),
        ("rapidfuzz WRatio only", fuzz_baseline(topics))]
    for qname, items in items_by_file.items():
        extra: list[tuple[str, Callable[[str], Result]]] = []
        if ablate:
            kept, removed, close = without_close_phrasings(topics, items)
            lean = AnswerEngine(kept, engine.threshold)
            extra.append((f"engine, {removed} close phr. out", lambda q, e=lean: e.ask(q, top=10)))
            ABLATION_NOTES.append(f"{qname}: {close} of {len(items)} questions have a phrasing at ratio >= "
                                  f"{CLOSE_PHRASING:.0f} ({removed} phrasings)")
        for name, ask in [*rankers[:1], *extra, *rankers[1:]]:
            rep = evaluate(ask, items)
            shown = [len(r.hits[0].answer) for it in items if it.topics and (r := ask(it.q)).hits and r.hits[0].answer]
            print(_row(corpus, qname, name, rep, statistics.median(shown) if shown else 0.0))


def latency(ask: Callable[[str], object], items: list[EvalItem], reps: int
            ) -> tuple[list[float], list[float], list[float]]:
    """(p50, p95, CPU p95) per repetition in ms; each repetition asks every question once. The CPU time is the
    thread's own (``time.thread_time``): on a shared, loaded machine the wall clock also counts the time the
    thread waited for a core."""
    p50, p95, cpu95 = [], [], []
    for it in items[:5]:
        ask(it.q)
    for _ in range(reps):
        lat, cpu = [], []
        for it in items:
            c0, t0 = time.thread_time(), time.perf_counter()
            ask(it.q)
            lat.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.thread_time() - c0) * 1000)
        p50.append(statistics.median(lat))
        p95.append(percentile(lat, 95))
        cpu95.append(percentile(cpu, 95))
    return p50, p95, cpu95


def speed(shipped: AnswerEngine, items: list[EvalItem], every: list[EvalItem], reps: int) -> None:
    print(f"\n## ask() latency (in-process; each repetition asks all {len(every)} questions once; CPU = the "
          "thread's own time, without waiting for a core on a loaded machine)\n")
    print("| corpus | sections | build s | p50 ms | p95 ms | CPU p95 ms | bm25s p95 ms | bm25s CPU p95 ms | target p95 "
          "| top-1 (dev) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    p50, p95, c95 = latency(lambda q: shipped.ask(q), every, reps)
    print(f"| shipped knowledge/ | {len(shipped.topics)} | – | {spread(p50, '{:.3f}')} | {spread(p95, '{:.3f}')} | "
          f"{spread(c95, '{:.3f}')} | – | – | ≤ 5 | – |")
    generators: tuple[tuple[str, Callable[[int], list[kb.Topic]], bool], ...] = (
        ("shipped + generated", synthetic_topics, True),
        ("shipped + generated documentation sections (with meaning vectors)", synthetic_sections, False))
    for label, generate, against_bm25 in generators:
        for n, target in ((10_000, "≤ 5"), (50_000, "≤ 15")):
            big = kb.load_dir() + generate(n - len(shipped.topics))
            t0 = time.perf_counter()
            engine = AnswerEngine(big)
            build = time.perf_counter() - t0
            p50, p95, c95 = latency(lambda q, e=engine: e.ask(q), every, reps)
            bm_cols, top1 = "– | –", "–"
            if against_bm25:
                _b50, bp95, bc95 = latency(bm25_baseline(big), every, reps)
                bm_cols = f"{spread(bp95, '{:.3f}')} | {spread(bc95, '{:.3f}')}"
                top1 = f"{evaluate(lambda q, e=engine: e.ask(q, top=10), items).top1:.3f}"
            print(f"| {label} | {len(big):,} | {build:.1f} | {spread(p50, '{:.3f}')} | {spread(p95, '{:.3f}')} | "
                  f"{spread(c95, '{:.3f}')} | {bm_cols} | {target} | {top1} |")
            del engine


def cold_process(reps: int) -> tuple[list[float], list[float], int]:
    """(bare `python -c pass` seconds, `python -m bot ask --json` seconds, answer-engine cache hits)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("P2PBOT_")}
    with tempfile.TemporaryDirectory() as tmp:
        env["P2PBOT_CACHE_DIR"] = tmp
        env["P2PBOT_DATABASE_URL"] = f"sqlite:///{tmp}/cold.sqlite3"
        ask = [sys.executable, "-m", "bot", "ask", "--json", "how do I receive a borrowed item"]
        subprocess.run(ask, capture_output=True, check=True, cwd=ROOT, env=env)  # builds the cached index once
        bare, cold = [], []
        for _ in range(reps):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True, env=env)
            bare.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            subprocess.run(ask, capture_output=True, check=True, cwd=ROOT, env=env)
            cold.append(time.perf_counter() - t0)
        cached = len(list(Path(tmp).glob("answers-*.pickle")))
    return bare, cold, cached


def bench_answers(args: argparse.Namespace) -> int:
    reps = max(1, args.reps)
    qfile = Path(args.questions) if args.questions else DEFAULT_QUESTIONS
    print(f"# Answer benchmark ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
          f"Python {sys.version.split()[0]}); timings are median (min–max) over {reps} repetition{'s' if reps != 1 else ''}\n")
    print("## Quality (top-1, recall@3, MRR over in-scope questions; OOS = out-of-scope questions abstained; "
          "held = in-scope questions abstained on (the bot offered its closest topics instead of answering); "
          "facts@1 = the shown answer holds every expected fact; chars = median length of the shown answer)\n")
    print("| corpus                 | questions                  | ranker                 | top-1 | recall@3 |  MRR  | OOS   "
          "| held    | facts@1 |   chars |")
    print("|------------------------|----------------------------|------------------------|-------|----------|-------|-------"
          "|---------|---------|---------|")
    shipped = AnswerEngine(kb.load_dir())
    files = {p.name: read_items(p) for p in [qfile, *sorted(DATA.glob("paraphrases*.jsonl"))] if p.exists()}
    # written on 2026-11-30 from the topic list and the seed only, by someone who never saw knowledge/ or
    # the engine: the dev half's failures were read (to find general weaknesses), the final half's never
    heldout = {label: read_items(DATA / name) for name, label in (("heldout-dev.jsonl", "heldout-dev (read)"),
               ("heldout-final.jsonl", "heldout-final (never read)"),
               ("heldout3.jsonl", "heldout3 (never read)"), ("heldout4.jsonl", "heldout4 (read)"),
               ("heldout5.jsonl", "heldout5 (never read)"), ("nearmiss.jsonl", "nearmiss (read, tuning)"),
               # session 8: three sets written in the style and mix of the dev sample (the one sample of the
               # evaluation's questions); heldout6's failures were read, then heldout7's (after it was
               # measured blind: 0.919 / 0.993 / 14 of 15), heldout8's never
               ("heldout6.jsonl", "heldout6 (dev style, read)"), ("heldout7.jsonl", "heldout7 (dev style, read)"),
               ("heldout8.jsonl", "heldout8 (dev style, never read)"),
               # session 9: three more, measured blind (heldout9 after the session's first change: 0.963 / 1.000 /
               # 15 of 15; heldout10 and 11 after the fourth: 0.948 / 0.985 / 15 of 15 and 0.941 / 0.985 / 15 of
               # 15); heldout10's failures were then read
               ("heldout9.jsonl", "heldout9 (dev style, never read)"),
               ("heldout10.jsonl", "heldout10 (dev style, read)"),
               ("heldout11.jsonl", "heldout11 (dev style, never read)"),
               # and two more written after the session's last change to the engine, never read
               ("heldout12.jsonl", "heldout12 (dev style, never read)"),
               ("heldout13.jsonl", "heldout13 (dev style, never read)"),
               # session 10: two more, written blind and measured on the code of session 9's end, never read
               ("heldout14.jsonl", "heldout14 (dev style, never read)"),
               ("heldout15.jsonl", "heldout15 (dev style, never read)"))
               if (DATA / name).exists()}
    # the never-read sets together: each is about 120 questions, so one question moves its top-1 by ~0.009
    never = [it for label, items in heldout.items() if "never read" in label for it in items]
    if never:
        heldout["never-read sets pooled"] = never
    # session 8: 430 questions about everything else staff ask (the building, IT, HR, other library work),
    # written blind in the kind of the dev sample's out-of-scope ones; not read (the ~550 the engine learns
    # from, bot/core/elsewhere.py, are others: those close to one of them were taken out)
    far = [it for name in ("faroos-b.jsonl", "faroos-d.jsonl", "faroos-e.jsonl") if (DATA / name).exists()
           for it in read_items(DATA / name)]
    if far:
        heldout["far out of scope (not read)"] = far
    # session 9: 300 more, read, on which the rule that lets meaning vouch for a partly explained question
    # (answers.RESCUE_*) was chosen
    tuning = read_items(DATA / "faroos-f.jsonl") if (DATA / "faroos-f.jsonl").exists() else []
    if tuning:
        heldout["far out of scope F (read, tuning)"] = tuning
    # and a review's 214 hostile ones: everyday matters in the domain's words ("schedule a job interview")
    hostile = read_items(DATA / "hostile-r15.jsonl") if (DATA / "hostile-r15.jsonl").exists() else []
    if hostile:
        heldout["hostile everyday (read, tuning)"] = hostile
    quality({**files, **heldout}, "shipped knowledge/", shipped, ablate=True)
    for note in ABLATION_NOTES:
        print(f"\n- close phrasings, {note}", end="")
    print()
    with tempfile.TemporaryDirectory() as tmp:
        seed_files = sorted(SEED.glob("*.txt")) if SEED.is_dir() else []
        if seed_files:
            folder = Path(tmp) / "seed"
            folder.mkdir()
            for f in seed_files:
                (folder / f.name).write_bytes(f.read_bytes())
            seed_engine, _ = docs_engine([str(folder)], Path(tmp) / "s")
            quality({"seed-questions (tuned)": read_items(DATA / "seed-questions.jsonl"),
                     "seed-heldout (read)": read_items(DATA / "seed-heldout.jsonl"),
                     "seed-heldout2 (never read)": read_items(DATA / "seed-heldout2.jsonl"),
                     "seed-heldout3 (read)": read_items(DATA / "seed-heldout3.jsonl"),
                     # session 9: dev-style questions on the seed's sections, written blind, never read
                     "seed-heldout4 (never read)": read_items(DATA / "seed-heldout4.jsonl"),
                     **({"far out of scope (not read)": far} if far else {}),
                     **({"far out of scope F (read, tuning)": tuning} if tuning else {}),
                     **({"hostile everyday (read, tuning)": hostile} if hostile else {})},
                    "raw seed alone (docs)", seed_engine)
        docs_eng, _ = docs_engine([str(DATA / "docs")], Path(tmp) / "d")
        quality({"docs-questions": read_items(DATA / "docs-questions.jsonl")}, "tests/data/docs (md/html/txt)",
                docs_eng)
        # two more libraries' pages (Confluence, LibGuides, BookStack, Word, MediaWiki, Google Docs, MkDocs,
        # Notion, plain text), written by a helper who never saw the ranking code; the second set was written
        # after the reader fixes and nobody tuned on it; the third (a Confluence export, a LibGuide, a LibAnswers
        # FAQ, markdown with a checklist, two plain-text files) was written in session 5, its questions never read;
        # the fourth (session 7) is saved exactly as the tools save it (Word's web page and .txt, a Google Docs
        # download, a MediaWiki page with its skin, a Notion export, a BookStack file, a SharePoint page): it
        # was written to find reader defects, so its failures were read; the fifth (a .docx, a reportlab PDF, an
        # .odt, a LibGuides page, Confluence's Word export, a WordPress FAQ, pdftotext output) was written blind
        # and its questions never read (the plain-text file's sections were looked at, and its numbered headings
        # fixed, after it arrived); the sixth (session 8: Docusaurus, a GitHub wiki page, BookStack's markdown
        # export of a book, SharePoint, LibAnswers, a text manual, a saved e-mail, MediaWiki) was written blind,
        # its pages looked at for reader defects (zero-width spaces, screen-reader labels, the e-mail's headers
        # and Q:/A: pairs) and its questions never read; session 9 added two more written blind in other tools'
        # shapes: the seventh (a Confluence HTML export, a LibGuides page, a Notion export, a Google Docs
        # download, Obsidian notes, a text runbook and FAQ export, DokuWiki) read, to find weaknesses; the
        # eighth (MkDocs Material, WordPress, GitBook, HackMD, a LibAnswers list, two text files, MediaWiki)
        # measured before its pages were looked at (0.760 / 0.980 / 9 of 10), its questions never read
        for name, label in (("otherdocs", "otherdocs (9 pages)"), ("otherdocs2", "otherdocs2 (6 pages, never read)"),
                            ("otherdocs3", "otherdocs3 (7 pages, never read)"),
                            ("otherdocs4", "otherdocs4 (7 exports, read)"),
                            ("otherdocs5", "otherdocs5 (7 files, never read)"),
                            ("otherdocs6", "otherdocs6 (8 pages, never read)"),
                            ("otherdocs7", "otherdocs7 (8 pages, read)"),
                            ("otherdocs8", "otherdocs8 (8 pages, never read)")):
            if (DATA / name).is_dir():
                eng, _ = docs_engine([str(DATA / name)], Path(tmp) / name)
                sets = {f"{name}-questions": read_items(DATA / f"{name}-questions.jsonl")}
                if (DATA / f"{name}-dev.jsonl").exists():  # a second writer's questions on the same pages, read
                    sets[f"{name}-dev (read)"] = read_items(DATA / f"{name}-dev.jsonl")
                if far:
                    sets["far out of scope (not read)"] = far
                quality(sets, label, eng)

    if getattr(args, "quality", False):
        return 0
    items = files.get(qfile.name) or next(iter(files.values()))
    every = [it for f in files.values() for it in f]  # p95 over ~200 questions, not the 3rd-worst of 49
    speed(shipped, items, every, reps)
    print("\n## Indexing 1,000 pages (a third each markdown, HTML, plain text; six sections a page)\n")
    print("| what | seconds | peak memory MiB |")
    print("|---|---|---|")
    first, again, build, mem_index, mem_engine = [], [], [], [], []
    n_sections = 0
    for _ in range(reps):
        with tempfile.TemporaryDirectory() as tmp:
            pages = Path(tmp) / "pages"
            synthetic_pages(pages, 1000)
            engine, took = docs_engine([str(pages)], Path(tmp) / "i")  # timed without tracemalloc (it slows Python)
            first.append(took)
            _e2, took2 = docs_engine([str(pages)], Path(tmp) / "i")  # nothing changed: only stat() calls
            again.append(took2)
            topics = engine.topics
            n_sections = len(topics)
            t0 = time.perf_counter()
            AnswerEngine(topics)
            build.append(time.perf_counter() - t0)
            tracemalloc.start()
            docs_engine([str(pages)], Path(tmp) / "m")
            mem_index.append(tracemalloc.get_traced_memory()[1] / 2**20)
            tracemalloc.stop()
            tracemalloc.start()
            AnswerEngine(topics)
            mem_engine.append(tracemalloc.get_traced_memory()[1] / 2**20)
            tracemalloc.stop()
    print(f"| docs index, first run (read, parse, store {n_sections:,} sections) | {spread(first)} | "
          f"{spread(mem_index, '{:.0f}')} |")
    print(f"| docs index again, nothing changed | {spread(again)} | – |")
    print(f"| answer engine over those sections | {spread(build)} | {spread(mem_engine, '{:.0f}')} |")

    print("\n## Cold process\n")
    bare, cold, cached = cold_process(max(reps, 5))
    ratio = statistics.median(cold) / statistics.median(bare)
    print("| what | seconds | × bare python | target |")
    print("|---|---|---|---|")
    print(f"| `python -c pass` | {spread(bare, '{:.3f}')} | 1 | – |")
    print(f"| `python -m bot ask --json …` (cached index: {cached} file) | {spread(cold, '{:.3f}')} | {ratio:.1f} | ≤ 8 |")
    return 0


if __name__ == "__main__":  # python -m bench.answers --speed | --quality: only the latency / quality tables
    p = argparse.ArgumentParser(prog="python -m bench.answers")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--speed", action="store_true", help="only the ask() latency table")
    p.add_argument("--quality", action="store_true", help="only the quality tables")
    p.add_argument("--questions", default="")
    a = p.parse_args()
    if a.speed:
        qf = Path(a.questions) if a.questions else DEFAULT_QUESTIONS
        fs = [read_items(f) for f in [qf, *sorted(DATA.glob("paraphrases*.jsonl"))] if f.exists()]
        speed(AnswerEngine(kb.load_dir()), fs[0], [it for f in fs for it in f], a.reps)
    else:
        sys.exit(bench_answers(a))
