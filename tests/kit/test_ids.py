"""UUIDv7 ids sort in creation order within a process (the outbox relies on it)."""

from __future__ import annotations

import uuid

from relaydesk.kit import ids


def test_ids_are_monotonic_valid_v7_and_unique() -> None:
    made = [ids.uuid7() for _ in range(50_000)]  # many share a millisecond
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in made)


def test_ids_stay_ordered_when_the_random_part_overflows(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(ids.time, "time_ns", lambda: 1_763_700_000_000 * 1_000_000)
    monkeypatch.setattr(ids, "_last", ids._pack(1_763_700_000_000, ids._RAND_A, ids._RAND_B))
    after = ids.uuid7()
    assert after.int > ids._pack(1_763_700_000_000, ids._RAND_A, ids._RAND_B)
    assert after.version == 7 and after.variant == uuid.RFC_4122
    assert after.int >> 80 == 1_763_700_000_001  # carried into the timestamp


def test_a_clock_step_back_does_not_reorder(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    first = ids.uuid7()
    monkeypatch.setattr(ids.time, "time_ns", lambda: 0)
    assert ids.uuid7() > first
