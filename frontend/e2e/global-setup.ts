// The E2E suite needs a running, demo-seeded Relaydesk serving the built UI.
// tests/web/test_e2e.py starts one on a free loopback port with a temporary data directory,
// runs this suite with RELAYDESK_E2E_URL set, and stops the server afterwards.
import { existsSync } from 'node:fs'

export default function setup(): void {
  if (!process.env.RELAYDESK_E2E_URL) {
    throw new Error(
      'RELAYDESK_E2E_URL is not set: run the E2E suite through pytest ' +
        '(.venv/bin/python -m pytest tests/web/test_e2e.py), or start `relaydesk demo` ' +
        'yourself and set RELAYDESK_E2E_URL=http://127.0.0.1:<port>',
    )
  }
  const chromium = process.env.RELAYDESK_CHROMIUM ?? '/usr/bin/chromium'
  if (!existsSync(chromium)) {
    throw new Error(`${chromium} is missing: install it with \`apt-get install -y chromium\``)
  }
}
