"""Step-by-step walkthroughs, kept in the store so a restart loses nothing.

Every move carries the version the person saw. The row is updated only if that version is still
current (``UPDATE … WHERE version = ?``), so a double click on Next, or a click on an old message, moves
at most once and never skips a step; the loser simply gets the current state back.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

from sqlalchemy import RowMapping, insert, select, update

from bot.core.kb import Topic
from bot.edges.store import Store, utcnow, walkthroughs

ACTIONS = ("next", "back", "done", "stop")


@dataclass(frozen=True)
class Walk:
    id: str
    user_id: str
    topic: Topic
    step: int  # 0-based
    status: str  # active / done / stopped
    version: int
    moved: bool = True  # False when a click was stale or a duplicate and changed nothing
    note: str = ""  # said with the step: the procedure changed since the person started, so it began again

    @property
    def total(self) -> int:
        return len(self.topic.steps)

    @property
    def is_last(self) -> bool:
        return self.step >= self.total - 1

    @property
    def token(self) -> str:
        """What a button carries: the walkthrough and the version it was drawn from."""
        return f"{self.id}:{self.version}"


class WalkError(LookupError):
    """The walkthrough is unknown or its topic no longer exists."""


class WalkGone(WalkError):
    """The open walkthrough's procedure left the documentation or lost its numbered steps: it has been
    closed, and the message says so."""


def fingerprint(topic: Topic) -> str:
    """A digest of a procedure's steps: when it differs, the step a person stopped at may now be another."""
    return hashlib.sha256("\n".join(s.text for s in topic.steps).encode("utf-8", "replace")).hexdigest()


def _place(topic: Topic) -> str:
    """Where a procedure sits (every heading above it, and its own), to tell it from another under its id."""
    return _short(" › ".join((*topic.trail, topic.title)) if topic.from_docs else topic.title, 255)


def _short(title: str, limit: int = 120) -> str:
    return title if len(title) <= limit else title[:limit - 1].rstrip() + "…"


