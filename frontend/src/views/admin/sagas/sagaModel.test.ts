// Saga definitions: stored documents shown as YAML that parses back to the same document,
// the server's problems listed with their path and line.
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'

import { documentText, NEW_DEFINITION, problemsOf, stepCount } from './sagaModel'

describe('saga definition model', () => {
  it('shows a document as YAML that reads back the same', () => {
    const doc = { name: 'refund', title: '退款', steps: [{ name: 'a', instance: 'crm', action: 'x', params: { m: '{{ input.m }}' } }] }
    expect(parse(documentText(doc))).toEqual(doc)
    expect(stepCount(doc)).toBe(1)
    expect(stepCount({})).toBe(0)
  })

  it('quotes the strings YAML 1.1 (the server) would read as booleans or dates', () => {
    const text = documentText({ name: 'x', input: { flag: { default: 'on' }, day: { default: '2026-01-01' } } })
    expect(text).toContain('default: "on"')
    expect(text).toContain('default: "2026-01-01"')
  })

  it('offers a template that is a valid YAML mapping with steps', () => {
    const doc = parse(NEW_DEFINITION) as Record<string, unknown>
    expect(doc.name).toBe('crm_note')
    expect(stepCount(doc)).toBe(2)
  })

  it('lists problems by path (without body.definition) and line', () => {
    expect(problemsOf([
      { loc: ['body', 'definition', 'steps', 1, 'action'], msg: 'no such action', line: 14 },
      { loc: ['body', 'definition'], msg: 'not a mapping' },
      'junk',
    ])).toEqual([
      { path: 'steps.1.action', line: 14, message: 'no such action' },
      { path: '', line: null, message: 'not a mapping' },
    ])
    expect(problemsOf(null)).toEqual([])
  })
})
