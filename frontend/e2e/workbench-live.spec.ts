// The workbench's live parts in Chromium against a real demo server: an agent watches a
// reply's delivery state change without a reload (queued with the retry reason, then failed
// with the app's answer), sees why a conversation got its priority (the CRM rule that matched;
// for an anonymous visitor, "not applicable"), sends itself a test notification, and downloads and previews a file a web-chat
// visitor sent (read with the agent's token: no public link). Independent of the other specs:
// its own inboxes, webhook and visitor; the app's user joins an existing demo customer.
import { createHmac, randomUUID } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { apiToken, BASE_URL, close, launch, login, newPage, shot } from './helpers'

const RUN = randomUUID().slice(0, 8)
/** a 1×1 PNG */
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
  'base64',
)
const FILE_NAME = `发票-${RUN}.png`

let browser: Browser
let apiInbox = ''
let secret = ''
let webInbox = ''
let MOBILE = ''
/** what the app's webhook answers, in turn, to each delivery attempt */
const answers: number[] = []
const attempts: string[] = []
/** the refusal (400) waits until the test has seen the 503 on screen: the retry would
 * otherwise replace it within 1–2 s, sooner than a loaded machine may render it */
let saw503: () => void = () => {}
const shown503 = new Promise<void>((resolve) => {
  saw503 = resolve
})
let webhook: Server

async function api(token: string, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${BASE_URL}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
}

/** The app's backend posts its (phone-verified) user's message, signed like Standard Webhooks. */
async function appUserSays(text: string): Promise<string> {
  const id = `msg_${randomUUID()}`
  const timestamp = Math.floor(Date.now() / 1000)
  const body = JSON.stringify({ user: { id: `vip-${RUN}`, phone: MOBILE }, text })
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64')
  const signature = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')
  const response = await fetch(`${BASE_URL}/api/v1/channels/api/${apiInbox}/messages`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': `v1,${signature}` },
    body,
  })
  expect(response.status, await response.clone().text()).toBe(201)
  return String(((await response.json()) as { conversation_id: string }).conversation_id)
}

