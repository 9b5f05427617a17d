"""The existing systems of 云栖优选 (Yunqi Select), the demo's fictional e-commerce company.

Six separate systems, each with its own protocol, credentials, business rules and error
codes, all seeded from one dataset of 40 customers (:mod:`.dataset`), so the same person
(same mobile number) appears in each of them under a different identifier:

* orders — REST/JSON, appKey + MD5 ``sign`` (:func:`create_orders_app`), port base+0;
* logistics — XML over HTTP, ``X-Logistics-Key`` (:func:`create_logistics_app`), base+1;
* crm — JSON, OAuth 2.0 client credentials (:func:`create_crm_app`), base+2;
* membership — a SQL database, no HTTP (:func:`create_membership_db`), base+3 unused;
* tickets — form/JSON, ``X-Api-Token``, signed callbacks (:func:`create_tickets_app`), base+4;
* finance — SOAP 1.1 with a WSDL, HTTP Basic (:func:`create_finance_app`), base+5.

:mod:`.runner` starts them in-process (``start_all``/``stop_all``);
``python -m relaydesk.demo_systems`` runs them in the foreground. docs/demo-systems.md
describes every endpoint, the signing and callback schemes, and the demo credentials.
"""

from __future__ import annotations

from relaydesk.demo_systems.crm import CrmConfig, create_crm_app
from relaydesk.demo_systems.finance import FinanceConfig, create_finance_app
from relaydesk.demo_systems.logistics import LogisticsConfig, create_logistics_app
from relaydesk.demo_systems.membership import create_membership_db, default_membership_url
from relaydesk.demo_systems.orders import OrdersConfig, create_orders_app
from relaydesk.demo_systems.tickets import TicketsConfig, create_tickets_app

__all__ = [
    "CrmConfig",
    "FinanceConfig",
    "LogisticsConfig",
    "OrdersConfig",
    "TicketsConfig",
    "create_crm_app",
    "create_finance_app",
    "create_logistics_app",
    "create_membership_db",
    "create_orders_app",
    "create_tickets_app",
    "default_membership_url",
]
