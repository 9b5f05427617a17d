// The workbench's live parts: stored attachments read with the agent's token (download,
// preview, clear errors), the routing decision behind the priority, click-to-call (permission,
// result, classified refusal), the test notification and notification events in the bell.
import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'

import { i18n, setLocale } from '@/i18n'
import { useAuthStore } from '@/stores/auth'
import { setSocketFactory, useRealtimeStore } from '@/stores/realtime'
import type { Conversation, Message } from '@/stores/workbench'
import { apiError, fakeApi, json, me, tokens, type Handler } from '@/test/fakeApi'

import AttachmentItem from './AttachmentItem.vue'
import CallButton from './CallButton.vue'
import { FakeSocket } from './fakeSocket'
import { REVOKE_AFTER_MS } from './files'
import { attachments } from './format'
import NotificationBell from './NotificationBell.vue'
import RoutingDecision from './RoutingDecision.vue'

vi.mock('vue-router', () => ({ useRouter: () => ({ push: vi.fn() }) }))

const CONV: Conversation = {
  id: 'conv-1', inbox_id: 'inbox-1', channel: 'web_chat', customer_id: 'cust-1', status: 'open', priority: 'urgent',
  assignee_id: null, team_id: null, department_id: null, subject: null, tags: [], snoozed_until: null,
  last_message_at: '2026-11-21T10:00:00Z', first_response_at: null, resolved_at: null, unread_count: 0,
  created_at: '2026-11-21T10:00:00Z',
}
const FILE_PATH = '/api/v1/conversations/conv-1/messages/m1/attachments/1'

function message(files: Record<string, unknown>[]): Message {
  return {
    id: 'm1', conversation_id: 'conv-1', direction: 'in', author_type: 'customer', author_id: 'cust-1',
    content_type: 'text', body: '', content: {}, attachments: files, private: false, status: 'received', error: null,
    created_at: '2026-11-21T10:00:00Z',
  }
}

async function signIn(permissions: string[], routes: Record<string, Handler> = {}) {
  const api = fakeApi({ 'POST /api/v1/auth/login': () => tokens(1), 'GET /api/v1/auth/me': () => me(permissions), ...routes })
  await useAuthStore().login('demo', 'agent@demo.relaydesk.local', 'x')
  return api
}

const plugins = { global: { plugins: [i18n] } }

beforeEach(() => {
  setActivePinia(createPinia())
  setLocale('en')
  document.body.innerHTML = ''
})
afterEach(() => {
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

describe('stored attachments', () => {
  const files = attachments(message([
    { filename: 'https-link.pdf', url: 'https://cdn.example.com/a.pdf' },
    { filename: '发票.png', content_type: 'image/png', size: 2048, storage_key: 'attachments/t/ab/abc' },
    { filename: 'virus.exe', refused: 'type not allowed' },
  ]))

  it('are told apart from links and refused files, by their index', () => {
    expect(files.map((f) => [f.index, f.stored, f.url !== null, f.refused])).toEqual([
      [0, false, true, null], [1, true, false, null], [2, false, false, 'type not allowed'],
    ])
  })

  it('download with the bearer token and save through an object URL that is revoked', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout'] })
    const api = await signIn(['conversations.read'], { [`GET ${FILE_PATH}`]: () => json(200, 'PNG-BYTES') })
    const create = vi.fn(() => 'blob:http://localhost/1')
    const revoke = vi.fn()
    vi.stubGlobal('URL', Object.assign(URL, { createObjectURL: create, revokeObjectURL: revoke }))
    const clicked: { href: string; download: string }[] = []
    const click = vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
      clicked.push({ href: this.href, download: this.download })
    })
    const w = mount(AttachmentItem, { props: { file: files[1]!, conversationId: 'conv-1', messageId: 'm1' }, ...plugins })
    await w.get('[data-test="attachment-download"]').trigger('click')
    await flushPromises()
    expect(api.calls('GET', FILE_PATH)[0]!.auth).toBe('Bearer access-1')
    expect(await (create.mock.calls[0] as unknown as [Blob])[0].text()).toContain('PNG-BYTES')
    expect(clicked).toEqual([{ href: 'blob:http://localhost/1', download: '发票.png' }])
    expect(revoke).not.toHaveBeenCalled()
    vi.advanceTimersByTime(REVOKE_AFTER_MS)
    expect(revoke).toHaveBeenCalledWith('blob:http://localhost/1')
    click.mockRestore()
  })

  it('preview an image inline as a data: URL (the page\'s CSP allows no blob: images)', async () => {
    const api = await signIn(['conversations.read'], { [`GET ${FILE_PATH}`]: () => json(200, 'PNG') })
    const w = mount(AttachmentItem, { props: { file: files[1]!, conversationId: 'conv-1', messageId: 'm1' }, ...plugins })
    await w.get('[data-test="attachment-preview"]').trigger('click')
    await vi.waitFor(() => expect(w.find('[data-test="attachment-thumb"]').exists()).toBe(true))
    expect(w.get('[data-test="attachment-thumb"]').attributes('src')).toMatch(/^data:/)
    expect(api.seen.find((s) => s.path === FILE_PATH)).toBeTruthy()
    await w.get('[data-test="attachment-preview"]').trigger('click')
    expect(w.find('[data-test="attachment-thumb"]').exists()).toBe(false)
  })

  it.each([
    [apiError(404, 'attachment_not_stored', 'attachment 1 was not stored'), 'This file was not kept'],
    [apiError(404, 'attachment_missing'), 'no longer stored'],
    [apiError(404, 'not_found'), 'not found, or you may no longer read'],
    [apiError(403, 'forbidden'), 'may not download'],
  ])('say clearly why a file cannot be downloaded (%#)', async (answer, text) => {
    await signIn(['conversations.read'], { [`GET ${FILE_PATH}`]: () => answer })
    const w = mount(AttachmentItem, { props: { file: files[1]!, conversationId: 'conv-1', messageId: 'm1' }, ...plugins })
    await w.get('[data-test="attachment-download"]').trigger('click')
    await flushPromises()
    expect(w.get('[data-test="attachment-error"]').text()).toContain(text)
  })
})

