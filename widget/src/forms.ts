// The pre-chat form and the offline form (which carries the message itself).

import type { Config, Profile } from './api'
import { h } from './dom'
import type { T } from './i18n'

export interface FormHooks {
  t: T
  text: (value: { 'zh-CN': string; en: string }) => string
  /** start the session with the visitor's answers (throws with a message to show) */
  submit: (profile: Profile, message: string) => Promise<void>
}

const FIELDS: Array<[keyof Profile, string]> = [['name', 'text'], ['phone', 'tel'], ['email', 'email']]

/** The form's element; `offline` adds the message box and changes the wording. */
export function visitorForm(c: Config, offline: boolean, hooks: FormHooks): HTMLFormElement {
  const { t, text } = hooks
  const inputs: Partial<Record<keyof Profile, HTMLInputElement>> = {}
  const error = h('div', { class: 'error', role: 'alert' })
  const message = h('textarea', { rows: '4', required: true, maxlength: String(c.max_message_chars) })
  const form = h('form', { class: 'card' }, h('p', {}, offline ? text(c.offline_message) : t('prechatTitle')))
  for (const [name, type] of FIELDS) {
    const rule = c.prechat.enabled ? c.prechat[name] : name === 'name' ? 'optional' : offline ? 'optional' : 'hidden'
    if (rule === 'hidden') continue
    const input = (inputs[name] = h('input', { type, name, required: rule === 'required', autocomplete: name === 'phone' ? 'tel' : name }))
    form.append(h('label', {}, `${t(name)}${rule === 'required' ? ` (${t('required')})` : ''}`, input))
  }
  if (offline) form.append(h('label', {}, t('message'), message))
  const submit = h('button', { class: 'primary', type: 'submit' }, offline ? t('leave') : t('start'))
  form.append(error, submit)
  form.onsubmit = async (e) => {
    e.preventDefault()
    submit.disabled = true
    error.textContent = ''
    const profile: Profile = {}
    for (const [name] of FIELDS) {
      const value = inputs[name]?.value.trim()
      if (value) profile[name] = value
    }
    try {
      await hooks.submit(profile, offline ? message.value.trim() : '')
    } catch (err) {
      error.textContent = t('error', { message: (err as Error).message })
      submit.disabled = false
    }
  }
  return form
}
