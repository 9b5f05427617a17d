// The masking policy page in the browser: the owner sees every role with what it may see
// (built-in roles read-only, with the reason), lets a custom role reveal personal data one field
// at a time (audited) with one switch, and reads the masking formats with examples. The spec's
// role is its own (unique name) and deleted afterwards.
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { apiToken, BASE_URL, close, launch, login, newPage, shot } from './helpers'

const ROLE = `e2e-masking-${Date.now().toString(36)}`

let browser: Browser
let token = ''
let roleId = ''

async function api(method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${BASE_URL}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  })
}

beforeAll(async () => {
  token = await apiToken('owner')
  const created = await api('POST', '/api/v1/roles', { name: ROLE, permissions: ['conversations.read', 'customers.read'] })
  expect(created.status).toBe(201)
  roleId = (await created.json()).id
  browser = await launch()
})

afterAll(async () => {
  await close(browser)
  if (roleId) await api('DELETE', `/api/v1/roles/${roleId}`)
})

describe('masking policy', () => {
  it('shows what each role sees and lets a custom role reveal, audited', async () => {
    const { page, problems } = await newPage(browser)
    await login(page, 'owner')
    await page.locator('[data-test="side-menu"]').getByText('Masking policy').click()
    await page.locator('[data-test="masking-role-table"]').waitFor()
    // the built-in agent role reads masked values and cannot be changed here
    const agentView = page.locator('[data-test="masking-view-agent"]')
    await agentView.waitFor()
    expect(await agentView.getAttribute('class')).toContain('is-disabled')
    // the spec's own role: masked, then allowed to reveal with one switch
    const reveal = page.locator(`[data-test="masking-reveal-${ROLE}"]`)
    await reveal.waitFor()
    expect(await reveal.getAttribute('class')).not.toContain('is-checked')
    await reveal.click()
    await expect.poll(async () => (await reveal.getAttribute('class')) ?? '').toContain('is-checked')
    const role = await (await api('GET', `/api/v1/roles/${roleId}`)).json()
    expect(role.permissions).toContain('customers.pii.reveal')
    expect(role.permissions).not.toContain('customers.pii.view')
    // the formats, with examples as the API masks them
    const formats = page.locator('[data-test="masking-formats"]')
    await expect.poll(async () => (await formats.textContent()) ?? '').toContain('138****1234')
    await shot(page, 'masking-policy')
    expect(problems).toEqual([])
  })
})
