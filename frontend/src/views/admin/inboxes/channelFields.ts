// The settings form of each channel, as data: one entry per field (a dotted path into the
// inbox's `settings`), grouped into sections. Mirrors the pydantic models in
// relaydesk/channels/<channel>/settings.py; the server validates and its field errors
// (body.settings.<path>) are shown at the field. Secrets are write-only: the form starts them
// empty, and an empty secret is not sent, so the stored one is kept.

export const CHANNELS = ['web_chat', 'email', 'sms', 'api', 'voice'] as const

export type FieldKind = 'text' | 'secret' | 'number' | 'select' | 'switch' | 'list' | 'textarea' | 'color' | 'seats'

/** A call-centre seat (座席号) and the Relaydesk user who sits at it. */
export interface Seat {
  seat: string
  email: string
}

export interface FieldSpec {
  path: string
  kind: FieldKind
  /** i18n key under inboxes.fields */
  label: string
  required?: boolean
  options?: string[]
  min?: number
  max?: number
  step?: number
  default?: unknown
  placeholder?: string
  /** i18n key under inboxes.hints */
  hint?: string
}

export interface Section {
  /** i18n key under inboxes.sections */
  title: string
  fields: FieldSpec[]
}

const TLS = ['tls', 'starttls', 'none']

export const CHANNEL_FORMS: Record<string, Section[]> = {
  email: [
    {
      title: 'mailbox',
      fields: [
        { path: 'from_address', kind: 'text', label: 'fromAddress', required: true, placeholder: 'service@example.com' },
        { path: 'from_name', kind: 'text', label: 'fromName' },
        { path: 'poll_seconds', kind: 'number', label: 'pollSeconds', min: 10, max: 3600, default: 60 },
        { path: 'backfill_days', kind: 'number', label: 'backfillDays', min: 0, max: 30, default: 1 },
      ],
    },
    {
      title: 'imap',
      fields: [
        { path: 'imap.host', kind: 'text', label: 'host', required: true, placeholder: 'imap.example.com' },
        { path: 'imap.port', kind: 'number', label: 'port', min: 1, max: 65535, hint: 'portByTls' },
        { path: 'imap.tls', kind: 'select', label: 'tls', options: TLS, default: 'tls' },
        { path: 'imap.user', kind: 'text', label: 'user', required: true },
        { path: 'imap.password', kind: 'secret', label: 'password' },
        { path: 'imap.mailbox', kind: 'text', label: 'mailboxName', default: 'INBOX' },
      ],
    },
    {
      title: 'smtp',
      fields: [
        { path: 'smtp.host', kind: 'text', label: 'host', required: true, placeholder: 'smtp.example.com' },
        { path: 'smtp.port', kind: 'number', label: 'port', min: 1, max: 65535, hint: 'portByTls' },
        { path: 'smtp.tls', kind: 'select', label: 'tls', options: TLS, default: 'tls' },
        { path: 'smtp.user', kind: 'text', label: 'user' },
        { path: 'smtp.password', kind: 'secret', label: 'password' },
      ],
    },
    {
      title: 'network',
      fields: [{ path: 'allow_private', kind: 'list', label: 'allowPrivate', default: [], hint: 'allowPrivate' }],
    },
  ],
  sms: [
    {
      title: 'gateway',
      fields: [
        { path: 'gateway_url', kind: 'text', label: 'gatewayUrl', required: true, placeholder: 'https://sms.example.com' },
        { path: 'access_key_id', kind: 'text', label: 'accessKeyId', required: true },
        { path: 'access_key_secret', kind: 'secret', label: 'accessKeySecret' },
        { path: 'sign_name', kind: 'text', label: 'signName', required: true, hint: 'signName' },
        { path: 'sender_number', kind: 'text', label: 'senderNumber', placeholder: '1069…' },
        { path: 'max_segments', kind: 'number', label: 'maxSegments', min: 1, max: 8, default: 5 },
        { path: 'timeout_seconds', kind: 'number', label: 'timeoutSeconds', min: 1, max: 60, step: 0.5, default: 10 },
      ],
    },
    {
      title: 'network',
      fields: [{ path: 'allow_private', kind: 'list', label: 'allowPrivate', default: [], hint: 'allowPrivate' }],
    },
  ],
  api: [
    {
      title: 'app',
      fields: [
        { path: 'app_id', kind: 'text', label: 'appId', required: true, placeholder: 'shop-app', hint: 'appId' },
        { path: 'webhook_url', kind: 'text', label: 'webhookUrl', placeholder: 'https://app.example.com/relaydesk', hint: 'webhookUrl' },
        { path: 'unionid_namespace', kind: 'text', label: 'unionidNamespace' },
        { path: 'trust_contact_details', kind: 'switch', label: 'trustContacts', default: false, hint: 'trustContacts' },
        { path: 'timeout_seconds', kind: 'number', label: 'timeoutSeconds', min: 1, max: 60, step: 0.5, default: 10 },
      ],
    },
    {
      title: 'network',
      fields: [{ path: 'allow_private', kind: 'list', label: 'allowPrivate', default: [], hint: 'allowPrivate' }],
    },
  ],
  voice: [
    {
      title: 'callcenter',
      fields: [
        { path: 'base_url', kind: 'text', label: 'callcenterUrl', required: true, placeholder: 'https://cc.example.com', hint: 'callcenterUrl' },
        { path: 'app_key', kind: 'text', label: 'appKey', required: true },
        { path: 'app_secret', kind: 'secret', label: 'appSecret', hint: 'appSecret' },
        { path: 'hotline', kind: 'text', label: 'hotline', placeholder: '4008001234', hint: 'hotline' },
        { path: 'dial_instance', kind: 'text', label: 'dialInstance', default: 'callcenter', hint: 'dialInstance' },
        { path: 'screen_pop', kind: 'switch', label: 'screenPop', default: true, hint: 'screenPop' },
        { path: 'tolerance_seconds', kind: 'number', label: 'toleranceSeconds', min: 30, max: 3600, default: 300 },
      ],
    },
    {
      title: 'seats',
      fields: [{ path: 'seats', kind: 'seats', label: 'seats', default: [], hint: 'seats' }],
    },
  ],
  web_chat: [
    {
      title: 'widget',
      fields: [
        { path: 'allowed_origins', kind: 'list', label: 'allowedOrigins', default: [], placeholder: 'https://shop.example.com', hint: 'allowedOrigins' },
        { path: 'title.zh-CN', kind: 'text', label: 'titleZh', default: '在线客服' },
        { path: 'title.en', kind: 'text', label: 'titleEn', default: 'Chat with us' },
        { path: 'greeting.zh-CN', kind: 'textarea', label: 'greetingZh', default: '您好！有什么可以帮您？' },
        { path: 'greeting.en', kind: 'textarea', label: 'greetingEn', default: 'Hi! How can we help you?' },
        { path: 'color', kind: 'color', label: 'color', default: '#1f6feb' },
        { path: 'position', kind: 'select', label: 'position', options: ['right', 'left'], default: 'right' },
        { path: 'locale', kind: 'select', label: 'locale', options: ['auto', 'zh-CN', 'en'], default: 'auto' },
      ],
    },
    {
      title: 'prechat',
      fields: [
        { path: 'prechat.enabled', kind: 'switch', label: 'prechatEnabled', default: false },
        { path: 'prechat.name', kind: 'select', label: 'prechatName', options: ['required', 'optional', 'hidden'], default: 'optional' },
        { path: 'prechat.phone', kind: 'select', label: 'prechatPhone', options: ['required', 'optional', 'hidden'], default: 'optional' },
        { path: 'prechat.email', kind: 'select', label: 'prechatEmail', options: ['required', 'optional', 'hidden'], default: 'optional' },
      ],
    },
    {
      title: 'security',
      fields: [
        { path: 'identity_verification', kind: 'switch', label: 'identityVerification', default: false, hint: 'identityVerification' },
        { path: 'allow_anonymous', kind: 'switch', label: 'allowAnonymous', default: true },
        { path: 'messages_per_minute', kind: 'number', label: 'messagesPerMinute', min: 1, max: 600, default: 30 },
        { path: 'max_message_chars', kind: 'number', label: 'maxMessageChars', min: 1, max: 20000, default: 5000 },
      ],
    },
  ],
}

