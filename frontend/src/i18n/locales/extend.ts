// Message catalogues of other parts of the UI (e.g. supervisor.en.ts / supervisor.zh-CN.ts,
// found with import.meta.glob, so a missing file is simply no module) merged into a locale.
type Tree = Record<string, unknown>

function isTree(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function merge(base: Tree, extra: Tree): Tree {
  const out: Tree = { ...base }
  for (const [key, value] of Object.entries(extra)) {
    const current = out[key]
    out[key] = isTree(current) && isTree(value) ? merge(current, value) : value
  }
  return out
}

/** `base` with every module's default export merged in (deeply; the module wins). */
export function extend<T extends object>(base: T, modules: Record<string, unknown>): T {
  let out = base as unknown as Tree
  for (const mod of Object.values(modules)) {
    const extra = isTree(mod) ? mod.default : undefined
    if (isTree(extra)) out = merge(out, extra)
  }
  return out as unknown as T
}
