// A supervisor reveals one phone number: the clear value is shown and the reveal is audited.
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { CLEAR_MOBILE, close, dom, launch, login, newPage } from './helpers'

let browser: Browser

beforeAll(async () => {
  browser = await launch()
})
afterAll(async () => close(browser))

describe('supervisor', () => {
  it('reveals a phone number, sees the audit note, and finds the reveal in the audit log', async () => {
    const { page, problems } = await newPage(browser)
    await login(page, 'supervisor')
    await page.goto('/customers')
    await page.locator('[data-test="phone-cell"]').first().waitFor()
    // a customer with a (masked) phone and e-mail: other specs add customers without either
    const row = page.locator('.el-table__row')
      .filter({ has: page.locator('[data-test="phone-cell"]', { hasText: '****' }) })
      .filter({ hasText: '@' })
      .first()
    const masked = (await row.locator('[data-test="phone-cell"]').textContent())!.trim()
    expect(await dom(page)).not.toMatch(CLEAR_MOBILE)

    await row.click()
    const reveal = page.locator('[data-test="reveal-phone"]')
    await reveal.waitFor()
    await reveal.click()
    const clear = page.locator('[data-field="phone"] [data-test="pii-clear"]')
    await clear.waitFor()
    const value = (await clear.textContent())!.trim()
    expect(value).toMatch(/^\+861[3-9]\d{9}$/)
    // the clear number is the masked one with its middle filled in
    expect(value.slice(0, 6)).toBe(masked.slice(0, 6))
    expect(value.slice(-4)).toBe(masked.slice(-4))
    expect(await page.locator('[data-field="phone"] [data-test="pii-audited"]').textContent()).toContain('audit log')
    // only the revealed field is clear: the e-mail is still masked
    expect(await page.locator('[data-field="email"]').textContent()).toContain('***')

    await page.goto('/admin/audit')
    await page.locator('input[data-test="audit-action"]').fill('customer.pii_revealed')
    await page.locator('[data-test="audit-search"]').click()
    const rows = page.locator('[data-test="audit-table"] .el-table__row')
    await rows.first().waitFor()
    expect(await rows.first().textContent()).toContain('customer.pii_revealed')
    // the actor's e-mail is personal data: the log shows it masked
    expect(await rows.first().textContent()).toMatch(/s\*+r@demo\.relaydesk\.local/)
    const badge = page.locator('[data-test="chain-badge"][data-ok="true"]')
    await badge.waitFor()
    expect(problems).toEqual([])
  })
})
