// A conversation's routing decision (GET /api/v1/routing/conversations/{id}/decision): the
// priority rule that matched, why, the team and skills it set, or why the connected systems
// could not say (then the conversation was routed normally).
import { call, client, type Schemas } from '@/api/client'
import { isApiError } from '@/api/errors'

export type RoutingDecision = Schemas['RoutingDecisionOut']
export type RoutingCheck = Schemas['RoutingCheckOut']

/** The decision, or null when no rule was evaluated for the conversation (404). */
export async function fetchDecision(conversationId: string): Promise<RoutingDecision | null> {
  try {
    return await call(() =>
      client.GET('/api/v1/routing/conversations/{conversation_id}/decision', {
        params: { path: { conversation_id: conversationId } },
      }),
    )
  } catch (e) {
    if (isApiError(e) && e.status === 404) return null
    throw e
  }
}

/** The name of the rule that matched (the check that says so), if any. */
export function matchedRule(decision: RoutingDecision): string | null {
  if (decision.outcome !== 'matched') return null
  const check = decision.checks.find((c) => c.result === 'matched' && (!decision.rule_id || c.rule_id === decision.rule_id))
  return check?.rule ?? null
}

export const PRIORITY_TAG: Record<string, 'danger' | 'warning' | 'info' | 'primary'> = {
  urgent: 'danger', high: 'warning', normal: 'primary', low: 'info',
}
