"""p2p-bot: a Slack chat-ops bot for Alma peer-to-peer resource sharing staff."""

from __future__ import annotations

__version__ = "0.1.0"
