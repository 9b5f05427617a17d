// The call-centre inbox settings in the browser (zh-CN): an admin creates a voice inbox from
// the form (the call centre's API, AppKey, write-only AppSecret, hotline, seats); the server's
// error lands on the seat row it names; once saved, the dialog shows the address the call
// centre pushes its call events to, with a copy button; the AppSecret never comes back.
// Screenshot: inbox-voice-zh.png.
import { randomUUID } from 'node:crypto'

import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { apiToken, BASE_URL, close, dom, launch, login, newPage, shot } from './helpers'
import { api, ok } from './shop'

const RUN = randomUUID().slice(0, 8)
const SECRET = `cc-secret-${randomUUID()}`

let browser: Browser
beforeAll(async () => {
  browser = await launch()
})
afterAll(async () => close(browser))

describe('call-centre inbox settings', () => {
  it('creates a voice inbox with seats, shows its callback address, never shows the AppSecret', async () => {
    const { page, context, problems } = await newPage(browser, 'zh-CN')
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE_URL })
    await login(page, 'admin')
    await page.goto('/admin/inboxes')
    await page.locator('[data-test="inbox-new"]').click()
    const dialog = page.locator('[data-test="inbox-dialog"]')
    const name = `售后热线 ${RUN}`
    await dialog.locator('[data-test="inbox-name"]').fill(name)
    await dialog.locator('[data-test="inbox-channel"] label', { hasText: '电话' }).click()
    await dialog.locator('.rd-settings[data-channel="voice"]').waitFor()
    expect(await dialog.textContent()).toContain('呼叫中心')
    await dialog.locator('[data-field="base_url"]').fill('https://cc.example.com/open-api')
    await dialog.locator('[data-field="app_key"]').fill('yh-app-key')
    await dialog.locator('[data-field="app_secret"]').fill(SECRET)
    await dialog.locator('[data-field="hotline"]').fill('4008001234')
    // two seats: the second with a mistyped e-mail
    const seats = dialog.locator('[data-test="seats"]')
    await seats.locator('[data-test="seat-add"]').click()
    await seats.locator('[data-test="seat-add"]').click()
    const rows = seats.locator('[data-test="seat-row"]')
    await rows.nth(0).locator('input[data-test="seat-no"]').fill('1001')
    await rows.nth(0).locator('input[data-test="seat-email"]').fill('wangli@yq-shop.com')
    await rows.nth(1).locator('input[data-test="seat-no"]').fill('1002')
    await rows.nth(1).locator('input[data-test="seat-email"]').fill('zhaomin(at)yq-shop.com')
    await dialog.locator('[data-test="inbox-save"]').click()
    const seatError = rows.nth(1).locator('[data-test="seat-error"]')
    await seatError.waitFor({ timeout: 30_000 })
    expect(await rows.nth(0).locator('[data-test="seat-error"]').count()).toBe(0)

    await rows.nth(1).locator('input[data-test="seat-email"]').fill('zhaomin@yq-shop.com')
    await dialog.locator('[data-test="inbox-save"]').click()
    // saved: the dialog stays on the new inbox with the address to set in the call centre
    const callback = dialog.locator('[data-callback="voiceEvents"]')
    await callback.waitFor({ timeout: 30_000 })
    const url = (await callback.locator('[data-test="callback-url"]').textContent())!.replace(/^POST\s+/, '').trim()
    expect(url).toMatch(new RegExp(`^${BASE_URL.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/api/v1/channels/voice/[0-9a-f-]{36}/events$`))
    await callback.locator('[data-test="callback-copy"]').click()
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(url)
    await callback.scrollIntoViewIfNeeded()
    await shot(page, 'inbox-voice-zh')
    expect(await dom(page)).not.toContain(SECRET)
    await page.keyboard.press('Escape')
    await page.locator(`[data-inbox="${name}"]`).waitFor()
    const row = page.locator('.el-table__row', { has: page.locator(`[data-inbox="${name}"]`) })
    expect(await row.textContent()).toContain('4008001234') // the hotline in the list

    // stored as sent, the secret kept apart (encrypted), never in the settings
    const admin = await apiToken('admin')
    const inboxes = await ok<{ items: { id: string; name: string; settings: Record<string, unknown> }[] }>(api(admin, 'GET', '/api/v1/inboxes?limit=200'))
    const saved = inboxes.items.find((i) => i.name === name)!
    expect(url).toContain(saved.id)
    expect(saved.settings.seats).toEqual([
      { seat: '1001', email: 'wangli@yq-shop.com' },
      { seat: '1002', email: 'zhaomin@yq-shop.com' },
    ])
    expect(JSON.stringify(saved)).not.toContain(SECRET)
    expect(problems).toEqual([])
  })
})
