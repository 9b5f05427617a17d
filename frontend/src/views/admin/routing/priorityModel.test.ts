// Priority rules: the editor's parameters follow the chosen action's schema, values are typed
// (templates and string parameters stay text), the PUT of a toggle keeps the whole rule.
import { describe, expect, it } from 'vitest'

import { bodyOfRule, emptyRuleForm, formOfRule, nextPosition, paramRows, sortRules, strayParamErrors, toggledBody, typedValue, type PriorityRule } from './priorityModel'

const rule: PriorityRule = {
  id: 'r1', name: 'VIP', position: 10, enabled: true, instance: 'crm', instance_id: 'i1',
  action: 'find_contact_by_mobile', params: { mobile: '{{ customer.phone_national }}', limit: 1 },
  condition: "contains(['gold'], result[0].tier)", priority: 'urgent', team_id: 't1', skills: ['vip'],
  timeout_seconds: 2, permission: 'connectors.crm.read', created_at: '', updated_at: '',
}

const schema = {
  type: 'object',
  properties: { limit: { type: 'integer' }, mobile: { type: 'string', description: 'Mobile' }, active: { type: ['boolean', 'null'] } },
  required: ['mobile'],
}

describe('priority rule model', () => {
  it('lists the action parameters, required first, keeping typed values and unknown filled rows', () => {
    const rows = paramRows(schema, [{ name: 'limit', value: '5', required: false, type: '', description: '' }, { name: 'old', value: 'x', required: false, type: '', description: '' }, { name: 'gone', value: ' ', required: false, type: '', description: '' }])
    expect(rows.map((r) => [r.name, r.value, r.required, r.type])).toEqual([
      ['mobile', '', true, 'string'], ['limit', '5', false, 'integer'], ['active', '', false, 'boolean'], ['old', 'x', false, ''],
    ])
  })

  it('types values: templates and strings as text, other literals as JSON', () => {
    expect(typedValue('{{ customer.phone }}', 'integer')).toBe('{{ customer.phone }}')
    expect(typedValue('13800000000', 'string')).toBe('13800000000')
    expect(typedValue('5', 'integer')).toBe(5)
    expect(typedValue('true', '')).toBe(true)
    expect(typedValue('gold', '')).toBe('gold')
  })

  it('builds the body: trimmed, empty params left out, no priority or team as null, skills lower-cased once', () => {
    const form = { ...emptyRuleForm(30), name: ' VIP ', instance: 'crm', action: 'find', condition: ' result ', priority: '' as const, skills: ['VIP', 'vip ', ''] }
    form.params = paramRows(schema, [{ name: 'mobile', value: '{{ customer.phone_national }}', required: true, type: 'string', description: '' }])
    expect(bodyOfRule(form)).toEqual({
      name: 'VIP', instance: 'crm', action: 'find', params: { mobile: '{{ customer.phone_national }}' }, condition: 'result',
      priority: null, team_id: null, skills: ['vip'], timeout_seconds: 2, position: 30, enabled: true,
    })
  })

  it('round-trips a stored rule and toggles it with the whole body', () => {
    const body = toggledBody(rule, false)
    expect(body).toMatchObject({ name: 'VIP', instance: 'crm', params: { mobile: '{{ customer.phone_national }}', limit: 1 }, priority: 'urgent', team_id: 't1', enabled: false })
    expect(formOfRule(rule).params.find((p) => p.name === 'limit')?.value).toBe('1')
  })

  it('orders rules and places a new one after the last', () => {
    expect(nextPosition([])).toBe(0)
    expect(nextPosition([rule, { ...rule, id: 'r2', position: 40 }])).toBe(50)
    expect(sortRules([{ ...rule, id: 'b', position: 5 }, rule, { ...rule, id: 'a', position: 5 }]).map((r) => r.id)).toEqual(['a', 'b', 'r1'])
  })

  it('keeps the errors of parameters without a row for the parameters field', () => {
    const fields = { 'params.mobile': 'required', 'params.foo': 'not a parameter', condition: 'bad' }
    expect(strayParamErrors(fields, paramRows(schema, []))).toEqual(['params.foo: not a parameter'])
  })
})