describe('the routing decision', () => {
  const PATH = '/api/v1/routing/conversations/conv-1/decision'
  const check = (rule: string, result: string, reason: string) => ({ rule_id: `r-${rule}`, rule, result, reason, call_id: null })

  async function open(answer: Handler) {
    await signIn(['conversations.read'], { [`GET ${PATH}`]: answer })
    const w = mount(RoutingDecision, { props: { conversation: CONV }, ...plugins, attachTo: document.body })
    expect(w.get('[data-test="pane-priority"]').text()).toBe('Urgent')
    await w.get('[data-test="pane-priority"]').trigger('click')
    await flushPromises()
    return document.querySelector('[data-test="routing-decision"]')!
  }

  it('shows the rule that matched, its reason, skills and the rules tried', async () => {
    const el = await open(() => json(200, {
      conversation_id: 'conv-1', outcome: 'matched', reason: "rule 'VIP' matched", rule_id: 'r-VIP', priority: 'urgent',
      team_id: null, skills: ['vip'], latency_ms: 41.2, created_at: '2026-11-21T10:00:01Z',
      checks: [check('Other', 'no_match', 'Other: the condition does not hold'), check('VIP', 'matched', 'VIP: the condition holds')],
    }))
    expect(el.getAttribute('data-outcome')).toBe('matched')
    expect(el.querySelector('[data-test="routing-outcome"]')!.textContent).toBe('Rule “VIP” matched')
    expect(el.querySelector('[data-test="routing-skills"]')!.textContent).toBe('vip')
    expect([...el.querySelectorAll('[data-test="routing-check"]')].map((c) => c.getAttribute('data-result'))).toEqual(['no_match', 'matched'])
  })

  it('says when the connected systems could not answer and routing went on normally', async () => {
    const el = await open(() => json(200, {
      conversation_id: 'conv-1', outcome: 'failed', reason: 'VIP: crm: circuit_open — routed normally', rule_id: null,
      priority: null, team_id: null, skills: [], latency_ms: 3, created_at: '2026-11-21T10:00:01Z',
      checks: [check('VIP', 'failed', 'crm: circuit_open')],
    }))
    expect(el.querySelector('[data-test="routing-outcome"]')!.textContent).toBe('Connected systems unavailable → routed normally')
    expect(el.querySelector('[data-test="routing-reason"]')!.textContent).toContain('circuit_open')
  })

  it('says when no rule was evaluated at all', async () => {
    const el = await open(() => apiError(404, 'not_found', 'no priority rule was evaluated for this conversation'))
    expect(el.querySelector('[data-test="routing-none"]')!.textContent).toContain('routed normally')
  })
})

