// An agent (no customers.pii.view / reveal) never gets a clear mobile number into the browser.
// Order-independent: other specs add customers (a web visitor without a phone, ...) to the
// same demo tenant, so rows are not assumed to be the demo's own or in any order.
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { CLEAR_MOBILE, close, dom, launch, login, newPage, recordApi } from './helpers'

let browser: Browser

/** ids (UUIDv7) are random hex: one in ~2,300 reads as a mobile number ("-15915671559b") */
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi
const withoutIds = (text: string) => text.replace(UUID, '<id>')
/** a masked phone as the API renders it: mainland mobile, landline or international */
const MASKED_PHONE = /^(\+86\d{3}\*{4}\d{4}|\+\d{1,3} ?\*+\d{4}|[+\d\s()-]*\*+\d{4})$/

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
    const shown = (await phones.allTextContents()).map((p) => p.trim())
    expect(shown.length).toBeGreaterThanOrEqual(20)
    // every phone shown is masked (a customer without one shows a dash); the demo's are mobiles
    for (const phone of shown) if (phone !== '—') expect(phone).toMatch(MASKED_PHONE)
    expect(shown.filter((p) => /^\+86\d{3}\*{4}\d{4}$/.test(p)).length).toBeGreaterThanOrEqual(10)
    expect(withoutIds(await dom(page))).not.toMatch(CLEAR_MOBILE)

    // a customer's detail drawer (one with a phone, wherever it is in the list): masked, and
    // no reveal button for this role
    await page.locator('.el-table__row', { has: page.locator('[data-test="phone-cell"]', { hasText: '****' }) }).first().click()
    const drawer = page.locator('[data-test="customer-drawer"]')
    await drawer.locator('[data-field="phone"]').waitFor()
    expect(await drawer.locator('[data-field="phone"]').textContent()).toMatch(/\*{4}/)
    expect(await page.locator('[data-test^="reveal-"]').count()).toBe(0)
    expect(withoutIds(await dom(page))).not.toMatch(CLEAR_MOBILE)

    // the edit form must not carry the hidden values either
    await page.locator('[data-test="customer-edit"]').click()
    await page.locator('[data-test="customer-form"] input[name="phone"]').waitFor()
    expect(await page.locator('[data-test="customer-form"] input[name="phone"]').inputValue()).toBe('')
    expect(withoutIds(await dom(page))).not.toMatch(CLEAR_MOBILE)
    await page.keyboard.press('Escape')

    // the next page of the list
    await page.goto('/customers')
    await page.locator('[data-test="load-more"]').click()
    await page.waitForFunction(() => document.querySelectorAll('[data-test="phone-cell"]').length > 20)
    expect(withoutIds(await dom(page))).not.toMatch(CLEAR_MOBILE)

    // nothing the API sent to this browser held a clear mobile number
    expect(api.length).toBeGreaterThan(2)
    // (ids left out: a random UUID can read as a mobile number; a real leak cannot hide there)
    for (const body of api) expect(withoutIds(body)).not.toMatch(CLEAR_MOBILE)
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
