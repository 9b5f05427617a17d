"""The load of ``bench/widget_latency.py`` (a process of its own): one agent socket and the
visitors' sockets; message *i* due at *start + i/rate* on visitor *i mod visitors*; prints
the latencies from each message's due time to its ack and to the agent's frame as JSON.

Reads its job (URLs, first frames, rate, warm-up, length, drain) as one JSON line on stdin.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import percentile

SITE = "https://shop.example.com"
TEXT = "你好，我的订单还没到，能帮我查一下吗？"


def _index(text: str, tag: str) -> int | None:
    head, _, rest = text.partition("#")
    return int(rest.split(" ", 1)[0]) if head == tag and rest else None


async def client(job: dict[str, Any]) -> dict[str, Any]:
    import websockets

    rate, warmup, seconds, tag = job["rate"], job["warmup"], job["seconds"], job["tag"]
    agent = await websockets.connect(job["agent_url"], ping_interval=None, max_size=2**22)
    if job["agent_first"]:
        await agent.send(job["agent_first"])
        while json.loads(await agent.recv()).get("type") != "ready":
            pass
    gate = asyncio.Semaphore(50)

    async def open_visitor(hello: str | None) -> Any:
        async with gate:
            ws = await websockets.connect(job["visitor_url"], origin=SITE,  # type: ignore[arg-type]
                                          ping_interval=None, open_timeout=60)  # fmt: skip
            if hello is not None:
                await ws.send(hello)
                while json.loads(await ws.recv()).get("type") != "ready":
                    pass
            return ws

    visitors = await asyncio.gather(*(open_visitor(h) for h in job["hellos"]))
    total = int((warmup + seconds) * rate)
    first = int(warmup * rate)  # the first counted message
    due: dict[int, float] = {}
    #: the opening: each visitor's first message (it starts the conversation), by visitor
    opened_due: dict[int, float] = {}
    opened: dict[int, float] = {}
    opening = asyncio.Event()
    pushed: dict[int, float] = {}
    acked: dict[int, float] = {}
    lags: list[float] = []
    errors: list[str] = []
    offline = 0
    done = asyncio.Event()

    def check_done() -> None:
        if len(due) == total and len(pushed) >= total - first and len(acked) >= total - first:
            done.set()

    async def read_agent() -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in agent:
                now = time.perf_counter()
                frame = json.loads(raw)
                if frame.get("type") == "event" and frame.get("event_type") == "message.received":
                    text = str(frame["payload"].get("text") or "")
                elif frame.get("type") == "message":  # the bare relay
                    text = str(frame.get("text") or "")
                else:
                    continue
                v = _index(text, f"{tag}-open")
                if v is not None and v not in opened:
                    opened[v] = now
                    if len(opened) == len(visitors):
                        opening.set()
                i = _index(text, tag)
                if i is not None and i >= first and i not in pushed:
                    pushed[i] = now
                    check_done()

    async def read_visitor(ws: Any) -> None:
        nonlocal offline
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in ws:
                now = time.perf_counter()
                frame = json.loads(raw)
                kind, client_id = frame.get("type"), str(frame.get("client_id") or "")
                if kind == "error":
                    errors.append(raw[:300])
                elif kind in ("ack", "message") and client_id.startswith("m"):
                    i = int(client_id[1:])
                    offline += bool(frame.get("offline"))
                    if i >= first:
                        acked[i] = now
                        check_done()

    readers = [asyncio.create_task(read_agent())]
    readers += [asyncio.create_task(read_visitor(ws)) for ws in visitors]
    # the opening: each visitor's first message starts a conversation (the new-conversation
    # path: routing, rules); sent at the same rate, timed on their own, and waited for (then
    # ``settle`` seconds) so that the steady state measured next does not start in its backlog
    start = time.perf_counter() + 0.05
    for v, ws in enumerate(visitors):
        opened_due[v] = when = start + v / rate
        if (wait := when - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        await ws.send(json.dumps({"type": "message", "text": f"{tag}-open#{v} {TEXT}",
                                  "client_id": f"o{v}"}, ensure_ascii=False))  # fmt: skip
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(opening.wait(), job["drain"])
    await asyncio.sleep(job.get("settle", 2.0))
    start = time.perf_counter() + 0.05
    for i in range(total):
        when = start + i / rate
        if i == first:
            print("measure", flush=True)  # the parent starts counting CPU (and py-spy)
        if (wait := when - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        lags.append(time.perf_counter() - when)
        due[i] = when
        text = f"{tag}#{i} {TEXT}"
        ws = visitors[i % len(visitors)]
        try:
            await ws.send(json.dumps({"type": "message", "text": text, "client_id": f"m{i}"},
                                     ensure_ascii=False))  # fmt: skip
        except websockets.ConnectionClosed as exc:
            errors.append(f"visitor socket closed: {exc}")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), job["drain"])
    print("done", flush=True)
    for task in readers:
        task.cancel()
    await asyncio.gather(agent.close(), *(ws.close() for ws in visitors), return_exceptions=True)
    counted = range(first, total)
    # what the server got through: acks of counted messages per second of the counted span
    span = max(acked.values(), default=0.0) - (start + first / rate)
    served = len([i for i in counted if i in acked]) / span if span > 0 else 0.0
    push = sorted(pushed[i] - due[i] for i in counted if i in pushed)
    ack = sorted(acked[i] - due[i] for i in counted if i in acked)
    lag = sorted(lags[first:])
    opening_push = sorted(opened[v] - opened_due[v] for v in opened)
    return {"visitors": len(visitors), "opened": len(opened),
            "open_p50_ms": percentile(opening_push, 0.5),
            "open_p99_ms": percentile(opening_push, 0.99),
            "messages": len(counted), "pushed": len(push), "acked": len(ack),
            "errors": len(errors), "error_sample": errors[0] if errors else None,
            "offline": offline, "push_p50_ms": percentile(push, 0.5),
            "push_p99_ms": percentile(push, 0.99), "push_max_ms": push[-1] * 1000 if push else None,
            "ack_p50_ms": percentile(ack, 0.5), "ack_p99_ms": percentile(ack, 0.99),
            "send_lag_p99_ms": percentile(lag, 0.99), "acked_per_s": served}  # fmt: skip


def client_main() -> int:
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    job = json.loads(sys.stdin.readline())
    print(json.dumps(asyncio.run(client(job))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(client_main())
