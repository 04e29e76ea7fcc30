"""The ``p2p-bot`` command line: one place that reads settings and wires the services.

Imports are lazy so that quick commands (``ask``) start fast and do not load Slack or the scheduler.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core.kb import KnowledgeError
from bot.edges.settings import ConfigError, Settings

PROGRESS_EVERY_S = 3.0  # how often a long `docs index` says how far it got

if TYPE_CHECKING:
    from bot.core.partners import RegistryEntry
    from bot.core.services import Services

    # what add_subparsers() returns; argparse has no public name for it
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]


def _services() -> Services:
    from bot.core.services import Services
    from bot.edges import settings

    return Services(settings.load())


def cmd_ask(args: argparse.Namespace) -> int:
    given = args.question is not None
    if given and not args.question.strip() and not args.json:
        print('p2p-bot: ask needs a question, e.g. p2p-bot ask "how do I return a borrowed book" (or one '
              "question per line on standard input)", file=sys.stderr)
        return 2
    if not given and sys.stdin.isatty():
        print("p2p-bot: one question per line; Ctrl-D ends.", file=sys.stderr, flush=True)
    engine = _services().engine
    questions = [args.question] if given else (line.strip() for line in sys.stdin)
    for q in questions:
        # every line gets its answer line, a blank one too (answered: false): the n-th output is the
        # n-th question's
        res = engine.ask(q.strip(), top=args.top)
        if args.json or not given:
            print(json.dumps(res.to_json(), ensure_ascii=False), flush=True)
        else:
            from bot.frontends.text import answer_text  # the JSON answer needs no renderer (nor Slack's SDK)

            print(answer_text(res))
    return 0


def _index_progress() -> Callable[[str, int, int], None]:
    """A line on stderr every few seconds while a long index run reads pages (nothing for a quick one)."""
    import time

    last = [time.monotonic()]

    def say(source: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_S:
            last[0] = now
            print(f"p2p-bot: {source}: {done} of {total} pages checked…", file=sys.stderr, flush=True)
    return say


def _n(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def cmd_docs(args: argparse.Namespace) -> int:
    """`docs index`: re-read what changed in P2PBOT_DOCS; `docs list`: what is indexed and when."""
    from bot.core.docs import indexer
    from bot.core.docs.catalog import index_now

    services = _services()
    settings = services.settings
    if args.action == "index":
        if not settings.docs:
            raise ConfigError("P2PBOT_DOCS is not set: give it your documentation's files, folders or http(s) URLs, "
                              "separated by spaces")
        report = index_now(settings, services.store, progress=_index_progress())
        if args.json:
            print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
        else:
            for src in report.sources:
                state = ("ok" + (f"; {src.detail}" if src.detail else "")) if src.status == "ok" else \
                    f"FAILED: {src.detail}"
                print(f"{src.source}: {state}; {_n(src.pages, 'page')}, {_n(src.sections, 'section')} "
                      f"({_n(src.procedures, 'procedure')}, {_n(src.faqs, 'FAQ')})")
            print(f"{report.added} added, {report.changed} changed, {report.removed} removed")
        for src in report.failed:
            kept = " (its last good sections are kept)" if src.sections else ""
            print(f"p2p-bot: could not read {src.source}: {src.detail}{kept}", file=sys.stderr)
        services.close()
        return 0 if report.ok else 1
    pages = indexer.listing(services.store)
    states = indexer.source_states(services.store)
    if args.json:
        print(json.dumps({"sources": states, "pages": pages}, ensure_ascii=False, indent=2))
    else:
        from bot.edges.store import age

        for st in states:
            if st["status"] == "ok":
                tail = f"  ({st['detail']})" if st["detail"] else ""
                print(f"{st['source']}: checked {age(st['checked_at'])}, ok{tail}")
            else:
                whole = (f"; last ok {age(st['ok_at'])}" if st["ok_at"] else
                         "; never ok")
                print(f"{st['source']}: checked {age(st['checked_at'])}, FAILED: {st['detail']}{whole}")
        for pg in pages:
            err = f"  (last read failed: {pg['error']})" if pg["error"] else ""
            print(f"  {pg['slug']:<40} {_n(pg['sections'], 'section'):>12}, indexed {age(pg['indexed_at'])}{err}")
        if not states and not pages:
            print("Nothing indexed yet: set P2PBOT_DOCS and run `p2p-bot docs index`.")
    services.close()
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from bot.core.evaluate import evaluate, format_report, read_items

    try:
        items = read_items(args.file)
    except OSError as exc:
        print(f"p2p-bot eval: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # the sentence names the file and line
        print(f"p2p-bot eval: {exc}", file=sys.stderr)
        return 2
    engine = _services().engine
    rep = evaluate(lambda q: engine.ask(q, top=10), items)
    print(json.dumps(rep.to_json(), indent=2) if args.json else format_report(rep, args.file))
    return 0


def cmd_check_knowledge(args: argparse.Namespace) -> int:
    from bot.core import kb

    if not args.dir:  # what the bot would load: the knowledge folder and every P2PBOT_EXTRA_KNOWLEDGE one
        from bot.core.docs.catalog import knowledge_folders
        from bot.edges import settings

        folders = knowledge_folders(settings.load())
        topics, errors = kb.validate_dir(*folders)
        where = ", ".join(str(f) for f in folders)
    else:
        folder = args.dir
        shipped = kb.default_dir()
        # a library's own folder is checked on top of the shipped topics (its `related` may point at them,
        # and its ids must not collide with them), unless --alone
        on_top = not args.alone and Path(folder).resolve() != shipped.resolve()
        topics, errors = kb.validate_dir(shipped, folder) if on_top else kb.validate_dir(folder)
        if on_top:
            topics = [t for t in topics if Path(t.path).resolve().is_relative_to(Path(folder).resolve())]
        where = folder
    for err in errors:
        print(f"error: {err}", file=sys.stderr)
    if errors:
        print(f"{_count(len(errors), 'problem')} in {where}; nothing was loaded.", file=sys.stderr)
        return 1
    procs = sum(t.is_procedure for t in topics)
    steps = sum(len(t.steps) for t in topics)
    print(f"ok: {_count(len(topics), 'topic')} ({_count(procs, 'procedure')}, {_count(steps, 'step')}) in {where}")
    return 0


def _count(n: int, word: str) -> str:
    """'1 topic', '3 topics'."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def cmd_chat(args: argparse.Namespace) -> int:
    from bot.frontends.chat import run_chat

    services = _services()
    services.engine  # noqa: B018 - a broken knowledge folder is said now, not at the first question
    return run_chat(services, sys.stdin, sys.stdout)


