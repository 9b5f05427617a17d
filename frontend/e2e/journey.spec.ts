// The whole journey in two browser windows: a signed-in customer of a shop writes through the
// chat widget on the shop's own page (another origin, the snippet Relaydesk hands out, the
// user id signed by the shop); the agent sees the conversation arrive live in the workbench,
// opens the customer's 360 (orders, the latest shipment's tracking and the CRM record, read
// from the demo systems), changes the unshipped order's shipping address through the order
// system's connector action (a form from its params schema, a confirmation step), and
// replies; the customer sees the reply in the widget, and the order system has the new
// address. Screenshots: journey-widget-zh.png, journey-workbench.png.
import { randomInt, randomUUID } from 'node:crypto'

import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { apiToken, close, launch, login, newPage, shot } from './helpers'
import {
  answer, api, demoCustomer, goOnline, linkShopUser, ok, openChat, say, startShop, userHash, webChatInbox,
  type Order, type Shop,
} from './shop'

const RUN = randomUUID().slice(0, 8)
const SHOP_USER = `shopper-${RUN}`
const FIRST = '你好，我有一单还没发货，想改一下收货地址，可以吗？'
const NEW_ADDRESS = '文二路 188 号 3 幢 502 室'
const NEW_MOBILE = `139${String(randomInt(10_000_000, 99_999_999))}`

let browser: Browser
let shop: Shop
let inboxId = ''
/** the demo customer: an unshipped order to change, and a shipped one to track */
const customer = { id: '', name: '', order: '', waybill: '' }

const unshipped = (orders: Order[]) => orders.find((o) => o.status === 'awaiting_shipment') ?? orders.find((o) => o.status === 'pending_payment')

beforeAll(async () => {
  browser = await launch()
  shop = await startShop()
  const owner = await apiToken('owner')
  const found = await demoCustomer(owner, (orders) => !!unshipped(orders) && orders.some((o) => o.waybill_no))
  Object.assign(customer, {
    id: found.id, name: found.name, order: unshipped(found.orders)!.order_no,
    waybill: found.orders.find((o) => o.waybill_no)!.waybill_no,
  })
  await linkShopUser(owner, customer.id, SHOP_USER)
  const admin = await apiToken('admin')
  const inbox = await webChatInbox(admin, `云栖优选官网 ${RUN}`, shop, true)
  inboxId = inbox.id
  // the shop's server signs its signed-in user's id into the page
  shop.setSnippet(inbox.snippet, { 'user-id': SHOP_USER, 'user-hash': userHash(inbox.secret!, SHOP_USER) })
})

afterAll(async () => {
  await close(browser)
  await shop?.close()
})

async function conversationOf(agent: string): Promise<string> {
  let id = ''
  await expect
    .poll(async () => {
      const list = await ok<{ items: { id: string }[] }>(api(agent, 'GET', `/api/v1/conversations?inbox_id=${inboxId}`))
      id = list.items[0]?.id ?? ''
      return id
    }, { timeout: 30_000 })
    .not.toBe('')
  return id
}

async function changeAddress(page: Page): Promise<void> {
  const panels = page.locator('[data-test="customer-panel"] [data-test="system-panels"]')
  const record = panels.locator('[data-test="c360-panel"][data-key="orders"] [data-test="panel-record"]', { hasText: customer.order })
  await record.locator('[data-test="record-actions"]').click()
  await page.locator('.el-dropdown-menu__item[data-action="change_shipping_address"]').filter({ visible: true }).click()
  const dialog = page.locator('[data-test="panel-action-dialog"]')
  await dialog.waitFor()
  // the form comes from the action's params schema, the order number filled in from the record
  expect(await dialog.locator('input[name="order_no"]').inputValue()).toBe(customer.order)
  await dialog.locator('input[name="receiver_name"]').fill(customer.name)
  await dialog.locator('input[name="receiver_mobile"]').fill(NEW_MOBILE)
  await dialog.locator('input[name="province"]').fill('浙江省')
  await dialog.locator('input[name="city"]').fill('杭州市')
  await dialog.locator('input[name="district"]').fill('西湖区')
  await dialog.locator('input[name="address"]').fill(NEW_ADDRESS)
  await dialog.locator('[data-test="action-next"]').click()
  // nothing is sent before the agent confirms what will change
  const confirm = dialog.locator('[data-test="action-confirm"]')
  await confirm.waitFor()
  expect(await confirm.textContent()).toContain(NEW_ADDRESS)
  await dialog.locator('[data-test="action-send"]').click()
  const outcome = dialog.locator('[data-test="outcome"]')
  await outcome.waitFor({ timeout: 30_000 })
  expect(await outcome.getAttribute('data-ok')).toBe('true')
  expect(await outcome.textContent()).not.toContain(NEW_MOBILE) // masked for an agent
  await dialog.locator('.el-dialog__footer button').first().click() // Close
  await dialog.waitFor({ state: 'hidden' })
}

