// /api/v1/inboxes (typed from the snapshot) and the channels' admin endpoints (declared here
// until the snapshot lists them: see views/supervisor/loose.ts).
import { allPages, call, client, type Schemas } from '@/api/client'
import { request } from '@/views/supervisor/loose'

export type Inbox = Schemas['InboxOut']
export type InboxIn = Schemas['InboxIn']
export type InboxPatch = Schemas['InboxPatch']

export interface Snippet {
  html: string
  script_url: string
  identity_verification: boolean
  secret_set: boolean
}

export const inboxesApi = {
  list: () =>
    allPages((cursor) => call(() => client.GET('/api/v1/inboxes', { params: { query: { cursor, limit: 100 } } }))),
  create: (body: InboxIn) => call(() => client.POST('/api/v1/inboxes', { body })),
  update: (id: string, body: InboxPatch) =>
    call(() => client.PATCH('/api/v1/inboxes/{inbox_id}', { params: { path: { inbox_id: id } }, body })),
  remove: (id: string) =>
    call(() => client.DELETE('/api/v1/inboxes/{inbox_id}', { params: { path: { inbox_id: id } } })),
  /** POST /channels/api/{id}/signing-secret: a new whsec_ secret, shown once */
  signingSecret: (id: string) =>
    request<{ signing_secret: string }>('POST', '/api/v1/channels/api/{inbox_id}/signing-secret', {
      path: { inbox_id: id },
    }),
  /** GET /channels/web-chat/{id}/snippet: the <script> tag that embeds the widget */
  snippet: (id: string) =>
    request<Snippet>('GET', '/api/v1/channels/web-chat/{inbox_id}/snippet', { path: { inbox_id: id } }),
  /** POST /channels/web-chat/{id}/identity-secret: shown once */
  identitySecret: (id: string) =>
    request<{ secret: string; created_at: string }>('POST', '/api/v1/channels/web-chat/{inbox_id}/identity-secret', {
      path: { inbox_id: id },
    }),
}
