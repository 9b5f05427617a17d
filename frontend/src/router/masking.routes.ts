// The masking policy page (脱敏策略): roles' clear/reveal permissions, personal attributes and
// the fixed masking formats in one place. Picked up by router/index.ts (import.meta.glob).
import { Lock } from '@element-plus/icons-vue'
import type { RouteRecordRaw } from 'vue-router'

const permissions = ['roles.read', 'tenant.manage']

export const routes: RouteRecordRaw[] = [
  {
    path: 'admin/masking',
    name: 'maskingPolicy',
    component: () => import('@/views/admin/masking/MaskingView.vue'),
    meta: { title: 'masking.title', permissions, menu: 'admin', icon: Lock },
  },
]

export const supervisorMenu = [{ path: '/admin/masking', title: 'masking.title', icon: 'Lock', permissions, section: 'admin' }]
