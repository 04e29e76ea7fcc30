"""The /p2p sub-commands: one module each, joined here.

``dispatch`` turns the text after ``/p2p`` into a reply for any front end (Slack or the terminal chat).
Each handler's docstring is its line in ``/p2p help``. Anything that is not a sub-command is a question,
unless its first word is a near miss of one (``stauts``, ``walkk``): then "did you mean `status`?".
"""

from __future__ import annotations

import importlib
import json
import re

from rapidfuzz.distance import OSA

from bot.core.outgoing import in_code
from commands.context import Context, Handler
from commands.replies import CommandReply, Reply

__all__ = ["HANDLERS", "Context", "Handler", "dispatch", "handlers", "load_all", "near_miss", "read_only", "split"]


class _Lazy:
    """A sub-command's handler, imported on first use: answering a question must not load the modules (and
    the database and HTTP layers) that lookups, onboarding or reminders need."""

    def __init__(self, module: str) -> None:
        self.module = module

    def handler(self) -> Handler:
        fn: Handler = importlib.import_module(f"commands.{self.module}").handle
        return fn

    def __call__(self, ctx: Context, args: str) -> CommandReply:
        return self.handler()(ctx, args)

    @property
    def __doc__(self) -> str | None:  # type: ignore[override]  # its line in /p2p help
        return self.handler().__doc__


HANDLERS: dict[str, Handler] = {name: _Lazy(name) for name in
                                ("help", "ask", "walk", "status", "lookup", "partner", "expiry", "remind")}


def handlers() -> dict[str, Handler]:
    return HANDLERS


def load_all() -> None:
    """Import every sub-command now: a long-running server does this before it takes traffic, so the first
    requests after a start do not queue behind the imports (quick CLI commands keep loading lazily)."""
    for fn in HANDLERS.values():
        if isinstance(fn, _Lazy):
            fn.handler()


_BROADCAST = re.compile(r"<!(channel|here|everyone)(\|[^>]*)?>|@(channel|here|everyone)\b", re.IGNORECASE)
_QUESTION_WORDS = {"how", "what", "why", "when", "where", "who", "which", "can", "do", "does", "is", "are",
                   "should", "i", "my", "the", "a", "an", "we", "our"}


def split(text: str) -> tuple[str, str]:
    """('status', '1//47BIB...') from 'status 1//47BIB...'; unknown first words mean a question.
    Broadcast mentions carry no meaning for us and are dropped before anything is echoed or stored."""
    text = _BROADCAST.sub("", text or "").strip()
    head, _, rest = text.partition(" ")
    name = head.lower()
    if name in handlers():
        return name, rest.strip()
    return "ask", text


def near_miss(text: str) -> str | None:
    """The sub-command a typo'd first word stands for (``stauts`` → ``status``), or None.

    One slip away from exactly one sub-command: a letter swapped, doubled, dropped or wrong (``stauts``,
    ``walkk``, ``lokup``). Real words a question starts with are further away (``expired``, ``walking``,
    ``reminder``), and common question words are never taken for commands."""
    head = (text or "").strip().partition(" ")[0].lower()
    if len(head) < 3 or head in HANDLERS or head in _QUESTION_WORDS or not head.isalpha():
        return None
    close = [name for name in HANDLERS if OSA.distance(head, name) <= 1]
    return close[0] if len(close) == 1 else None


# what a "Yes" under "Did you mean …?" may run for whoever clicks it: only verbs that change nothing (the
# sub-command, and for partner/remind the verbs allowed; None: every use of it reads only)
READ_ONLY: dict[str, frozenset[str] | None] = {
    "help": None, "ask": None, "walk": None, "status": None, "lookup": None, "expiry": None,
    "partner": frozenset({"list", "check", "lists"}), "remind": frozenset({"list", "ls"}),
}


def read_only(command: str) -> bool:
    """True when ``command`` (``partner check X``, ``status 1``) only reads: it may run from a button."""
    name, _, rest = command.strip().partition(" ")
    name = name.lower()
    if name not in READ_ONLY:
        return False
    verbs = READ_ONLY[name]
    return verbs is None or rest.strip().partition(" ")[0].lower() in verbs


def did_you_mean(text: str, name: str, asker: str = "") -> Reply:
    """The corrected command, as a suggestion. A "Yes" button only for a command that changes nothing (a
    change must be typed, so it goes through its own preview and permission check as the person who
    types it); each button carries who asked, and only they may click it."""
    _head, _, rest = text.strip().partition(" ")
    fixed = f"{name} {rest}".strip()
    question = text.strip()[:1800]
    no = ("No, it's a question", "ask_anyway", json.dumps({"q": question, "u": asker}), f"ask {question}")
    if not read_only(fixed):
        return Reply(title="", sections=(f"Did you mean `/p2p {in_code(fixed)}`? It changes things, so type it "
                                         "yourself to run it.",), choices=(no,))
    return Reply(title="", sections=(f"Did you mean `/p2p {in_code(fixed)}`?",),
                 choices=((f"Yes: {fixed}"[:75], "run_command", json.dumps({"c": fixed[:1800], "u": asker}), fixed),
                          no))


def dispatch(ctx: Context, text: str) -> CommandReply:
    name, args = split(text)
    if not ctx.commands:
        ctx.commands = HANDLERS
    if name == "ask":
        guess = near_miss(args)
        if guess is not None:
            return did_you_mean(args, guess, ctx.user_id)
    return HANDLERS[name](ctx, args)
