"""A masked reader's edit must not write the mask back.

A role without ``customers.pii.view`` reads ``139****5678`` where the customer has
``13912345678`` (a personal field, a personal attribute, or a mobile typed into the name, the
company, a tag or a free-form attribute). When its edit form sends such a value back
unchanged, the stored value stays: a value equal to the masked rendering of what is stored
is an echo, not a change.
"""

from __future__ import annotations

from typing import Any

from relaydesk.customers.attributes import mask_attributes
from relaydesk.customers.models import Customer
from relaydesk.customers.schemas import PII_FIELDS
from relaydesk.kit.masking import detect_and_mask_text, mask

__all__ = ["keep_masked_echoes"]

_TEXT_FIELDS = ("name", "company")


def keep_masked_echoes(
    changes: dict[str, Any], customer: Customer, pii_attributes: frozenset[str]
) -> dict[str, Any]:
    """``changes`` with every echoed masked value replaced by the stored one (or dropped)."""
    out = dict(changes)
    for name, kind in PII_FIELDS.items():
        current = getattr(customer, name)
        if name in out and current is not None and out[name] == mask(current, kind):
            del out[name]
    for name in _TEXT_FIELDS:
        current = getattr(customer, name)
        if name in out and current is not None and out[name] == detect_and_mask_text(current):
            out[name] = current
    if isinstance(out.get("tags"), list):
        stored = {detect_and_mask_text(tag): tag for tag in customer.tags}
        out["tags"] = [stored.get(tag, tag) for tag in out["tags"]]
    if isinstance(out.get("attributes"), dict):
        shown = mask_attributes(customer.attributes, pii_attributes)
        out["attributes"] = {
            key: customer.attributes[key]
            if key in customer.attributes and value == shown.get(key) and value is not None
            else value
            for key, value in out["attributes"].items()
        }
    return out
