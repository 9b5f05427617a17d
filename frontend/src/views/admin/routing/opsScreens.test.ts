// The ops administration screens: both catalogues agree and hold every key the screens use,
// the menu offers each page only with the permission its API needs, and server field errors
// land at their field (a priority rule's parameter; an administrator's password reset).
import { flushPromises, mount } from '@vue/test-utils'
import { ElMessageBox } from 'element-plus'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createMemoryHistory } from 'vue-router'
import { createI18n } from 'vue-i18n'

import type { User } from '@/api/client'
import { i18n, setLocale } from '@/i18n'
import en from '@/i18n/locales/ops.en'
import zh from '@/i18n/locales/ops.zh-CN'
import MainLayout from '@/layouts/MainLayout.vue'
import { makeRouter } from '@/router'
import { useAuthStore } from '@/stores/auth'
import { apiError, fakeApi, json, me, tokens, type Handler } from '@/test/fakeApi'
import UserForm from '@/views/admin/UserForm.vue'

import PriorityRuleDialog from './PriorityRuleDialog.vue'
import type { PriorityRule } from './priorityModel'

function keys(obj: object, prefix = ''): string[] {
  return Object.entries(obj).flatMap(([k, v]) => (v && typeof v === 'object' ? keys(v, `${prefix}${k}.`) : [`${prefix}${k}`]))
}

const sources = {
  ...import.meta.glob('../{routing,events,canned,sagas}/*.{vue,ts}', { query: '?raw', import: 'default', eager: true }),
  ...import.meta.glob('../../rules/*.vue', { query: '?raw', import: 'default', eager: true }),
  ...import.meta.glob('../UserForm.vue', { query: '?raw', import: 'default', eager: true }),
  ...import.meta.glob('../../../router/ops.routes.ts', { query: '?raw', import: 'default', eager: true }),
} as Record<string, string>

beforeEach(() => {
  setActivePinia(createPinia())
  setLocale('en')
})
afterEach(() => vi.unstubAllGlobals())

