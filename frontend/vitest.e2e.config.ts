import { defineConfig } from 'vitest/config'

// End-to-end tests in the machine's Chromium (playwright-core, never a downloaded browser)
// against a real `relaydesk demo` server. The server is started and stopped by the pytest
// harness tests/web/test_e2e.py, which passes its URL in RELAYDESK_E2E_URL.
export default defineConfig({
  test: {
    environment: 'node',
    include: ['e2e/**/*.spec.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    fileParallelism: false,
    globalSetup: ['e2e/global-setup.ts'],
  },
})