/** A web-chat visitor (a page of Relaydesk's own origin) uploads a PNG and sends it. */
async function visitorSendsFile(page: Page): Promise<void> {
  await page.goto('/login')
  const acked = await page.evaluate(
    async ({ inbox, name, bytes, text }) => {
      const session = (await (await fetch(`/widget/api/${inbox}/session`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}',
      })).json()) as { token: string }
      const up = await fetch(`/widget/api/${inbox}/uploads`, {
        method: 'POST',
        headers: { 'Content-Type': 'image/png', 'X-Visitor-Token': session.token, 'X-Filename': encodeURIComponent(name) },
        body: new Uint8Array(bytes),
      })
      if (up.status !== 201) throw new Error(`upload: ${up.status} ${await up.text()}`)
      const upload = ((await up.json()) as { upload: string }).upload
      const ws = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/widget/ws/${inbox}`)
      return await new Promise<string>((resolve, reject) => {
        setTimeout(() => reject(new Error('no ack from the widget socket')), 15_000)
        ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', token: session.token }))
        ws.onmessage = (ev) => {
          const frame = JSON.parse(String(ev.data)) as { type: string; message?: { conversation_id?: string } }
          if (frame.type === 'ready') ws.send(JSON.stringify({ type: 'message', text, client_id: 'c1', attachments: [upload] }))
          if (frame.type === 'ack') {
            ws.close()
            resolve(JSON.stringify(frame))
          }
          if (frame.type === 'error') reject(new Error(JSON.stringify(frame)))
        }
      })
    },
    { inbox: webInbox, name: FILE_NAME, bytes: [...PNG], text: `发票 ${RUN}` },
  )
  expect(acked).toContain('"ack"')
}

/** Open a conversation by its link (?c=<id>), whatever the list's filters show. */
async function openConversation(page: Page, id: string) {
  await page.goto(`/?c=${id}`)
  await page.locator('[data-test="live-status"][data-status="live"]').waitFor()
  const pane = page.locator(`[data-test="conversation-pane"][data-id="${id}"]`)
  await pane.waitFor()
  return pane
}

beforeAll(async () => {
  browser = await launch()
  webhook = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      const status = answers.shift() ?? 200
      const answer = (): void => {
        attempts.push(String(status))
        res.writeHead(status, { 'Content-Type': 'application/json' }).end(status === 400 ? '{"error":"user blocked the app"}' : '{}')
      }
      if (status === 400) void Promise.race([shown503, new Promise((r) => setTimeout(r, 20_000))]).then(answer)
      else answer()
    })
  })
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve))
  const port = (webhook.address() as AddressInfo).port

  // a demo customer who is a CRM gold or diamond member (the demo's priority rule matches)
  const owner = await apiToken('owner')
  const instances = (await (await api(owner, 'GET', '/api/v1/connector-instances')).json()) as { items: { id: string; name: string }[] }
  const crm = instances.items.find((i) => i.name === 'crm')!
  const customers = (await (await api(owner, 'GET', '/api/v1/customers?limit=30')).json()) as { items: { name: string; phone: string | null }[] }
  for (const c of customers.items) {
    if (!c.phone?.startsWith('+86') || c.name === '网页访客') continue
    const mobile = c.phone.slice(3)
    const run = await api(owner, 'POST', `/api/v1/connector-instances/${crm.id}/actions/find_contact_by_mobile/run`, { params: { mobile } })
    const outcome = (await run.json()) as { ok: boolean; data: { tier: string }[] | null }
    if (outcome.ok && ['gold', 'diamond'].includes(outcome.data?.[0]?.tier ?? '')) {
      MOBILE = mobile
      break
    }
  }
  if (!MOBILE) throw new Error('no demo customer is a CRM gold or diamond member')

  const admin = await apiToken('admin')
  const created = await api(admin, 'POST', '/api/v1/inboxes', {
    name: `Live app ${RUN}`, channel: 'api',
    settings: {
      app_id: `live-${RUN}`, webhook_url: `http://127.0.0.1:${port}/relaydesk`, allow_private: ['127.0.0.1'],
      trust_contact_details: true, timeout_seconds: 30,
    },
  })
  expect(created.status, await created.clone().text()).toBe(201)
  apiInbox = ((await created.json()) as { id: string }).id
  const rotated = await api(admin, 'POST', `/api/v1/channels/api/${apiInbox}/signing-secret`)
  expect(rotated.status, await rotated.clone().text()).toBeLessThan(300)
  secret = ((await rotated.json()) as { signing_secret: string }).signing_secret

  const web = await api(admin, 'POST', '/api/v1/inboxes', { name: `Live chat ${RUN}`, channel: 'web_chat', settings: {} })
  expect(web.status, await web.clone().text()).toBe(201)
  webInbox = ((await web.json()) as { id: string }).id
})

afterAll(async () => {
  await close(browser)
  await new Promise((resolve) => webhook?.close(resolve))
})

