"""What the core needs from a front end to post to Slack: a message it can send.

The core decides *whether* and *when* to post (claims, catch-up); the front end's renderer decides *how* it
looks. Jobs receive renderers as arguments (see ``morning.ExpiryRenderer``, ``reminders.ReminderRenderer``),
so the core never imports Block Kit code.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Protocol

from slack_sdk.errors import SlackApiError

if TYPE_CHECKING:
    from slack_sdk import WebClient


class Message(Protocol):
    def kwargs(self) -> dict[str, Any]: ...


# The bot's own mention of a person or channel, marked so the Slack renderer turns exactly these into
# <@U…> / <#C…> after escaping everything else (typed text can never produce one); the terminal shows @U…
MENTION_MARK = "\u2063"
# mrkdwn's formatting characters have no escape in Slack: in text a person typed, echoed back, they become
# look-alikes, so "*URGENT*" reads the same but is not bold (an underscore inside a word, P2P_JMU, stays)
LOOKALIKES = {"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb"}
_FORMATTING = re.compile(r"[*~`]|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")


def literal(text: str) -> str:
    """Text a person typed, to echo inside a message: no bold, italics, strike or code from it."""
    return _FORMATTING.sub(lambda m: LOOKALIKES[m.group(0)], text)


def in_code(text: str) -> str:
    """Text a person typed, to echo inside a `code span`: only a backtick could end the span early."""
    return text.replace("`", LOOKALIKES["`"])


def mention(ref: str) -> str:
    """``U…`` → a person mention, ``#C…`` → a channel mention (see MENTION_MARK)."""
    if not ref:
        return "someone"
    return f"{MENTION_MARK}{ref if ref.startswith('#') else '@' + ref}{MENTION_MARK}"


def marks_to_mrkdwn(text: str) -> str:
    """For a fixed sentence of ours sent as plain mrkdwn (no renderer in between): marks to mentions.
    Only for text the bot composed from ids; anything a person typed goes through the renderer."""
    import re

    return re.sub(re.escape(MENTION_MARK) + r"([@#])([A-Z0-9]+)" + re.escape(MENTION_MARK), r"<\1\2>", text)


# Slack's refusals of a post, as the sentence the person who set the post up needs to read
_REFUSALS = {
    "not_in_channel": "I'm not a member of {where}, so I can't post there. Invite me with `/invite @p2p-bot` "
                      "in that channel.",
    "channel_not_found": "I can't see {where}: it is private and I'm not in it, or it no longer exists. "
                         "Invite me with `/invite @p2p-bot` in that channel.",
    "is_archived": "{where} is archived, so nothing can be posted there.",
    "restricted_action": "Posting in {where} is restricted to some members, and I'm not one of them.",
    "missing_scope": "The Slack app lacks a permission for posting in {where}; reinstall it from manifest.yml.",
}

REFUSED = frozenset(_REFUSALS)  # errors that another try will not cure: the person must act


def where(channel: str) -> str:
    """How a channel is named in a sentence: a mention for ids, the name otherwise."""
    if channel[:1] in ("C", "G") and channel[1:].isalnum() and channel.isupper():
        return mention("#" + channel)
    return f"`{channel}`" if channel else "that channel"


def refusal(error: str, channel: str) -> str:
    """Why a post to ``channel`` failed, from Slack's error code."""
    sentence = _REFUSALS.get(error, "Slack refused the post to {where} ({error}).")
    return sentence.format(where=where(channel), error=error)


def channel_problem(slack: WebClient, channel: str) -> str | None:
    """Before promising posts to ``channel``: a sentence when the bot will not be able to post there.
    Public channels take posts without joining (``chat:write.public``); private ones need the bot in them.
    A direct message with the bot always works."""
    if not channel or channel[:1] == "D":
        return None
    try:
        info = slack.conversations_info(channel=channel).get("channel") or {}
    except SlackApiError as exc:
        code = str(exc.response.get("error", ""))
        if code == "missing_scope":
            return None  # cannot tell; the first post will say so
        return refusal(code, channel)
    if info.get("is_archived"):
        return refusal("is_archived", channel)
    if (info.get("is_private") or info.get("is_group")) and not info.get("is_member"):
        return refusal("channel_not_found", channel)
    return None
