from __future__ import annotations

from bot.core import status
from bot.core.services import Services
from bot.edges.settings import Settings
from bot.frontends.text import to_text
from bot.sandbox.server import Sandbox
from commands import Context, dispatch
from tests.conftest import sandbox_institutions


def test_status_answers_from_cache_and_refreshes_in_the_background(sandbox: Sandbox, db_url: str) -> None:
    svc = Services(Settings(database_url=db_url, institutions=sandbox_institutions(sandbox)))
    svc.lookup.sync()
    ctx = Context(services=svc, user_id="U1")
    sandbox.state.answering.clear()  # Alma holds every call from now on: the answer must not wait for it
    first = to_text(dispatch(ctx, "status"))
    assert "not checked yet" in first and "Refreshing in the background" in first
    assert svc.store.cache_get(status.CACHE_KEY) is None  # the refresh is still waiting on Alma
    sandbox.state.answering.set()
    assert svc.drain()  # the background refresh has finished
    assert svc.store.cache_get(status.CACHE_KEY) is not None
    second = to_text(dispatch(ctx, "status"))
    for piece in ("🟢 George Washington University", "API calls left today", "Lending requests:",
                  "expire tonight if not shipped", "Request index: synced"):
        assert piece in second, second
    svc.close()


def test_status_says_when_alma_is_down(sandbox: Sandbox, db_url: str) -> None:
    svc = Services(Settings(database_url=db_url, institutions=sandbox_institutions(sandbox)[:1]))
    sandbox.state.inject("500", count=1000)
    svc.alma["GWA"].max_retries = 0
    ov = status.collect(svc)
    assert ov.institutions[0].reachable is False and "not answering" in ov.institutions[0].problem
    svc.close()
