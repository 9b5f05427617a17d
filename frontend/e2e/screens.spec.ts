// The main screens at 1366×768, each checked for CSP problems; screenshots go to
// docs/screenshots/ when RELAYDESK_SCREENSHOTS=1 (`make screenshots`), else to a temp dir.
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { apiToken, BASE_URL, close, launch, login, newPage, shot } from './helpers'

let browser: Browser

beforeAll(async () => {
  browser = await launch()
  // an API key, so that the API key screen has something to show
  const token = await apiToken('admin')
  const created = await fetch(`${BASE_URL}/api/v1/api-keys`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: 'Order system sync', permissions: ['customers.read', 'customers.write'] }),
  })
  if (created.status !== 201) throw new Error(`creating the demo key failed: ${created.status}`)
})
afterAll(async () => close(browser))

async function visit(page: Page, path: string, ready: string): Promise<void> {
  await page.goto(path)
  await page.locator(ready).first().waitFor()
  await page.waitForLoadState('networkidle')
}

describe('main screens', () => {
  it('render without CSP violations or script errors (English, owner)', async () => {
    const { page, problems } = await newPage(browser, 'en-US')
    await page.goto('/login')
    await page.locator('input[name="tenant"]').waitFor()
    await shot(page, 'login')
    await login(page, 'owner')
    await page.waitForLoadState('networkidle')
    await shot(page, 'workbench')
    await visit(page, '/admin/users', '.el-table__row')
    await shot(page, 'users')
    await visit(page, '/admin/roles', '[data-test="permission-matrix"] td')
    await shot(page, 'roles-matrix')
    await visit(page, '/admin/org', '.el-tree-node')
    await shot(page, 'departments-teams')
    await visit(page, '/admin/api-keys', '[data-test="apikey-table"]')
    await shot(page, 'api-keys')
    await visit(page, '/admin/settings', '[data-test="ip-allowlist"]')
    await shot(page, 'settings')
    await visit(page, '/admin/audit', '[data-test="audit-table"] .el-table__row')
    await page.locator('[data-test="chain-badge"][data-ok]').waitFor()
    await shot(page, 'audit-log')
    expect(problems).toEqual([])
  })

  it('render in Chinese (supervisor: customers with a revealed field)', async () => {
    const { page, problems } = await newPage(browser, 'zh-CN')
    await login(page, 'supervisor')
    await page.waitForLoadState('networkidle')
    await shot(page, 'workbench-zh')
    await visit(page, '/customers', '[data-test="phone-cell"]')
    await shot(page, 'customers-zh')
    await page.locator('.el-table__row') // one with a masked phone (not every customer has one)
      .filter({ has: page.locator('[data-test="phone-cell"]', { hasText: '****' }) })
      .first()
      .click()
    await page.locator('[data-test="reveal-phone"]').click()
    await page.locator('[data-test="pii-clear"]').waitFor()
    await shot(page, 'customer-reveal-zh')
    expect(problems).toEqual([])
  })
})
