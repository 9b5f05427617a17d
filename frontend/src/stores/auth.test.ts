import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'

import { call, client } from '@/api/client'
import { ApiError } from '@/api/errors'
import { apiError, fakeApi, json, me, tokens } from '@/test/fakeApi'

import { REFRESH_KEY, useAuthStore } from './auth'

const AGENT = ['customers.read', 'customers.write', 'users.read']

beforeEach(() => {
  setActivePinia(createPinia())
  sessionStorage.clear()
  localStorage.clear()
})

afterEach(() => {
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

describe('sign-in', () => {
  it('keeps the access token in memory and the refresh token in sessionStorage only', async () => {
    fakeApi({ 'POST /api/v1/auth/login': () => tokens(1), 'GET /api/v1/auth/me': () => me(AGENT) })
    const auth = useAuthStore()
    await auth.login('demo', 'agent@demo.relaydesk.local', 'relaydesk-demo')

    expect(auth.accessToken).toBe('access-1')
    expect(sessionStorage.getItem(REFRESH_KEY)).toBe('refresh-1')
    const everywhere = JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage })
    expect(everywhere).not.toContain('access-1')
    expect(JSON.stringify({ ...localStorage })).not.toContain('refresh-1')
    expect(auth.signedIn).toBe(true)
  })

  it('sends the access token as a bearer token', async () => {
    const api = fakeApi({ 'POST /api/v1/auth/login': () => tokens(1), 'GET /api/v1/auth/me': () => me(AGENT) })
    await useAuthStore().login('demo', 'agent@demo.relaydesk.local', 'x')
    expect(api.calls('GET', '/api/v1/auth/me')[0].auth).toBe('Bearer access-1')
    expect(api.calls('POST', '/api/v1/auth/login')[0].auth).toBeNull()
  })

  it('reports account_locked with the retry time', async () => {
    fakeApi({
      'POST /api/v1/auth/login': () => ({
        ...apiError(401, 'account_locked', 'Account locked'),
        headers: { 'Retry-After': '840' },
      }),
    })
    const err = await useAuthStore().login('demo', 'a@b.c', 'x').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect((err as ApiError).code).toBe('account_locked')
    expect((err as ApiError).retryAfter).toBe(840)
    expect(sessionStorage.getItem(REFRESH_KEY)).toBeNull()
  })
})

