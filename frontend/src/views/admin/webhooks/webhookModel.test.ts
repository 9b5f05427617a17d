// Webhook screens: health words, create/edit bodies.
import { describe, expect, it } from 'vitest'

import type { Endpoint } from './api'
import { bodyOf, changesOf, emptyForm, formOf, healthOf } from './webhookModel'

const endpoint: Endpoint = {
  id: 'e1', url: 'https://erp.example.com/hooks', description: 'ERP', event_types: ['order.*'], enabled: true,
  disabled_reason: null, disabled_at: null, rate_limit: null, include_pii: false, allow_network: [],
  previous_secret_expires_at: null,
  health: { consecutive_failures: 0, circuit_open_until: null, failing_since: null, last_success_at: null, last_failure_at: null, last_error: null },
  version: 1, created_at: '2026-03-01T00:00:00Z', updated_at: '2026-03-01T00:00:00Z',
}

describe('webhook model', () => {
  it('names an endpoint health', () => {
    const now = new Date('2026-03-02T00:00:00Z')
    expect(healthOf(endpoint, now)).toBe('new')
    expect(healthOf({ ...endpoint, health: { ...endpoint.health, last_success_at: '2026-03-01T00:00:00Z' } }, now)).toBe('healthy')
    expect(healthOf({ ...endpoint, health: { ...endpoint.health, failing_since: '2026-03-01T00:00:00Z' } }, now)).toBe('failing')
    expect(healthOf({ ...endpoint, health: { ...endpoint.health, failing_since: 'x', circuit_open_until: '2026-03-02T00:05:00Z' } }, now)).toBe('circuit_open')
    expect(healthOf({ ...endpoint, health: { ...endpoint.health, circuit_open_until: '2026-03-01T00:05:00Z', last_success_at: 'x' } }, now)).toBe('healthy')
    expect(healthOf({ ...endpoint, enabled: false }, now)).toBe('disabled')
  })

  it('creates with trimmed, de-duplicated filters and networks', () => {
    const form = { ...emptyForm(), url: ' https://a.example.com/h ', event_types: ['order.*', ' order.* ', '', 'ticket.created'], allow_network: ['10.0.0.0/8', '10.0.0.0/8'], rate_limit: 0 }
    expect(bodyOf(form)).toEqual({
      url: 'https://a.example.com/h', description: '', event_types: ['order.*', 'ticket.created'], enabled: true,
      rate_limit: null, include_pii: false, allow_network: ['10.0.0.0/8'],
    })
  })

  it('edits only what changed', () => {
    const form = formOf(endpoint)
    expect(changesOf(form, endpoint)).toEqual({})
    form.event_types.push('customer.*')
    form.rate_limit = 20
    expect(changesOf(form, endpoint)).toEqual({ event_types: ['order.*', 'customer.*'], rate_limit: 20 })
  })
})
