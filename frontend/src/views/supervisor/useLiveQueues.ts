// The queues, kept current: loaded once, then reloaded (throttled) whenever a conversation
// event or a presence change arrives on the agents' WebSocket, and after a reconnect that
// could not resume. A slow 30 s poll covers a socket that cannot connect at all.
import { onBeforeUnmount, onMounted, ref, shallowRef } from 'vue'

import type { ApiError } from '@/api/errors'
import { isApiError, networkError } from '@/api/errors'
import { useRealtimeStore } from '@/stores/realtime'

import { fetchQueues, type Queue } from './api'
import { affectsQueues, throttle } from './queueModel'

export const REFRESH_THROTTLE_MS = 800
export const FALLBACK_POLL_MS = 30_000

export function useLiveQueues(onChange?: () => void) {
  const realtime = useRealtimeStore()
  const queues = shallowRef<Queue[]>([])
  const loading = ref(false)
  const error = ref<ApiError | null>(null)
  const updatedAt = ref<Date | null>(null)
  /** live events seen since the page opened (shown, and asserted by the E2E test) */
  const events = ref(0)
  let generation = 0

  async function load(): Promise<void> {
    const mine = ++generation
    loading.value = true
    try {
      const next = await fetchQueues()
      if (mine !== generation) return
      queues.value = next
      error.value = null
      updatedAt.value = new Date()
    } catch (e) {
      if (mine === generation) error.value = isApiError(e) ? e : networkError(e)
    } finally {
      if (mine === generation) loading.value = false
    }
  }

  const refresh = throttle(() => {
    void load()
    onChange?.()
  }, REFRESH_THROTTLE_MS)

  let unsubscribe: (() => void) | null = null
  let poll: ReturnType<typeof setInterval> | null = null

  onMounted(() => {
    void load()
    unsubscribe = realtime.subscribe({
      event(e) {
        if (!affectsQueues(e.event_type)) return
        events.value += 1
        refresh()
      },
      ready({ resumed }) {
        if (!resumed) refresh()
      },
      resync: () => refresh(),
    })
    realtime.start() // idempotent: shares the workbench's socket when it is already open
    poll = setInterval(() => {
      if (realtime.status !== 'live') void load()
    }, FALLBACK_POLL_MS)
  })

  onBeforeUnmount(() => {
    unsubscribe?.()
    refresh.cancel()
    if (poll !== null) clearInterval(poll)
  })

  return { queues, loading, error, updatedAt, events, load, status: () => realtime.status }
}