describe('ops catalogues', () => {
  it('have the same keys in zh-CN and en', () => {
    expect(keys(zh).sort()).toEqual(keys(en).sort())
  })

  it('compile every message in both languages', () => {
    const i18 = createI18n({ legacy: false, locale: 'en', messages: { en, 'zh-CN': zh } })
    const values = { n: 1, name: 'x', team: 't', time: 't', type: 't', consumer: 'c', events: 1, deliveries: 1, skipped: 0, permission: 'p', example: 'e', shortcut: 's' }
    for (const locale of ['en', 'zh-CN'] as const) {
      i18.global.locale.value = locale
      for (const key of keys(en)) expect(i18.global.t(key, values), `${locale} ${key}`).not.toBe(key)
    }
  })

  it('hold every literal key the screens use', () => {
    const known = new Set(keys(en))
    const used = new Set<string>()
    for (const text of Object.values(sources)) {
      for (const m of text.matchAll(/['`](ops\.[A-Za-z0-9_.]+)['`]/g)) used.add(m[1]!)
    }
    expect(used.size).toBeGreaterThan(50)
    expect([...used].filter((k) => !known.has(k))).toEqual([])
  })
})

async function menuOf(permissions: string[]): Promise<string> {
  fakeApi({ 'POST /api/v1/auth/login': () => tokens(1), 'GET /api/v1/auth/me': () => me(permissions) })
  await useAuthStore().login('demo', 'x@demo.relaydesk.local', 'x')
  const router = makeRouter(createMemoryHistory())
  await router.push('/overview')
  const wrapper = mount(MainLayout, { global: { plugins: [i18n, router] } })
  await flushPromises()
  return wrapper.find('[data-test="side-menu"]').text()
}

describe('ops menu', () => {
  it('offers each page only with the permission its API needs', async () => {
    const agent = await menuOf(['users.read', 'conversations.read', 'teams.read'])
    for (const label of ['Routing', 'Event log', 'Canned responses', 'Sagas']) expect(agent).not.toContain(label)
    setActivePinia(createPinia())
    const some = await menuOf(['events.read', 'canned_responses.manage'])
    expect(some).toContain('Event log')
    expect(some).toContain('Canned responses')
    expect(some).not.toContain('Routing')
    expect(some).not.toContain('Sagas')
    setActivePinia(createPinia())
    const admin = await menuOf(['teams.manage', 'events.read', 'canned_responses.manage', 'sagas.read'])
    for (const label of ['Routing', 'Event log', 'Canned responses', 'Sagas']) expect(admin).toContain(label)
  })

  it('keeps a user without events.read out of the event log', async () => {
    fakeApi({ 'POST /api/v1/auth/login': () => tokens(1), 'GET /api/v1/auth/me': () => me(['conversations.read']) })
    await useAuthStore().login('demo', 'x@demo.relaydesk.local', 'x')
    const router = makeRouter(createMemoryHistory())
    await router.push('/admin/events')
    expect(router.currentRoute.value.name).toBe('forbidden')
  })
})

const RULE: PriorityRule = {
  id: 'r1', name: 'VIP', position: 10, enabled: true, instance: 'crm', instance_id: 'i1', action: 'find_contact_by_mobile',
  params: {}, condition: 'result', priority: 'urgent', team_id: null, skills: [], timeout_seconds: 2,
  permission: 'connectors.crm.read', created_at: '', updated_at: '',
}

describe('priority rule dialog', () => {
  it('shows the server field errors at the parameter row and the condition', async () => {
    const routes: Record<string, Handler> = {
      'GET /api/v1/connector-instances': () => json(200, { items: [{ id: 'i1', name: 'crm', title: 'CRM' }], next_cursor: null }),
      'GET /api/v1/connector-instances/i1/actions': () => json(200, {
        items: [
          { name: 'find_contact_by_mobile', effect: 'read', permission: 'connectors.crm.read', allowed: true, params_schema: { properties: { mobile: { type: 'string' } }, required: ['mobile'] } },
          { name: 'add_note', effect: 'write', permission: 'connectors.crm.write', allowed: true, params_schema: {} },
        ],
        next_cursor: null,
      }),
      'PUT /api/v1/routing/priority-rules/r1': () => apiError(422, 'validation_error', 'params.mobile: required', [
        { loc: ['body', 'params', 'mobile'], msg: 'required by crm.find_contact_by_mobile', type: 'value_error' },
        { loc: ['body', 'condition'], msg: 'a condition reads result or customer', type: 'value_error' },
      ]),
    }
    const api = fakeApi(routes)
    const wrapper = mount(PriorityRuleDialog, { props: { modelValue: false, rule: RULE, position: 0, teams: [] }, global: { plugins: [i18n] } })
    await wrapper.setProps({ modelValue: true })
    await flushPromises()
    expect(wrapper.find('[data-test="priority-param-mobile"]').exists()).toBe(true)
    await wrapper.find('[data-test="priority-save"]').trigger('click')
    await flushPromises()
    expect(api.calls('PUT', '/api/v1/routing/priority-rules/r1')).toHaveLength(1)
    // Element Plus shows a form item's error after a short debounce
    const errorOf = (test: string) =>
      wrapper.findAll('.el-form-item.is-error').filter((i) => i.find(`[data-test="${test}"]`).exists()).at(-1)?.find('.el-form-item__error').text()
    await vi.waitFor(() => expect(errorOf('priority-param-mobile')).toBe('required by crm.find_contact_by_mobile'))
    expect(errorOf('priority-condition')).toBe('a condition reads result or customer')
    expect(errorOf('priority-name')).toBeUndefined()
    expect(wrapper.emitted('saved')).toBeUndefined()
  })
})

describe('password reset', () => {
  it('sets a new password and shows the policy error at the field', async () => {
    fakeApi({ 'POST /api/v1/auth/login': () => tokens(1), 'GET /api/v1/auth/me': () => me(['users.manage', 'users.read']) })
    await useAuthStore().login('demo', 'x@demo.relaydesk.local', 'x')
    let answer = apiError(422, 'validation_error', 'password: too short', [{ loc: ['body', 'password'], msg: 'must be at least 10 characters', type: 'password_too_short' }])
    const api = fakeApi({
      'POST /api/v1/users/u1/password': () => answer,
      'GET /api/v1/departments': () => json(200, { items: [], next_cursor: null }),
    })
    vi.spyOn(ElMessageBox, 'confirm').mockResolvedValue('confirm' as never)
    const user = { id: 'u1', email: 'a@x.cn', display_name: 'A', roles: [], department_id: null, is_active: true } as unknown as User
    const wrapper = mount(UserForm, { props: { modelValue: true, user }, global: { plugins: [i18n] } })
    await flushPromises()
    await wrapper.find('input[data-test="user-new-password"]').setValue('short')
    await wrapper.find('[data-test="user-set-password"]').trigger('click')
    await flushPromises()
    expect(api.calls('POST', '/api/v1/users/u1/password')[0]?.body).toEqual({ password: 'short' })
    await vi.waitFor(() => {
      const item = wrapper.findAll('.el-form-item.is-error').find((i) => i.find('[data-test="user-new-password"]').exists())
      expect(item?.find('.el-form-item__error').text()).toBe('must be at least 10 characters')
    })
    answer = { status: 204, body: undefined, headers: {} }
    await wrapper.find('input[data-test="user-new-password"]').setValue('a-long-enough-password')
    await wrapper.find('[data-test="user-set-password"]').trigger('click')
    await flushPromises()
    expect(api.calls('POST', '/api/v1/users/u1/password')).toHaveLength(2)
    expect(wrapper.findAll('.el-form-item.is-error').some((i) => i.find('[data-test="user-new-password"]').exists())).toBe(false)
  })
})
