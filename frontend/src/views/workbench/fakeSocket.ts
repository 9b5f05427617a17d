// A fake of the agents' WebSocket for unit tests: records what the client sends and lets a
// test play the server (open, frames, close codes).
import type { SocketLike } from '@/stores/realtime'

export class FakeSocket implements SocketLike {
  static all: FakeSocket[] = []
  readyState = 0
  sent: Record<string, unknown>[] = []
  onopen: ((ev: unknown) => void) | null = null
  onmessage: ((ev: { data: unknown }) => void) | null = null
  onclose: ((ev: { code: number; reason?: string }) => void) | null = null
  onerror: ((ev: unknown) => void) | null = null

  constructor(public url: string) {
    FakeSocket.all.push(this)
  }

  static last(): FakeSocket {
    const sock = FakeSocket.all.at(-1)
    if (!sock) throw new Error('no socket was opened')
    return sock
  }

  static reset(): void {
    FakeSocket.all = []
  }

  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>)
  }

  close(code = 1000): void {
    if (this.readyState === 3) return
    this.readyState = 3
    this.onclose?.({ code })
  }

  // --- the server's side ---
  open(): void {
    this.readyState = 1
    this.onopen?.({})
  }

  frame(frame: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(frame) })
  }

  ready(lastEventId: string | null = null): void {
    this.frame({ type: 'ready', last_event_id: lastEventId })
  }

  event(id: string | null, eventType: string, payload: Record<string, unknown>, occurredAt = '2026-11-21T10:00:00Z'): void {
    this.frame({ type: 'event', id, event_type: eventType, occurred_at: occurredAt, payload })
  }

  drop(code = 1006): void {
    this.readyState = 3
    this.onclose?.({ code })
  }
}