export function formsOf(channel: string): Section[] {
  return CHANNEL_FORMS[channel] ?? []
}

function parts(path: string): string[] {
  return path.split('.')
}

export function getPath(data: Record<string, unknown>, path: string): unknown {
  let node: unknown = data
  for (const p of parts(path)) {
    if (node === null || typeof node !== 'object') return undefined
    node = (node as Record<string, unknown>)[p]
  }
  return node
}

export function setPath(data: Record<string, unknown>, path: string, value: unknown): void {
  const keys = parts(path)
  let node = data
  for (const k of keys.slice(0, -1)) {
    if (node[k] === null || typeof node[k] !== 'object') node[k] = {}
    node = node[k] as Record<string, unknown>
  }
  node[keys[keys.length - 1]!] = value
}

function deletePath(data: Record<string, unknown>, path: string): void {
  const keys = parts(path)
  const parent = getPath(data, keys.slice(0, -1).join('.')) ?? (keys.length === 1 ? data : undefined)
  if (parent && typeof parent === 'object') delete (parent as Record<string, unknown>)[keys[keys.length - 1]!]
}

/** The form's values: the stored settings (or the defaults), secrets always empty. */
export function formValues(channel: string, stored: Record<string, unknown> | null | undefined): Record<string, unknown> {
  const values: Record<string, unknown> = {}
  for (const section of formsOf(channel)) {
    for (const f of section.fields) {
      const current = stored ? getPath(stored, f.path) : undefined
      let value: unknown
      if (f.kind === 'secret') value = ''
      else if (f.kind === 'seats') value = ((current as Seat[] | undefined) ?? []).map((s) => ({ seat: s.seat, email: s.email }))
      else if (current !== undefined && current !== null) value = f.kind === 'list' ? [...(current as unknown[])] : current
      else if (f.default !== undefined) value = Array.isArray(f.default) ? [...f.default] : f.default
      else value = f.kind === 'number' ? null : f.kind === 'switch' ? false : ''
      values[f.path] = value
    }
  }
  return values
}

