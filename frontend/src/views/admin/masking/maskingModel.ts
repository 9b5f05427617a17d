// The masking policy (脱敏策略) as the admin sees it: which roles see personal data clear
// (customers.pii.view), which may reveal one field, audited (customers.pii.reveal), whether
// the signed-in admin may change a role (the server's rules in relaydesk/auth/users_service.py:
// built-in roles are read-only and a role may only carry permissions the editor holds), and
// example before/after pairs of the fixed masking formats (relaydesk/kit/masking.py; the
// pairs are written out, not computed: the server is the only masker).

export const PII_VIEW = 'customers.pii.view'
export const PII_REVEAL = 'customers.pii.reveal'
export type PiiPermission = typeof PII_VIEW | typeof PII_REVEAL
const WILDCARD = '*'

export interface RoleLike {
  id: string
  name: string
  builtin: boolean
  permissions: string[]
  /** tenant or department */
  scope: string
}

/** True when a permission list grants `permission` (directly or with `*`). */
export function grants(permissions: readonly string[], permission: string): boolean {
  return permissions.includes(WILDCARD) || permissions.includes(permission)
}

/** Why the signed-in user cannot switch `permission` on a role; null when they can. */
export type LockReason = 'builtin' | 'wildcard' | 'noManage' | 'department' | 'beyondYours'

export interface Editor {
  /** holds roles.manage */
  manage: boolean
  /** holds this permission (the auth store's `can`) */
  holds: (permission: string) => boolean
  /** limited to their department: may only change department-scoped roles */
  departmentScoped: boolean
}

export interface Lock {
  reason: LockReason
  /** for beyondYours: the permissions the role would carry that the editor lacks */
  missing: string[]
}

export function lockOf(role: RoleLike, permission: PiiPermission, editor: Editor): Lock | null {
  if (role.builtin) return { reason: 'builtin', missing: [] }
  if (role.permissions.includes(WILDCARD)) return { reason: 'wildcard', missing: [] }
  if (!editor.manage) return { reason: 'noManage', missing: [] }
  if (editor.departmentScoped && role.scope !== 'department') return { reason: 'department', missing: [] }
  const missing = [...new Set([...role.permissions, permission])].filter((p) => !editor.holds(p)).sort()
  return missing.length ? { reason: 'beyondYours', missing } : null
}

/** The role's permission list with `permission` switched on or off (sorted, no duplicates). */
export function withPermission(permissions: readonly string[], permission: string, on: boolean): string[] {
  const out = new Set(permissions)
  if (on) out.add(permission)
  else out.delete(permission)
  return [...out].sort()
}

/** One line of the policy table: what a role's holders see. */
export interface PolicyRow {
  role: RoleLike
  seesClear: boolean
  mayReveal: boolean
  /** neither clear values nor reveal: everything personal stays masked */
  maskedOnly: boolean
}

export function policyRows(roles: readonly RoleLike[]): PolicyRow[] {
  return [...roles]
    .sort((a, b) => Number(b.builtin) - Number(a.builtin) || a.name.localeCompare(b.name))
    .map((role) => {
      const seesClear = grants(role.permissions, PII_VIEW)
      const mayReveal = grants(role.permissions, PII_REVEAL)
      return { role, seesClear, mayReveal, maskedOnly: !seesClear && !mayReveal }
    })
}

// --- the fixed formats --------------------------------------------------------------------

export const FORMAT_KINDS = ['phone', 'idCard', 'email', 'bankCard', 'address', 'name', 'freeText'] as const
export type FormatKind = (typeof FORMAT_KINDS)[number]

export interface Example {
  before: string
  after: string
}

const SHARED: Record<Exclude<FormatKind, 'freeText'>, Example[]> = {
  phone: [
    { before: '13812341234', after: '138****1234' },
    { before: '+86 138-1234-1234', after: '+86 138****1234' },
    { before: '010-12345678', after: '010-****5678' },
    { before: '+44 20 7946 0958', after: '+44 ******0958' },
  ],
  idCard: [{ before: '110101199003077777', after: '110***********7777' }],
  email: [
    { before: 'zhangsan@example.com', after: 'z***n@example.com' },
    { before: 'ab@x.cn', after: 'a*@x.cn' },
  ],
  bankCard: [{ before: '6222 0212 3456 7890 123', after: '***************0123' }],
  address: [
    { before: '广东省深圳市南山区科技园南路88号', after: '广东省深圳市南山区****' },
    { before: '221B Baker Street, London, UK', after: '****, London, UK' },
  ],
  name: [
    { before: '张三丰', after: '张**' },
    { before: 'John Smith', after: 'J*** S****' },
  ],
}

const FREE_TEXT: Record<'zh' | 'en', Example[]> = {
  zh: [
    { before: '我的手机号是13812341234请回电', after: '我的手机号是138****1234请回电' },
    { before: '订单 SO13800138000 已发货，联系 TEL13800138000', after: '订单 SO13800138000 已发货，联系 TEL138****8000' },
  ],
  en: [
    { before: 'Call me on 13812341234 please', after: 'Call me on 138****1234 please' },
    { before: 'Order SO13800138000 shipped; contact TEL13800138000', after: 'Order SO13800138000 shipped; contact TEL138****8000' },
  ],
}

/** Example pairs of one format; free text in the reader's language. */
export function examplesOf(kind: FormatKind, locale: string): Example[] {
  if (kind === 'freeText') return FREE_TEXT[locale.startsWith('zh') ? 'zh' : 'en']
  return SHARED[kind]
}
