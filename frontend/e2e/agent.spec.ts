// An agent (no customers.pii.view / reveal) never gets a clear mobile number into the browser.
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { CLEAR_MOBILE, close, dom, launch, login, newPage, recordApi } from './helpers'

let browser: Browser

beforeAll(async () => {
  browser = await launch()
})
afterAll(async () => close(browser))

describe('agent', () => {
  it('sees masked phones only, in the list, the drawer and the next page', async () => {
    const { page, problems } = await newPage(browser)
    const api = recordApi(page)
    await login(page, 'agent')

    await page.locator('[data-test="side-menu"]').getByText('Customers').click()
    const phones = page.locator('[data-test="phone-cell"]')
    await phones.first().waitFor()
    const shown = await phones.allTextContents()
    expect(shown.length).toBeGreaterThanOrEqual(20)
    for (const phone of shown) expect(phone).toMatch(/^\+86\d{3}\*{4}\d{4}$/)
    expect(await dom(page)).not.toMatch(CLEAR_MOBILE)

    // a customer's detail drawer: masked, and no reveal button for this role
    await page.locator('.el-table__row').first().click()
    const drawer = page.locator('[data-test="customer-drawer"]')
    await drawer.locator('[data-field="phone"]').waitFor()
    expect(await drawer.locator('[data-field="phone"]').textContent()).toMatch(/\*{4}/)
    expect(await page.locator('[data-test^="reveal-"]').count()).toBe(0)
    expect(await dom(page)).not.toMatch(CLEAR_MOBILE)

    // the edit form must not carry the hidden values either
    await page.locator('[data-test="customer-edit"]').click()
    await page.locator('[data-test="customer-form"] input[name="phone"]').waitFor()
    expect(await page.locator('[data-test="customer-form"] input[name="phone"]').inputValue()).toBe('')
    expect(await dom(page)).not.toMatch(CLEAR_MOBILE)
    await page.keyboard.press('Escape')

    // the next page of the list
    await page.goto('/customers')
    await page.locator('[data-test="load-more"]').click()
    await page.waitForFunction(() => document.querySelectorAll('[data-test="phone-cell"]').length > 20)
    expect(await dom(page)).not.toMatch(CLEAR_MOBILE)

    // nothing the API sent to this browser held a clear mobile number
    expect(api.length).toBeGreaterThan(2)
    for (const body of api) expect(body).not.toMatch(CLEAR_MOBILE)
    expect(problems).toEqual([])
  })

  it('is not offered the administration screens and is refused them by URL', async () => {
    const { page, problems } = await newPage(browser)
    await login(page, 'agent')
    const menu = await page.locator('[data-test="side-menu"]').textContent()
    expect(menu).not.toContain('API keys')
    expect(menu).not.toContain('Audit log')
    await page.goto('/admin/api-keys')
    await page.locator('[data-test="status-forbidden"]').waitFor()
    expect(problems).toEqual([])
  })

  it('shows a clear message for a wrong password', async () => {
    const { page, problems } = await newPage(browser)
    await page.goto('/login')
    await page.locator('input[name="tenant"]').fill('demo')
    await page.locator('input[name="email"]').fill('agent@demo.relaydesk.local')
    await page.locator('input[name="password"]').fill('not-the-password')
    await page.locator('button[type="submit"]').click()
    const alert = page.locator('[data-error-code="invalid_credentials"]')
    await alert.waitFor()
    expect(await alert.textContent()).toContain('Organisation, e-mail or password is not correct')
    expect(problems).toEqual([])
  })
})
