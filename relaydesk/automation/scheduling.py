"""Time-based triggers, both through the durable job queue.

**Cron**: each rule has at most one pending tick job, ``rules.cron`` with dedupe key
``rule:<rule id>:<tick ISO>``. Saving or enabling the rule enqueues the next tick; running a
tick first enqueues the one after it, then runs the rule. Several processes may enqueue the
same tick (an API node saving the rule while a worker runs the previous tick): the dedupe key
keeps one job, the job queue's lease gives it to one worker, and the execution's own dedupe
key makes a re-run after a crash resume instead of starting over: one execution per tick.
A tick that runs late (all workers were down) runs once; ticks missed meanwhile are not
replayed, the next one is the first after *now*.

**Absence** ("X not followed by Y with the same key within N minutes"): when X arrives the
consumer opens a :class:`RuleWatch` and enqueues ``rules.absence`` at the deadline (dedupe key
``rule:<rule id>:<X's id>``); a Y with the same key closes the rule's open watches. At the
deadline a still-open watch fires the rule with X as its trigger.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.automation.definition import Trigger
from relaydesk.automation.models import RuleWatch
from relaydesk.events.envelope import Envelope
from relaydesk.jobs import enqueue
from relaydesk.kit.db import utcnow

__all__ = ["ABSENCE_JOB", "CRON_JOB", "RESUME_JOB", "RUN_JOB", "open_watch", "schedule_tick",
           "tick_key"]  # fmt: skip

RUN_JOB = "rules.run"
RESUME_JOB = "rules.resume"
CRON_JOB = "rules.cron"
ABSENCE_JOB = "rules.absence"


def tick_key(rule_id: uuid.UUID, tick: dt.datetime) -> str:
    return f"rule:{rule_id}:{tick.astimezone(dt.UTC).isoformat()}"


async def schedule_tick(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    rule_id: uuid.UUID,
    trigger: Trigger,
    after: dt.datetime | None = None,
) -> dt.datetime:
    """Enqueue the first tick after ``after`` (default now); returns it (even when another
    process had enqueued it already)."""
    start = max(after or utcnow(), utcnow())
    tick = trigger.next_tick(start)
    await enqueue(session, CRON_JOB, {"rule_id": str(rule_id), "tick": tick.isoformat()},
                  tenant_id=tenant_id, run_at=tick, dedupe_key=tick_key(rule_id, tick))  # fmt: skip
    return tick


async def open_watch(
    session: AsyncSession,
    rule_id: uuid.UUID,
    version_id: uuid.UUID,
    trigger: Trigger,
    envelope: Envelope,
) -> None:
    assert trigger.within is not None
    deadline = envelope.occurred_at + trigger.within
    watch = RuleWatch(
        tenant_id=envelope.tenant_id, rule_id=rule_id, version_id=version_id,
        start_event_id=envelope.id, key=envelope.key, started_at=envelope.occurred_at,
        deadline=deadline, trigger=envelope.to_json(),
    )  # fmt: skip
    session.add(watch)
    await session.flush()
    await enqueue(session, ABSENCE_JOB, {"watch_id": str(watch.id)}, tenant_id=envelope.tenant_id,
                  run_at=deadline, dedupe_key=f"rule:{rule_id}:{envelope.id}")  # fmt: skip
