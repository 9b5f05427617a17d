import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'

import { apiError, fakeApi, me, tokens } from '@/test/fakeApi'
import { FakeSocket } from '@/views/workbench/fakeSocket'

import { useAuthStore } from './auth'
import { backoff, MAX_BACKOFF_MS, realtimeUrl, setSocketFactory, useRealtimeStore, type RealtimeEvent } from './realtime'

const E1 = '019a0000-0000-7000-8000-000000000001'
const E2 = '019a0000-0000-7000-8000-000000000002'
const E3 = '019a0000-0000-7000-8000-000000000003'

async function signedIn(refresh: () => ReturnType<typeof tokens> = () => tokens(2)) {
  const api = fakeApi({
    'POST /api/v1/auth/login': () => tokens(1),
    'POST /api/v1/auth/refresh': refresh,
    'GET /api/v1/auth/me': () => me(['conversations.read']),
  })
  await useAuthStore().login('demo', 'agent@demo.relaydesk.local', 'x')
  return api
}

function collect() {
  const rt = useRealtimeStore()
  const events: RealtimeEvent[] = []
  const readies: boolean[] = []
  let resyncs = 0
  rt.subscribe({ event: (e) => events.push(e), ready: (r) => readies.push(r.resumed), resync: () => resyncs++ })
  return { rt, events, readies, resyncs: () => resyncs }
}

beforeEach(() => {
  setActivePinia(createPinia())
  sessionStorage.clear()
  FakeSocket.reset()
  setSocketFactory((url) => new FakeSocket(url))
})

afterEach(() => {
  useRealtimeStore().reset()
  setSocketFactory(null)
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

describe('realtime socket', () => {
  it('authenticates with the first frame (never in the URL) and goes live on ready', async () => {
    await signedIn()
    const { rt, readies } = collect()
    rt.start()
    const sock = FakeSocket.last()
    expect(sock.url).toBe(realtimeUrl())
    expect(sock.url).not.toContain('access-1')
    expect(rt.status).toBe('connecting')
    sock.open()
    expect(sock.sent[0]).toEqual({ type: 'auth', token: 'access-1', after: null })
    sock.ready(E1)
    expect(rt.status).toBe('live')
    expect(rt.lastEventId).toBe(E1)
    expect(readies).toEqual([false]) // a fresh start: the lists must be loaded
  })

  it('hands each event over once, even when a replay repeats it', async () => {
    await signedIn()
    const { rt, events } = collect()
    rt.start()
    const sock = FakeSocket.last()
    sock.open()
    sock.ready(E1)
    sock.event(E2, 'message.received', { conversation_id: 'c1' })
    sock.event(E2, 'message.received', { conversation_id: 'c1' })
    sock.event(null, 'typing.agent', { conversation_id: 'c1', on: true })
    sock.event(null, 'typing.agent', { conversation_id: 'c1', on: false })
    expect(events.map((e) => [e.id, e.event_type])).toEqual([
      [E2, 'message.received'],
      [null, 'typing.agent'],
      [null, 'typing.agent'],
    ])
    expect(rt.lastEventId).toBe(E2) // ephemeral frames do not move the position
  })

  it('reconnects after a drop and resumes from the last event id, without duplicates', async () => {
    vi.useFakeTimers()
    await signedIn()
    const { rt, events, readies } = collect()
    rt.start()
    const first = FakeSocket.last()
    first.open()
    first.ready(E1)
    first.event(E2, 'message.received', { conversation_id: 'c1' })
    first.drop(1013) // the server closed a slow socket

    expect(rt.status).toBe('reconnecting')
    expect(FakeSocket.all).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(backoff(1, () => 1))
    const second = FakeSocket.last()
    expect(second).not.toBe(first)
    second.open()
    expect(second.sent[0]).toEqual({ type: 'auth', token: 'access-1', after: E2 })
    // the server replays what came after E2; an overlap is ignored
    second.event(E2, 'message.received', { conversation_id: 'c1' })
    second.event(E3, 'conversation.assigned', { conversation_id: 'c1' })
    second.ready(E3)
    expect(events.map((e) => e.id)).toEqual([E2, E3])
    expect(readies).toEqual([false, true]) // resumed: nothing to reload
    expect(rt.status).toBe('live')
    expect(rt.attempts).toBe(0)
  })

  it('waits longer after each failed attempt, up to a cap', async () => {
    vi.useFakeTimers()
    await signedIn()
    const rt = useRealtimeStore()
    rt.start()
    FakeSocket.last().drop()
    for (let n = 1; n <= 3; n++) {
      const before = FakeSocket.all.length
      await vi.advanceTimersByTimeAsync(backoff(n, () => 0) - 1)
      expect(FakeSocket.all.length).toBe(before) // not yet
      await vi.advanceTimersByTimeAsync(backoff(n, () => 1))
      expect(FakeSocket.all.length).toBe(before + 1)
      FakeSocket.last().drop()
    }
    expect(backoff(1, () => 0.5)).toBe(1_000)
    expect(backoff(2, () => 0.5)).toBe(2_000)
    expect(backoff(20, () => 0.5)).toBe(MAX_BACKOFF_MS)
  })

  it('refreshes the access token when the server refuses the old one (4401)', async () => {
    vi.useFakeTimers()
    const api = await signedIn()
    const rt = useRealtimeStore()
    rt.start()
    const first = FakeSocket.last()
    first.open()
    first.drop(4401)
    await vi.advanceTimersByTimeAsync(0)
    expect(api.calls('POST', '/api/v1/auth/refresh')).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(MAX_BACKOFF_MS)
    const second = FakeSocket.last()
    second.open()
    expect(second.sent[0]).toMatchObject({ type: 'auth', token: 'access-2' })
  })

  it('stops trying when the session is over', async () => {
    vi.useFakeTimers()
    await signedIn(() => apiError(401, 'session_expired'))
    const rt = useRealtimeStore()
    rt.start()
    FakeSocket.last().open()
    FakeSocket.last().drop(4401)
    await vi.advanceTimersByTimeAsync(MAX_BACKOFF_MS * 2)
    expect(rt.status).toBe('offline')
    expect(FakeSocket.all).toHaveLength(1)
  })

  it('tells subscribers to reload when the gap is too large to replay', async () => {
    await signedIn()
    const { rt, resyncs } = collect()
    rt.start()
    FakeSocket.last().open()
    FakeSocket.last().frame({ type: 'resync' })
    expect(resyncs()).toBe(1)
  })

  it('sends typing only on a live socket, and pings to keep it open', async () => {
    vi.useFakeTimers()
    await signedIn()
    const rt = useRealtimeStore()
    rt.start()
    const sock = FakeSocket.last()
    expect(rt.sendTyping('c1', true)).toBe(false)
    sock.open()
    sock.ready(null)
    expect(rt.sendTyping('c1', true)).toBe(true)
    expect(sock.sent.at(-1)).toEqual({ type: 'typing', conversation_id: 'c1', on: true })
    await vi.advanceTimersByTimeAsync(25_000)
    expect(sock.sent.at(-1)).toEqual({ type: 'ping' })
  })

  it('closes for good on stop() and does not reconnect', async () => {
    vi.useFakeTimers()
    await signedIn()
    const rt = useRealtimeStore()
    rt.start()
    FakeSocket.last().open()
    rt.stop()
    await vi.advanceTimersByTimeAsync(MAX_BACKOFF_MS * 2)
    expect(FakeSocket.all).toHaveLength(1)
    expect(rt.status).toBe('idle')
  })
})
