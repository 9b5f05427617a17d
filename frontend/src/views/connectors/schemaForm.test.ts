// The Run dialog's form, generated from an action's params JSON Schema: field types, required
// marks and validation, the params sent, and the confirmation step of write actions.
import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'

import type { ConnectorAction, ConnectorInstance } from '@/api/client'
import { i18n, setLocale } from '@/i18n'
import { fakeApi, json } from '@/test/fakeApi'

import ActionRunDialog from './ActionRunDialog.vue'
import SchemaForm from './SchemaForm.vue'
import { buildParams, initialValues, schemaFields, validate } from './schemaForm'

// shaped like the backend's params schemas (pydantic: optional fields are anyOf [X, null])
const schema = {
  type: 'object',
  additionalProperties: false,
  required: ['mobile', 'amount'],
  properties: {
    mobile: { type: 'string', title: 'Mobile', pattern: '^1[3-9][0-9]{9}$', description: '11 digits' },
    amount: { type: 'number', title: 'Amount', minimum: 0 },
    status: { anyOf: [{ type: 'integer', enum: [10, 20, 30] }, { type: 'null' }], default: null, title: 'Status' },
    page: { anyOf: [{ type: 'integer', minimum: 1, maximum: 100 }, { type: 'null' }], default: 1 },
    notify: { type: 'boolean', title: 'Notify' },
  },
}

beforeEach(() => {
  setActivePinia(createPinia())
  setLocale('en')
})
afterEach(() => vi.unstubAllGlobals())

describe('schemaFields', () => {
  it('reads the type, required flag, enum and defaults of every property', () => {
    const fields = schemaFields(schema)
    expect(fields.map((f) => [f.name, f.type, f.required])).toEqual([
      ['mobile', 'string', true],
      ['amount', 'number', true],
      ['status', 'enum', false],
      ['page', 'integer', false],
      ['notify', 'boolean', false],
    ])
    expect(fields[2].options).toEqual([10, 20, 30])
    expect(fields[3]).toMatchObject({ title: 'Page', minimum: 1, maximum: 100, default: 1 })
    expect(initialValues(fields)).toEqual({ mobile: null, amount: null, status: null, page: 1, notify: false })
  })

  it('refuses missing required fields, non-numbers, out-of-range values and bad patterns', () => {
    const fields = schemaFields(schema)
    expect(validate(fields, initialValues(fields))).toEqual({
      mobile: { key: 'required' },
      amount: { key: 'required' },
    })
    expect(
      validate(fields, { mobile: '12345', amount: 'ten', status: null, page: '2.5', notify: false }),
    ).toEqual({
      mobile: { key: 'pattern', pattern: '^1[3-9][0-9]{9}$' },
      amount: { key: 'number' },
      page: { key: 'integer' },
    })
    expect(validate(fields, { mobile: '13800138000', amount: '-1', page: '101' })).toEqual({
      amount: { key: 'minimum', limit: 0 },
      page: { key: 'maximum', limit: 100 },
    })
  })

  it('sends typed values and leaves empty optional fields out', () => {
    const fields = schemaFields(schema)
    const values = { mobile: ' 13800138000 ', amount: '12.5', status: 20, page: '', notify: true }
    expect(validate(fields, values)).toEqual({})
    expect(buildParams(fields, values)).toEqual({ mobile: '13800138000', amount: 12.5, status: 20, notify: true })
  })
})

describe('SchemaForm', () => {
  it('renders an input per field type with required marks and the validation messages', async () => {
    const fields = schemaFields(schema)
    const wrapper = mount(SchemaForm, {
      props: {
        fields,
        modelValue: initialValues(fields),
        problems: { mobile: { key: 'required' }, page: { key: 'maximum', limit: 100 } },
      },
      global: { plugins: [i18n], stubs: { teleport: true, ElSelect: true } },
    })
    await flushPromises()
    const item = (name: string) => wrapper.find(`[data-field="${name}"]`)
    expect(item('mobile').find('input[name="mobile"]').exists()).toBe(true)
    expect(item('amount').attributes('data-type')).toBe('number')
    expect(item('status').find('el-select-stub').exists()).toBe(true)
    expect(item('notify').find('.el-switch').exists()).toBe(true)
    expect(item('mobile').classes()).toContain('is-required')
    expect(item('amount').classes()).toContain('is-required')
    expect(item('page').classes()).not.toContain('is-required')
    await new Promise((resolve) => setTimeout(resolve, 150)) // Element Plus debounces the state
    expect(item('mobile').find('.el-form-item__error').text()).toBe('Required')
    expect(item('page').find('.el-form-item__error').text()).toBe('At most 100')
    expect(item('mobile').text()).toContain('11 digits')
  })
})

