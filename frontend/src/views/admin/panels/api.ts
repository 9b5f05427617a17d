// /api/v1/customer-panels (relaydesk/customer360/api.py, schemas.py PanelIn/PanelOut),
// declared here until the OpenAPI snapshot lists it (see views/supervisor/loose.ts).
import { request } from '@/views/supervisor/loose'

export interface PanelField {
  path: string
  label_zh?: string | null
  label_en?: string | null
}

export interface PanelBody {
  title_zh: string
  title_en: string
  instance: string
  action: string
  params: Record<string, unknown>
  fields: PanelField[]
  max_items: number
  timeout_seconds: number
  cache_ttl_seconds: number
  stale_seconds: number
  position: number
  enabled: boolean
  source_panel: string | null
}

export interface PanelIn extends PanelBody {
  key: string
}

export interface Panel extends PanelBody {
  id: string
  key: string
  instance_id: string
  created_at: string
  updated_at: string
}

export const panelsApi = {
  list: () => request<{ items: Panel[] }>('GET', '/api/v1/customer-panels'),
  create: (body: PanelIn) => request<Panel>('POST', '/api/v1/customer-panels', { body }),
  update: (key: string, body: Partial<PanelBody>) =>
    request<Panel>('PATCH', '/api/v1/customer-panels/{panel_key}', { path: { panel_key: key }, body }),
  remove: (key: string) => request<void>('DELETE', '/api/v1/customer-panels/{panel_key}', { path: { panel_key: key } }),
}

export interface ParamRow {
  name: string
  value: string
}

/** Template rows → the params object (a value that is valid JSON other than a string is kept typed). */
export function paramsOf(rows: ParamRow[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const row of rows) {
    const name = row.name.trim()
    if (!name) continue
    const raw = row.value.trim()
    let value: unknown = raw
    if (/^(-?\d+(\.\d+)?|true|false|null)$/.test(raw)) value = JSON.parse(raw)
    out[name] = value
  }
  return out
}

export function rowsOf(params: Record<string, unknown>): ParamRow[] {
  return Object.entries(params).map(([name, v]) => ({ name, value: typeof v === 'string' ? v : JSON.stringify(v) }))
}
