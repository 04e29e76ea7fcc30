"""What every sub-command handler receives: who asks, where, and the core services."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.core.services import Services

if TYPE_CHECKING:
    from commands.replies import CommandReply

# a handler turns the text after its sub-command into a reply (see commands.replies)
Handler = Callable[["Context", str], "CommandReply"]


@dataclass
class Context:
    services: Services
    user_id: str = "terminal"
    channel_id: str = ""
    surface: str = "chat"  # chat / slack / cli
    # the sub-command table, so `/p2p help` can list it without importing the package that holds it
    commands: Mapping[str, Handler] = field(default_factory=dict)
