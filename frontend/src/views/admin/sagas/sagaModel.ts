// Saga definitions (relaydesk/sagas/definition.py): shown and edited as YAML text (the server
// parses it and names every problem by path and line), a starting template for a new one,
// and the problems of a 422 as a list.
import { stringify } from 'yaml'

import type { Schemas } from '@/api/client'

export type Definition = Schemas['DefinitionOut']
export type DefinitionIn = Schemas['DefinitionIn']

export const NEW_DEFINITION = `name: crm_note
title: CRM note for a customer
input:
  customer_mobile: { type: string, required: true, pattern: "^1[3-9][0-9]{9}$", pii: phone }
  note: { type: string, required: true, max_length: 500 }
steps:
  - name: contact
    instance: crm
    action: find_contact_by_mobile
    params:
      mobile: "{{ input.customer_mobile }}"
  - name: note
    instance: crm
    action: add_note
    when: steps.contact.output[0].id
    params:
      contact_id: "{{ steps.contact.output[0].id }}"
      content: "{{ input.note }}"
      author: Relaydesk
`

/**
 * The stored document as YAML text, keys in the order the document has them. YAML 1.1, as
 * the server (PyYAML) reads it: strings like on, yes or 2026-01-01 are quoted, so they come
 * back as strings, not booleans or dates.
 */
export function documentText(doc: Record<string, unknown>): string {
  return stringify(doc, { lineWidth: 0, version: '1.1' })
}

export function bodyOfDefinition(text: string, enabled: boolean): DefinitionIn {
  return { definition: text, enabled }
}

export interface Problem {
  /** steps.1.action (without body.definition) */
  path: string
  line: number | null
  message: string
}

/** The problems of a ValidationFailed answer, in order. */
export function problemsOf(details: unknown): Problem[] {
  if (!Array.isArray(details)) return []
  return details.flatMap((d) => {
    if (!d || typeof d !== 'object') return []
    const item = d as { loc?: unknown[]; msg?: string; line?: number }
    const loc = Array.isArray(item.loc) ? item.loc.map(String) : []
    const start = loc[0] === 'body' ? (loc[1] === 'definition' ? 2 : 1) : 0
    return [{ path: loc.slice(start).join('.'), line: typeof item.line === 'number' ? item.line : null, message: item.msg ?? '' }]
  })
}

/** How many steps a document has (for the list). */
export function stepCount(doc: Record<string, unknown>): number {
  return Array.isArray(doc.steps) ? doc.steps.length : 0
}
