// Embedded apps: an admin registers a page of an "existing system" (a demo app on another
// loopback origin, started by tests/web/test_e2e.py), opens a customer, and the page shows the
// customer id from a context token it verified with Relaydesk's published JWKS — from its URL
// and from postMessage — and gets a new token when it asks. Screenshot: embedded-app.png.
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { close, launch, login, newPage, shot } from './helpers'

const APP_URL = (process.env.RELAYDESK_E2E_APP_URL ?? '').replace(/\/$/, '')
let browser: Browser

beforeAll(async () => {
  if (!APP_URL) throw new Error('RELAYDESK_E2E_APP_URL is not set: run the suite through tests/web/test_e2e.py')
  browser = await launch()
})
afterAll(async () => close(browser))

describe('embedded apps', () => {
  it('a registered app verifies the context token with the JWKS and shows the customer id', async () => {
    const { page, problems } = await newPage(browser)
    await login(page, 'admin')
    await page.locator('[data-test="side-menu"]').getByText('Embedded apps').click()
    await page.locator('[data-test="app-new"]').click()
    const form = page.locator('[data-test="app-form"]')
    await form.locator('input[data-test="app-name"]').fill('Order console')
    // a bad URL first: the server's message at the field
    await form.locator('input[data-test="app-url"]').fill('javascript:alert(1)')
    await page.locator('[data-test="app-save"]').click()
    await form.locator('.el-form-item__error').first().waitFor()
    await form.locator('input[data-test="app-url"]').fill(`${APP_URL}/?view=orders`)
    await page.locator('[data-test="app-save"]').click()
    const row = page.locator('[data-app-name="Order console"]')
    await row.waitFor()
    const appId = await row.getAttribute('data-app-id')
    expect(appId).toMatch(/^[0-9a-f-]{36}$/)
    // the app's owner configures the audience it expects: its id in Relaydesk
    const configured = await fetch(`${APP_URL}/config`, { method: 'POST', body: JSON.stringify({ audience: appId }) })
    expect(configured.ok).toBe(true)

    // the page's CSP now lets the workbench frame that origin (and no other)
    await page.reload()
    await page.locator('[data-test="side-menu"]').getByText('Customers').click()
    // the customers' table, not the apps' table the previous screen may still show
    await page.locator('[data-test="customer-table"] .el-table__row').first().click()
    const drawer = page.locator('[data-test="customer-drawer"][data-customer-id]')
    await drawer.waitFor()
    const customerId = await drawer.getAttribute('data-customer-id')
    expect(customerId).toMatch(/^[0-9a-f-]{36}$/)
    const iframe = drawer.locator('[data-test="app-iframe"]')
    await iframe.waitFor()
    expect(await iframe.getAttribute('sandbox')).toBe('allow-scripts allow-forms allow-same-origin')
    expect(await iframe.getAttribute('src')).toContain('rd_token=')

    const frame = page.frameLocator('[data-test="app-iframe"]')
    await expect.poll(() => frame.locator('#url-customer').textContent(), { timeout: 15_000 }).toBe(customerId)
    await expect.poll(() => frame.locator('#pm-customer').textContent(), { timeout: 15_000 }).toBe(customerId)
    const firstJti = await frame.locator('#pm-jti').textContent()
    await iframe.scrollIntoViewIfNeeded()
    await shot(page, 'embedded-app')

    // the app asks for a refresh (throttled to one new token per 5 s): a new, verified token
    await page.waitForTimeout(5200)
    const before = Number(await frame.locator('#pm-count').textContent())
    await frame.locator('#refresh').click()
    await expect.poll(async () => Number(await frame.locator('#pm-count').textContent()), { timeout: 15_000 }).toBeGreaterThan(before)
    expect(await frame.locator('#pm-customer').textContent()).toBe(customerId)
    expect(await frame.locator('#pm-jti').textContent()).not.toBe(firstJti)
    expect(problems).toEqual([])
    await page.context().close()
  })
})
