// The UI language: zh-CN for a Chinese browser, en otherwise, switchable and remembered.
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { close, launch, login, newPage } from './helpers'

let browser: Browser

beforeAll(async () => {
  browser = await launch()
})
afterAll(async () => close(browser))

async function switchTo(page: Page, locale: 'zh-CN' | 'en'): Promise<void> {
  await page.locator('.rd-header [data-test="lang-switch"]').click()
  await page.locator(`.el-dropdown-menu__item[data-locale="${locale}"]:visible`).click()
}

describe('language', () => {
  it('switches the menu between English and Chinese and remembers the choice', async () => {
    const { page, problems } = await newPage(browser, 'en-US')
    await login(page, 'admin')
    const menu = page.locator('[data-test="side-menu"]')
    expect(await menu.textContent()).toContain('Customers')
    expect(await menu.textContent()).toContain('Audit log')

    await switchTo(page, 'zh-CN')
    await page.waitForFunction(() => document.querySelector('[data-test="side-menu"]')?.textContent?.includes('客户'))
    const zh = await menu.textContent()
    expect(zh).toContain('工作台')
    expect(zh).toContain('审计日志')
    expect(zh).not.toContain('Customers')
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('zh-CN')

    await page.reload()
    await menu.waitFor()
    expect(await menu.textContent()).toContain('审计日志')

    await switchTo(page, 'en')
    await page.waitForFunction(() => document.querySelector('[data-test="side-menu"]')?.textContent?.includes('Customers'))
    expect(await menu.textContent()).not.toContain('客户')
    expect(problems).toEqual([])
  })

  it('starts in Chinese for a Chinese browser', async () => {
    const { page, problems } = await newPage(browser, 'zh-CN')
    await page.goto('/login')
    await page.getByText('登录 Relaydesk').waitFor()
    await login(page, 'agent')
    expect(await page.locator('[data-test="side-menu"]').textContent()).toContain('客户')
    expect(problems).toEqual([])
  })
})
