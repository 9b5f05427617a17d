// The widget in the machine's Chromium (playwright-core, never a downloaded browser), on a
// host page of another origin, against a real Relaydesk. Started by tests/web/test_widget_e2e.py
// with: WIDGET_E2E_DESK (Relaydesk URL), WIDGET_E2E_HOST (the host page URL), WIDGET_E2E_AGENT
// (tenant:email:password of an agent), WIDGET_E2E_SHOTS (a folder for screenshots).
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { chromium } from 'playwright-core'

const DESK = process.env.WIDGET_E2E_DESK
const HOST = process.env.WIDGET_E2E_HOST
const [TENANT, EMAIL, PASSWORD] = (process.env.WIDGET_E2E_AGENT || '::').split(':')
const SHOTS = process.env.WIDGET_E2E_SHOTS

let browser
let agent

async function api(method, path, body) {
  const response = await fetch(DESK + '/api/v1' + path, {
    method,
    headers: { 'Content-Type': 'application/json', ...(agent ? { Authorization: `Bearer ${agent}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  })
  const json = await response.json()
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${JSON.stringify(json)}`)
  return json
}

async function hostPage(locale, viewport = { width: 1366, height: 768 }) {
  const context = await browser.newContext({ locale, viewport })
  const page = await context.newPage()
  const problems = []
  page.on('pageerror', (err) => problems.push(String(err)))
  page.on('console', (msg) => msg.type() === 'error' && problems.push(msg.text()))
  await page.goto(HOST)
  return { context, page, problems }
}

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.RELAYDESK_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  agent = (await api('POST', '/auth/login', { tenant: TENANT, email: EMAIL, password: PASSWORD })).access_token
  await api('PUT', '/routing/presence/me', { status: 'online' })
})

after(async () => {
  await browser?.close()
})

test('a visitor chats from the host page and gets the agent reply, as text', async () => {
  const { context, page, problems } = await hostPage('zh-CN')
  const launcher = page.locator('[data-relaydesk-chat] .launcher')
  await launcher.waitFor()
  assert.equal(await launcher.getAttribute('aria-label'), '打开在线客服')
  await launcher.click()
  const panel = page.locator('[data-relaydesk-chat] .panel')
  await panel.locator('header h2', { hasText: '官网客服' }).waitFor()
  const input = panel.locator('textarea')
  await input.fill('你好，我的快递 <b>还没到</b>')
  await input.press('Enter')
  const mine = panel.locator('.msg.in[data-id]')
  await mine.waitFor()
  assert.equal(await mine.textContent(), '你好，我的快递 <b>还没到</b>') // shown as typed
  assert.equal(await mine.locator('b').count(), 0)

  const { items } = await api('GET', '/conversations?channel=web_chat')
  assert.equal(items.length, 1)
  await api('POST', `/conversations/${items[0].id}/messages`, { text: '您好<img src=x onerror=alert(1)>，马上为您查询' })
  const reply = panel.locator('.msg.out')
  await reply.waitFor({ timeout: 15_000 }) // the delivery job runs in the server's job runner
  assert.equal(await reply.textContent(), '您好<img src=x onerror=alert(1)>，马上为您查询')
  assert.equal(await reply.locator('img').count(), 0)
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/widget-desktop.png` })

  // a new page of the site: the conversation is still there (resumed from the server)
  await page.reload()
  await page.locator('[data-relaydesk-chat] .launcher').click()
  await panel.locator('.msg.out').waitFor()
  assert.equal(await panel.locator('.msg[data-id]').count(), 2)
  assert.deepEqual(problems, [])
  await context.close()
})

test('on a phone the panel fills the screen, in English for an English browser', async () => {
  const { context, page, problems } = await hostPage('en-US', { width: 375, height: 667 })
  await page.locator('[data-relaydesk-chat] .launcher').click()
  const panel = page.locator('[data-relaydesk-chat] .panel')
  await panel.locator('header h2', { hasText: 'Support' }).waitFor()
  const box = await panel.boundingBox()
  assert.equal(Math.round(box.width), 375)
  assert.equal(Math.round(box.height), 667)
  assert.equal(await panel.locator('textarea').getAttribute('placeholder'), 'Type a message…')
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/widget-mobile.png` })
  assert.deepEqual(problems, [])
  await context.close()
})

test('with nobody online, a visitor leaves a message through the offline form', async () => {
  const context = await browser.newContext({ locale: 'zh-CN', viewport: { width: 1366, height: 768 } })
  const page = await context.newPage()
  const problems = []
  page.on('pageerror', (err) => problems.push(String(err)))
  await page.goto(new URL('/after-sales', HOST).href)
  await page.locator('[data-relaydesk-chat] .launcher').click()
  const panel = page.locator('[data-relaydesk-chat] .panel')
  const form = panel.locator('form.card')
  await form.getByText('客服暂时不在线').waitFor()
  assert.equal(await form.locator('input[name=email]').count(), 0) // hidden by the inbox
  await form.locator('input[name=name]').fill('王先生')
  await form.locator('input[name=phone]').fill('139 1234 5678')
  await form.locator('textarea').fill('耳机坏了，请回电')
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/widget-offline.png` })
  await form.locator('button[type=submit]').click()
  await panel.locator('.msg.in[data-id]', { hasText: '耳机坏了，请回电' }).waitFor()
  await panel.locator('.note', { hasText: '已收到您的留言' }).waitFor()
  assert.ok(await panel.locator('.banner').isVisible()) // the offline notice stays
  const { items } = await api('GET', '/conversations?status=pending')
  assert.equal(items.length, 1)
  assert.deepEqual(problems, [])
  await context.close()
})
