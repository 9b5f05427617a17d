// Event log: the list query leaves empty filters out, the replay body carries the window and
// nulls, dead letters have a state.
import { describe, expect, it } from 'vitest'

import { deadState, emptyFilters, emptyReplay, eventQuery, replayBody, sourceText, type DeadLetter } from './eventsModel'

const dl: DeadLetter = {
  id: 'd1', consumer: 'webhooks', event_id: 'e1', event_type: 'order.shipped', attempts: 5, error: 'boom', dead: true,
  first_failed_at: '', last_failed_at: '', next_attempt_at: null, replayed_at: null,
}

describe('events model', () => {
  it('queries only the filters that are set', () => {
    expect(eventQuery(emptyFilters())).toEqual({})
    const since = new Date('2026-11-21T10:00:00Z')
    expect(eventQuery({ type: ' order.* ', key: '', since })).toEqual({ type: 'order.*', since: '2026-11-21T10:00:00.000Z' })
  })

  it('replays the last hour by default and sends nulls for what is not set', () => {
    const now = new Date('2026-11-21T10:00:00Z')
    const form = emptyReplay(now)
    expect(form.since?.toISOString()).toBe('2026-11-21T09:00:00.000Z')
    expect(replayBody({ ...form, type: ' order.* ', consumer: ' ' })).toEqual({
      since: '2026-11-21T09:00:00.000Z', until: null, type: 'order.*', consumer: null, force: false,
    })
    expect(replayBody({ ...form, since: null }).since).toBe('') // the server names the field
  })

  it('names dead-letter states', () => {
    expect(deadState(dl)).toBe('dead')
    expect(deadState({ ...dl, dead: false })).toBe('retrying')
    expect(deadState({ ...dl, dead: false, replayed_at: '2026-11-21T10:00:00Z' })).toBe('replayed')
  })

  it('says where an event came from without ids', () => {
    expect(sourceText({ kind: 'saga', saga_id: 'x', definition: 'refund' })).toBe('saga · refund')
    expect(sourceText({})).toBe('')
  })
})
