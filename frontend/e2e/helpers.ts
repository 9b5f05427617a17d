// Shared E2E plumbing: the machine's Chromium through playwright-core (never a downloaded
// browser), a page that records CSP violations and console errors, and sign-in helpers.
import { mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'

export const BASE_URL = (process.env.RELAYDESK_E2E_URL ?? '').replace(/\/$/, '')
export const PASSWORD = 'relaydesk-demo'
export const VIEWPORT = { width: 1366, height: 768 }
/** where screenshots go: docs/screenshots when RELAYDESK_SCREENSHOTS=1, else a temp dir */
export const SHOT_DIR = process.env.RELAYDESK_SCREENSHOTS === '1'
  ? fileURLToPath(new URL('../../docs/screenshots', import.meta.url))
  : join(tmpdir(), 'relaydesk-e2e-screenshots')

/** A clear mainland mobile number, bare or in E.164: must never reach an unprivileged DOM. */
export const CLEAR_MOBILE = /(?<![\d*])(?:\+?86)?1[3-9]\d{9}(?![\d*])/

/** Playwright starts Chromium with a fresh, empty --user-data-dir of its own on every launch. */
export async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.RELAYDESK_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
}

export async function close(browser: Browser | undefined): Promise<void> {
  await browser?.close()
}

export interface Watched {
  context: BrowserContext
  page: Page
  /** CSP violations and uncaught errors seen so far */
  problems: string[]
}

/** A fresh context (own storage) whose page reports CSP violations and script errors. */
export async function newPage(browser: Browser, locale = 'en-US'): Promise<Watched> {
  const context = await browser.newContext({ viewport: VIEWPORT, locale, baseURL: BASE_URL })
  const page = await context.newPage()
  const problems: string[] = []
  page.on('console', (msg) => {
    const text = msg.text()
    if (msg.type() === 'error' && /Content Security Policy|Refused to/i.test(text)) problems.push(text)
  })
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`))
  return { context, page, problems }
}

export async function login(page: Page, who: string, tenant = 'demo'): Promise<void> {
  await page.goto('/login')
  await page.locator('input[name="tenant"]').fill(tenant)
  await page.locator('input[name="email"]').fill(`${who}@demo.relaydesk.local`)
  await page.locator('input[name="password"]').fill(PASSWORD)
  await page.locator('button[type="submit"]').click()
  await page.locator('[data-test="side-menu"]').waitFor()
}

/** Everything the page shows, including what the drawer and dialogs (teleported) render. */
export async function dom(page: Page): Promise<string> {
  return page.content()
}

/** Record every API response body the page receives (to prove what reached the browser). */
export function recordApi(page: Page): string[] {
  const bodies: string[] = []
  page.on('response', async (response) => {
    if (!response.url().includes('/api/v1/')) return
    try {
      bodies.push(`${response.url()} ${await response.text()}`)
    } catch {
      /* a body that is gone (redirect, aborted) */
    }
  })
  return bodies
}

/** Sign in through the API (not the page) to prepare data; returns the access token. */
export async function apiToken(who: string): Promise<string> {
  const response = await fetch(`${BASE_URL}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ tenant: 'demo', email: `${who}@demo.relaydesk.local`, password: PASSWORD }),
  })
  if (!response.ok) throw new Error(`login of ${who} failed: ${response.status}`)
  return (await response.json()).access_token as string
}

export async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(SHOT_DIR, { recursive: true })
  await page.waitForTimeout(250) // let transitions settle
  await page.screenshot({ path: join(SHOT_DIR, `${name}.png`) })
}
