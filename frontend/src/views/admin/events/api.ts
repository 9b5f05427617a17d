// /api/v1/events (relaydesk/events/api.py): read with events.read, replay with events.manage.
import { call, client } from '@/api/client'

import type { ReplayIn } from './eventsModel'

export const eventsApi = {
  list: (query: { type?: string; key?: string; since?: string }, cursor?: string) =>
    call(() => client.GET('/api/v1/events', { params: { query: { ...query, cursor, limit: 50 } } })),
  get: (id: string) => call(() => client.GET('/api/v1/events/{event_id}', { params: { path: { event_id: id } } })),
  deadLetters: (query: { consumer?: string; type?: string }, cursor?: string) =>
    call(() => client.GET('/api/v1/events/dead-letters', { params: { query: { ...query, cursor, limit: 50 } } })),
  replayDead: (id: string) =>
    call(() => client.POST('/api/v1/events/dead-letters/{dead_letter_id}/replay', { params: { path: { dead_letter_id: id } } })),
  replay: (body: ReplayIn) => call(() => client.POST('/api/v1/events/replay', { body })),
}
