// Webhooks in the browser: an admin creates an endpoint for a receiver on this machine (the
// server's field error first: loopback is blocked until allowed), copies the secret shown
// once, sends a test that arrives signed with it, sees a failed delivery with its attempt
// when the receiver answers 500, and replays it successfully.
import { createHmac } from 'node:crypto'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { apiToken, BASE_URL, close, dom, launch, login, newPage, shot } from './helpers'

interface Received {
  headers: IncomingHttpHeaders
  body: string
}

let browser: Browser
let receiver: Server
let port = 0
let mounted = false
let answer = 200
const received: Received[] = []

beforeAll(async () => {
  const admin = await apiToken('admin')
  const probe = await fetch(`${BASE_URL}/api/v1/webhooks/endpoints`, { headers: { Authorization: `Bearer ${admin}` } })
  mounted = probe.status !== 404
  if (!mounted) return
  receiver = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk) => (body += chunk))
    req.on('end', () => {
      received.push({ headers: req.headers, body })
      res.writeHead(answer, { 'Content-Type': 'application/json' })
      res.end(JSON.stringify({ ok: answer < 300 }))
    })
  })
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  port = (receiver.address() as AddressInfo).port
  browser = await launch()
})
afterAll(async () => {
  await close(browser)
  await new Promise((resolve) => (receiver ? receiver.close(resolve) : resolve(null)))
})

/** Standard Webhooks: base64 HMAC-SHA256 of "id.timestamp.body" with the whsec_ key. */
function signs(secret: string, r: Received): boolean {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64')
  const content = `${r.headers['webhook-id']}.${r.headers['webhook-timestamp']}.${r.body}`
  const expected = createHmac('sha256', key).update(content).digest('base64')
  return String(r.headers['webhook-signature'] ?? '').split(' ').includes(`v1,${expected}`)
}

async function waitFor(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const until = Date.now() + ms
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

describe('webhooks admin', () => {
  it('creates an endpoint, sends a signed test, shows a failed attempt and replays it', async ({ skip }) => {
    if (!mounted) skip('GET /api/v1/webhooks/endpoints is 404: mount relaydesk.webhooks in relaydesk/app.py')
    const { page, context, problems } = await newPage(browser)
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE_URL })
    await login(page, 'admin')
    await page.goto('/admin/webhooks')
    await page.locator('[data-test="endpoint-new"]').click()
    const dialog = page.locator('[data-test="endpoint-dialog"]')
    const url = `http://127.0.0.1:${port}/relaydesk-hook`
    await dialog.locator('[data-test="endpoint-url"]').fill(url)
    await dialog.locator('[data-test="endpoint-description"]').fill('订单系统回调 (E2E)')
    await dialog.locator('[data-test="endpoint-save"]').click()
    // loopback is not allowed by default: the server's error shows at the URL field
    await dialog.locator('.el-form-item.is-error', { has: page.locator('[data-test="endpoint-url"]') }).waitFor()
    expect(await dialog.locator('.el-form-item__error').first().textContent()).toMatch(/loopback|private/i)

    await dialog.locator('[data-test="endpoint-networks"] input').fill('127.0.0.1')
    await dialog.locator('[data-test="endpoint-networks"] input').press('Enter')
    await dialog.locator('[data-test="endpoint-networks"] [data-tag="127.0.0.1"]').waitFor()
    await dialog.locator('[data-test="endpoint-save"]').click()
    const secretBox = page.locator('[data-test="secret-value"]')
    await secretBox.waitFor()
    const secret = await secretBox.inputValue()
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/=]{32,}$/)
    await page.locator('[data-test="secret-copy"]').click()
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret)
    await shot(page, 'supervisor-webhook-secret')
    await page.locator('[data-test="secret-done"]').click()
    await page.locator('[data-test="secret-dialog"]').waitFor({ state: 'hidden' })
    // shown once: gone from the page for good
    expect(await dom(page)).not.toContain(secret)
    await page.locator(`[data-endpoint="${url}"]`).waitFor()

    // a test message, signed with that secret
    await page.locator(`[data-endpoint="${url}"]`).click()
    await page.locator('[data-test="detail-url"]', { hasText: url }).waitFor()
    await page.locator('[data-test="endpoint-test"]').click()
    await page.locator('[data-test="test-event-type"]').fill('order.shipped')
    await page.locator('[data-test="test-payload"]').fill('{"order_no": "YQ20261121001"}')
    await page.locator('[data-test="test-send"]').click()
    await waitFor(() => received.length >= 1, 'the test message')
    expect(signs(secret, received[0]!)).toBe(true)
    expect(JSON.parse(received[0]!.body)).toMatchObject({ type: 'order.shipped', data: { order_no: 'YQ20261121001' } })
    await page.locator('[data-test="delivery-status"][data-status="succeeded"]').first().waitFor({ timeout: 20_000 })

    // the receiver fails: the delivery log shows the failed attempt with the answer
    answer = 500
    await page.locator('[data-test="endpoint-test"]').click()
    await page.locator('[data-test="test-send"]').click()
    await waitFor(() => received.length >= 2, 'the second test')
    await page.locator('[data-test="delivery-status"][data-status="failed"]').first().waitFor({ timeout: 20_000 })
    await page.locator('[data-test="delivery-table"] .el-table__row', { has: page.locator('[data-status="failed"]') }).first().click()
    const drawer = page.locator('[data-test="delivery-drawer"]')
    await drawer.locator('[data-test="attempt"][data-outcome="failed"]').first().waitFor()
    expect(await drawer.locator('[data-test="attempt-log"]').textContent()).toContain('500')
    await shot(page, 'supervisor-webhook-delivery')

    // fixed: replay the same message (same webhook-id), it succeeds
    answer = 200
    const failedId = received[1]!.headers['webhook-id']
    await drawer.locator('[data-test="delivery-replay"]').click()
    await waitFor(() => received.length >= 3, 'the replay')
    expect(received[2]!.headers['webhook-id']).toBe(failedId)
    expect(signs(secret, received[2]!)).toBe(true)
    await page.keyboard.press('Escape')
    await page.waitForFunction(
      () => document.querySelectorAll('[data-test="delivery-status"][data-status="succeeded"]').length >= 2,
      undefined, { timeout: 20_000 },
    )
    await shot(page, 'supervisor-webhooks')
    expect(problems).toEqual([])
  })
})
