// The workbench's components and helpers: messages of every channel shown as text, the
// canned-response picker, keyboard shortcuts, the customer panel's masking and reveal, the
// connector panels' states, actions' forms.
import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'

import type { Customer } from '@/api/client'
import { i18n, setLocale } from '@/i18n'
import { useAuthStore } from '@/stores/auth'
import type { Conversation, Message } from '@/stores/workbench'
import { apiError, fakeApi, json, me, tokens, type Handler } from '@/test/fakeApi'
import { schemaFields } from '@/views/connectors/schemaForm'

import { prefill, sagaParamsSchema } from './actions'
import { maskPhones, records, showValue } from './c360'
import Composer from './Composer.vue'
import CustomerProfile from './CustomerProfile.vue'
import { askDesktopPermission, showDesktop } from './desktop'
import { callInfo, duration, emailParts, safeUrl, slashQuery, snoozeUntil } from './format'
import MessageItem from './MessageItem.vue'
import { shortcutFor } from './shortcuts'
import SystemPanels from './SystemPanels.vue'

const CONV: Conversation = {
  id: 'conv-1', inbox_id: 'inbox-1', channel: 'web_chat', customer_id: 'cust-1', status: 'open', priority: 'normal',
  assignee_id: null, team_id: null, department_id: null, subject: null, tags: [], snoozed_until: null,
  last_message_at: '2026-11-21T10:00:00Z', first_response_at: null, resolved_at: null, unread_count: 0,
  created_at: '2026-11-21T10:00:00Z',
}

function message(extra: Partial<Message>): Message {
  return {
    id: 'm1', conversation_id: 'conv-1', direction: 'in', author_type: 'customer', author_id: 'cust-1',
    content_type: 'text', body: '', content: {}, attachments: [], private: false, status: 'received', error: null,
    created_at: '2026-11-21T10:00:00Z', ...extra,
  }
}

const CUSTOMER: Customer = {
  id: 'cust-1', name: '张伟', phone: '+86138****5678', email: 'z***@example.com', id_number: null, bank_card: null,
  address: null, company: '示例公司', tags: ['vip'], attributes: { level: 'gold' }, created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z', masked: true,
  identities: [
    {
      id: 'idn-1', customer_id: 'cust-1', kind: 'phone', namespace: 'cn', value: '+86138****5678', verified: true,
      verified_at: null, source: 'sms', origin: 'contact', created_at: '2026-01-01T00:00:00Z', masked: true,
    },
  ],
}

async function signIn(permissions: string[], routes: Record<string, Handler> = {}) {
  const api = fakeApi({
    'POST /api/v1/auth/login': () => tokens(1),
    'GET /api/v1/auth/me': () => me(permissions),
    ...routes,
  })
  await useAuthStore().login('demo', 'agent@demo.relaydesk.local', 'x')
  return api
}

beforeEach(() => {
  setActivePinia(createPinia())
  setLocale('en')
})
afterEach(() => vi.unstubAllGlobals())

