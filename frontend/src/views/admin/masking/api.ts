// The masking policy's API calls: a role's permissions (PATCH needs roles.manage; built-in
// roles are read-only; the list itself comes from the directory store) and the pii flag of
// customer attribute definitions (GET needs customers.read, PATCH tenant.manage).
import { call, client } from '@/api/client'

export const maskingApi = {
  setRolePermissions: (roleId: string, permissions: string[]) =>
    call(() => client.PATCH('/api/v1/roles/{role_id}', { params: { path: { role_id: roleId } }, body: { permissions } })),
  attributes: async () => (await call(() => client.GET('/api/v1/customers/attribute-definitions'))).items,
  setAttributePii: (key: string, pii: boolean) =>
    call(() =>
      client.PATCH('/api/v1/customers/attribute-definitions/{attribute_key}', {
        params: { path: { attribute_key: key } }, body: { pii },
      }),
    ),
}
