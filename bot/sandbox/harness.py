"""Helpers for driving the sandbox from other processes: an institutions TOML that points p2p-bot at it, and a
call log that stamps when each call arrived (to count calls per second at Alma's side)."""

from __future__ import annotations

import json
import time

from bot.sandbox.data import INSTITUTIONS, REPORT_PATH


class StampedCalls(list[tuple[str, str, str, str]]):
    """The sandbox's call log (``SandboxState.calls``), with the moment each call arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.at: list[tuple[str, float]] = []

    def append(self, item: tuple[str, str, str, str]) -> None:
        self.at.append((item[0], time.monotonic()))
        super().append(item)


def institutions_toml(base_url: str, calls_per_second: int | None = None) -> tuple[str, dict[str, str]]:
    """The ``[[institution]]`` tables for the seeded institutions at ``base_url``, and the environment holding
    their keys (``KEY_<code>``), for a ``P2PBOT_CONFIG`` file."""
    tables, env = [], {}
    for code, name, _ic, key, libs, _sfx in INSTITUTIONS:
        tables.append(f'[[institution]]\ncode = "{code}"\nname = "{name}"\nurl = "{base_url}"\n'
                      f'api_key_env = "KEY_{code}"\nrs_libraries = {json.dumps(libs)}\n'
                      f'borrowing_report = "{REPORT_PATH}"\n'
                      + (f"calls_per_second = {calls_per_second}\n" if calls_per_second else ""))
        env[f"KEY_{code}"] = key
    return "\n".join(tables), env
