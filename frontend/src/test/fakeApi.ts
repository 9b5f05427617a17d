// A tiny fake of the Relaydesk API for unit tests: routes "METHOD /path" to handlers and
// records every request (method, path, Authorization header, JSON body).
import { vi } from 'vitest'

export interface Seen {
  method: string
  path: string
  auth: string | null
  body: unknown
}

export type Handler = (req: Seen) => { status?: number; body?: unknown; headers?: Record<string, string> }

export function json(status: number, body: unknown, headers: Record<string, string> = {}) {
  return { status, body, headers }
}

export function apiError(status: number, code: string, message = code, details: unknown = null) {
  return json(status, { error: { code, message, details, request_id: 'req-test-1' } })
}

export function tokens(n: number, expiresIn = 600) {
  return json(200, {
    access_token: `access-${n}`,
    token_type: 'bearer',
    expires_in: expiresIn,
    refresh_token: `refresh-${n}`,
    session_expires_at: '2099-01-01T00:00:00Z',
  })
}

export function me(permissions: string[], label = 'agent@demo.relaydesk.local') {
  return json(200, {
    kind: 'user',
    id: '00000000-0000-7000-8000-000000000001',
    tenant_id: '00000000-0000-7000-8000-000000000002',
    tenant: 'demo',
    label,
    permissions,
    department_scoped: false,
  })
}

export function fakeApi(routes: Record<string, Handler>) {
  const seen: Seen[] = []
  const fetchMock = vi.fn(async (request: Request) => {
    const url = new URL(request.url)
    const text = request.method === 'GET' || request.method === 'DELETE' ? '' : await request.text()
    const req: Seen = {
      method: request.method,
      path: url.pathname,
      auth: request.headers.get('Authorization'),
      body: text ? JSON.parse(text) : null,
    }
    seen.push(req)
    const handler = routes[`${req.method} ${req.path}`]
    const out = handler ? handler(req) : apiError(404, 'not_found', `no fake for ${req.method} ${req.path}`)
    const status = out.status ?? 200
    return new Response(status === 204 ? null : JSON.stringify(out.body ?? null), {
      status,
      headers: { 'Content-Type': 'application/json', ...(out.headers ?? {}) },
    })
  })
  vi.stubGlobal('fetch', fetchMock)
  return { seen, fetchMock, calls: (method: string, path: string) => seen.filter((s) => s.method === method && s.path === path) }
}
