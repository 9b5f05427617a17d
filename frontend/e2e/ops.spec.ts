// The ops administration pages in the browser: an administrator creates a priority rule (the
// owner: a rule's lookup runs with the CRM read action's permission, which only a holder of it
// may give a rule, and the built-in admin role does not hold connector actions; the server's
// error first, at the condition field, then it saves), finds an event in the event log and
// opens it (payload as JSON), and edits a canned response inserting a variable. Everything the
// spec creates is its own (unique names) and removed afterwards; the demo's rules are untouched.
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { apiToken, BASE_URL, close, launch, login, newPage, shot } from './helpers'

const STAMP = Date.now().toString(36)
const RULE_NAME = `E2E 银卡会员 ${STAMP}`
const SHORTCUT = `e2e-ops-${STAMP}`

let browser: Browser
let token = ''
let cannedId = ''

async function api(method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${BASE_URL}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  })
}

beforeAll(async () => {
  token = await apiToken('admin')
  const created = await api('POST', '/api/v1/canned-responses', { shortcut: SHORTCUT, title: 'E2E 问候', body: '您好，' })
  expect(created.status).toBe(201)
  cannedId = (await created.json()).id
  browser = await launch()
})

afterAll(async () => {
  await close(browser)
  // leave nothing behind: the rule (there are at most 20 per organisation) and the reply
  const rules = (await (await api('GET', '/api/v1/routing/priority-rules')).json()) as { id: string; name: string }[]
  for (const r of rules.filter((x) => x.name === RULE_NAME)) await api('DELETE', `/api/v1/routing/priority-rules/${r.id}`)
  if (cannedId) await api('DELETE', `/api/v1/canned-responses/${cannedId}`)
})

describe('ops administration', () => {
  it('creates a priority rule after fixing the condition the server refused', async () => {
    const { page, problems } = await newPage(browser)
    await login(page, 'owner')
    await page.locator('[data-test="side-menu"]').getByText('Routing').click()
    await page.locator('[data-test="priority-table"]').waitFor()
    await page.locator('[data-test="priority-new"]').click()
    const dialog = page.locator('[data-test="priority-dialog"]')
    await dialog.locator('input[data-test="priority-name"]').fill(RULE_NAME)
    await dialog.locator('[data-test="priority-instance"]').click()
    await page.locator('.el-select-dropdown__item', { hasText: '(crm)' }).filter({ visible: true }).first().click()
    await dialog.locator('[data-test="priority-action"]').click()
    await page.locator('.el-select-dropdown__item', { hasText: 'find_contact_by_mobile' }).filter({ visible: true }).first().click()
    // the action's parameters appear: the mobile number from the customer
    await dialog.locator('input[data-test="priority-param-mobile"]').fill('{{ customer.phone_national }}')
    // a condition may read the answer (result) and the customer, not the order
    await dialog.locator('textarea[data-test="priority-condition"]').fill("order.tier == 'silver'")
    await dialog.locator('[data-test="priority-save"]').click()
    const conditionItem = dialog.locator('.el-form-item.is-error', { has: page.locator('textarea[data-test="priority-condition"]') })
    await conditionItem.waitFor()
    expect(await conditionItem.locator('.el-form-item__error').textContent()).toMatch(/result|customer/)
    await shot(page, 'priority-rule-error')

    await dialog.locator('textarea[data-test="priority-condition"]').fill("result[0].tier == 'e2e-never'")
    await dialog.locator('[data-test="priority-save"]').click()
    await dialog.waitFor({ state: 'hidden' })
    const row = page.locator('[data-test="priority-table"] .el-table__row', { has: page.locator(`[data-rule="${RULE_NAME}"]`) })
    await row.waitFor()
    expect(await row.textContent()).toContain('crm.find_contact_by_mobile')
    expect(await row.textContent()).toContain('High')
    // the demo's own rule is still there, untouched
    expect(await page.locator('[data-test="priority-table"]').textContent()).toContain('VIP 专席')
    expect(problems).toEqual([])
    await page.context().close()
  })

  it('finds an event in the event log and opens it', async () => {
    const newest = (await (await api('GET', '/api/v1/events?limit=1')).json()) as { items: { id: string; type: string; key: string }[] }
    expect(newest.items.length).toBeGreaterThan(0)
    const event = newest.items[0]!
    const { page, problems } = await newPage(browser)
    await login(page, 'admin')
    await page.locator('[data-test="side-menu"]').getByText('Event log').click()
    await page.locator('[data-test="events-table"]').waitFor()
    await page.locator('input[data-test="events-type"]').fill(event.type)
    await page.locator('input[data-test="events-key"]').fill(event.key)
    await page.locator('[data-test="events-search"]').click()
    const cell = page.locator(`[data-test="events-table"] [data-event-type="${event.type}"]`).first()
    await cell.waitFor()
    const types = await page.locator('[data-test="events-table"] [data-event-type]').allTextContents()
    expect(new Set(types)).toEqual(new Set([event.type]))
    await cell.click()
    const drawer = page.locator('[data-test="event-drawer"]')
    await drawer.locator('[data-test="event-payload"]').waitFor()
    await drawer.locator('[data-test="event-id"]', { hasText: event.id }).waitFor()
    const payload = await drawer.locator('[data-test="event-payload"]').textContent()
    expect(() => JSON.parse(payload ?? '')).not.toThrow()
    expect(page.url()).toContain('event=')
    await shot(page, 'event-log')
    expect(problems).toEqual([])
    await page.context().close()
  })

  it('edits a canned response with a variable', async () => {
    const { page, problems } = await newPage(browser)
    await login(page, 'admin')
    await page.locator('[data-test="side-menu"]').getByText('Canned responses').click()
    await page.locator('input[data-test="canned-search"]').fill(SHORTCUT)
    await page.locator('input[data-test="canned-search"]').press('Enter')
    const row = page.locator('[data-test="canned-table"] .el-table__row', { has: page.locator(`[data-shortcut="${SHORTCUT}"]`) })
    await row.waitFor()
    await row.locator('[data-test="canned-edit"]').click()
    const dialog = page.locator('[data-test="canned-dialog"]')
    await dialog.locator('input[data-test="canned-title"]').fill('E2E 问候（已修改）')
    const body = dialog.locator('textarea[data-test="canned-body"]')
    await body.click()
    await body.press('End')
    await dialog.getByRole('button', { name: 'customer.name' }).click()
    expect(await body.inputValue()).toBe('您好，{{ customer.name }}')
    await dialog.locator('[data-test="canned-used"]').getByText('customer.name').waitFor()
    await dialog.locator('[data-test="canned-save"]').click()
    await dialog.waitFor({ state: 'hidden' })
    await row.getByText('E2E 问候（已修改）').waitFor()
    const stored = (await (await api('GET', `/api/v1/canned-responses?q=${SHORTCUT}`)).json()) as { items: { id: string; title: string; body: string }[] }
    expect(stored.items.find((c) => c.id === cannedId)).toMatchObject({ title: 'E2E 问候（已修改）', body: '您好，{{ customer.name }}' })
    expect(problems).toEqual([])
    await page.context().close()
  })
})
