// /api/v1/sagas/definitions (relaydesk/sagas/api.py): read with sagas.read, change with
// connectors.manage (GET, POST, GET/PUT/DELETE by id; no PATCH).
import { call, client } from '@/api/client'

import type { DefinitionIn } from './sagaModel'

const path = (id: string) => ({ params: { path: { saga_definition_id: id } } })

export const sagasApi = {
  list: (cursor?: string) => call(() => client.GET('/api/v1/sagas/definitions', { params: { query: { cursor, limit: 50 } } })),
  get: (id: string) => call(() => client.GET('/api/v1/sagas/definitions/{saga_definition_id}', path(id))),
  create: (body: DefinitionIn) => call(() => client.POST('/api/v1/sagas/definitions', { body })),
  replace: (id: string, body: DefinitionIn) =>
    call(() => client.PUT('/api/v1/sagas/definitions/{saga_definition_id}', { ...path(id), body })),
  remove: (id: string) => call(() => client.DELETE('/api/v1/sagas/definitions/{saga_definition_id}', path(id))),
}