describe('customer journey: widget → workbench → order system → widget', () => {
  it('a customer chats on the shop page; the agent helps with the systems\' data and answers', async () => {
    const agentToken = await apiToken('agent')
    const { page, problems } = await newPage(browser, 'en-US')
    await login(page, 'agent')
    await page.locator('[data-test="workbench"]').waitFor()
    await page.locator('[data-test="view-filter"] [data-view="all"]').click()
    await page.locator('[data-test="live-status"][data-status="live"]').waitFor({ timeout: 30_000 })
    await goOnline(agentToken) // the widget offers a chat (not the offline form)

    // the customer, signed in at the shop, opens the chat and writes
    const visitor = await openChat(browser, shop)
    await say(visitor, FIRST)

    // the agent sees it arrive (no reload), under the customer's name: the shop's signed user id
    // joined the customer the CRM knows
    const conversationId = await conversationOf(agentToken)
    const item = page.locator(`[data-test="conversation-item"][data-id="${conversationId}"]`)
    await item.waitFor({ timeout: 30_000 })
    await expect.poll(() => item.locator('[data-test="conversation-name"]').textContent()).toBe(customer.name)
    await item.click()
    const pane = page.locator(`[data-test="conversation-pane"][data-id="${conversationId}"]`)
    await pane.locator('[data-test="message"][data-direction="in"] [data-test="message-text"]', { hasText: FIRST }).waitFor()

    // the customer 360: orders, the latest shipment and the CRM record from the demo systems
    const side = page.locator('[data-test="customer-panel"]')
    await side.getByRole('tab', { name: 'Systems' }).click()
    const panels = side.locator('[data-test="system-panels"]')
    const panel = (key: string) => panels.locator(`[data-test="c360-panel"][data-key="${key}"]`)
    for (const key of ['orders', 'logistics', 'crm']) {
      await expect.poll(() => panel(key).getAttribute('data-state'), { timeout: 30_000 }).toBe('ok')
      await panel(key).locator('[data-test="panel-record"]').first().waitFor()
    }
    expect(await panel('orders').textContent()).toContain(customer.order)
    expect(await panel('logistics').textContent()).toContain(customer.waybill)

    // the shipping address, changed through the order system's connector action
    await changeAddress(page)

    // the answer, typed in the composer
    const reply = `${customer.name}，已为您把订单 ${customer.order} 的收货地址改为 杭州市西湖区${NEW_ADDRESS}。`
    const box = page.locator('[data-test="composer-input"]')
    await box.click()
    await box.fill(reply)
    await box.press('Enter')
    await pane.locator('[data-test="message"][data-direction="out"] [data-test="message-text"]', { hasText: reply }).waitFor()
    await shot(page, 'journey-workbench')

    // the customer sees it in the widget, as text
    await answer(visitor, reply).waitFor({ timeout: 30_000 })
    await shot(visitor.page, 'journey-widget-zh')

    // and the order system has the new address
    const owner = await apiToken('owner')
    const instances = await ok<{ items: { id: string; name: string }[] }>(api(owner, 'GET', '/api/v1/connector-instances'))
    const orders = instances.items.find((i) => i.name === 'orders')!.id
    const order = await ok<{ data: Record<string, unknown> }>(
      api(owner, 'POST', `/api/v1/connector-instances/${orders}/actions/get_order/run`, { params: { order_no: customer.order } }),
    )
    expect(JSON.stringify(order.data)).toContain(NEW_ADDRESS)
    expect(problems).toEqual([])
    expect(visitor.problems).toEqual([])
    await visitor.context.close()
    await page.context().close()
  })
})
