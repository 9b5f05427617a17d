// Chinese labels for the built-in permission names (the API describes them in English).
// Permissions registered later (connector actions...) fall back to the API's description.
export const ZH_PERMISSIONS: Record<string, string> = {
  'tenant.read': '查看组织设置',
  'tenant.manage': '修改组织设置（含 IP 白名单）',
  'users.read': '查看用户',
  'users.manage': '创建、修改、停用和解锁用户',
  'teams.read': '查看部门和团队',
  'teams.manage': '创建和修改部门与团队',
  'roles.read': '查看角色及其权限',
  'roles.manage': '创建、修改和分配角色',
  'apikeys.manage': '创建和吊销 API 密钥',
  'audit.read': '查看并校验审计日志',
  'customers.read': '查看客户（个人信息脱敏）',
  'customers.write': '创建和修改客户',
  'customers.pii.view': '在所有位置查看客户个人信息明文',
  'customers.pii.reveal': '查看单个脱敏字段的明文（记入审计）',
  'conversations.read': '查看会话',
  'conversations.write': '回复和处理会话',
  'connectors.read': '查看连接器及其健康状况',
  'connectors.manage': '创建和配置连接器',
}

// English labels, the same as the API's descriptions (GET /permissions needs roles.read, which
// not every user holds, so the workbench keeps its own copy for the built-in names).
export const EN_PERMISSIONS: Record<string, string> = {
  'tenant.read': "See the organisation's settings",
  'tenant.manage': "Change the organisation's settings, including the IP allow-list",
  'users.read': 'See users',
  'users.manage': 'Create, change, deactivate and unlock users',
  'teams.read': 'See departments and teams',
  'teams.manage': 'Create and change departments and teams',
  'roles.read': 'See roles and their permissions',
  'roles.manage': 'Create and change roles and assign them',
  'apikeys.manage': 'Create and revoke API keys',
  'audit.read': 'Read and verify the audit log',
  'customers.read': 'See customers (personal data masked)',
  'customers.write': 'Create and change customers',
  'customers.pii.view': "See customers' personal data unmasked everywhere",
  'customers.pii.reveal': 'Reveal one masked field of a customer, audited',
  'conversations.read': 'See conversations',
  'conversations.write': 'Reply to and change conversations',
  'connectors.read': 'See connectors and their health',
  'connectors.manage': 'Create and configure connectors',
}
