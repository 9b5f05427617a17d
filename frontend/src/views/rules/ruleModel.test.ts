// The rule builder's model: definitions round-trip through the editor's tree, values are
// typed, and the server's problem paths land on the right node.
import { describe, expect, it } from 'vitest'

import {
  conditionsOf, formatValue, fromDefinition, group, leaf, locPath, nodePaths, parseValue,
  problemsAt, problemsOf, toDefinition, typedParam,
} from './ruleModel'

const DEFINITION = {
  all: [
    { path: 'event.payload.text', op: 'keywords', value: ['退款', 'refund'], mode: 'any' },
    { any: [{ path: 'customer.tags', op: 'contains', value: 'VIP' }, { not: { path: 'event.payload.amount', op: 'lt', value: 1000 } }] },
    { path: 'customer.attributes.member_tier', op: 'exists' },
  ],
}

describe('condition trees', () => {
  it('round-trip a definition through the editor tree', () => {
    const tree = fromDefinition(DEFINITION)
    expect(tree.kind).toBe('all')
    expect(tree.children).toHaveLength(3)
    expect(toDefinition(tree)).toEqual(DEFINITION)
  })

  it('make a single leaf a group, and no conditions null', () => {
    const tree = fromDefinition({ path: 'event.type', op: 'equals', value: 'order.paid' })
    expect(tree.kind).toBe('all')
    expect(conditionsOf(tree)).toEqual({ all: [{ path: 'event.type', op: 'equals', value: 'order.paid' }] })
    expect(conditionsOf(fromDefinition(null))).toBeNull()
    expect(conditionsOf(group('all'))).toBeNull()
  })

  it('name every node by its definition path', () => {
    const tree = fromDefinition(DEFINITION)
    const paths = nodePaths(tree)
    const anyGroup = tree.children[1] as ReturnType<typeof group>
    const notGroup = anyGroup.children[1] as ReturnType<typeof group>
    expect(paths.get(tree.id)).toBe('conditions')
    expect(paths.get(tree.children[0].id)).toBe('conditions.all[0]')
    expect(paths.get(anyGroup.children[0].id)).toBe('conditions.all[1].any[0]')
    expect(paths.get(notGroup.children[0].id)).toBe('conditions.all[1].any[1].not')
  })
})

describe('values', () => {
  it('types what is typed', () => {
    expect(parseValue('1000')).toBe(1000)
    expect(parseValue('true')).toBe(true)
    expect(parseValue('["a", "b"]')).toEqual(['a', 'b'])
    expect(parseValue('VIP')).toBe('VIP')
    expect(parseValue('查订单')).toBe('查订单')
    expect(formatValue('1000')).toBe('"1000"') // the text "1000", not the number
    expect(parseValue(formatValue('1000'))).toBe('1000')
    expect(toDefinition(leaf('event.payload.x', 'exists', ''))).toEqual({ path: 'event.payload.x', op: 'exists' })
  })

  it('keeps templates and string params as text', () => {
    expect(typedParam('{{ event.payload.amount }}', { type: 'integer' })).toBe('{{ event.payload.amount }}')
    expect(typedParam('42', { type: 'integer' })).toBe(42)
    expect(typedParam('42', { type: 'string' })).toBe('42')
    expect(typedParam('42', { anyOf: [{ type: 'string' }, { type: 'null' }] })).toBe('42')
    expect(typedParam('["a"]', { type: 'array' })).toEqual(['a'])
  })
})

describe('problems', () => {
  it('map the server loc to definition paths and onto nodes', () => {
    const problems = problemsOf([
      { loc: ['body', 'conditions', 'all', 1, 'any', 0, 'op'], msg: 'unknown operator', type: 'value_error' },
      { loc: ['body', 'trigger', 'event'], msg: 'unknown event type', type: 'value_error' },
      { nope: true },
    ])
    expect(problems.map((p) => p.path)).toEqual(['conditions.all[1].any[0].op', 'trigger.event'])
    expect(locPath(['body', 'actions', 0, 'params', 'title'])).toBe('actions[0].params.title')
    const tree = fromDefinition(DEFINITION)
    const paths = nodePaths(tree)
    const target = (tree.children[1] as ReturnType<typeof group>).children[0]
    expect(problemsAt(problems, paths.get(target.id))).toEqual([problems[0]])
    expect(problemsAt(problems, paths.get(tree.children[0].id))).toEqual([])
    // a group does not take its children's problems
    expect(problemsAt(problems, paths.get(tree.children[1].id))).toEqual([])
  })
})
