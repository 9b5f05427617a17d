"""The CRM connector: contacts mapped to customers (the Chinese member tier mapped), tags,
notes, error rules, and OAuth 2.0 against the real CRM (token fetched, cached, refreshed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from connectors.support import (
    Instance,
    instance,
    map_fixture,
    recorded,
    serving,
    verdict_of_fixture,
)
from relaydesk.connectors import load_connector
from relaydesk.connectors.demo_instances import demo_config
from relaydesk.demo_systems.crm import create_crm_app
from relaydesk.integrations.auth import OAuth2ClientCredentials
from relaydesk.integrations.resilience import ErrorClass


def test_spec_validates_with_client_credentials() -> None:
    spec = load_connector("crm")
    assert spec.auth.type == "oauth2_client_credentials"
    assert spec.auth.token_url == "{{ config.base_url }}/oauth/token"
    assert spec.config["client_secret"].secret
    assert spec.config["scope"].default == "contacts.read contacts.write"
    assert spec.actions["add_tag"].compensate is not None
    assert spec.actions["add_tag"].compensate.action == "remove_tag"
    assert not spec.actions["add_note"].idempotent  # every call adds a note


def test_a_contact_found_by_mobile_maps_to_a_customer_with_the_tier_mapped() -> None:
    (customer,) = map_fixture("crm", "find_contact_by_mobile")
    assert (customer["id"], customer["name"], customer["phone"]) == (
        "C010079", "赵敏", "13476694409")
    assert (customer["tier"], customer["tier_label"]) == ("gold", "金卡")
    assert customer["address"] == "上海市浦东新区陆家嘴环路190号19栋3单元1675室"
    assert customer["tags"] == ["高价值"] and customer["gender"] == "female"
    assert customer["owner"] == "赵婷 (客户经理)"
    assert customer["created_at"] == "2023-11-12T16:39:00+08:00"


def test_one_contact_maps_with_company_and_silver_tier() -> None:
    customer = map_fixture("crm", "get_contact")
    assert (customer["id"], customer["name"]) == ("C010014", "王芳")
    assert (customer["tier"], customer["tier_label"]) == ("silver", "银卡")
    assert customer["company"] == "北京知行教育咨询有限公司"
    assert customer["tags"] == map_fixture("crm", "list_tags")["tags"]


def test_tag_and_note_fixtures() -> None:
    before = map_fixture("crm", "list_tags")["tags"]
    added = map_fixture("crm", "add_tag")
    assert added == {"tags": [*before, "投诉"], "added": ["投诉"]}
    assert map_fixture("crm", "remove_tag") == {"tags": before}
    note = map_fixture("crm", "add_note")
    assert recorded("crm", "add_note.json")["status"] == 201
    assert note["content"] == "客户来电询问发票抬头，已告知开票进度。"
    assert note["author"] == "客服-小周" and note["created_at"].endswith("+08:00")


def test_error_rules_on_recorded_errors() -> None:
    missing = verdict_of_fixture("crm", "error_contact_not_found.json")
    assert (missing.cls, missing.code) == (ErrorClass.fail, "contact_not_found")
    # no or an expired token: fetch a new one and retry once
    assert verdict_of_fixture("crm", "error_invalid_token.json").cls is ErrorClass.refresh_token


@dataclass
class Crm:
    live: Instance
    app: Any

    @property
    def oauth(self) -> OAuth2ClientCredentials:
        auth = self.live.ctx.auth
        assert isinstance(auth, OAuth2ClientCredentials)
        return auth


@pytest.fixture
async def crm() -> AsyncIterator[Crm]:
    app = create_crm_app()
    async with serving(app) as url, instance("crm", demo_config("crm", {"crm": url})) as live:
        yield Crm(live, app)


async def test_calls_share_one_cached_token(crm: Crm) -> None:
    found = await crm.live.run("find_contact_by_mobile", {"mobile": "13476694409"})
    assert found == map_fixture("crm", "find_contact_by_mobile")
    contact = await crm.live.run("get_contact", {"contact_id": "C010014"})
    assert contact == map_fixture("crm", "get_contact")
    assert crm.app.state.crm.tokens_issued == 1 and crm.oauth.refreshes == 1
    assert await crm.live.run("find_contact_by_mobile", {"mobile": "13169677287"}) != []
    assert await crm.live.run("find_contact_by_mobile", {"mobile": "13800000000"}) == []


async def test_an_expired_token_is_refreshed_then_the_call_succeeds(crm: Crm) -> None:
    await crm.live.run("get_contact", {"contact_id": "C010014"})
    crm.app.state.crm.tokens.clear()  # the CRM forgot (or expired) every token
    raw = await crm.live.call("get_contact", {"contact_id": "C010014"})
    assert raw.status == 401 and crm.live.classify(raw).cls is ErrorClass.refresh_token
    crm.live.ctx.auth.invalidate()  # what the runtime does on refresh_token
    contact = await crm.live.run("get_contact", {"contact_id": "C010014"})
    assert contact["name"] == "王芳" and crm.app.state.crm.tokens_issued == 2


async def test_a_tag_is_added_then_compensated_and_a_note_written(crm: Crm) -> None:
    params = {"contact_id": "C010079", "tag": "物流投诉"}
    added = await crm.live.run("add_tag", params)
    assert added == {"tags": ["高价值", "物流投诉"], "added": ["物流投诉"]}
    assert (await crm.live.run("add_tag", params))["added"] == []  # already there: no-op
    action, undo = crm.live.compensation("add_tag", params, added)
    assert (action, undo) == ("remove_tag", params)
    assert await crm.live.run(action, undo) == {"tags": ["高价值"]}
    note_params = {"contact_id": "C010079", "content": "客户反馈快递延误，已安抚。"}
    note = await crm.live.run("add_note", note_params)
    assert note["author"] == "Relaydesk" and note["content"] == "客户反馈快递延误，已安抚。"
    action, undo = crm.live.compensation("add_note", note_params, note)
    raw = await crm.live.call(action, undo)
    assert raw.status == 204 and crm.live.classify(raw).ok
    assert crm.app.state.crm.contacts["C010079"].notes == []


async def test_an_unknown_contact_fails_with_its_code(crm: Crm) -> None:
    raw = await crm.live.call("get_contact", {"contact_id": "C999999"})
    assert raw.status == 404 and crm.live.classify(raw).code == "contact_not_found"
