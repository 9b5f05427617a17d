// A rule built in the UI fires on a keyword: an admin builds it in the rule builder (trigger
// message.received, a keywords condition, a conversation.reply action with its text, run as
// conversations.write) and saves it; a customer (signed in at the shop, a demo customer) then
// writes the keyword through the chat widget on the shop's page, and the bot's answer appears
// in the widget and in the conversation in the workbench; the rule's execution log shows the
// run.
// Screenshots: rule-keyword-reply.png, rule-keyword-widget-zh.png.
import { randomUUID } from 'node:crypto'

import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { apiToken, close, launch, login, newPage, shot } from './helpers'
import {
  answer, api, demoCustomer, goOnline, linkShopUser, ok, openChat, say, startShop, userHash, webChatInbox,
  type Shop,
} from './shop'

const RUN = randomUUID().slice(0, 8)
const KEYWORD = '开发票'
const REPLY = `您好！电子发票会在确认收货后 24 小时内发到您的邮箱。（${RUN}）`
const RULE_PREFIX = '开发票自动回复'
const RULE = `${RULE_PREFIX} ${RUN}`
const SHOP_USER = `invoice-${RUN}`

let browser: Browser
let shop: Shop
let inboxId = ''

/** This spec's rules (an earlier run against the same server left one): disabled. */
async function disableOurRules(admin: string): Promise<void> {
  const rules = await ok<{ items: { id: string; name: string; enabled: boolean }[] }>(api(admin, 'GET', '/api/v1/rules?limit=200'))
  for (const rule of rules.items.filter((r) => r.enabled && r.name.startsWith(RULE_PREFIX))) {
    await ok(api(admin, 'POST', `/api/v1/rules/${rule.id}/disable`))
  }
}

beforeAll(async () => {
  browser = await launch()
  shop = await startShop()
  await disableOurRules(await apiToken('admin'))
  // a signed-in shop user who is a demo customer (none of the other specs' customers: one
  // without an unshipped order), so that the chat adds no new customer to the demo's list
  const owner = await apiToken('owner')
  const customer = await demoCustomer(owner, (orders) =>
    orders.length > 0 && !orders.some((o) => o.status === 'awaiting_shipment' || o.status === 'pending_payment'))
  await linkShopUser(owner, customer.id, SHOP_USER)
  const inbox = await webChatInbox(await apiToken('admin'), `发票咨询 ${RUN}`, shop, true)
  inboxId = inbox.id
  shop.setSnippet(inbox.snippet, { 'user-id': SHOP_USER, 'user-hash': userHash(inbox.secret!, SHOP_USER) })
})

afterAll(async () => {
  await disableOurRules(await apiToken('admin'))
  await close(browser)
  await shop?.close()
})

