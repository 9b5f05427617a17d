// The masking policy page: the model (who sees what, who may change a role, the example
// pairs), both catalogues, the menu entry, and the page sending the right PATCHes.
import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createMemoryHistory } from 'vue-router'

import { i18n, setLocale } from '@/i18n'
import en from '@/i18n/locales/masking.en'
import zh from '@/i18n/locales/masking.zh-CN'
import MainLayout from '@/layouts/MainLayout.vue'
import { makeRouter } from '@/router'
import { useAuthStore } from '@/stores/auth'
import { apiError, fakeApi, json, me, tokens, type Handler } from '@/test/fakeApi'

import {
  examplesOf, FORMAT_KINDS, lockOf, PII_REVEAL, PII_VIEW, policyRows, withPermission, type Editor, type RoleLike,
} from './maskingModel'
import MaskingView from './MaskingView.vue'

function keys(obj: object, prefix = ''): string[] {
  return Object.entries(obj).flatMap(([k, v]) => (v && typeof v === 'object' ? keys(v, `${prefix}${k}.`) : [`${prefix}${k}`]))
}

const role = (name: string, permissions: string[], builtin = false, scope = 'tenant'): RoleLike & { description: string; created_at: string } => ({
  id: `id-${name}`, name, builtin, permissions, scope, description: '', created_at: '2026-01-01T00:00:00Z',
})
const editor = (held: string[], manage = true, departmentScoped = false): Editor => ({
  manage, departmentScoped, holds: (p) => held.includes('*') || held.includes(p),
})

beforeEach(() => {
  setActivePinia(createPinia())
  setLocale('en')
})
afterEach(() => vi.unstubAllGlobals())

describe('masking model', () => {
  it('reads clear/reveal from the permissions, * granting both, built-in roles first', () => {
    const rows = policyRows([role('night', ['customers.read']), role('owner', ['*'], true), role('clerk', [PII_REVEAL])])
    expect(rows.map((r) => [r.role.name, r.seesClear, r.mayReveal, r.maskedOnly])).toEqual([
      ['owner', true, true, false], ['clerk', false, true, false], ['night', false, false, true],
    ])
  })

  it('locks built-in roles, * roles, non-managers, out-of-department and beyond-your-own edits', () => {
    const admin = editor(['roles.manage', 'customers.read', PII_REVEAL])
    expect(lockOf(role('agent', [], true), PII_REVEAL, admin)?.reason).toBe('builtin')
    expect(lockOf(role('god', ['*']), PII_REVEAL, editor(['*']))?.reason).toBe('wildcard')
    expect(lockOf(role('c', ['customers.read']), PII_REVEAL, editor(['customers.read', PII_REVEAL], false))?.reason).toBe('noManage')
    expect(lockOf(role('c', ['customers.read']), PII_REVEAL, editor(['*'], true, true))?.reason).toBe('department')
    expect(lockOf(role('c', ['customers.read'], false, 'department'), PII_REVEAL, editor(['*'], true, true))).toBeNull()
    // the admin holds reveal but not view: may switch reveal, not clear values
    expect(lockOf(role('c', ['customers.read']), PII_REVEAL, admin)).toBeNull()
    expect(lockOf(role('c', ['customers.read']), PII_VIEW, admin)).toEqual({ reason: 'beyondYours', missing: [PII_VIEW] })
    expect(lockOf(role('c', ['webhooks.pii', 'customers.read']), PII_REVEAL, admin)).toEqual({ reason: 'beyondYours', missing: ['webhooks.pii'] })
  })

  it('switches one permission, keeping the rest sorted and unique', () => {
    expect(withPermission(['users.read', 'customers.read'], PII_VIEW, true)).toEqual(['customers.pii.view', 'customers.read', 'users.read'])
    expect(withPermission([PII_VIEW, 'customers.read'], PII_VIEW, true)).toEqual([PII_VIEW, 'customers.read'])
    expect(withPermission([PII_VIEW, 'customers.read'], PII_VIEW, false)).toEqual(['customers.read'])
  })

  it('has example pairs for every format that hide the middle and keep the documented parts', () => {
    for (const kind of FORMAT_KINDS) {
      for (const locale of ['en', 'zh-CN']) {
        const pairs = examplesOf(kind, locale)
        expect(pairs.length, kind).toBeGreaterThan(0)
        for (const { before, after } of pairs) {
          expect(after, kind).toContain('*')
          expect(after, kind).not.toBe(before)
        }
      }
    }
    const phone = examplesOf('phone', 'en')[0]!
    expect([phone.after.slice(0, 3), phone.after.slice(-4)]).toEqual([phone.before.slice(0, 3), phone.before.slice(-4)])
    const id = examplesOf('idCard', 'en')[0]!
    expect(id.after).toHaveLength(id.before.length)
    expect(examplesOf('email', 'en')[0]!.after.endsWith('example.com')).toBe(true)
    expect(examplesOf('bankCard', 'en')[0]!.after.slice(-4)).toBe('0123')
    expect(examplesOf('address', 'en')[0]!.after.startsWith('广东省深圳市南山区')).toBe(true)
    expect(examplesOf('name', 'en')[0]!.after[0]).toBe('张')
    // order codes survive in free text, contact numbers do not; in the reader's language
    for (const [locale, marker] of [['en', 'Order'], ['zh-CN', '订单']] as const) {
      const order = examplesOf('freeText', locale).find((e) => e.before.includes('SO13800138000'))!
      expect(order.before).toContain(marker)
      expect(order.after).toContain('SO13800138000')
      expect(order.after).not.toContain('TEL13800138000')
    }
  })
})