describe('helpers', () => {
  it('offer only http(s) links', () => {
    expect(safeUrl('https://rec.example.com/1.mp3')).toBe('https://rec.example.com/1.mp3')
    expect(safeUrl('javascript:alert(1)')).toBeNull()
    expect(safeUrl('data:text/html,<b>x</b>')).toBeNull()
    expect(safeUrl('/relative')).toBeNull()
  })

  it('read e-mails and call records whatever the channel named their parts', () => {
    const mail = emailParts(message({ content: { subject: 'Re: 订单', from: { name: '张伟', address: 'z@example.com' }, quoted: '> earlier', html: '<p>x</p>' } }))
    expect(mail).toEqual({ subject: 'Re: 订单', from: '张伟 <z@example.com>', to: null, quoted: '> earlier', html: '<p>x</p>' })
    const call = callInfo(message({ content: { duration_seconds: 95, recording_url: 'https://rec.example.com/1.mp3', transcript: [{ speaker: '客户', text: '你好' }, 'second line'] } }))
    expect(call.durationSeconds).toBe(95)
    expect(duration(95)).toBe('1:35')
    expect(duration(3725)).toBe('1:02:05')
    expect(call.transcript).toEqual([{ speaker: '客户', text: '你好' }, { speaker: null, text: 'second line' }])
    expect(callInfo(message({ content: { recording_url: 'javascript:x' } })).recordingUrl).toBeNull()
  })

  it('find the /word being typed and compute snooze times', () => {
    expect(slashQuery('/gre', 4)).toEqual({ start: 0, query: 'gre' })
    expect(slashQuery('hello /thanks', 13)).toEqual({ start: 6, query: 'thanks' })
    expect(slashQuery('a/b', 3)).toBeNull() // inside a word (a URL, a date): not a shortcut
    expect(slashQuery('/gre done', 9)).toBeNull()
    const monday = snoozeUntil('nextWeek', new Date(2026, 10, 21, 15, 0)) // a Saturday
    expect([monday.getDay(), monday.getHours(), monday.getDate()]).toEqual([1, 9, 23])
    const tomorrow = snoozeUntil('tomorrow', new Date(2026, 10, 21, 15, 0))
    expect([tomorrow.getDate(), tomorrow.getHours()]).toEqual([22, 9])
  })

  it('turn a saga input into a form and fill it from the record and a clear customer only', () => {
    const schema = sagaParamsSchema({
      document: { input: { order_no: { type: 'string', required: true, pattern: '^YQ[0-9]{14}$' }, amount: { type: 'string', required: true }, customer_mobile: { type: 'string', required: true } } },
    })
    const fields = schemaFields(schema)
    expect(fields.map((f) => [f.name, f.required, f.pattern])).toEqual([
      ['order_no', true, '^YQ[0-9]{14}$'], ['amount', true, null], ['customer_mobile', true, null],
    ])
    const row = { order_no: 'YQ20261121000001', receiver_phone: '138****5678' }
    expect(prefill(fields, row, CUSTOMER)).toEqual({ order_no: 'YQ20261121000001' }) // masked phone never used
    expect(prefill(fields, row, { ...CUSTOMER, masked: false, phone: '+8613812345678' })).toEqual({
      order_no: 'YQ20261121000001', customer_mobile: '13812345678',
    })
    expect(prefill(schemaFields({ properties: { receiver_phone: { type: 'string' } } }), row, CUSTOMER)).toEqual({})
  })

  it('show panel values as text', () => {
    expect(showValue(['a', 'b'])).toBe('a, b')
    expect(showValue([{ time: '10:00', desc: '已揽收' }])).toBe('10:00 · 已揽收')
    expect(showValue(null)).toBe('—')
    expect(showValue('2026-11-20T04:29:34+08:00')).toMatch(/2026/)
    expect(showValue('2026-11-20T04:29:34+08:00')).not.toContain('T04')
    expect(records({ data: { a: 1 }, many: false })).toEqual([{ a: 1 }])
    expect(maskPhones('快件交给王师傅，正在派送途中（联系电话：13512345678）')).toBe('快件交给王师傅，正在派送途中（联系电话：135****5678）')
    expect(maskPhones('+8613512345678 / 8613512345678')).toBe('+86135****5678 / 86135****5678')
    expect(maskPhones('YQ20261118001420 · 135****5678')).toBe('YQ20261118001420 · 135****5678')
  })
})

