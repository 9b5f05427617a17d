"""The receiver of bench/events_e2e.py: a bare asyncio HTTP/1.1 server on loopback (its own
process) that answers 200 to every POST and records when each ``"seq":N`` arrived.
``GET /count`` says how many arrived, ``GET /arrivals`` returns ``{seq: unix time}`` and
forgets them. Not a benchmark: run through ``events_e2e.py --receiver PORT``.
"""

from __future__ import annotations

import asyncio
import json
import re
import time

_SEQ = re.compile(rb'"seq":(\d+)')


async def _receive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   arrivals: dict[int, float]) -> None:  # fmt: skip
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length) if length else b""
            now = time.time()
            if head.startswith(b"GET /arrivals"):
                data = json.dumps(arrivals).encode()
                arrivals.clear()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(data), data))  # fmt: skip
            elif head.startswith(b"GET /count"):
                data = str(len(arrivals)).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(data), data))
            else:
                m = _SEQ.search(body)
                if m is not None:
                    arrivals.setdefault(int(m.group(1)), now)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def run_receiver(port: int) -> None:
    arrivals: dict[int, float] = {}

    async def main() -> None:
        server = await asyncio.start_server(
            lambda r, w: _receive(r, w, arrivals), "127.0.0.1", port, backlog=1024)  # fmt: skip
        async with server:
            await server.serve_forever()

    asyncio.run(main())
