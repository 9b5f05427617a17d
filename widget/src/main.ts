// Entry point: <script src="https://desk.example.com/widget/widget.js" data-inbox="..." async>
// Optional attributes: data-user-id + data-user-hash (identity verification), data-locale.
// Exposes window.RelaydeskChat: open(), close(), identify(userId, userHash), setLocale(l).

import { Widget } from './widget'

declare global {
  interface Window {
    RelaydeskChat?: {
      open(): void
      close(): void
      identify(userId: string | null, userHash?: string | null): Promise<void>
      setLocale(locale: 'zh-CN' | 'en'): void
      widget: Widget
    }
  }
}

function findScript(): HTMLScriptElement | null {
  const current = document.currentScript
  if (current instanceof HTMLScriptElement && current.dataset.inbox) return current
  return document.querySelector<HTMLScriptElement>('script[data-inbox][src*="widget.js"]')
}

function start(script: HTMLScriptElement): void {
  if (window.RelaydeskChat) return
  const data = script.dataset
  const widget = new Widget({
    base: new URL(script.src, location.href).origin,
    inbox: data.inbox!,
    locale: data.locale,
    userId: data.userId || null,
    userHash: data.userHash || null,
  })
  window.RelaydeskChat = {
    open: () => widget.toggle(true),
    close: () => widget.toggle(false),
    identify: (userId, userHash = null) => widget.identify(userId, userHash),
    setLocale: (locale) => widget.setLocale(locale),
    widget,
  }
  widget.boot().catch((err: Error) => console.warn('[relaydesk] chat unavailable:', err.message))
}

const script = findScript()
if (script) {
  // never compete with the host page's own start-up
  const go = () => start(script)
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', go)
  else setTimeout(go, 0)
}
