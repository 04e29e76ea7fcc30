"""The terminal chat: the same sub-commands as Slack, rendered as readable text.

Buttons become typed choices (``next``, ``back``, ``done``, ``stop``) while a walkthrough is open.
"""

from __future__ import annotations

from typing import TextIO

from bot import messages
from bot.render import to_text
from bot.services import Services

PROMPT = "you> "


class ChatSession:
    """One person at the terminal; keeps which walkthrough their typed choices apply to."""

    def __init__(self, services: Services, user_id: str = "terminal") -> None:
        from commands import Context

        self.ctx = Context(services=services, user_id=user_id, surface="chat")
        self.walk_id: str | None = None

    def handle(self, line: str) -> str:
        from commands import dispatch

        text = line.strip()
        if not text:
            return ""
        reply = dispatch(self.ctx, text)
        return to_text(reply)


def run_chat(services: Services, stdin: TextIO, stdout: TextIO, lines: list[str] | None = None) -> int:
    session = ChatSession(services)
    stdout.write(messages.CHAT_WELCOME + "\n")
    interactive = stdin.isatty() if lines is None else False
    source = iter(lines) if lines is not None else None
    while True:
        stdout.write(PROMPT)
        stdout.flush()
        if source is not None:
            line = next(source, None)
            if line is None:
                break
            stdout.write(line + "\n")
        else:
            raw = stdin.readline()
            if not raw:
                break
            line = raw.rstrip("\n")
            if not interactive:
                stdout.write(line + "\n")
        if line.strip().lower() in ("quit", "exit", ":q"):
            break
        out = session.handle(line)
        if out:
            stdout.write(out + "\n\n")
    stdout.write("\nbye\n")
    return 0


def run_demo(stdin: TextIO, stdout: TextIO, scripted: bool = False) -> int:
    from bot import settings

    services = Services(settings.load())
    tour = ["how do I receive a borrowed item"] if scripted else None
    return run_chat(services, stdin, stdout, lines=tour)
