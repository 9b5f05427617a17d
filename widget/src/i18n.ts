// The widget's own texts in Chinese and English; the inbox's texts come from its settings.

export type Locale = 'zh-CN' | 'en'

const zh = {
  open: '打开在线客服',
  close: '关闭',
  placeholder: '输入消息…',
  send: '发送',
  attach: '发送文件',
  typing: '客服正在输入…',
  sending: '发送中…',
  failed: '发送失败，点击重试',
  offlineTitle: '留言',
  prechatTitle: '开始会话前，请留下您的联系方式',
  name: '姓名',
  phone: '手机号',
  email: '邮箱',
  message: '留言内容',
  start: '开始会话',
  leave: '提交留言',
  required: '必填',
  thanks: '已收到您的留言，我们会尽快回复。',
  reconnecting: '网络不稳定，正在重新连接…',
  resolved: '本次会话已结束，如需帮助请继续留言。',
  tooLarge: '文件太大（最大 {max}）',
  badType: '不支持此类型的文件',
  error: '出错了：{message}',
  you: '我',
  agent: '客服',
  earlier: '更早的消息未显示',
}

export type Key = keyof typeof zh

const en: Record<Key, string> = {
  open: 'Open chat',
  close: 'Close',
  placeholder: 'Type a message…',
  send: 'Send',
  attach: 'Send a file',
  typing: 'An agent is typing…',
  sending: 'Sending…',
  failed: 'Not sent. Tap to retry',
  offlineTitle: 'Leave a message',
  prechatTitle: 'Before we start, how can we reach you?',
  name: 'Name',
  phone: 'Phone',
  email: 'E-mail',
  message: 'Message',
  start: 'Start chat',
  leave: 'Send message',
  required: 'required',
  thanks: 'Thanks, we got your message and will reply soon.',
  reconnecting: 'Connection lost, reconnecting…',
  resolved: 'This conversation has ended. Write again if you need more help.',
  tooLarge: 'The file is too large (at most {max})',
  badType: 'This type of file is not accepted',
  error: 'Something went wrong: {message}',
  you: 'You',
  agent: 'Agent',
  earlier: 'Earlier messages are not shown',
}

const TEXTS: Record<Locale, Record<Key, string>> = { 'zh-CN': zh, en }

export function pickLocale(wanted: string | null | undefined, languages: readonly string[]): Locale {
  if (wanted === 'zh-CN' || wanted === 'en') return wanted
  const first = (languages[0] || 'en').toLowerCase()
  return first.startsWith('zh') ? 'zh-CN' : 'en'
}

export function translator(locale: Locale) {
  return (key: Key, values: Record<string, string> = {}): string =>
    TEXTS[locale][key].replace(/\{(\w+)\}/g, (_, name: string) => values[name] ?? '')
}

export type T = ReturnType<typeof translator>
