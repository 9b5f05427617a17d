// A form generated from an action's params JSON Schema: the fields it describes (string,
// integer, number, boolean, enum; `anyOf [X, null]` is an optional X), their initial values,
// validation (required, integer/number, bounds, pattern) and the params object to send.

export type FieldType = 'string' | 'integer' | 'number' | 'boolean' | 'enum'
export type FieldValue = string | number | boolean | null

export interface SchemaField {
  name: string
  type: FieldType
  title: string
  description: string | null
  required: boolean
  /** enum values, in the schema's order */
  options: (string | number | boolean)[]
  /** the scalar type behind an enum */
  valueType: 'string' | 'integer' | 'number' | 'boolean'
  default: FieldValue
  minimum: number | null
  maximum: number | null
  pattern: string | null
}

type Json = Record<string, unknown>

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** `anyOf`/`oneOf` of one type and null is that type; the first non-null branch wins. */
function unwrap(schema: Json): Json {
  const variants = (schema.anyOf ?? schema.oneOf) as unknown
  if (!Array.isArray(variants)) return schema
  const branch = variants.find((v) => isObject(v) && v.type !== 'null')
  return isObject(branch) ? { ...branch, ...withoutVariants(schema) } : schema
}

function withoutVariants(schema: Json): Json {
  const { anyOf: _a, oneOf: _o, ...rest } = schema
  void _a
  void _o
  return rest
}

function scalar(type: unknown): SchemaField['valueType'] {
  const t = Array.isArray(type) ? type.find((x) => x !== 'null') : type
  return t === 'integer' || t === 'number' || t === 'boolean' ? t : 'string'
}

function humanise(name: string): string {
  const text = name.replace(/_/g, ' ')
  return text.charAt(0).toUpperCase() + text.slice(1)
}

/** The fields of an object schema, in the order of its properties. */
export function schemaFields(schema: unknown): SchemaField[] {
  if (!isObject(schema) || !isObject(schema.properties)) return []
  const required = new Set(Array.isArray(schema.required) ? (schema.required as string[]) : [])
  return Object.entries(schema.properties).map(([name, raw]) => {
    const outer = isObject(raw) ? raw : {}
    const prop = unwrap(outer)
    const valueType = scalar(prop.type)
    const options = Array.isArray(prop.enum) ? (prop.enum as (string | number | boolean)[]) : []
    const def = outer.default ?? prop.default
    return {
      name,
      type: options.length ? 'enum' : valueType,
      title: typeof prop.title === 'string' ? prop.title : humanise(name),
      description: typeof prop.description === 'string' ? prop.description : null,
      required: required.has(name),
      options,
      valueType,
      default: def === undefined ? null : (def as FieldValue),
      minimum: typeof prop.minimum === 'number' ? prop.minimum : null,
      maximum: typeof prop.maximum === 'number' ? prop.maximum : null,
      pattern: typeof prop.pattern === 'string' ? prop.pattern : null,
    }
  })
}

/** Initial values: the schema's defaults; booleans start false, everything else empty. */
export function initialValues(fields: SchemaField[]): Record<string, FieldValue> {
  const out: Record<string, FieldValue> = {}
  for (const f of fields) out[f.name] = f.default ?? (f.type === 'boolean' ? false : null)
  return out
}

function empty(value: FieldValue | undefined): boolean {
  return value === null || value === undefined || (typeof value === 'string' && value.trim() === '')
}

export type Problem =
  | { key: 'required' }
  | { key: 'integer' }
  | { key: 'number' }
  | { key: 'minimum'; limit: number }
  | { key: 'maximum'; limit: number }
  | { key: 'pattern'; pattern: string }

/** What is wrong with one value, or null. */
export function checkField(field: SchemaField, value: FieldValue | undefined): Problem | null {
  if (field.type === 'boolean') return null
  if (empty(value)) return field.required ? { key: 'required' } : null
  if (field.type === 'integer' || field.type === 'number') {
    const n = typeof value === 'number' ? value : Number(String(value).trim())
    if (!Number.isFinite(n)) return { key: 'number' }
    if (field.type === 'integer' && !Number.isInteger(n)) return { key: 'integer' }
    if (field.minimum !== null && n < field.minimum) return { key: 'minimum', limit: field.minimum }
    if (field.maximum !== null && n > field.maximum) return { key: 'maximum', limit: field.maximum }
  }
  if (field.type === 'string' && field.pattern && !new RegExp(field.pattern).test(String(value).trim())) {
    return { key: 'pattern', pattern: field.pattern }
  }
  return null
}

/** Every field's problem, by field name (empty: the form is valid). */
export function validate(
  fields: SchemaField[],
  values: Record<string, FieldValue>,
): Record<string, Problem> {
  const out: Record<string, Problem> = {}
  for (const f of fields) {
    const problem = checkField(f, values[f.name])
    if (problem) out[f.name] = problem
  }
  return out
}

/** The params object to send: typed values, empty optional fields left out. */
export function buildParams(
  fields: SchemaField[],
  values: Record<string, FieldValue>,
): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {}
  for (const f of fields) {
    const value = values[f.name]
    if (value === null || value === undefined) continue
    if (f.type === 'boolean') {
      out[f.name] = Boolean(value)
    } else if (empty(value)) {
      continue
    } else if (f.type === 'integer' || f.type === 'number' || f.valueType === 'integer' || f.valueType === 'number') {
      out[f.name] = typeof value === 'number' ? value : Number(String(value).trim())
    } else if (typeof value === 'string') {
      out[f.name] = value.trim()
    } else {
      out[f.name] = value
    }
  }
  return out
}
