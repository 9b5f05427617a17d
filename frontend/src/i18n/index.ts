// vue-i18n: zh-CN for a Chinese browser, English otherwise; the choice is remembered.
import { computed } from 'vue'
import { createI18n } from 'vue-i18n'

import en from './locales/en'
import zhCN from './locales/zh-CN'
import { EN_PERMISSIONS, ZH_PERMISSIONS } from './permissions'

export const LOCALES = ['zh-CN', 'en'] as const
export type Locale = (typeof LOCALES)[number]
export const LOCALE_KEY = 'relaydesk.locale'

function isLocale(value: unknown): value is Locale {
  return typeof value === 'string' && (LOCALES as readonly string[]).includes(value)
}

/** The remembered choice, else zh-CN when the browser's language starts with zh, else en. */
export function initialLocale(
  stored: string | null = safeGet(LOCALE_KEY),
  browser: string | undefined = typeof navigator !== 'undefined' ? navigator.language : undefined,
): Locale {
  if (isLocale(stored)) return stored
  return browser?.toLowerCase().startsWith('zh') ? 'zh-CN' : 'en'
}

function safeGet(key: string): string | null {
  try {
    return localStorage.getItem(key)
  } catch {
    return null
  }
}

export function makeI18n(locale: Locale = initialLocale()) {
  return createI18n({
    legacy: false,
    locale,
    fallbackLocale: 'en',
    messages: { 'zh-CN': zhCN, en },
    missingWarn: false,
    fallbackWarn: false,
  })
}

export const i18n = makeI18n()

export function currentLocale(): Locale {
  return i18n.global.locale.value as Locale
}

export const locale = computed(() => i18n.global.locale.value as Locale)

/** Switch the UI language and remember it in localStorage. */
export function setLocale(value: Locale): void {
  i18n.global.locale.value = value
  try {
    localStorage.setItem(LOCALE_KEY, value)
  } catch {
    /* not remembered in private mode */
  }
  if (typeof document !== 'undefined') document.documentElement.lang = value
}

/** A permission's label in the UI language; names registered later use the API's text. */
export function permissionLabel(name: string, description?: string): string {
  const known = currentLocale() === 'zh-CN' ? ZH_PERMISSIONS : EN_PERMISSIONS
  return known[name] ?? description ?? name
}

/** A role's display name: the built-in ones are translated, custom ones shown as named. */
export function roleLabel(name: string): string {
  const key = `roleNames.${name.replace(/-/g, '_')}`
  return i18n.global.te(key) ? i18n.global.t(key) : name
}