describe('desktop notifications', () => {
  function stubNotification(permission: NotificationPermission) {
    const shown: { title: string; body?: string; tag?: string }[] = []
    const requestPermission = vi.fn(async () => 'granted' as NotificationPermission)
    class FakeNotification {
      static permission = permission
      static requestPermission = requestPermission
      onclick: (() => void) | null = null
      constructor(title: string, options: NotificationOptions) {
        shown.push({ title, body: options.body, tag: options.tag })
      }
      close(): void {}
    }
    vi.stubGlobal('Notification', FakeNotification)
    return { shown, requestPermission }
  }

  it('asks for permission only when asked to, and shows nothing without it', async () => {
    const { shown, requestPermission } = stubNotification('default')
    expect(showDesktop({ title: 'New', body: 'x', tag: 't' }, true)).toBe(false)
    expect(requestPermission).not.toHaveBeenCalled()
    expect(await askDesktopPermission()).toBe('granted')
    expect(requestPermission).toHaveBeenCalledOnce()
    expect(shown).toEqual([])
  })

  it('shows a notification when permitted and the agent is looking elsewhere', () => {
    const { shown } = stubNotification('granted')
    vi.spyOn(document, 'hasFocus').mockReturnValue(false)
    expect(showDesktop({ title: 'New conversation for you', body: '张伟 · Web chat', tag: 'conversation-1' })).toBe(true)
    expect(shown).toEqual([{ title: 'New conversation for you', body: '张伟 · Web chat', tag: 'conversation-1' }])
  })

  it('stays quiet while the agent is looking at the workbench', () => {
    const { shown } = stubNotification('granted')
    vi.spyOn(document, 'hasFocus').mockReturnValue(true)
    expect(showDesktop({ title: 'x', body: 'y', tag: 'z' })).toBe(false)
    expect(shown).toEqual([])
  })
})

describe('keyboard shortcuts', () => {
  it('fire outside fields and without modifier keys only', () => {
    const base = { ctrlKey: false, metaKey: false, altKey: false, isComposing: false, target: document.body }
    expect(shortcutFor({ ...base, key: 'j' })).toBe('next')
    expect(shortcutFor({ ...base, key: 'k' })).toBe('previous')
    expect(shortcutFor({ ...base, key: 'e' })).toBe('resolve')
    expect(shortcutFor({ ...base, key: '?' })).toBe('help')
    expect(shortcutFor({ ...base, key: 'j', ctrlKey: true })).toBeNull()
    const area = document.createElement('textarea')
    document.body.appendChild(area)
    expect(shortcutFor({ ...base, key: 'j', target: area })).toBeNull()
    area.remove()
  })
})

describe('messages', () => {
  const mountMessage = (m: Message, channel = 'web_chat') =>
    mount(MessageItem, { props: { message: m, channel, customerName: '张伟' }, global: { plugins: [i18n] } })

  it('show what a customer sent as text, never as HTML', async () => {
    await signIn(['conversations.read'])
    const wrapper = mountMessage(message({ body: '<img src=x onerror="alert(1)"><b>bold</b>' }))
    expect(wrapper.find('img').exists()).toBe(false)
    expect(wrapper.find('b').exists()).toBe(false)
    expect(wrapper.find('[data-test="message-text"]').text()).toBe('<img src=x onerror="alert(1)"><b>bold</b>')
  })

  it('fold the quoted part of an e-mail and show its HTML only in a sandboxed frame on request', async () => {
    await signIn(['conversations.read'])
    const wrapper = mountMessage(
      message({ content_type: 'email', body: 'Where is my parcel?', content: { subject: 'Order', quoted: '> On Monday you wrote', html: '<p>Where is my parcel?</p><script>x()</script>' } }),
      'email',
    )
    expect(wrapper.text()).toContain('Order')
    expect(wrapper.find('[data-test="quoted"]').exists()).toBe(false)
    await wrapper.find('[data-test="quoted-toggle"]').trigger('click')
    expect(wrapper.find('[data-test="quoted"]').text()).toBe('> On Monday you wrote')
    expect(wrapper.find('iframe').exists()).toBe(false)
    await wrapper.find('[data-test="html-toggle"]').trigger('click')
    const frame = wrapper.find('iframe')
    expect(frame.attributes('sandbox')).toBe('') // no scripts, no same origin
    expect(wrapper.find('script').exists()).toBe(false)
  })

  it('show a call record with its recording and transcript', async () => {
    await signIn(['conversations.read'])
    const wrapper = mountMessage(
      message({ content_type: 'call', body: '来电', content: { duration_seconds: 95, recording_url: 'https://rec.example.com/1.mp3', transcript: '客户：你好\n坐席：您好' } }),
      'voice',
    )
    expect(wrapper.find('[data-test="call-record"]').text()).toContain('1:35')
    expect(wrapper.find('[data-test="call-recording"]').attributes('href')).toBe('https://rec.example.com/1.mp3')
    expect(wrapper.find('[data-test="call-recording"]').attributes('rel')).toContain('noopener')
    await wrapper.find('[data-test="call-transcript-toggle"]').trigger('click')
    expect(wrapper.findAll('[data-test="call-transcript"] li').map((li) => li.text())).toEqual(['客户：你好', '坐席：您好'])
  })

  it('mark internal notes and list attachments with safe links only', async () => {
    await signIn(['conversations.read'])
    const note = mountMessage(message({ direction: 'internal', author_type: 'agent', body: 'VIP', private: true }))
    expect(note.classes()).toContain('is-note')
    expect(note.text()).toContain('Internal note')
    const files = mountMessage(message({ attachments: [
      { url: 'https://files.example.com/a.pdf', filename: 'a.pdf', content_type: 'application/pdf', size: 2048 },
      { url: 'javascript:alert(1)', filename: 'evil' },
    ] }))
    const links = files.findAll('[data-test="attachments"] a')
    expect(links.map((a) => a.attributes('href'))).toEqual(['https://files.example.com/a.pdf'])
    expect(files.text()).toContain('evil')
  })
})

