"""A connector's callbacks may only produce catalogued events (or ``custom.*``): a spec naming
another type is refused where it is validated, with the type named and the catalogue pointed at.
"""

from __future__ import annotations

import httpx
import pytest
from conftest import Org, login
from hooks_support import SPEC

from relaydesk.events import catalogue
from relaydesk.integrations.spec import SpecInvalid, load_spec

FIXED = "    event_type: custom.code_pushed\n"
MAPPED = "values: {charge.succeeded: custom.payment_succeeded}"


def problems(text: str) -> dict[str, str]:
    with pytest.raises(SpecInvalid) as caught:
        load_spec(text, "spec.yaml")
    return {problem.path: problem.message for problem in caught.value.problems}


def test_catalogued_and_custom_types_are_accepted() -> None:
    spec = load_spec(SPEC)
    assert spec.callbacks["ticket_status_changed"].event_type.values == {  # type: ignore[union-attr]
        "TICKET_STATUS_CHANGED": "ticket.status_changed"
    }
    assert spec.callbacks["github_push"].event_type == "custom.code_pushed"
    for name in catalogue():
        assert load_spec(SPEC.replace(FIXED, f"    event_type: {name}\n"))


def test_an_uncatalogued_fixed_type_is_refused_with_its_name_and_the_catalogue() -> None:
    assert FIXED in SPEC
    found = problems(SPEC.replace(FIXED, "    event_type: code.pushed\n"))
    message = found["callbacks.github_push.event_type"]
    assert "'code.pushed' is not in the event catalogue" in message
    assert "docs/events.md" in message and "custom.<name>" in message


def test_an_uncatalogued_type_in_an_event_type_map_is_refused() -> None:
    assert MAPPED in SPEC
    found = problems(SPEC.replace(MAPPED, "values: {charge.succeeded: payment.succeeded}"))
    message = found["callbacks.stripe_event.event_type.values"]
    assert "'payment.succeeded' is not in the event catalogue" in message
    default = SPEC.replace(MAPPED, MAPPED + ", default: order.teleported")
    assert "'order.teleported'" in problems(default)["callbacks.stripe_event.event_type.default"]


async def test_the_validate_endpoint_names_the_field_and_its_line(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    headers = await login(client, org_a, "admin")
    r = await client.post(
        "/api/v1/connectors/validate",
        headers=headers,
        json={"spec": SPEC.replace(FIXED, "    event_type: code.pushed\n")},
    )
    body = r.json()
    assert r.status_code == 200 and body["valid"] is False, r.text
    (problem,) = [p for p in body["problems"] if p["path"] == "callbacks.github_push.event_type"]
    assert "'code.pushed' is not in the event catalogue" in problem["message"]
    assert problem["line"] is not None
