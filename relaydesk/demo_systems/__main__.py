"""``python -m relaydesk.demo_systems``: run the six demo systems in the foreground.

Prints their URLs and credentials, then serves until SIGINT/SIGTERM (Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from relaydesk.demo_systems.runner import banner, start_all, stop_all


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m relaydesk.demo_systems",
        description="Run the demo enterprise systems of 云栖优选.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument(
        "--base-port",
        type=int,
        default=8101,
        help="orders on this port, then logistics +1, CRM +2, tickets +4, "
        "finance +5 (default 8101; 0 = any free ports)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("var"),
        help="where the membership SQLite database lives (default ./var)",
    )
    parser.add_argument(
        "--membership-url", default=None, help="SQLAlchemy URL of the membership database instead"
    )
    parser.add_argument(
        "--ticket-callback-url",
        default=None,
        help="where the ticket system POSTs its signed status callbacks",
    )
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    urls = await start_all(
        args.host,
        args.base_port,
        data_dir=args.data_dir,
        membership_url=args.membership_url,
        ticket_callback_url=args.ticket_callback_url,
    )
    for line in banner(urls):
        print(line, flush=True)
    print("Press Ctrl-C to stop.", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await stop_all()


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    try:
        asyncio.run(_serve(args))
    except OSError as exc:
        print(f"demo systems: cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
