"""Text in and out of Slack, in one place.

In: Slack sends message and command text with ``&``, ``<`` and ``>`` escaped and its own markup in angle
brackets (``<@U1|ann>``, ``<#C1|ill>``, ``<https://x|label>``, ``<!here>``). :func:`incoming` turns that into
what the person typed, once: markup to readable words, broadcasts dropped, entities unescaped.

Out: :func:`neutral` is the one function every renderer runs echoed or composed text through: whatever
a person (or Alma, or a partner record) supplied can never ping a channel, mention a user group, or become
a live link. Broadcast markup (``<!…>``) is stripped until nothing changes (so ``<!chan<!here>nel>`` cannot
reassemble), then ``& < >`` are escaped (so no link or mention survives, and help's own ``<placeholders>``
show as typed), then ``@here`` and URL schemes are broken with a word joiner so not even Slack's
auto-linking can revive them. The bot's own mentions of people are
written with :func:`commands.messages.mention` and become ``<@U…>`` only here, after escaping.
"""

from __future__ import annotations

import re

from bot.core.outgoing import MENTION_MARK

JOINER = "\u2060"  # word joiner: invisible, breaks tokens Slack would otherwise act on
# bidirectional controls (embeddings, overrides, isolates, marks): U+202E makes "gpj.exe" read "exe.jpg"
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SPECIAL = re.compile(r"<!([^<>]*)>")  # <!here>, <!channel>, <!subteam^S1|@team>, <!date^…>
_LINKISH = re.compile(r"<([@#]?)([^<>|!][^<>|]*)\|?([^<>]*)>")  # <@U1|ann>, <#C1|ill>, <https://x|label>, <x>
_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
_SCHEME = re.compile(r"\b(https?|ftp|mailto|slack|tel)(:)", re.IGNORECASE)
_WWW = re.compile(r"\b(www)(\.)", re.IGNORECASE)
_OUR_MENTION = re.compile(re.escape(MENTION_MARK) + r"([@#])([UWCG][A-Z0-9]{2,20})" + re.escape(MENTION_MARK))


def _link_words(m: re.Match[str]) -> str:
    sigil, target, label = m.group(1), m.group(2), m.group(3)
    if sigil == "@":
        return "@" + (label or target)
    if sigil == "#":
        return "#" + (label or target)
    return label or target


def strip_markup(text: str, links: bool = True) -> str:
    """Slack's angle-bracket markup out, repeated until nothing changes: ``<!chan<!here>nel>`` → ``''``;
    links and mentions become their words (unless ``links`` is False)."""
    while True:
        before = text
        text = _SPECIAL.sub("", text)
        if links:
            text = _LINKISH.sub(_link_words, text)
        if text == before:
            return text


def unescape(text: str) -> str:
    """Slack's three entities back to characters, exactly once (``&amp;lt;`` stays ``&lt;``)."""
    return re.sub(r"&(amp|lt|gt);", lambda m: {"amp": "&", "lt": "<", "gt": ">"}[m.group(1)], text)


_LEADING_MENTIONS = re.compile(r"^(\s*<@[A-Z0-9]+(\|[^>]*)?>)+")


def incoming(text: str) -> str:
    """What the person typed, from the text of a Slack message or slash command (the @-mention of the
    bot that starts a message addressed to it is not part of what they said)."""
    text = _LEADING_MENTIONS.sub("", (text or "").replace(MENTION_MARK, ""))
    return unescape(strip_markup(text)).strip()


def escape(text: str) -> str:
    """Slack's three control characters (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def neutral(text: str) -> str:
    """Any text as inert mrkdwn: no markup, no broadcast, no live link; the bot's own mentions restored."""
    text = escape(strip_markup(_BIDI.sub("", text), links=False))
    text = _BROADCAST.sub(lambda m: "@" + JOINER + m.group(1), text)
    text = _SCHEME.sub(lambda m: m.group(1) + JOINER + m.group(2), text)
    text = _WWW.sub(lambda m: m.group(1) + JOINER + m.group(2), text)
    return _OUR_MENTION.sub(lambda m: f"<{m.group(1)}{m.group(2)}>", text)


def plain(text: str) -> str:
    """For the terminal and logs: the bot's mentions as ``@U…`` / ``#C…``, everything else as it is."""
    return _OUR_MENTION.sub(lambda m: m.group(1) + m.group(2), text)
