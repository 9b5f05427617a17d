"""Time-ordered identifiers (UUIDv7, RFC 9562), so primary keys double as cursors."""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last = 0


def uuid7() -> uuid.UUID:
    """A UUIDv7: 48-bit millisecond timestamp, then randomness; monotonic within a process."""
    global _last
    with _lock:
        ms = time.time_ns() // 1_000_000
        rand = int.from_bytes(os.urandom(10), "big")
        value = (ms << 80) | (rand & ((1 << 80) - 1))
        if value <= _last:
            value = _last + 1
        _last = value
    value &= ~(0xF << 76)
    value |= 0x7 << 76  # version 7
    value &= ~(0x3 << 62)
    value |= 0x2 << 62  # RFC 4122 variant
    return uuid.UUID(int=value)
