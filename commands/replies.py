"""What commands return: small data objects. :mod:`bot.frontends.blocks` renders them as Block Kit and
:mod:`bot.frontends.text` as terminal text, so handlers never build Slack JSON (or sentences from domain
results) themselves."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:  # annotations only: answering a question must not load the database layer
    from bot.core.answers import Result
    from bot.core.expiry import ExpiryReport
    from bot.core.lookup import LookupResult
    from bot.core.partners import Outcome
    from bot.core.status import Overview
    from bot.core.walkthrough import Walk


@dataclass(frozen=True)
class TextReply:
    text: str
    error: bool = False
    public: bool = False


@dataclass(frozen=True)
class AnswerReply:
    result: Result
    question: str
    shared_by: str = ""  # set when someone shared it in the channel


@dataclass(frozen=True)
class WalkReply:
    walk: Walk
    note: str = ""


@dataclass(frozen=True)
class LookupReply:
    result: LookupResult
    procedures: frozenset[str] = frozenset()  # next-step topics that really are step-by-step procedures


@dataclass(frozen=True)
class Reply:
    """A generic structured reply: a title, text sections, optional buttons (label, action_id, value)."""

    title: str
    sections: tuple[str, ...] = ()
    choices: tuple[tuple[str, ...], ...] = ()  # (label, action_id, value[, what to type in the chat])
    footer: str = ""
    public: bool = False


@dataclass(frozen=True)
class PartnerReply:
    """One partner's onboarding outcome; ``query`` is what the person asked for (for "look again")."""

    outcome: Outcome
    query: str = ""
    finished: bool = False  # the last checklist item was just ticked: the front end announces it


@dataclass(frozen=True)
class StatusReply:
    overview: Overview


@dataclass(frozen=True)
class Deferred:
    """Slow work: show ``progress`` at once (Slack's 3-second ack), then replace it with ``run()``."""

    progress: str
    run: Callable[[], CommandReply]


@dataclass(frozen=True)
class ExpiryReply:
    report: ExpiryReport
    late: bool = False


CommandReply: TypeAlias = (TextReply | AnswerReply | WalkReply | LookupReply | Reply | PartnerReply | StatusReply
                           | Deferred | ExpiryReply)
