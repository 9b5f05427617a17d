"""The demo tenant's connector instances: one per demo system, configured for the systems that
``relaydesk.demo_systems.runner.start_all(base_port=8101)`` starts.

``DEMO_INSTANCES`` holds, per system, the instance name (= the system's name), the spec file,
the config (URLs and the published demo credentials of
:mod:`relaydesk.demo_systems.credentials`), the allow-list (loopback only) and ``sandbox``.
:func:`instance_request` turns one into the body of ``POST /api/v1/connector-instances``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from relaydesk.connectors import CONNECTORS_DIR
from relaydesk.demo_systems import credentials
from relaydesk.demo_systems.membership import default_membership_url
from relaydesk.demo_systems.runner import PORT_OFFSETS

__all__ = [
    "ALLOW_NETWORK",
    "DEMO_INSTANCES",
    "demo_config",
    "demo_instances",
    "demo_urls",
    "instance_request",
]

#: the demo systems listen on loopback only; nothing else is reachable from these instances
ALLOW_NETWORK = ["127.0.0.1/32"]

_TITLES = {
    "orders": "订单中心 (demo)",
    "logistics": "物流查询 (demo)",
    "crm": "CRM 客户关系管理 (demo)",
    "membership": "会员积分库 (demo)",
    "tickets": "工单系统 (demo)",
    "finance": "财务系统 (demo)",
    "callcenter": "云呼通呼叫中心 (demo)",
}


def demo_urls(
    base_port: int = 8101, host: str = "127.0.0.1", data_dir: Path = Path("var")
) -> dict[str, str]:
    """The URLs ``start_all(host, base_port, data_dir=data_dir)`` answers on, by system."""
    urls = {
        name: f"http://{host}:{base_port + offset}"
        for name, offset in PORT_OFFSETS.items()
        if name != "membership"
    }
    urls["finance"] += "/finance?wsdl"
    urls["membership"] = default_membership_url(data_dir)
    return urls


def demo_config(system: str, urls: Mapping[str, str]) -> dict[str, Any]:
    """The instance config of ``system`` for demo systems running at ``urls`` (as returned by
    ``start_all``, or :func:`demo_urls`)."""
    if system == "callcenter":
        from relaydesk.demo_systems.callcenter_state import CC_APP_KEY, CC_APP_SECRET

        return {"base_url": urls["callcenter"], "app_key": CC_APP_KEY, "app_secret": CC_APP_SECRET}
    if system == "orders":
        return {
            "base_url": urls["orders"],
            "app_key": credentials.ORDERS_APP_KEY,
            "app_secret": credentials.ORDERS_APP_SECRET,
        }
    if system == "logistics":
        return {"base_url": urls["logistics"], "api_key": credentials.LOGISTICS_API_KEY}
    if system == "crm":
        return {
            "base_url": urls["crm"],
            "client_id": credentials.CRM_CLIENT_ID,
            "client_secret": credentials.CRM_CLIENT_SECRET,
            "scope": "contacts.read contacts.write",
        }
    if system == "membership":
        return {"url": urls["membership"]}
    if system == "tickets":
        return {
            "base_url": urls["tickets"],
            "api_token": credentials.TICKETS_API_TOKEN,
            "callback_secret": credentials.TICKETS_CALLBACK_SECRET,
        }
    if system == "finance":
        return {
            "wsdl_url": urls["finance"],
            "username": credentials.FINANCE_USERNAME,
            "password": credentials.FINANCE_PASSWORD,
        }
    raise KeyError(f"no demo system {system!r}")


def demo_instances(
    base_port: int = 8101, host: str = "127.0.0.1", data_dir: Path = Path("var")
) -> list[dict[str, Any]]:
    """One entry per demo system, in port order (see the module doc)."""
    urls = demo_urls(base_port, host, data_dir)
    return [
        {
            "name": system,
            "title": _TITLES[system],
            "spec_path": str(CONNECTORS_DIR / system / "spec.yaml"),
            "config": demo_config(system, urls),
            "allow_network": list(ALLOW_NETWORK),
            "sandbox": False,
            "enabled": True,
        }
        for system in PORT_OFFSETS
        if system in _TITLES  # systems without a connector (the SMS gateway is a channel)
    ]


def instance_request(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The body of ``POST /api/v1/connector-instances`` for one :data:`DEMO_INSTANCES` entry
    (the spec sent as its YAML text)."""
    spec_text = Path(entry["spec_path"]).read_text(encoding="utf-8")
    body = {key: entry[key] for key in ("name", "title", "config", "allow_network", "sandbox",
                                         "enabled")}  # fmt: skip
    return {**body, "spec": spec_text}


#: the instances for ``start_all(base_port=8101)`` with the default data directory (./var);
#: call :func:`demo_instances` with ``data_dir=settings.data_dir`` when it differs
DEMO_INSTANCES: list[dict[str, Any]] = demo_instances()
