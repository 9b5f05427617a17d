"""The logistics connector: XML tracking answers mapped to a shipment with its scan events,
its error rules, and tracking against the real logistics system."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from connectors.support import (
    Instance,
    fixture_data,
    instance,
    map_fixture,
    mapped,
    recorded,
    serving,
    verdict_of_fixture,
)
from relaydesk.connectors import load_connector
from relaydesk.connectors.demo_instances import demo_config
from relaydesk.demo_systems.logistics import create_logistics_app
from relaydesk.integrations.resilience import ErrorClass, ErrorKind


def test_spec_validates_and_reads_xml_with_an_api_key_header() -> None:
    spec = load_connector("logistics")
    assert spec.auth.type == "api_key"
    assert (spec.auth.in_, spec.auth.name) == ("header", "X-Logistics-Key")
    track = spec.actions["track_shipment"]
    assert track.response.format == "xml" and track.output == "shipment" and track.cache


def test_a_parcel_in_transit_maps_its_xml_elements() -> None:
    shipment = map_fixture("logistics", "track_shipment", "track_shipment.xml")
    assert shipment["tracking_no"] == "YT5974940606424"
    assert (shipment["carrier"], shipment["order_no"]) == ("圆通速递", "YQ20261118001234")
    assert (shipment["status"], shipment["status_text"]) == ("in_transit", "运输中")
    assert shipment["delivered_at"] is None
    # events stay newest first; the oldest scan is the pick-up
    assert shipment["events"] == [
        {"time": "2026-11-20T17:18:28+08:00", "location": "成都转运中心",
         "description": "快件到达【成都转运中心】"},
        {"time": "2026-11-19T10:20:28+08:00", "location": "广州转运中心",
         "description": "快件已发出，下一站【成都转运中心】"},
        {"time": "2026-11-19T07:23:28+08:00", "location": "广东省广州市白云区",
         "description": "圆通速递 已收取快件"},
    ]  # fmt: skip
    assert shipment["shipped_at"] == "2026-11-19T07:23:28+08:00"


def test_a_signed_parcel_has_its_delivery_time() -> None:
    shipment = map_fixture("logistics", "track_shipment", "track_shipment_signed.xml")
    assert (shipment["status"], shipment["status_text"]) == ("delivered", "已签收")
    assert shipment["delivered_at"] == "2026-10-24T17:45:00+08:00"
    assert shipment["events"][0]["description"] == "快件已签收，签收人：本人"
    assert len(shipment["events"]) == 6


def test_one_event_and_no_events_still_map_to_lists() -> None:
    spec = load_connector("logistics")
    data = fixture_data("logistics", "track_shipment.xml")
    data["events"] = {"event": data["events"]["event"][-1]}  # XML with a single <event>
    value, errors = mapped(spec, "track_shipment", data)
    assert errors == [] and len(value["events"]) == 1
    assert value["shipped_at"] == "2026-11-19T07:23:28+08:00"
    data["events"] = ""  # <events/>
    value, errors = mapped(spec, "track_shipment", data)
    assert errors == [] and value["events"] == [] and value["shipped_at"] is None


def test_an_unknown_waybill_is_no_tracking_yet_not_an_error() -> None:
    assert recorded("logistics", "error_not_found.xml")["status"] == 404
    assert verdict_of_fixture("logistics", "error_not_found.xml").cls is ErrorClass.ignore


def test_a_wrong_key_is_a_config_failure() -> None:
    assert recorded("logistics", "error_unauthorized.xml")["status"] == 401
    verdict = verdict_of_fixture("logistics", "error_unauthorized.xml")
    assert (verdict.cls, verdict.kind, verdict.code) == (
        ErrorClass.fail, ErrorKind.config, "unauthorized")


@pytest.fixture
async def logistics() -> AsyncIterator[Instance]:
    async with serving(create_logistics_app()) as url, instance(
        "logistics", demo_config("logistics", {"logistics": url})
    ) as live:
        yield live


async def test_tracking_through_the_executor_matches_the_fixture(logistics: Instance) -> None:
    raw = await logistics.call("track_shipment", {"waybill_no": "YT5974940606424"})
    assert raw.status == 200 and raw.request_line == "GET /track?waybill"
    assert logistics.map("track_shipment", raw) == map_fixture(
        "logistics", "track_shipment", "track_shipment.xml")


async def test_unknown_and_lower_case_waybills(logistics: Instance) -> None:
    raw = await logistics.call("track_shipment", {"waybill_no": "SF0000000000000"})
    assert raw.status == 404 and logistics.classify(raw).cls is ErrorClass.ignore
    # the carrier's API upper-cases the number itself
    shipment = await logistics.run("track_shipment", {"waybill_no": "sf3917063926178"})
    assert shipment["tracking_no"] == "SF3917063926178" and shipment["status"] == "delivered"
