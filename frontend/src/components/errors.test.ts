// How API errors reach people: translated alerts for known codes, field messages on forms.
import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'

import type { Customer } from '@/api/client'
import { ApiError } from '@/api/errors'
import { describeError } from '@/composables/useApiError'
import { i18n, setLocale } from '@/i18n'
import { apiError, fakeApi } from '@/test/fakeApi'
import CustomerForm from '@/views/customers/CustomerForm.vue'

import ApiErrorAlert from './ApiErrorAlert.vue'

const t = i18n.global.t as (key: string, values?: Record<string, unknown>) => string

function err(code: string, extra: Partial<ConstructorParameters<typeof ApiError>[0]> = {}) {
  return new ApiError({ status: 400, code, message: `server says ${code}`, ...extra })
}

beforeEach(() => {
  setActivePinia(createPinia())
  setLocale('en')
})
afterEach(() => vi.unstubAllGlobals())

describe('describeError', () => {
  it('explains a lockout with the minutes to wait', () => {
    expect(describeError(err('account_locked', { retryAfter: 840 }), t)).toContain('14 min')
    setLocale('zh-CN')
    expect(describeError(err('account_locked', { retryAfter: 840 }), t)).toContain('14 分钟')
  })

  it('explains an IP allow-list refusal', () => {
    expect(describeError(err('ip_not_allowed'), t)).toContain('allow-list')
  })

  it('keeps the server message for codes it does not know', () => {
    expect(describeError(err('something_new'), t)).toBe('server says something_new')
  })

  it('maps details[].loc to field names', () => {
    const e = err('validation_error', {
      details: [
        { loc: ['body', 'phone'], msg: 'not a valid phone number' },
        { loc: ['body', 'ip_allowlist', 1], msg: 'not a network' },
        { loc: ['query', 'since'], msg: 'later than until' },
      ],
    })
    expect(e.fieldErrors()).toEqual({
      phone: 'not a valid phone number',
      'ip_allowlist.1': 'not a network',
      since: 'later than until',
    })
  })
})

describe('ApiErrorAlert', () => {
  it('shows the translated message and the request id', () => {
    const wrapper = mount(ApiErrorAlert, {
      props: { error: err('ip_not_allowed', { requestId: 'req-42' }) },
      global: { plugins: [i18n] },
    })
    expect(wrapper.text()).toContain('IP allow-list')
    expect(wrapper.text()).toContain('req-42')
  })
})

describe('CustomerForm', () => {
  const mountForm = (customer: Customer | null) =>
    mount(CustomerForm, {
      props: { modelValue: true, customer },
      global: { plugins: [i18n], stubs: { teleport: true, ElSelect: true } },
    })

  it('shows the server’s field errors next to the fields', async () => {
    const api = fakeApi({
      'POST /api/v1/customers': () =>
        apiError(422, 'validation_error', 'phone: Value error, not a valid phone number', [
          { loc: ['body', 'phone'], msg: 'Value error, not a valid phone number', type: 'value_error' },
        ]),
    })
    const wrapper = mountForm(null)
    await flushPromises()
    await wrapper.find('input[name="name"]').setValue('张伟')
    await wrapper.find('input[name="phone"]').setValue('12345')
    await wrapper.find('[data-test="customer-save"]').trigger('click')
    await flushPromises()

    expect(api.calls('POST', '/api/v1/customers')[0].body).toMatchObject({ name: '张伟', phone: '12345' })
    await new Promise((resolve) => setTimeout(resolve, 150)) // Element Plus debounces the state
    const errors = wrapper.findAll('.el-form-item__error').map((e) => e.text())
    expect(errors).toEqual(['Value error, not a valid phone number'])
    expect(wrapper.text()).toContain('Some fields need attention.')
    expect(wrapper.text()).toContain('req-test-1')
  })

  it('never puts masked values into inputs nor sends them back when editing', async () => {
    const customer: Customer = {
      id: 'c1', name: '王芳', phone: '+86138****1234', email: 'w***8@example.com',
      id_number: '110***********1234', bank_card: '***************1234', address: '北京市朝阳区****',
      company: null, tags: [], attributes: {}, created_at: '2026-01-01T00:00:00Z',
      updated_at: '2026-01-01T00:00:00Z', masked: true,
    }
    const api = fakeApi({
      'PATCH /api/v1/customers/c1': (req) => ({ status: 200, body: { ...customer, ...(req.body as object) } }),
    })
    const wrapper = mountForm(customer)
    await flushPromises()
    expect((wrapper.find('input[name="phone"]').element as HTMLInputElement).value).toBe('')
    await wrapper.find('input[name="name"]').setValue('王芳芳')
    await wrapper.find('[data-test="customer-save"]').trigger('click')
    await flushPromises()
    expect(api.calls('PATCH', '/api/v1/customers/c1')[0].body).toEqual({ name: '王芳芳' })
    expect(wrapper.emitted('saved')?.[0]?.[0]).toMatchObject({ name: '王芳芳' })
  })
})
