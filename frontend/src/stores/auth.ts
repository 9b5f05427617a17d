// The signed-in session. The access token lives in memory only; the refresh token in
// sessionStorage only (this tab, gone when it closes). Refreshes ahead of expiry while the
// user is active, and on a 401 `invalid_token`; an idle tab lets the server's idle timeout win.
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'

import { bindSession, call, client, type Me, type TokenOut } from '@/api/client'
import { ApiError } from '@/api/errors'

export const REFRESH_KEY = 'relaydesk.refresh'
export const TENANT_KEY = 'relaydesk.tenant'
/** refresh this long before the access token expires (capped at a fifth of its life) */
export const REFRESH_MARGIN_MS = 60_000

export type EndReason = 'signed_out' | 'expired' | 'revoked'

export const useAuthStore = defineStore('auth', () => {
  const accessToken = ref<string | null>(null)
  const expiresAt = ref(0)
  const me = ref<Me | null>(null)
  const endReason = ref<EndReason | null>(null)
  let lastActivity = 0
  let lastRefresh = 0
  let timer: ReturnType<typeof setTimeout> | null = null
  let inflight: Promise<boolean> | null = null
  let onEnded: ((reason: EndReason) => void) | null = null

  const signedIn = computed(() => accessToken.value !== null && me.value !== null)
  const permissions = computed(() => new Set(me.value?.permissions ?? []))

  /** True when the user holds the permission (or every one of a list). */
  function can(...wanted: string[]): boolean {
    const held = permissions.value
    if (held.has('*')) return true
    return wanted.every((p) => held.has(p))
  }

  function canAny(wanted: string[]): boolean {
    return wanted.length === 0 || wanted.some((p) => can(p))
  }

  function storedRefresh(): string | null {
    try {
      return sessionStorage.getItem(REFRESH_KEY)
    } catch {
      return null
    }
  }

  function clearTimer(): void {
    if (timer !== null) clearTimeout(timer)
    timer = null
  }

  function schedule(ttlMs: number): void {
    clearTimer()
    const margin = Math.min(REFRESH_MARGIN_MS, ttlMs / 5)
    timer = setTimeout(() => {
      timer = null
      // only an active user keeps the session alive; an idle one refreshes on the next call
      if (lastActivity > lastRefresh) void refresh()
    }, Math.max(1_000, ttlMs - margin))
  }

  function apply(pair: TokenOut): void {
    accessToken.value = pair.access_token
    const ttlMs = pair.expires_in * 1000
    expiresAt.value = Date.now() + ttlMs
    lastRefresh = Date.now()
    sessionStorage.setItem(REFRESH_KEY, pair.refresh_token)
    schedule(ttlMs)
  }

  function clear(reason: EndReason | null): void {
    clearTimer()
    accessToken.value = null
    expiresAt.value = 0
    me.value = null
    endReason.value = reason
    sessionStorage.removeItem(REFRESH_KEY)
  }

  function end(reason: EndReason): void {
    const wasIn = accessToken.value !== null
    clear(reason)
    if (wasIn) onEnded?.(reason)
  }

  async function loadMe(): Promise<Me> {
    me.value = await call(() => client.GET('/api/v1/auth/me'))
    return me.value
  }

  async function login(tenant: string, email: string, password: string): Promise<void> {
    const pair = await call(
      () => client.POST('/api/v1/auth/login', { body: { tenant, email, password } }),
      { anonymous: true },
    )
    endReason.value = null
    apply(pair)
    lastActivity = Date.now()
    try {
      localStorage.setItem(TENANT_KEY, tenant)
    } catch {
      /* private mode: remembering the organisation is a convenience only */
    }
    await loadMe()
  }

  /** Single flight: concurrent callers share one refresh (a refresh token works once). */
  function refresh(): Promise<boolean> {
    if (inflight) return inflight
    const token = storedRefresh()
    if (!token) return Promise.resolve(false)
    inflight = (async () => {
      try {
        const pair = await call(
          () => client.POST('/api/v1/auth/refresh', { body: { refresh_token: token } }),
          { anonymous: true },
        )
        apply(pair)
        return true
      } catch (error) {
        if (error instanceof ApiError && error.status > 0) {
          end(error.code === 'session_revoked' ? 'revoked' : 'expired')
        }
        return false
      } finally {
        inflight = null
      }
    })()
    return inflight
  }

  /** After a reload: the refresh token of this tab, if any, signs the user back in. */
  async function restore(): Promise<boolean> {
    if (signedIn.value) return true
    if (!storedRefresh()) return false
    if (!(await refresh())) return false
    try {
      await loadMe()
      return true
    } catch {
      return false
    }
  }

  async function logout(): Promise<void> {
    if (accessToken.value) {
      try {
        await call(() => client.POST('/api/v1/auth/logout'), { retry: false })
      } catch {
        /* signed out locally whatever the server says */
      }
    }
    clear('signed_out')
  }

  function setOnEnded(fn: ((reason: EndReason) => void) | null): void {
    onEnded = fn
  }

  bindSession({
    token: () => accessToken.value,
    refresh,
    touch: () => {
      lastActivity = Date.now()
    },
    ended: (error) => end(error.code === 'session_revoked' ? 'revoked' : 'expired'),
  })

  return {
    accessToken,
    expiresAt,
    me,
    endReason,
    signedIn,
    permissions,
    can,
    canAny,
    login,
    logout,
    refresh,
    restore,
    loadMe,
    setOnEnded,
  }
})
