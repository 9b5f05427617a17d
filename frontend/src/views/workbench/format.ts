// Pure helpers of the workbench: what a message of each channel holds (e-mail parts, call
// records, attachments), links that are safe to offer, short times, snooze presets.
// Customer content is always shown as text; nothing here produces HTML.
import type { Customer } from '@/api/client'
import type { Message } from '@/stores/workbench'

type Json = Record<string, unknown>

function obj(value: unknown): Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : {}
}

function text(value: unknown): string | null {
  if (typeof value === 'string') return value.trim() ? value : null
  if (typeof value === 'number') return String(value)
  return null
}

/** Only absolute http(s) links are offered (never javascript:, data: or relative ones). */
export function safeUrl(value: unknown): string | null {
  if (typeof value !== 'string') return null
  try {
    const url = new URL(value)
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null
  } catch {
    return null
  }
}

export interface EmailParts {
  subject: string | null
  from: string | null
  to: string | null
  /** the quoted earlier mail, folded away by default */
  quoted: string | null
  /** sanitised HTML of the mail, shown only on request in a sandboxed frame */
  html: string | null
}

function addresses(value: unknown): string | null {
  if (Array.isArray(value)) {
    const all = value.map((v) => (typeof v === 'string' ? v : text(obj(v).address))).filter(Boolean)
    return all.length ? all.join(', ') : null
  }
  return text(value)
}

export function emailParts(message: Pick<Message, 'content'>): EmailParts {
  const c = obj(message.content)
  const from = obj(c.from)
  const name = text(from.name)
  const address = text(from.address) ?? text(c.from)
  return {
    subject: text(c.subject),
    from: name && address ? `${name} <${address}>` : (address ?? name),
    to: addresses(c.to),
    quoted: text(c.quoted),
    html: text(c.html),
  }
}

export interface TranscriptLine {
  speaker: string | null
  text: string
}

export interface CallInfo {
  direction: string | null
  from: string | null
  to: string | null
  durationSeconds: number | null
  recordingUrl: string | null
  transcript: TranscriptLine[]
  status: string | null
}

/** A call record's details (content_type "call"), whatever the call centre named them. */
export function callInfo(message: Pick<Message, 'content'>): CallInfo {
  const c = obj(message.content)
  const seconds = Number(c.duration_seconds ?? c.duration ?? NaN)
  const raw = c.transcript
  let transcript: TranscriptLine[] = []
  if (typeof raw === 'string' && raw.trim()) {
    transcript = raw.split(/\n+/).filter((l) => l.trim()).map((line) => ({ speaker: null, text: line }))
  } else if (Array.isArray(raw)) {
    transcript = raw
      .map((item) => {
        if (typeof item === 'string') return { speaker: null, text: item }
        const o = obj(item)
        return { speaker: text(o.speaker) ?? text(o.role), text: text(o.text) ?? '' }
      })
      .filter((l) => l.text)
  }
  return {
    direction: text(c.direction),
    from: text(c.from),
    to: text(c.to),
    durationSeconds: Number.isFinite(seconds) ? seconds : null,
    recordingUrl: safeUrl(c.recording_url ?? c.recording),
    transcript,
    status: text(c.status) ?? text(c.outcome),
  }
}

/** 95 → "1:35"; 3725 → "1:02:05". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds))
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const rest = String(s % 60).padStart(2, '0')
  return h ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`
}

export interface Attachment {
  /** position in message.attachments: the download endpoint's {index} */
  index: number
  name: string
  contentType: string | null
  size: number | null
  url: string | null
  refused: string | null
  /** kept by Relaydesk (no public link): downloaded through the API with the agent's token */
  stored: boolean
}

export function attachments(message: Pick<Message, 'attachments'>): Attachment[] {
  return (message.attachments ?? []).map((raw, index) => {
    const a = obj(raw)
    const url = safeUrl(a.url)
    const refused = text(a.refused)
    return {
      index,
      name: text(a.filename) ?? text(a.name) ?? (url ? (url.split('/').pop() ?? url) : '?'),
      contentType: text(a.content_type),
      size: typeof a.size === 'number' ? a.size : null,
      url,
      refused,
      stored: !refused && !!text(a.storage_key),
    }
  })
}

export function fileSize(bytes: number | null): string {
  if (bytes === null) return ''
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`
}

/** A card's readable fields (title, description, and other scalars). */
export function cardLines(message: Pick<Message, 'content'>): [string, string][] {
  return Object.entries(obj(message.content))
    .filter(([, v]) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
    .map(([k, v]) => [k, String(v)])
}

/** The name to show for a customer; the short id while it loads. */
export function customerName(customer: Customer | undefined, id: string): string {
  return customer?.name || `#${id.slice(-6)}`
}

export function initial(name: string): string {
  const first = [...name.replace(/^#/, '').trim()][0]
  return first ? first.toUpperCase() : '?'
}

/** Time of day today, else a short date (in the given locale). */
export function shortTime(iso: string, locale: string, now: Date = new Date()): string {
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return ''
  const sameDay = d.toDateString() === now.toDateString()
  return new Intl.DateTimeFormat(locale, sameDay ? { hour: '2-digit', minute: '2-digit' } : { month: 'numeric', day: 'numeric' }).format(d)
}

/** A message's time: hours and minutes today, with the date on other days. */
export function messageTime(iso: string, locale: string, now: Date = new Date()): string {
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return ''
  const sameDay = d.toDateString() === now.toDateString()
  const opts: Intl.DateTimeFormatOptions = sameDay
    ? { hour: '2-digit', minute: '2-digit' }
    : { month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit' }
  return new Intl.DateTimeFormat(locale, opts).format(d)
}

export type SnoozePreset = 'hour' | 'fourHours' | 'tomorrow' | 'nextWeek'
export const SNOOZE_PRESETS: SnoozePreset[] = ['hour', 'fourHours', 'tomorrow', 'nextWeek']

/** When a snooze preset ends: in 1 h / 4 h, tomorrow 09:00, next Monday 09:00 (local time). */
export function snoozeUntil(preset: SnoozePreset, now: Date = new Date()): Date {
  const d = new Date(now.getTime())
  switch (preset) {
    case 'hour':
      return new Date(now.getTime() + 3_600_000)
    case 'fourHours':
      return new Date(now.getTime() + 4 * 3_600_000)
    case 'tomorrow':
      d.setDate(d.getDate() + 1)
      d.setHours(9, 0, 0, 0)
      return d
    case 'nextWeek': {
      const days = ((8 - d.getDay()) % 7) || 7
      d.setDate(d.getDate() + days)
      d.setHours(9, 0, 0, 0)
      return d
    }
  }
}

/** The `/word` being typed at the caret (start of the text or after whitespace), if any. */
export function slashQuery(value: string, caret: number): { start: number; query: string } | null {
  const before = value.slice(0, caret)
  const match = /(^|\s)\/([\w-]*)$/.exec(before)
  if (!match) return null
  return { start: before.length - match[2]!.length - 1, query: match[2]! }
}

/** Replace the `/word` at [start, caret) with the text. */
export function insertAt(value: string, start: number, caret: number, text: string): string {
  return value.slice(0, start) + text + value.slice(caret)
}
