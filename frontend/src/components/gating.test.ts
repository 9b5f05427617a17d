// Permission gating: what the menu offers, what the router lets through, what buttons show.
import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createMemoryHistory } from 'vue-router'

import { i18n, setLocale } from '@/i18n'
import MainLayout from '@/layouts/MainLayout.vue'
import { makeRouter } from '@/router'
import { useAuthStore } from '@/stores/auth'
import { fakeApi, me, tokens } from '@/test/fakeApi'
import PiiValue from '@/views/customers/PiiValue.vue'

const AGENT = ['users.read', 'teams.read', 'customers.read', 'customers.write', 'conversations.read']
const SUPERVISOR = [...AGENT, 'roles.read', 'audit.read', 'customers.pii.reveal']
const ADMIN = [...SUPERVISOR, 'apikeys.manage', 'tenant.read', 'tenant.manage', 'users.manage']

async function signIn(permissions: string[]) {
  fakeApi({ 'POST /api/v1/auth/login': () => tokens(1), 'GET /api/v1/auth/me': () => me(permissions) })
  const auth = useAuthStore()
  await auth.login('demo', 'x@demo.relaydesk.local', 'x')
  return auth
}

async function mountLayout(permissions: string[]) {
  await signIn(permissions)
  const router = makeRouter(createMemoryHistory())
  await router.push('/')
  const wrapper = mount(MainLayout, { global: { plugins: [i18n, router] } })
  await flushPromises()
  return wrapper
}

beforeEach(() => {
  setActivePinia(createPinia())
  setLocale('en')
})
afterEach(() => vi.unstubAllGlobals())

describe('side menu', () => {
  it('offers an agent customers and users, but none of the admin console', async () => {
    const text = (await mountLayout(AGENT)).find('[data-test="side-menu"]').text()
    expect(text).toContain('Customers')
    expect(text).toContain('Users') // users.read
    expect(text).not.toContain('API keys')
    expect(text).not.toContain('Audit log')
    expect(text).not.toContain('Organisation settings')
  })

  it('offers an administrator API keys, settings and the audit log', async () => {
    const wrapper = await mountLayout(ADMIN)
    const html = wrapper.find('[data-test="side-menu"]').html()
    for (const label of ['API keys', 'Organisation settings', 'Audit log', 'Roles &amp; permissions']) {
      expect(html).toContain(label)
    }
  })
})

describe('router guard', () => {
  it('sends a signed-out visitor to the sign-in page, keeping where they wanted to go', async () => {
    fakeApi({})
    const router = makeRouter(createMemoryHistory())
    await router.push('/admin/audit')
    expect(router.currentRoute.value.name).toBe('login')
    expect(router.currentRoute.value.query.redirect).toBe('/admin/audit')
  })

  it('refuses a page the user may not open', async () => {
    await signIn(AGENT)
    const router = makeRouter(createMemoryHistory())
    await router.push('/admin/api-keys')
    expect(router.currentRoute.value.name).toBe('forbidden')
    await router.push('/customers')
    expect(router.currentRoute.value.name).toBe('customers')
  })
})

describe('reveal button', () => {
  const props = { customerId: 'c1', field: 'phone' as const, value: '+86138****1234', masked: true }

  it('is absent without customers.pii.reveal', async () => {
    await signIn(AGENT)
    const wrapper = mount(PiiValue, { props, global: { plugins: [i18n] } })
    expect(wrapper.text()).toContain('+86138****1234')
    expect(wrapper.find('[data-test="reveal-phone"]').exists()).toBe(false)
  })

  it('reveals the clear value with the audit note for a supervisor', async () => {
    await signIn(SUPERVISOR)
    const api = fakeApi({
      'POST /api/v1/customers/c1/reveal': () => ({ status: 200, body: { field: 'phone', value: '+8613800001234' } }),
    })
    const wrapper = mount(PiiValue, { props, global: { plugins: [i18n] } })
    await wrapper.find('[data-test="reveal-phone"]').trigger('click')
    await flushPromises()
    expect(api.calls('POST', '/api/v1/customers/c1/reveal')[0].body).toEqual({ field: 'phone' })
    expect(wrapper.find('[data-test="pii-clear"]').text()).toBe('+8613800001234')
    expect(wrapper.find('[data-test="pii-audited"]').text()).toContain('audit log')
  })
})
