"""The template context of a customer's panels, and rendering a panel's parameters from it.

A panel's parameters are ``{{ }}`` templates (JMESPath, :mod:`relaydesk.integrations.templating`)
over this context, built from the customer's **trusted** identities only (verified, or entered
by staff): an unverified phone typed into a pre-chat form never fetches its real owner's orders.

``customer``:

* ``id``, ``name``, ``tags``, ``attributes`` (every custom attribute, raw);
* ``phone`` (E.164, ``+8613912345678``), ``phone_national`` (``13912345678``: the national
  number, as the order systems take it), ``phones`` (every trusted phone, E.164);
* ``email``, ``emails``;
* ``external``: the external ids by connector namespace, nested at ``:`` —
  ``crm:contact`` → ``customer.external.crm.contact``; a namespace without an id type
  (``orders``) → ``customer.external.orders.id``; ``external_ids``: the same, flat
  (``customer.external_ids."crm:contact"``);
* ``identities``: ``{kind: [values]}`` of the other kinds (visitor, openid, unionid, app_user).

``source``: the data of the panel named by ``source_panel`` (e.g. the latest orders, whose
waybill number the tracking panel takes), or null.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

from relaydesk.customers.models import Customer, CustomerIdentity
from relaydesk.integrations.spec import ConnectorSpec
from relaydesk.integrations.templating import TemplateError, has_template, render

__all__ = ["Rendered", "customer_context", "is_trusted", "national_number", "render_params"]

_EXTERNAL = "external"
_OWN_KEYS = ("phone", "email", _EXTERNAL)


def is_trusted(identity: CustomerIdentity) -> bool:
    """Verified, or entered by staff (an agent, an API client, an import)."""
    return bool(identity.verified) or identity.origin == "staff"


def national_number(e164: str) -> str:
    """``+8613912345678`` → ``13912345678``; other countries: their national number."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164.lstrip("+")
    return phonenumbers.national_significant_number(number)


def _ordered(identities: Iterable[CustomerIdentity]) -> list[CustomerIdentity]:
    """Verified first, then the newest: the first of a kind is the one panels use."""
    return sorted(identities, key=lambda i: (not i.verified, -i.id.int))


def customer_context(customer: Customer, identities: Iterable[CustomerIdentity]) -> dict[str, Any]:
    """The ``customer`` root of the panels' templates (see the module docstring)."""
    trusted = _ordered(i for i in identities if is_trusted(i))
    phones = [i.value for i in trusted if i.kind == "phone"]
    emails = [i.value for i in trusted if i.kind == "email"]
    flat: dict[str, str] = {}
    nested: dict[str, dict[str, str]] = {}
    others: dict[str, list[str]] = {}
    for identity in trusted:
        if identity.kind == _EXTERNAL:
            flat.setdefault(identity.namespace, identity.value)
            system, _, id_type = identity.namespace.partition(":")
            nested.setdefault(system, {}).setdefault(id_type or "id", identity.value)
        elif identity.kind not in _OWN_KEYS:
            others.setdefault(identity.kind, []).append(identity.value)
    phone = phones[0] if phones else None
    return {
        "id": str(customer.id),
        "name": customer.name,
        "tags": list(customer.tags or []),
        "attributes": dict(customer.attributes or {}),
        "phone": phone,
        "phone_national": national_number(phone) if phone else None,
        "phones": phones,
        "email": emails[0] if emails else None,
        "emails": emails,
        "external": nested,
        "external_ids": flat,
        "identities": others,
    }


@dataclass
class Rendered:
    """A panel's parameters rendered for one customer."""

    params: dict[str, Any] = field(default_factory=dict)
    #: required parameters whose template gave nothing (the customer lacks the identity)
    missing: list[str] = field(default_factory=list)
    #: parameters that came from a template (their validation errors mean "not applicable")
    templated: set[str] = field(default_factory=set)
    #: a template that failed to evaluate (a configuration error)
    error: str | None = None


def render_params(
    templates: Mapping[str, Any],
    spec: ConnectorSpec,
    action_name: str,
    context: Mapping[str, Any],
) -> Rendered:
    """Render each parameter; empty results are left out so defaults apply."""
    out = Rendered()
    for name, template in templates.items():
        templated = has_template(template)
        try:
            value = render(template, context)
        except TemplateError as exc:
            out.error = f"params.{name}: {exc}"
            return out
        if templated:
            out.templated.add(name)
        if value is None or value == "" or value == []:
            continue
        out.params[name] = value
    action = spec.action(action_name)
    out.missing = [
        name for name, param in action.params.items()
        if param.required and name not in out.params
    ]  # fmt: skip
    return out
