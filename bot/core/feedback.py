"""👍 / 👎 on answers: one vote per person, question and topic (a database constraint), and the worst rated."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from bot.edges.store import Store, feedback, utcnow


def record_vote(store: Store, user_id: str, question: str, topic_id: str, value: int) -> bool:
    """Keep a vote; False when this person already rated this answer to this question."""
    try:
        with store.begin() as conn:
            conn.execute(insert(feedback).values(created_at=utcnow(), user_id=user_id, question=question[:2000],
                                                 topic_id=topic_id, vote=1 if value > 0 else -1))
    except IntegrityError:
        return False
    return True


def worst_rated(store: Store, limit: int = 20) -> list[dict[str, Any]]:
    """Questions whose answers were rated worst (most 👎 net of 👍)."""
    score = func.sum(feedback.c.vote)
    q = (select(feedback.c.question, feedback.c.topic_id, score.label("score"), func.count().label("votes"))
         .group_by(feedback.c.question, feedback.c.topic_id).order_by(score, func.count().desc()).limit(limit))
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]
