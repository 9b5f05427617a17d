// Pure helpers of the live queue view.
import type { AgentLoad, Queue } from './api'

/** Realtime events after which queues and agent load may have changed. */
export function affectsQueues(eventType: string): boolean {
  return eventType.startsWith('conversation.') || eventType === 'presence.changed'
}

/** 0..100, the share of the agent's capacity in use (100 when capacity is 0 and busy). */
export function loadPercent(agent: Pick<AgentLoad, 'open_conversations' | 'capacity'>): number {
  if (agent.capacity <= 0) return agent.open_conversations > 0 ? 100 : 0
  return Math.min(100, Math.round((agent.open_conversations / agent.capacity) * 100))
}

export type LoadLevel = 'success' | 'warning' | 'exception'

export function loadLevel(agent: Pick<AgentLoad, 'open_conversations' | 'capacity'>): LoadLevel {
  const p = loadPercent(agent)
  return p >= 100 ? 'exception' : p >= 80 ? 'warning' : 'success'
}

export const PRESENCE_TAG: Record<string, 'success' | 'warning' | 'info' | 'danger'> = {
  online: 'success',
  busy: 'warning',
  away: 'info',
  offline: 'info',
}

export interface QueueTotals {
  waiting: number
  agentsOnline: number
  agents: number
  open: number
  capacity: number
}

/** Totals over every team (an agent in several teams counts once). */
export function totals(queues: Queue[]): QueueTotals {
  const agents = new Map<string, AgentLoad>()
  for (const q of queues) for (const a of q.agents) agents.set(a.user_id, a)
  const all = [...agents.values()]
  return {
    waiting: queues.reduce((n, q) => n + q.waiting, 0),
    agentsOnline: all.filter((a) => a.status === 'online').length,
    agents: all.length,
    open: all.reduce((n, a) => n + a.open_conversations, 0),
    capacity: all.filter((a) => a.status === 'online').reduce((n, a) => n + a.capacity, 0),
  }
}

/** Agents a conversation can go to: online ones with room first, least loaded first. */
export function candidates(agents: AgentLoad[]): AgentLoad[] {
  const rank = (a: AgentLoad) => (a.status === 'online' ? 0 : a.status === 'busy' ? 1 : 2)
  return [...agents].sort(
    (a, b) =>
      rank(a) - rank(b) ||
      loadPercent(a) - loadPercent(b) ||
      a.display_name.localeCompare(b.display_name),
  )
}

/**
 * Run `fn` at most once per `ms`, trailing: a burst of events causes one refresh at its start
 * and one after it, never one per event.
 */
export function throttle(fn: () => void, ms: number): { (): void; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | null = null
  let last = 0
  let pending = false
  const run = () => {
    timer = null
    last = Date.now()
    pending = false
    fn()
  }
  const wrapped = () => {
    const wait = last + ms - Date.now()
    if (wait <= 0 && timer === null) return run()
    pending = true
    if (timer === null) timer = setTimeout(() => pending && run(), Math.max(0, wait))
  }
  wrapped.cancel = () => {
    if (timer !== null) clearTimeout(timer)
    timer = null
    pending = false
  }
  return wrapped
}

/** How long ago, compactly: "42s", "5m", "3h", "2d" (zh: 秒/分钟/小时/天). */
export function age(iso: string, now: Date = new Date(), locale = 'en'): string {
  const s = Math.max(0, Math.round((now.getTime() - new Date(iso).getTime()) / 1000))
  const zh = locale.startsWith('zh')
  const [value, unit] =
    s < 60 ? [s, zh ? '秒' : 's'] : s < 3600 ? [Math.floor(s / 60), zh ? '分钟' : 'm'] : s < 86400 ? [Math.floor(s / 3600), zh ? '小时' : 'h'] : [Math.floor(s / 86400), zh ? '天' : 'd']
  return `${value}${unit}`
}
