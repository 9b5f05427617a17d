// Pure helpers of the webhook screens.
import type { Endpoint, EndpointIn } from './api'

/** Filters offered in the event-type picker (any exact type or `custom.*` may be typed too). */
export const SUGGESTED_FILTERS = [
  '*',
  'conversation.*',
  'message.*',
  'customer.*',
  'ticket.*',
  'order.*',
  'call.*',
  'custom.*',
]

export type Health = 'disabled' | 'circuit_open' | 'failing' | 'healthy' | 'new'

/** One word for an endpoint's state (the list's tag). */
export function healthOf(endpoint: Pick<Endpoint, 'enabled' | 'health'>, now: Date = new Date()): Health {
  if (!endpoint.enabled) return 'disabled'
  const h = endpoint.health
  if (h.circuit_open_until && new Date(h.circuit_open_until) > now) return 'circuit_open'
  if (h.failing_since) return 'failing'
  if (h.last_success_at) return 'healthy'
  return 'new'
}

export const HEALTH_TAG: Record<Health, 'success' | 'warning' | 'danger' | 'info'> = {
  healthy: 'success',
  new: 'info',
  failing: 'warning',
  circuit_open: 'danger',
  disabled: 'info',
}

export const DELIVERY_TAG: Record<string, 'success' | 'warning' | 'danger' | 'info'> = {
  succeeded: 'success',
  pending: 'warning',
  failed: 'danger',
}

export interface EndpointForm {
  url: string
  description: string
  event_types: string[]
  enabled: boolean
  rate_limit: number | null
  include_pii: boolean
  allow_network: string[]
}

export function emptyForm(): EndpointForm {
  return { url: '', description: '', event_types: ['*'], enabled: true, rate_limit: null, include_pii: false, allow_network: [] }
}

export function formOf(e: Endpoint): EndpointForm {
  return {
    url: e.url,
    description: e.description,
    event_types: [...e.event_types],
    enabled: e.enabled,
    rate_limit: e.rate_limit,
    include_pii: e.include_pii,
    allow_network: [...e.allow_network],
  }
}

/** The create body: trimmed, de-duplicated filters and networks. */
export function bodyOf(form: EndpointForm): EndpointIn {
  const clean = (list: string[]) => [...new Set(list.map((s) => s.trim()).filter(Boolean))]
  return {
    url: form.url.trim(),
    description: form.description.trim(),
    event_types: clean(form.event_types),
    enabled: form.enabled,
    rate_limit: form.rate_limit || null,
    include_pii: form.include_pii,
    allow_network: clean(form.allow_network),
  }
}

/** The edit body: only the fields that changed. */
export function changesOf(form: EndpointForm, before: Endpoint): Partial<EndpointIn> {
  const next = bodyOf(form)
  const prev = bodyOf(formOf(before))
  const changed: Partial<EndpointIn> = {}
  for (const key of Object.keys(next) as (keyof EndpointIn)[]) {
    if (JSON.stringify(next[key]) !== JSON.stringify(prev[key])) {
      ;(changed as Record<string, unknown>)[key] = next[key]
    }
  }
  return changed
}

/** `datetime-local` default for "recover failed since": 24 hours ago. */
export function defaultSince(now: Date = new Date()): Date {
  return new Date(now.getTime() - 24 * 3600 * 1000)
}

/** Pretty JSON for payloads and answers (bodies that are not JSON are shown as they are). */
export function pretty(value: unknown): string {
  if (typeof value === 'string') {
    try {
      return JSON.stringify(JSON.parse(value), null, 2)
    } catch {
      return value
    }
  }
  return JSON.stringify(value, null, 2)
}
