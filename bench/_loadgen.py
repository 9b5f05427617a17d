"""The asyncio HTTP/1.1 load generator of the benchmarks, run in its own process by
``_common.run_loadgen`` (it reads a JSON job from stdin and prints the figures as JSON).

Not a benchmark itself. Closed loop, or open loop at a fixed rate (see bench/README.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from _common import percentile


async def _read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes] | None:
    """(status line, body) of one response; None when the server closed the connection."""
    status_line = await reader.readline()
    if not status_line:
        return None
    length, chunked = 0, False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if not chunked:
        return status_line, await reader.readexactly(length)
    body = bytearray()
    while size := int((await reader.readline()).split(b";")[0], 16):
        body += await reader.readexactly(size)
        await reader.readline()
    await reader.readline()  # the empty line after the last chunk
    return status_line, bytes(body)


async def loadgen(job: dict[str, Any]) -> dict[str, Any]:
    """Keep-alive HTTP/1.1 over raw asyncio streams, one request in flight per connection.

    Closed loop (``rate`` None): each connection sends its next request when the previous
    answer is in; latency = answer - send. Open loop (``rate`` R): request i is due at
    start + i/R; a free connection takes the next due request, waiting for its time, and its
    latency is counted from that time, so waiting for a free connection (queueing) counts.
    """
    parts = urlsplit(job["url"])
    requests = job.get("raw") or [r.encode() for r in job["requests"]]
    expect = [e.encode() for e in job["expect"]]
    connections, seconds, rate = job["connections"], job["seconds"], job["rate"]
    latencies: list[float] = []
    lags: list[float] = []
    errors = sent_count = counter = 0
    sample: str | None = None
    streams = [await asyncio.open_connection(parts.hostname, parts.port)
               for _ in range(connections)]
    start = time.perf_counter() + 0.01
    deadline = start + seconds
    hard_deadline = deadline + (10 if rate else 0)

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal errors, counter, sent_count, sample
        try:
            while True:
                index = counter
                counter += 1
                request = requests[index % len(requests)]
                if rate:
                    due = start + index / rate
                    if due >= deadline:
                        return
                    if (wait := due - time.perf_counter()) > 0:
                        await asyncio.sleep(wait)
                    elif time.perf_counter() > hard_deadline:
                        return
                    sent = time.perf_counter()
                    lags.append(sent - due)
                else:
                    due = sent = time.perf_counter()
                    if sent >= deadline:
                        return
                writer.write(request)
                sent_count += 1
                try:
                    answer = await _read_response(reader)
                except (OSError, asyncio.IncompleteReadError) as exc:
                    answer, sample = None, sample or repr(exc)
                if answer is None:  # the server closed or reset the connection
                    errors += 1
                    return
                latencies.append(time.perf_counter() - due)
                status, body = answer
                if not status.startswith(b"HTTP/1.1 2") or not all(e in body for e in expect):
                    errors += 1
                    sample = sample or (status + body[:500]).decode(errors="replace")
        finally:
            writer.close()

    await asyncio.gather(*(connection(r, w) for r, w in streams))
    elapsed = time.perf_counter() - start
    latencies.sort()
    lags.sort()
    unsent = max(0, math.ceil(seconds * rate) - sent_count) if rate else 0
    return {"requests_per_s": len(latencies) / elapsed, "p50_ms": percentile(latencies, 0.50),
            "p99_ms": percentile(latencies, 0.99), "requests": len(latencies), "errors": errors,
            "tool": "python-asyncio" + (" (open loop)" if rate else ""),
            "connections": connections, "rate": rate,
            "send_lag_p99_ms": percentile(lags, 0.99) if rate else None, "unsent": unsent,
            "error_sample": sample}


def main() -> int:
    job = json.loads(sys.stdin.read())
    if job.get("requests_file"):
        job["raw"] = Path(job["requests_file"]).read_bytes().split(b"\0")[:-1]
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    print(json.dumps(asyncio.run(loadgen(job))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
