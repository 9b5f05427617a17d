// What the supervisor screens read and change. Queues, conversations and assignment are typed
// from the OpenAPI snapshot; the report is declared here (see loose.ts).
import { call, client, type Schemas } from '@/api/client'

import { request } from './loose'

export type Queue = Schemas['QueueOut']
export type AgentLoad = Schemas['AgentLoadOut']
export type Conversation = Schemas['ConversationOut']

export interface CountItem {
  key: string
  count: number
}

export interface DurationStats {
  count: number
  p50_seconds: number | null
  p90_seconds: number | null
  avg_seconds: number | null
}

export interface DayItem {
  date: string
  created: number
  resolved: number
}

/** GET /api/v1/reports/conversations (relaydesk/reports/schemas.py ConversationReportOut) */
export interface ConversationReport {
  from: string
  to: string
  tz: string
  team_id: string | null
  total: number
  by_channel: CountItem[]
  by_status: CountItem[]
  first_response: DurationStats
  resolution: DurationStats
  per_day: DayItem[]
}

export interface ReportQuery {
  from?: string
  to?: string
  team_id?: string
  tz?: string
}

export function fetchReport(query: ReportQuery): Promise<ConversationReport> {
  return request<ConversationReport>('GET', '/api/v1/reports/conversations', { query: { ...query } })
}

export function fetchQueues(): Promise<Queue[]> {
  return call(() => client.GET('/api/v1/routing/queues'))
}

export interface ConversationFilter {
  team_id?: string
  assignee?: string
  status?: 'open' | 'pending' | 'snoozed' | 'resolved'
}

export async function fetchConversations(filter: ConversationFilter, limit = 50): Promise<Conversation[]> {
  const page = await call(() =>
    client.GET('/api/v1/conversations', { params: { query: { ...filter, limit } } }),
  )
  return page.items
}

export function assignConversation(id: string, body: Schemas['AssignIn']): Promise<Conversation> {
  return call(() =>
    client.POST('/api/v1/conversations/{conversation_id}/assign', {
      params: { path: { conversation_id: id } },
      body,
    }),
  )
}
