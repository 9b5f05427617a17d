// Customer admin: typed attribute values in and out of the form, identity bodies, what a
// merge moves; the identities panel shows the server's field error and the masked values;
// the menu offers the new screens by permission; both locales have the same keys.
import { flushPromises, mount } from '@vue/test-utils'
import ElementPlus from 'element-plus'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'

import type { Customer } from '@/api/client'
import { i18n, setLocale } from '@/i18n'
import customersEn from '@/i18n/locales/customers.en'
import customersZh from '@/i18n/locales/customers.zh-CN'
import { routes, supervisorMenu } from '@/router/customers.routes'
import { useAuthStore } from '@/stores/auth'
import { apiError, fakeApi, json, me, tokens } from '@/test/fakeApi'

import {
  type AttributeDefinition, displayValue, fromInput, identityBody, mergeAttributes, mergeSummary, type Suggestion, toInput,
} from './customerAdmin'
import IdentitiesPanel from './IdentitiesPanel.vue'

const NOW = '2026-11-21T10:00:00Z'
function def(key: string, type: AttributeDefinition['type'], extra: Partial<AttributeDefinition> = {}): AttributeDefinition {
  return { id: key, key, label_zh: key, label_en: key, type, options: [], required: false, pii: false, description: null, created_at: NOW, updated_at: NOW, ...extra }
}
function customer(id: string, extra: Partial<Customer> = {}): Customer {
  return {
    id, name: id, phone: null, email: null, id_number: null, bank_card: null, address: null, company: null, tags: [],
    attributes: {}, identities: [], created_at: NOW, updated_at: NOW, masked: true, ...extra,
  }
}
function identity(id: string, kind: 'phone' | 'email' | 'external', value: string, namespace = '') {
  return { id, customer_id: 'c', kind, namespace, value, verified: false, verified_at: null, source: 'profile', origin: 'staff' as const, created_at: NOW, masked: true }
}

describe('typed attribute values', () => {
  it('come into the form as the input of their type, empty as null', () => {
    expect(toInput(def('n', 'number'), '12.5')).toBe(12.5)
    expect(toInput(def('n', 'number'), 'abc')).toBeNull()
    expect(toInput(def('b', 'boolean'), 'true')).toBe(true)
    expect(toInput(def('d', 'date'), '2026-01-02')).toBe('2026-01-02')
    expect(toInput(def('s', 'string'), '')).toBeNull()
    expect(toInput(def('s', 'string'), undefined)).toBeNull()
  })

  it('go out trimmed; an emptied optional key is dropped, free-form keys are kept', () => {
    expect(fromInput(def('s', 'string'), '  金卡 ')).toBe('金卡')
    const defs = [def('tier', 'enum', { options: ['金卡', '银卡'] }), def('vip', 'boolean'), def('note', 'string')]
    const out = mergeAttributes({ crm_id: 'C-1', note: 'old', tier: '银卡' }, defs, { tier: '金卡', vip: false, note: '  ' })
    expect(out).toEqual({ crm_id: 'C-1', tier: '金卡', vip: false })
  })

  it('read as text in the drawer, booleans in words', () => {
    expect(displayValue(def('vip', 'boolean'), true, ['Yes', 'No'])).toBe('Yes')
    expect(displayValue(undefined, { a: 1 }, ['Yes', 'No'])).toBe('{"a":1}')
    expect(displayValue(def('s', 'string'), null, ['Yes', 'No'])).toBe('—')
  })
})

describe('identity bodies', () => {
  it('leave the namespace out for kinds that have none and trim the value', () => {
    expect(identityBody('phone', ' 138 1234 5678 ', 'ignored', true)).toEqual({ kind: 'phone', value: '138 1234 5678', verified: true })
    expect(identityBody('openid', 'o-abc', ' wx123 ', false)).toEqual({ kind: 'openid', value: 'o-abc', namespace: 'wx123', verified: false })
    expect(identityBody('unionid', 'u-1', '', false)).toEqual({ kind: 'unionid', value: 'u-1', verified: false })
  })
})

