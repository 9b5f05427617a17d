// Where a spec problem belongs in the editor's text. The server reports a 1-based line (and a
// field path such as `actions.get_order.request.path`); a problem without a line (an invalid
// document, a spec sent as JSON) is placed by walking its path through the YAML keys.

export interface SpecProblem {
  file?: string
  line?: number | null
  path: string
  message: string
}

export interface PlacedProblem {
  /** 1-based line in the editor's text */
  line: number
  /** character offsets of that line (what the editor marks) */
  from: number
  to: number
  path: string
  message: string
}

interface Line {
  number: number
  from: number
  to: number
  text: string
}

function splitLines(text: string): Line[] {
  const out: Line[] = []
  let from = 0
  const parts = text.split('\n')
  parts.forEach((part, i) => {
    out.push({ number: i + 1, from, to: from + part.length, text: part })
    from += part.length + 1
  })
  return out
}

const KEY = /^(\s*)(?:-\s+)?["']?([^"':#\s][^"':#]*?)["']?\s*:(?:\s|$)/

/** Split `actions.get_order.params[0].name` into keys, dropping list indexes. */
export function pathKeys(path: string): string[] {
  return path
    .replace(/\[\d+\]/g, '')
    .split('.')
    .map((k) => k.trim())
    .filter(Boolean)
}

/**
 * The 1-based line of the deepest key of `path` found in the text: each key is looked for
 * below the previous one, more indented than it. 0 when not even the first key is found.
 */
export function lineOfPath(text: string, path: string): number {
  const lines = splitLines(text)
  const keys = pathKeys(path)
  let start = 0
  let indent = -1
  let found = 0
  for (const key of keys) {
    let hit = -1
    for (let i = start; i < lines.length; i++) {
      const m = KEY.exec(lines[i].text)
      if (!m) continue
      const depth = m[1].length
      if (i > start && depth <= indent && found) break // left the parent's block
      if (depth > indent && m[2] === key) {
        hit = i
        indent = depth
        break
      }
    }
    if (hit < 0) break
    found = hit + 1
    start = hit + 1
  }
  return found
}

/** Place one problem on a line of the text (clamped to the document). */
export function placeProblem(text: string, problem: SpecProblem): PlacedProblem {
  const lines = splitLines(text)
  let line = problem.line ?? 0
  if (!line || line < 1) line = problem.path ? lineOfPath(text, problem.path) : 0
  if (!line) line = 1
  line = Math.min(line, lines.length)
  let target = lines[line - 1]
  // an error reported on a blank line (e.g. end of document) is shown on the last text line
  while (target.text.trim() === '' && target.number > 1 && problem.line == null) {
    target = lines[target.number - 2]
  }
  const indent = target.text.length - target.text.trimStart().length
  const from = target.from + indent
  const to = Math.max(from, target.to)
  return { line: target.number, from, to, path: problem.path, message: problem.message }
}

export function placeProblems(text: string, problems: SpecProblem[]): PlacedProblem[] {
  return problems.map((p) => placeProblem(text, p)).sort((a, b) => a.line - b.line)
}

/** Problems from an API error of a save (422 `spec_invalid`: details are the problems). */
export function problemsOfError(details: unknown): SpecProblem[] {
  if (!Array.isArray(details)) return []
  return details.filter(
    (d): d is SpecProblem =>
      !!d && typeof d === 'object' && typeof (d as SpecProblem).message === 'string' && 'path' in d,
  )
}

/** The action names under the top-level `actions:` key (for the preview and test pickers). */
export function actionNames(text: string): string[] {
  const lines = text.split('\n')
  const out: string[] = []
  let inActions = false
  let childIndent = -1
  for (const raw of lines) {
    if (!raw.trim() || raw.trimStart().startsWith('#')) continue
    const m = KEY.exec(raw)
    const depth = raw.length - raw.trimStart().length
    if (depth === 0) {
      inActions = !!m && m[2] === 'actions'
      childIndent = -1
      continue
    }
    if (!inActions || !m) continue
    if (childIndent < 0) childIndent = depth
    if (depth === childIndent) out.push(m[2])
  }
  return out
}
