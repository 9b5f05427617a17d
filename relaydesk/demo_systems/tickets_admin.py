"""The ticket system's admin endpoints: what an operator of the legacy system (or a test)
does — point the callbacks somewhere, change a status, replay the last callback, send
events out of order, read the delivery log.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from relaydesk.demo_systems.tickets_callbacks import Delivery
from relaydesk.demo_systems.tickets_state import (
    TRANSITIONS,
    TicketError,
    TicketsState,
    fields,
    ok,
    text_field,
    ticket_json,
)

__all__ = ["add_admin_routes"]


def add_admin_routes(app: FastAPI, state: TicketsState, auth: list[Any]) -> None:
    sender = state.sender

    @app.put("/admin/callback", dependencies=auth)
    async def set_callback(request: Request) -> JSONResponse:
        url = text_field(await fields(request), "url", limit=500) or None
        if url is not None and not url.startswith(("http://", "https://")):
            raise TicketError(400, "E103", "url 必须以 http:// 或 https:// 开头")
        sender.url = url
        return ok({"url": url})

    @app.post("/admin/tickets/{ticket_no}/status", dependencies=auth)
    async def admin_status(ticket_no: str, request: Request) -> JSONResponse:
        data, ticket = await fields(request), state.get(ticket_no)
        delivery = state.change(
            ticket,
            text_field(data, "status", required=True).upper(),
            text_field(data, "operator", limit=50) or "后台管理员",
            text_field(data, "remark"),
        )
        return ok({"ticket": ticket_json(ticket), "event": delivery.event})

    @app.post("/admin/tickets/{ticket_no}/resend-last", dependencies=auth)
    async def resend_last(ticket_no: str, keepTimestamp: bool = False) -> JSONResponse:
        state.get(ticket_no)
        last = sender.last_by_ticket.get(ticket_no)
        if last is None:
            raise TicketError(404, "E202", "该工单还没有发送过回调")
        if keepTimestamp and not last.last_headers:
            raise TicketError(409, "E203", "上一次回调尚未发出，无法原样重放")
        replay = Delivery(
            last.event,
            last.body,
            replay=True,
            fixed_headers=dict(last.last_headers) if keepTimestamp else None,
        )
        sender.enqueue(replay)
        return ok({"event": replay.event, "keepTimestamp": keepTimestamp})

    @app.post("/admin/tickets/{ticket_no}/out-of-order", dependencies=auth)
    async def out_of_order(ticket_no: str, request: Request) -> JSONResponse:
        data, ticket = await fields(request), state.get(ticket_no)
        statuses = data.get("statuses")
        if not isinstance(statuses, list) or len(statuses) < 2:
            raise TicketError(400, "E101", "statuses: 至少两个状态的列表")
        current = ticket.status
        for status in (str(s).upper() for s in statuses):  # all or nothing
            if status not in TRANSITIONS.get(current, ()):
                raise TicketError(409, "E301", f"工单状态不能从 {current} 变为 {status}")
            current = status
        deliveries = [
            state.change(ticket, str(s).upper(), "后台管理员", "", send=False) for s in statuses
        ]
        for delivery in reversed(deliveries):  # newest first: the receiver must cope
            sender.enqueue(delivery)
        return ok(
            {
                "ticket": ticket_json(ticket),
                "sentOrder": [d.event["version"] for d in reversed(deliveries)],
            }
        )

    @app.get("/admin/deliveries", dependencies=auth)
    async def deliveries(ticketNo: str = "") -> JSONResponse:
        return ok(
            [
                d.summary()
                for d in sender.deliveries
                if not ticketNo or d.event["ticketNo"] == ticketNo
            ]
        )
