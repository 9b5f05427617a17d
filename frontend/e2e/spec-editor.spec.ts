// The connector spec editor: an admin creates a connector from a spec with an error and sees
// the error at the right line (live, and again when saving is refused), fixes it, creates the
// connector, and previews a mapping with a sample answer. Screenshot: connector-spec-editor.png.
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { close, launch, login, newPage, shot } from './helpers'

let browser: Browser
beforeAll(async () => {
  browser = await launch()
})
afterAll(async () => close(browser))

const BROKEN = [
  'apiVersion: relaydesk.io/v1', //        1
  'kind: http', //                          2
  'name: e2e_parcels', //                   3
  'http: {base_url: "http://127.0.0.1:9"}', // 4
  'actions:', //                            5
  '  track_parcel:', //                     6
  '    effect: raed', //                    7  <- the error
  '    params:', //                         8
  '      parcel_no: {type: string, required: true}', // 9
  '    request: {path: "/parcels/{{ params.parcel_no }}"}', // 10
  '    mapping:', //                       11
  '      fields:', //                      12
  '        tracking_no: {expr: number, type: string, required: true}', // 13
  '        status: {expr: status, type: string}', // 14
].join('\n')

/** Replace the editor's whole text (as a paste: CodeMirror adds no indentation). */
async function setSpec(page: Page, text: string): Promise<void> {
  await page.locator('[data-test="spec-editor"] .cm-content').click()
  await page.keyboard.press('ControlOrMeta+a')
  await page.keyboard.press('Delete')
  await page.keyboard.insertText(text)
}

describe('connector spec editor', () => {
  it('an admin creates a connector from a spec with an error and sees the error at the right line', async () => {
    const { page, problems } = await newPage(browser)
    await login(page, 'admin')
    await page.locator('[data-test="side-menu"]').getByText('Connectors').click()
    await page.locator('[data-test="connector-new"]').click()
    await page.locator('[data-test="spec-editor"] .cm-content').waitFor()
    // the template is valid
    await page.locator('[data-test="spec-status"]', { hasText: 'No problems' }).waitFor()

    await setSpec(page, BROKEN)
    // live check (debounced): one problem, on line 7, in the list and in the editor
    const item = page.locator('[data-test="spec-problem"]')
    await item.first().waitFor()
    expect(await item.count()).toBe(1)
    expect(await item.first().getAttribute('data-line')).toBe('7')
    expect(await item.first().textContent()).toContain('actions.track_parcel.effect')
    const marked = page.locator('.cm-line.rd-problem-line')
    expect(await marked.count()).toBe(1)
    expect(await marked.first().getAttribute('data-problem-line')).toBe('7')
    expect((await marked.first().textContent())?.trim()).toBe('effect: raed')
    expect(await page.locator('.cm-lintRange-error').first().textContent()).toBe('effect: raed')
    await shot(page, 'connector-spec-editor')

    // saving is refused by the server with the same problem at the same line
    await page.locator('[data-test="spec-save"]').click()
    await page.locator('.rd-error[data-error-code="spec_invalid"]').waitFor()
    expect(await item.first().getAttribute('data-line')).toBe('7')
    expect(page.url()).toContain('/admin/connectors/new')

    // fix it: the problem goes away, and the connector is created
    await setSpec(page, BROKEN.replace('effect: raed', 'effect: read'))
    await page.locator('[data-test="spec-status"]', { hasText: 'No problems' }).waitFor()
    expect(await page.locator('.cm-line.rd-problem-line').count()).toBe(0)
    await page.locator('[data-test="spec-save"]').click()
    await page.locator('[data-test="connector-title"]').waitFor()
    expect(page.url()).toMatch(/\/admin\/connectors\/[0-9a-f-]{36}$/)
    await page.locator('[data-test="action-table"]').getByText('track_parcel').first().waitFor()

    // edit its spec: the stored spec comes back as YAML; preview a mapping with a sample
    await page.locator('[data-test="connector-edit-spec"]').click()
    await page.locator('[data-test="spec-status"]', { hasText: 'No problems' }).waitFor()
    await page.getByRole('tab', { name: 'Mapping preview' }).click()
    await page.locator('textarea[data-test="preview-sample"]').fill('{"number": "SF1234567890", "status": "IN_TRANSIT"}')
    await page.locator('[data-test="preview-run"]').click()
    const result = page.locator('[data-test="preview-result"]')
    await result.waitFor()
    expect(JSON.parse((await result.textContent()) ?? 'null')).toEqual({ tracking_no: 'SF1234567890', status: 'IN_TRANSIT' })
    expect(problems).toEqual([])
    await page.context().close()
  })
})
