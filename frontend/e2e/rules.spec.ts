// The rule builder: an admin builds a keyword rule (trigger, an all-group with a keywords
// condition, a notify action), dry-runs it against sample events (a match and a miss), sees
// the server's problem at the trigger field, saves it and finds it in the list with its
// (empty) execution log. Screenshot: rule-builder.png.
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { close, launch, login, newPage, shot } from './helpers'

let browser: Browser
beforeAll(async () => {
  browser = await launch()
})
afterAll(async () => close(browser))

describe('rule builder', () => {
  it('builds a keyword rule, dry-runs it and saves it', async () => {
    const { page, problems } = await newPage(browser)
    await login(page, 'admin')
    await page.locator('[data-test="side-menu"]').getByText('Rules').click()
    await page.locator('[data-test="rule-new"]').click()
    await page.locator('input[data-test="rule-name"]').fill('退款关键词 / refund keyword')
    // the builder starts with: on custom.message_received, all of [text has keywords 退款, refund]
    expect(await page.locator('input[data-test="cond-value"]').first().inputValue()).toContain('退款')
    await page.locator('[data-test="rule-actions"] [data-action="step1"]').waitFor()

    // dry run: a message with the keyword matches; the notification would be sent
    await page.locator('textarea[data-test="dry-payload"]').fill('{"text": "你好，我要退款"}')
    await page.locator('[data-test="dry-run-go"]').click()
    await page.locator('[data-test="dry-matched"][data-matched="true"]').waitFor()
    const action = page.locator('[data-test="dry-action"]').first()
    expect(await action.getAttribute('data-outcome')).toBe('would_run')
    expect(await action.textContent()).toContain('你好，我要退款')
    await shot(page, 'rule-builder')

    // and one without it does not
    await page.locator('textarea[data-test="dry-payload"]').fill('{"text": "where is my parcel?"}')
    await page.locator('[data-test="dry-run-go"]').click()
    await page.locator('[data-test="dry-matched"][data-matched="false"]').waitFor()

    // a misspelt event type: refused, with the problem at the trigger
    await page.locator('input[data-test="trigger-event"]').fill('order.shiped')
    await page.locator('[data-test="rule-save"]').click()
    const problem = page.locator('[data-test="trigger-problem"]')
    await problem.first().waitFor()
    expect(await problem.first().textContent()).toContain('trigger.event')

    await page.locator('input[data-test="trigger-event"]').fill('custom.message_received')
    await page.locator('[data-test="rule-save"]').click()
    await page.getByRole('tab', { name: 'Execution log' }).waitFor()
    expect(page.url()).toMatch(/\/admin\/rules\/[0-9a-f-]{36}$/)
    await page.getByRole('tab', { name: 'Execution log' }).click()
    await page.locator('[data-test="rule-executions"]').waitFor()

    await page.locator('[data-test="side-menu"]').getByText('Rules').click()
    await page.locator('[data-rule="退款关键词 / refund keyword"]').waitFor()
    expect(problems).toEqual([])
    await page.context().close()
  })
})
