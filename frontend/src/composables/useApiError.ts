// Turning ApiErrors into text for people: known codes are translated, others keep the
// server's message. Forms get per-field messages from details[].loc.
import { reactive, ref } from 'vue'
import { useI18n } from 'vue-i18n'

import { ApiError, isApiError, networkError } from '@/api/errors'

type T = (key: string, values?: Record<string, unknown>) => string

export function describeError(error: unknown, t: T): string {
  const e = isApiError(error) ? error : networkError(error)
  switch (e.code) {
    case 'account_locked':
      return e.retryAfter
        ? t('errors.account_locked', { minutes: Math.max(1, Math.ceil(e.retryAfter / 60)) })
        : t('errors.account_locked_plain')
    case 'rate_limited':
      return t('errors.rate_limited', { seconds: e.retryAfter ?? 60 })
    case 'conflict':
      return t('errors.conflict', { message: e.message })
    case 'invalid_credentials':
    case 'ip_not_allowed':
    case 'network_error':
    case 'forbidden':
    case 'not_found':
    case 'session_expired':
    case 'internal_error':
      return t(`errors.${e.code}`)
    case 'validation_error':
      return Object.keys(e.fieldErrors()).length ? t('errors.validation_error') : e.message
    default:
      return e.message || t('errors.generic', { message: e.code })
  }
}

/** Errors of one form: `general` for the alert, `fields[name]` for `<el-form-item :error>`. */
export function useFormErrors() {
  const general = ref<ApiError | null>(null)
  const fields = reactive<Record<string, string>>({})

  function clear(): void {
    general.value = null
    for (const key of Object.keys(fields)) delete fields[key]
  }

  /** Record an error; returns it so callers can `throw capture(e)` if they want. */
  function capture(error: unknown): ApiError {
    clear()
    const e = isApiError(error) ? error : networkError(error)
    general.value = e
    Object.assign(fields, e.fieldErrors())
    return e
  }

  return { general, fields, clear, capture }
}

export function useErrorText() {
  const { t } = useI18n()
  return (error: unknown) => describeError(error, t)
}
