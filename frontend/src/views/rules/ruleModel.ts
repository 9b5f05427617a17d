// The rule builder's model: a condition tree with stable ids for the editor, converted to and
// from the API's definition ({all|any: [...]}, {not: {...}}, {path, op, value}); leaf values
// typed from text; the server's problem paths (body.conditions.all[2].op) mapped to nodes.

export type GroupKind = 'all' | 'any' | 'not'

export interface Leaf {
  id: number
  kind: 'leaf'
  path: string
  op: string
  /** what the user typed; see parseValue */
  value: string
  /** extra operator options (ignore_case, mode...) */
  options: Record<string, unknown>
}

export interface Group {
  id: number
  kind: GroupKind
  children: Node[]
}

export type Node = Leaf | Group

let nextId = 1
export const newId = (): number => nextId++

export function leaf(path = 'event.payload.', op = 'equals', value = ''): Leaf {
  return { id: newId(), kind: 'leaf', path, op, value, options: {} }
}

export function group(kind: GroupKind = 'all', children: Node[] = []): Group {
  return { id: newId(), kind, children }
}

/** Typed value from the text box: JSON when it parses (numbers, true, lists...), else text. */
export function parseValue(text: string): unknown {
  const trimmed = text.trim()
  if (trimmed === '') return ''
  try {
    return JSON.parse(trimmed)
  } catch {
    return text
  }
}

export function formatValue(value: unknown): string {
  if (value === undefined) return ''
  if (typeof value === 'string') {
    // a text that would parse as something else is shown quoted
    return parseValue(value) === value ? value : JSON.stringify(value)
  }
  return JSON.stringify(value)
}

const LEAF_KEYS = new Set(['path', 'op', 'value'])

export function toDefinition(node: Node): Record<string, unknown> {
  if (node.kind === 'leaf') {
    const out: Record<string, unknown> = { path: node.path.trim(), op: node.op }
    if (!(node.op === 'exists' && node.value.trim() === '')) out.value = parseValue(node.value)
    return { ...out, ...node.options }
  }
  if (node.kind === 'not') return { not: node.children[0] ? toDefinition(node.children[0]) : {} }
  return { [node.kind]: node.children.map(toDefinition) }
}

/** The editor's tree from a definition (null/absent: an empty "all" group). */
export function fromDefinition(value: unknown): Group {
  const node = nodeFrom(value)
  return node.kind === 'leaf' ? group('all', [node]) : node
}

function nodeFrom(value: unknown): Node {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return group('all')
  const v = value as Record<string, unknown>
  if (Array.isArray(v.all)) return group('all', v.all.map(nodeFrom))
  if (Array.isArray(v.any)) return group('any', v.any.map(nodeFrom))
  if ('not' in v) return group('not', [nodeFrom(v.not)])
  const options: Record<string, unknown> = {}
  for (const [k, x] of Object.entries(v)) if (!LEAF_KEYS.has(k)) options[k] = x
  return {
    id: newId(), kind: 'leaf', path: String(v.path ?? ''), op: String(v.op ?? 'equals'),
    value: 'value' in v ? formatValue(v.value) : '', options,
  }
}

/** Conditions for the API: an empty tree is "no conditions" (null). */
export function conditionsOf(root: Group): Record<string, unknown> | null {
  if (root.kind !== 'not' && root.children.length === 0) return null
  return toDefinition(root)
}

/** The definition path of every node: the root is `conditions`, children `conditions.all[0]`... */
export function nodePaths(root: Group, base = 'conditions'): Map<number, string> {
  const out = new Map<number, string>()
  const walk = (node: Node, path: string): void => {
    out.set(node.id, path)
    if (node.kind === 'leaf') return
    if (node.kind === 'not') {
      if (node.children[0]) walk(node.children[0], `${path}.not`)
      return
    }
    node.children.forEach((child, i) => walk(child, `${path}.${node.kind}[${i}]`))
  }
  walk(root, base)
  return out
}

export interface RuleProblem {
  path: string
  message: string
}

/** `["body", "conditions", "all", 2, "op"]` → `conditions.all[2].op`. */
export function locPath(loc: unknown[]): string {
  let out = ''
  for (const part of loc[0] === 'body' ? loc.slice(1) : loc) {
    if (typeof part === 'number') out += `[${part}]`
    else out += out ? `.${String(part)}` : String(part)
  }
  return out
}

export function problemsOf(details: unknown): RuleProblem[] {
  if (!Array.isArray(details)) return []
  return details
    .filter((d) => d && typeof d === 'object' && Array.isArray((d as { loc?: unknown }).loc))
    .map((d) => ({ path: locPath((d as { loc: unknown[] }).loc), message: String((d as { msg?: unknown }).msg ?? '') }))
}

/** The problems that belong to a node itself (its path, or a field of it: `.op`, `.value`). */
export function problemsAt(problems: RuleProblem[], path: string | undefined): RuleProblem[] {
  if (!path) return []
  return problems.filter((p) => p.path === path || /^\.(path|op|value|mode|ignore_case)$/.test(p.path.slice(path.length)) && p.path.startsWith(path))
}

/** Typed params from the builder's text fields, by the action's params JSON Schema. */
export function typedParam(text: string, schema: Record<string, unknown> | undefined): unknown {
  if (text.includes('{{')) return text // a template keeps its text (the server types it)
  const types = schemaTypes(schema)
  if (types.has('string') && !types.has('integer') && !types.has('number') && !types.has('boolean') && !types.has('object') && !types.has('array')) return text
  return parseValue(text)
}

export function schemaTypes(schema: Record<string, unknown> | undefined): Set<string> {
  const out = new Set<string>()
  if (!schema) return out
  const add = (s: unknown): void => {
    if (!s || typeof s !== 'object') return
    const t = (s as { type?: unknown }).type
    if (typeof t === 'string') out.add(t)
    if (Array.isArray(t)) t.forEach((x) => typeof x === 'string' && out.add(x))
    for (const key of ['anyOf', 'oneOf']) {
      const list = (s as Record<string, unknown>)[key]
      if (Array.isArray(list)) list.forEach(add)
    }
  }
  add(schema)
  return out
}

/** An action as the builder edits it: params as typed text (see typedParam). */
export interface ActionDraft {
  uid: number
  id: string
  type: string
  params: Record<string, string>
  on_error: string
}
