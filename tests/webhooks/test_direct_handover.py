"""The direct sender gets a consumer's deliveries only once the transaction commits: not when
the savepoint they were written in is released (the bus runs each consumer in a savepoint of
one shared transaction), never when that savepoint or the transaction rolls back, and a
rolled-back savepoint drops only what was written in it."""

from __future__ import annotations

from typing import Any

import pytest

from relaydesk.kit.db import Database
from relaydesk.webhooks.direct import hand_over_after_commit


class Sender:
    def __init__(self) -> None:
        self.got: list[Any] = []

    def submit(self, items: list[Any]) -> None:
        self.got += items


async def test_handed_over_at_the_commit_not_at_a_savepoint(db: Database) -> None:
    sender = Sender()
    async with db.job(system=True) as session:
        async with session.begin_nested():  # one consumer's savepoint
            hand_over_after_commit(session, sender, ["kept"])  # type: ignore[arg-type, list-item]
        assert sender.got == [], "a released savepoint is not the commit"
        with pytest.raises(RuntimeError):
            async with session.begin_nested():  # another consumer, rolled back alone
                async with session.begin_nested():
                    hand_over_after_commit(session, sender, ["dropped"])  # type: ignore[arg-type, list-item]
                raise RuntimeError
        async with session.begin_nested():
            hand_over_after_commit(session, sender, ["also kept"])  # type: ignore[arg-type, list-item]
        assert sender.got == []
    assert sender.got == ["kept", "also kept"]


async def test_nothing_handed_over_when_the_transaction_rolls_back(db: Database) -> None:
    sender = Sender()
    with pytest.raises(RuntimeError):
        async with db.job(system=True) as session:
            async with session.begin_nested():
                hand_over_after_commit(session, sender, ["lost"])  # type: ignore[arg-type, list-item]
            raise RuntimeError
    async with db.job(system=True) as session:  # the next transaction of a new session
        pass
    assert sender.got == []
