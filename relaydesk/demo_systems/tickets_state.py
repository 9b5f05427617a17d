"""The ticket system's data (its own copy of the seed), status rules and JSON shapes."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from relaydesk.demo_systems._web import BodyError, now_local, read_fields
from relaydesk.demo_systems.dataset import fmt_time
from relaydesk.demo_systems.seed_service import Ticket, TicketChange, seed_tickets
from relaydesk.demo_systems.tickets_callbacks import CallbackSender, Delivery

__all__ = [
    "STATUS_TEXT",
    "TRANSITIONS",
    "TicketError",
    "TicketsState",
    "fields",
    "ok",
    "text_field",
    "ticket_json",
]

TRANSITIONS = {
    "NEW": ("PROCESSING", "CLOSED"),
    "PROCESSING": ("PENDING", "RESOLVED", "CLOSED"),
    "PENDING": ("PROCESSING", "CLOSED"),
    "RESOLVED": ("PROCESSING", "CLOSED"),
    "CLOSED": (),
}
STATUS_TEXT = {
    "NEW": "新建",
    "PROCESSING": "处理中",
    "PENDING": "挂起",
    "RESOLVED": "已解决",
    "CLOSED": "已关闭",
}


class TicketError(Exception):
    def __init__(self, status: int, code: str, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


class TicketsState:
    def __init__(self, sender: CallbackSender) -> None:
        self.tickets = {t.ticket_no: t for t in seed_tickets()}
        self.sender = sender
        self._seq = len(self.tickets)

    def get(self, ticket_no: str) -> Ticket:
        found = self.tickets.get(ticket_no)
        if found is None:
            raise TicketError(404, "E201", f"工单不存在: {ticket_no}")
        return found

    def next_no(self) -> str:
        self._seq += 1
        return f"GD{now_local():%Y%m%d}{self._seq:04d}"

    def change(
        self,
        ticket: Ticket,
        status: str,
        operator: str,
        remark: str,
        expected_version: Any = None,
        send: bool = True,
    ) -> Delivery:
        """Apply one status change; queue its callback unless ``send`` is false."""
        if expected_version not in (None, "") and str(expected_version) != str(ticket.version):
            raise TicketError(409, "E303", f"工单版本已变化（当前 {ticket.version}），请刷新后重试")
        if ticket.status == "CLOSED":
            raise TicketError(409, "E302", "工单已关闭，不能再修改")
        if status not in TRANSITIONS:
            raise TicketError(400, "E103", f"未知状态 {status}，可选: {', '.join(TRANSITIONS)}")
        if status not in TRANSITIONS[ticket.status]:
            raise TicketError(409, "E301", f"工单状态不能从 {ticket.status} 变为 {status}")
        change = TicketChange(
            ticket.version + 1, now_local(), ticket.status, status, operator, remark
        )
        ticket.history.append(change)
        ticket.status = status
        event = {
            "eventId": f"evt_{uuid.uuid4().hex}",
            "eventType": "TICKET_STATUS_CHANGED",
            "ticketNo": ticket.ticket_no,
            "version": change.version,
            "oldStatus": change.old_status,
            "newStatus": status,
            "operator": operator,
            "remark": remark,
            "changedAt": fmt_time(change.at),
            "customerMobile": ticket.customer_mobile,
            "orderNo": ticket.order_no,
        }
        delivery = Delivery(event, CallbackSender.encode(event))
        if send:
            self.sender.enqueue(delivery)
        return delivery


def ticket_json(t: Ticket) -> dict[str, Any]:
    return {
        "ticketNo": t.ticket_no,
        "status": t.status,
        "statusText": STATUS_TEXT[t.status],
        "version": t.version,
        "title": t.title,
        "content": t.content,
        "category": t.category,
        "priority": t.priority,
        "customerMobile": t.customer_mobile,
        "customerName": t.customer_name,
        "orderNo": t.order_no,
        "createdAt": fmt_time(t.created_at),
        "updatedAt": fmt_time(t.updated_at),
        "history": [
            {
                "version": h.version,
                "at": fmt_time(h.at),
                "from": h.old_status,
                "to": h.new_status,
                "operator": h.operator,
                "remark": h.remark,
            }
            for h in t.history
        ],
    }


def ok(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse({"success": True, "data": data}, status_code=status)


def text_field(
    fields: dict[str, Any], name: str, *, required: bool = False, limit: int = 200
) -> str:
    value = str(fields.get(name) or "").strip()
    if required and not value:
        raise TicketError(400, "E101", f"缺少必填字段 {name}")
    if len(value) > limit:
        raise TicketError(400, "E101", f"字段 {name} 最多 {limit} 字")
    return value


async def fields(request: Request) -> dict[str, Any]:
    """The form-encoded or JSON body, or E100."""
    try:
        return await read_fields(request)
    except BodyError as exc:
        raise TicketError(400, "E100", f"请求体无法解析: {exc}") from None
