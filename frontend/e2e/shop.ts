// A customer's own web site for the journeys: a shop page on another loopback origin that
// embeds the chat widget with the snippet Relaydesk hands out, and the customer's side of the
// chat (open the widget, send a message, wait for an answer). Also a small API helper.
import { createHmac } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

import type { Browser, BrowserContext, Locator, Page } from 'playwright-core'

import { BASE_URL, VIEWPORT } from './helpers'

export async function api(token: string, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${BASE_URL}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
}

/** The JSON of a call that must succeed (the status and body in the error otherwise). */
export async function ok<T>(response: Promise<Response>): Promise<T> {
  const r = await response
  const text = await r.text()
  if (!r.ok) throw new Error(`${r.url}: ${r.status} ${text}`)
  return (text ? JSON.parse(text) : {}) as T
}

export interface Shop {
  /** the shop's origin (what the inbox must allow) */
  origin: string
  /** the page's URL */
  url: string
  /** serve a page embedding this snippet (the `<script>` tag), with extra data-* attributes */
  setSnippet(html: string, data?: Record<string, string>): void
  close(): Promise<void>
}

/** A plain HTTP server on a free loopback port: another origin than Relaydesk's. */
export async function startShop(): Promise<Shop> {
  let tag = ''
  const server: Server = createServer((_req, res) => {
    const page =
      '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>云栖优选 · 示例商城</title>' +
      '<meta name="viewport" content="width=device-width, initial-scale=1">' +
      '<style>body{font:16px/1.6 system-ui,sans-serif;margin:0;background:#f6f8fa}' +
      'header{background:#24292f;color:#fff;padding:16px 24px;font-weight:600}' +
      'main{max-width:880px;margin:24px auto;padding:0 16px}.card{background:#fff;border:1px solid #d0d7de;' +
      'border-radius:8px;padding:16px;margin-bottom:12px}</style></head>' +
      '<body><header>云栖优选 Demo Shop</header><main>' +
      '<div class="card"><h3>羊毛混纺大衣</h3><p>¥ 1,299</p></div>' +
      '<div class="card"><h3>无线耳机 Pro</h3><p>¥ 899</p></div>' +
      `</main>${tag}</body></html>`
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' }).end(page)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    origin,
    url: `${origin}/`,
    setSnippet(html: string, data: Record<string, string> = {}) {
      const extra = Object.entries(data)
        .map(([k, v]) => ` data-${k}="${v.replace(/[&"<>]/g, (c) => `&#${c.charCodeAt(0)};`)}"`)
        .join('')
      tag = html.replace('<script ', `<script${extra} `)
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

/** What the site's server computes for a signed-in user: hex(HMAC-SHA256(secret, user_id)). */
export function userHash(secret: string, userId: string): string {
  return createHmac('sha256', secret).update(userId).digest('hex')
}

/**
 * A web chat inbox for the shop: allowed on its origin, its widget snippet from the API, and
 * (with `verified`) an identity secret to sign the shop's user ids.
 */
export async function webChatInbox(
  admin: string,
  name: string,
  shop: Shop,
  verified = false,
): Promise<{ id: string; snippet: string; secret: string | null }> {
  const inbox = await ok<{ id: string }>(
    api(admin, 'POST', '/api/v1/inboxes', {
      name,
      channel: 'web_chat',
      settings: {
        allowed_origins: [shop.origin],
        title: { 'zh-CN': '云栖优选客服', en: 'Demo Shop support' },
        identity_verification: verified,
      },
    }),
  )
  const snippet = await ok<{ html: string }>(api(admin, 'GET', `/api/v1/channels/web-chat/${inbox.id}/snippet`))
  const secret = verified
    ? (await ok<{ secret: string }>(api(admin, 'POST', `/api/v1/channels/web-chat/${inbox.id}/identity-secret`))).secret
    : null
  return { id: inbox.id, snippet: snippet.html, secret }
}

export interface Visitor {
  context: BrowserContext
  page: Page
  panel: Locator
  problems: string[]
}

/** The customer on the shop page with the chat open (in Chinese, as a Chinese browser). */
export async function openChat(browser: Browser, shop: Shop): Promise<Visitor> {
  const context = await browser.newContext({ viewport: VIEWPORT, locale: 'zh-CN' })
  const page = await context.newPage()
  const problems: string[] = []
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`))
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content Security Policy|Refused to/i.test(msg.text())) problems.push(msg.text())
  })
  await page.goto(shop.url)
  const launcher = page.locator('[data-relaydesk-chat] .launcher')
  await launcher.waitFor({ timeout: 30_000 })
  await launcher.click()
  const panel = page.locator('[data-relaydesk-chat] .panel')
  await panel.locator('header h2', { hasText: '云栖优选客服' }).waitFor({ timeout: 30_000 })
  await panel.locator('textarea').waitFor()
  return { context, page, panel, problems }
}

/** Type a message in the widget and wait until the server took it (it gets its id). */
export async function say(visitor: Visitor, text: string): Promise<void> {
  const input = visitor.panel.locator('textarea')
  await input.fill(text)
  await input.press('Enter')
  await visitor.panel.locator('.msg.in[data-id]', { hasText: text }).waitFor({ timeout: 30_000 })
}

/** An agent's (or the bot's) message as the customer sees it in the widget. */
export function answer(visitor: Visitor, text: string): Locator {
  return visitor.panel.locator('.msg.out', { hasText: text })
}

export interface Order { order_no: string; status: string; waybill_no: string | null }
export interface DemoCustomer { id: string; name: string; orders: Order[] }

/**
 * A demo customer (from the end of the first page: workbench.spec.ts takes from its start)
 * whose orders in the demo order system satisfy `fits`.
 */
export async function demoCustomer(owner: string, fits: (orders: Order[]) => boolean): Promise<DemoCustomer> {
  const instances = await ok<{ items: { id: string; name: string }[] }>(api(owner, 'GET', '/api/v1/connector-instances'))
  const orders = instances.items.find((i) => i.name === 'orders')!.id
  const page = await ok<{ items: { id: string; name: string; phone: string | null }[] }>(api(owner, 'GET', '/api/v1/customers?limit=30'))
  for (const c of [...page.items].reverse()) {
    if (!c.phone || c.name === '网页访客') continue
    const run = await ok<{ ok: boolean; data: Order[] | null }>(
      api(owner, 'POST', `/api/v1/connector-instances/${orders}/actions/list_orders_by_mobile/run`, {
        params: { mobile: c.phone.replace(/^\+86/, ''), page_size: 5 },
      }),
    )
    if (run.ok && fits(run.data ?? [])) return { id: c.id, name: c.name, orders: run.data ?? [] }
  }
  throw new Error('no demo customer fits')
}

/**
 * The shop's user account `userId` is this customer: staff record the shop's user id on the
 * customer (verified), so a chat from the signed-in user joins the customer (no new one).
 */
export async function linkShopUser(owner: string, customerId: string, userId: string): Promise<void> {
  await ok(api(owner, 'POST', `/api/v1/customers/${customerId}/identities`, {
    kind: 'app_user', namespace: 'website', value: userId, verified: true,
  }))
}

/** The agent is online, so that the widget offers a chat rather than the offline form. */
export async function goOnline(token: string): Promise<void> {
  await ok(api(token, 'PUT', '/api/v1/routing/presence/me', { status: 'online' }))
}
