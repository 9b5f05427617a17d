// @vitest-environment node
//
// The typed client must match the backend. Two checks:
//  1. the committed snapshot src/api/openapi.json equals what the backend produces now
//     (`relaydesk openapi`, from the project's .venv; RELAYDESK_CLI overrides the command);
//  2. src/api/schema.d.ts is what openapi-typescript generates from that snapshot.
// Fix either with `npm run api:generate` (see docs/web.md).
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

import openapiTS, { astToString, COMMENT_HEADER } from 'openapi-typescript'
import { describe, expect, it } from 'vitest'

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))
const SNAPSHOT = here('./openapi.json')
const TYPES = here('./schema.d.ts')
const CLI = process.env.RELAYDESK_CLI ?? here('../../../.venv/bin/relaydesk')
const FIX = 'run `npm run api:generate` in frontend/ and commit src/api/openapi.json and schema.d.ts'

describe('OpenAPI snapshot', () => {
  it('is what the backend produces now', () => {
    if (!existsSync(CLI)) {
      throw new Error(`${CLI} not found: run \`make install\` first (or set RELAYDESK_CLI)`)
    }
    const fresh = execFileSync(CLI, ['openapi'], {
      encoding: 'utf8',
      env: { ...process.env, RELAYDESK_LOG_JSON: 'false' },
      maxBuffer: 32 * 1024 * 1024,
    })
    const committed = readFileSync(SNAPSHOT, 'utf8')
    // compare parsed documents first for a readable diff, then the exact text
    expect(JSON.parse(committed), `the API changed: ${FIX}`).toEqual(JSON.parse(fresh))
    expect(committed, `snapshot formatting differs: ${FIX}`).toBe(fresh)
  }, 120_000) // starts a Python interpreter and builds the app: seconds, more on a busy machine

  it('generated the committed TypeScript types', async () => {
    const generated = COMMENT_HEADER + astToString(await openapiTS(new URL(`file://${SNAPSHOT}`)))
    expect(readFileSync(TYPES, 'utf8') === generated, `schema.d.ts is stale: ${FIX}`).toBe(true)
  }, 60_000)
})
