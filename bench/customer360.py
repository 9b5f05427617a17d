"""Customer 360 benchmark: the four demo panels (orders, latest shipment, membership, CRM) of a
customer, cold (panel cache empty) and warm (cached), against direct calls to the same demo
systems in the same run.

Starts the demo enterprise systems (``python -m relaydesk.demo_systems``, free loopback ports)
and Relaydesk (``uvicorn``, one worker, a temporary data dir, the demo organisation seeded by
``seed_demo(settings, systems_base_port=...)`` with its connector instances, then the demo
panels of :mod:`relaydesk.demo.panels`), signs in as the demo agent and, one request at a
time, for each of the 30 demo customers:

(a) baseline: the four calls the panels make, sent straight to the systems (the signed order
    list, the waybill's tracking, the member row by SQL, the CRM contact with a cached
    bearer token), each timed alone; the figure is the **slowest single call** of the four,
    and also the orders → tracking chain (the tracking panel needs the order's waybill);
(b) cold: ``GET /api/v1/customers/{id}/panels`` with the panel cache empty (each round
    first touches every panel's configuration, which starts its cache afresh; the systems'
    connections and the CRM token stay warm, as in a running server);
(c) warm: the same request again, every panel served from the cache (still permission-
    checked, masked and audited: one write of four call-log and audit rows).

Every answer is checked: four panels, ``ok``, ``cached`` false (cold) or true (warm).
Prints p50/p99 of each and the ratios (b)/(a) and (c)/(a). See docs/customer360.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import socket
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from _common import load_average, percentile, process, server, wait_for_quiet

PASSWORD = "relaydesk-demo"  # the published demo login (relaydesk.demo.seed)
FACTORY = "customer360:relaydesk_with_panels"


def relaydesk_with_panels() -> Any:
    """Relaydesk as served, with the Customer 360 routes included if app.py does not yet."""
    from _common import relaydesk_app

    app = relaydesk_app()
    if not any(getattr(r, "path", "") == "/api/v1/customer-panels" for r in app.router.routes):
        from fastapi import APIRouter

        from relaydesk.customer360.api import router

        holder = APIRouter(prefix="/api/v1")
        holder.include_router(router)
        before = len(app.router.routes)
        app.include_router(holder)
        added = app.router.routes[before:]
        del app.router.routes[before:]
        app.router.routes[0:0] = added
    return app


def free_base_port() -> int:
    from relaydesk.demo_systems.runner import PORT_OFFSETS

    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20_000, 60_000)
        try:
            for offset in PORT_OFFSETS.values():
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        return base
    raise SystemExit("no free range of loopback ports")


async def prepare(env: dict[str, str], base_port: int) -> None:
    """Migrate; the demo organisation with its connectors (as ``make demo``); its panels."""
    from relaydesk.config import load_settings
    from relaydesk.demo.panels import seed_panels
    from relaydesk.demo.seed import seed_demo
    from relaydesk.kit.db import Database
    from relaydesk.migrations.runner import upgrade

    os.environ.update(env)
    settings = load_settings()
    db = Database.from_url(settings.database_url)
    try:
        await upgrade(db.engine)
        await seed_demo(settings, systems_base_port=base_port)
        await seed_panels(db, settings)
    finally:
        await db.dispose()


# --- direct calls (the baseline) ---


class Direct:
    """The four panels' requests, straight to the demo systems."""

    def __init__(self, client: Any, urls: dict[str, str], members_db: Path) -> None:
        from relaydesk.demo_systems import credentials

        self.client, self.urls, self.cred = client, urls, credentials
        self.members = sqlite3.connect(members_db)
        answer = client.post(f"{urls['crm']}/oauth/token", data={
            "grant_type": "client_credentials", "client_id": credentials.CRM_CLIENT_ID,
            "client_secret": credentials.CRM_CLIENT_SECRET, "scope": "contacts.read"})  # fmt: skip
        answer.raise_for_status()
        self.token = answer.json()["access_token"]

    def orders(self, mobile: str) -> list[dict[str, Any]]:
        params = {"buyerMobile": mobile, "pageNo": "1", "pageSize": "5",
                  "appKey": self.cred.ORDERS_APP_KEY, "timestamp": str(int(time.time() * 1000)),
                  "nonce": uuid.uuid4().hex}  # fmt: skip
        secret = self.cred.ORDERS_APP_SECRET
        canonical = secret + "".join(k + v for k, v in sorted(params.items()) if v) + secret
        params["sign"] = hashlib.md5(canonical.encode(), usedforsecurity=False).hexdigest().upper()
        answer = self.client.get(f"{self.urls['orders']}/api/v1/orders", params=params)
        answer.raise_for_status()
        assert answer.json()["code"] == "0", answer.text
        return list(answer.json()["data"]["list"])

    def tracking(self, waybill: str) -> None:
        answer = self.client.get(f"{self.urls['logistics']}/track", params={"waybill": waybill},
                                 headers={"X-Logistics-Key": self.cred.LOGISTICS_API_KEY,
                                          "Accept": "application/xml"})  # fmt: skip
        assert answer.status_code in (200, 404), answer.text

    def member(self, mobile: str) -> None:
        self.members.execute(
            "SELECT m.member_id, m.tier, m.points, (SELECT MIN(l.created_at) FROM points_ledger l"
            " WHERE l.member_id = m.member_id) FROM members m WHERE m.mobile = ?",
            (mobile,),
        ).fetchall()

    def contact(self, mobile: str) -> None:
        answer = self.client.get(f"{self.urls['crm']}/api/v1/contacts", params={"mobile": mobile},
                                 headers={"Authorization": f"Bearer {self.token}"})  # fmt: skip
        answer.raise_for_status()

    def round(self, mobile: str) -> tuple[float, float]:
        """(slowest single call, orders → tracking chain), in seconds."""
        timed: dict[str, float] = {}
        started = time.perf_counter()
        orders = self.orders(mobile)
        timed["orders"] = time.perf_counter() - started
        waybill = next((o["logistics"]["waybillNo"] for o in orders
                        if (o.get("logistics") or {}).get("waybillNo")), None)  # fmt: skip
        started = time.perf_counter()
        if waybill:
            self.tracking(waybill)
        timed["tracking"] = time.perf_counter() - started
        for name, call in (("member", self.member), ("contact", self.contact)):
            started = time.perf_counter()
            call(mobile)
            timed[name] = time.perf_counter() - started
        return max(timed.values()), timed["orders"] + timed["tracking"]


