"""The callcenter connector: calls and seats mapped from the recorded answers, the call
centre's error codes classified, and click-to-call and lookups against the real demo call
centre (signed with the spec's signing section, checked by the call centre's own verifier)."""

from __future__ import annotations

import httpx
import pytest

from connectors.support import (
    fixture_data,
    instance,
    map_fixture,
    recorded,
    serving,
    verdict_of_fixture,
)
from relaydesk.connectors import load_connector
from relaydesk.demo_systems.callcenter import (
    CC_ADMIN_TOKEN,
    CC_APP_KEY,
    CC_APP_SECRET,
    CallCenterConfig,
    create_callcenter_app,
)
from relaydesk.integrations.resilience import ErrorClass
from relaydesk.integrations.spec import action_permission


def config(url: str, secret: str = CC_APP_SECRET) -> dict[str, str]:
    return {"base_url": url, "app_key": CC_APP_KEY, "app_secret": secret}


def test_spec_signs_in_the_query_and_dial_is_an_idempotent_write() -> None:
    spec = load_connector("callcenter")
    auth = spec.auth
    assert auth.type == "signing" and auth.placement == "query"
    assert (auth.algorithm, auth.timestamp_unit, auth.uppercase) == ("hmac_sha256", "s", True)
    dial = spec.actions["dial"]
    assert (dial.effect, dial.idempotent) == ("write", True)
    assert action_permission(spec, "dial") == "connector_action:callcenter.dial"
    assert dial.params["customer_number"].pii == "phone"
    assert {name for name, a in spec.actions.items() if a.effect == "read"} == {
        "get_call", "list_calls_by_number", "list_agents"}  # fmt: skip


def test_a_recorded_call_maps_with_times_talk_time_recording_and_transcript() -> None:
    call = map_fixture("callcenter", "get_call")
    assert (call["direction"], call["status"], call["seat"]) == ("inbound", "ended", "8001")
    assert call["customer_number"] == "13937704964" and call["duration_s"] == 192
    assert call["hangup_side"] == "customer" and call["end_reason"] == "NORMAL"
    assert call["started_at"].endswith("+08:00") and call["answered_at"] < call["ended_at"]
    assert "/recordings/" in call["recording_url"] and "token=" in call["recording_url"]
    assert call["transcript"][0]["speaker"] == "agent"
    assert "工号8001" in call["transcript"][0]["text"]
    calls = map_fixture("callcenter", "list_calls_by_number")
    assert [c["direction"] for c in calls] == ["outbound", "inbound"]  # newest first
    dialled = map_fixture("callcenter", "dial")
    assert (dialled["status"], dialled["seat"], dialled["user_field"]) == (
        "ringing",
        "8002",
        "conversation-1",
    )
    agents = map_fixture("callcenter", "list_agents")
    assert agents[0] == {"seat": "8001", "name": "王小燕",
                         "email": "agent@demo.relaydesk.local", "status": "online"}  # fmt: skip


def test_business_errors_are_classified_by_code() -> None:
    offline = verdict_of_fixture("callcenter", "error_seat_offline.json")
    assert (offline.cls, offline.code) == (ErrorClass.fail, "seat_offline")
    assert recorded("callcenter", "error_seat_offline.json")["status"] == 200
    unknown = verdict_of_fixture("callcenter", "error_call_not_found.json")
    assert unknown.code == "call_not_found"
    assert fixture_data("callcenter", "dial.json")["code"] == 0


async def test_click_to_call_and_lookups_against_the_demo_call_centre() -> None:
    app = create_callcenter_app(CallCenterConfig(dial_push_delay=None))
    async with serving(app) as url, instance("callcenter", config(url)) as cc:
        call = await cc.run("dial", {"seat": "8001", "customer_number": "13800138000",
                                     "user_field": "c-1", "request_id": "r-1"})  # fmt: skip
        assert (call["status"], call["seat"], call["direction"]) == ("ringing", "8001", "outbound")
        again = await cc.run("dial", {"seat": "8001", "customer_number": "13800138000",
                                      "request_id": "r-1"})  # fmt: skip
        assert again["call_id"] == call["call_id"]  # the same click is one call
        fetched = await cc.run("get_call", {"call_id": call["call_id"]})
        assert fetched["user_field"] == "c-1" and fetched["agent_name"] == "王小燕"
        history = await cc.run("list_calls_by_number", {"number": "13800138000"})
        assert [c["call_id"] for c in history] == [call["call_id"]]
        async with httpx.AsyncClient() as http:
            r = await http.put(f"{url}/admin/agents/8002", json={"status": "offline"},
                               headers={"X-Admin-Token": CC_ADMIN_TOKEN})  # fmt: skip
            assert r.status_code == 200
        refused = await cc.call("dial", {"seat": "8002", "customer_number": "13800138000"})
        assert cc.classify(refused).code == "seat_offline"


async def test_a_wrong_secret_is_refused_by_the_call_centre() -> None:
    async with serving(create_callcenter_app()) as url, \
            instance("callcenter", config(url, "not-the-secret")) as cc:  # fmt: skip
        raw = await cc.call("list_agents", {})
        assert raw.status == 401
        verdict = cc.classify(raw)
        assert (verdict.cls, verdict.code) == (ErrorClass.fail, "unauthorized")


@pytest.mark.parametrize("number", ["12345", "138001380001"])
async def test_a_number_the_spec_refuses_never_reaches_the_call_centre(number: str) -> None:
    from relaydesk.errors import ValidationFailed
    from relaydesk.integrations.spec import validate_params

    with pytest.raises(ValidationFailed):
        validate_params(load_connector("callcenter"), "dial",
                        {"seat": "8001", "customer_number": number})  # fmt: skip
