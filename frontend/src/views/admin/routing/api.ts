// /api/v1/routing (relaydesk/routing/api.py, rules_api.py): priority rules (teams.manage),
// team routing settings (teams.manage), queues (conversations.read + users.read).
import { allPages, call, client, type Schemas } from '@/api/client'

import type { PriorityRule, PriorityRuleIn } from './priorityModel'

const path = (id: string) => ({ params: { path: { priority_rule_id: id } } })

export const routingApi = {
  rules: () => call(() => client.GET('/api/v1/routing/priority-rules')),
  create: (body: PriorityRuleIn) => call(() => client.POST('/api/v1/routing/priority-rules', { body })),
  replace: (id: string, body: PriorityRuleIn): Promise<PriorityRule> =>
    call(() => client.PUT('/api/v1/routing/priority-rules/{priority_rule_id}', { ...path(id), body })),
  remove: (id: string) => call(() => client.DELETE('/api/v1/routing/priority-rules/{priority_rule_id}', path(id))),
  queues: () => call(() => client.GET('/api/v1/routing/queues')),
  setTeam: (teamId: string, body: Schemas['TeamRoutingIn']) =>
    call(() => client.PUT('/api/v1/routing/teams/{team_id}', { params: { path: { team_id: teamId } }, body })),
  instances: () =>
    allPages((cursor) => call(() => client.GET('/api/v1/connector-instances', { params: { query: { cursor, limit: 100 } } }))),
  actions: (instanceId: string) =>
    call(() => client.GET('/api/v1/connector-instances/{instance_id}/actions', { params: { path: { instance_id: instanceId } } })),
}
