// Rule versions: what changed between two definitions, newest first.
import { describe, expect, it } from 'vitest'

import { diffDefinitions, shortValue, withChanges } from './versionDiff'

const v1 = { trigger: { type: 'event', event: 'order.shipped' }, conditions: { all: [{ path: 'a', op: 'equals', value: 1 }] }, actions: [{ id: 's1', type: 'notify' }] }
const v2 = { trigger: { type: 'event', event: 'order.*' }, conditions: { all: [{ path: 'a', op: 'equals', value: 2 }] }, actions: [{ id: 's1', type: 'notify' }, { id: 's2', type: 'tag' }], on_error: 'continue' }

describe('rule version diff', () => {
  it('names every changed, added and removed path', () => {
    expect(diffDefinitions(v1, v2)).toEqual([
      { path: 'trigger.event', kind: 'changed', before: 'order.shipped', after: 'order.*' },
      { path: 'conditions.all.0.value', kind: 'changed', before: 1, after: 2 },
      { path: 'actions.1', kind: 'added', after: { id: 's2', type: 'tag' } },
      { path: 'on_error', kind: 'added', after: 'continue' },
    ])
    expect(diffDefinitions(v2, v1).map((c) => [c.path, c.kind])).toEqual([
      ['trigger.event', 'changed'], ['conditions.all.0.value', 'changed'], ['actions.1', 'removed'], ['on_error', 'removed'],
    ])
    expect(diffDefinitions(v1, v1)).toEqual([])
    expect(diffDefinitions(null, v1)).toEqual([])
  })

  it('pairs each version with the one before it, newest first', () => {
    const rows = withChanges([{ number: 1, definition: v1 }, { number: 3, definition: v2 }, { number: 2, definition: v1 }])
    expect(rows.map((r) => [r.number, r.first, r.changes.length])).toEqual([[3, false, 4], [2, false, 0], [1, true, 0]])
  })

  it('shortens long values', () => {
    expect(shortValue('x'.repeat(100), 10)).toBe('"xxxxxxxx…')
    expect(shortValue({ a: 1 })).toBe('{"a":1}')
  })
})