describe('click-to-call', () => {
  const PATH = '/api/v1/conversations/conv-1/call'
  const DIAL = ['conversations.write', 'connector_action:callcenter.dial']

  it('is offered only to whoever may place calls', async () => {
    await signIn(['conversations.read', 'conversations.write'])
    expect(mount(CallButton, { props: { conversation: CONV }, ...plugins }).find('[data-test="dial"]').exists()).toBe(false)
  })

  async function dial(answer: Handler) {
    const api = await signIn(DIAL, { [`POST ${PATH}`]: answer })
    const w = mount(CallButton, { props: { conversation: CONV }, ...plugins, attachTo: document.body })
    await w.get('[data-test="dial"]').trigger('click')
    await flushPromises()
    return { api, result: document.querySelector('[data-test="dial-result"]')! }
  }

  it('tells the agent whom the call centre is calling', async () => {
    const { api, result } = await dial(() => json(200, {
      ok: true, call_id: 'c-1', seat: '8001', customer_number: '138****5678', conversation_id: 'conv-1',
      inbox_id: 'i', instance: 'callcenter', connector_call_id: 'cc-1', error: null,
    }))
    expect(api.calls('POST', PATH)).toHaveLength(1)
    expect(result.getAttribute('data-ok')).toBe('true')
    expect(result.textContent).toContain('Calling 138****5678: your phone (seat 8001) rings first.')
  })

  it('shows the call centre\'s classified refusal', async () => {
    const { result } = await dial(() => json(200, {
      ok: false, call_id: null, seat: '8001', customer_number: '138****5678', conversation_id: 'conv-1', inbox_id: 'i',
      instance: 'callcenter', connector_call_id: 'cc-1',
      error: { class: 'fail', kind: 'transient', code: 'seat_offline', message: 'the seat is offline' },
    }))
    expect(result.getAttribute('data-ok')).toBe('false')
    expect(result.textContent).toContain('the seat is offline (seat_offline)')
    expect(result.querySelector('[data-test="dial-kind"]')!.textContent).toContain('Temporary problem')
  })

  it('explains the API\'s refusals', async () => {
    const { result } = await dial(() => apiError(409, 'no_seat', 'no seat for agent'))
    expect(result.textContent).toContain('No call-centre seat is set up for you.')
  })
})

describe('the notification bell', () => {
  const note = (n: number) => ({
    id: `n-${n}`, title: `Note ${n}`, body: 'body', link: null, source: {}, read_at: null, created_at: '2026-11-21T10:00:00Z',
  })

  it('sends a test notification and follows notification events live', async () => {
    FakeSocket.reset()
    setSocketFactory((url) => new FakeSocket(url))
    let unread = 0
    const items = [note(1)]
    const api = await signIn(['conversations.read'], {
      'GET /api/v1/notifications/unread-count': () => json(200, { unread }),
      'GET /api/v1/notifications': () => json(200, { items: [...items].reverse(), next_cursor: null }),
      'POST /api/v1/notifications/test': () => {
        items.push(note(2))
        unread += 1
        return json(201, note(2))
      },
    })
    const realtime = useRealtimeStore()
    realtime.start()
    const sock = FakeSocket.last()
    sock.open()
    sock.ready(null)
    const w = mount(NotificationBell, { ...plugins, attachTo: document.body })
    await w.get('[data-test="notifications"]').trigger('click')
    await flushPromises()
    const titles = () => [...document.querySelectorAll('[data-test="notification"] .rd-note-title')].map((e) => e.textContent)
    expect(titles()).toEqual(['Note 1'])

    ;(document.querySelector('[data-test="notification-test"]') as HTMLElement).click()
    await flushPromises()
    expect(api.calls('POST', '/api/v1/notifications/test')).toHaveLength(1)
    expect(titles()).toEqual(['Note 2', 'Note 1'])

    // another notification arrives as an event: badge and open list follow without a click
    items.push(note(3))
    unread += 1
    sock.event('e-3', 'notification.created', { user_id: '00000000-0000-7000-8000-000000000001', notification_id: 'n-3' })
    await flushPromises()
    expect(titles()).toEqual(['Note 3', 'Note 2', 'Note 1'])
    expect(w.get('[data-test="notifications-badge"]').attributes('data-unread')).toBe('2')
    w.unmount()
    realtime.reset()
    setSocketFactory(null)
  })
})
