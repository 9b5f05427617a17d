import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'

import { fakeApi, json, me, tokens, type Handler } from '@/test/fakeApi'
import { FakeSocket } from '@/views/workbench/fakeSocket'

import { useAuthStore } from './auth'
import { setSocketFactory, useRealtimeStore } from './realtime'
import { DEFAULT_FILTERS, listQuery, matches, useWorkbenchStore, type Conversation, type Message } from './workbench'

const ME = '00000000-0000-7000-8000-000000000001' // the user of fakeApi's me()
const OTHER = '00000000-0000-7000-8000-0000000000aa'
const E = (n: number) => `019a0000-0000-7000-8000-${String(n).padStart(12, '0')}`
const CONV = (n: number) => `019b0000-0000-7000-8000-${String(n).padStart(12, '0')}`

function conv(n: number, extra: Partial<Conversation> = {}): Conversation {
  return {
    id: CONV(n), inbox_id: 'inbox-1', channel: 'web_chat', customer_id: `cust-${n}`, status: 'open',
    priority: 'normal', assignee_id: ME, team_id: null, department_id: null, subject: null, tags: [],
    snoozed_until: null, last_message_at: `2026-11-21T09:0${n}:00Z`, first_response_at: null,
    resolved_at: null, unread_count: 0, created_at: '2026-11-21T09:00:00Z', ...extra,
  }
}

function msg(n: number, conversation: string, extra: Partial<Message> = {}): Message {
  return {
    id: `019c0000-0000-7000-8000-${String(n).padStart(12, '0')}`, conversation_id: conversation, direction: 'in',
    author_type: 'customer', author_id: 'cust', content_type: 'text', body: `message ${n}`, content: {},
    attachments: [], private: false, status: 'received', error: null, created_at: '2026-11-21T10:00:00Z', ...extra,
  }
}

/** The API as the server would answer, from a mutable set of conversations and messages. */
function server(convs: Conversation[], messages: Record<string, Message[]> = {}) {
  const byId = new Map(convs.map((c) => [c.id, c]))
  const routes: Record<string, Handler> = {
    'POST /api/v1/auth/login': () => tokens(1),
    'GET /api/v1/auth/me': () => me(['conversations.read', 'conversations.write']),
    'GET /api/v1/conversations': () => json(200, { items: [...byId.values()].filter((c) => c.assignee_id === ME), next_cursor: null }),
  }
  const add = (c: Conversation) => {
    byId.set(c.id, c)
    routes[`GET /api/v1/conversations/${c.id}`] = () => json(200, byId.get(c.id))
    routes[`POST /api/v1/conversations/${c.id}/read`] = () => {
      const read = { ...byId.get(c.id)!, unread_count: 0 }
      byId.set(c.id, read)
      return json(200, read)
    }
    routes[`GET /api/v1/conversations/${c.id}/messages`] = () =>
      json(200, { items: [...(messages[c.id] ?? [])].reverse(), next_cursor: null })
  }
  convs.forEach(add)
  const api = fakeApi(routes)
  return { api, byId, add, messages }
}

async function start(convs: Conversation[], messages: Record<string, Message[]> = {}) {
  const srv = server(convs, messages)
  await useAuthStore().login('demo', 'agent@demo.relaydesk.local', 'x')
  const wb = useWorkbenchStore()
  wb.connect()
  const sock = FakeSocket.last()
  sock.open()
  sock.ready(E(1))
  await vi.waitFor(() => expect(wb.loaded).toBe(true))
  return { ...srv, wb, sock }
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0))

beforeEach(() => {
  setActivePinia(createPinia())
  sessionStorage.clear()
  FakeSocket.reset()
  setSocketFactory((url) => new FakeSocket(url))
})

