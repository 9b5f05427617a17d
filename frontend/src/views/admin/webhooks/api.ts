// /api/v1/webhooks (relaydesk/webhooks/api.py, schemas.py). Declared here until the OpenAPI
// snapshot lists these paths (see views/supervisor/loose.ts and contracts.test.ts).
import { request } from '@/views/supervisor/loose'

export interface EndpointHealth {
  consecutive_failures: number
  circuit_open_until: string | null
  failing_since: string | null
  last_success_at: string | null
  last_failure_at: string | null
  last_error: string | null
}

export interface Endpoint {
  id: string
  url: string
  description: string
  event_types: string[]
  enabled: boolean
  disabled_reason: string | null
  disabled_at: string | null
  rate_limit: number | null
  include_pii: boolean
  allow_network: string[]
  previous_secret_expires_at: string | null
  health: EndpointHealth
  version: number
  created_at: string
  updated_at: string
}

export interface EndpointCreated extends Endpoint {
  secret: string
}

export interface EndpointIn {
  url: string
  description: string
  event_types: string[]
  enabled: boolean
  rate_limit: number | null
  include_pii: boolean
  allow_network: string[]
}

export interface Attempt {
  id: string
  attempt: number
  url: string
  outcome: string
  status_code: number | null
  latency_ms: number
  response_body: string | null
  error: string | null
  next_attempt_at: string | null
  created_at: string
}

export interface Delivery {
  id: string
  message_id: string
  endpoint_id: string
  trigger: string
  status: 'pending' | 'succeeded' | 'failed' | string
  attempts: number
  clear_pii: boolean
  next_attempt_at: string | null
  last_attempt_at: string | null
  last_status_code: number | null
  last_error: string | null
  finished_at: string | null
  superseded_by: string | null
  created_at: string
}

export interface DeliveryDetail extends Delivery {
  attempts_log: Attempt[]
}

export interface Message {
  id: string
  event_id: string | null
  event_type: string
  occurred_at: string
  payload: Record<string, unknown>
  origin: string
  created_at: string
}

export interface MessageDetail extends Message {
  deliveries: Delivery[]
}

export interface Page<T> {
  items: T[]
  next_cursor?: string | null
}

const E = '/api/v1/webhooks/endpoints'

export const webhooksApi = {
  list: (cursor?: string) => request<Page<Endpoint>>('GET', E, { query: { cursor, limit: 50 } }),
  get: (id: string) => request<Endpoint>('GET', `${E}/{id}`, { path: { id } }),
  create: (body: EndpointIn) => request<EndpointCreated>('POST', E, { body }),
  update: (id: string, body: Partial<EndpointIn> & { disabled_reason?: string | null }) =>
    request<Endpoint>('PATCH', `${E}/{id}`, { path: { id }, body }),
  remove: (id: string) => request<void>('DELETE', `${E}/{id}`, { path: { id } }),
  rotate: (id: string, overlapSeconds: number | null) =>
    request<{ secret: string; previous_secret_expires_at: string | null }>('POST', `${E}/{id}/rotate-secret`, {
      path: { id },
      body: overlapSeconds === null ? {} : { overlap_seconds: overlapSeconds },
    }),
  test: (id: string, eventType: string, payload: Record<string, unknown>) =>
    request<Delivery>('POST', `${E}/{id}/test`, { path: { id }, body: { event_type: eventType, payload } }),
  recover: (id: string, since: string, until?: string) =>
    request<{ recovered: number; more: boolean }>('POST', `${E}/{id}/recover`, {
      path: { id },
      body: until ? { since, until } : { since },
    }),
  deliveries: (query: { endpoint_id?: string; status?: string; cursor?: string }) =>
    request<Page<Delivery>>('GET', '/api/v1/webhooks/deliveries', { query: { ...query, limit: 50 } }),
  delivery: (id: string) => request<DeliveryDetail>('GET', '/api/v1/webhooks/deliveries/{id}', { path: { id } }),
  message: (id: string) => request<MessageDetail>('GET', '/api/v1/webhooks/messages/{id}', { path: { id } }),
  replay: (messageId: string, endpointId?: string) =>
    request<{ deliveries: Delivery[] }>('POST', '/api/v1/webhooks/messages/{id}/replay', {
      path: { id: messageId },
      body: endpointId ? { endpoint_id: endpointId } : {},
    }),
}
