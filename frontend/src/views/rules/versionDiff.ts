// What changed between two versions of a rule's definition: every leaf path that was added,
// removed or changed (lists compared by position), e.g. conditions.all.0.value "a" → "b".

export interface Change {
  path: string
  kind: 'added' | 'removed' | 'changed'
  before?: unknown
  after?: unknown
}

type Json = unknown

function isObject(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function walk(before: Json, after: Json, path: string, out: Change[]): void {
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])]
    for (const k of keys) {
      const p = path ? `${path}.${k}` : k
      if (!(k in after)) out.push({ path: p, kind: 'removed', before: before[k] })
      else if (!(k in before)) out.push({ path: p, kind: 'added', after: after[k] })
      else walk(before[k], after[k], p, out)
    }
    return
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    const n = Math.max(before.length, after.length)
    for (let i = 0; i < n; i++) {
      const p = path ? `${path}.${i}` : String(i)
      if (i >= after.length) out.push({ path: p, kind: 'removed', before: before[i] })
      else if (i >= before.length) out.push({ path: p, kind: 'added', after: after[i] })
      else walk(before[i], after[i], p, out)
    }
    return
  }
  if (JSON.stringify(before) !== JSON.stringify(after)) out.push({ path, kind: 'changed', before, after })
}

/** The changes from `before` to `after` (null `before`: the first version, no changes). */
export function diffDefinitions(before: Json | null, after: Json): Change[] {
  if (before === null) return []
  const out: Change[] = []
  walk(before, after, '', out)
  return out
}

/** A value in a change line: short JSON, strings quoted, long ones cut. */
export function shortValue(value: unknown, max = 80): string {
  const text = value === undefined ? '' : JSON.stringify(value)
  return text.length > max ? `${text.slice(0, max - 1)}…` : text
}

export interface VersionLike {
  number: number
  definition: Record<string, unknown>
}

/** Versions newest first, each with its changes against the one before it. */
export function withChanges<V extends VersionLike>(versions: V[]): (V & { changes: Change[]; first: boolean })[] {
  const sorted = [...versions].sort((a, b) => b.number - a.number)
  return sorted.map((v, i) => {
    const previous = sorted[i + 1] ?? null
    return { ...v, changes: diffDefinitions(previous ? previous.definition : null, v.definition), first: previous === null }
  })
}
