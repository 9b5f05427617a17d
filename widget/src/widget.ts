// The widget: launcher, panel, pre-chat and offline forms, the conversation, attachments.

import { Api, ApiError, type ChatMessage, type Config, type Profile, type Session } from './api'
import { Connection } from './connection'
import { visitorForm } from './forms'
import { CHAT_ICON, CLIP_ICON, formatBytes, h, icon } from './dom'
import { type Locale, pickLocale, type T, translator } from './i18n'
import { CSS } from './styles'

export interface Options {
  base: string
  inbox: string
  locale?: string | null
  userId?: string | null
  userHash?: string | null
}

interface Stored {
  token?: string
}

export class Widget {
  readonly api: Api
  private config: Config | null = null
  private session: Session | null = null
  private conn: Connection | null = null
  private locale: Locale
  private t: T
  private readonly root: ShadowRoot
  private readonly launcher = h('button', { class: 'launcher right', type: 'button' })
  private readonly badge = h('span', { class: 'badge', hidden: true })
  private readonly panel = h('div', { class: 'panel right', role: 'dialog', hidden: true })
  private readonly title = h('h2')
  private readonly banner = h('div', { class: 'banner', hidden: true })
  private readonly log = h('div', { class: 'log', 'aria-live': 'polite' })
  private readonly typing = h('div', { class: 'typing', hidden: true })
  private readonly body = h('div', { style: 'display:contents' })
  private readonly input = h('textarea', { rows: '1' })
  private readonly file = h('input', { type: 'file', hidden: true })
  private readonly seen = new Map<string, HTMLElement>()
  private last: string | null = null
  private unread = 0
  private online = true
  private typingTimer: ReturnType<typeof setTimeout> | undefined
  private sentTyping = 0
  private counter = 0
  /** the visitor filled in the offline form on this page */
  private leftMessage = false

  constructor(private readonly options: Options) {
    this.api = new Api(options.base, options.inbox)
    this.locale = pickLocale(options.locale, navigator.languages || [navigator.language])
    this.t = translator(this.locale)
    const host = h('div', { 'data-relaydesk-chat': options.inbox })
    this.root = host.attachShadow({ mode: 'open' })
    this.addStyles()
    this.launcher.append(icon(CHAT_ICON), this.badge)
    this.launcher.addEventListener('click', () => this.toggle())
    this.root.append(this.launcher, this.panel)
    document.body.append(host)
  }

  private addStyles(): void {
    const sheet = typeof CSSStyleSheet === 'function' && 'replaceSync' in CSSStyleSheet.prototype
    if (sheet && 'adoptedStyleSheets' in this.root) {
      const css = new CSSStyleSheet()
      css.replaceSync(CSS)
      this.root.adoptedStyleSheets = [css]
    } else {
      this.root.append(h('style', {}, CSS))
    }
  }

  // --- storage and session ---------------------------------------------------------------

  private key(): string {
    return `relaydesk-chat:${this.options.inbox}`
  }

  private stored(): Stored {
    try {
      return JSON.parse(localStorage.getItem(this.key()) || '{}') as Stored
    } catch {
      return {}
    }
  }

  private store(values: Stored): void {
    try {
      localStorage.setItem(this.key(), JSON.stringify({ ...this.stored(), ...values }))
    } catch {
      /* private mode: the chat works for this page only */
    }
  }

  async boot(): Promise<void> {
    this.config = await this.api.config()
    const c = this.config
    this.online = c.online
    if (c.locale !== 'auto' && !this.options.locale) this.setLocale(c.locale)
    this.launcher.style.setProperty('--rd-color', c.color)
    this.panel.style.setProperty('--rd-color', c.color)
    for (const el of [this.launcher, this.panel]) el.classList.replace('right', c.position)
    this.render()
    if (this.stored().token || this.options.userId) await this.connect()
  }

  setLocale(locale: Locale): void {
    this.locale = locale
    this.t = translator(locale)
    if (this.config) this.render()
  }

  async identify(userId: string | null, userHash: string | null): Promise<void> {
    this.options.userId = userId
    this.options.userHash = userHash
    this.store({ token: undefined })
    this.seen.clear()
    this.log.textContent = ''
    this.last = null
    this.session = null
    if (this.conn) this.conn.stop()
    this.conn = null
    if (userId) await this.connect()
  }

  private async startSession(profile: Profile = {}): Promise<Session> {
    const o = this.options
    const session = await this.api.session({
      token: this.stored().token || null,
      ...(o.userId ? { user_id: o.userId, user_hash: o.userHash || undefined } : {}),
      ...profile,
    })
    this.session = session
    this.online = session.online
    this.store({ token: session.token })
    return session
  }

