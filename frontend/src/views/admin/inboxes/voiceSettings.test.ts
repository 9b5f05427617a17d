// The call-centre (voice) inbox settings: the form mirrors relaydesk/channels/voice/settings.py,
// the AppSecret is write-only, seats are rows whose server errors land on the right row, and
// the addresses the call centre and the SMS gateway call are shown with a copy button.
import { flushPromises, mount } from '@vue/test-utils'
import { ElForm } from 'element-plus'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { defineComponent, h, reactive } from 'vue'

import { i18n, setLocale } from '@/i18n'

import CallbackUrls from './CallbackUrls.vue'
import { callbackUrls, formValues, settingsBody, type Seat } from './channelFields'
import SettingsForm from './SettingsForm.vue'

const stored = {
  base_url: 'https://cc.example.com',
  app_key: 'yh-demo-app',
  hotline: '4008001234',
  seats: [{ seat: '1001', email: 'agent@demo.relaydesk.local' }],
  dial_instance: 'callcenter',
  screen_pop: true,
  tolerance_seconds: 300,
}

afterEach(() => setLocale('en'))

describe('voice inbox settings', () => {
  it('start from the stored settings with the AppSecret empty and the seats copied', () => {
    const values = formValues('voice', stored)
    expect(values['base_url']).toBe('https://cc.example.com')
    expect(values['app_secret']).toBe('')
    expect(values['seats']).toEqual(stored.seats)
    ;(values['seats'] as Seat[])[0]!.seat = '2002'
    expect(stored.seats[0]!.seat).toBe('1001') // editing the form never changes what was loaded
    const fresh = formValues('voice', null)
    expect(fresh['dial_instance']).toBe('callcenter')
    expect(fresh['screen_pop']).toBe(true)
    expect(fresh['seats']).toEqual([])
  })

  it('send trimmed seats without blank rows, keep the stored AppSecret unless one is typed', () => {
    const values = formValues('voice', stored)
    values['seats'] = [{ seat: ' 1001 ', email: ' a@demo.relaydesk.local' }, { seat: '', email: ' ' }, { seat: '1002', email: '' }]
    values['hotline'] = ''
    let body = settingsBody('voice', stored, values)
    expect(body.seats).toEqual([{ seat: '1001', email: 'a@demo.relaydesk.local' }, { seat: '1002', email: '' }])
    expect(body).not.toHaveProperty('app_secret')
    expect(body.hotline).toBeNull()
    values['app_secret'] = ' s3cret '
    body = settingsBody('voice', stored, values)
    expect(body.app_secret).toBe('s3cret')
  })

  it('render the call-centre form in Chinese, with each seat error at its row', async () => {
    setLocale('zh-CN')
    const values = reactive(formValues('voice', null))
    values['seats'] = [{ seat: '1001', email: 'a@x.cn' }, { seat: '', email: '' }, { seat: '1002', email: 'bad' }]
    // the server numbers the rows it got: the blank one was not sent, so "1" is the third row
    const errors = { 'settings.seats.1.email': 'not a valid e-mail address', 'settings.app_secret': 'required (a secret: give it once)' }
    const InForm = defineComponent({ render: () => h(ElForm, null, () => h(SettingsForm, { channel: 'voice', values, errors })) })
    const wrapper = mount(InForm, { global: { plugins: [i18n] } })
    await flushPromises()
    const text = wrapper.text()
    expect(text).toContain('呼叫中心')
    expect(text).toContain('座席')
    // Element Plus shows a form item's error after a short debounce
    await vi.waitFor(() => expect(wrapper.find('.el-form-item__error').text()).toBe('required (a secret: give it once)'))
    expect(wrapper.find('input[data-field="app_secret"]').attributes('type')).toBe('password')
    const rows = wrapper.findAll('[data-test="seat-row"]')
    expect(rows).toHaveLength(3)
    expect(rows[2]!.find('[data-test="seat-error"]').text()).toBe('not a valid e-mail address')
    expect(rows[0]!.find('[data-test="seat-error"]').exists()).toBe(false)
    // a row is added and removed
    await wrapper.find('[data-test="seat-add"]').trigger('click')
    expect(values['seats']).toHaveLength(4)
    await flushPromises()
    expect(wrapper.findAll('[data-test="seat-row"]')).toHaveLength(4)
    await wrapper.findAll('[data-test="seat-remove"]')[1]!.trigger('click')
    expect((values['seats'] as Seat[]).map((s) => s.seat)).toEqual(['1001', '1002', ''])
  })

  it('show the addresses the call centre and the SMS gateway call, with a copy button', async () => {
    expect(callbackUrls('email', 'i-1', 'https://desk.example.com')).toEqual([])
    expect(callbackUrls('sms', 'i-1', 'https://desk.example.com/').map((u) => u.url)).toEqual([
      'https://desk.example.com/api/v1/channels/sms/i-1/inbound',
      'https://desk.example.com/api/v1/channels/sms/i-1/reports',
    ])
    const writeText = vi.fn().mockResolvedValue(undefined)
    vi.spyOn(navigator, 'clipboard', 'get').mockReturnValue({ writeText } as unknown as Clipboard)
    const wrapper = mount(CallbackUrls, { props: { inbox: { id: 'inbox-7', channel: 'voice' } }, global: { plugins: [i18n] } })
    const url = `${window.location.origin}/api/v1/channels/voice/inbox-7/events`
    expect(wrapper.find('[data-test="callback-url"]').text()).toBe(`POST ${url}`)
    expect(wrapper.text()).toContain('Call events')
    await wrapper.find('[data-test="callback-copy"]').trigger('click')
    await flushPromises()
    expect(writeText).toHaveBeenCalledWith(url)
    const none = mount(CallbackUrls, { props: { inbox: { id: 'inbox-8', channel: 'web_chat' } }, global: { plugins: [i18n] } })
    expect(none.find('[data-test="callback-urls"]').exists()).toBe(false)
  })
})
