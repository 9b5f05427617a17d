// Customer 360 for the side panel: the customer's timeline and the connector panels
// (GET /api/v1/customers/{id}/timeline and /panels, relaydesk/customer360/api.py), called
// through an untyped view of the client with the shapes below (they mirror
// relaydesk/customer360/schemas.py), so that the workbench also runs against a server without
// those routes: it answers 404, which the panel shows as "not available on this server".
import { call, client, type Schemas } from '@/api/client'
import { isApiError } from '@/api/errors'
import { formatTime } from '@/utils/format'

export type PanelState = 'ok' | 'stale' | 'unavailable' | 'forbidden' | 'not_applicable'

export interface PanelField {
  path: string
  label?: string | null
  label_zh?: string | null
  label_en?: string | null
  [key: string]: unknown
}

export interface PanelView {
  key: string
  title: Record<string, string>
  instance: string
  action: string
  state: PanelState
  many: boolean
  fields: PanelField[]
  data: unknown
  empty: boolean
  fetched_at: string | null
  cached: boolean
  stale: boolean
  masked: boolean
  error: Schemas['OutcomeError'] | null
  missing: string[]
  latency_ms: number | null
  call_id: string | null
}

export interface PanelsView {
  customer_id: string
  panels: PanelView[]
  generated_at: string
}

export type TimelineKind = 'message' | 'note' | 'call' | 'event'

export interface TimelineItem {
  id: string
  kind: TimelineKind
  at: string
  customer_id: string
  conversation_id: string | null
  channel: string | null
  direction: string | null
  author_type: string | null
  content_type: string | null
  body: string | null
  truncated: boolean
  content: Record<string, unknown> | null
  attachments: number
  status: string | null
  event_type: string | null
  source: string | null
  payload: Record<string, unknown> | null
  masked: boolean
}

interface Loose {
  GET(
    url: string,
    init?: { params?: { path?: Record<string, string>; query?: Record<string, unknown> } },
  ): Promise<{ data?: unknown; error?: unknown; response: Response }>
}

const loose = client as unknown as Loose

/** The route does not exist on this server (an older Relaydesk, or not wired yet). */
export function notAvailable(error: unknown): boolean {
  return isApiError(error) && error.status === 404
}

export function fetchPanels(customerId: string): Promise<PanelsView> {
  return call(() =>
    loose.GET('/api/v1/customers/{customer_id}/panels', { params: { path: { customer_id: customerId } } }),
  ) as Promise<PanelsView>
}

export function refreshPanel(customerId: string, key: string): Promise<PanelsView> {
  return call(() =>
    loose.GET('/api/v1/customers/{customer_id}/panels/{panel_key}', {
      params: { path: { customer_id: customerId, panel_key: key }, query: { refresh: true } },
    }),
  ) as Promise<PanelsView>
}

export function fetchTimeline(
  customerId: string,
  cursor?: string,
): Promise<{ items: TimelineItem[]; next_cursor?: string | null }> {
  return call(() =>
    loose.GET('/api/v1/customers/{customer_id}/timeline', {
      params: { path: { customer_id: customerId }, query: { limit: 20, cursor } },
    }),
  ) as Promise<{ items: TimelineItem[]; next_cursor?: string | null }>
}

/** A field's label in the UI language. */
export function fieldLabel(field: PanelField, locale: string): string {
  const zh = locale.startsWith('zh')
  return (zh ? field.label_zh : field.label_en) ?? field.label ?? field.label_en ?? field.label_zh ?? field.path
}

export function panelTitle(panel: Pick<PanelView, 'title' | 'key'>, locale: string): string {
  const zh = locale.startsWith('zh')
  return (zh ? panel.title.zh : panel.title.en) ?? panel.title.en ?? panel.title.zh ?? panel.key
}

/** A dotted path's value in a record. */
export function pick(record: unknown, path: string): unknown {
  let at: unknown = record
  for (const part of path.split('.')) {
    if (typeof at !== 'object' || at === null) return undefined
    at = (at as Record<string, unknown>)[part]
  }
  return at
}

/** A value as text: lists joined, records as "a · b" (one per line for lists of records). */
export function showValue(value: unknown): string {
  if (value === null || value === undefined || value === '') return '—'
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v !== 'object' || v === null)) return value.join(', ')
    return value.slice(0, 5).map((v) => showValue(v)).join('\n') + (value.length > 5 ? `\n… (+${value.length - 5})` : '')
  }
  if (typeof value === 'object') {
    return Object.values(value as Record<string, unknown>)
      .filter((v) => v !== null && v !== undefined && typeof v !== 'object')
      .map((v) => showValue(v))
      .join(' · ')
  }
  if (typeof value === 'string' && ISO_TIME.test(value)) return formatTime(value)
  return String(value)
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/

const MOBILE_IN_TEXT = /(?<![\d*])((?:\+?86)?1[3-9]\d)(\d{4})(\d{4})(?![\d*])/g

/**
 * Mainland mobile numbers inside free text masked like the server masks a phone (138****5678).
 * For data the server sent masked for this role: a system's free text (a parcel scan naming the
 * courier's number) can still carry one that no field mapping marked as personal.
 */
export function maskPhones(text: string): string {
  return text.replace(MOBILE_IN_TEXT, (_m, head: string, _mid: string, tail: string) => `${head}****${tail}`)
}

/** The records a panel shows (one record becomes a list of one). */
export function records(panel: Pick<PanelView, 'data' | 'many'>): Record<string, unknown>[] {
  const data = panel.data
  const rows = Array.isArray(data) ? data : data && typeof data === 'object' ? [data] : []
  return rows.filter((r): r is Record<string, unknown> => typeof r === 'object' && r !== null && !Array.isArray(r))
}