  private async connect(profile: Profile = {}): Promise<void> {
    const session = await this.startSession(profile)
    if (this.conn) {
      this.conn.restart(session.token)
      return
    }
    this.conn = new Connection(this.api.socketUrl(), session.token, {
      ready: (messages, online, truncated) => {
        this.online = online
        if (truncated) this.note(this.t('earlier'))
        messages.forEach((m) => this.show(m))
        this.updateBanner()
        this.markRead()
      },
      message: (m) => {
        this.show(m)
        if (m.direction === 'out') this.showTyping(false)
        if (m.direction === 'out' && this.panel.hidden) this.setUnread(this.unread + 1)
        this.markRead()
      },
      ack: (clientId, m, offline) => {
        const pending = this.seen.get(clientId)
        if (pending) pending.remove()
        this.seen.delete(clientId)
        this.show(m)
        if (offline && this.online) {
          this.online = false
          this.updateBanner()
        }
      },
      failed: (clientId, code, message) => this.failed(clientId, code, message),
      typing: (on) => this.showTyping(on),
      status: (status) => status === 'resolved' && this.note(this.t('resolved')),
      connected: (on) => {
        this.banner.hidden = on
        if (!on) this.banner.textContent = this.t('reconnecting')
        if (on) this.updateBanner()
      },
      refused: () => {
        this.store({ token: undefined })
        this.session = null
        this.conn = null
      },
    }, () => this.last)
    this.conn.start()
  }

  // --- rendering --------------------------------------------------------------------------

  private text(value: { 'zh-CN': string; en: string }): string {
    return value[this.locale] || value.en || value['zh-CN']
  }

  private render(): void {
    const c = this.config!
    const t = this.t
    this.launcher.setAttribute('aria-label', t('open'))
    this.title.textContent = this.text(c.title)
    const close = h('button', { type: 'button', 'aria-label': t('close'), onclick: () => this.toggle(false) }, '×')
    this.panel.textContent = ''
    this.panel.append(h('header', {}, this.title, close), this.banner, this.body)
    this.renderBody()
  }

  private renderBody(): void {
    const c = this.config!
    this.body.textContent = ''
    const needForm = !this.session ? c.prechat.enabled && !this.stored().token : this.session.prechat_required
    const anonymous = !this.options.userId
    if (!this.online && !this.seen.size && !this.leftMessage && anonymous) return this.form(true)
    if (needForm && anonymous) return this.form(false)
    if (!this.log.childElementCount) this.note(this.text(c.greeting))
    this.body.append(this.log, this.typing, this.composer())
    this.updateBanner()
  }

  private updateBanner(): void {
    if (!this.config) return
    this.banner.hidden = this.online
    if (!this.online) this.banner.textContent = this.text(this.config.offline_message)
  }

