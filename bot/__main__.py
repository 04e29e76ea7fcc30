"""``python -m bot``: the same as the ``p2p-bot`` command."""

from __future__ import annotations

from bot.frontends.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
