// Connectors: an agent runs a read action of the demo order system and sees the orders with
// personal fields masked; on the finance system the agent holds no action permission, so no
// Run button is offered. Screenshot: connectors.png.
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { apiToken, BASE_URL, CLEAR_MOBILE, close, dom, launch, login, newPage, recordApi, shot } from './helpers'

let browser: Browser
/** a demo customer's mobile (11 digits) with at least one order in the demo order system */
let mobile = ''

async function api<T>(token: string, path: string, init: RequestInit = {}): Promise<T> {
  const response = await fetch(`${BASE_URL}/api/v1${path}`, {
    ...init,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
  })
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`)
  return (await response.json()) as T
}

beforeAll(async () => {
  browser = await launch()
  // the owner reads clear phones: take the first demo customer who has orders
  const owner = await apiToken('owner')
  const customers = await api<{ items: { phone: string | null }[] }>(owner, '/customers?limit=10')
  const instances = await api<{ items: { id: string; name: string }[] }>(owner, '/connector-instances')
  const orders = instances.items.find((i) => i.name === 'orders')
  if (!orders) throw new Error('the demo organisation has no orders connector')
  for (const c of customers.items) {
    const candidate = (c.phone ?? '').replace(/^\+86/, '')
    if (!/^1[3-9]\d{9}$/.test(candidate)) continue
    const outcome = await api<{ ok: boolean; data: unknown[] }>(owner, `/connector-instances/${orders.id}/actions/list_orders_by_mobile/run`, {
      method: 'POST',
      body: JSON.stringify({ params: { mobile: candidate } }),
    })
    if (outcome.ok && outcome.data.length) {
      mobile = candidate
      break
    }
  }
  if (!mobile) throw new Error('no demo customer with orders among the first ten')
})
afterAll(async () => close(browser))

describe('connectors', () => {
  it('an agent runs list_orders_by_mobile and sees the receiver phone masked', async () => {
    const { page, problems } = await newPage(browser)
    const bodies = recordApi(page)
    await login(page, 'agent')
    await page.locator('[data-test="side-menu"]').getByText('Connectors').click()
    await page.locator('[data-test="open-orders"]').click()
    await page.locator('[data-test="connector-title"]').waitFor()

    await page.locator('button[data-test="run-list_orders_by_mobile"]').click()
    const dialog = page.locator('[data-test="run-dialog"]')
    await dialog.locator('[data-field="mobile"].is-required').waitFor()
    // required: nothing is sent without a mobile number
    await page.locator('[data-test="run-submit"]').click()
    await dialog.locator('[data-field="mobile"] .el-form-item__error').waitFor()

    await dialog.locator('input[name="mobile"]').fill(mobile)
    await page.locator('[data-test="run-submit"]').click()
    await dialog.locator('[data-test="outcome"][data-ok="true"]').waitFor()
    const phones = await dialog.locator('[data-test="outcome-table"] [data-col="receiver_phone"]').allTextContents()
    expect(phones.length).toBeGreaterThan(0)
    for (const phone of phones) expect(phone).toMatch(/^1\d{2}\*{4}\d{4}$/)
    expect(await dialog.locator('[data-test="fetched-at"]').textContent()).toContain('Fetched at')
    expect(await dom(page)).not.toMatch(CLEAR_MOBILE)
    // the orders came back masked from the server: only the request carried the number
    const runs = bodies.filter((b) => b.includes('/actions/list_orders_by_mobile/run'))
    expect(runs.length).toBe(1)
    expect(runs[0]).not.toMatch(CLEAR_MOBILE)
    await shot(page, 'connectors')
    expect(problems).toEqual([])
  })

  it('offers the agent no Run button on the finance system', async () => {
    const { page, problems } = await newPage(browser)
    await login(page, 'agent')
    await page.goto('/admin/connectors')
    await page.locator('[data-test="open-finance"]').click()
    await page.locator('[data-test="action-table"] .el-table__row').first().waitFor()
    expect(await page.locator('[data-test="may-run-get_invoices_by_mobile"]').textContent()).toBe('No')
    expect(await page.locator('button[data-test^="run-"]').count()).toBe(0)
    // health and recent calls render for the instance
    await page.getByRole('tab', { name: 'Health' }).click()
    await page.locator('[data-test="health-table"] .el-table__row').first().waitFor()
    await page.getByRole('tab', { name: 'Recent calls' }).click()
    await page.locator('[data-test="calls-table"]').waitFor()
    expect(problems).toEqual([])
  })
})
