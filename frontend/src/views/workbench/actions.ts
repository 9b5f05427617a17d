// Actions an agent can start from the customer panel: the connector actions that change data
// (write) and that the agent may run, and the multi-system actions (saga definitions). The
// form comes from the action's params schema (a saga's input is converted to one), filled in
// from the panel record it was started from and the customer where the names match.
import { allPages, call, client, type ConnectorAction, type ConnectorInstance, type Customer, type Schemas } from '@/api/client'
import type { FieldValue, SchemaField } from '@/views/connectors/schemaForm'

export type SagaDefinition = Schemas['DefinitionOut']

export interface InstanceActions {
  instance: ConnectorInstance
  actions: ConnectorAction[]
}

export type ActionTarget =
  | { kind: 'action'; instance: ConnectorInstance; action: ConnectorAction }
  | { kind: 'saga'; definition: SagaDefinition }

let cachedActions: Promise<InstanceActions[]> | null = null
let cachedSagas: Promise<SagaDefinition[]> | null = null

/** Enabled instances with the write actions the caller may run (once per sign-in). */
export function writeActions(): Promise<InstanceActions[]> {
  cachedActions ??= (async () => {
    const instances = await allPages((cursor) =>
      call(() => client.GET('/api/v1/connector-instances', { params: { query: { enabled: true, cursor, limit: 200 } } })),
    )
    const out = await Promise.all(
      instances.map(async (instance) => {
        const page = await call(() =>
          client.GET('/api/v1/connector-instances/{instance_id}/actions', {
            params: { path: { instance_id: instance.id } },
          }),
        ).catch(() => ({ items: [] as ConnectorAction[] }))
        return { instance, actions: page.items.filter((a) => a.effect === 'write' && a.allowed) }
      }),
    )
    return out.filter((x) => x.actions.length)
  })().catch((e: unknown) => {
    cachedActions = null
    throw e
  })
  return cachedActions
}

export function sagaDefinitions(): Promise<SagaDefinition[]> {
  cachedSagas ??= allPages((cursor) =>
    call(() => client.GET('/api/v1/sagas/definitions', { params: { query: { cursor, limit: 100 } } })),
  )
    .then((all) => all.filter((d) => d.enabled))
    .catch((e: unknown) => {
      cachedSagas = null
      throw e
    })
  return cachedSagas
}

export function resetActionCache(): void {
  cachedActions = null
  cachedSagas = null
}

type Json = Record<string, unknown>

/**
 * A saga definition's `input` ({name: {type, required, pattern, description, min_length,
 * max_length, enum, minimum, maximum}}) as the JSON Schema the form generator reads.
 */
export function sagaParamsSchema(definition: Pick<SagaDefinition, 'document'>): Json {
  const input = (definition.document?.input ?? {}) as Record<string, Json>
  const properties: Record<string, Json> = {}
  const required: string[] = []
  for (const [name, spec] of Object.entries(input)) {
    const s = typeof spec === 'object' && spec !== null ? spec : {}
    const prop: Json = { type: s.type ?? 'string' }
    for (const [from, to] of [
      ['description', 'description'],
      ['pattern', 'pattern'],
      ['enum', 'enum'],
      ['minimum', 'minimum'],
      ['maximum', 'maximum'],
      ['min_length', 'minLength'],
      ['max_length', 'maxLength'],
      ['default', 'default'],
      ['title', 'title'],
    ] as const) {
      if (s[from] !== undefined) prop[to] = s[from]
    }
    properties[name] = prop
    if (s.required === true) required.push(name)
  }
  return { type: 'object', properties, required }
}

const PHONE_NAMES = new Set(['mobile', 'phone', 'customer_mobile', 'customer_phone'])
const NAME_NAMES = new Set(['customer_name', 'name'])

/** A mainland number in national form (what the demo systems use): +8613812345678 → 13812345678. */
function national(phone: string): string {
  return phone.replace(/^\+?86/, '')
}

/**
 * Values to start the form with: from the panel record first (same field name), then from
 * the customer (phone only when it is shown in clear: a masked value is never sent back).
 */
export function prefill(
  fields: SchemaField[],
  record: Record<string, unknown> | null,
  customer: Customer | null | undefined,
): Record<string, FieldValue> {
  const out: Record<string, FieldValue> = {}
  for (const f of fields) {
    const fromRecord = record?.[f.name]
    if (typeof fromRecord === 'string' || typeof fromRecord === 'number' || typeof fromRecord === 'boolean') {
      if (typeof fromRecord !== 'string' || !fromRecord.includes('*')) out[f.name] = fromRecord
      continue
    }
    if (!customer) continue
    if (PHONE_NAMES.has(f.name) && customer.phone && !customer.masked && !customer.phone.includes('*')) {
      out[f.name] = national(customer.phone)
    } else if (NAME_NAMES.has(f.name) && customer.name) {
      out[f.name] = customer.name
    }
  }
  return out
}
