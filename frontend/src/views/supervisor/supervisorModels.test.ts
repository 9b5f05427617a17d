// The dashboard's and the queue view's pure helpers.
import { afterEach, describe, expect, it, vi } from 'vitest'

import type { AgentLoad, ConversationReport, Queue } from './api'
import { age, affectsQueues, candidates, loadLevel, loadPercent, throttle, totals } from './queueModel'
import { channelOption, durationsOption, formatDuration, perDayOption, periodOf, pickerDays, statusOption } from './reportModel'

const report: ConversationReport = {
  from: '2026-03-01T00:00:00Z',
  to: '2026-03-04T00:00:00Z',
  tz: 'Asia/Shanghai',
  team_id: null,
  total: 11,
  by_channel: [
    { key: 'web_chat', count: 5 },
    { key: 'email', count: 6 },
    { key: 'sms', count: 0 },
  ],
  by_status: [
    { key: 'open', count: 8 },
    { key: 'resolved', count: 3 },
  ],
  first_response: { count: 10, p50_seconds: 330, p90_seconds: 546, avg_seconds: 330 },
  resolution: { count: 3, p50_seconds: 5400, p90_seconds: null, avg_seconds: 7000 },
  per_day: [
    { date: '2026-03-01', created: 0, resolved: 0 },
    { date: '2026-03-02', created: 10, resolved: 3 },
  ],
}

function agent(name: string, status: string, open: number, capacity: number): AgentLoad {
  return { user_id: name, display_name: name, status, capacity, skills: [], open_conversations: open }
}

afterEach(() => vi.useRealTimers())

describe('report helpers', () => {
  it('formats durations for people in both languages', () => {
    expect(formatDuration(42)).toBe('42s')
    expect(formatDuration(330)).toBe('5m 30s')
    expect(formatDuration(600)).toBe('10m')
    expect(formatDuration(5400)).toBe('1h 30m')
    expect(formatDuration(200_000)).toBe('2d 7h')
    expect(formatDuration(330, 'zh-CN')).toBe('5分30秒')
    expect(formatDuration(null)).toBe('—')
  })

  it('turns the picked days into a half-open period of whole local days', () => {
    const [first, last] = pickerDays(7, new Date(2026, 2, 10, 15, 30))
    expect(first).toEqual(new Date(2026, 2, 4))
    expect(last).toEqual(new Date(2026, 2, 10))
    const period = periodOf([first, last])
    expect(new Date(period.from)).toEqual(new Date(2026, 2, 4))
    expect(new Date(period.to)).toEqual(new Date(2026, 2, 11))
  })

  it('builds the charts from the report: channels with none are left out of the ring', () => {
    const label = (k: string) => `<${k}>`
    const ring = channelOption(report, label).series[0]!.data
    expect(ring.map((d) => [d.name, d.value])).toEqual([['<web_chat>', 5], ['<email>', 6]])
    expect(statusOption(report, label).series[0]!.data.map((d) => d.value)).toEqual([8, 3])
    const days = perDayOption(report, label)
    expect(days.xAxis.data).toEqual(['03-01', '03-02'])
    expect(days.series.map((s) => s.data)).toEqual([[0, 10], [0, 3]])
    const times = durationsOption(report, label, 'en')
    // minutes on the axis, null where there is no figure
    expect(times.series[0]!.data).toEqual([5.5, 9.1, 5.5])
    expect(times.series[1]!.data).toEqual([90, null, 116.7])
    expect(times.series[1]!.label.formatter({ dataIndex: 0 })).toBe('1h 30m')
  })
})

describe('queue helpers', () => {
  it('knows which live events change queues and load', () => {
    expect(affectsQueues('conversation.assigned')).toBe(true)
    expect(affectsQueues('presence.changed')).toBe(true)
    expect(affectsQueues('message.received')).toBe(false)
    expect(affectsQueues('typing.agent')).toBe(false)
  })

  it('computes load and its level', () => {
    expect(loadPercent(agent('a', 'online', 3, 6))).toBe(50)
    expect(loadLevel(agent('a', 'online', 5, 6))).toBe('warning')
    expect(loadLevel(agent('a', 'online', 6, 6))).toBe('exception')
    expect(loadPercent(agent('a', 'online', 1, 0))).toBe(100)
  })

  it('totals count an agent of several teams once', () => {
    const li = agent('li', 'online', 2, 5)
    const queues: Queue[] = [
      { team_id: 't1', team_name: 'A', mode: 'round_robin', auto_assign: true, skills: [], waiting: 2, agents_online: 1, agents: [li, agent('wang', 'away', 1, 5)] },
      { team_id: 't2', team_name: 'B', mode: 'least_busy', auto_assign: true, skills: [], waiting: 3, agents_online: 1, agents: [li] },
    ]
    expect(totals(queues)).toEqual({ waiting: 5, agentsOnline: 1, agents: 2, open: 3, capacity: 5 })
  })

  it('offers online agents with room first', () => {
    const order = candidates([agent('c', 'offline', 0, 5), agent('b', 'online', 4, 5), agent('a', 'online', 1, 5), agent('d', 'busy', 0, 5)])
    expect(order.map((a) => a.display_name)).toEqual(['a', 'b', 'd', 'c'])
  })

  it('throttles a burst of events into a refresh at its start and one after it', () => {
    vi.useFakeTimers()
    const fn = vi.fn()
    const run = throttle(fn, 800)
    run()
    run()
    run()
    expect(fn).toHaveBeenCalledTimes(1)
    vi.advanceTimersByTime(800)
    expect(fn).toHaveBeenCalledTimes(2)
    vi.advanceTimersByTime(5000)
    expect(fn).toHaveBeenCalledTimes(2)
    run()
    expect(fn).toHaveBeenCalledTimes(3)
    run.cancel()
  })

  it('says how long a conversation has waited', () => {
    const now = new Date('2026-03-02T10:00:00Z')
    expect(age('2026-03-02T09:59:30Z', now)).toBe('30s')
    expect(age('2026-03-02T09:15:00Z', now)).toBe('45m')
    expect(age('2026-03-02T07:00:00Z', now, 'zh-CN')).toBe('3小时')
    expect(age('2026-02-27T10:00:00Z', now)).toBe('3d')
  })
})