describe('composer', () => {
  const canned = [
    { id: 'k1', shortcut: 'greet', title: 'Greeting', body: 'Hello {{ customer.name }}', created_at: '' },
    { id: 'k2', shortcut: 'thanks', title: 'Thanks', body: 'Thank you', created_at: '' },
  ]

  it('opens the canned responses on "/", and puts in the text rendered for this conversation', async () => {
    const api = await signIn(['conversations.read', 'conversations.write'], {
      'GET /api/v1/canned-responses': () => json(200, { items: canned, next_cursor: null }),
      'POST /api/v1/canned-responses/k2/render': () => json(200, { text: 'Thank you, 张伟!', missing: [] }),
    })
    const wrapper = mount(Composer, { props: { conversation: CONV }, global: { plugins: [i18n] }, attachTo: document.body })
    const box = wrapper.find('textarea')
    await box.setValue('Sure. /')
    await box.trigger('input')
    await vi.waitFor(() => expect(wrapper.findAll('[data-test="canned-option"]')).toHaveLength(2))
    await box.trigger('keydown', { key: 'ArrowDown' })
    await box.trigger('keydown', { key: 'Enter' })
    await flushPromises()
    expect(api.calls('POST', '/api/v1/canned-responses/k2/render')[0]!.body).toEqual({ conversation_id: 'conv-1' })
    expect((box.element as HTMLTextAreaElement).value).toBe('Sure. Thank you, 张伟!')
    expect(wrapper.find('[data-test="canned-picker"]').exists()).toBe(false)
    expect(api.calls('POST', '/api/v1/conversations/conv-1/messages')).toHaveLength(0) // Enter picked, not sent
    wrapper.unmount()
  })

  it('searches as the agent types after the slash', async () => {
    const api = await signIn(['conversations.read', 'conversations.write'], {
      'GET /api/v1/canned-responses': () => json(200, { items: canned.slice(0, 1), next_cursor: null }),
    })
    const wrapper = mount(Composer, { props: { conversation: CONV }, global: { plugins: [i18n] } })
    const box = wrapper.find('textarea')
    await box.setValue('/gre')
    await box.trigger('input')
    await vi.waitFor(() => expect(wrapper.findAll('[data-test="canned-option"]')).toHaveLength(1))
    const url = new URL((api.fetchMock.mock.calls.at(-1)![0] as Request).url)
    expect(url.searchParams.get('q')).toBe('gre')
  })
})

