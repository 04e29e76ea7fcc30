"""The terminal chat: the same sub-commands as Slack, rendered as readable text.

Buttons become typed choices: ``next``, ``back``, ``done`` and ``stop`` move the open walkthrough.
``p2p-bot demo`` starts the local Alma sandbox in-process, indexes it, and opens the chat against it.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import TextIO

from bot.core.services import Services
from bot.frontends.text import to_text
from commands import Context, dispatch, messages
from commands.replies import AnswerReply, CommandReply, TextReply, WalkReply

PROMPT = "you> "
MOVES = {"next": "next", "n": "next", "back": "back", "b": "back", "done": "done", "stop": "stop"}


class ChatSession:
    """One person at the terminal."""

    def __init__(self, services: Services, user_id: str = "terminal") -> None:
        self.ctx = Context(services=services, user_id=user_id, surface="chat")

    def handle(self, line: str) -> str:
        """The reply to one line. Slack's spelling (`/p2p walk …`) works here too, and the bot's own hints
        name the commands as typed here (without `/p2p`); an answer's text is the documentation's, as is."""
        text = line.strip()
        parts = text.split(maxsplit=1)
        if parts and parts[0].lower() == "/p2p":
            text = parts[1] if len(parts) > 1 else "help"
        if not text:
            return ""
        reply = self._reply(text)
        shown = to_text(reply)
        documentation = isinstance(reply, AnswerReply) and reply.result.answered  # shown as written
        return shown if documentation else shown.replace("`/p2p ", "`")

    def _reply(self, text: str) -> CommandReply:
        word = text.lower().rstrip(".!")
        if word.startswith("next"):
            word = "next"
        if word in MOVES:
            from bot.core.walkthrough import WalkError
            from commands import buttons  # walkthroughs live in the store: loaded only when one is moved
            from commands.walk import walkthroughs

            try:
                current = walkthroughs(self.ctx).active_for(self.ctx.user_id)
            except WalkError as exc:  # its procedure left the documentation: closed, and said
                return TextReply(str(exc))
            if current is None:
                return TextReply("No walkthrough is open. Start one with `walk <procedure>` (`walk` alone "
                                 "suggests one).")
            if current.note and MOVES[word] in ("next", "back"):  # it changed and began again: show step 1 first
                return WalkReply(current)
            return buttons.move_walk(self.ctx, current.token, MOVES[word])
        return dispatch(self.ctx, text)


def run_chat(services: Services, stdin: TextIO, stdout: TextIO, lines: list[str] | None = None,
             intro: str = "", then_interactive: bool = False) -> int:
    """Read lines from ``lines`` (typed out as if by a person) and then, if ``then_interactive``, from stdin."""
    session = ChatSession(services)
    stdout.write(messages.CHAT_WELCOME + "\n")
    if intro:
        stdout.write(intro + "\n")
    interactive = stdin.isatty()
    pending = list(lines) if lines is not None else []
    scripted = lines is not None
    while True:
        if scripted and not pending:
            scripted = False
            if not then_interactive:
                break
            stdout.write("(That was the tour. Your turn: ask anything, or `quit`.)\n")
        stdout.write(PROMPT)
        stdout.flush()
        line: str | None = None
        if scripted:
            line = pending.pop(0)
            stdout.write(line + "\n")
        else:
            raw = stdin.readline()
            if not raw:
                break
            line = raw.rstrip("\n")
            if not interactive:
                stdout.write(line + "\n")
        assert line is not None
        if line.strip().lower() in ("quit", "exit", ":q"):
            break
        out = session.handle(line)
        if out:
            stdout.write(out + "\n\n")
        stdout.flush()
    stdout.write("\nbye\n")
    return 0


def run_demo(stdin: TextIO, stdout: TextIO, scripted: bool = False) -> int:
    """The sandbox in-process, three institutions, a fresh SQLite file, then the chat."""
    from datetime import date

    from bot.edges.settings import Settings
    from bot.sandbox.server import Sandbox, SandboxState

    sandbox = Sandbox(SandboxState(today=date.today())).start()
    tmp = tempfile.TemporaryDirectory(prefix="p2pbot-demo-")
    try:
        insts = sandbox.institutions()
        services = Services(Settings(database_url=f"sqlite:///{Path(tmp.name) / 'demo.sqlite3'}",
                                     institutions=insts))
        stdout.write(f"Local Alma sandbox running at {sandbox.base_url} "
                     f"({', '.join(i.name for i in insts)}).\nIndexing their resource-sharing requests… ")
        stdout.flush()
        reports = services.lookup.sync()
        stdout.write(", ".join(f"{r.institution} {r.lending + r.borrowing}" for r in reports) + " requests.\n")
        gwa = sandbox.state.by_code("GWA")
        shipped = [r for r in gwa.borrowing if r["status"]["value"] == "SHIPPED_PHYSICALLY"]
        example = random.Random(1).choice(shipped)["external_id"] if shipped else "NO-ID"
        intro = ("Try: `how do I receive a borrowed item`, `walk borrow-receive` then `next`, "
                 f"`status {example}`, `status`, `help`.")
        tour = ["how do I receive a borrowed item", "walk borrow-receive", "next", "next", "back", "stop",
                f"status {example}"]
        code = run_chat(services, stdin, stdout, lines=tour, intro=intro, then_interactive=not scripted)
        services.close()
        return code
    finally:
        sandbox.stop()
        tmp.cleanup()
