// The queue view is live: conversation and presence events on the agents' WebSocket reload
// the queues (throttled); other events do not; reassignment posts to the assign endpoint.
import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { defineComponent, h } from 'vue'

import { makeI18n } from '@/i18n'
import { setSocketFactory, useRealtimeStore } from '@/stores/realtime'
import { useAuthStore } from '@/stores/auth'
import { fakeApi, json, me, tokens } from '@/test/fakeApi'
import { FakeSocket } from '@/views/workbench/fakeSocket'

import type { Queue } from './api'
import ReassignDialog from './ReassignDialog.vue'
import { REFRESH_THROTTLE_MS, useLiveQueues } from './useLiveQueues'

const TEAM = '019a0000-0000-7000-8000-0000000000aa'
let waiting = 1

function queues(): Queue[] {
  return [
    {
      team_id: TEAM, team_name: '售后一组', mode: 'round_robin', auto_assign: true, skills: [], waiting, agents_online: 1,
      agents: [
        { user_id: 'u-busy', display_name: '王小燕', status: 'online', capacity: 5, skills: [], open_conversations: 5 },
        { user_id: 'u-free', display_name: '李雷', status: 'online', capacity: 5, skills: [], open_conversations: 1 },
      ],
    },
  ]
}

async function signIn() {
  const api = fakeApi({
    'POST /api/v1/auth/login': () => tokens(1),
    'GET /api/v1/auth/me': () => me(['conversations.read', 'conversations.write', 'users.read']),
    'GET /api/v1/routing/queues': () => json(200, queues()),
    'POST /api/v1/conversations/c-1/assign': (req) => json(200, { id: 'c-1', ...(req.body as object) }),
  })
  await useAuthStore().login('demo', 'supervisor@demo.relaydesk.local', 'x')
  return api
}

beforeEach(() => {
  setActivePinia(createPinia())
  sessionStorage.clear()
  FakeSocket.reset()
  setSocketFactory((url) => new FakeSocket(url))
  waiting = 1
})

afterEach(() => {
  useRealtimeStore().reset()
  setSocketFactory(null)
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

const Probe = defineComponent({
  setup() {
    const live = useLiveQueues()
    return () => h('div', { 'data-waiting': live.queues.value[0]?.waiting ?? -1, 'data-events': live.events.value })
  },
})

describe('live queues', () => {
  it('reloads on conversation and presence events, once per burst, not on other events', async () => {
    const api = await signIn()
    const wrapper = mount(Probe)
    await flushPromises()
    const loads = () => api.calls('GET', '/api/v1/routing/queues').length
    expect(loads()).toBe(1)
    expect(wrapper.attributes('data-waiting')).toBe('1')

    const sock = FakeSocket.last()
    sock.open()
    expect(sock.sent[0]).toMatchObject({ type: 'auth', token: 'access-1' })
    sock.ready('019a0000-0000-7000-8000-000000000001')
    await flushPromises()

    vi.useFakeTimers()
    vi.advanceTimersByTime(REFRESH_THROTTLE_MS) // the reload after ready is past
    await flushPromises()
    const afterReady = loads()
    waiting = 3
    sock.event('019a0000-0000-7000-8000-000000000002', 'message.received', { conversation_id: 'c-9' })
    await flushPromises()
    expect(loads()).toBe(afterReady) // not an event that changes queues

    sock.event('019a0000-0000-7000-8000-000000000003', 'conversation.created', { conversation_id: 'c-9' })
    sock.event(null, 'presence.changed', { user_id: 'u-free', status: 'away' })
    sock.event('019a0000-0000-7000-8000-000000000004', 'conversation.assigned', { conversation_id: 'c-9' })
    await flushPromises()
    expect(loads()).toBe(afterReady + 1) // the burst's first event reloads at once
    vi.advanceTimersByTime(REFRESH_THROTTLE_MS)
    await flushPromises()
    expect(loads()).toBe(afterReady + 2) // and once more after it, not once per event
    vi.useRealTimers()
    await flushPromises()
    expect(wrapper.attributes('data-waiting')).toBe('3')
    expect(wrapper.attributes('data-events')).toBe('3')
    wrapper.unmount()
  })

  it('reassigns to the agent chosen, least loaded first, with the note', async () => {
    const api = await signIn()
    const conversation = {
      id: 'c-1', inbox_id: 'i', channel: 'web_chat', customer_id: 'x', status: 'open', priority: 'normal',
      assignee_id: 'u-busy', team_id: TEAM, department_id: null, subject: '退款', tags: [], snoozed_until: null,
      last_message_at: '2026-03-02T10:00:00Z', first_response_at: null, resolved_at: null, unread_count: 0,
      created_at: '2026-03-02T10:00:00Z',
    }
    const wrapper = mount(ReassignDialog, {
      props: { modelValue: false, conversation, queues: queues() },
      global: { plugins: [makeI18n('en')] },
      attachTo: document.body,
    })
    await wrapper.setProps({ modelValue: true })
    await flushPromises()
    const options = [...document.querySelectorAll('[data-agent]')].map((o) => o.getAttribute('data-agent'))
    expect(options).toEqual(['李雷', '王小燕'])
    // pick 李雷 through the component's own model
    const selects = wrapper.findAllComponents({ name: 'ElSelect' })
    selects[1]!.vm.$emit('update:modelValue', 'u-free')
    const note = document.querySelector('textarea[data-test="reassign-note"]') as HTMLTextAreaElement
    note.value = '客户要求换人'
    note.dispatchEvent(new Event('input'))
    ;(document.querySelector('[data-test="reassign-submit"]') as HTMLButtonElement).click()
    await flushPromises()
    expect(api.calls('POST', '/api/v1/conversations/c-1/assign')[0]!.body).toEqual({
      team_id: TEAM, assignee_id: 'u-free', note: '客户要求换人',
    })
    expect(wrapper.emitted('assigned')).toHaveLength(1)
    wrapper.unmount()
  })
})
