// Priority rules (relaydesk/routing/priority_rules.py): the editor's form, the request body
// (parameters typed by the action's JSON Schema, `{{ customer.* }}` templates kept as text),
// and the server's field paths (params.mobile) mapped onto the editor's rows.
import type { Schemas } from '@/api/client'

export type PriorityRule = Schemas['PriorityRuleOut']
export type PriorityRuleIn = Schemas['PriorityRuleIn']
export const PRIORITIES = ['low', 'normal', 'high', 'urgent'] as const
export type Priority = (typeof PRIORITIES)[number]

export interface ParamRow {
  name: string
  /** what the user typed: a literal or a template */
  value: string
  required: boolean
  /** JSON Schema type of the parameter ('' when unknown) */
  type: string
  description: string
}

export interface RuleForm {
  name: string
  instance: string
  action: string
  params: ParamRow[]
  condition: string
  priority: Priority | ''
  team_id: string
  skills: string[]
  timeout_seconds: number
  position: number
  enabled: boolean
}

export const CONDITION_EXAMPLE = "contains(['gold', 'diamond'], result[0].tier)"
export const TEMPLATE_EXAMPLE = '{{ customer.phone_national }}'

export function emptyRuleForm(position = 0): RuleForm {
  return {
    name: '', instance: '', action: '', params: [], condition: '', priority: 'high', team_id: '',
    skills: [], timeout_seconds: 2, position, enabled: true,
  }
}

/** A new rule goes after the others (positions in steps of 10 leave room in between). */
export function nextPosition(rules: PriorityRule[]): number {
  const max = rules.reduce((m, r) => Math.max(m, r.position), -10)
  return Math.min(10_000, max + 10)
}

export function sortRules(rules: PriorityRule[]): PriorityRule[] {
  return [...rules].sort((a, b) => a.position - b.position || a.id.localeCompare(b.id))
}

function textOf(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value)
}

export function formOfRule(rule: PriorityRule): RuleForm {
  return {
    name: rule.name, instance: rule.instance || rule.instance_id, action: rule.action,
    params: Object.entries(rule.params ?? {}).map(([name, value]) => ({
      name, value: textOf(value), required: false, type: '', description: '',
    })),
    condition: rule.condition, priority: (rule.priority ?? '') as Priority | '',
    team_id: rule.team_id ?? '', skills: [...rule.skills], timeout_seconds: rule.timeout_seconds,
    position: rule.position, enabled: rule.enabled,
  }
}

interface JsonSchema {
  type?: string | string[]
  description?: string
  properties?: Record<string, JsonSchema>
  required?: string[]
}

/**
 * The parameter rows for an action: one per parameter of its schema (required ones first),
 * keeping what was typed for a parameter of the same name; rows the schema does not know
 * stay (the server names them) unless empty.
 */
export function paramRows(schema: unknown, current: ParamRow[]): ParamRow[] {
  const s = (schema ?? {}) as JsonSchema
  const required = new Set(s.required ?? [])
  const typed = new Map(current.map((r) => [r.name, r.value]))
  const names = Object.keys(s.properties ?? {}).sort(
    (a, b) => Number(required.has(b)) - Number(required.has(a)),
  )
  const rows: ParamRow[] = names.map((name) => {
    const p = s.properties![name]!
    const type = Array.isArray(p.type) ? (p.type.find((x) => x !== 'null') ?? '') : (p.type ?? '')
    return { name, value: typed.get(name) ?? '', required: required.has(name), type, description: p.description ?? '' }
  })
  const extra = current.filter((r) => !names.includes(r.name) && r.value.trim() !== '')
  return [...rows, ...extra]
}

/** A parameter's value: templates and string parameters as typed; other literals as JSON. */
export function typedValue(text: string, type: string): unknown {
  if (text.includes('{{') || type === 'string') return text
  const trimmed = text.trim()
  try {
    return JSON.parse(trimmed)
  } catch {
    return text
  }
}

export function bodyOfRule(form: RuleForm): PriorityRuleIn {
  const params: Record<string, unknown> = {}
  for (const row of form.params) {
    if (!row.name.trim() || row.value.trim() === '') continue
    params[row.name.trim()] = typedValue(row.value, row.type)
  }
  return {
    name: form.name.trim(), instance: form.instance.trim(), action: form.action.trim(), params,
    condition: form.condition.trim(), priority: form.priority || null, team_id: form.team_id || null,
    skills: [...new Set(form.skills.map((s) => s.trim().toLowerCase()).filter(Boolean))],
    timeout_seconds: form.timeout_seconds, position: form.position, enabled: form.enabled,
  }
}

/** The same rule with `enabled` switched, as a PUT body (PUT replaces the whole rule). */
export function toggledBody(rule: PriorityRule, enabled: boolean): PriorityRuleIn {
  return { ...bodyOfRule(formOfRule(rule)), enabled }
}

/** Field errors of the form: the error of params.<name> goes to that row, the rest as is. */
export function paramError(fields: Record<string, string>, name: string): string | undefined {
  return fields[`params.${name}`]
}

/** Errors of parameters that have no row (the server knows a name the editor does not show). */
export function strayParamErrors(fields: Record<string, string>, rows: ParamRow[]): string[] {
  const names = new Set(rows.map((r) => r.name))
  return Object.entries(fields)
    .filter(([k]) => k.startsWith('params') && !names.has(k.slice('params.'.length)))
    .map(([k, v]) => `${k}: ${v}`)
}
