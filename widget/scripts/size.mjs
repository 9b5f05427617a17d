// Prints the built widget's size, raw and gzipped, and fails the build above the budget.
import { readFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'

const BUDGET = 60 * 1024
const file = new URL('../../relaydesk/web/widget/dist/widget.js', import.meta.url)
const raw = readFileSync(file)
const gzipped = gzipSync(raw, { level: 9 }).length
const kib = (n) => (n / 1024).toFixed(1) + ' KiB'
console.log(`widget.js: ${kib(raw.length)} raw, ${kib(gzipped)} gzipped (budget ${kib(BUDGET)})`)
if (gzipped > BUDGET) {
  console.error('widget.js is over its size budget')
  process.exit(1)
}
