// Calls to endpoints that the committed OpenAPI snapshot does not list yet (routers that
// relaydesk/app.py mounts after this UI was written: reports, webhooks, customer panels, the
// web-chat snippet, the API channel's signing secret). Same client, same auth, same errors as
// the typed calls; the response types are declared next to each use and checked against the
// snapshot by contracts.test.ts as soon as the snapshot lists the path.
import { call, client } from '@/api/client'

type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE'

export interface LooseInit {
  path?: Record<string, string>
  query?: Record<string, string | number | boolean | undefined | null>
  body?: unknown
}

interface LooseClient {
  [method: string]: (
    path: string,
    init: { params: { path?: Record<string, string>; query?: Record<string, unknown> }; body?: unknown },
  ) => Promise<{ data?: unknown; error?: unknown; response: Response }>
}

const loose = client as unknown as LooseClient

function cleanQuery(query: LooseInit['query']): Record<string, unknown> | undefined {
  if (!query) return undefined
  return Object.fromEntries(Object.entries(query).filter(([, v]) => v !== undefined && v !== null && v !== ''))
}

/** One call through the shared client: the typed data, or an ApiError thrown. */
export function request<T>(method: Method, path: string, init: LooseInit = {}): Promise<T> {
  return call(
    () =>
      loose[method]!(path, {
        params: { path: init.path, query: cleanQuery(init.query) },
        ...(init.body === undefined ? {} : { body: init.body }),
      }) as Promise<{ data?: T; error?: unknown; response: Response }>,
  )
}
