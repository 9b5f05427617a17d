// The event log screens (relaydesk/events/api.py): list filters as a query, the replay
// request, dead-letter states and consumer status colours.
import type { Schemas } from '@/api/client'

export type EventRow = Schemas['EventOut']
export type EventDetail = Schemas['EventDetailOut']
export type DeadLetter = Schemas['DeadLetterOut']
export type ReplayIn = Schemas['ReplayIn']

export interface EventFilters {
  type: string
  key: string
  since: Date | null
}

export function emptyFilters(): EventFilters {
  return { type: '', key: '', since: null }
}

/** The query of GET /events: trimmed, empty filters left out. */
export function eventQuery(f: EventFilters): { type?: string; key?: string; since?: string } {
  const out: { type?: string; key?: string; since?: string } = {}
  if (f.type.trim()) out.type = f.type.trim()
  if (f.key.trim()) out.key = f.key.trim()
  if (f.since) out.since = f.since.toISOString()
  return out
}

export interface ReplayForm {
  since: Date | null
  until: Date | null
  type: string
  consumer: string
  force: boolean
}

export function emptyReplay(now = new Date()): ReplayForm {
  return { since: new Date(now.getTime() - 60 * 60 * 1000), until: null, type: '', consumer: '', force: false }
}

export function replayBody(f: ReplayForm): ReplayIn {
  return {
    // the server names a missing since at its field
    since: f.since ? f.since.toISOString() : '',
    until: f.until ? f.until.toISOString() : null,
    type: f.type.trim() || null,
    consumer: f.consumer.trim() || null,
    force: f.force,
  }
}

export type DeadState = 'replayed' | 'dead' | 'retrying'

export function deadState(d: DeadLetter): DeadState {
  if (d.replayed_at && !d.dead) return 'replayed'
  return d.dead ? 'dead' : 'retrying'
}

export const DEAD_TAG: Record<DeadState, 'danger' | 'warning' | 'success'> = {
  dead: 'danger', retrying: 'warning', replayed: 'success',
}

export const CONSUMER_TAG: Record<string, 'success' | 'info' | 'warning' | 'danger'> = {
  processed: 'success', pending: 'info', waiting: 'info', failing: 'warning', dead: 'danger',
}

export function prettyJson(value: unknown): string {
  return JSON.stringify(value ?? null, null, 2)
}

/** Where an event came from, in a few words: {kind: 'saga', definition: 'refund'} → "saga · refund". */
export function sourceText(source: Record<string, unknown> | null | undefined): string {
  if (!source) return ''
  const { kind, ...rest } = source
  const parts = [kind, ...Object.entries(rest).filter(([k]) => !k.endsWith('_id')).map(([, v]) => v)]
  return parts.filter((v) => typeof v === 'string' || typeof v === 'number').map(String).join(' · ')
}