describe('masking catalogues', () => {
  it('have the same keys in zh-CN and en, none empty, and hold every key the page uses', async () => {
    expect(keys(zh).sort()).toEqual(keys(en).sort())
    const known = new Set(keys(en))
    const src = Object.values(import.meta.glob('./MaskingView.vue', { query: '?raw', import: 'default', eager: true }))[0] as string
    const used = [...src.matchAll(/['`](masking\.[A-Za-z0-9_.]+)['`]/g)].map((m) => m[1]!)
    expect(used.length).toBeGreaterThan(15)
    expect(used.filter((k) => !known.has(k))).toEqual([])
    for (const kind of FORMAT_KINDS) {
      expect(known.has(`masking.formats.kinds.${kind}`)).toBe(true)
      expect(known.has(`masking.formats.rules.${kind}`)).toBe(true)
    }
    setLocale('zh-CN')
    expect(i18n.global.t('masking.title')).toBe('脱敏策略')
  })
})

async function signIn(permissions: string[], routes: Record<string, Handler> = {}) {
  const api = fakeApi({ 'POST /api/v1/auth/login': () => tokens(1), 'GET /api/v1/auth/me': () => me(permissions), ...routes })
  await useAuthStore().login('demo', 'x@demo.relaydesk.local', 'x')
  return api
}

describe('masking menu', () => {
  it('is offered to role readers and organisation managers only', async () => {
    for (const [permissions, shown] of [[['conversations.read'], false], [['roles.read'], true], [['tenant.manage'], true]] as const) {
      setActivePinia(createPinia())
      await signIn([...permissions])
      const router = makeRouter(createMemoryHistory())
      await router.push('/overview')
      const wrapper = mount(MainLayout, { global: { plugins: [i18n, router] } })
      await flushPromises()
      expect(wrapper.find('[data-test="side-menu"]').text().includes('Masking policy'), permissions.join()).toBe(shown)
      wrapper.unmount()
    }
  })
})

const ATTR = {
  id: 'a1', key: 'wechat_id', label_zh: '微信号', label_en: 'WeChat id', type: 'string', options: [], required: false,
  pii: false, description: null, created_at: '', updated_at: '',
}

describe('masking page', () => {
  const ROLES = [role('agent', ['customers.read'], true), role('night', ['customers.read'])]

  it('switches reveal on a custom role, keeps built-in roles read-only and flags an attribute personal', async () => {
    const api = await signIn(['roles.read', 'roles.manage', 'customers.read', PII_REVEAL, 'tenant.manage'], {
      'GET /api/v1/roles': () => json(200, { items: ROLES, next_cursor: null }),
      'GET /api/v1/customers/attribute-definitions': () => json(200, { items: [ATTR] }),
      'PATCH /api/v1/roles/id-night': (req) => json(200, { ...ROLES[1], permissions: (req.body as { permissions: string[] }).permissions }),
      'PATCH /api/v1/customers/attribute-definitions/wechat_id': () => json(200, { ...ATTR, pii: true }),
    })
    const wrapper = mount(MaskingView, { global: { plugins: [i18n] } })
    await flushPromises()
    expect(wrapper.find('[data-test="masking-lock-agent"]').text()).toContain('Built-in roles are read-only')
    expect(wrapper.find('[data-test="masking-reveal-agent"]').classes()).toContain('is-disabled')
    // the admin lacks customers.pii.view, so cannot hand it out
    expect(wrapper.find('[data-test="masking-view-night"]').classes()).toContain('is-disabled')
    expect(wrapper.find('[data-test="masking-lock-night"]').text()).toContain(PII_VIEW)

    await wrapper.find('[data-test="masking-reveal-night"]').trigger('click')
    await flushPromises()
    expect(api.calls('PATCH', '/api/v1/roles/id-night').map((c) => c.body)).toEqual([{ permissions: [PII_REVEAL, 'customers.read'] }])
    expect(wrapper.find('[data-test="masking-reveal-night"]').classes()).toContain('is-checked')
    await wrapper.find('[data-test="masking-reveal-agent"]').trigger('click')
    await flushPromises()
    expect(api.calls('PATCH', '/api/v1/roles/id-agent')).toHaveLength(0)

    await wrapper.find('[data-test="masking-pii-wechat_id"]').trigger('click')
    await flushPromises()
    expect(api.calls('PATCH', '/api/v1/customers/attribute-definitions/wechat_id').map((c) => c.body)).toEqual([{ pii: true }])
    expect(wrapper.find('[data-test="masking-pii-wechat_id"]').classes()).toContain('is-checked')
    expect(wrapper.findAll('[data-test="masking-example-phone"]').length).toBeGreaterThan(1)
    wrapper.unmount()
  })

  it('shows a refused change and leaves the switch as it was', async () => {
    await signIn(['roles.read', 'roles.manage', 'customers.read', PII_REVEAL], {
      'GET /api/v1/roles': () => json(200, { items: ROLES, next_cursor: null }),
      'GET /api/v1/customers/attribute-definitions': () => json(200, { items: [ATTR] }),
      'PATCH /api/v1/roles/id-night': () => apiError(403, 'forbidden', 'nope'),
    })
    const wrapper = mount(MaskingView, { global: { plugins: [i18n] } })
    await flushPromises()
    expect(wrapper.find('[data-test="masking-pii-wechat_id"]').classes()).toContain('is-disabled')
    await wrapper.find('[data-test="masking-reveal-night"]').trigger('click')
    await flushPromises()
    expect(wrapper.find('[data-test="masking-reveal-night"]').classes()).not.toContain('is-checked')
    expect(document.body.textContent).toContain(i18n.global.t('errors.forbidden'))
    wrapper.unmount()
  })
})
