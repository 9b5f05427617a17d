// Customer administration by an admin (customers masked for this role): defines a typed
// attribute and sees its input in the customer form, adds an identity to a customer (a
// refused value first, shown at the field), and merges two customers from a merge suggestion
// after a confirmation that shows what moves. Order-independent: everything this spec makes
// carries its own run id, and every phone it uses is a mainland mobile (masked for agents).
import { randomInt, randomUUID } from 'node:crypto'

import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { BASE_URL, CLEAR_MOBILE, apiToken, close, launch, login, newPage } from './helpers'

const RUN = randomUUID().slice(0, 8)
const KEY = `visits_${RUN}`
const LABEL = `Store visits ${RUN}`
const MOBILE = `139${String(randomInt(10_000_000, 99_999_999))}`
const SECOND = `137${String(randomInt(10_000_000, 99_999_999))}`
const OLDER = `合并甲 ${RUN}`
const NEWER = `合并乙 ${RUN}`

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi

let browser: Browser
const ids = { older: '', newer: '' }

async function api(token: string, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${BASE_URL}/api/v1${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
}

async function pick(page: Page, select: string, option: string): Promise<void> {
  await page.locator(select).click()
  await page.locator('.el-select-dropdown__item', { hasText: option }).filter({ visible: true }).first().click()
}

beforeAll(async () => {
  browser = await launch()
  // two profiles of one person: the second has the first one's phone, so the server suggests
  // merging them (reason: same profile data)
  const admin = await apiToken('admin')
  for (const [name, key] of [[OLDER, 'older'], [NEWER, 'newer']] as const) {
    const r = await api(admin, 'POST', '/customers', { name, phone: MOBILE, tags: [`e2e-${RUN}`] })
    expect(r.status, await r.clone().text()).toBe(201)
    ids[key] = ((await r.json()) as { id: string }).id
  }
})

afterAll(async () => {
  const admin = await apiToken('admin')
  await api(admin, 'DELETE', `/customers/attribute-definitions/${KEY}`)
  // the spec's customers go too (with the one merged into the older): other specs read the
  // newest customers first and expect demo customers with every field
  for (const id of [ids.newer, ids.older]) if (id) await api(admin, 'DELETE', `/customers/${id}`)
  await close(browser)
})

describe('customer administration', () => {
  it('an admin defines a typed attribute and the customer form offers its input', async () => {
    const { page, problems } = await newPage(browser)
    await login(page, 'admin')
    await page.goto('/customers/attributes') // in the Administration group of the menu
    await page.locator('[data-test="attribute-table"]').waitFor()
    await page.locator('[data-test="attribute-new"]').click()
    const form = page.locator('[data-test="attribute-form"]')
    await form.locator('input[name="key"]').fill(KEY)
    await form.locator('input[name="label_zh"]').fill(`到店次数 ${RUN}`)
    await form.locator('input[name="label_en"]').fill(LABEL)
    await pick(page, '[data-test="attribute-type"]', 'Number')
    await form.locator('[data-test="attribute-save"]').click()
    await page.locator('[data-test="attribute-table"]').getByText(KEY).waitFor()
    expect(await page.locator('[data-test="attribute-table"] .el-table__row', { hasText: KEY }).textContent()).toContain('Number')

    // the customer form: a number input for it
    await page.goto('/customers')
    await page.locator('[data-test="customer-new"]').click()
    const item = page.locator(`[data-test="customer-form"] [data-attr="${KEY}"]`)
    await item.waitFor()
    expect(await item.textContent()).toContain(LABEL)
    expect(await item.locator('.el-input-number').count()).toBe(1)
    expect(problems).toEqual([])
  })

  it('adds an identity: a refused value first, shown at the field, then a valid one, masked', async () => {
    const { page, problems } = await newPage(browser)
    await login(page, 'admin')
    await page.goto('/customers')
    const search = page.locator('input[data-test="customer-search"], [data-test="customer-search"] input').first()
    await search.fill(OLDER)
    await search.press('Enter')
    await page.locator('.el-table__row', { hasText: OLDER }).click()
    const drawer = page.locator('[data-test="customer-drawer"]')
    await drawer.locator('[data-test="identity-row"]').first().waitFor()
    await drawer.locator('[data-test="identity-add"]').click()
    const form = drawer.locator('[data-test="identity-form"]')
    await form.locator('input[name="identity-value"]').fill('12345')
    await form.locator('[data-test="identity-save"]').click()
    const error = form.locator('.el-form-item.is-error .el-form-item__error')
    await error.waitFor()
    expect((await error.textContent())!.length).toBeGreaterThan(3)
    await form.locator('input[name="identity-value"]').fill(`+86 ${SECOND.slice(0, 3)}-${SECOND.slice(3, 7)}-${SECOND.slice(7)}`)
    await form.locator('[data-test="identity-save"]').click()
    const added = drawer.locator('[data-test="identity-value"]', { hasText: `${SECOND.slice(0, 3)}****${SECOND.slice(7)}` })
    await added.waitFor()
    // the admin sees personal data masked (ids left out: a random UUID can read as a mobile)
    expect((await page.content()).replace(UUID, '<id>')).not.toMatch(CLEAR_MOBILE)
    expect(problems).toEqual([])
  })

  it('merges two customers from a suggestion after a confirmation that shows what moves', async () => {
    const { page, problems } = await newPage(browser)
    await login(page, 'admin')
    await page.locator('[data-test="side-menu"]').getByText('Duplicates').click()
    const row = page.locator('[data-test="suggestion-table"] .el-table__row', { hasText: NEWER })
    await row.waitFor()
    expect(await row.textContent()).toContain(OLDER)
    await row.locator('[data-test="suggestion-merge"]').click()
    const confirm = page.locator('[data-test="merge-confirm"]')
    await confirm.locator('[data-test="merge-survivor"]').waitFor()
    expect(await confirm.locator('[data-test="merge-survivor"]').textContent()).toBe(OLDER)
    expect(await confirm.textContent()).toContain(`${NEWER} is merged into ${OLDER}`)
    await confirm.locator('[data-test="merge-confirm-button"]').click()
    await row.waitFor({ state: 'detached' })

    // the newer profile is gone (merged), the older one holds the person
    const admin = await apiToken('admin')
    const gone = await api(admin, 'GET', `/customers/${ids.newer}`)
    expect(gone.status).toBe(404)
    expect(((await gone.json()) as { error: { code: string } }).error.code).toBe('customer_merged')
    expect((await api(admin, 'GET', `/customers/${ids.older}`)).status).toBe(200)
    expect(problems).toEqual([])
  })
})
