// /api/v1/canned-responses (relaydesk/conversations/api.py): listed with conversations.read,
// changed with canned_responses.manage.
import { call, client } from '@/api/client'

import type { CannedIn, CannedPatch } from './cannedModel'

const path = (id: string) => ({ params: { path: { canned_id: id } } })

export const cannedApi = {
  list: (q: string, cursor?: string) =>
    call(() => client.GET('/api/v1/canned-responses', { params: { query: { q: q || undefined, cursor, limit: 50 } } })),
  create: (body: CannedIn) => call(() => client.POST('/api/v1/canned-responses', { body })),
  update: (id: string, body: CannedPatch) => call(() => client.PATCH('/api/v1/canned-responses/{canned_id}', { ...path(id), body })),
  remove: (id: string) => call(() => client.DELETE('/api/v1/canned-responses/{canned_id}', path(id))),
}
