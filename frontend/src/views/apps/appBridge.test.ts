// The embedded-app protocol on the workbench side: messages count only from the app's own
// frame and allowed origins, tokens are posted to one origin (never '*'), refreshes are
// throttled; and the frame component wires it to the iframe and the API.
import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'

import type { EmbeddedApp } from '@/api/client'
import { i18n, setLocale } from '@/i18n'
import { fakeApi, json } from '@/test/fakeApi'

import { CONTEXT, createBridge, READY, REFRESH, sandboxFor, type ContextToken } from './appBridge'
import EmbeddedAppFrame from './EmbeddedAppFrame.vue'

const APP = 'https://erp.example.com'
const SSO = 'https://sso.example.com'

function token(n: number, expiresInMs = 300_000, now = Date.now()): ContextToken {
  return { token: `token-${n}`, expires_at: new Date(now + expiresInMs).toISOString() }
}

function setup(opts: { minRefreshMs?: number } = {}) {
  const frame = { postMessage: vi.fn() }
  let n = 0
  let clock = 1_000_000
  const fetchToken = vi.fn(async () => token(++n, 300_000, clock))
  const bridge = createBridge({
    origin: APP,
    origins: [APP, SSO],
    frame: () => frame,
    fetchToken,
    context: () => ({ customer_id: 'c-1' }),
    now: () => clock,
    ...opts,
  })
  return { bridge, frame, fetchToken, tick: (ms: number) => (clock += ms) }
}

describe('createBridge', () => {
  it('answers a refresh from the frame and an allowed origin, to that origin', async () => {
    const { bridge, frame, fetchToken } = setup()
    expect(await bridge.handle({ source: frame as never, origin: APP, data: { type: REFRESH } })).toBe(true)
    expect(fetchToken).toHaveBeenCalledTimes(1)
    expect(frame.postMessage).toHaveBeenCalledWith(
      { type: CONTEXT, token: 'token-1', expires_at: expect.any(String), context: { customer_id: 'c-1' } },
      APP,
    )
    // another allowed origin of the same app (e.g. after its sign-in page)
    expect(await bridge.handle({ source: frame as never, origin: SSO, data: { type: READY } })).toBe(true)
    expect(frame.postMessage).toHaveBeenLastCalledWith(expect.objectContaining({ token: 'token-1' }), SSO)
  })

  it('ignores messages from other origins, other windows and of other types', async () => {
    const { bridge, frame, fetchToken } = setup()
    const other = { postMessage: vi.fn() }
    const ignored = [
      { source: frame, origin: 'https://evil.example.com', data: { type: REFRESH } },
      { source: frame, origin: 'null', data: { type: REFRESH } },
      { source: frame, origin: 'https://erp.example.com.evil.io', data: { type: REFRESH } },
      { source: frame, origin: 'http://erp.example.com', data: { type: REFRESH } },
      { source: other, origin: APP, data: { type: REFRESH } },
      { source: null, origin: APP, data: { type: REFRESH } },
      { source: frame, origin: APP, data: { type: 'relaydesk:something-else' } },
      { source: frame, origin: APP, data: 'relaydesk:refresh' },
      { source: frame, origin: APP, data: null },
    ]
    for (const event of ignored) expect(await bridge.handle(event as never)).toBe(false)
    expect(fetchToken).not.toHaveBeenCalled()
    expect(frame.postMessage).not.toHaveBeenCalled()
    expect(other.postMessage).not.toHaveBeenCalled()
  })

  it('never posts to "*": push goes to the app origin only', () => {
    const { bridge, frame } = setup()
    expect(bridge.push()).toBe(false) // nothing to send yet
    bridge.use(token(7))
    expect(bridge.push()).toBe(true)
    expect(frame.postMessage).toHaveBeenCalledTimes(1)
    expect(frame.postMessage.mock.calls[0][1]).toBe(APP)
    for (const call of frame.postMessage.mock.calls) expect(call[1]).not.toBe('*')
  })

  it('throttles refreshes and shares one request between concurrent asks', async () => {
    const { bridge, frame, fetchToken, tick } = setup({ minRefreshMs: 5000 })
    const ask = () => bridge.handle({ source: frame as never, origin: APP, data: { type: REFRESH } })
    await Promise.all([ask(), ask(), ask()])
    expect(fetchToken).toHaveBeenCalledTimes(1)
    await ask() // within 5 s: the current token again
    expect(fetchToken).toHaveBeenCalledTimes(1)
    expect(frame.postMessage).toHaveBeenCalledTimes(4)
    tick(6000)
    await ask()
    expect(fetchToken).toHaveBeenCalledTimes(2)
    expect(frame.postMessage).toHaveBeenLastCalledWith(expect.objectContaining({ token: 'token-2' }), APP)
  })

  it('answers ready with the current token while it is valid, else a new one', async () => {
    const { bridge, frame, fetchToken, tick } = setup()
    bridge.use(token(1, 300_000, 1_000_000))
    await bridge.handle({ source: frame as never, origin: APP, data: { type: READY } })
    expect(fetchToken).not.toHaveBeenCalled()
    tick(290_000) // 10 s left: too close to expiry
    await bridge.handle({ source: frame as never, origin: APP, data: { type: READY } })
    expect(fetchToken).toHaveBeenCalledTimes(1)
  })

  it('grants same-origin rights only to frames of another origin', () => {
    expect(sandboxFor(APP, 'https://desk.example.com')).toBe('allow-scripts allow-forms allow-same-origin')
    expect(sandboxFor('https://desk.example.com', 'https://desk.example.com')).toBe('allow-scripts allow-forms')
  })
})

