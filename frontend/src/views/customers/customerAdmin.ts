// Pure helpers of the customer admin screens: typed attribute values, identity kinds and
// the merge summary. No Vue here, so they are unit-tested directly (customerAdmin.spec.ts).
import type { Schemas } from '@/api/client'

export type AttributeDefinition = Schemas['AttributeDefinitionOut']
export type AttributeType = AttributeDefinition['type']
export type Identity = Schemas['IdentityOut']
export type IdentityKind = Identity['kind']
export type Suggestion = Schemas['SuggestionOut']
export type AttributeValue = string | number | boolean | null

export const ATTRIBUTE_TYPES: AttributeType[] = ['string', 'number', 'boolean', 'date', 'enum']
export const IDENTITY_KINDS: IdentityKind[] = ['phone', 'email', 'openid', 'unionid', 'app_user', 'external', 'visitor']
/** kinds whose namespace must be given (the app id, the connector instance) */
export const NAMESPACE_REQUIRED: ReadonlySet<IdentityKind> = new Set(['openid', 'app_user', 'external'])
/** kinds that have no namespace */
export const NO_NAMESPACE: ReadonlySet<IdentityKind> = new Set(['phone', 'email', 'visitor'])

/** What the form holds for a stored value: the input of its type, or null for "no value". */
export function toInput(def: AttributeDefinition, value: unknown): AttributeValue {
  if (value === null || value === undefined || value === '') return null
  switch (def.type) {
    case 'number': {
      const n = typeof value === 'number' ? value : Number(value)
      return Number.isFinite(n) ? n : null
    }
    case 'boolean':
      return typeof value === 'boolean' ? value : String(value).toLowerCase() === 'true'
    default:
      return String(value)
  }
}

/** What is sent for a form value: trimmed strings, null for empty (the server checks types). */
export function fromInput(def: AttributeDefinition, value: AttributeValue): AttributeValue {
  if (value === null || value === undefined) return null
  if (def.type === 'string' || def.type === 'date' || def.type === 'enum') {
    const text = String(value).trim()
    return text === '' ? null : text
  }
  return value
}

/**
 * The attributes map to send (the API replaces the whole map): free-form keys kept as they
 * were, defined keys from the form; null for an emptied optional key drops it.
 */
export function mergeAttributes(
  current: Record<string, unknown>,
  defs: AttributeDefinition[],
  form: Record<string, AttributeValue>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...current }
  for (const def of defs) {
    const value = fromInput(def, form[def.key] ?? null)
    if (value === null) delete out[def.key]
    else out[def.key] = value
  }
  return out
}

/** How a stored attribute value reads in the drawer, with the definition's type. */
export function displayValue(def: AttributeDefinition | undefined, value: unknown, yesNo: [string, string]): string {
  if (value === null || value === undefined || value === '') return '—'
  if (def?.type === 'boolean' && typeof value === 'boolean') return value ? yesNo[0] : yesNo[1]
  return typeof value === 'string' ? value : JSON.stringify(value)
}

/** The label of a definition in the current locale. */
export function attributeLabel(def: AttributeDefinition, locale: string): string {
  return locale.startsWith('zh') ? def.label_zh : def.label_en
}

/** The identity body as sent: no namespace for the kinds that have none, trimmed values. */
export function identityBody(kind: IdentityKind, value: string, namespace: string, verified: boolean): Schemas['IdentityIn'] {
  const body: Schemas['IdentityIn'] = { kind, value: value.trim(), verified }
  const ns = namespace.trim()
  if (!NO_NAMESPACE.has(kind) && ns) body.namespace = ns
  return body
}

export interface MergeSummary {
  /** the customer that stays */
  survivor: Schemas['CustomerOut']
  /** the customer merged into it (answers 404 customer_merged afterwards) */
  merged: Schemas['CustomerOut']
  /** identities that move to the survivor */
  identities: Identity[]
  /** tags the survivor gains */
  newTags: string[]
  /** profile fields the survivor lacks and the merged customer has */
  filled: string[]
  /** attributes the survivor lacks and takes */
  newAttributes: string[]
  /** attributes both have with different values: the survivor's value stays */
  conflicts: string[]
}

const PROFILE = ['phone', 'email', 'id_number', 'bank_card', 'address', 'company'] as const

/**
 * What merging a suggestion does: the existing profile (candidate) survives and the newer
 * one (customer) is merged into it, taking its identities, tags, missing fields and missing
 * attributes along (the server's merge policy, relaydesk/customers/merge.py).
 */
export function mergeSummary(s: Suggestion): MergeSummary {
  const survivor = s.candidate
  const merged = s.customer
  const held = new Set((survivor.identities ?? []).map((i) => `${i.kind}|${i.namespace}|${i.value}`))
  return {
    survivor,
    merged,
    identities: (merged.identities ?? []).filter((i) => !held.has(`${i.kind}|${i.namespace}|${i.value}`)),
    newTags: merged.tags.filter((tag) => !survivor.tags.includes(tag)),
    filled: PROFILE.filter((f) => !survivor[f] && !!merged[f]),
    newAttributes: Object.keys(merged.attributes).filter((k) => survivor.attributes[k] == null && merged.attributes[k] != null),
    conflicts: Object.keys(merged.attributes).filter(
      (k) => survivor.attributes[k] != null && JSON.stringify(survivor.attributes[k]) !== JSON.stringify(merged.attributes[k]),
    ),
  }
}
