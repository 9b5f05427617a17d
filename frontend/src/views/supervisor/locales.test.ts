// The supervisor catalogues: the same keys in both languages, every message compiles, and
// every literal key the screens use exists.
import { describe, expect, it } from 'vitest'
import { createI18n } from 'vue-i18n'

import en from '@/i18n/locales/supervisor.en'
import zh from '@/i18n/locales/supervisor.zh-CN'

function keys(obj: object, prefix = ''): string[] {
  return Object.entries(obj).flatMap(([k, v]) => (v && typeof v === 'object' ? keys(v, `${prefix}${k}.`) : [`${prefix}${k}`]))
}

const sources = {
  ...import.meta.glob('./*.{vue,ts}', { query: '?raw', import: 'default', eager: true }),
  ...import.meta.glob('../admin/{webhooks,inboxes,panels}/*.{vue,ts}', { query: '?raw', import: 'default', eager: true }),
  ...import.meta.glob('../../router/supervisor.ts', { query: '?raw', import: 'default', eager: true }),
} as Record<string, string>

describe('supervisor catalogues', () => {
  it('have the same keys in zh-CN and en, none empty', () => {
    expect(keys(zh).sort()).toEqual(keys(en).sort())
  })

  it('compile every message in both languages', () => {
    const i18n = createI18n({ legacy: false, locale: 'en', messages: { en, 'zh-CN': zh } })
    for (const locale of ['en', 'zh-CN'] as const) {
      i18n.global.locale.value = locale
      for (const key of keys(en)) {
        const out = i18n.global.t(key, { n: 1, name: 'x', team: 't', time: 't', tz: 'UTC', url: 'u', key: 'k', example: 'e' })
        expect(out, key).not.toBe(key)
      }
    }
  })

  it('hold every literal key the screens use', () => {
    const known = new Set(keys(en))
    const used = new Set<string>()
    for (const text of Object.values(sources)) {
      for (const m of text.matchAll(/['`]((?:supervisor|webhooks|inboxes|panelsAdmin)\.[A-Za-z0-9_.]+)['`]/g)) used.add(m[1]!)
    }
    const permissions = new Set(['webhooks.read', 'webhooks.manage', 'webhooks.pii', 'inboxes.manage'])
    const missing = [...used].filter((k) => !known.has(k) && !permissions.has(k))
    expect(missing).toEqual([])
  })
})
