import { mount } from '@vue/test-utils'
import { afterEach, describe, expect, it } from 'vitest'
import { defineComponent, h, nextTick } from 'vue'
import { useI18n } from 'vue-i18n'

import { i18n, initialLocale, LOCALE_KEY, permissionLabel, roleLabel, setLocale } from '.'
import en from './locales/en'
import zhCN from './locales/zh-CN'

function keys(obj: object, prefix = ''): string[] {
  return Object.entries(obj).flatMap(([k, v]) =>
    v && typeof v === 'object' ? keys(v, `${prefix}${k}.`) : [`${prefix}${k}`],
  )
}

afterEach(() => {
  localStorage.clear()
  setLocale('en')
})

describe('initial language', () => {
  it('is zh-CN for a Chinese browser and English otherwise', () => {
    expect(initialLocale(null, 'zh-CN')).toBe('zh-CN')
    expect(initialLocale(null, 'zh-TW')).toBe('zh-CN')
    expect(initialLocale(null, 'zh')).toBe('zh-CN')
    expect(initialLocale(null, 'en-GB')).toBe('en')
    expect(initialLocale(null, 'de-DE')).toBe('en')
    expect(initialLocale(null, undefined)).toBe('en')
  })

  it('prefers the remembered choice, ignoring junk', () => {
    expect(initialLocale('en', 'zh-CN')).toBe('en')
    expect(initialLocale('zh-CN', 'en-US')).toBe('zh-CN')
    expect(initialLocale('klingon', 'zh-CN')).toBe('zh-CN')
  })
})

describe('switching', () => {
  const Menu = defineComponent({
    setup() {
      const { t } = useI18n()
      return () => h('nav', [h('span', { id: 'home' }, t('menu.home')), h('span', { id: 'audit' }, t('menu.audit'))])
    },
  })

  it('changes the rendered text and is remembered in localStorage', async () => {
    const wrapper = mount(Menu, { global: { plugins: [i18n] } })
    expect(wrapper.find('#home').text()).toBe('Workbench')

    setLocale('zh-CN')
    await nextTick()
    expect(wrapper.find('#home').text()).toBe('工作台')
    expect(wrapper.find('#audit').text()).toBe('审计日志')
    expect(localStorage.getItem(LOCALE_KEY)).toBe('zh-CN')
    expect(document.documentElement.lang).toBe('zh-CN')
    expect(initialLocale(undefined, 'en-US')).toBe('zh-CN')

    setLocale('en')
    await nextTick()
    expect(wrapper.find('#home').text()).toBe('Workbench')
  })

  it('translates permission and built-in role names, keeping custom ones', () => {
    setLocale('zh-CN')
    expect(permissionLabel('customers.pii.reveal')).toContain('审计')
    expect(roleLabel('read-only')).toBe('只读')
    expect(roleLabel('night-shift')).toBe('night-shift')
    expect(permissionLabel('connector_action:orders.refund', 'Refund an order')).toBe('Refund an order')
    setLocale('en')
    expect(roleLabel('read-only')).toBe('Read-only')
  })
})

describe('catalogues', () => {
  it('zh-CN and en have exactly the same keys, none empty', () => {
    expect(keys(zhCN).sort()).toEqual(keys(en).sort())
    for (const key of keys(zhCN)) {
      const value = key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], zhCN)
      expect(value, key).not.toBe('')
    }
  })

  it('every message compiles (no stray @ or | that vue-i18n would misread)', () => {
    for (const locale of ['en', 'zh-CN'] as const) {
      setLocale(locale)
      for (const key of keys(en)) {
        expect(() => i18n.global.t(key, { name: 'x', n: 1, id: 'r', time: 't', seq: 1, problem: 'p', org: 'o', message: 'm', minutes: 2, seconds: 3 }), key).not.toThrow()
      }
    }
    expect(i18n.global.t('login.demoHint')).toContain('readonly@demo.relaydesk.local')
  })
})
