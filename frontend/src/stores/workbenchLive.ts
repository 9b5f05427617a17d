// The workbench's reaction to realtime events (stores/realtime.ts): what changes on screen at
// once (typing, read receipts, a reply's delivery state, unread counts, order), and what is
// read again from the API, which has the last word. Split out of stores/workbench.ts, which
// builds the handler with its own state (liveEvents(ctx)).
import type { ComputedRef, Ref } from 'vue'

import type { Customer } from '@/api/client'
import type { RealtimeEvent } from '@/stores/realtime'
import type { Conversation, Message } from '@/stores/workbench'

/** What the workbench tells people about (desktop notifications, screen pops). */
export type Notice =
  | { kind: 'assigned'; conversation: Conversation }
  | { kind: 'call'; conversationId: string | null; customerId: string | null; event: RealtimeEvent }

/** How far a message got; a later answer never moves it back. */
const STATUS_RANK: Record<string, number> = { queued: 1, sent: 2, delivered: 3, read: 4, failed: 2 }

/** Whether a message in state `known` may take the state `next` (answers and events cross). */
export function canMove(known: string, next: string): boolean {
  return (STATUS_RANK[known] ?? 0) <= (STATUS_RANK[next] ?? 0)
}

export function str(value: unknown): string | null {
  return typeof value === 'string' && value ? value : null
}

/** The workbench state and moves the handler works with. */
export interface LiveContext {
  byId: Record<string, Conversation>
  listIds: Ref<string[]>
  selectedId: Ref<string | null>
  messages: Record<string, Message[]>
  /** when a live event last changed each message (performance.now()): an API answer to a
   * request made before that is older and does not overwrite it */
  liveAt: Map<string, number>
  customers: Record<string, Customer>
  myId: ComputedRef<string | null>
  notify(notice: Notice): void
  sortList(): void
  setTyping(conversationId: string, who: string, on: boolean): void
  refreshConversation(id: string): Promise<void>
  refreshMessages(id: string): Promise<void>
  markRead(id: string): Promise<void>
  fetchCustomer(id: string): Promise<void>
}

/**
 * A reply's delivery state changed (`message.status_changed`): queued (with the last error
 * while the channel is retried), sent, delivered, read, failed (with the reason). The open
 * pane shows it at once; a reply this tab does not know yet (sent from another tab) is read.
 */
function statusChanged(ctx: LiveContext, conversationId: string, p: Record<string, unknown>): void {
  const messageId = str(p.message_id)
  const status = str(p.status)
  const list = ctx.messages[conversationId]
  if (!messageId || !status || !list) return
  const known = list.find((m) => m.id === messageId)
  if (!known) {
    if (ctx.selectedId.value === conversationId) void ctx.refreshMessages(conversationId).catch(() => undefined)
    return
  }
  if (!canMove(known.status, status)) return
  const error = typeof p.error === 'string' && p.error ? p.error : null
  ctx.messages[conversationId] = list.map((m) => (m.id === messageId ? { ...m, status, error } : m))
  ctx.liveAt.set(messageId, performance.now())
}

export function liveEvents(ctx: LiveContext): (event: RealtimeEvent) => void {
  const { byId, listIds, selectedId, messages, customers, myId } = ctx

  return function applyEvent(event: RealtimeEvent): void {
    const p = event.payload
    const conversationId = str(p.conversation_id)
    const type = event.event_type
    if (type === 'typing.agent' || type === 'typing.visitor') {
      if (!conversationId) return
      const user = str(p.user_id)
      if (type === 'typing.agent' && user === myId.value) return // our own, echoed
      ctx.setTyping(conversationId, type === 'typing.agent' ? `agent:${user ?? '?'}` : 'customer', p.on !== false)
      return
    }
    if (type === 'message.read' && conversationId) {
      const ids = new Set(Array.isArray(p.message_ids) ? (p.message_ids as string[]) : [])
      const list = messages[conversationId]
      if (list) messages[conversationId] = list.map((m) => (ids.has(m.id) ? { ...m, status: 'read' } : m))
      for (const id of ids) ctx.liveAt.set(id, performance.now())
      return
    }
    if (type === 'message.status_changed') {
      if (conversationId) statusChanged(ctx, conversationId, p)
      return
    }
    if (type.startsWith('customer.')) {
      const customerId = str(p.customer_id) ?? str(p.id)
      if (customerId && customers[customerId]) void ctx.fetchCustomer(customerId)
      return
    }
    if (type.startsWith('call.')) {
      if (type === 'call.ringing' || type === 'call.offered') {
        const target = str(p.user_id) ?? str(p.agent_id) ?? str(p.assignee_id)
        if (!target || target === myId.value) {
          ctx.notify({ kind: 'call', conversationId, customerId: str(p.customer_id), event })
        }
      }
      if (conversationId) void ctx.refreshConversation(conversationId)
      return
    }
    if (!conversationId || !(type.startsWith('conversation.') || type.startsWith('message.'))) return

    const known = byId[conversationId]
    if (type === 'message.received' || type === 'message.sent') {
      if (type === 'message.received') ctx.setTyping(conversationId, 'customer', false)
      if (known) {
        const patch: Partial<Conversation> = { last_message_at: event.occurred_at ?? known.last_message_at }
        if (type === 'message.received' && selectedId.value !== conversationId) {
          patch.unread_count = (known.unread_count || 0) + 1
        }
        byId[conversationId] = { ...known, ...patch }
        if (listIds.value.includes(conversationId)) ctx.sortList()
      }
      if (selectedId.value === conversationId) {
        void ctx
          .refreshMessages(conversationId)
          .then(() => {
            if (type === 'message.received') return ctx.markRead(conversationId)
          })
          .catch(() => undefined)
      }
    } else if (type === 'conversation.status_changed' && known) {
      byId[conversationId] = { ...known, status: String(p.status ?? known.status) }
    } else if (type === 'conversation.assigned') {
      if (known) byId[conversationId] = { ...known, assignee_id: str(p.assignee_id), team_id: str(p.team_id) }
      const toMe = myId.value !== null && str(p.assignee_id) === myId.value
      const wasMine = str(p.previous_assignee_id) === myId.value
      if (toMe && !wasMine && str(p.by) !== myId.value) {
        void ctx.refreshConversation(conversationId).then(() => {
          const c = byId[conversationId]
          if (c) ctx.notify({ kind: 'assigned', conversation: c })
        })
        return
      }
      if (selectedId.value === conversationId && p.note) void ctx.refreshMessages(conversationId).catch(() => undefined)
    }
    void ctx.refreshConversation(conversationId)
  }
}
