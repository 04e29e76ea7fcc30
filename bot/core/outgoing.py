"""What the core needs from a front end to post to Slack: a message it can send.

The core decides *whether* and *when* to post (claims, catch-up); the front end's renderer decides *how* it
looks. Jobs receive renderers as arguments (see ``morning.ExpiryRenderer``, ``reminders.ReminderRenderer``),
so the core never imports Block Kit code.
"""

from __future__ import annotations

from typing import Any, Protocol


class Message(Protocol):
    def kwargs(self) -> dict[str, Any]: ...