describe('refresh', () => {
  async function signedIn(extra: Record<string, Parameters<typeof fakeApi>[0][string]> = {}) {
    let n = 1
    const api = fakeApi({
      'POST /api/v1/auth/login': () => tokens(1),
      'POST /api/v1/auth/refresh': () => tokens(++n),
      'GET /api/v1/auth/me': () => me(AGENT),
      ...extra,
    })
    const auth = useAuthStore()
    await auth.login('demo', 'agent@demo.relaydesk.local', 'x')
    return { api, auth }
  }

  it('on a 401 invalid_token refreshes once and repeats the call with the new token', async () => {
    const { api, auth } = await signedIn({
      'GET /api/v1/tenant': (req) =>
        req.auth === 'Bearer access-2'
          ? json(200, { id: 't', slug: 'demo', name: 'Demo', ip_allowlist: [], created_at: '2026-01-01T00:00:00Z' })
          : apiError(401, 'invalid_token', 'Access token is invalid or expired'),
    })
    const tenant = await call(() => client.GET('/api/v1/tenant'))
    expect(tenant.slug).toBe('demo')
    expect(api.calls('POST', '/api/v1/auth/refresh')).toHaveLength(1)
    expect(api.calls('POST', '/api/v1/auth/refresh')[0].body).toEqual({ refresh_token: 'refresh-1' })
    expect(auth.accessToken).toBe('access-2')
    expect(sessionStorage.getItem(REFRESH_KEY)).toBe('refresh-2')
  })

  it('shares one refresh between concurrent calls (a refresh token works once)', async () => {
    const { api } = await signedIn({
      'GET /api/v1/tenant': (req) =>
        req.auth === 'Bearer access-2'
          ? json(200, { id: 't', slug: 'demo', name: 'Demo', ip_allowlist: [], created_at: '2026-01-01T00:00:00Z' })
          : apiError(401, 'invalid_token'),
    })
    await Promise.all([1, 2, 3].map(() => call(() => client.GET('/api/v1/tenant'))))
    expect(api.calls('POST', '/api/v1/auth/refresh')).toHaveLength(1)
  })

  it('ends the session when the refresh is refused, and says why', async () => {
    const ended = vi.fn()
    const { auth } = await signedIn({
      'POST /api/v1/auth/refresh': () => apiError(401, 'session_expired', 'Your session has expired'),
      'GET /api/v1/tenant': () => apiError(401, 'invalid_token'),
    })
    auth.setOnEnded(ended)
    const err = await call(() => client.GET('/api/v1/tenant')).catch((e: unknown) => e)
    expect((err as ApiError).code).toBe('invalid_token')
    expect(ended).toHaveBeenCalledWith('expired')
    expect(auth.signedIn).toBe(false)
    expect(sessionStorage.getItem(REFRESH_KEY)).toBeNull()
  })

  it('refreshes ahead of expiry while the user is active', async () => {
    vi.useFakeTimers()
    const { api } = await signedIn()
    // an API call of the user's after sign-in counts as activity
    await vi.advanceTimersByTimeAsync(1_000)
    await useAuthStore().loadMe()
    await vi.advanceTimersByTimeAsync(540_000) // 600 s token, refreshed 60 s early
    expect(api.calls('POST', '/api/v1/auth/refresh')).toHaveLength(1)
  })

  it('lets an idle session lapse instead of keeping it alive', async () => {
    vi.useFakeTimers()
    const { api, auth } = await signedIn()
    await vi.advanceTimersByTimeAsync(1_000) // sign-in is the last activity
    await vi.advanceTimersByTimeAsync(600_000)
    expect(api.calls('POST', '/api/v1/auth/refresh')).toHaveLength(0)
    expect(auth.accessToken).toBe('access-1') // the next call will refresh on its 401
  })

  it('signs back in after a reload from the refresh token of this tab', async () => {
    sessionStorage.setItem(REFRESH_KEY, 'refresh-7')
    const api = fakeApi({ 'POST /api/v1/auth/refresh': () => tokens(8), 'GET /api/v1/auth/me': () => me(AGENT) })
    const auth = useAuthStore()
    expect(await auth.restore()).toBe(true)
    expect(api.calls('POST', '/api/v1/auth/refresh')[0].body).toEqual({ refresh_token: 'refresh-7' })
    expect(auth.accessToken).toBe('access-8')
    expect(auth.me?.permissions).toEqual(AGENT)
  })

  it('logout revokes on the server and forgets both tokens', async () => {
    const { api, auth } = await signedIn({ 'POST /api/v1/auth/logout': () => ({ status: 204 }) })
    await auth.logout()
    expect(api.calls('POST', '/api/v1/auth/logout')[0].auth).toBe('Bearer access-1')
    expect(auth.accessToken).toBeNull()
    expect(sessionStorage.getItem(REFRESH_KEY)).toBeNull()
    expect(auth.endReason).toBe('signed_out')
  })
})

describe('permissions', () => {
  it('can() honours exact permissions and the owner wildcard', async () => {
    fakeApi({ 'POST /api/v1/auth/login': () => tokens(1), 'GET /api/v1/auth/me': () => me(AGENT) })
    const auth = useAuthStore()
    await auth.login('demo', 'a@b.c', 'x')
    expect(auth.can('customers.read')).toBe(true)
    expect(auth.can('customers.pii.reveal')).toBe(false)
    expect(auth.canAny(['apikeys.manage', 'users.read'])).toBe(true)

    auth.me = { ...auth.me!, permissions: ['*'] }
    expect(auth.can('apikeys.manage')).toBe(true)
  })
})
