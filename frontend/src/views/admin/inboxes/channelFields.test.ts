// Channel settings forms: secrets are write-only, unknown stored settings survive an edit,
// empty fields are sent so that the server names them or clears them.
import { describe, expect, it } from 'vitest'

import { CHANNEL_FORMS, formValues, settingsBody } from './channelFields'

const storedEmail = {
  from_address: 'service@example.com',
  imap: { host: 'imap.example.com', port: null, tls: 'tls', user: 'service', mailbox: 'INBOX' },
  smtp: { host: 'smtp.example.com', port: 587, tls: 'starttls', user: 'service' },
  allow_private: [],
  poll_seconds: 60,
  max_attachments: 7, // not on the form: kept as stored
  state: { uid: 42 }, // written by the poller: kept by the server
}

describe('channel settings forms', () => {
  it('start from the stored settings, with every secret empty', () => {
    const values = formValues('email', storedEmail)
    expect(values['imap.host']).toBe('imap.example.com')
    expect(values['smtp.port']).toBe(587)
    expect(values['imap.password']).toBe('')
    expect(values['smtp.password']).toBe('')
    expect(formValues('sms', null)['access_key_secret']).toBe('')
    expect(formValues('web_chat', null)['title.zh-CN']).toBe('在线客服')
  })

  it('leave an empty secret out (the stored one is kept) and send a typed one', () => {
    const values = formValues('email', storedEmail)
    values['smtp.password'] = '  new-pass '
    const body = settingsBody('email', storedEmail, values)
    expect(body).not.toHaveProperty('imap.password')
    expect((body.imap as Record<string, unknown>).password).toBeUndefined()
    expect((body.smtp as Record<string, unknown>).password).toBe('new-pass')
    // fields this form does not show keep their stored values
    expect(body.max_attachments).toBe(7)
    expect(body.state).toEqual({ uid: 42 })
  })

  it('send an emptied optional field as null, an emptied required one as "" for the server to name', () => {
    const values = formValues('sms', { gateway_url: 'https://sms.example.com', access_key_id: 'k', sign_name: '云栖优选', sender_number: '1069123' })
    values['sender_number'] = ''
    values['sign_name'] = ' '
    values['max_segments'] = null
    values['allow_private'] = ['10.0.0.5', '', '10.0.0.5']
    const body = settingsBody('sms', null, values)
    expect(body.sender_number).toBeNull()
    expect(body.sign_name).toBe('')
    expect(body).not.toHaveProperty('max_segments')
    expect(body.allow_private).toEqual(['10.0.0.5'])
  })

  it('nest dotted paths (localised texts, pre-chat rules)', () => {
    const values = formValues('web_chat', null)
    values['title.en'] = 'Talk to us'
    values['prechat.enabled'] = true
    values['prechat.phone'] = 'required'
    const body = settingsBody('web_chat', null, values)
    expect(body.title).toEqual({ 'zh-CN': '在线客服', en: 'Talk to us' })
    expect(body.prechat).toEqual({ enabled: true, name: 'optional', phone: 'required', email: 'optional' })
  })

  it('describe every channel that has settings', () => {
    expect(Object.keys(CHANNEL_FORMS).sort()).toEqual(['api', 'email', 'sms', 'voice', 'web_chat'])
  })
})