# --- the run ---


def run(args: argparse.Namespace, workdir: Path) -> dict[str, list[float]]:
    import httpx

    from relaydesk.demo_systems.runner import PORT_OFFSETS

    data_dir = workdir / "data"
    data_dir.mkdir()
    env = {"RELAYDESK_DATA_DIR": str(data_dir),
           "RELAYDESK_DATABASE__URL": args.database_url
           or f"sqlite+aiosqlite:///{data_dir / 'relaydesk.db'}",
           "RELAYDESK_HTTP__RATE_LIMIT_IP_PER_MINUTE": str(10**9)}  # fmt: skip
    base_port = free_base_port()
    asyncio.run(prepare(env, base_port))
    systems = [sys.executable, "-m", "relaydesk.demo_systems", "--base-port", str(base_port),
               "--data-dir", str(data_dir)]  # fmt: skip
    ports = [base_port + o for name, o in PORT_OFFSETS.items() if name != "membership"]
    urls = {name: f"http://127.0.0.1:{base_port + PORT_OFFSETS[name]}"
            for name in ("orders", "logistics", "crm")}  # fmt: skip
    figures: dict[str, list[float]] = {"slowest": [], "chain": [], "cold": [], "warm": []}
    with process(systems, {}, data_dir / "systems.log", ports), \
            server(FACTORY, env, data_dir / "relaydesk.log") as (base, _pid), \
            httpx.Client(timeout=30) as client:  # fmt: skip

        def login(local: str) -> dict[str, str]:
            answer = client.post(f"{base}/api/v1/auth/login", json={
                "tenant": "demo", "email": f"{local}@demo.relaydesk.local",
                "password": PASSWORD})  # fmt: skip
            answer.raise_for_status()
            return {"Authorization": f"Bearer {answer.json()['access_token']}"}

        agent, admin, owner = login("agent"), login("admin"), login("owner")
        # the owner sees the phones in clear: the direct calls need them
        people = [(c["id"], c["phone"]) for c in client.get(
            f"{base}/api/v1/customers", headers=owner, params={"limit": 100}).json()["items"]
            if c["phone"]]  # fmt: skip
        direct = Direct(client, urls, data_dir / "demo-systems" / "members.db")
        panel_keys = [p["key"] for p in client.get(f"{base}/api/v1/customer-panels",
                                                   headers=admin).json()["items"]]  # fmt: skip
        assert len(panel_keys) == 4, panel_keys

        def panels(customer_id: str, cached: bool) -> float:
            started = time.perf_counter()
            answer = client.get(f"{base}/api/v1/customers/{customer_id}/panels", headers=agent)
            elapsed = time.perf_counter() - started
            answer.raise_for_status()
            shown = answer.json()["panels"]
            states = {p["key"]: (p["state"], p["cached"]) for p in shown}
            assert states == dict.fromkeys(panel_keys, ("ok", cached)), states
            return elapsed

        # warm-up (not counted): connections, tokens, code paths; and only the customers whose
        # panels all apply (the demo's web visitor has an unverified phone: not_applicable)
        usable = []
        for customer_id, phone in people:
            answer = client.get(f"{base}/api/v1/customers/{customer_id}/panels", headers=agent)
            answer.raise_for_status()
            if all(p["state"] == "ok" for p in answer.json()["panels"]):
                usable.append((customer_id, phone))
        people = usable
        print(f"{len(people)} demo customers with every panel applicable", flush=True)
        for n in range(args.rounds):
            for key in panel_keys:  # a changed panel starts its cache afresh: cold
                client.patch(
                    f"{base}/api/v1/customer-panels/{key}",
                    headers=admin,
                    json={"timeout_seconds": 5 + n * 0.001},
                ).raise_for_status()
            for customer_id, phone in people:
                mobile = phone.removeprefix("+86")
                slowest, chain = direct.round(mobile)
                figures["slowest"].append(slowest)
                figures["chain"].append(chain)
                figures["cold"].append(panels(customer_id, False))
                for _ in range(args.warm):
                    figures["warm"].append(panels(customer_id, True))
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="cold passes over the customers")
    parser.add_argument("--warm", type=int, default=3, help="warm requests per cold one")
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--max-load", type=float, default=1.0)
    parser.add_argument("--wait", type=float, default=120.0)
    args = parser.parse_args(argv)
    print(f"Customer 360, four demo panels; {os.cpu_count()} CPUs; one uvicorn worker")
    print(f"1-minute load average at the start: {wait_for_quiet(args.max_load, args.wait)}")
    with tempfile.TemporaryDirectory(prefix="relaydesk-bench-c360-") as tmp:
        figures = run(args, Path(tmp))
    stats = {name: (percentile(sorted(v), 0.5), percentile(sorted(v), 0.99), len(v))
             for name, v in figures.items()}  # fmt: skip
    labels = {"slowest": "(a) baseline: slowest single direct call",
              "chain": "    direct orders → tracking chain",
              "cold": "(b) cold: 4 panels, cache empty",
              "warm": "(c) warm: 4 panels, cached"}  # fmt: skip
    print(f"\n  {'':<44}{'n':>5}{'p50 ms':>9}{'p99 ms':>9}")
    for name, label in labels.items():
        p50, p99, n = stats[name]
        print(f"  {label:<44}{n:>5}{p50:>9.2f}{p99:>9.2f}")
    base50, base99 = stats["slowest"][:2]
    for name in ("cold", "warm"):
        p50, p99, _ = stats[name]
        print(f"  ratio {name} / baseline: p50 {p50 / base50:.2f}x, p99 {p99 / base99:.2f}x")
    print(f"1-minute load average at the end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