describe('EmbeddedAppFrame', () => {
  beforeEach(() => {
    setActivePinia(createPinia())
    setLocale('en')
  })
  afterEach(() => vi.unstubAllGlobals())

  const app: EmbeddedApp = {
    id: 'app-1', name: 'ERP', description: null, url: 'about:blank', origin: APP, origins: [APP],
    placement: 'customer_panel', height: 300, enabled: true,
    created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z',
  }

  it('puts the token in the frame URL, posts it on load and on request, checks origins', async () => {
    let n = 0
    const api = fakeApi({
      'POST /api/v1/apps/app-1/context': () =>
        json(200, { ...token(++n), url: `about:blank?rd_token=token-${n}`, origin: APP, expires_in: 300, claims: {} }),
    })
    vi.stubGlobal('fetch', api.fetchMock)
    const wrapper = mount(EmbeddedAppFrame, {
      props: { app, customerId: 'cust-9' },
      global: { plugins: [i18n] },
      attachTo: document.body,
    })
    await flushPromises()
    expect(api.seen[0].body).toEqual({ customer_id: 'cust-9', conversation_id: null })
    const iframe = wrapper.find('iframe')
    expect(iframe.attributes('src')).toBe('about:blank?rd_token=token-1')
    expect(iframe.attributes('sandbox')).toBe('allow-scripts allow-forms allow-same-origin')
    expect(iframe.attributes('referrerpolicy')).toBe('no-referrer')

    // happy-dom does not load frames: give the iframe a window that records what it is sent
    const post = vi.fn()
    const win = { postMessage: post } as unknown as Window
    Object.defineProperty(iframe.element, 'contentWindow', { value: win })
    await iframe.trigger('load')
    expect(post).toHaveBeenCalledWith(expect.objectContaining({ type: CONTEXT, token: 'token-1' }), APP)

    window.dispatchEvent(new MessageEvent('message', { origin: 'https://evil.example.com', source: win, data: { type: REFRESH } }))
    await flushPromises()
    expect(api.seen).toHaveLength(1)

    window.dispatchEvent(new MessageEvent('message', { origin: APP, source: win, data: { type: REFRESH } }))
    await flushPromises()
    // throttled (the first token is seconds old): answered with the current token
    expect(post).toHaveBeenLastCalledWith(expect.objectContaining({ token: 'token-1' }), APP)
    wrapper.unmount()
  })
})
