"""Time-ordered identifiers (UUIDv7, RFC 9562), so primary keys double as cursors."""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last = 0


_RAND_B = (1 << 62) - 1
_RAND_A = (1 << 12) - 1


def _pack(ms: int, rand_a: int, rand_b: int) -> int:
    return (ms << 80) | (0x7 << 76) | (rand_a << 64) | (0x2 << 62) | rand_b


def uuid7() -> uuid.UUID:
    """A UUIDv7: 48-bit millisecond timestamp, then randomness; monotonic within a process.

    Within one millisecond (or if the clock steps back) the next id is the previous one plus
    one in its random bits, so ids made by one process always sort in creation order.
    """
    global _last
    with _lock:
        ms = time.time_ns() // 1_000_000
        rand = int.from_bytes(os.urandom(10), "big")
        value = _pack(ms, (rand >> 62) & _RAND_A, rand & _RAND_B)
        if value <= _last:
            last_ms, rand_a, rand_b = _last >> 80, (_last >> 64) & _RAND_A, (_last & _RAND_B) + 1
            if rand_b > _RAND_B:
                rand_b, rand_a = 0, rand_a + 1
                if rand_a > _RAND_A:
                    rand_a, last_ms = 0, last_ms + 1
            value = _pack(last_ms, rand_a, rand_b)
        _last = value
    return uuid.UUID(int=value)
