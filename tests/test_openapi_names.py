"""Every schema in the OpenAPI document has a plain, unique name.

Two pydantic models with the same class name in different modules make FastAPI name both
``relaydesk__<module>__<Class>``: the typed web client then loses its type names.
"""

from __future__ import annotations

from relaydesk.app import create_app
from relaydesk.config import Settings


def test_schema_names_are_plain(settings: Settings) -> None:
    schemas = create_app(settings).openapi()["components"]["schemas"]
    clashing = sorted(name for name in schemas if name.startswith("relaydesk__"))
    assert not clashing, f"rename one of the models with the same class name: {clashing}"