class Walkthroughs:
    """``fresh``, when given, returns the topics as the documentation index has them now (building the engine
    again when another process re-indexed since this one loaded it): a walkthrough is closed or restarted only
    on that view, never because this process has not caught up yet."""

    def __init__(self, store: Store, topics: dict[str, Topic],
                 fresh: Callable[[], dict[str, Topic]] | None = None) -> None:
        self.store = store
        self.topics = topics
        self.fresh = fresh

    def _topic(self, topic_id: str, then_print: str, total: int, then_title: str = "") -> tuple[Topic | None, str]:
        """The walkthrough's procedure now and its verdict: '' (as it was), 'gone' or 'changed'. A verdict
        other than '' is checked again on the freshest view of the documentation. An id that now names a
        section under another heading (a second "Steps" put in above the person's) is another procedure:
        gone."""
        for attempt in range(2):
            topic = self.topics.get(topic_id)
            if topic is None or not topic.steps or (then_title and then_title not in (
                    _place(topic), _short(topic.title, 255), _short(topic.place_title, 255))):
                verdict = "gone"
            elif then_print:
                verdict = "changed" if then_print != fingerprint(topic) else ""
            else:  # started before schema 5: only the number of steps was kept
                verdict = "changed" if total != len(topic.steps) else ""
            if not verdict or attempt or self.fresh is None:
                return topic, verdict
            self.topics = self.fresh()
        raise AssertionError("unreachable")

    def _walk(self, row: object, settle: bool = True) -> Walk:
        """The walkthrough of a row, checked against the procedure as the documentation has it now. With
        ``settle``, an open one whose procedure is gone (or has no steps any more) is closed and WalkGone says
        so, and one whose steps changed begins again at step 1 and says why (the old step number may now be
        another step). Without it nothing is written: a gone one raises WalkError, a changed one is shown as
        stored (the Home tab's summary; the person hears about the change when they go on)."""
        m: RowMapping = row._mapping  # type: ignore[attr-defined]
        topic, verdict = self._topic(m["topic_id"], m["fingerprint"], m["total"], m["title"])
        title = _short(" › ".join(m["title"].split(" › ")[-2:]) if m["title"] else (
            topic.place_title if topic is not None else m["topic_id"]))
        if verdict == "gone" or topic is None:
            if settle and m["status"] == "active":
                self._close(m["id"], m["version"])
                raise WalkGone(f"The procedure you were following, “{title}”, is no longer in the documentation "
                               "(its page was removed or renamed, or it has no numbered steps any more), so that "
                               "walkthrough is closed. `/p2p walk <procedure>` starts another.")
            raise WalkError(f"the procedure “{title}” is no longer in the documentation")
        if verdict == "changed" and settle and m["status"] == "active":
            return self._restart(m, topic)
        if not m["fingerprint"] and not verdict and m["status"] == "active":
            self._remember(m, topic)  # a walkthrough from before schema 5: keep its steps' digest from now on
        step = min(m["step"], max(len(topic.steps) - 1, 0))
        return Walk(m["id"], m["user_id"], topic, step, m["status"], m["version"])

    def _close(self, walk_id: str, version: int) -> None:
        with self.store.begin() as conn:
            conn.execute(update(walkthroughs).where((walkthroughs.c.id == walk_id) & (walkthroughs.c.version == version))
                         .values(status="stopped", updated_at=utcnow(), version=version + 1))

    def _remember(self, m: RowMapping, topic: Topic) -> None:
        with self.store.begin() as conn:
            conn.execute(update(walkthroughs).where((walkthroughs.c.id == m["id"])
                                                    & (walkthroughs.c.version == m["version"])
                                                    & (walkthroughs.c.fingerprint == ""))
                         .values(fingerprint=fingerprint(topic), title=_place(topic)))

    def _restart(self, m: RowMapping, topic: Topic) -> Walk:
        wid, version = m["id"], m["version"]
        with self.store.begin() as conn:
            res = conn.execute(update(walkthroughs).where((walkthroughs.c.id == wid)
                                                          & (walkthroughs.c.version == version))
                               .values(step=0, total=len(topic.steps), fingerprint=fingerprint(topic),
                                       title=_place(topic), updated_at=utcnow(), version=version + 1))
        note = (f"This procedure changed since you started it (it now has {len(topic.steps)} steps), so step "
                f"{m['step'] + 1} may be a different step now: starting again from step 1.")
        if res.rowcount == 0:  # another process restarted it first: what it wrote, with the same news
            return replace(self.get(wid), note=note)
        return Walk(wid, m["user_id"], topic, 0, "active", version + 1, True, note)

    def start(self, user_id: str, topic: Topic) -> Walk:
        """One walkthrough per person: starting one stops any other that is open."""
        if not topic.steps:
            raise WalkError(f"{topic.title} has no steps")
        now = utcnow()
        wid = uuid.uuid4().hex
        with self.store.begin() as conn:
            conn.execute(update(walkthroughs).where((walkthroughs.c.user_id == user_id)
                                                   & (walkthroughs.c.status == "active"))
                         .values(status="stopped", updated_at=now, version=walkthroughs.c.version + 1))
            conn.execute(insert(walkthroughs).values(id=wid, user_id=user_id, topic_id=topic.id, step=0,
                                                     total=len(topic.steps), status="active", version=0,
                                                     title=_place(topic), fingerprint=fingerprint(topic),
                                                     created_at=now, updated_at=now))
        return Walk(wid, user_id, topic, 0, "active", 0)

    def _row(self, walk_id: str) -> object:
        with self.store.engine.connect() as conn:
            row = conn.execute(select(walkthroughs).where(walkthroughs.c.id == walk_id)).first()
        if row is None:
            raise WalkError("that walkthrough is not known (it may be from another installation)")
        return row

    def get(self, walk_id: str, settle: bool = True) -> Walk:
        return self._walk(self._row(walk_id), settle)

    def active_for(self, user_id: str, settle: bool = True) -> Walk | None:
        """The person's open walkthrough; ``settle=False`` only looks (see _walk)."""
        with self.store.engine.connect() as conn:
            row = conn.execute(select(walkthroughs).where((walkthroughs.c.user_id == user_id)
                                                          & (walkthroughs.c.status == "active"))
                               .order_by(walkthroughs.c.updated_at.desc())).first()
        return self._walk(row, settle) if row is not None else None

    def move(self, token: str, action: str, user_id: str | None = None) -> Walk:
        """Apply Next / Back / Done / Stop drawn from ``token`` (``id:version``). Done and Stop end even a
        walkthrough whose procedure changed; Next and Back on one show it begun again, with the reason."""
        if action not in ACTIONS:
            raise WalkError(f"unknown walkthrough action '{action}'")
        walk_id, _, ver = token.partition(":")
        row = self._row(walk_id)
        if user_id is not None and row._mapping["user_id"] != user_id:  # type: ignore[attr-defined]
            raise WalkError("that walkthrough belongs to someone else; start your own with /p2p walk")
        ending = action in ("done", "stop")
        current = self._ending(row) if ending else self._walk(row)
        if not ver.isdigit() or int(ver) != current.version or current.status != "active" or current.note:
            return replace(current, moved=False)
        step, status = current.step, "active"
        if action == "next":
            if current.is_last:
                status = "done"
            else:
                step += 1
        elif action == "back":
            step = max(0, step - 1)
        elif action == "done":
            status = "done"
        else:
            status = "stopped"
        now = utcnow()
        values: dict[str, object] = {"step": step, "status": status, "updated_at": now,
                                     "version": current.version + 1}
        if status == "done":
            values["completed_at"] = now
        with self.store.begin() as conn:
            res = conn.execute(update(walkthroughs).where((walkthroughs.c.id == walk_id)
                                                          & (walkthroughs.c.version == current.version))
                               .values(**values))
        if res.rowcount == 0:  # someone else's click won the race
            return replace(self.get(walk_id, settle=False), moved=False)
        return Walk(current.id, current.user_id, current.topic, step, status, current.version + 1)

    def _ending(self, row: object) -> Walk:
        """The walkthrough a Done or Stop ends: as stored, even if its procedure changed since (a gone one is
        closed with WalkGone)."""
        try:
            return self._walk(row, settle=False)
        except WalkError:
            return self._walk(row, settle=True)  # its procedure is gone: this closes it and says so
