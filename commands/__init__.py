"""The /p2p sub-commands: one module each, joined here.

``dispatch`` turns the text after ``/p2p`` into a reply for any front end (Slack or the terminal chat).
Each handler's docstring is its line in ``/p2p help``. Anything that is not a sub-command is a question.
"""

from __future__ import annotations

import re
from typing import Any

from commands import ask, expiry, help, lookup, partner, remind, status, walk
from commands.context import Context, Handler

__all__ = ["HANDLERS", "Context", "Handler", "dispatch", "handlers", "split"]


HANDLERS: dict[str, Handler] = {
    "help": help.handle,
    "ask": ask.handle,
    "walk": walk.handle,
    "status": status.handle,
    "lookup": lookup.handle,
    "partner": partner.handle,
    "expiry": expiry.handle,
    "remind": remind.handle,
}


def handlers() -> dict[str, Handler]:
    return HANDLERS


_BROADCAST = re.compile(r"<!(channel|here|everyone)(\|[^>]*)?>|@(channel|here|everyone)\b", re.IGNORECASE)


def split(text: str) -> tuple[str, str]:
    """('status', '1//47BIB...') from 'status 1//47BIB...'; unknown first words mean a question.
    Broadcast mentions carry no meaning for us and are dropped before anything is echoed or stored."""
    text = _BROADCAST.sub("", text or "").strip()
    head, _, rest = text.partition(" ")
    name = head.lower()
    if name in handlers():
        return name, rest.strip()
    return "ask", text


def dispatch(ctx: Context, text: str) -> Any:
    name, args = split(text)
    if not ctx.commands:
        ctx.commands = HANDLERS
    return HANDLERS[name](ctx, args)
