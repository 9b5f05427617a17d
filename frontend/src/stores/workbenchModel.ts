// The workbench's types and pure rules: what a conversation and a message are, the list's
// filters and the API query they make, who belongs in the list, its order. Re-exported by
// stores/workbench.ts (import them from there).
import type { Schemas } from '@/api/client'

export type Conversation = Schemas['ConversationOut']
export type Message = Schemas['MessageOut']
export type Canned = Schemas['CannedOut']
export type Inbox = Schemas['InboxOut']
export type ConversationPatch = Schemas['ConversationPatch']
export type AssignBody = Schemas['AssignIn']

export type View = 'mine' | 'unassigned' | 'team' | 'all'
export type Status = 'open' | 'pending' | 'snoozed' | 'resolved'
export type Channel = 'web_chat' | 'email' | 'sms' | 'voice' | 'api'
export type Priority = 'low' | 'normal' | 'high' | 'urgent'

export const VIEWS: View[] = ['mine', 'unassigned', 'team', 'all']
export const STATUSES: Status[] = ['open', 'pending', 'snoozed', 'resolved']
export const CHANNELS: Channel[] = ['web_chat', 'email', 'sms', 'voice', 'api']
export const PRIORITIES: Priority[] = ['low', 'normal', 'high', 'urgent']

export interface Filters {
  view: View
  teamId: string | null
  status: Status | ''
  channel: Channel | ''
  priority: Priority | ''
}

export const DEFAULT_FILTERS: Filters = { view: 'mine', teamId: null, status: 'open', channel: '', priority: '' }
export const PAGE_SIZE = 30
export const MESSAGE_PAGE = 50
/** a typing signal without its "stopped" counterpart fades after this long */
export const TYPING_TTL_MS = 6_000

/** The list query the API understands for these filters. */
export function listQuery(f: Filters): Record<string, string> {
  const q: Record<string, string> = {}
  if (f.view === 'mine') q.assignee = 'me'
  else if (f.view === 'unassigned') q.assignee = 'unassigned'
  else if (f.view === 'team' && f.teamId) q.team_id = f.teamId
  if (f.status) q.status = f.status
  if (f.channel) q.channel = f.channel
  if (f.priority) q.priority = f.priority
  return q
}

/** Whether a conversation belongs in the list under these filters. */
export function matches(c: Conversation, f: Filters, myId: string | null): boolean {
  if (f.view === 'mine' && c.assignee_id !== myId) return false
  if (f.view === 'unassigned' && c.assignee_id !== null) return false
  if (f.view === 'team' && f.teamId && c.team_id !== f.teamId) return false
  if (f.status && c.status !== f.status) return false
  if (f.channel && c.channel !== f.channel) return false
  if (f.priority && c.priority !== f.priority) return false
  return true
}

/** Latest activity first; ties by id (uuid7, time-ordered). */
export function byActivity(a: Conversation, b: Conversation): number {
  if (a.last_message_at !== b.last_message_at) return a.last_message_at < b.last_message_at ? 1 : -1
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0
}
