"""One place that turns replies into what people see: plain text for the terminal chat (Block Kit lives
in :mod:`bot.blocks`)."""

from __future__ import annotations

import textwrap

from bot import messages
from bot.answers import Result
from bot.replies import AnswerReply, Reply, TextReply

WIDTH = 100


def _wrap(text: str, indent: str = "") -> str:
    out: list[str] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("|"):
            out.append(indent + line)
            continue
        sub = "   " if line[:3].strip().rstrip(".").isdigit() else "  "
        out.append(textwrap.fill(line, WIDTH, initial_indent=indent, subsequent_indent=indent + sub))
    return "\n".join(out)


def answer_text(result: Result) -> str:
    if not result.hits:
        return messages.NOTHING_FOUND
    if not result.answered:
        lines = [messages.NOT_SURE]
        lines += [f"  - {h.topic.title}  (`{h.topic.id}`)" for h in result.hits[:3]]
        return "\n".join(lines)
    best = result.hits[0]
    parts = [f"== {best.topic.title} ==", _wrap(best.answer), f"Source: {best.topic.source_label()}"]
    if best.topic.is_procedure:
        parts.append(f"Type `walk {best.topic.id}` to go through it step by step.")
    others = [h for h in result.hits[1:3]]
    if others:
        parts.append("Related: " + ", ".join(f"{h.topic.title} (`{h.topic.id}`)" for h in others))
    return "\n".join(parts)


def to_text(reply: object) -> str:
    if isinstance(reply, TextReply):
        return ("Sorry: " if reply.error else "") + reply.text
    if isinstance(reply, AnswerReply):
        return answer_text(reply.result)
    if isinstance(reply, Reply):
        parts = [f"== {reply.title} =="] if reply.title else []
        parts += [_wrap(s) for s in reply.sections]
        if reply.footer:
            parts.append(reply.footer)
        if reply.choices:
            parts.append("Choices: " + " / ".join(f"[{c[0]}]" for c in reply.choices))
        return "\n".join(parts)
    return str(reply)
