// The agents' WebSocket (/api/v1/realtime). The first frame authenticates with the access
// token (never in the URL) and names the last event id this tab saw, so that after a
// reconnect the server replays what was missed, in order. Events are handed to subscribers
// once each (de-duplicated by event id). Closed sockets reconnect with a growing delay;
// close 1013 ("too slow") and network drops resume from the last id; 4401 refreshes the
// token first. See relaydesk/realtime/api.py for the protocol.
import { defineStore } from 'pinia'
import { ref } from 'vue'

import { useAuthStore } from '@/stores/auth'

export type RealtimeStatus = 'idle' | 'connecting' | 'live' | 'reconnecting' | 'offline'

export interface RealtimeEvent {
  /** the outbox event id; null for ephemeral frames (typing, presence) */
  id: string | null
  event_type: string
  occurred_at?: string
  payload: Record<string, unknown>
}

export interface ReadyInfo {
  /** true when the server replayed from our last id: nothing was missed */
  resumed: boolean
}

export interface RealtimeHandlers {
  event?: (event: RealtimeEvent) => void
  /** the socket is live; `resumed` false means lists must be reloaded */
  ready?: (info: ReadyInfo) => void
  /** the gap was too large to replay: reload the lists */
  resync?: () => void
}

/** Minimal WebSocket surface (lets unit tests pass a fake). */
export interface SocketLike {
  readyState: number
  send(data: string): void
  close(code?: number, reason?: string): void
  onopen: ((ev: unknown) => void) | null
  onmessage: ((ev: { data: unknown }) => void) | null
  onclose: ((ev: { code: number; reason?: string }) => void) | null
  onerror: ((ev: unknown) => void) | null
}

export type SocketFactory = (url: string) => SocketLike

let factory: SocketFactory = (url) => new WebSocket(url) as unknown as SocketLike

/** Tests replace the WebSocket constructor. */
export function setSocketFactory(value: SocketFactory | null): void {
  factory = value ?? ((url) => new WebSocket(url) as unknown as SocketLike)
}

export const PING_EVERY_MS = 25_000
export const MAX_BACKOFF_MS = 30_000
const SEEN_LIMIT = 2_000
const OPEN = 1