def cmd_demo(args: argparse.Namespace) -> int:
    from bot.frontends.chat import run_demo

    return run_demo(sys.stdin, sys.stdout, scripted=args.scripted)


def cmd_sandbox(args: argparse.Namespace) -> int:
    import time
    from datetime import date

    from bot.sandbox.server import Sandbox, SandboxState, today_in

    bad = [h for h in args.report_heading if "=" not in h]
    if bad:
        raise ConfigError(f"--report-heading takes OLD=NEW, not '{bad[0]}'")
    state = SandboxState(today=date.fromisoformat(args.today) if args.today else today_in(args.timezone),
                         scale=args.scale, scale_institution=args.scale_institution,
                         latency_ms=args.latency_ms, fault_rate=args.fault_rate,
                         garbage_rate=args.garbage_rate, timeout_rate=args.timeout_rate, quota=args.quota,
                         extra_institutions=args.institutions - 3 if args.institutions > 3 else 0,
                         refuse_all=args.refuse_all, throttle_every=args.throttle_every, odd_body=args.odd_body,
                         odd_body_path=args.odd_body_path, analytics_page_rows=args.analytics_page_rows,
                         gateway_json=args.gateway_json, report_headings=dict(
                             h.split("=", 1) for h in args.report_heading))
    sb = Sandbox(state, host=args.host, port=args.port).start()
    print(f"Alma sandbox at {sb.base_url}  demo API key: {state.demo_key}", flush=True)
    for key, inst in state.institutions.items():
        print(f"  {inst.code:4} {inst.name:30} key {key}  RS libraries {', '.join(inst.rs_libraries)}"
              f"  lending {len(inst.lending)}  borrowing {len(inst.borrowing)}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        sb.stop()
    return 0


def _positive(value: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n} is less than 1")
    return n


def _need_institutions(services: Services) -> None:
    if not services.settings.institutions:
        raise ConfigError("no Alma institution is configured: set ALMA_API_URL and ALMA_API_KEY, "
                          "or P2PBOT_CONFIG (see p2pbot.example.toml)")


def cmd_lookup(args: argparse.Namespace) -> int:
    from bot.core.lookup import LookupInputError
    from bot.frontends.text import lookup_text

    services = _services()
    _need_institutions(services)
    try:
        result = services.lookup.lookup(args.external_id, live=not args.no_live)
    except LookupInputError as exc:
        if args.json:
            print(json.dumps({"external_id": args.external_id, "error": str(exc)}))
        else:
            print(str(exc), file=sys.stderr)
        return 2
    print(json.dumps(result.to_json(), indent=2) if args.json else lookup_text(result))
    services.close()
    if result.found:
        return 0
    if result.could_not_check:  # an institution could not be asked: "not found" would be a guess
        if args.json:
            for line in result.could_not_check:
                print(line, file=sys.stderr)
        return 3
    return 1


def cmd_sync(args: argparse.Namespace) -> int:
    services = _services()
    _need_institutions(services)
    def say(line: str) -> None:
        if not args.json:
            print(f"  {line}", file=sys.stderr, flush=True)

    known = [i.code for i in services.settings.institutions]
    chosen = list(dict.fromkeys(args.institution or ()))  # each one once, however often it is named
    unknown = [c for c in chosen if c not in known]
    if unknown:
        print(f"p2p-bot sync: no institution {', '.join(unknown)} is configured; the configured ones are "
              f"{', '.join(known)}", file=sys.stderr)
        services.close()
        return 2
    reports = services.lookup.sync(chosen or None, progress=say, full=args.full)
    for r in reports:
        if args.json:
            print(json.dumps(r.__dict__))
        else:
            if r.ok:
                print(f"{r.institution}: ok; {r.lending} lending + {r.borrowing} borrowing requests indexed, "
                      f"{r.calls} Alma calls, {r.seconds:.1f} s"
                      + (f", {r.carried} of {r.slices} slices unchanged" if r.carried else ""))
            else:
                print(f"{r.institution}: FAILED after {r.calls} Alma call{'' if r.calls == 1 else 's'}, "
                      f"{r.seconds:.1f} s: {r.problem}")
            for line in r.truncated:
                print(f"  {r.institution} {line}")
        if not r.ok:
            print(f"p2p-bot sync: {r.institution} failed: {r.problem}", file=sys.stderr)
    services.close()
    return 0 if all(r.ok for r in reports) else 1


def cmd_serve(args: argparse.Namespace) -> int:
    from bot.frontends.web import serve

    services = _services()
    _need_slack(services.settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(services, args.host, args.port)
    return 0


def cmd_socket(args: argparse.Namespace) -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.frontends.web import build_app

    services = _services()
    _need_slack(services.settings, socket=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    SocketModeHandler(build_app(services), services.settings.slack_app_token).start()  # type: ignore[no-untyped-call]
    return 0


def _need_slack(settings: Settings, socket: bool = False) -> None:
    """HTTP mode needs the bot token and the signing secret; Socket Mode the bot token and the app-level
    token (its requests arrive over that connection, so there is nothing to sign). Each token is checked by
    its prefix, so a swapped pair is said plainly instead of failing later."""
    if not settings.slack_bot_token:
        raise ConfigError("SLACK_BOT_TOKEN (xoxb-…) is not set")
    if not settings.slack_bot_token.startswith("xoxb-"):
        raise ConfigError("SLACK_BOT_TOKEN must be the bot token, starting with xoxb-")
    if socket:
        if not settings.slack_app_token:
            raise ConfigError("SLACK_APP_TOKEN (xapp-…) is needed for Socket Mode")
        if not settings.slack_app_token.startswith("xapp-"):
            raise ConfigError("SLACK_APP_TOKEN must be the app-level token, starting with xapp-")
    elif not settings.slack_signing_secret:
        raise ConfigError("SLACK_SIGNING_SECRET is not set")


def cmd_feedback(args: argparse.Namespace) -> int:
    from bot.core.feedback import worst_rated

    rows = worst_rated(_services().store, args.limit)
    if args.json:
        print(json.dumps(rows, default=str, indent=2))
        return 0
    if not rows:
        print("No ratings yet.")
    for r in rows:
        print(f"{r['score']:+d} ({r['votes']} votes)  {r['topic_id']:<28} {r['question']}")
    return 0


def cmd_expiry_check(args: argparse.Namespace) -> int:
    from datetime import date

    from bot.core import expiry, morning
    from bot.frontends.blocks import expiry_messages
    from bot.frontends.escaping import plain
    from bot.frontends.text import expiry_text

    services = _services()
    _need_institutions(services)
    try:
        day = date.fromisoformat(args.date) if args.date else None
    except ValueError:
        print(f"p2p-bot: --date wants a real calendar day as YYYY-MM-DD (e.g. 2026-11-30), not '{args.date}'",
              file=sys.stderr)
        return 2
    report = expiry.check(list(services.settings.institutions), services.alma, services.store, day)
    out: dict[str, Any] = report.to_json()
    if args.post:
        if not services.settings.slack_bot_token:
            raise ConfigError("--post needs SLACK_BOT_TOKEN (and a channel per institution in P2PBOT_CONFIG)")
        if not morning.channels(services):
            raise ConfigError("--post needs a channel: set `channel` for each institution or bot.rs_channel")
        results = morning.post(services, expiry_messages, date.fromisoformat(report.date), manual=True,
                               checked=report)
        out["posted"] = [{**r.__dict__, "reason": plain(r.reason)} for r in results]
    print(json.dumps(out, indent=2) if args.json else expiry_text(report))
    failed = [r for r in out.get("posted", []) if not r["posted"] and r["reason"].startswith("failed")]
    if args.post and not args.json:
        for r in out["posted"]:
            print(f"{r['channel']}: {'posted' if r['posted'] else 'not posted (' + r['reason'] + ')'}")
    services.close()
    return 1 if failed else 0  # a post that did not go out is a failure the caller must see


def cmd_clock(args: argparse.Namespace) -> int:
    from bot.frontends import clock as scheduler

    services = _services()
    _need_institutions(services)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    scheduler.start(services, blocking=True)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Bot and scheduler in one process (small sites)."""
    from bot.frontends import clock as scheduler

    services = _services()
    _need_slack(services.settings, socket=bool(services.settings.slack_app_token and not args.port))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if services.settings.institutions:
        scheduler.start(services, blocking=False)
    if services.settings.slack_app_token and not args.port:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        from bot.frontends.web import build_app

        SocketModeHandler(build_app(services), services.settings.slack_app_token).start()  # type: ignore[no-untyped-call]
    else:
        from bot.frontends.web import serve

        serve(services, args.host, args.port or 3000)
    return 0


def cmd_partner(args: argparse.Namespace) -> int:
    from bot.core.partners import PartnerError, onboarding
    from bot.edges.alma.errors import AlmaError, sentence

    services = _services()
    _need_institutions(services)
    try:
        ob = onboarding(services, args.institution)
        if args.action == "add":
            out = ob.preview(args.code, "cli")
            if out.state == "preview" and args.yes:
                out = ob.confirm(out.code, "cli", out.preview_key)
            ok = out.state in ("preview", "profile_set", "unchanged", "complete")
        elif args.action == "check":
            out = ob.check(args.code)
            ok = out.state == "ok"
        elif args.action == "done":
            out, _ = ob.mark_done(args.code, args.item, "cli")
            ok = True
        elif args.action == "lists":
            lists = ob.in_list_names()
            print(json.dumps(lists, indent=2) if args.json else _in_lists_text(lists))
            return 0
        else:
            registry = ob.registry()
            print(json.dumps(registry, indent=2, default=str) if args.json else _registry_text(registry))
            return 0
    except (PartnerError, AlmaError) as exc:
        msg = sentence(exc) if isinstance(exc, AlmaError) else str(exc)
        print(json.dumps({"error": msg}) if args.json else msg)
        return 2
    data = out.to_json()
    print(json.dumps(data, indent=2, default=str) if args.json else _outcome_text(data))
    services.close()
    return 0 if ok else 1


def _registry_text(rows: list[RegistryEntry]) -> str:
    lines = [f"{r['code']:<14} {r['name']:<36} {r['state']:<12} checklist {r['done']}/{r['total']}" for r in rows]
    return "\n".join(lines) if lines else "No partners onboarded yet."


def _in_lists_text(lists: dict[str, list[str]]) -> str:
    return "\n".join(f"{rule} ({len(names)}):" + "".join(f"\n  {n}" for n in names) for rule, names in lists.items())


def _outcome_text(data: dict[str, Any]) -> str:
    who = data.get("name") or data.get("code")
    lines = [f"{who}: {data['state']}. {data['message']}" if who else f"{data['state']}: {data['message']}"]
    lines += [f"  {c['field']}: {c['before']} -> {c['after']}" for c in data.get("changes") or []]
    lines += [f"  drift {c['field']}: {c['before']} (policy {c['after']})" for c in data.get("drift") or []]
    lines += [f"  [{'x' if c['done'] else ' '}] {c['item']}: {c['title']}" for c in data.get("checklist") or []]
    return "\n".join(lines)


# -- the parser: one function per group of sub-commands; a new sub-command goes into its group (or a new
# group added to GROUPS), with its handler above ------------------------------------------------------------
def _knowledge_commands(sub: Subcommands) -> None:
    s = sub.add_parser("ask", help="answer a question from the knowledge base")
    s.add_argument("question", nargs="?", help="the question; without it, one question per line on stdin")
    s.add_argument("--json", action="store_true", help="print the JSON contract")
    s.add_argument("--top", type=_positive, default=3, help="how many results (default 3)")
    s.set_defaults(func=cmd_ask)

    s = sub.add_parser("eval", help="score a question file (JSON lines: q, topics, facts)")
    s.add_argument("file")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("docs", help="index the library's own documentation (P2PBOT_DOCS) / list what is indexed")
    dsub = s.add_subparsers(dest="action", required=True)
    for name, helptext in (("index", "re-read what changed in P2PBOT_DOCS, drop what disappeared"),
                           ("list", "what is indexed, and when")):
        ds = dsub.add_parser(name, help=helptext)
        ds.add_argument("--json", action="store_true")
        ds.set_defaults(func=cmd_docs)

    s = sub.add_parser("check-knowledge", help="validate a folder of knowledge files (on top of the shipped ones)")
    s.add_argument("dir", nargs="?")
    s.add_argument("--alone", action="store_true", help="check the folder by itself, not on top of the shipped topics")
    s.set_defaults(func=cmd_check_knowledge)

    s = sub.add_parser("feedback", help="the worst-rated questions (from 👍 / 👎)")
    s.add_argument("--limit", type=int, default=20)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_feedback)


def _terminal_commands(sub: Subcommands) -> None:
    sub.add_parser("chat", help="terminal chat over the same commands as Slack").set_defaults(func=cmd_chat)

    s = sub.add_parser("demo", help="the local Alma sandbox in-process, a short guided tour, then the chat")
    s.add_argument("--scripted", action="store_true", help="only the guided tour, no prompt afterwards")
    s.set_defaults(func=cmd_demo)


def _process_commands(sub: Subcommands) -> None:
    """The long-running processes of a deployment."""
    s = sub.add_parser("serve", help="HTTP mode: /slack/events, /alma/webhook, /healthz")
    s.add_argument("--port", type=int, default=3000)
    s.add_argument("--host", default="0.0.0.0")
    s.set_defaults(func=cmd_serve)

    sub.add_parser("socket", help="Socket Mode (needs SLACK_APP_TOKEN)").set_defaults(func=cmd_socket)
    sub.add_parser("clock", help="the scheduler process (one per deployment)").set_defaults(func=cmd_clock)

    s = sub.add_parser("run", help="bot and scheduler in one process (Socket Mode if SLACK_APP_TOKEN is set)")
    s.add_argument("--port", type=int, default=0, help="HTTP mode on this port instead of Socket Mode")
    s.add_argument("--host", default="0.0.0.0")
    s.set_defaults(func=cmd_run)


def _alma_commands(sub: Subcommands) -> None:
    """Commands that read or change Alma (they need configured institutions)."""
    s = sub.add_parser("lookup", help="find a request by External Identifier in every institution")
    s.add_argument("external_id")
    s.add_argument("--json", action="store_true")
    s.add_argument("--no-live", action="store_true", help="only the local index; no calls to Alma")
    s.set_defaults(func=cmd_lookup)

    s = sub.add_parser("sync", help="refresh the request index from Alma")
    s.add_argument("--institution", action="append", help="only this institution (repeatable)")
    s.add_argument("--json", action="store_true")
    s.add_argument("--full", action="store_true", help="re-read every slice, even those whose totals did not change")
    s.set_defaults(func=cmd_sync)

    s = sub.add_parser("expiry-check", help="did the Expired Resource Sharing Requests job run (per institution)")
    s.add_argument("--json", action="store_true")
    s.add_argument("--date", default="", help="the local day to check (YYYY-MM-DD); default today")
    s.add_argument("--post", action="store_true", help="also post it (once per day, however often it runs)")
    s.set_defaults(func=cmd_expiry_check)

    _partner_commands(sub.add_parser("partner", help="onboard and audit P2P partners (add / list / check / done / lists)"))


def _partner_commands(partner: argparse.ArgumentParser) -> None:
    actions = partner.add_subparsers(dest="action", required=True)
    for name, helptext in (("add", "find, preview and (with --yes) set a partner's profile"),
                           ("check", "compare a partner's Alma profile with the policy"),
                           ("done", "tick a checklist item"), ("list", "partners onboarded and their progress"),
                           ("lists", "the partner names each In List should hold")):
        ps = actions.add_parser(name, help=helptext)
        if name in ("add", "check", "done"):
            ps.add_argument("code", help="partner code, ISO symbol or name")
        if name == "done":
            ps.add_argument("item", help="rota, temp_item_rule, tou, locate_profile or expiry_job")
        if name == "add":
            ps.add_argument("--yes", action="store_true", help="confirm the preview and change Alma")
        ps.add_argument("--json", action="store_true")
        ps.add_argument("--institution", default=None)
        ps.set_defaults(func=cmd_partner)


def _sandbox_command(sub: Subcommands) -> None:
    s = sub.add_parser("sandbox", help="serve the local Alma API on loopback until stopped")
    s.add_argument("--port", type=int, default=8765)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--scale", type=int, default=0, help="generate N extra lending requests")
    s.add_argument("--scale-institution", default="", help="put all generated requests in this institution (code)")
    s.add_argument("--latency-ms", type=float, default=0.0, help="added to every answer")
    s.add_argument("--fault-rate", type=float, default=0.0, help="share of calls answered with HTTP 500")
    s.add_argument("--garbage-rate", type=float, default=0.0, help="share answered with a broken body")
    s.add_argument("--timeout-rate", type=float, default=0.0, help="share answered only after 3 s")
    s.add_argument("--quota", type=int, default=500_000, help="daily API calls per institution")
    s.add_argument("--institutions", type=int, default=3, help="how many IZs (3 seeded consortium ones, more generated)")
    s.add_argument("--today", default="", help="the sandbox's today (YYYY-MM-DD); default: today")
    s.add_argument("--timezone", default="America/New_York")
    m = s.add_argument_group("realistic modes (see bot/sandbox/server.py; also POST /sandbox/mode at run time)")
    m.add_argument("--refuse-all", action="store_true", help="refuse every call: XML 400 UNAUTHORIZED")
    m.add_argument("--throttle-every", type=int, default=0, metavar="N",
                   help="every Nth call per institution is an XML 429 PER_SECOND_THRESHOLD (2 = every other)")
    m.add_argument("--odd-body", choices=["empty", "list", "string", "null"], default="",
                   help="200 answers carry {} / [] / \"OK\" / null instead of the object")
    m.add_argument("--odd-body-path", default="", help="only for paths starting with this (after /almaws/v1)")
    m.add_argument("--report-heading", action="append", default=[], metavar="OLD=NEW",
                   help="rename an Analytics column heading (NEW empty drops the column); repeatable")
    m.add_argument("--analytics-page-rows", type=int, default=0, metavar="N",
                   help="Analytics pages hold at most N rows whatever the limit")
    m.add_argument("--gateway-json", action="store_true", help="gateway errors follow Accept instead of XML")
    s.set_defaults(func=cmd_sandbox)


GROUPS = (_knowledge_commands, _terminal_commands, _process_commands, _alma_commands, _sandbox_command)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="p2p-bot", description="Slack chat-ops bot for Alma P2P resource sharing.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in GROUPS:
        add(sub)
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