describe('customer panel', () => {
  it('shows an agent masked values and no reveal button', async () => {
    await signIn(['customers.read', 'conversations.read'])
    const wrapper = mount(CustomerProfile, { props: { customerId: 'cust-1', customer: CUSTOMER }, global: { plugins: [i18n] } })
    expect(wrapper.find('[data-test="identity-value"]').text()).toBe('+86138****5678')
    expect(wrapper.findAll('[data-test^="reveal-"]')).toHaveLength(0)
    expect(wrapper.text()).toContain('gold')
  })

  it('lets a supervisor reveal an identity (audited by the server)', async () => {
    const api = await signIn(['customers.read', 'customers.pii.reveal'], {
      'POST /api/v1/customers/cust-1/identities/idn-1/reveal': () => json(200, { identity_id: 'idn-1', kind: 'phone', value: '+8613812345678' }),
    })
    const wrapper = mount(CustomerProfile, { props: { customerId: 'cust-1', customer: CUSTOMER }, global: { plugins: [i18n] } })
    await wrapper.find('[data-test="reveal-identity-phone"]').trigger('click')
    await flushPromises()
    expect(api.calls('POST', '/api/v1/customers/cust-1/identities/idn-1/reveal')).toHaveLength(1)
    expect(wrapper.find('[data-test="identity-clear"]').text()).toBe('+8613812345678')
    expect(wrapper.text()).toContain('audit log')
  })

  it('shows each connector panel with its freshness, stale and unavailable states', async () => {
    await signIn(['customers.read'], {
      'GET /api/v1/customers/cust-1/panels': () => json(200, {
        customer_id: 'cust-1', generated_at: '2026-11-21T10:00:00Z',
        panels: [
          { key: 'orders', title: { zh: '最近订单', en: 'Latest orders' }, instance: 'orders', action: 'list_orders_by_mobile', state: 'ok', many: true,
            fields: [{ path: 'order_no', label_zh: '订单号', label_en: 'Order' }], data: [{ order_no: 'YQ1' }, { order_no: 'YQ2' }], empty: false,
            fetched_at: '2026-11-21T10:00:00Z', cached: false, stale: false, masked: true, error: null, missing: [], latency_ms: 12, call_id: null },
          { key: 'crm', title: { zh: 'CRM 标签', en: 'CRM tags' }, instance: 'crm', action: 'find', state: 'stale', many: false,
            fields: [{ path: 'tags', label_en: 'Tags' }, { path: 'note', label_en: 'Note' }], data: { tags: ['vip', 'b2b'], note: '快递员电话 13512345678' }, empty: false,
            fetched_at: '2026-11-21T09:00:00Z', cached: true, stale: true, masked: true, error: null, missing: [], latency_ms: null, call_id: null },
          { key: 'membership', title: { zh: '会员', en: 'Membership' }, instance: 'membership', action: 'get', state: 'unavailable', many: false,
            fields: [], data: null, empty: false, fetched_at: '2026-11-21T10:00:00Z', cached: false, stale: false, masked: true,
            error: { class: 'retry', kind: 'transient', code: 'connect_failed', message: 'connection refused', status: null, retry_after: null, problems: null },
            missing: [], latency_ms: null, call_id: null },
        ],
      }),
    })
    const wrapper = mount(SystemPanels, { props: { customerId: 'cust-1', customer: CUSTOMER, conversation: CONV }, global: { plugins: [i18n] } })
    await flushPromises()
    const panels = wrapper.findAll('[data-test="c360-panel"]')
    expect(panels.map((p) => p.attributes('data-state'))).toEqual(['ok', 'stale', 'unavailable'])
    expect(panels[0]!.text()).toContain('Latest orders')
    expect(panels[0]!.findAll('[data-test="panel-record"]')).toHaveLength(2)
    expect(panels[0]!.find('[data-test="panel-fetched"]').text()).toContain('Fetched')
    expect(panels[1]!.text()).toContain('vip, b2b')
    expect(panels[1]!.text()).toContain('Stale')
    expect(panels[1]!.text()).toContain('135****5678') // free text of a masked panel
    expect(wrapper.html()).not.toContain('13512345678')
    expect(panels[2]!.find('[data-test="panel-error"]').text()).toContain('connect_failed')
  })

  it('says so when the server has no panels API', async () => {
    await signIn(['customers.read'], { 'GET /api/v1/customers/cust-1/panels': () => apiError(404, 'not_found', 'Not Found') })
    const wrapper = mount(SystemPanels, { props: { customerId: 'cust-1', customer: CUSTOMER, conversation: CONV }, global: { plugins: [i18n] } })
    await flushPromises()
    expect(wrapper.find('[data-test="panels-unavailable"]').exists()).toBe(true)
  })
})