export function realtimeUrl(location: { protocol: string; host: string } = window.location): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/realtime`
}

/** Delay before reconnect attempt `n` (1, 2, 3...): 1 s, 2 s, 4 s... capped, with jitter. */
export function backoff(n: number, random: () => number = Math.random): number {
  const base = Math.min(MAX_BACKOFF_MS, 1_000 * 2 ** Math.max(0, n - 1))
  return Math.round(base * (0.8 + 0.4 * random()))
}

/** uuid7 ids sort by time as strings: the later of two ids. */
function later(a: string | null, b: string | null): string | null {
  if (!a) return b
  if (!b) return a
  return b > a ? b : a
}

export const useRealtimeStore = defineStore('realtime', () => {
  const status = ref<RealtimeStatus>('idle')
  const lastEventId = ref<string | null>(null)
  /** reconnect attempts since the last live socket */
  const attempts = ref(0)
  const handlers = new Set<RealtimeHandlers>()
  const seen = new Set<string>()
  const seenOrder: string[] = []
  let socket: SocketLike | null = null
  let wanted = false
  let retryTimer: ReturnType<typeof setTimeout> | null = null
  let pingTimer: ReturnType<typeof setInterval> | null = null
  let sentAfter: string | null = null

  function subscribe(h: RealtimeHandlers): () => void {
    handlers.add(h)
    return () => handlers.delete(h)
  }

  function each(fn: (h: RealtimeHandlers) => void): void {
    for (const h of [...handlers]) {
      try {
        fn(h)
      } catch (error) {
        console.error('realtime handler failed', error)
      }
    }
  }

  function remember(id: string): boolean {
    if (seen.has(id)) return false
    seen.add(id)
    seenOrder.push(id)
    if (seenOrder.length > SEEN_LIMIT) seen.delete(seenOrder.shift()!)
    return true
  }

  function clearTimers(): void {
    if (retryTimer !== null) clearTimeout(retryTimer)
    if (pingTimer !== null) clearInterval(pingTimer)
    retryTimer = null
    pingTimer = null
  }

  function onFrame(raw: unknown): void {
    let frame: Record<string, unknown>
    try {
      frame = JSON.parse(String(raw)) as Record<string, unknown>
    } catch {
      return
    }
    switch (frame.type) {
      case 'ready': {
        status.value = 'live'
        attempts.value = 0
        const resumed = sentAfter !== null
        lastEventId.value = later(lastEventId.value, (frame.last_event_id as string | null) ?? null)
        pingTimer = setInterval(() => send({ type: 'ping' }), PING_EVERY_MS)
        each((h) => h.ready?.({ resumed }))
        break
      }
      case 'event': {
        const id = (frame.id as string | null) ?? null
        if (id !== null) {
          if (!remember(id)) return // a replay overlapping what we already had
          lastEventId.value = later(lastEventId.value, id)
        }
        const event: RealtimeEvent = {
          id,
          event_type: String(frame.event_type ?? ''),
          occurred_at: frame.occurred_at as string | undefined,
          payload: (frame.payload as Record<string, unknown>) ?? {},
        }
        each((h) => h.event?.(event))
        break
      }
      case 'resync':
        each((h) => h.resync?.())
        break
      default:
        break // pong and frames of later versions
    }
  }

  function open(): void {
    const auth = useAuthStore()
    const token = auth.accessToken
    if (!token) {
      status.value = 'offline'
      return
    }
    status.value = attempts.value > 0 ? 'reconnecting' : 'connecting'
    let sock: SocketLike
    try {
      sock = factory(realtimeUrl())
    } catch {
      schedule()
      return
    }
    socket = sock
    sock.onopen = () => {
      sentAfter = lastEventId.value
      sock.send(JSON.stringify({ type: 'auth', token, after: sentAfter }))
    }
    sock.onmessage = (ev) => {
      if (socket === sock) onFrame(ev.data)
    }
    sock.onerror = () => {
      /* onclose follows */
    }
    sock.onclose = (ev) => {
      if (socket !== sock) return
      socket = null
      clearTimers()
      if (!wanted) {
        status.value = 'idle'
        return
      }
      if (ev.code === 4401) {
        // the token expired meanwhile: refresh it, then try again
        status.value = 'reconnecting'
        void auth.refresh().then((ok) => (ok ? schedule() : (status.value = 'offline')))
        return
      }
      schedule()
    }
  }

  function schedule(): void {
    if (!wanted) return
    clearTimers()
    attempts.value += 1
    status.value = 'reconnecting'
    retryTimer = setTimeout(() => {
      retryTimer = null
      if (wanted && socket === null) open()
    }, backoff(attempts.value))
  }

  /** Connect (idempotent); keeps reconnecting until stop(). */
  function start(): void {
    wanted = true
    if (socket !== null || retryTimer !== null) return
    open()
  }

  /** Reconnect now (e.g. the browser came back online) instead of waiting for the timer. */
  function reconnectNow(): void {
    if (!wanted || socket !== null) return
    clearTimers()
    open()
  }

  function stop(): void {
    wanted = false
    clearTimers()
    const sock = socket
    socket = null
    sock?.close(1000, 'bye')
    status.value = 'idle'
  }

  /** Forget the position too (a new sign-in starts from "now"). */
  function reset(): void {
    stop()
    lastEventId.value = null
    attempts.value = 0
    seen.clear()
    seenOrder.length = 0
  }

  function send(frame: Record<string, unknown>): boolean {
    if (socket === null || socket.readyState !== OPEN || status.value !== 'live') return false
    socket.send(JSON.stringify(frame))
    return true
  }

  function sendTyping(conversationId: string, on: boolean): boolean {
    return send({ type: 'typing', conversation_id: conversationId, on })
  }

  return {
    status,
    lastEventId,
    attempts,
    subscribe,
    start,
    stop,
    reset,
    reconnectNow,
    sendTyping,
  }
})
