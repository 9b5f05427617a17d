"""Run wake-up callbacks after a commit that wrote something a background loop waits for.

The outbox relay and the job runner poll the database; a commit that added an event or a job
pokes them (:func:`poke_after_commit`) so they act at once instead of on their next poll.
Callbacks run synchronously in the committing task and must not block (set an
``asyncio.Event``). Pokes from other processes arrive by polling (or Redis, when configured).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

__all__ = ["add_listener", "poke_after_commit", "remove_listener"]

_LISTENERS: dict[str, list[Callable[[], None]]] = defaultdict(list)
_KEY = "relaydesk.commit_pokes"


def add_listener(channel: str, callback: Callable[[], None]) -> None:
    if callback not in _LISTENERS[channel]:
        _LISTENERS[channel].append(callback)


def remove_listener(channel: str, callback: Callable[[], None]) -> None:
    if callback in _LISTENERS[channel]:
        _LISTENERS[channel].remove(callback)


@sa_event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    for channel in session.info.pop(_KEY, ()):
        for callback in list(_LISTENERS.get(channel, ())):
            callback()


@sa_event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, _transaction: object) -> None:
    session.info.pop(_KEY, None)


def poke_after_commit(session: AsyncSession, channel: str) -> None:
    """After ``session`` next commits, call the listeners of ``channel`` (the listeners of
    every session's commit are registered once, on the class: per session it cost more than
    the rest of a small unit of work)."""
    session.sync_session.info.setdefault(_KEY, set()).add(channel)
