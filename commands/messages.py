"""User-facing sentences, named so tests compare against the names rather than copies of the text."""

from __future__ import annotations

from bot.core.outgoing import MENTION_MARK as MENTION_MARK  # the bot's own mentions of people
from bot.core.outgoing import mention as mention

NOT_SURE = "I'm not sure I have the right page for that. These are the closest I found:"
NOTHING_FOUND = ("I couldn't find anything about that in the P2P procedures. Try other words, or "
                 "`/p2p help` to see what I can do.")
EMPTY_QUESTION = "Ask me a question about P2P resource sharing, e.g. `/p2p how do I receive a borrowed item`."
UNKNOWN_TOPIC = "I don't know a procedure called `{name}`. Ask a question to find one, or try `/p2p walk` for an example."
NOT_A_PROCEDURE = "*{title}* is not a step-by-step procedure, so there is nothing to walk through."
CHAT_WELCOME = ("p2p-bot terminal chat. Ask a question, or type `help`. "
                "Type `quit` to leave.")


def echoed(text: str, limit: int = 80) -> str:
    """What a person typed, said back: one line, and cut short (a 10,000-letter walk name is not repeated)."""
    one = " ".join(text.split())
    return one if len(one) <= limit else one[:limit - 1].rstrip() + "…"
