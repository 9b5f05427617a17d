// The typed API client: openapi-fetch over the types generated from the committed OpenAPI
// snapshot (src/api/openapi.json -> src/api/schema.d.ts, see docs/web.md).
import createClient from 'openapi-fetch'

import { ApiError, networkError, toApiError } from './errors'
import type { components, paths } from './schema'

export type Schemas = components['schemas']
export type Customer = Schemas['CustomerOut']
export type User = Schemas['UserOut']
export type Role = Schemas['RoleOut']
export type Permission = Schemas['PermissionOut']
export type Department = Schemas['DepartmentOut']
export type Team = Schemas['TeamOut']
export type ApiKey = Schemas['ApiKeyOut']
export type AuditEntry = Schemas['AuditEntryOut']
export type Me = Schemas['MeOut']
export type TokenOut = Schemas['TokenOut']
export type ConnectorInstance = Schemas['InstanceOut']
export type ConnectorAction = Schemas['ActionOut']
export type ActionOutcome = Schemas['ActionOutcome']
export type ConnectorCall = Schemas['CallOut']
export type InstanceHealth = Schemas['InstanceHealthOut']
export type EmbeddedApp = Schemas['AppOut']
export type AppContext = Schemas['ContextOut']

/** What the client needs from the signed-in session (the auth store provides it). */
export interface SessionHooks {
  token(): string | null
  /** Get a new access token; false when the session is over. */
  refresh(): Promise<boolean>
  /** A request of the user's went through: the session is in use. */
  touch(): void
  /** The server ended the session (expired, revoked, account deactivated). */
  ended(error: ApiError): void
}

let hooks: SessionHooks | null = null

export function bindSession(value: SessionHooks | null): void {
  hooks = value
}

export const client = createClient<paths>({
  // absolute, so that Request() also works outside a page (unit tests)
  baseUrl: globalThis.location?.origin ?? '',
  // looked up on every call, so tests can stub globalThis.fetch after import
  fetch: (request: Request) => globalThis.fetch(request),
})

client.use({
  onRequest({ request }) {
    const token = hooks?.token()
    if (token && !request.headers.has('Authorization')) {
      request.headers.set('Authorization', `Bearer ${token}`)
    }
    return request
  },
})

const SESSION_OVER = new Set([
  'session_expired',
  'session_revoked',
  'account_inactive',
  'invalid_refresh_token',
])

interface Outcome<T> {
  data?: T
  error?: unknown
  response: Response
}

/**
 * Run one openapi-fetch call and return its data, or throw an {@link ApiError}.
 * A 401 `invalid_token` (the access token expired) refreshes once and repeats the call.
 */
export async function call<T>(
  run: () => Promise<Outcome<T>>,
  opts: { retry?: boolean; anonymous?: boolean } = {},
): Promise<T> {
  let outcome: Outcome<T>
  try {
    outcome = await run()
  } catch (cause) {
    throw networkError(cause)
  }
  if (outcome.response.ok) {
    if (!opts.anonymous) hooks?.touch()
    return outcome.data as T
  }
  const error = toApiError(outcome.response, outcome.error)
  if (!opts.anonymous && error.status === 401 && hooks) {
    if (error.code === 'invalid_token' && opts.retry !== false) {
      if (await hooks.refresh()) return call(run, { ...opts, retry: false })
    } else if (SESSION_OVER.has(error.code)) {
      hooks.ended(error)
    }
  }
  throw error
}

/** Follow `next_cursor` pages; `fetchPage(cursor)` fetches one. */
export interface PageOf<T> {
  items: T[]
  next_cursor?: string | null
}

export async function allPages<T>(
  fetchPage: (cursor: string | undefined) => Promise<PageOf<T>>,
  maxPages = 20,
): Promise<T[]> {
  const out: T[] = []
  let cursor: string | undefined
  for (let i = 0; i < maxPages; i++) {
    const page = await fetchPage(cursor)
    out.push(...page.items)
    if (!page.next_cursor) break
    cursor = page.next_cursor
  }
  return out
}