describe('ActionRunDialog', () => {
  const instance = { id: 'i1', name: 'orders', title: '订单中心', sandbox: true } as ConnectorInstance
  const action = (effect: 'read' | 'write') =>
    ({
      name: effect === 'write' ? 'request_refund' : 'list_orders_by_mobile',
      title: 'Act', effect, permission: 'p', allowed: true, many: true, pii: {}, idempotent: false,
      cache: false, params_schema: { type: 'object', required: ['mobile'], properties: { mobile: { type: 'string' } } },
    }) as ConnectorAction
  const outcome = {
    ok: true, data: [{ order_no: 'YQ1', receiver_phone: '188****8331' }], error: null,
    fetched_at: '2026-11-21T10:00:00Z', cached: true, stale: false, sandbox: true,
    call_id: 'c1', latency_ms: 12, attempts: 1,
  }
  const mountDialog = (a: ConnectorAction) =>
    mount(ActionRunDialog, {
      props: { modelValue: true, instance, action: a },
      global: { plugins: [i18n], stubs: { teleport: true, ElSelect: true } },
    })

  it('does not call the system while a required field is empty', async () => {
    const api = fakeApi({ 'POST /api/v1/connector-instances/i1/actions/list_orders_by_mobile/run': () => json(200, outcome) })
    const wrapper = mountDialog(action('read'))
    await flushPromises()
    await wrapper.find('[data-test="run-submit"]').trigger('click')
    await flushPromises()
    expect(api.calls('POST', '/api/v1/connector-instances/i1/actions/list_orders_by_mobile/run')).toHaveLength(0)
    await new Promise((resolve) => setTimeout(resolve, 150))
    expect(wrapper.find('[data-field="mobile"] .el-form-item__error').text()).toBe('Required')
  })

  it('runs a read at once and shows the rows with freshness and sandbox badges', async () => {
    const api = fakeApi({ 'POST /api/v1/connector-instances/i1/actions/list_orders_by_mobile/run': () => json(200, outcome) })
    const wrapper = mountDialog(action('read'))
    await flushPromises()
    await wrapper.find('input[name="mobile"]').setValue('18814688331')
    await wrapper.find('[data-test="run-submit"]').trigger('click')
    await flushPromises()
    expect(api.calls('POST', '/api/v1/connector-instances/i1/actions/list_orders_by_mobile/run')[0].body).toEqual({
      params: { mobile: '18814688331' },
    })
    expect(wrapper.find('[data-test="outcome-table"]').text()).toContain('188****8331')
    expect(wrapper.find('[data-test="cached-badge"]').exists()).toBe(true)
    expect(wrapper.find('[data-test="outcome"] [data-test="sandbox-badge"]').text()).toBe('Sandbox')
  })

  it('asks for confirmation of a write, showing the parameters, and shows a classified error', async () => {
    const failed = {
      ...outcome, ok: false, data: null, cached: false,
      error: { class: 'fail', kind: 'system', code: 'refund_not_allowed', message: 'Order already refunded' },
    }
    const api = fakeApi({ 'POST /api/v1/connector-instances/i1/actions/request_refund/run': () => json(200, failed) })
    const wrapper = mountDialog(action('write'))
    await flushPromises()
    await wrapper.find('input[name="mobile"]').setValue('13800138000')
    await wrapper.find('[data-test="run-submit"]').trigger('click')
    await flushPromises()
    expect(api.calls('POST', '/api/v1/connector-instances/i1/actions/request_refund/run')).toHaveLength(0)
    expect(wrapper.find('[data-test="confirm-params"]').text()).toContain('13800138000')
    await wrapper.find('[data-test="run-confirm-send"]').trigger('click')
    await flushPromises()
    expect(api.calls('POST', '/api/v1/connector-instances/i1/actions/request_refund/run')).toHaveLength(1)
    expect(wrapper.find('[data-test="error-class"]').text()).toBe('fail')
    expect(wrapper.find('[data-test="error-code"]').text()).toBe('refund_not_allowed')
    expect(wrapper.find('[data-test="outcome-error"]').text()).toContain('Order already refunded')
  })
})
