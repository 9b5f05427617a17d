// Canned responses (relaydesk/conversations/canned.py): the variables a text may use
// ({{ customer.name }}, JMESPath over customer, agent and conversation), the ones a text
// uses, and the PATCH body of an edit (only what changed).
import type { Schemas } from '@/api/client'

export type Canned = Schemas['CannedOut']
export type CannedIn = Schemas['CannedIn']
export type CannedPatch = Schemas['CannedPatch']

/** What a text can read, by root (i18n keys ops.canned.vars.<root>.<field>). */
export const VARIABLES: Record<'customer' | 'agent' | 'conversation', string[]> = {
  customer: ['name', 'company', 'phone', 'email', 'tags'],
  agent: ['name', 'email'],
  conversation: ['id', 'subject', 'channel', 'status'],
}
export const ROOTS = Object.keys(VARIABLES) as (keyof typeof VARIABLES)[]

export interface CannedForm {
  shortcut: string
  title: string
  body: string
}

export function emptyCanned(): CannedForm {
  return { shortcut: '', title: '', body: '' }
}

export function formOfCanned(c: Canned): CannedForm {
  return { shortcut: c.shortcut, title: c.title, body: c.body }
}

/** A shortcut as typed, without a leading slash. */
export function cleanShortcut(value: string): string {
  return value.trim().replace(/^\/+/, '')
}

export function createBody(f: CannedForm): CannedIn {
  return { shortcut: cleanShortcut(f.shortcut), title: f.title.trim(), body: f.body }
}

export function patchBody(f: CannedForm, c: Canned): CannedPatch {
  const out: CannedPatch = {}
  const next = createBody(f)
  if (next.shortcut !== c.shortcut) out.shortcut = next.shortcut
  if (next.title !== c.title) out.title = next.title
  if (next.body !== c.body) out.body = next.body
  return out
}

export interface UsedVariable {
  expression: string
  /** the first name it reads (customer, agent, conversation) */
  root: string
  known: boolean
}

/** The {{ ... }} expressions of a text, in order, once each; whether their root is known. */
export function variablesOf(text: string): UsedVariable[] {
  const seen = new Set<string>()
  const out: UsedVariable[] = []
  for (const m of text.matchAll(/\{\{\s*(.+?)\s*\}\}/g)) {
    const expression = m[1]!
    if (seen.has(expression)) continue
    seen.add(expression)
    const root = /^[A-Za-z_][A-Za-z0-9_]*/.exec(expression)?.[0] ?? ''
    out.push({ expression, root, known: (ROOTS as string[]).includes(root) })
  }
  return out
}

/** The text with `{{ root.field }}` put where the cursor is (or at the end). */
export function insertVariable(text: string, variable: string, at: number | null): { text: string; cursor: number } {
  const token = `{{ ${variable} }}`
  const pos = at === null || at < 0 || at > text.length ? text.length : at
  return { text: text.slice(0, pos) + token + text.slice(pos), cursor: pos + token.length }
}