/**
 * The `settings` to send: the stored ones (so fields this form does not show keep their
 * values) with the form's fields over them. An empty secret is left out (the stored one is
 * kept); an empty optional field becomes null; an empty required one is sent as '' so that
 * the server names it.
 */
export function settingsBody(
  channel: string,
  stored: Record<string, unknown> | null | undefined,
  values: Record<string, unknown>,
): Record<string, unknown> {
  const body = JSON.parse(JSON.stringify(stored ?? {})) as Record<string, unknown>
  for (const section of formsOf(channel)) {
    for (const f of section.fields) {
      let value = values[f.path]
      if (typeof value === 'string') value = value.trim()
      if (f.kind === 'secret') {
        if (value) setPath(body, f.path, value)
        else deletePath(body, f.path)
        continue
      }
      if (f.kind === 'seats') {
        setPath(body, f.path, seatsBody(value))
        continue
      }
      if (f.kind === 'list') {
        const list = Array.isArray(value) ? value : []
        setPath(body, f.path, [...new Set(list.map((v) => String(v).trim()).filter(Boolean))])
        continue
      }
      if (value === '' || value === null || value === undefined) {
        if (f.required || typeof f.default === 'string') setPath(body, f.path, '')
        else if (f.kind === 'number') deletePath(body, f.path)
        else setPath(body, f.path, null)
        continue
      }
      setPath(body, f.path, value)
    }
  }
  return body
}

/** The seat rows to send: trimmed, the blank ones left out (a half-filled row is sent for the
 * server to name). */
export function seatsBody(value: unknown): Seat[] {
  const rows = Array.isArray(value) ? (value as Partial<Seat>[]) : []
  return rows
    .map((r) => ({ seat: String(r.seat ?? '').trim(), email: String(r.email ?? '').trim() }))
    .filter((r) => r.seat || r.email)
}

/** The error key of a field (ApiError.fieldErrors() turns body.settings.imap.host into this). */
export function errorKey(path: string): string {
  return `settings.${path}`
}

/** The URLs an inbox's outside system calls, to be configured there (none for mail and chat). */
export function callbackUrls(channel: string, inboxId: string, origin: string): { key: string; url: string }[] {
  const base = `${origin.replace(/\/$/, '')}/api/v1/channels`
  const id = encodeURIComponent(inboxId)
  switch (channel) {
    case 'sms':
      return [
        { key: 'smsInbound', url: `${base}/sms/${id}/inbound` },
        { key: 'smsReports', url: `${base}/sms/${id}/reports` },
      ]
    case 'voice':
      return [{ key: 'voiceEvents', url: `${base}/voice/${id}/events` }]
    case 'api':
      return [{ key: 'apiMessages', url: `${base}/api/${id}/messages` }]
    default:
      return []
  }
}