describe('the merge summary', () => {
  it('keeps the existing profile and lists what the newer one brings', () => {
    const s: Suggestion = {
      id: 's', status: 'open', created_at: NOW, updated_at: NOW, reasons: [],
      customer: customer('newer', {
        email: 'n***r@example.com', tags: ['VIP', '北京'], attributes: { tier: '金卡', source: 'web' },
        identities: [identity('i1', 'phone', '+86138****5678'), identity('i2', 'email', 'n***r@example.com')],
      }),
      candidate: customer('existing', {
        phone: '+86138****5678', tags: ['VIP'], attributes: { tier: '银卡' },
        identities: [identity('i3', 'phone', '+86138****5678')],
      }),
    }
    const m = mergeSummary(s)
    expect(m.survivor.id).toBe('existing')
    expect(m.merged.id).toBe('newer')
    expect(m.identities.map((i) => i.id)).toEqual(['i2'])
    expect(m.newTags).toEqual(['北京'])
    expect(m.filled).toEqual(['email'])
    expect(m.newAttributes).toEqual(['source'])
    expect(m.conflicts).toEqual(['tier'])
  })
})

describe('the identities panel', () => {
  beforeEach(() => {
    setActivePinia(createPinia())
    setLocale('en')
  })
  afterEach(() => vi.unstubAllGlobals())

  async function signedIn(permissions: string[], routesExtra: Parameters<typeof fakeApi>[0]) {
    const seen = fakeApi({
      'POST /api/v1/auth/login': () => tokens(1), 'GET /api/v1/auth/me': () => me(permissions), ...routesExtra,
    })
    await useAuthStore().login('demo', 'x@demo.relaydesk.local', 'x')
    return seen
  }

  it('shows masked values, and the server’s error at the value field when an identity is refused', async () => {
    const seen = await signedIn(['customers.read', 'customers.write'], {
      'GET /api/v1/customers/c1/identities': () => json(200, { items: [identity('i1', 'phone', '+86138****5678')] }),
      'POST /api/v1/customers/c1/identities': () =>
        apiError(422, 'validation_error', 'value: not a phone number', [{ loc: ['body', 'value'], msg: 'not a valid phone number', type: 'value_error' }]),
    })
    const wrapper = mount(IdentitiesPanel, { props: { customer: customer('c1') }, global: { plugins: [i18n, ElementPlus] }, attachTo: document.body })
    await flushPromises()
    expect(wrapper.find('[data-test="identity-value"]').text()).toBe('+86138****5678')
    expect(wrapper.find('[data-test="identity-reveal"]').exists()).toBe(false) // no customers.pii.reveal
    expect(wrapper.find('[data-test="identity-split"]').exists()).toBe(false) // no customers.merge
    await wrapper.find('[data-test="identity-add"]').trigger('click')
    await wrapper.find('input[name="identity-value"]').setValue('12345')
    await wrapper.find('[data-test="identity-form"]').trigger('submit')
    await flushPromises()
    await new Promise((resolve) => setTimeout(resolve, 150)) // Element Plus debounces the state
    expect(wrapper.find('[data-test="identity-form"] .el-form-item__error').text()).toBe('not a valid phone number')
    expect(seen.calls('POST', '/api/v1/customers/c1/identities')[0].body).toEqual({ kind: 'phone', value: '12345', verified: false })
    wrapper.unmount()
  })
})

describe('routes, menu and locales', () => {
  it('gate the attribute admin by tenant.manage and the duplicates by customers.merge', () => {
    expect(routes.map((r) => [r.path, r.meta?.permissions])).toEqual([
      ['customers/attributes', ['tenant.manage']],
      ['customers/duplicates', ['customers.merge']],
    ])
    expect(supervisorMenu.map((m) => m.section)).toEqual(['admin', 'main'])
  })

  it('have the same keys in English and Chinese, none empty except the kinds without a namespace', () => {
    const keys = (o: object, p = ''): string[] =>
      Object.entries(o).flatMap(([k, v]) => (v && typeof v === 'object' ? keys(v, `${p}${k}.`) : [`${p}${k}`]))
    expect(keys(customersZh).sort()).toEqual(keys(customersEn).sort())
    expect(i18n.global.t('customerAdmin.kinds.openid')).toBe('WeChat openid')
  })
})
