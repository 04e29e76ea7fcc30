"""/p2p help."""

from __future__ import annotations

from commands.context import Context
from commands.replies import Reply


def handle(ctx: Context, args: str) -> Reply:
    """`/p2p help` - this list of commands."""
    lines = []
    for name, fn in ctx.commands.items():
        doc = (fn.__doc__ or "").strip().splitlines()
        lines.append(doc[0] if doc else f"`/p2p {name}`")
    if ctx.surface == "slack":
        lines.append("Anything else after `/p2p` is treated as a question, e.g. `/p2p how do I return a borrowed book`.")
    else:
        lines.append("Anything else is treated as a question, e.g. `how do I return a borrowed book`.")
    return Reply(title="What I can do", sections=("\n".join(f"• {ln}" for ln in lines),))
