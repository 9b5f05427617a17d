// Supervisor views in the browser: the queues and agent load follow the agents' WebSocket
// (an agent's presence change and a reassignment show without a reload), a conversation is
// reassigned from the UI, and the ECharts dashboard shows the report's figures, in English
// and Chinese, at 1366×768 and 1920×1080.
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { apiToken, BASE_URL, close, launch, login, newPage, shot } from './helpers'

let browser: Browser
let mounted = false
const H = (token: string) => ({ Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' })

async function api<T>(token: string, method: string, path: string, body?: unknown): Promise<T> {
  const r = await fetch(`${BASE_URL}/api/v1${path}`, { method, headers: H(token), body: body === undefined ? undefined : JSON.stringify(body) })
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`)
  return (r.status === 204 ? null : await r.json()) as T
}

interface Id { id: string }

beforeAll(async () => {
  const supervisor = await apiToken('supervisor')
  // the reports router is mounted by relaydesk/app.py; until then these tests say so and skip
  mounted = (await fetch(`${BASE_URL}/api/v1/reports/conversations`, { headers: H(supervisor) })).status !== 404
  if (!mounted) return
  browser = await launch()
  const admin = await apiToken('admin')
  const agent = await apiToken('agent')
  const [team] = (await api<{ items: Id[] }>(admin, 'GET', '/teams')).items
  const inbox = await api<Id>(admin, 'POST', '/inboxes', {
    name: `E2E web chat ${Date.now()}`, channel: 'web_chat', team_id: team!.id,
    settings: { allowed_origins: ['https://shop.example.com'] },
  })
  await api(agent, 'PUT', '/routing/presence/me', { status: 'online', capacity: 8 })
  const customers = (await api<{ items: Id[] }>(admin, 'GET', '/customers?limit=6')).items
  const started: string[] = []
  for (const [i, c] of customers.slice(0, 5).entries()) {
    const conv = await api<Id>(agent, 'POST', '/conversations', {
      inbox_id: inbox.id, customer_id: c.id, subject: `E2E 订单咨询 ${i + 1}`, message: { text: '您好，请问有什么可以帮您？' },
    })
    started.push(conv.id)
  }
  await api(agent, 'PATCH', `/conversations/${started[0]}`, { status: 'resolved' })
  // the agent is away: conversations put back in the queue stay there (no auto-assignment)
  await api(agent, 'PUT', '/routing/presence/me', { status: 'away' })
  await api(supervisor, 'POST', `/conversations/${started[4]}/assign`, { assignee_id: null, team_id: team!.id })
})
afterAll(async () => {
  // leave the demo agent as the other suites expect to find them
  if (mounted) await api(await apiToken('agent'), 'PUT', '/routing/presence/me', { status: 'offline' })
  await close(browser)
})

describe('supervisor views', () => {
  it('queues and agent load update live; a conversation is reassigned from the UI', async ({ skip }) => {
    if (!mounted) skip('GET /api/v1/reports/conversations is 404: mount relaydesk.reports in relaydesk/app.py')
    const { page, problems } = await newPage(browser)
    await login(page, 'supervisor')
    await page.goto('/supervisor/queues')
    await page.locator('[data-test="live-status"][data-status="live"]').waitFor()
    // the agent sits in two teams (after-sales and the demo's VIP team): one row per team
    const agentRow = page.locator('.el-table__row', { has: page.locator('[data-agent^="王小燕"]') }).first()
    await agentRow.locator('[data-test="agent-presence"][data-status="away"]').waitFor()
    const waiting = page.locator('[data-test="team-waiting"]').first()
    const before = Number(await waiting.getAttribute('data-waiting'))
    expect(before).toBeGreaterThanOrEqual(1)

    // the agent comes online in another browser (here: the API): the page follows, no reload
    const agent = await apiToken('agent')
    await api(agent, 'PUT', '/routing/presence/me', { status: 'online', capacity: 50 })
    await agentRow.locator('[data-test="agent-presence"][data-status="online"]').waitFor({ timeout: 15_000 })
    // coming online drains the queue to the agent: waiting goes down, live
    await page.waitForFunction(
      (n) => Number(document.querySelector('[data-test="team-waiting"]')?.getAttribute('data-waiting')) < n,
      before, { timeout: 15_000 },
    )
    await api(agent, 'PUT', '/routing/presence/me', { status: 'away' })
    await agentRow.locator('[data-test="agent-presence"][data-status="away"]').waitFor({ timeout: 15_000 })

    // the agent's conversations, and one of them back to the team queue from the UI
    await agentRow.click()
    await page.locator('[data-test="conversation-panel-title"]', { hasText: '王小燕' }).waitFor()
    const rows = page.locator('[data-test="conversation-table"] .el-table__row')
    await rows.first().waitFor()
    const subject = (await rows.first().locator('[data-conversation]').textContent())!.trim()
    const waitingNow = Number(await waiting.getAttribute('data-waiting'))
    await rows.first().locator('[data-test="reassign"]').click()
    const dialog = page.locator('[data-test="reassign-dialog"]')
    await dialog.waitFor()
    await dialog.locator('[data-test="reassign-note"]').fill('客户要求主管跟进')
    await dialog.locator('[data-test="reassign-submit"]').click()
    await dialog.waitFor({ state: 'hidden' })
    // live: the team's waiting count rises without a reload
    await page.waitForFunction(
      (n) => Number(document.querySelector('[data-test="team-waiting"]')?.getAttribute('data-waiting')) === n + 1,
      waitingNow, { timeout: 15_000 },
    )
    await page.locator('[data-test="team-waiting"]').first().click()
    await page.locator('[data-test="conversation-table"] [data-conversation]', { hasText: subject }).waitFor()
    await shot(page, 'supervisor-queues')
    expect(problems).toEqual([])
  })

  it('the dashboard shows the report in charts, in English and Chinese', async ({ skip }) => {
    if (!mounted) skip('GET /api/v1/reports/conversations is 404: mount relaydesk.reports in relaydesk/app.py')
    const { page, problems } = await newPage(browser)
    const reports: string[] = []
    page.on('response', (r) => {
      if (r.url().includes('/api/v1/reports/conversations')) reports.push(r.url())
    })
    await login(page, 'supervisor')
    await page.goto('/supervisor/dashboard')
    const total = page.locator('[data-test="kpi-total-value"]')
    await page.waitForFunction(() => /\d/.test(document.querySelector('[data-test="kpi-total-value"]')?.textContent ?? ''))
    // the figures are the API's, for the same period and time zone the page asked for
    const asked = new URL(reports[0]!)
    const token = await apiToken('supervisor')
    const report = await api<{ total: number; first_response: { count: number } }>(token, 'GET', `/reports/conversations${asked.search}`)
    expect(Number(await total.textContent())).toBe(report.total)
    expect(report.total).toBeGreaterThanOrEqual(5)
    expect(asked.searchParams.get('tz')).toBeTruthy()
    for (const chart of ['chart-per-day', 'chart-channel', 'chart-status', 'chart-durations']) {
      await page.locator(`[data-test="${chart}"] canvas`).first().waitFor()
    }
    expect(await page.locator('[data-test="kpi-frt-p50"]').textContent()).toMatch(/\d+(s|m|h|d)/)
    await shot(page, 'supervisor-dashboard')

    await page.setViewportSize({ width: 1920, height: 1080 })
    await page.waitForTimeout(300)
    await shot(page, 'supervisor-dashboard-1920')

    // Chinese: the page and the charts' labels follow
    await page.evaluate(() => localStorage.setItem('relaydesk.locale', 'zh-CN'))
    await page.reload()
    await page.locator('h2', { hasText: '会话数据看板' }).waitFor()
    await page.locator('[data-test="chart-channel"] canvas').first().waitFor()
    expect(await page.locator('[data-test="kpi-first-response"]').textContent()).toContain('首次响应')
    await shot(page, 'supervisor-dashboard-zh-1920')
    await page.setViewportSize({ width: 1366, height: 768 })
    await page.goto('/supervisor/queues')
    await page.locator('[data-test="live-status"][data-status="live"]').waitFor()
    await shot(page, 'supervisor-queues-zh')
    expect(problems).toEqual([])
  })
})
