"""The logistics system's XML tracking API over a real loopback socket."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import httpx
import pytest
from defusedxml.ElementTree import fromstring
from demo_support import serving

from relaydesk.demo_systems.logistics import STATUS_TEXT, create_logistics_app
from relaydesk.demo_systems.seed_commerce import seed_orders, seed_shipments

KEY = {"X-Logistics-Key": "yq-logistics-demo-key-2b8e"}


@pytest.fixture(scope="module")
async def logistics() -> AsyncIterator[httpx.AsyncClient]:
    # read-only system: one server for the module
    async with serving(create_logistics_app()) as url, httpx.AsyncClient(base_url=url) as client:
        yield client


async def test_tracks_the_waybill_of_a_shipped_order(logistics: httpx.AsyncClient) -> None:
    order = next(o for o in seed_orders() if o.status == 30 and o.waybill_no)
    r = await logistics.get("/track", params={"waybill": order.waybill_no}, headers=KEY)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/xml; charset=utf-8"
    root = fromstring(r.content)
    assert root.tag == "response"
    assert root.findtext("waybill") == order.waybill_no
    assert root.findtext("orderNo") == order.order_no
    status = root.findtext("status") or ""
    assert root.findtext("statusText") == STATUS_TEXT[status]
    assert status == seed_shipments()[order.waybill_no].status
    events = root.findall("events/event")
    assert events, "a shipped order has at least its pick-up event"
    times = [dt.datetime.strptime(e.findtext("time") or "", "%Y-%m-%d %H:%M:%S") for e in events]
    assert times == sorted(times, reverse=True)  # newest first
    assert all(e.findtext("location") and e.findtext("desc") for e in events)
    assert times[-1] >= order.shipped_at  # type: ignore[operator]


async def test_a_delivered_parcel_ends_signed_in_the_receivers_district(
    logistics: httpx.AsyncClient,
) -> None:
    waybill, shipment = next((w, s) for w, s in seed_shipments().items() if s.status == "SIGNED")
    order = next(o for o in seed_orders() if o.waybill_no == waybill)
    root = fromstring((await logistics.get("/track", params={"waybill": waybill},
                                           headers=KEY)).content)
    assert (root.findtext("status"), root.findtext("statusText")) == ("SIGNED", "已签收")
    latest = root.find("events/event")
    assert latest is not None
    assert order.receiver.district in (latest.findtext("location") or "")
    assert "签收" in (latest.findtext("desc") or "") or "快递柜" in (latest.findtext("desc") or "")
    assert len(root.findall("events/event")) == len(shipment.events)


async def test_unknown_waybill_is_404_xml_error(logistics: httpx.AsyncClient) -> None:
    r = await logistics.get("/track", params={"waybill": "SF0000000000000"}, headers=KEY)
    assert r.status_code == 404
    root = fromstring(r.content)
    assert (root.tag, root.findtext("code")) == ("error", "NOT_FOUND")
    assert "SF0000000000000" in (root.findtext("message") or "")


async def test_malformed_waybill_is_400(logistics: httpx.AsyncClient) -> None:
    r = await logistics.get("/track", params={"waybill": "<x>"}, headers=KEY)
    assert (r.status_code, fromstring(r.content).findtext("code")) == (400, "INVALID_WAYBILL")


@pytest.mark.parametrize("headers", [{}, {"X-Logistics-Key": "guess"}])
async def test_the_api_key_is_required(
    logistics: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    waybill = next(iter(seed_shipments()))
    r = await logistics.get("/track", params={"waybill": waybill}, headers=headers)
    assert r.status_code == 401
    assert fromstring(r.content).findtext("code") == "UNAUTHORIZED"