afterEach(() => {
  useWorkbenchStore().clear()
  useRealtimeStore().reset()
  setSocketFactory(null)
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

describe('filters', () => {
  it('turn into the API query and decide who belongs in the list', () => {
    expect(listQuery(DEFAULT_FILTERS)).toEqual({ assignee: 'me', status: 'open' })
    expect(listQuery({ view: 'team', teamId: 't1', status: '', channel: 'email', priority: 'urgent' })).toEqual({
      team_id: 't1', channel: 'email', priority: 'urgent',
    })
    expect(listQuery({ view: 'unassigned', teamId: null, status: 'pending', channel: '', priority: '' })).toEqual({
      assignee: 'unassigned', status: 'pending',
    })
    expect(matches(conv(1), DEFAULT_FILTERS, ME)).toBe(true)
    expect(matches(conv(1, { assignee_id: OTHER }), DEFAULT_FILTERS, ME)).toBe(false)
    expect(matches(conv(1, { status: 'resolved' }), DEFAULT_FILTERS, ME)).toBe(false)
    expect(matches(conv(1, { assignee_id: null }), { ...DEFAULT_FILTERS, view: 'unassigned' }, ME)).toBe(true)
    expect(matches(conv(1, { channel: 'sms' }), { ...DEFAULT_FILTERS, channel: 'email' }, ME)).toBe(false)
  })
})

describe('the conversation list', () => {
  it('loads my open conversations, latest activity first', async () => {
    const { wb, api } = await start([conv(1), conv(3), conv(2)])
    expect(wb.list.map((c) => c.id)).toEqual([CONV(3), CONV(2), CONV(1)])
    const url = new URL((api.fetchMock.mock.calls.find(([r]) => r.url.includes('/conversations?'))![0] as Request).url)
    expect(url.searchParams.get('assignee')).toBe('me')
    expect(url.searchParams.get('status')).toBe('open')
  })

  it('counts a new message as unread and moves its conversation to the top at once', async () => {
    const { wb, sock, byId } = await start([conv(1), conv(2)])
    byId.set(CONV(1), { ...byId.get(CONV(1))!, unread_count: 1, last_message_at: '2026-11-21T10:00:00Z' })
    sock.event(E(2), 'message.received', { conversation_id: CONV(1), message_id: 'm', text: 'hi' }, '2026-11-21T10:00:00Z')
    expect(wb.list[0]!.id).toBe(CONV(1))
    expect(wb.byId[CONV(1)]!.unread_count).toBe(1)
    expect(wb.unreadTotal).toBe(1)
    await settle()
    expect(wb.byId[CONV(1)]!.unread_count).toBe(1) // the server agrees
  })

  it('applies an event replayed after a reconnect only once', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] })
    const { wb, sock, byId } = await start([conv(1)])
    byId.set(CONV(1), { ...byId.get(CONV(1))!, unread_count: 1 }) // what the server counted
    sock.event(E(2), 'message.received', { conversation_id: CONV(1) })
    expect(wb.byId[CONV(1)]!.unread_count).toBe(1)
    sock.drop(1013)
    await vi.advanceTimersByTimeAsync(2_000)
    const again = FakeSocket.last()
    again.open()
    expect(again.sent[0]).toMatchObject({ after: E(2) })
    again.event(E(2), 'message.received', { conversation_id: CONV(1) }) // overlap
    again.ready(E(2))
    expect(wb.byId[CONV(1)]!.unread_count).toBe(1)
  })

  it('adds a new conversation that matches the filters, and leaves out one that does not', async () => {
    const { wb, sock, add } = await start([conv(1)])
    add(conv(5, { assignee_id: ME }))
    add(conv(6, { assignee_id: OTHER }))
    sock.event(E(2), 'conversation.created', { conversation_id: CONV(5) })
    sock.event(E(3), 'conversation.created', { conversation_id: CONV(6) })
    await vi.waitFor(() => expect(wb.list.map((c) => c.id)).toContain(CONV(5)))
    await settle()
    expect(wb.list.map((c) => c.id)).not.toContain(CONV(6))
  })

  it('drops a conversation transferred away from me, and tells me about one transferred to me', async () => {
    const { wb, sock, byId, add } = await start([conv(1), conv(2)])
    const notices: string[] = []
    wb.setNotifier((n) => notices.push(n.kind === 'assigned' ? `assigned ${n.conversation.id}` : n.kind))
    byId.set(CONV(1), { ...byId.get(CONV(1))!, assignee_id: OTHER })
    sock.event(E(2), 'conversation.assigned', { conversation_id: CONV(1), assignee_id: OTHER, previous_assignee_id: ME, by: OTHER })
    expect(wb.list.map((c) => c.id)).toEqual([CONV(2), CONV(1)]) // still there until the API answers
    await vi.waitFor(() => expect(wb.list.map((c) => c.id)).toEqual([CONV(2)]))

    add(conv(7, { assignee_id: ME }))
    sock.event(E(3), 'conversation.assigned', { conversation_id: CONV(7), assignee_id: ME, previous_assignee_id: null, by: OTHER })
    await vi.waitFor(() => expect(notices).toEqual([`assigned ${CONV(7)}`]))
    expect(wb.list.map((c) => c.id)).toContain(CONV(7))
  })

  it('does not notify about a conversation I took myself', async () => {
    const { wb, sock, add } = await start([])
    const notices: unknown[] = []
    wb.setNotifier((n) => notices.push(n))
    add(conv(8))
    sock.event(E(2), 'conversation.assigned', { conversation_id: CONV(8), assignee_id: ME, previous_assignee_id: null, by: ME })
    await vi.waitFor(() => expect(wb.list.map((c) => c.id)).toContain(CONV(8)))
    expect(notices).toEqual([])
  })

  it('removes a resolved conversation from the open list but keeps it open in the pane', async () => {
    const { wb, sock, byId } = await start([conv(1)])
    await wb.select(CONV(1))
    byId.set(CONV(1), { ...byId.get(CONV(1))!, status: 'resolved' })
    sock.event(E(2), 'conversation.status_changed', { conversation_id: CONV(1), status: 'resolved', previous_status: 'open' })
    expect(wb.selected?.status).toBe('resolved')
    await vi.waitFor(() => expect(wb.list).toEqual([]))
    expect(wb.selected?.id).toBe(CONV(1))
  })

  it('reloads the list when the server says the gap is too large to replay', async () => {
    const { api, sock } = await start([conv(1)])
    const before = api.calls('GET', '/api/v1/conversations').length
    sock.frame({ type: 'resync' })
    await vi.waitFor(() => expect(api.calls('GET', '/api/v1/conversations').length).toBe(before + 1))
  })
})

