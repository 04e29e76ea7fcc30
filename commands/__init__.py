"""The /p2p sub-commands: one module each, joined here.

``dispatch`` turns the text after ``/p2p`` into a reply for any front end (Slack or the terminal chat).
Each handler's docstring is its line in ``/p2p help``. Anything that is not a sub-command is a question.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from commands.context import Context, Handler

__all__ = ["HANDLERS", "Context", "Handler", "dispatch", "handlers", "split"]


class _Lazy:
    """A sub-command's handler, imported on first use: answering a question must not load the modules (and
    the database and HTTP layers) that lookups, onboarding or reminders need."""

    def __init__(self, module: str) -> None:
        self.module = module

    def handler(self) -> Handler:
        fn: Handler = importlib.import_module(f"commands.{self.module}").handle
        return fn

    def __call__(self, ctx: Context, args: str) -> Any:
        return self.handler()(ctx, args)

    @property
    def __doc__(self) -> str | None:  # type: ignore[override]  # its line in /p2p help
        return self.handler().__doc__


HANDLERS: dict[str, Handler] = {name: _Lazy(name) for name in
                                ("help", "ask", "walk", "status", "lookup", "partner", "expiry", "remind")}


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
