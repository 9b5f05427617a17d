// Canned responses: variables used by a text, inserting one at the cursor, bodies of create
// and edit (only what changed).
import { describe, expect, it } from 'vitest'

import { createBody, insertVariable, patchBody, variablesOf, type Canned } from './cannedModel'

const canned: Canned = { id: 'c1', shortcut: 'thanks', title: 'Thanks', body: 'Hi {{ customer.name }}', created_at: '' }

describe('canned response model', () => {
  it('lists the variables of a text once each and flags unknown roots', () => {
    expect(variablesOf('Hi {{ customer.name }}, {{agent.name}} here. {{ customer.name }} {{ order.no }}')).toEqual([
      { expression: 'customer.name', root: 'customer', known: true },
      { expression: 'agent.name', root: 'agent', known: true },
      { expression: 'order.no', root: 'order', known: false },
    ])
    expect(variablesOf('no variables')).toEqual([])
  })

  it('inserts a variable at the cursor, or at the end', () => {
    expect(insertVariable('Hi !', 'customer.name', 3)).toEqual({ text: 'Hi {{ customer.name }}!', cursor: 22 })
    expect(insertVariable('Hi', 'agent.name', null).text).toBe('Hi{{ agent.name }}')
  })

  it('creates with a shortcut without its slash, and patches only what changed', () => {
    expect(createBody({ shortcut: ' /refund ', title: ' Refund ', body: 'x' })).toEqual({ shortcut: 'refund', title: 'Refund', body: 'x' })
    expect(patchBody({ shortcut: 'thanks', title: 'Thanks', body: 'Hi {{ customer.name }}' }, canned)).toEqual({})
    expect(patchBody({ shortcut: '/thanks', title: 'Thank you', body: 'Hi {{ customer.name }}' }, canned)).toEqual({ title: 'Thank you' })
  })
})