describe('a rule built in the UI', () => {
  it('answers a customer\'s message that has its keyword', async () => {
    const { page, problems } = await newPage(browser, 'en-US')
    await login(page, 'admin')
    await page.goto('/admin/rules/new')
    await page.locator('input[data-test="rule-name"]').fill(RULE)
    // when: a customer's message arrives; if: it has the keyword
    await page.locator('input[data-test="trigger-event"]').fill('message.received')
    const condition = page.locator('input[data-test="cond-value"]').first()
    await condition.fill(JSON.stringify([KEYWORD]))
    // then: reply in the conversation (the builder starts with a notify action: replace it)
    const actions = page.locator('[data-test="rule-actions"]')
    await actions.locator('[data-action="step1"]').waitFor()
    await actions.locator('[data-action="step1"] button[aria-label="Remove"]').click()
    await actions.locator('[data-action]').first().waitFor({ state: 'detached' })
    await page.locator('[data-test="action-add"]').click()
    await actions.locator('[data-action="step1"] [data-test="action-type"]').click()
    await page.locator('.el-select-dropdown__item', { hasText: 'conversation.reply' }).filter({ visible: true }).first().click()
    const text = actions.locator('input[data-test="param-step1-text"]')
    await text.waitFor()
    await text.fill(REPLY)
    // the rule acts with conversations.write (the admin's own permission)
    await page.getByText('Advanced: error policy, identity, lookups').click()
    const runAs = page.locator('.rd-rule-advanced .el-select').first()
    await runAs.click()
    await runAs.locator('input').fill('conversations.write')
    await page.locator('.el-select-dropdown__item', { hasText: /^conversations\.write$/ }).filter({ visible: true }).first().click()
    await page.locator('.rd-rule-advanced .el-tag', { hasText: 'conversations.write' }).waitFor()

    // a dry run first: a message with the keyword would be answered
    const sample = {
      conversation_id: randomUUID(), message_id: randomUUID(), inbox_id: inboxId, channel: 'web_chat',
      customer_id: randomUUID(), author_type: 'customer', content_type: 'text', text: `你好，我要${KEYWORD}`,
    }
    await page.locator('textarea[data-test="dry-payload"]').fill(JSON.stringify(sample))
    await page.locator('[data-test="dry-run-go"]').click()
    await page.locator('[data-test="dry-matched"][data-matched="true"]').waitFor()
    const dry = page.locator('[data-test="dry-action"]').first()
    expect(await dry.getAttribute('data-outcome')).toBe('would_run')
    expect(await dry.textContent()).toContain(REPLY)
    await page.locator('[data-test="rule-save"]').click()
    await page.waitForURL(/\/admin\/rules\/[0-9a-f-]{36}$/, { timeout: 30_000 })
    const ruleId = page.url().split('/').pop()!
    const saved = await ok<{ enabled: boolean; definition: Record<string, unknown> }>(api(await apiToken('admin'), 'GET', `/api/v1/rules/${ruleId}`))
    expect(saved.enabled).toBe(true)
    expect(saved.definition.trigger).toEqual({ type: 'event', event: 'message.received' })

    // a customer writes the keyword in the chat on the shop's page
    await goOnline(await apiToken('agent'))
    const visitor = await openChat(browser, shop)
    // first a message without the keyword (no answer), then one with it
    await say(visitor, '你好，我上周买的耳机什么时候发货？')
    await say(visitor, '另外这单想开发票，怎么弄？')
    await answer(visitor, REPLY).waitFor({ timeout: 45_000 })
    await shot(visitor.page, 'rule-keyword-widget-zh')

    // the execution log shows the run
    await page.getByRole('tab', { name: 'Execution log' }).click()
    const log = page.locator('[data-test="rule-executions"]')
    await log.waitFor()
    await expect
      .poll(async () => {
        await log.getByRole('button', { name: 'Refresh' }).click()
        return log.locator('[data-status="succeeded"]').count()
      }, { timeout: 30_000, interval: 1_000 })
      .toBeGreaterThan(0)
    expect(await log.locator('[data-status]').count()).toBe(1) // one run: the keyword message's

    // and in the workbench the conversation holds the customer's message and the bot's answer
    const admin = await apiToken('admin')
    const list = await ok<{ items: { id: string }[] }>(api(admin, 'GET', `/api/v1/conversations?inbox_id=${inboxId}&status=open`))
    expect(list.items).toHaveLength(1)
    await page.goto(`/?c=${list.items[0]!.id}`)
    const pane = page.locator(`[data-test="conversation-pane"][data-id="${list.items[0]!.id}"]`)
    await pane.locator('[data-test="message"][data-direction="out"]', { hasText: REPLY }).waitFor({ timeout: 30_000 })
    await pane.locator('[data-test="message-text"]', { hasText: '什么时候发货' }).waitFor()
    await pane.locator('[data-test="message-text"]', { hasText: '开发票' }).waitFor()
    expect(await pane.locator('[data-test="message"][data-direction="out"]').count()).toBe(1)
    await shot(page, 'rule-keyword-reply')
    expect(await visitor.panel.locator('.msg.out').count()).toBe(1)
    expect(problems).toEqual([])
    expect(visitor.problems).toEqual([])
    await visitor.context.close()
    await page.context().close()
  })
})
