// The endpoints these screens call without generated types (loose.ts) are checked against the
// committed OpenAPI snapshot: the path and method exist, and every field the screens read is
// in the response schema. A path the snapshot does not list yet is skipped, saying which
// router must be mounted (relaydesk/app.py) and the snapshot regenerated (make api-snapshot).
import { describe, expect, it } from 'vitest'

import snapshot from '@/api/openapi.json'

type Schema = { $ref?: string; properties?: Record<string, Schema>; items?: Schema; allOf?: Schema[]; anyOf?: Schema[] }
const doc = snapshot as unknown as { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: Schema }> }> }>>; components: { schemas: Record<string, Schema> } }

function resolve(s: Schema | undefined): Schema | undefined {
  if (!s) return s
  if (s.$ref) return resolve(doc.components.schemas[s.$ref.split('/').pop()!])
  if (s.allOf?.length === 1) return resolve(s.allOf[0])
  if (s.anyOf) return resolve(s.anyOf.find((x) => !('type' in x && (x as { type?: string }).type === 'null')))
  return s
}

/** [method, path, fields read from the 200/201/202 answer ("items[]." for pages)] */
const CONTRACTS: [string, string, string[]][] = [
  ['get', '/api/v1/reports/conversations', ['from', 'to', 'tz', 'total', 'by_channel', 'by_status', 'first_response', 'resolution', 'per_day']],
  ['get', '/api/v1/webhooks/endpoints', ['items[].id', 'items[].url', 'items[].event_types', 'items[].enabled', 'items[].health', 'next_cursor']],
  ['post', '/api/v1/webhooks/endpoints', ['secret', 'id']],
  ['get', '/api/v1/webhooks/endpoints/{webhook_endpoint_id}', ['health', 'previous_secret_expires_at', 'disabled_reason']],
  ['patch', '/api/v1/webhooks/endpoints/{webhook_endpoint_id}', ['id']],
  ['delete', '/api/v1/webhooks/endpoints/{webhook_endpoint_id}', []],
  ['post', '/api/v1/webhooks/endpoints/{webhook_endpoint_id}/rotate-secret', ['secret', 'previous_secret_expires_at']],
  ['post', '/api/v1/webhooks/endpoints/{webhook_endpoint_id}/test', ['id', 'status']],
  ['post', '/api/v1/webhooks/endpoints/{webhook_endpoint_id}/recover', ['recovered', 'more']],
  ['get', '/api/v1/webhooks/deliveries', ['items[].status', 'items[].trigger', 'items[].attempts', 'items[].last_status_code', 'items[].last_error']],
  ['get', '/api/v1/webhooks/deliveries/{webhook_delivery_id}', ['attempts_log', 'message_id', 'endpoint_id']],
  ['get', '/api/v1/webhooks/messages/{webhook_message_id}', ['event_type', 'payload']],
  ['post', '/api/v1/webhooks/messages/{webhook_message_id}/replay', ['deliveries']],
  ['get', '/api/v1/customer-panels', ['items[].key', 'items[].title_zh', 'items[].title_en', 'items[].instance', 'items[].action', 'items[].params', 'items[].fields']],
  ['post', '/api/v1/customer-panels', ['key']],
  ['patch', '/api/v1/customer-panels/{panel_key}', ['key']],
  ['delete', '/api/v1/customer-panels/{panel_key}', []],
  ['get', '/api/v1/channels/web-chat/{inbox_id}/snippet', ['html', 'script_url', 'secret_set']],
  ['post', '/api/v1/channels/web-chat/{inbox_id}/identity-secret', ['secret']],
  ['post', '/api/v1/channels/api/{inbox_id}/signing-secret', ['signing_secret']],
]

function field(schema: Schema | undefined, path: string): boolean {
  let node = resolve(schema)
  for (const part of path.split('.')) {
    if (!node) return false
    const list = part.endsWith('[]')
    const name = list ? part.slice(0, -2) : part
    node = resolve(node.properties?.[name])
    if (list) node = resolve(node?.items)
  }
  return node !== undefined
}

describe('endpoints without generated types match the OpenAPI snapshot', () => {
  for (const [method, path, fields] of CONTRACTS) {
    const op = doc.paths[path]?.[method]
    it.skipIf(!op)(`${method.toUpperCase()} ${path}${op ? '' : ' (not in the snapshot yet: mount its router and run make api-snapshot)'}`, () => {
      const ok = ['200', '201', '202', '204'].find((s) => op!.responses[s])
      expect(ok, 'a success response').toBeTruthy()
      const schema = op!.responses[ok!]!.content?.['application/json']?.schema
      for (const f of fields) expect(field(schema, f), `${path} → ${f}`).toBe(true)
    })
  }
})
