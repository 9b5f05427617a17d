// Pure helpers of the dashboard: the report period, durations for people, and the ECharts
// options of each chart (kept out of the components so that they are unit-tested).
import type { ConversationReport, DurationStats } from './api'

export const CHANNEL_COLORS: Record<string, string> = {
  web_chat: '#409eff',
  email: '#e6a23c',
  sms: '#67c23a',
  voice: '#f56c6c',
  api: '#9b59b6',
}
export const STATUS_COLORS: Record<string, string> = {
  open: '#409eff',
  pending: '#e6a23c',
  snoozed: '#909399',
  resolved: '#67c23a',
}

/** The browser's IANA time zone (the report's days are counted in it). */
export function browserTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'
  } catch {
    return 'UTC'
  }
}

/** The date picker's default: the last `days` whole days, today included ([first, last]). */
export function pickerDays(days: number, now: Date = new Date()): [Date, Date] {
  const today = new Date(now.getFullYear(), now.getMonth(), now.getDate())
  return [new Date(today.getFullYear(), today.getMonth(), today.getDate() - (days - 1)), today]
}

/** A date picker's [first day, last day] (local midnights) → the report's [from, to). */
export function periodOf(range: [Date, Date]): { from: string; to: string } {
  const [first, last] = range
  const start = new Date(first.getFullYear(), first.getMonth(), first.getDate())
  const end = new Date(last.getFullYear(), last.getMonth(), last.getDate() + 1)
  return { from: start.toISOString(), to: end.toISOString() }
}

/** 42 → "42s", 330 → "5m 30s", 5400 → "1h 30m", 200000 → "2d 7h" (zh: 秒/分/小时/天). */
export function formatDuration(seconds: number | null | undefined, locale = 'en'): string {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return '—'
  const zh = locale.startsWith('zh')
  const u = zh ? { s: '秒', m: '分', h: '小时', d: '天' } : { s: 's', m: 'm', h: 'h', d: 'd' }
  const sep = zh ? '' : ' '
  const s = Math.round(seconds)
  if (s < 60) return `${s}${u.s}`
  if (s < 3600) {
    const rest = s % 60
    return rest ? `${Math.floor(s / 60)}${u.m}${sep}${rest}${u.s}` : `${s / 60}${u.m}`
  }
  if (s < 86400) {
    const m = Math.floor((s % 3600) / 60)
    return m ? `${Math.floor(s / 3600)}${u.h}${sep}${m}${u.m}` : `${Math.floor(s / 3600)}${u.h}`
  }
  const h = Math.floor((s % 86400) / 3600)
  return h ? `${Math.floor(s / 86400)}${u.d}${sep}${h}${u.h}` : `${Math.floor(s / 86400)}${u.d}`
}

type Label = (key: string) => string

const tooltip = { trigger: 'item' as const, confine: true }

/** Donut of conversations by channel (channels with none are left out of the ring). */
export function channelOption(report: ConversationReport, label: Label) {
  const data = report.by_channel
    .filter((c) => c.count > 0)
    .map((c) => ({ name: label(c.key), value: c.count, itemStyle: { color: CHANNEL_COLORS[c.key] } }))
  return {
    tooltip: { ...tooltip, formatter: '{b}: {c} ({d}%)' },
    legend: { bottom: 0, type: 'scroll' as const },
    series: [
      {
        type: 'pie' as const,
        radius: ['42%', '68%'],
        center: ['50%', '44%'],
        avoidLabelOverlap: true,
        label: { formatter: '{b}\n{c}' },
        data,
      },
    ],
  }
}

/** Bars of conversations by their status now. */
export function statusOption(report: ConversationReport, label: Label) {
  return {
    tooltip: { trigger: 'axis' as const, confine: true },
    grid: { left: 8, right: 16, top: 16, bottom: 8, containLabel: true },
    xAxis: { type: 'category' as const, data: report.by_status.map((s) => label(s.key)) },
    yAxis: { type: 'value' as const, minInterval: 1 },
    series: [
      {
        type: 'bar' as const,
        barMaxWidth: 48,
        label: { show: true, position: 'top' as const },
        data: report.by_status.map((s) => ({ value: s.count, itemStyle: { color: STATUS_COLORS[s.key] } })),
      },
    ],
  }
}

/** Opened and resolved per day. */
export function perDayOption(report: ConversationReport, label: Label) {
  return {
    tooltip: { trigger: 'axis' as const, confine: true },
    legend: { top: 0 },
    grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
    xAxis: { type: 'category' as const, data: report.per_day.map((d) => d.date.slice(5)) },
    yAxis: { type: 'value' as const, minInterval: 1 },
    series: [
      {
        name: label('created'),
        type: 'bar' as const,
        barMaxWidth: 28,
        itemStyle: { color: '#409eff' },
        data: report.per_day.map((d) => d.created),
      },
      {
        name: label('resolved'),
        type: 'line' as const,
        smooth: false,
        symbolSize: 6,
        itemStyle: { color: '#67c23a' },
        data: report.per_day.map((d) => d.resolved),
      },
    ],
  }
}

/** p50 / p90 / average of the first response and the resolution, in minutes. */
export function durationsOption(report: ConversationReport, label: Label, locale: string) {
  const minutes = (v: number | null) => (v === null ? null : Math.round((v / 60) * 10) / 10)
  const row = (stats: DurationStats) => [stats.p50_seconds, stats.p90_seconds, stats.avg_seconds]
  const series = (name: string, stats: DurationStats, color: string) => ({
    name,
    type: 'bar' as const,
    barMaxWidth: 28,
    itemStyle: { color },
    label: {
      show: true,
      position: 'right' as const,
      formatter: (p: { dataIndex: number }) => formatDuration(row(stats)[p.dataIndex], locale),
    },
    data: row(stats).map(minutes),
  })
  return {
    tooltip: {
      trigger: 'axis' as const,
      confine: true,
      valueFormatter: (v: unknown) => (typeof v === 'number' ? formatDuration(v * 60, locale) : '—'),
    },
    legend: { top: 0 },
    grid: { left: 8, right: 56, top: 36, bottom: 8, containLabel: true },
    yAxis: { type: 'category' as const, data: [label('p50'), label('p90'), label('avg')], inverse: true },
    xAxis: { type: 'value' as const, name: label('minutes') },
    series: [
      series(label('firstResponse'), report.first_response, '#409eff'),
      series(label('resolution'), report.resolution, '#67c23a'),
    ],
  }
}
