"""Event log use cases: browse events and their delivery, dead letters, replay (audited).

A replay does not call consumers itself: it queues (consumer, event) deliveries as failure
records due now, marked ``replayed_at``, which the leader's retry loop runs like any retry,
in event order per key, without holding back new events of the same key. That works the
same with either bus backend and survives restarts.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit import service as audit
from relaydesk.audit.service import Actor
from relaydesk.errors import Conflict, ValidationFailed
from relaydesk.events.consumers import Consumer, consumers
from relaydesk.events.models import EventFailure, OutboxEvent, ProcessedEvent
from relaydesk.events.outbox import RETRY_CHANNEL
from relaydesk.events.repository import EventRepository, FailureRepository
from relaydesk.events.schemas import ConsumerStatusOut
from relaydesk.kit.commit_hooks import poke_after_commit
from relaydesk.kit.db import utcnow
from relaydesk.kit.ids import uuid7
from relaydesk.kit.pagination import PageParams

__all__ = ["REPLAY_LIMIT", "EventService", "ReplayResult"]

#: most events one replay request may cover (narrow the window or the type beyond that)
REPLAY_LIMIT = 10_000
_CHUNK = 500


@dataclass(frozen=True)
class ReplayResult:
    events: int
    deliveries: int
    skipped: int


def _invalid(loc: list[str], message: str, kind: str = "value_error") -> ValidationFailed:
    return ValidationFailed(message, details=[{"loc": loc, "msg": message, "type": kind}])


class EventService:
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.session = session
        self.actor = actor
        self.events = EventRepository(session)
        self.failures = FailureRepository(session)

    # --- reading ------------------------------------------------------------------------

    async def search(
        self,
        params: PageParams,
        *,
        event_type: str | None = None,
        key: str | None = None,
        since: dt.datetime | None = None,
    ) -> tuple[Sequence[OutboxEvent], str | None]:
        stmt = self.events.search(event_type=event_type, key=key, since=since)
        return await self.events.page_of(stmt, params)

    async def get(self, event_id: uuid.UUID) -> tuple[OutboxEvent, list[ConsumerStatusOut]]:
        event = await self.events.get_or_404(event_id)
        processed = await self.events.processed(event_id)
        failures = await self.failures.for_event(event_id)
        names = {c.name for c in consumers() if c.wants(event.type)}
        names.update(processed, failures)
        statuses = [
            ConsumerStatusOut.of(name, processed.get(name), failures.get(name))
            for name in sorted(names)
        ]
        return event, statuses

    async def dead_letters(
        self, params: PageParams, *, consumer: str | None = None, event_type: str | None = None
    ) -> tuple[Sequence[EventFailure], str | None]:
        return await self.failures.page(
            self.failures.dead(consumer=consumer, event_type=event_type), params
        )

    # --- replay -------------------------------------------------------------------------

    async def replay_dead_letter(self, failure_id: uuid.UUID) -> EventFailure:
        """Run the consumer on a dead letter's event again (by the retry loop, at once)."""
        failure = await self.failures.get_or_404(failure_id)
        if not failure.dead:
            raise Conflict(
                f"dead letter {failure_id} is not dead: it is still being retried "
                f"(attempt {failure.attempts}, next at {failure.next_attempt_at})"
            )
        now = utcnow()
        failure.dead, failure.attempts = False, 0
        failure.replayed_at = failure.next_attempt_at = now
        await self.session.flush()
        poke_after_commit(self.session, RETRY_CHANNEL)
        await audit.record(
            self.session, tenant_id=failure.tenant_id, action="events.dead_letter_replayed",
            actor=self.actor, target_type="event", target_id=failure.event_id,
            details={"consumer": failure.consumer, "event_type": failure.event_type,
                     "dead_letter_id": str(failure.id)},
        )  # fmt: skip
        return failure

    async def replay(
        self,
        *,
        since: dt.datetime,
        until: dt.datetime | None = None,
        event_type: str | None = None,
        consumer: str | None = None,
        force: bool = False,
        limit: int = REPLAY_LIMIT,
    ) -> ReplayResult:
        """Deliver the published events of [since, until) again to the consumers that want
        them (or to ``consumer`` only); by default skipping those already processed."""
        targets = self._targets(consumer)
        now = utcnow()
        if since > now:
            raise _invalid(["body", "since"], "since is in the future")
        if until is not None and until <= since:
            raise _invalid(["body", "until"], "until must be after since")
        stmt = self.events.search(event_type=event_type, since=since, until=until).where(
            OutboxEvent.published_at.is_not(None)
        )
        events = await self.events.oldest_first(stmt, limit + 1)
        if len(events) > limit:
            raise _invalid(
                ["body", "since"],
                f"more than {limit} events since {since.isoformat()}: narrow the window "
                "(until) or the type, and replay in several steps",
                "too_many_events",
            )
        wanted: set[uuid.UUID] = set()
        deliveries = skipped = 0
        for target in targets:
            mine = [e for e in events if target.wants(e.type)]
            for start in range(0, len(mine), _CHUNK):
                queued, passed = await self._queue(target, mine[start : start + _CHUNK], force)
                deliveries, skipped = deliveries + queued, skipped + passed
            wanted.update(e.id for e in mine)
        result = ReplayResult(len(wanted), deliveries, skipped)
        await audit.record(
            self.session, tenant_id=self.events.tenant_id, action="events.replayed",
            actor=self.actor, target_type="events",
            details={"since": since.isoformat(), "until": until.isoformat() if until else None,
                     "type": event_type, "consumer": consumer, "force": force,
                     "events": result.events, "deliveries": deliveries, "skipped": skipped},
        )  # fmt: skip
        return result

    def _targets(self, name: str | None) -> list[Consumer]:
        registered = sorted(consumers(), key=lambda c: c.name)
        if name is None:
            return registered
        found = [c for c in registered if c.name == name]
        if not found:
            known = ", ".join(c.name for c in registered) or "none"
            raise _invalid(["body", "consumer"], f"no consumer {name!r} (known: {known})",
                           "unknown_consumer")  # fmt: skip
        return found

    async def _queue(
        self, consumer: Consumer, events: Sequence[OutboxEvent], force: bool
    ) -> tuple[int, int]:
        ids = [e.id for e in events]
        processed = await self.events.processed_by(consumer.name, ids)
        if not force:
            events = [e for e in events if e.id not in processed]
        elif processed:
            await self.session.execute(
                delete(ProcessedEvent).where(
                    ProcessedEvent.consumer == consumer.name,
                    ProcessedEvent.event_id.in_(processed),
                )
            )
        skipped = len(ids) - len(events)
        poke_after_commit(self.session, RETRY_CHANNEL)  # the retry loop runs them at once
        existing = await self.failures.by_pairs(consumer.name, [e.id for e in events])
        now = utcnow()
        fresh = [
            {"id": uuid7(), "created_at": now, "tenant_id": e.tenant_id,
             "consumer": consumer.name, "event_id": e.id, "event_type": e.type,
             "event_key": e.key, "attempts": 0, "error": "replay requested",
             "first_failed_at": now, "last_failed_at": now, "next_attempt_at": now,
             "dead": False, "replayed_at": now}
            for e in events if e.id not in existing
        ]  # fmt: skip
        if fresh:
            await self.session.execute(insert(EventFailure), fresh)
        if existing:
            await self.session.execute(
                update(EventFailure)
                .where(EventFailure.id.in_([row.id for row in existing.values()]))
                .values(attempts=0, dead=False, replayed_at=now, next_attempt_at=now,
                        error="replay requested")
                .execution_options(synchronize_session=False)
            )  # fmt: skip
        return len(events), skipped
