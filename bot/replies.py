"""What commands return: small data objects, rendered to Block Kit or terminal text by :mod:`bot.render`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.answers import Result


@dataclass(frozen=True)
class TextReply:
    text: str
    error: bool = False
    public: bool = False


@dataclass(frozen=True)
class AnswerReply:
    result: Result
    question: str


@dataclass(frozen=True)
class Reply:
    """A generic structured reply: a title, text blocks and optional typed choices (buttons)."""

    title: str
    sections: tuple[str, ...] = ()
    choices: tuple[tuple[str, str, str], ...] = ()  # (label, action_id, value)
    footer: str = ""
    public: bool = False
    data: dict[str, Any] = field(default_factory=dict)


AnyReply = TextReply | AnswerReply | Reply | Any
