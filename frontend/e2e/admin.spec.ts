// An administrator creates an API key: the secret is shown once, works, and is gone after.
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { BASE_URL, close, dom, launch, login, newPage } from './helpers'

let browser: Browser

beforeAll(async () => {
  browser = await launch()
})
afterAll(async () => close(browser))

describe('admin', () => {
  it('creates an API key and sees it exactly once', async () => {
    const { page, context, problems } = await newPage(browser)
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE_URL })
    await login(page, 'admin')
    await page.goto('/admin/api-keys')
    await page.locator('[data-test="apikey-new"]').click()
    const name = `E2E order sync ${Date.now()}`
    await page.locator('input[data-test="apikey-name"]').fill(name)
    await page.locator('[data-test="apikey-permissions"]').click()
    await page.locator('.el-select-dropdown__item').filter({ hasText: 'customers.read' }).first().click()
    await page.keyboard.press('Escape')
    await page.locator('[data-test="apikey-create"]').click()

    const secretInput = page.locator('input[data-test="apikey-secret"]')
    await secretInput.waitFor()
    const secret = await secretInput.inputValue()
    expect(secret).toMatch(/^rdk_[A-Za-z0-9_\-]{20,}$/)

    await page.locator('[data-test="apikey-copy"]').click()
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret)

    // the key is real: it authenticates against the API with just the permission granted
    const me = await fetch(`${BASE_URL}/api/v1/auth/me`, { headers: { 'X-API-Key': secret } })
    expect(me.status).toBe(200)
    expect((await me.json()).permissions).toEqual(['customers.read'])

    await page.locator('[data-test="apikey-done"]').click()
    const row = page.locator('[data-test="apikey-table"] .el-table__row').filter({ hasText: name })
    await row.waitFor()
    expect(await row.textContent()).toContain(secret.slice(0, 8))
    await page.locator('[data-test="apikey-dialog"]').waitFor({ state: 'hidden' })
    expect(await dom(page)).not.toContain(secret)

    // after a reload the list still shows only the prefix
    await page.reload()
    await row.waitFor()
    expect(await dom(page)).not.toContain(secret)
    expect(problems).toEqual([])
  })
})

describe('organisation settings', () => {
  it('shows the server’s field errors on the IP allow-list', async () => {
    const { page, problems } = await newPage(browser)
    await login(page, 'admin')
    await page.goto('/admin/settings')
    const list = page.locator('[data-test="ip-allowlist"]')
    await list.waitFor()

    // a malformed entry: the error sits next to that entry
    await list.getByRole('button', { name: 'Add network' }).click()
    await list.locator('input').last().fill('not-a-network')
    await page.getByRole('button', { name: 'Save' }).click()
    const entryError = list.locator('.el-form-item__error')
    await entryError.first().waitFor()
    expect(await entryError.first().textContent()).toBeTruthy()

    // a list that would lock the administrator out (the browser comes from 127.0.0.1)
    await list.locator('input').last().fill('10.0.0.0/8')
    await page.getByRole('button', { name: 'Save' }).click()
    await page.waitForFunction(() =>
      [...document.querySelectorAll('.el-form-item__error')].some((e) => e.textContent?.includes('lock you out')),
    )
    // nothing was saved: a reload shows no restriction
    await page.reload()
    await list.waitFor()
    expect(await list.textContent()).toContain('No restriction')
    expect(problems).toEqual([])
  })
})