describe('the open conversation', () => {
  it('shows a message arriving live and marks it read', async () => {
    const messages = { [CONV(1)]: [msg(1, CONV(1))] }
    const { wb, sock, byId, api } = await start([conv(1, { unread_count: 1 })], messages)
    await wb.select(CONV(1))
    expect(wb.selectedMessages.map((m) => m.body)).toEqual(['message 1'])
    expect(api.calls('POST', `/api/v1/conversations/${CONV(1)}/read`)).toHaveLength(1)

    messages[CONV(1)]!.push(msg(2, CONV(1)))
    byId.set(CONV(1), { ...byId.get(CONV(1))!, unread_count: 1 })
    sock.event(E(2), 'message.received', { conversation_id: CONV(1) })
    expect(wb.byId[CONV(1)]!.unread_count).toBe(0) // not counted: the agent is looking at it
    await vi.waitFor(() => expect(wb.selectedMessages.map((m) => m.body)).toEqual(['message 1', 'message 2']))
    await vi.waitFor(() => expect(api.calls('POST', `/api/v1/conversations/${CONV(1)}/read`)).toHaveLength(2))
  })

  it('shows who is typing, ignores its own echo, and forgets a typing signal that stops', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setInterval', 'clearInterval'] })
    const { wb, sock } = await start([conv(1)])
    sock.event(null, 'typing.agent', { conversation_id: CONV(1), user_id: ME, on: true })
    expect(wb.typingIn(CONV(1))).toEqual([])
    sock.event(null, 'typing.visitor', { conversation_id: CONV(1), customer_id: 'cust-1', on: true })
    sock.event(null, 'typing.agent', { conversation_id: CONV(1), user_id: OTHER, on: true })
    expect(wb.typingIn(CONV(1)).sort()).toEqual([`agent:${OTHER}`, 'customer'])
    sock.event(null, 'typing.agent', { conversation_id: CONV(1), user_id: OTHER, on: false })
    expect(wb.typingIn(CONV(1))).toEqual(['customer'])
    await vi.advanceTimersByTimeAsync(7_000) // no "off" came: it fades
    expect(wb.typingIn(CONV(1))).toEqual([])
  })

  it('sends a reply and shows it before any event comes back', async () => {
    const { wb, api } = await start([conv(1)])
    await wb.select(CONV(1))
    const reply = msg(9, CONV(1), { direction: 'out', author_type: 'agent', body: 'Hello', status: 'queued' })
    api.fetchMock.mockImplementationOnce(async () => new Response(JSON.stringify(reply), { status: 201, headers: { 'Content-Type': 'application/json' } }))
    await wb.send('Hello', false)
    expect(wb.selectedMessages.at(-1)?.body).toBe('Hello')
  })

  it('shows a reply\'s delivery state live: queued with the retry error, sent, failed with the reason', async () => {
    const reply = msg(9, CONV(1), { direction: 'out', author_type: 'agent', body: 'Hello', status: 'queued' })
    const { wb, sock, api } = await start([conv(1)], { [CONV(1)]: [msg(1, CONV(1)), reply] })
    await wb.select(CONV(1))
    const reads = api.calls('GET', `/api/v1/conversations/${CONV(1)}/messages`).length
    const state = () => wb.selectedMessages.find((m) => m.id === reply.id)!
    const change = (id: string, status: string, previous: string, error: string | null = null) =>
      sock.event(id, 'message.status_changed', {
        conversation_id: CONV(1), message_id: reply.id, status, previous_status: previous, error,
      })

    change(E(2), 'queued', 'queued', 'the app\'s webhook answered HTTP 503 (attempt 1, retrying)')
    expect(state()).toMatchObject({ status: 'queued', error: expect.stringContaining('HTTP 503') })
    change(E(3), 'sent', 'queued')
    expect(state()).toMatchObject({ status: 'sent', error: null })
    change(E(4), 'failed', 'sent', 'not delivered (UNDELIV)')
    expect(state()).toMatchObject({ status: 'failed', error: 'not delivered (UNDELIV)' })
    // an older state never comes back, and nothing had to be read again
    change(E(5), 'queued', 'queued', 'late')
    expect(state()).toMatchObject({ status: 'failed', error: 'not delivered (UNDELIV)' })
    await settle()
    expect(api.calls('GET', `/api/v1/conversations/${CONV(1)}/messages`)).toHaveLength(reads)
  })

  it('keeps a retry\'s error shown live when the send\'s older answer lands after it', async () => {
    const messages = { [CONV(1)]: [msg(1, CONV(1))] }
    const { wb, sock, api } = await start([conv(1)], messages)
    await wb.select(CONV(1))
    const reply = msg(9, CONV(1), { direction: 'out', author_type: 'agent', body: 'Hello', status: 'queued' })
    let answer: (r: Response) => void = () => undefined
    api.fetchMock.mockImplementationOnce(() => new Promise<Response>((resolve) => (answer = resolve)))
    const sending = wb.send('Hello', false)
    // before the POST's answer: the reply is read again (message.sent), its first attempt fails
    messages[CONV(1)]!.push(reply)
    sock.event(E(2), 'message.sent', { conversation_id: CONV(1) })
    await vi.waitFor(() => expect(wb.selectedMessages.map((m) => m.id)).toContain(reply.id))
    sock.event(E(3), 'message.status_changed', {
      conversation_id: CONV(1), message_id: reply.id, status: 'queued', previous_status: 'queued', error: 'HTTP 503',
    })
    answer(new Response(JSON.stringify(reply), { status: 201, headers: { 'Content-Type': 'application/json' } }))
    await sending
    expect(wb.selectedMessages.find((m) => m.id === reply.id)).toMatchObject({ status: 'queued', error: 'HTTP 503' })
    // an answer asked for after the change is taken as it is
    messages[CONV(1)] = [msg(1, CONV(1)), { ...reply, status: 'sent' }]
    await wb.refreshMessages(CONV(1))
    expect(wb.selectedMessages.find((m) => m.id === reply.id)).toMatchObject({ status: 'sent', error: null })
  })

  it('reads the messages again when a reply it does not know yet changes state', async () => {
    const messages = { [CONV(1)]: [msg(1, CONV(1))] }
    const { wb, sock } = await start([conv(1)], messages)
    await wb.select(CONV(1))
    const other = msg(10, CONV(1), { direction: 'out', author_type: 'agent', body: 'from another tab', status: 'sent' })
    messages[CONV(1)]!.push(other)
    sock.event(E(2), 'message.status_changed', { conversation_id: CONV(1), message_id: other.id, status: 'sent', previous_status: 'queued' })
    await vi.waitFor(() => expect(wb.selectedMessages.map((m) => m.body)).toContain('from another tab'))
  })
})
