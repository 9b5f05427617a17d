// The visitor's WebSocket: hello with the last message seen, reconnect with backoff and
// resume, resend of messages that were never acknowledged (same client id: stored once).

import type { ChatMessage } from './api'

export interface Handlers {
  ready(messages: ChatMessage[], online: boolean, truncated: boolean): void
  message(message: ChatMessage): void
  ack(clientId: string, message: ChatMessage, offline: boolean): void
  failed(clientId: string | null, code: string, message: string): void
  typing(on: boolean): void
  status(status: string): void
  connected(on: boolean): void
  /** the token was refused (4401) or the chat is gone (4404) */
  refused(code: number, reason: string): void
}

type Frame = Record<string, unknown>

const PING_EVERY = 25_000
const MAX_BACKOFF = 30_000

export class Connection {
  private ws: WebSocket | null = null
  private attempts = 0
  private timer: ReturnType<typeof setTimeout> | undefined
  private ping: ReturnType<typeof setInterval> | undefined
  private stopped = false
  /** messages sent but not acknowledged, resent after a reconnect */
  readonly pending = new Map<string, Frame>()

  constructor(
    private readonly url: string,
    private token: string,
    private readonly handlers: Handlers,
    private readonly lastSeen: () => string | null,
  ) {}

  start(): void {
    this.stopped = false
    this.open()
  }

  stop(): void {
    this.stopped = true
    clearTimeout(this.timer)
    clearInterval(this.ping)
    if (this.ws) this.ws.close(1000)
    this.ws = null
  }

  restart(token: string): void {
    this.token = token
    this.stop()
    this.start()
  }

  get open_(): boolean {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN
  }

  send(frame: Frame): boolean {
    if (frame.type === 'message') this.pending.set(String(frame.client_id), frame)
    if (!this.open_) return false
    this.ws!.send(JSON.stringify(frame))
    return true
  }

  private open(): void {
    const ws = new WebSocket(this.url)
    this.ws = ws
    ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', token: this.token, after: this.lastSeen() }))
    ws.onmessage = (event) => this.receive(JSON.parse(String(event.data)) as Frame)
    ws.onclose = (event) => {
      if (this.ws !== ws) return
      this.ws = null
      clearInterval(this.ping)
      this.handlers.connected(false)
      if (this.stopped) return
      if (event.code === 4401 || event.code === 4404) {
        this.handlers.refused(event.code, event.reason)
        return
      }
      this.retry()
    }
  }

  private retry(): void {
    const delay = Math.min(MAX_BACKOFF, 1000 * 2 ** this.attempts) * (0.5 + Math.random() / 2)
    this.attempts += 1
    this.timer = setTimeout(() => this.open(), delay)
  }

  private receive(frame: Frame): void {
    const h = this.handlers
    switch (frame.type) {
      case 'ready':
        this.attempts = 0
        h.connected(true)
        h.ready(frame.messages as ChatMessage[], !!frame.online, !!frame.truncated)
        this.pending.forEach((pending) => this.ws && this.ws.send(JSON.stringify(pending)))
        clearInterval(this.ping)
        this.ping = setInterval(() => this.send({ type: 'ping' }), PING_EVERY)
        break
      case 'message':
        h.message(frame.message as ChatMessage)
        break
      case 'ack':
        this.pending.delete(String(frame.client_id))
        h.ack(String(frame.client_id), frame.message as ChatMessage, !!frame.offline)
        break
      case 'error':
        if (frame.client_id) this.pending.delete(String(frame.client_id))
        h.failed((frame.client_id as string) || null, String(frame.code), String(frame.message))
        break
      case 'typing':
        h.typing(!!frame.on)
        break
      case 'status':
        h.status(String(frame.status))
        break
    }
  }
}
