"""The ``p2p-bot`` command line: one place that reads settings and wires the services.

Imports are lazy so that quick commands (``ask``) start fast and do not load Slack or the scheduler.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from bot.kb import KnowledgeError
from bot.settings import ConfigError


def _services() -> Any:
    from bot import settings
    from bot.services import Services

    return Services(settings.load())


def cmd_ask(args: argparse.Namespace) -> int:
    from bot.render import answer_text

    engine = _services().engine
    questions = [args.question] if args.question else (line.strip() for line in sys.stdin)
    for q in questions:
        if not q:
            continue
        res = engine.ask(q, top=args.top)
        if args.json or not args.question:
            print(json.dumps(res.to_json(), ensure_ascii=False), flush=True)
        else:
            print(answer_text(res))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from bot.evaluate import evaluate, format_report, read_items

    engine = _services().engine
    items = read_items(args.file)
    rep = evaluate(lambda q: engine.ask(q, top=10), items)
    print(json.dumps(rep.to_json(), indent=2) if args.json else format_report(rep, args.file))
    return 0


def cmd_check_knowledge(args: argparse.Namespace) -> int:
    from bot import kb

    folder = args.dir or str(kb.default_dir())
    topics, errors = kb.validate_dir(folder)
    for err in errors:
        print(f"error: {err}", file=sys.stderr)
    if errors:
        print(f"{len(errors)} problem(s) in {folder}; nothing was loaded.", file=sys.stderr)
        return 1
    procs = sum(t.is_procedure for t in topics)
    steps = sum(len(t.steps) for t in topics)
    print(f"ok: {len(topics)} topics ({procs} procedures, {steps} steps) in {folder}")
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from bot.chat import run_chat

    return run_chat(_services(), sys.stdin, sys.stdout)


def cmd_demo(args: argparse.Namespace) -> int:
    from bot.chat import run_demo

    return run_demo(sys.stdin, sys.stdout, scripted=args.scripted)


def cmd_bench(args: argparse.Namespace) -> int:
    from bot.bench import main as bench_main

    return bench_main(args.what, args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="p2p-bot", description="Slack chat-ops bot for Alma P2P resource sharing.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("ask", help="answer a question from the knowledge base")
    s.add_argument("question", nargs="?", help="the question; without it, one question per line on stdin")
    s.add_argument("--json", action="store_true", help="print the JSON contract")
    s.add_argument("--top", type=int, default=3, help="how many results (default 3)")
    s.set_defaults(func=cmd_ask)

    s = sub.add_parser("eval", help="score a question file (JSON lines: q, topics, facts)")
    s.add_argument("file")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("check-knowledge", help="validate a folder of knowledge files")
    s.add_argument("dir", nargs="?")
    s.set_defaults(func=cmd_check_knowledge)

    s = sub.add_parser("chat", help="terminal chat over the same commands as Slack")
    s.set_defaults(func=cmd_chat)

    s = sub.add_parser("demo", help="terminal chat with the local Alma sandbox started in-process")
    s.add_argument("--scripted", action="store_true", help="run the guided tour without waiting for input")
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("bench", help="benchmarks that print figures")
    s.add_argument("what", choices=["answers"])
    s.add_argument("--topics", type=int, default=10_000, help="generated topics for the scaling run")
    s.add_argument("--questions", default="", help="question file (default: ../shared/eval/dev-questions.jsonl)")
    s.set_defaults(func=cmd_bench)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"p2p-bot: configuration problem: {exc}", file=sys.stderr)
        return 2
    except KnowledgeError as exc:
        print(f"p2p-bot: knowledge base problem: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
