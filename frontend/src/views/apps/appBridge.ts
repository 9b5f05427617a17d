// The workbench side of the embedded-app protocol (docs/embedded-apps.md):
//   workbench → app  {type: 'relaydesk:context', token, expires_at, context}
//                    posted to the app's origin only (never '*')
//   app → workbench  {type: 'relaydesk:ready'}    the app's script is listening: send the token
//                    {type: 'relaydesk:refresh'}  the token is (nearly) expired: send a new one
// A message counts only when it comes from this app's frame (event.source) and from one of its
// allowed origins (event.origin); anything else is ignored.

export interface ContextToken {
  token: string
  expires_at: string
  claims?: Record<string, unknown>
}

export interface BridgeOptions {
  /** the app's origin (the page URL's): where tokens are posted */
  origin: string
  /** every origin the frame may message us from (the page's first) */
  origins: string[]
  /** the frame's window (iframe.contentWindow), or null before it exists */
  frame: () => Pick<Window, 'postMessage'> | null
  /** fetch a new context token from Relaydesk */
  fetchToken: () => Promise<ContextToken>
  context: () => Record<string, string | null | undefined>
  /** at most one new token per this many ms per frame (a looping app cannot flood the API) */
  minRefreshMs?: number
  now?: () => number
  onError?: (error: unknown) => void
}

export const CONTEXT = 'relaydesk:context'
export const READY = 'relaydesk:ready'
export const REFRESH = 'relaydesk:refresh'

/** The iframe sandbox: same-origin rights only for another origin than ours (see the docs). */
export function sandboxFor(appOrigin: string, ownOrigin: string): string {
  return appOrigin === ownOrigin ? 'allow-scripts allow-forms' : 'allow-scripts allow-forms allow-same-origin'
}

export function createBridge(opts: BridgeOptions) {
  const minRefresh = opts.minRefreshMs ?? 5000
  const now = opts.now ?? (() => Date.now())
  let current: ContextToken | null = null
  let lastFetch = -Infinity
  let pending: Promise<ContextToken> | null = null

  function post(token: ContextToken, targetOrigin: string): boolean {
    const win = opts.frame()
    if (!win || !targetOrigin || targetOrigin === '*' || targetOrigin === 'null') return false
    const message = { type: CONTEXT, token: token.token, expires_at: token.expires_at, context: opts.context() }
    win.postMessage(message, targetOrigin)
    return true
  }

  async function fresh(): Promise<ContextToken> {
    if (pending) return pending
    if (current && now() - lastFetch < minRefresh) return current
    lastFetch = now()
    pending = opts.fetchToken().then(
      (token) => {
        current = token
        pending = null
        return token
      },
      (error: unknown) => {
        pending = null
        throw error
      },
    )
    return pending
  }

  function stillValid(token: ContextToken | null, marginMs = 30_000): token is ContextToken {
    return !!token && Date.parse(token.expires_at) - now() > marginMs
  }

  /** Accepts a message event; returns true when it was the app's and was answered. */
  async function handle(event: Pick<MessageEvent, 'origin' | 'source' | 'data'>): Promise<boolean> {
    const win = opts.frame()
    if (!win || event.source !== win) return false
    if (!opts.origins.includes(event.origin)) return false
    const type = event.data && typeof event.data === 'object' ? (event.data as { type?: unknown }).type : null
    if (type !== READY && type !== REFRESH) return false
    try {
      const token = type === READY && stillValid(current) ? current : await fresh()
      return post(token, event.origin)
    } catch (error) {
      opts.onError?.(error)
      return false
    }
  }

  return {
    handle,
    /** a token fetched by the page (the one in the iframe URL) becomes the current one */
    use(token: ContextToken): void {
      current = token
      lastFetch = now()
    },
    /** post the current token to the app's origin (after the frame has loaded) */
    push(): boolean {
      return current ? post(current, opts.origin) : false
    },
    get current(): ContextToken | null {
      return current
    },
  }
}