describe('workbench live', () => {
  it('shows a reply going from queued to failed without a reload, and the rule that made it urgent', async () => {
    const conversationId = await appUserSays(`我的会员权益怎么用？${RUN}`)
    const { page, problems } = await newPage(browser, 'en-US')
    await login(page, 'agent')
    const pane = await openConversation(page, conversationId)

    // the app's webhook is down once (503: queued, retried), then refuses (400: failed)
    answers.push(503, 400)
    const box = page.locator('[data-test="composer-input"]')
    await box.fill(`会员权益说明 ${RUN}`)
    await box.press('Enter')
    const reply = pane.locator('[data-test="message"][data-direction="out"]', { hasText: `会员权益说明 ${RUN}` })
    const status = reply.locator('[data-test="message-status"]')
    await reply.waitFor()
    await expect.poll(() => reply.locator('[data-test="message-error"]').textContent(), { timeout: 20_000 }).toContain('HTTP 503')
    expect(await status.getAttribute('data-status')).toBe('queued')
    expect(await status.textContent()).toBe('Queued')
    saw503()
    await expect.poll(() => status.getAttribute('data-status'), { timeout: 30_000 }).toBe('failed')
    expect(await status.textContent()).toBe('Failed')
    expect(await reply.locator('[data-test="message-error"]').textContent()).toContain('400')
    expect(attempts).toEqual(['503', '400'])
    await shot(page, 'workbench-reply-failed')

    // the CRM says gold/diamond: the demo rule made it urgent; the decision says why
    const priority = pane.locator('[data-test="pane-priority"]')
    await expect.poll(() => priority.getAttribute('data-priority'), { timeout: 20_000 }).toBe('urgent')
    await priority.click()
    const decision = page.locator('[data-test="routing-decision"][data-outcome="matched"]')
    await decision.waitFor()
    expect(await decision.locator('[data-test="routing-outcome"]').textContent()).toContain('金卡/钻石')
    expect(await decision.locator('[data-test="routing-skills"]').textContent()).toContain('vip')
    await shot(page, 'workbench-routing-decision')
    await priority.click()

    // a test notification reaches the bell: listed at once, counted by its live event
    const bell = page.locator('[data-test="notifications"]')
    const before = Number((await page.locator('[data-test="notifications-badge"]').getAttribute('data-unread')) ?? 0)
    await bell.click()
    await page.locator('[data-test="notification-test"]').click()
    await page.locator('[data-test="notification"]', { hasText: 'Test notification' }).first().waitFor()
    await expect.poll(() => page.locator('[data-test="notifications-badge"]').getAttribute('data-unread')).toBe(String(before + 1))

    expect(problems).toEqual([])
    await page.context().close()
  })

  it('downloads and previews a file a web-chat visitor sent, through the API', async () => {
    const visitor = await newPage(browser, 'zh-CN')
    await visitorSendsFile(visitor.page)
    await visitor.context.close()

    const { page, problems } = await newPage(browser, 'en-US')
    await login(page, 'agent')
    const owner = await apiToken('owner')
    const list = (await (await api(owner, 'GET', `/api/v1/conversations?limit=50`)).json()) as { items: { id: string; inbox_id: string }[] }
    const conversation = list.items.find((c) => c.inbox_id === webInbox)
    expect(conversation, 'the visitor\'s conversation').toBeTruthy()
    const pane = await openConversation(page, conversation!.id)

    const file = pane.locator('[data-test="attachment"][data-stored="true"]', { hasText: FILE_NAME })
    await file.waitFor()
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      file.locator('[data-test="attachment-download"]').click(),
    ])
    expect(download.suggestedFilename()).toBe(FILE_NAME)
    expect(Buffer.compare(await readFile((await download.path())!), PNG)).toBe(0)

    await file.locator('[data-test="attachment-preview"]').click()
    const thumb = file.locator('[data-test="attachment-thumb"]')
    await thumb.waitFor()
    expect(await thumb.getAttribute('src')).toMatch(/^data:image\/png;base64,/)
    await expect.poll(() => thumb.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(1)
    expect(await file.locator('[data-test="attachment-error"]').count()).toBe(0)
    await shot(page, 'workbench-attachment')

    // an anonymous visitor has no trusted mobile: the rule did not apply, routed normally
    await pane.locator('[data-test="pane-priority"]').click()
    const decision = page.locator('[data-test="routing-decision"][data-outcome="no_match"]')
    await decision.waitFor({ timeout: 20_000 })
    expect(await decision.locator('[data-test="routing-outcome"]').textContent()).toBe('No rule matched: routed normally')
    expect(await decision.locator('[data-test="routing-check"]').getAttribute('data-result')).toBe('not_applicable')
    expect(problems).toEqual([])
    await page.context().close()
  })
})