  private composer(): HTMLFormElement {
    const t = this.t
    const c = this.config!
    this.input.placeholder = t('placeholder')
    this.input.maxLength = c.max_message_chars
    this.input.onkeydown = (e: KeyboardEvent) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault()
        this.sendText()
      }
    }
    this.input.oninput = () => this.typingChanged()
    this.file.accept = c.attachment_types.join(',')
    this.file.onchange = () => this.sendFile()
    const attach = h('button', { class: 'icon', type: 'button', 'aria-label': t('attach'), title: t('attach') })
    attach.append(icon(CLIP_ICON))
    attach.onclick = () => this.file.click()
    return h('form', { class: 'composer', onsubmit: (e: Event) => (e.preventDefault(), this.sendText()) },
      this.file, attach, this.input, h('button', { class: 'primary', type: 'submit' }, t('send')))
  }

  /** The pre-chat form, or the offline form (with the message itself). */
  private form(offline: boolean): void {
    const form = visitorForm(this.config!, offline, {
      t: this.t,
      text: (value) => this.text(value),
      submit: async (profile, message) => {
        await this.connect(profile)
        this.leftMessage = offline
        this.renderBody()
        if (offline && message) {
          this.send({ text: message })
          this.note(this.t('thanks'))
        }
      },
    })
    this.body.append(form)
  }

  private note(text: string): void {
    this.log.append(h('div', { class: 'note' }, text))
    this.scroll()
  }

  private scroll(): void {
    this.log.scrollTop = this.log.scrollHeight
  }

  /** Add a message once (by id), in order; agents' HTML is shown as text. */
  show(m: ChatMessage): void {
    if (this.seen.has(m.id)) return
    const el = h('div', { class: `msg ${m.direction}`, 'data-id': m.id }, m.text || null)
    for (const a of m.attachments) {
      const url = this.api.fileUrl(a.url)
      if (url && /^image\/(png|jpeg|gif|webp)$/.test(a.content_type)) {
        el.append(h('a', { href: url, target: '_blank', rel: 'noopener noreferrer' }, h('img', { src: url, alt: a.filename })))
      } else if (url) {
        el.append(h('div', {}, h('a', { href: url, target: '_blank', rel: 'noopener noreferrer' }, `${a.filename} (${formatBytes(a.size)})`)))
      }
    }
    const after = [...this.log.querySelectorAll<HTMLElement>('.msg[data-id]')].find((x) => (x.dataset.id || '') > m.id)
    this.log.insertBefore(el, after || null)
    this.seen.set(m.id, el)
    // a reconnect resumes after the newest message this page has (a new page gets the history)
    if (!this.last || m.id > this.last) this.last = m.id
    this.scroll()
  }

  // --- sending ----------------------------------------------------------------------------

  private nextId(): string {
    this.counter += 1
    return `${Date.now().toString(36)}-${this.counter}-${Math.random().toString(36).slice(2, 8)}`
  }

  private async ensureConnected(): Promise<boolean> {
    if (this.conn) return true
    try {
      await this.connect()
      return true
    } catch (err) {
      this.note(this.t('error', { message: (err as Error).message }))
      return false
    }
  }

  private async send(frame: { text: string; attachments?: string[] }): Promise<void> {
    if (!(await this.ensureConnected())) return
    const clientId = this.nextId()
    const el = h('div', { class: 'msg in' }, frame.text || '📎', h('div', { class: 'meta' }, this.t('sending')))
    this.log.append(el)
    this.seen.set(clientId, el)
    this.scroll()
    this.conn!.send({ type: 'message', client_id: clientId, ...frame })
  }

  private sendText(): void {
    const text = this.input.value.trim()
    if (!text) return
    this.input.value = ''
    this.send({ text })
    this.sentTyping = 0
    this.conn?.send({ type: 'typing', on: false })
  }

  private async sendFile(): Promise<void> {
    const file = this.file.files && this.file.files[0]
    this.file.value = ''
    const c = this.config!
    if (!file) return
    if (file.size > c.max_attachment_bytes) return this.note(this.t('tooLarge', { max: formatBytes(c.max_attachment_bytes) }))
    const ok = c.attachment_types.some((p) => (p.endsWith('/*') ? file.type.startsWith(p.slice(0, -1)) : file.type === p))
    if (!ok) return this.note(this.t('badType'))
    if (!(await this.ensureConnected())) return
    try {
      const { upload } = await this.api.upload(this.session!.token, file)
      await this.send({ text: '', attachments: [upload] })
    } catch (err) {
      this.note(this.t('error', { message: err instanceof ApiError ? err.message : String(err) }))
    }
  }

  private failed(clientId: string | null, code: string, message: string): void {
    const el = clientId ? this.seen.get(clientId) : null
    if (!el) return this.note(this.t('error', { message }))
    const meta = el.querySelector('.meta')
    if (meta) meta.textContent = `${message}`
    el.classList.add('failed')
    if (code === 'prechat_required') {
      this.session = { ...this.session!, prechat_required: true }
      this.renderBody()
    }
  }

  private typingChanged(): void {
    const now = Date.now()
    if (now - this.sentTyping > 3000) {
      this.sentTyping = now
      this.conn?.send({ type: 'typing', on: true })
    }
  }

  private showTyping(on: boolean): void {
    clearTimeout(this.typingTimer)
    this.typing.textContent = this.t('typing')
    this.typing.hidden = !on
    if (on) this.typingTimer = setTimeout(() => (this.typing.hidden = true), 6000)
  }

  // --- open, close, read ------------------------------------------------------------------

  toggle(open = this.panel.hidden): void {
    this.panel.hidden = !open
    if (open) {
      this.setUnread(0)
      if (this.config && !this.body.childElementCount) this.renderBody()
      this.markRead()
      setTimeout(() => this.input.focus(), 0)
    }
  }

  private setUnread(n: number): void {
    this.unread = n
    this.badge.hidden = n === 0
    this.badge.textContent = String(n)
  }

  private markRead(): void {
    if (this.panel.hidden || document.visibilityState === 'hidden' || !this.conn) return
    const outs = [...this.seen.values()].filter((el) => el.classList.contains('out'))
    const latest = outs.length ? outs[outs.length - 1].dataset.id : null
    if (latest) this.conn.send({ type: 'read', up_to: latest })
  }
}
