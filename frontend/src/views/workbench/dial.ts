// Click-to-call (POST /api/v1/conversations/{id}/call): the agent's phone rings, then the
// customer's. What the agent is told: the number being called, or why not — the call
// centre's classified refusal (ok false: error.kind config / transient / system) or the
// API's error (no voice inbox, no number, no seat, not set up, not allowed).
import { call, client, type Customer, type Schemas } from '@/api/client'
import { isApiError } from '@/api/errors'

export type DialOut = Schemas['DialOut']

/** The permissions the endpoint checks (the connector action's is its default name). */
export const DIAL_PERMISSIONS = ['conversations.write', 'connector_action:callcenter.dial']

export function placeCall(conversationId: string): Promise<DialOut> {
  return call(() =>
    client.POST('/api/v1/conversations/{conversation_id}/call', {
      params: { path: { conversation_id: conversationId } },
      body: {},
    }),
  )
}

/** Whether the customer has a number to call (unknown customer: let the server say). */
export function hasPhone(customer: Customer | undefined): boolean {
  if (!customer) return true
  return !!customer.phone || (customer.identities ?? []).some((i) => i.kind === 'phone')
}

export interface DialResult {
  ok: boolean
  text: string
  /** the classification shown as a tag (config / transient / system), if any */
  kind: string | null
}

type T = (key: string, values?: Record<string, unknown>) => string
const KNOWN_CODES = new Set(['no_number', 'no_voice_inbox', 'no_seat', 'dial_not_configured', 'no_agent'])

export function describeDial(outcome: DialOut, t: T): DialResult {
  if (outcome.ok) return { ok: true, text: t('workbench.dial.ok', { number: outcome.customer_number, seat: outcome.seat }), kind: null }
  const error = outcome.error
  const kind = error?.kind && ['config', 'transient', 'system'].includes(error.kind) ? error.kind : null
  const message = error ? `${error.message} (${error.code})` : '?'
  return { ok: false, text: t('workbench.dial.refused', { message }), kind }
}

export function describeDialError(error: unknown, t: T, fallback: (e: unknown) => string): DialResult {
  if (isApiError(error) && KNOWN_CODES.has(error.code)) return { ok: false, text: t(`workbench.dial.codes.${error.code}`), kind: null }
  if (isApiError(error) && error.status === 403) return { ok: false, text: t('workbench.dial.codes.forbidden'), kind: null }
  return { ok: false, text: t('workbench.dial.failed', { message: fallback(error) }), kind: null }
}
