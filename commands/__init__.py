"""The /p2p sub-commands: one module each, joined here.

``dispatch`` turns the text after ``/p2p`` into a reply for any front end (Slack or the terminal chat).
Each handler's docstring is its line in ``/p2p help``. Anything that is not a sub-command is a question.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.services import Services


@dataclass
class Context:
    services: Services
    user_id: str = "terminal"
    channel_id: str = ""
    surface: str = "chat"  # chat / slack / cli


Handler = Callable[[Context, str], Any]


def _handlers() -> dict[str, Handler]:
    from commands import ask, expiry, help, lookup, partner, remind, status, walk

    return {
        "help": help.handle,
        "ask": ask.handle,
        "walk": walk.handle,
        "status": status.handle,
        "lookup": lookup.handle,
        "partner": partner.handle,
        "expiry": expiry.handle,
        "remind": remind.handle,
    }


HANDLERS: dict[str, Handler] = {}


def handlers() -> dict[str, Handler]:
    if not HANDLERS:
        HANDLERS.update(_handlers())
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


def register(app: Any, services: Services) -> None:
    """Register every /p2p listener on a Bolt app (the one place Slack wiring happens)."""
    from commands import slack

    slack.register(app, services)


def dispatch(ctx: Context, text: str) -> Any:
    name, args = split(text)
    return handlers()[name](ctx, args)
