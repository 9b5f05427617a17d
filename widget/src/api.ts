// The widget's calls to Relaydesk: config, session, uploads. No cookies are ever sent.

export interface Localised {
  'zh-CN': string
  en: string
}

export interface Config {
  inbox_id: string
  title: Localised
  greeting: Localised
  offline_message: Localised
  color: string
  position: 'left' | 'right'
  locale: 'auto' | 'zh-CN' | 'en'
  prechat: { enabled: boolean; name: string; phone: string; email: string }
  identity_verification: boolean
  allow_anonymous: boolean
  max_message_chars: number
  max_attachment_bytes: number
  attachment_types: string[]
  online: boolean
}

export interface Session {
  token: string
  visitor_id: string
  verified: boolean
  prechat_required: boolean
  online: boolean
}

export interface Profile {
  name?: string
  phone?: string
  email?: string
}

export interface Attachment {
  filename: string
  content_type: string
  size: number
  url: string | null
}

export interface ChatMessage {
  id: string
  conversation_id: string
  direction: 'in' | 'out'
  author: string
  text: string
  content_type: string
  attachments: Attachment[]
  status: string
  created_at: string
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly status: number,
  ) {
    super(message)
  }
}

async function call<R>(url: string, init: RequestInit): Promise<R> {
  const response = await fetch(url, { ...init, credentials: 'omit', mode: 'cors' })
  const body = await response.json().catch(() => null)
  if (!response.ok) {
    const error = body && body.error
    throw new ApiError(error ? error.message : response.statusText, error ? error.code : 'error', response.status)
  }
  return body as R
}

export class Api {
  constructor(
    readonly base: string,
    readonly inbox: string,
  ) {}

  private url(path: string): string {
    return `${this.base}/widget/api/${encodeURIComponent(this.inbox)}/${path}`
  }

  config(): Promise<Config> {
    return call(this.url('config'), { method: 'GET' })
  }

  session(body: Profile & { token?: string | null; user_id?: string; user_hash?: string }): Promise<Session> {
    return call(this.url('session'), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    })
  }

  upload(token: string, file: File): Promise<{ upload: string }> {
    return call(this.url('uploads'), {
      method: 'POST',
      headers: {
        'Content-Type': file.type || 'application/octet-stream',
        'X-Visitor-Token': token,
        'X-Filename': encodeURIComponent(file.name),
      },
      body: file,
    })
  }

  socketUrl(): string {
    return `${this.base.replace(/^http/, 'ws')}/widget/ws/${encodeURIComponent(this.inbox)}`
  }

  fileUrl(path: string | null): string | null {
    return path ? this.base + path : null
  }
}
