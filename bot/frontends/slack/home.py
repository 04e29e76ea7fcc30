"""The App Home tab, where staff land when they open the app: published on ``app_home_opened``, with
buttons that open a one-field modal (ask / look up / walk) whose answer arrives in the app's DM."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from bot.core.expiry import last_known
from bot.core.services import Services
from bot.core.status import overview
from bot.core.walkthrough import WalkError
from bot.frontends.blocks import HomeFacts, home_view, input_modal, render
from bot.frontends.escaping import incoming
from bot.frontends.present import docs_lines
from bot.frontends.slack.common import context_for, later, once, services_of, text
from commands import dispatch
from commands.replies import CommandReply, Deferred, TextReply, WalkReply

MODALS = {  # action id → (callback id, title, label, hint, the sub-command the text goes to)
    "home_ask": ("home_ask", "Ask p2p-bot", "Your question", "how do I receive a borrowed item", "ask"),
    "home_lookup": ("home_lookup", "Look up a request", "External Identifier", "e.g. 01GWA-12345", "lookup"),
    "home_walk": ("home_walk", "Start a walkthrough", "Which procedure?", "e.g. receiving items", "walk"),
}
CALLBACKS = {m[0]: m[4] for m in MODALS.values()}


def facts(services: Services, user: str) -> HomeFacts:
    """Everything the Home tab shows, from the store and caches only (no Alma call on opening a tab)."""
    s = services.settings
    today = datetime.now(ZoneInfo(s.timezone)).date().isoformat()
    expiry = []
    for inst in s.institutions:
        expiry.append((inst.name, inst.code, last_known(services.store, inst.code)))
    index: tuple[tuple[str, str], ...] = ()
    docs: tuple[str, ...] = ()
    if s.institutions or s.docs:
        ov = overview(services)
        index = tuple((st.name, st.index_synced) for st in ov.institutions)
        docs = tuple(docs_lines(ov))
    topics = services.engine.topics
    try:  # only looks: closing or restarting is said to the person when they go on, not lost in the tab
        walk = services.walkthroughs.active_for(user, settle=False)
    except WalkError:  # its procedure left the documentation: the tab shows no open walkthrough
        walk = None
    return HomeFacts(walk=walk, today=today, expiry=tuple(expiry),
                     topics=len(topics), procedures=sum(1 for t in topics if t.is_procedure), index=index,
                     docs=docs)


def publish(services: Services, client: WebClient, user: str) -> None:
    client.views_publish(user_id=user, view=home_view(facts(services, user)))


def on_home_opened(event: dict[str, object], client: WebClient, context: BoltContext) -> None:
    if event.get("tab") != "home":
        return
    user = text(event, "user")
    if user:
        publish(services_of(context), client, user)


def on_home_button(ack: Ack, body: dict[str, object], client: WebClient, context: BoltContext) -> None:
    ack()
    actions = body.get("actions")
    modal = MODALS.get(text(actions[0] if isinstance(actions, list) and actions else {}, "action_id"))
    if modal is None:
        return
    callback, title, label, hint, _command = modal
    # a failure here (expired_trigger_id when Slack was slow) is told to the person by the guard in register()
    client.views_open(trigger_id=text(body, "trigger_id"), view=input_modal(callback, title, label, hint))


def to_dm(services: Services, client: WebClient, user: str, reply: CommandReply) -> None:
    """Post a reply in the app's DM with the person (from the Home tab there is no message to answer)."""
    posted = client.chat_postMessage(channel=user, **render(reply).kwargs())
    if isinstance(reply, Deferred):
        later(services, reply, lambda final: client.chat_update(channel=str(posted["channel"]), ts=str(posted["ts"]),
                                                                **render(final).kwargs()))


def on_home_resume(ack: Ack, body: dict[str, object], client: WebClient, context: BoltContext) -> None:
    ack()
    services = services_of(context)
    user = text(body, "user", "id")
    try:
        walk = services.walkthroughs.active_for(user)
    except WalkError as exc:  # its procedure left the documentation since the tab was drawn
        to_dm(services, client, user, TextReply(str(exc)))
        return
    if walk is not None:
        to_dm(services, client, user, WalkReply(walk, note="Resumed from the Home tab."))


def on_home_submit(ack: Ack, body: dict[str, object], view: dict[str, object], client: WebClient,
                   context: BoltContext) -> None:
    ack()  # closes the modal; the answer goes to the DM
    services = services_of(context)
    user = text(body, "user", "id")
    command = CALLBACKS.get(text(view, "callback_id"))
    if not user or command is None or not once(services, f"view:{text(view, 'id')}:{text(view, 'hash')}"):
        return
    typed = incoming(text(view, "state", "values", "q", "text", "value"))
    to_dm(services, client, user, dispatch(context_for(services, user, user), f"{command} {typed}"))
